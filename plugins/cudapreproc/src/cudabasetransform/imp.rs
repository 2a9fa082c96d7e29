use std::sync::{Arc, LazyLock, Mutex};

use cudapreproc_core::access::{Input, Media, Output, Staging};
use cudapreproc_core::caps::{fixate_preferring_cuda, is_cuda_caps};
use cudapreproc_core::cuda::{CudaError, Device, Stream};
use cudapreproc_core::memory::{decide_cuda_pool, memory_device};
use cudapreproc_core::negotiation::{self, Downstream, Refusals};
use cudapreproc_core::upstream::answer_context_query;
use gst::glib;
use gst::prelude::*;
use gst::subclass::prelude::*;
use gst_base::prelude::*;
use gst_base::subclass::prelude::*;

use super::{Class, Negotiated};
use crate::property::{
    cuda_device_id_spec, downstream_sync_spec, factory_name, properties_from_table, DownstreamSync,
    PropertyTable,
};

crate::debug_category!(static CAT = "cudabasetransform", "CUDA filter base class");

/// Default of `cuda-device-id`: follow the incoming memory (device 0 when it is system memory).
const DEFAULT_DEVICE_ID: i32 = -1;

#[derive(Clone)]
struct Settings {
    device_id: i32,
    downstream_sync: DownstreamSync,
}

/// What a running filter holds.
struct State {
    device: Arc<Device>,
    stream: Arc<Stream>,
    input_staging: Staging,
    output_staging: Staging,
    /// Input and output, once negotiated.
    negotiated: Option<Negotiated>,
}

impl State {
    /// Opens the device `device_id` asks for (device 0 for -1) and creates the stream.
    fn open(device_id: i32, downstream_sync: DownstreamSync) -> Result<Self, CudaError> {
        let device = Device::open(device_id.max(0))?;
        let stream = Arc::new(device.new_stream()?);
        Ok(State {
            device,
            stream,
            input_staging: Staging::default(),
            output_staging: Staging::with_downstream_sync(downstream_sync.into()),
            negotiated: None,
        })
    }
}

pub struct CudaBaseTransform {
    settings: Mutex<Settings>,
    state: Mutex<Option<State>>,
    refusals: Refusals,
}

impl Default for CudaBaseTransform {
    fn default() -> Self {
        CudaBaseTransform {
            settings: Mutex::new(Settings {
                device_id: DEFAULT_DEVICE_ID,
                downstream_sync: DownstreamSync::default(),
            }),
            state: Mutex::new(None),
            refusals: Refusals::default(),
        }
    }
}

impl CudaBaseTransform {
    /// Runs `f` with the element and its class, whose virtual methods are the subclass's.
    fn virtual_call<R>(&self, f: impl FnOnce(&super::CudaBaseTransform, &Class) -> R) -> R {
        let obj = self.obj();
        f(&obj, obj.class().as_ref())
    }

    fn element(&self) -> gst::Element {
        self.obj().clone().upcast()
    }

    fn post(&self, error: gst::ErrorMessage) -> gst::FlowError {
        self.obj().post_error_message(error);
        gst::FlowError::Error
    }

    /// With `cuda-device-id` -1, moves to the device holding `buffer`'s CUDA memory when that
    /// is not the device in use: a new stream, and a new output pool through reconfiguration.
    fn follow_input(&self, buffer: &gst::BufferRef) -> Result<(), gst::FlowError> {
        let settings = self.settings.lock().unwrap().clone();
        if settings.device_id >= 0 || buffer.n_memory() != 1 {
            return Ok(());
        }
        let Some(ordinal) = memory_device(buffer.peek_memory(0)) else {
            return Ok(());
        };
        let mut state = self.state.lock().unwrap();
        let Some(state) = state.as_mut() else {
            return Ok(());
        };
        if state.device.ordinal() == ordinal {
            return Ok(());
        }
        let followed = State::open(ordinal, settings.downstream_sync)
            .map_err(|e| self.post(e.to_error_message()))?;
        gst::info!(
            CAT,
            imp = self,
            "following input memory to {:?}",
            followed.device
        );
        *state = State {
            negotiated: state.negotiated.take(),
            ..followed
        };
        self.obj().src_pad().mark_reconfigure();
        Ok(())
    }
}

#[glib::object_subclass]
impl ObjectSubclass for CudaBaseTransform {
    const NAME: &'static str = "GstRsCudaBaseTransform";
    const ABSTRACT: bool = true;
    type Type = super::CudaBaseTransform;
    type ParentType = gst_base::BaseTransform;
    type Class = Class;

    fn class_init(class: &mut Self::Class) {
        // What a subclass does not override: nothing can be made of anything.
        class.other_caps = |_, _, _| gst::Caps::new_empty();
        class.fixate = |_, _, _, othercaps| fixate_preferring_cuda(&othercaps);
        class.set_info = |_, _| Err("CudaBaseTransform is abstract".into());
        class.transform_frames = |_, _, _, _| {
            Err(gst::error_msg!(
                gst::CoreError::NotImplemented,
                ["CudaBaseTransform is abstract"]
            ))
        };
        class.hint = |_, _, _| None;
    }
}

static PROPERTIES: LazyLock<PropertyTable<CudaBaseTransform, Settings>> = LazyLock::new(|| {
    PropertyTable::new(*CAT, |imp: &CudaBaseTransform| &imp.settings)
        .field(
            cuda_device_id_spec(
                -1,
                DEFAULT_DEVICE_ID,
                "GPU to run on; -1: the GPU holding the incoming CUDA memory (GPU 0 for system \
                 memory)",
            ),
            |s| &mut s.device_id,
        )
        .field(downstream_sync_spec(), |s| &mut s.downstream_sync)
});

impl ObjectImpl for CudaBaseTransform {
    properties_from_table!(PROPERTIES);
}

impl GstObjectImpl for CudaBaseTransform {}
impl ElementImpl for CudaBaseTransform {}

impl BaseTransformImpl for CudaBaseTransform {
    const MODE: gst_base::subclass::BaseTransformMode =
        gst_base::subclass::BaseTransformMode::NeverInPlace;
    const PASSTHROUGH_ON_SAME_CAPS: bool = false;
    const TRANSFORM_IP_ON_PASSTHROUGH: bool = false;

    fn start(&self) -> Result<(), gst::ErrorMessage> {
        let settings = self.settings.lock().unwrap().clone();
        let state = State::open(settings.device_id, settings.downstream_sync)
            .map_err(|e| e.to_error_message())?;
        gst::info!(CAT, imp = self, "running on {:?}", state.device);
        *self.state.lock().unwrap() = Some(state);
        Ok(())
    }

    fn stop(&self) -> Result<(), gst::ErrorMessage> {
        *self.state.lock().unwrap() = None;
        Ok(())
    }

    fn transform_caps(
        &self,
        direction: gst::PadDirection,
        caps: &gst::Caps,
        filter: Option<&gst::Caps>,
    ) -> Option<gst::Caps> {
        // Nothing is known of ANY caps, so they can become anything.
        let other = if caps.is_any() {
            caps.clone()
        } else {
            self.virtual_call(|obj, class| (class.other_caps)(obj, direction, caps))
        };
        let other = match filter {
            Some(filter) => filter.intersect_with_mode(&other, gst::CapsIntersectMode::First),
            None => other,
        };
        gst::debug!(CAT, imp = self, "transformed {caps} into {other}");
        Some(other)
    }

    fn fixate_caps(
        &self,
        direction: gst::PadDirection,
        caps: &gst::Caps,
        othercaps: gst::Caps,
    ) -> gst::Caps {
        let fixated =
            self.virtual_call(|obj, class| (class.fixate)(obj, direction, caps, othercaps));
        gst::debug!(CAT, imp = self, "fixated to {fixated}");
        fixated
    }

    fn set_caps(&self, incaps: &gst::Caps, outcaps: &gst::Caps) -> Result<(), gst::LoggableError> {
        let element = self.element();
        let refuse = |why: String| self.refusals.refuse(&element, *CAT, &why);
        let read = |caps: &gst::Caps, side: &str| {
            Media::from_caps(caps).map_err(|e| match caps.structure(0) {
                Some(s) if s.name() == "video/x-raw" => {
                    refuse(format!("invalid {side} caps {caps}"))
                }
                _ => refuse(format!("cannot read the {side} caps {caps}: {e}")),
            })
        };
        let negotiated = Negotiated {
            input: read(incaps, "input")?,
            output: read(outcaps, "output")?,
            incaps: incaps.clone(),
            outcaps: outcaps.clone(),
        };
        self.virtual_call(|obj, class| (class.set_info)(obj, &negotiated))
            .map_err(refuse)?;
        let mut state = self.state.lock().unwrap();
        let state = state
            .as_mut()
            .ok_or_else(|| gst::loggable_error!(CAT, "caps set while stopped"))?;
        state.negotiated = Some(negotiated);
        Ok(())
    }

    fn sink_event(&self, event: gst::Event) -> bool {
        let element = self.element();
        self.refusals.sink_event(
            &element,
            *CAT,
            event,
            |event| self.parent_sink_event(event),
            |caps| {
                let downstream = Downstream::of(self.obj().src_pad());
                let offered = self.virtual_call(|obj, class| {
                    (class.other_caps)(obj, gst::PadDirection::Sink, caps)
                });
                negotiation::explain(&factory_name(&element), &offered, &downstream, |field| {
                    self.virtual_call(|obj, class| (class.hint)(obj, caps, field))
                })
            },
        )
    }

    /// A frame or tensor is one unit whatever padding its memory has (upstream's CUDA memory is
    /// pitched to its own alignment), so the output size follows from the output caps alone.
    fn transform_size(
        &self,
        _direction: gst::PadDirection,
        _caps: &gst::Caps,
        _size: usize,
        othercaps: &gst::Caps,
    ) -> Option<usize> {
        Media::from_caps(othercaps).ok().map(|media| media.size())
    }

    fn propose_allocation(
        &self,
        decide_query: Option<&gst::query::Allocation>,
        query: &mut gst::query::Allocation,
    ) -> Result<(), gst::LoggableError> {
        query.add_allocation_meta::<gst_video::VideoMeta>(None);
        self.parent_propose_allocation(decide_query, query)
    }

    /// CUDA output gets a bounded pool of our memory on the filter's device.
    fn decide_allocation(
        &self,
        query: &mut gst::query::Allocation,
    ) -> Result<(), gst::LoggableError> {
        let (caps, _) = query.get_owned();
        let Some(caps) = caps.filter(|c| is_cuda_caps(c)) else {
            return self.parent_decide_allocation(query);
        };
        let flat_size = match Media::from_caps(&caps) {
            Ok(Media::Tensor(tensor)) => Some(tensor.bytes),
            _ => None,
        };
        let state = self.state.lock().unwrap();
        let state = state
            .as_ref()
            .ok_or_else(|| gst::loggable_error!(CAT, "allocation while stopped"))?;
        decide_cuda_pool(query, &state.device, &state.stream, flat_size)
    }

    /// Upstream's CUDA elements on either side get our device's primary context, so that
    /// memory passes between us in place (`cudapreproc_core::upstream`).
    fn query(&self, direction: gst::PadDirection, query: &mut gst::QueryRef) -> bool {
        let ordinal = match self.state.lock().unwrap().as_ref() {
            Some(state) => state.device.ordinal(),
            None => self.settings.lock().unwrap().device_id.max(0),
        };
        answer_context_query(query, ordinal)
            || BaseTransformImplExt::parent_query(self, direction, query)
    }

    fn submit_input_buffer(
        &self,
        is_discont: bool,
        inbuf: gst::Buffer,
    ) -> Result<gst::FlowSuccess, gst::FlowError> {
        self.follow_input(&inbuf)?;
        self.parent_submit_input_buffer(is_discont, inbuf)
    }

    fn transform(
        &self,
        inbuf: &gst::Buffer,
        outbuf: &mut gst::BufferRef,
    ) -> Result<gst::FlowSuccess, gst::FlowError> {
        let mut state = self.state.lock().unwrap();
        let state = state.as_mut().ok_or(gst::FlowError::Flushing)?;
        let negotiated = state
            .negotiated
            .as_ref()
            .ok_or(gst::FlowError::NotNegotiated)?;
        let (input_media, output_media) = (&negotiated.input, &negotiated.output);
        let stream = &state.stream;
        let input = Input::begin(stream, inbuf, input_media, &mut state.input_staging)
            .map_err(|e| self.post(e.to_error_message()))?;
        let mut output = Output::begin(stream, outbuf, output_media, &mut state.output_staging)
            .map_err(|e| self.post(e.to_error_message()))?;
        self.virtual_call(|obj, class| (class.transform_frames)(obj, stream, &input, &mut output))
            .map_err(|e| self.post(e))?;
        input
            .end(stream)
            .and_then(|()| output.end(stream))
            .map_err(|e| self.post(e.to_error_message()))?;
        Ok(gst::FlowSuccess::Ok)
    }
}
