use std::sync::{LazyLock, Mutex};

use gst::glib;
use gst::prelude::*;
use gst::subclass::prelude::*;
use gst_base::prelude::*;
use gst_base::subclass::prelude::*;

use super::{ChannelOrder, NormalizationPreset, TensorDType, TensorLayout};
use crate::cuda::filter::{self, FilterDevice, DEFAULT_DEVICE_ID};
use crate::cuda::frame::{FlatInput, FlatOutput, FlatStaging, Input, Output};
use crate::cuda::tensor::{
    self, DType, Layout, Normalization, TensorConversion, TensorShape, VIDEO_FORMATS,
};
use crate::cuda::CudaError;
use crate::negotiation::{self, Downstream, Refusals};
use crate::property::{self, factory_name, nick, number};

static CAT: LazyLock<gst::DebugCategory> = LazyLock::new(|| {
    gst::DebugCategory::new(
        "cudaconvert",
        gst::DebugColorFlags::empty(),
        Some("CUDA video/tensor conversion"),
    )
});

const DEFAULT_DTYPE: TensorDType = TensorDType::Float32;
const DEFAULT_LAYOUT: TensorLayout = TensorLayout::Nchw;
const DEFAULT_CHANNEL_ORDER: ChannelOrder = ChannelOrder::Rgb;
const DEFAULT_PRESET: NormalizationPreset = NormalizationPreset::None;
const DEFAULT_SCALE: f64 = 1.0;
/// Smallest `std`: the values are divided by it.
const MIN_STD: f64 = 1e-6;

const TENSORS: &str = "other/tensors";

#[derive(Debug, Clone)]
struct Settings {
    device_id: i32,
    dtype: TensorDType,
    layout: TensorLayout,
    channel_order: ChannelOrder,
    preset: NormalizationPreset,
    scale: f64,
    /// Per colour component (R, G, B, A; gray uses the first), whatever the channel order.
    mean: [f64; 4],
    std: [f64; 4],
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            device_id: DEFAULT_DEVICE_ID,
            dtype: DEFAULT_DTYPE,
            layout: DEFAULT_LAYOUT,
            channel_order: DEFAULT_CHANNEL_ORDER,
            preset: DEFAULT_PRESET,
            scale: DEFAULT_SCALE,
            mean: [0.0; 4],
            std: [1.0; 4],
        }
    }
}

impl Settings {
    fn apply_preset(&mut self, preset: NormalizationPreset) {
        self.preset = preset;
        let (scale, mean, std) = match preset {
            NormalizationPreset::None => (1.0, [0.0; 3], [1.0; 3]),
            NormalizationPreset::Unit => (1.0 / 255.0, [0.0; 3], [1.0; 3]),
            NormalizationPreset::Symmetric => (2.0 / 255.0, [1.0; 3], [1.0; 3]),
            NormalizationPreset::Imagenet => {
                (1.0 / 255.0, [0.485, 0.456, 0.406], [0.229, 0.224, 0.225])
            }
        };
        self.scale = scale;
        self.mean = [mean[0], mean[1], mean[2], 0.0];
        self.std = [std[0], std[1], std[2], 1.0];
    }

    fn dtype(&self) -> DType {
        match self.dtype {
            TensorDType::Uint8 => DType::Uint8,
            TensorDType::Float16 => DType::Float16,
            TensorDType::Bfloat16 => DType::Bfloat16,
            TensorDType::Float32 => DType::Float32,
        }
    }

    fn layout(&self) -> Layout {
        match self.layout {
            TensorLayout::Nchw => Layout::Nchw,
            TensorLayout::Nhwc => Layout::Nhwc,
        }
    }

    /// The frame component (R=0, G=1, B=2, A=3) each tensor channel holds, for `channels`
    /// tensor channels (1: gray or the first component).
    fn channel_components(&self, channels: u32) -> Vec<usize> {
        match (channels, self.channel_order) {
            (1, _) => vec![0],
            (3, ChannelOrder::Rgb | ChannelOrder::Rgba) => vec![0, 1, 2],
            (3, ChannelOrder::Bgr | ChannelOrder::Bgra) => vec![2, 1, 0],
            (_, ChannelOrder::Rgb | ChannelOrder::Rgba) => vec![0, 1, 2, 3],
            (_, ChannelOrder::Bgr | ChannelOrder::Bgra) => vec![2, 1, 0, 3],
        }
    }

    /// Tensor channels for video of `format`.
    fn channels_for(&self, format: gst_video::VideoFormat) -> u32 {
        if !tensor::is_color(format) {
            1
        } else if matches!(self.channel_order, ChannelOrder::Rgba | ChannelOrder::Bgra) {
            4
        } else {
            3
        }
    }

    fn normalization(&self, components: &[usize]) -> Normalization {
        let mut n = Normalization {
            scale: self.scale,
            ..Normalization::IDENTITY
        };
        for (channel, &component) in components.iter().enumerate() {
            n.mean[channel] = self.mean[component];
            n.std[channel] = self.std[component];
        }
        n
    }
}

/// 1, 3 or 4 finite values from an array property (one: every component); the fourth (alpha)
/// defaults to `alpha`.
fn component_values(value: &glib::Value, alpha: f64) -> Result<[f64; 4], String> {
    let array = value.get::<gst::Array>().map_err(|e| e.to_string())?;
    let values = array
        .iter()
        .map(number)
        .collect::<Result<Vec<f64>, String>>()?;
    if values.iter().any(|v| !v.is_finite()) {
        return Err(format!("{values:?} has a value that is not finite"));
    }
    match values[..] {
        [v] => Ok([v, v, v, alpha]),
        [r, g, b] => Ok([r, g, b, alpha]),
        [r, g, b, a] => Ok([r, g, b, a]),
        _ => Err(format!("1, 3 or 4 values expected, got {}", values.len())),
    }
}

fn array_value(values: &[f64; 4]) -> glib::Value {
    gst::Array::new(values.iter().map(|v| v.to_send_value())).to_value()
}

fn is_tensor(s: &gst::StructureRef) -> bool {
    s.name() == TENSORS
}

/// The formats a tensor of `channels` channels turns into (any when unknown).
fn formats_for_channels(channels: Option<u32>) -> Vec<&'static str> {
    VIDEO_FORMATS
        .iter()
        .copied()
        .filter(|f| {
            let color = tensor::is_color(gst_video::VideoFormat::from_string(f));
            match channels {
                None => true,
                Some(1) => !color,
                Some(_) => color,
            }
        })
        .collect()
}

fn tensor_structure(
    types: gst::glib::SendValue,
    shape: Option<TensorShape>,
    framerate: Option<&glib::SendValue>,
) -> gst::Structure {
    let mut s = gst::Structure::builder(TENSORS)
        .field("format", "static")
        .field("num_tensors", 1i32)
        .build();
    s.set_value("types", types);
    if let Some(shape) = shape {
        s.set("dimensions", shape.nnstreamer_dims());
    }
    if let Some(framerate) = framerate {
        s.set_value("framerate", framerate.clone());
    }
    s
}

/// The video structure for tensors described by `s`.
fn video_structure(s: &gst::StructureRef, layout: Layout) -> gst::Structure {
    let shape = s
        .get::<&str>("dimensions")
        .ok()
        .and_then(|d| TensorShape::from_nnstreamer_dims(d, layout).ok());
    let formats = formats_for_channels(shape.map(|s| s.channels));
    let mut v = gst::Structure::builder("video/x-raw")
        .field("format", gst::List::new(formats))
        .build();
    match shape {
        Some(shape) => {
            v.set("width", shape.width as i32);
            v.set("height", shape.height as i32);
        }
        None => {
            v.set("width", gst::IntRange::new(1, i32::MAX));
            v.set("height", gst::IntRange::new(1, i32::MAX));
        }
    }
    v.set_value(
        "framerate",
        s.value("framerate").cloned().unwrap_or_else(|_| {
            gst::FractionRange::new(gst::Fraction::new(0, 1), gst::Fraction::new(i32::MAX, 1))
                .to_send_value()
        }),
    );
    v
}

/// The tensor structure for video described by `s`, with `types`.
fn tensor_for_video(
    s: &gst::StructureRef,
    settings: &Settings,
    types: glib::SendValue,
) -> gst::Structure {
    let format = s
        .get::<&str>("format")
        .ok()
        .map(gst_video::VideoFormat::from_string);
    let shape = match (format, s.get::<i32>("width"), s.get::<i32>("height")) {
        (Some(format), Ok(width), Ok(height)) if width > 0 && height > 0 => Some(TensorShape {
            channels: settings.channels_for(format),
            height: height as u32,
            width: width as u32,
            layout: settings.layout(),
        }),
        _ => None,
    };
    tensor_structure(types, shape, s.value("framerate").ok())
}

/// The caps on the other pad for `caps` on the pad of `direction`, in CUDA or system memory.
fn transform(settings: &Settings, direction: gst::PadDirection, caps: &gst::Caps) -> gst::Caps {
    if caps.is_any() {
        return caps.clone();
    }
    let mut other = gst::Caps::new_empty();
    // Video on the sink pad becomes tensors of the configured type; video on the source pad
    // comes from tensors of any type.
    let types = if direction == gst::PadDirection::Sink {
        settings.dtype().name().to_send_value()
    } else {
        gst::List::new(DType::ALL.map(|d| d.name())).to_send_value()
    };
    for features in [filter::cuda_features(), gst::CapsFeatures::new_empty()] {
        for s in caps.iter() {
            let converted = if is_tensor(s) {
                video_structure(s, settings.layout())
            } else {
                tensor_for_video(s, settings, types.clone())
            };
            other.merge_structure_full(converted, Some(features.clone()));
        }
    }
    other
}

/// Why downstream takes nothing `name` makes of `incaps`.
fn refusal(name: &str, settings: &Settings, incaps: &gst::Caps, downstream: &Downstream) -> String {
    let offered = transform(settings, gst::PadDirection::Sink, incaps);
    let input = incaps.structure(0);
    let field = |f: &str| {
        input
            .and_then(|s| s.value(f).ok())
            .and_then(|v| v.serialize().ok())
            .map_or_else(|| "?".to_string(), |v| v.to_string())
    };
    let to_tensor = input.is_some_and(|s| !is_tensor(s));
    negotiation::explain(name, &offered, downstream, |f| match (to_tensor, f) {
        (true, "types") => Some(format!(
            "property dtype={}; uint8, float16, bfloat16 and float32 are possible",
            nick(settings.dtype)
        )),
        (true, "dimensions") => Some(format!(
            "from {}x{} {} video with layout={} and channel-order={}; cudawarpaffine before \
             {name} sets the size",
            field("width"),
            field("height"),
            field("format"),
            nick(settings.layout),
            nick(settings.channel_order)
        )),
        (false, "format") => Some(format!(
            "for tensors of dimensions {}: 1 channel makes gray video, 3 or 4 RGB video",
            field("dimensions")
        )),
        (false, "width" | "height") => Some(format!(
            "from tensors of dimensions {} with layout={}",
            field("dimensions"),
            nick(settings.layout)
        )),
        _ => None,
    })
}

/// What `transform` does.
enum Mode {
    ToTensor(TensorConversion),
    ToVideo(TensorConversion),
}

struct Negotiated {
    /// The video side's frame info.
    video: gst_video::VideoInfo,
    mode: Mode,
}

struct State {
    cuda: FilterDevice,
    tensor_input: FlatStaging,
    tensor_output: FlatStaging,
    negotiated: Option<Negotiated>,
}

impl filter::FilterState for State {
    fn cuda(&self) -> &FilterDevice {
        &self.cuda
    }

    fn set_cuda(&mut self, cuda: FilterDevice) {
        self.cuda = cuda;
    }
}

#[derive(Default)]
pub struct CudaConvert {
    settings: Mutex<Settings>,
    state: Mutex<Option<State>>,
    refusals: Refusals,
}

impl CudaConvert {
    fn post_cuda_error(&self, error: &CudaError) -> gst::FlowError {
        self.obj().post_error_message(error.to_error_message());
        gst::FlowError::Error
    }

    fn tensor_bytes(&self) -> Option<usize> {
        let state = self.state.lock().unwrap();
        match &state.as_ref()?.negotiated.as_ref()?.mode {
            Mode::ToTensor(c) | Mode::ToVideo(c) => Some(c.tensor_bytes()),
        }
    }
}

#[glib::object_subclass]
impl ObjectSubclass for CudaConvert {
    const NAME: &'static str = "GstRsCudaConvert";
    type Type = super::CudaConvert;
    type ParentType = gst_base::BaseTransform;
}

impl ObjectImpl for CudaConvert {
    fn properties() -> &'static [glib::ParamSpec] {
        static PROPERTIES: LazyLock<Vec<glib::ParamSpec>> = LazyLock::new(|| {
            let component = |minimum, default| {
                glib::ParamSpecDouble::builder("value")
                    .nick("Value")
                    .blurb("Per-component value")
                    .minimum(minimum)
                    .default_value(default)
                    .build()
            };
            vec![
                filter::device_id_property("convert"),
                glib::ParamSpecEnum::builder_with_default("dtype", DEFAULT_DTYPE)
                    .nick("Data type")
                    .blurb("Tensor element type (video -> tensor)")
                    .mutable_ready()
                    .build(),
                glib::ParamSpecEnum::builder_with_default("layout", DEFAULT_LAYOUT)
                    .nick("Layout")
                    .blurb("Tensor memory order (both directions)")
                    .mutable_ready()
                    .build(),
                glib::ParamSpecEnum::builder_with_default("channel-order", DEFAULT_CHANNEL_ORDER)
                    .nick("Channel order")
                    .blurb("Order of the colour channels in the tensor (both directions)")
                    .mutable_ready()
                    .build(),
                glib::ParamSpecEnum::builder_with_default("preset", DEFAULT_PRESET)
                    .nick("Preset")
                    .blurb(
                        "Sets scale, mean and std to a usual normalisation; set those after it to \
                         change one",
                    )
                    .mutable_ready()
                    .build(),
                glib::ParamSpecDouble::builder("scale")
                    .nick("Scale")
                    .blurb("y = (x * scale - mean) / std; not 0")
                    .default_value(DEFAULT_SCALE)
                    .mutable_ready()
                    .build(),
                gst::ParamSpecArray::builder("mean")
                    .nick("Mean")
                    .blurb(
                        "Per colour component R, G, B (, A) whatever the channel order; one \
                         value: every component",
                    )
                    .element_spec(&component(f64::MIN, 0.0))
                    .mutable_ready()
                    .build(),
                gst::ParamSpecArray::builder("std")
                    .nick("Standard deviation")
                    .blurb(
                        "Per colour component R, G, B (, A), at least 1e-6; one value: every \
                         component",
                    )
                    .element_spec(&component(MIN_STD, 1.0))
                    .mutable_ready()
                    .build(),
            ]
        });
        PROPERTIES.as_ref()
    }

    fn set_property(&self, _id: usize, value: &glib::Value, pspec: &glib::ParamSpec) {
        let name = pspec.name();
        let refused = match name {
            // GLib refuses NaN and infinities (outside the spec's range) before this point.
            "scale" => match value.get::<f64>().expect("type checked upstream") {
                0.0 => Err("a scale of 0 makes every value the same".to_string()),
                scale => {
                    self.settings.lock().unwrap().scale = scale;
                    Ok(())
                }
            },
            "mean" => component_values(value, 0.0).map(|mean| {
                self.settings.lock().unwrap().mean = mean;
            }),
            "std" => component_values(value, 1.0).map(|std| {
                self.settings.lock().unwrap().std = std;
            }),
            _ => {
                let mut settings = self.settings.lock().unwrap();
                match name {
                    "cuda-device-id" => {
                        settings.device_id = value.get().expect("type checked upstream")
                    }
                    "dtype" => settings.dtype = value.get().expect("type checked upstream"),
                    "layout" => settings.layout = value.get().expect("type checked upstream"),
                    "channel-order" => {
                        settings.channel_order = value.get().expect("type checked upstream")
                    }
                    "preset" => settings.apply_preset(value.get().expect("type checked upstream")),
                    _ => unimplemented!(),
                }
                Ok(())
            }
        };
        if let Err(why) = refused {
            property::refuse(self.obj().upcast_ref(), *CAT, name, &why);
        }
    }

    fn property(&self, _id: usize, pspec: &glib::ParamSpec) -> glib::Value {
        let settings = self.settings.lock().unwrap();
        match pspec.name() {
            "cuda-device-id" => settings.device_id.to_value(),
            "dtype" => settings.dtype.to_value(),
            "layout" => settings.layout.to_value(),
            "channel-order" => settings.channel_order.to_value(),
            "preset" => settings.preset.to_value(),
            "scale" => settings.scale.to_value(),
            "mean" => array_value(&settings.mean),
            "std" => array_value(&settings.std),
            _ => unimplemented!(),
        }
    }
}

impl GstObjectImpl for CudaConvert {}

impl ElementImpl for CudaConvert {
    fn metadata() -> Option<&'static gst::subclass::ElementMetadata> {
        static ELEMENT_METADATA: LazyLock<gst::subclass::ElementMetadata> = LazyLock::new(|| {
            gst::subclass::ElementMetadata::new(
                "CUDA video/tensor converter",
                "Filter/Converter/Video/Tensor/Hardware",
                "Turns RGB or gray video into normalised tensors (other/tensors) on an NVIDIA GPU, \
                 and tensors back into video",
                "The gst-cudapreproc authors",
            )
        });
        Some(&*ELEMENT_METADATA)
    }

    fn pad_templates() -> &'static [gst::PadTemplate] {
        static PAD_TEMPLATES: LazyLock<Vec<gst::PadTemplate>> = LazyLock::new(|| {
            let mut caps = filter::video_caps(VIDEO_FORMATS);
            let types = gst::List::new(DType::ALL.map(|d| d.name())).to_send_value();
            for features in [filter::cuda_features(), gst::CapsFeatures::new_empty()] {
                let mut s = tensor_structure(types.clone(), None, None);
                s.set(
                    "framerate",
                    gst::FractionRange::new(
                        gst::Fraction::new(0, 1),
                        gst::Fraction::new(i32::MAX, 1),
                    ),
                );
                caps.merge_structure_full(s, Some(features));
            }
            filter::pad_templates(&caps)
        });
        PAD_TEMPLATES.as_ref()
    }
}

impl BaseTransformImpl for CudaConvert {
    const MODE: gst_base::subclass::BaseTransformMode =
        gst_base::subclass::BaseTransformMode::NeverInPlace;
    const PASSTHROUGH_ON_SAME_CAPS: bool = false;
    const TRANSFORM_IP_ON_PASSTHROUGH: bool = false;

    fn start(&self) -> Result<(), gst::ErrorMessage> {
        let device_id = self.settings.lock().unwrap().device_id;
        let cuda = FilterDevice::open(device_id).map_err(|e| e.to_error_message())?;
        gst::info!(CAT, imp = self, "converting on {:?}", cuda.device);
        *self.state.lock().unwrap() = Some(State {
            cuda,
            tensor_input: FlatStaging::default(),
            tensor_output: FlatStaging::default(),
            negotiated: None,
        });
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
        let settings = self.settings.lock().unwrap().clone();
        let other = transform(&settings, direction, caps);
        let other = match filter {
            Some(filter) => filter.intersect_with_mode(&other, gst::CapsIntersectMode::First),
            None => other,
        };
        gst::debug!(CAT, imp = self, "transformed {caps} into {other}");
        Some(other)
    }

    fn fixate_caps(
        &self,
        _direction: gst::PadDirection,
        _caps: &gst::Caps,
        othercaps: gst::Caps,
    ) -> gst::Caps {
        let chosen = othercaps
            .iter_with_features()
            .position(|(_, f)| f.contains(crate::cuda::CAPS_FEATURE_MEMORY_CUDA))
            .unwrap_or(0);
        let mut out = gst::Caps::new_empty();
        if let Some((s, f)) = othercaps.iter_with_features().nth(chosen) {
            out.get_mut()
                .unwrap()
                .append_structure_full(s.to_owned(), Some(f.to_owned()));
        }
        out.fixate();
        gst::debug!(CAT, imp = self, "fixated to {out}");
        out
    }

    fn set_caps(&self, incaps: &gst::Caps, outcaps: &gst::Caps) -> Result<(), gst::LoggableError> {
        let settings = self.settings.lock().unwrap().clone();
        let obj = self.obj();
        let name = factory_name(&*obj);
        let refuse = |why: String| self.refusals.refuse(obj.upcast_ref(), *CAT, &why);
        let (in_s, out_s) = match (incaps.structure(0), outcaps.structure(0)) {
            (Some(i), Some(o)) => (i, o),
            _ => return Err(refuse(format!("{name} got empty caps"))),
        };
        // One side is video, the other the tensor, in either direction.
        let (video_caps, video_side, tensor_s, to_tensor) =
            match (is_tensor(in_s), is_tensor(out_s)) {
                (false, true) => (incaps, "input", out_s, true),
                (true, false) => (outcaps, "output", in_s, false),
                _ => {
                    return Err(refuse(format!(
                        "{name} converts between video and tensors, not {incaps} to {outcaps}"
                    )))
                }
            };
        let video = gst_video::VideoInfo::from_caps(video_caps)
            .map_err(|_| refuse(format!("invalid {video_side} caps {video_caps}")))?;
        let dims = tensor_s.get::<&str>("dimensions").map_err(|_| {
            refuse(format!(
                "{name} needs the tensor's dimensions, the caps have none: {tensor_s}"
            ))
        })?;
        let shape = TensorShape::from_nnstreamer_dims(dims, settings.layout())
            .map_err(|e| refuse(format!("{e} (layout={})", nick(settings.layout))))?;
        let types = tensor_s.get::<&str>("types").unwrap_or_default();
        let dtype = DType::from_name(types).ok_or_else(|| {
            refuse(format!(
                "{name} does not convert tensors of type '{types}' (uint8, float16, bfloat16 \
                 and float32 are possible)"
            ))
        })?;
        let channel_components = settings.channel_components(shape.channels);
        let conversion = TensorConversion {
            shape,
            dtype,
            normalization: settings.normalization(&channel_components),
            channel_components,
        };
        let mode = if to_tensor {
            gst::info!(CAT, imp = self, "{} -> {conversion:?}", video.format());
            Mode::ToTensor(conversion)
        } else {
            gst::info!(CAT, imp = self, "{conversion:?} -> {}", video.format());
            Mode::ToVideo(conversion)
        };
        let negotiated = Negotiated { video, mode };
        let mut state = self.state.lock().unwrap();
        let state = state
            .as_mut()
            .ok_or_else(|| gst::loggable_error!(CAT, "caps set while stopped"))?;
        state.negotiated = Some(negotiated);
        Ok(())
    }

    fn sink_event(&self, event: gst::Event) -> bool {
        let obj = self.obj();
        self.refusals.sink_event(
            obj.upcast_ref(),
            *CAT,
            event,
            |event| self.parent_sink_event(event),
            |caps| {
                let settings = self.settings.lock().unwrap().clone();
                let downstream = Downstream::of(obj.src_pad());
                refusal(&factory_name(&*obj), &settings, caps, &downstream)
            },
        )
    }

    /// A frame or tensor is one unit whatever padding its memory has (upstream's CUDA memory is pitched
    /// to its own alignment), so the output size follows from the output caps alone.
    fn transform_size(
        &self,
        _direction: gst::PadDirection,
        _caps: &gst::Caps,
        _size: usize,
        othercaps: &gst::Caps,
    ) -> Option<usize> {
        let s = othercaps.structure(0)?;
        if !is_tensor(s) {
            return filter::frame_size(othercaps);
        }
        let layout = self.settings.lock().unwrap().layout();
        let shape =
            TensorShape::from_nnstreamer_dims(s.get::<&str>("dimensions").ok()?, layout).ok()?;
        let dtype = DType::from_name(s.get::<&str>("types").ok()?)?;
        Some(shape.elements() * dtype.size())
    }

    fn propose_allocation(
        &self,
        decide_query: Option<&gst::query::Allocation>,
        query: &mut gst::query::Allocation,
    ) -> Result<(), gst::LoggableError> {
        query.add_allocation_meta::<gst_video::VideoMeta>(None);
        self.parent_propose_allocation(decide_query, query)
    }

    fn decide_allocation(
        &self,
        query: &mut gst::query::Allocation,
    ) -> Result<(), gst::LoggableError> {
        let (caps, _) = query.get_owned();
        let flat_size = match caps.as_ref().and_then(|c| c.structure(0)) {
            Some(s) if is_tensor(s) => Some(
                self.tensor_bytes()
                    .ok_or_else(|| gst::loggable_error!(CAT, "allocation before caps"))?,
            ),
            _ => None,
        };
        if filter::decide_allocation(&self.state, query, flat_size)? {
            return Ok(());
        }
        self.parent_decide_allocation(query)
    }

    fn submit_input_buffer(
        &self,
        is_discont: bool,
        inbuf: gst::Buffer,
    ) -> Result<gst::FlowSuccess, gst::FlowError> {
        let device_id = self.settings.lock().unwrap().device_id;
        filter::follow_input(
            self.obj().upcast_ref(),
            *CAT,
            &self.state,
            device_id,
            &inbuf,
        )?;
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
        let stream = state.cuda.stream.clone();
        let video = &negotiated.video;
        let result = match &negotiated.mode {
            Mode::ToTensor(conversion) => (|| {
                let input = Input::begin(&stream, inbuf, video, &mut state.cuda.input_staging)?;
                let bytes = conversion.tensor_bytes();
                let output = FlatOutput::begin(&stream, outbuf, bytes, &mut state.tensor_output)?;
                // SAFETY: the frame and the tensor come from Input/FlatOutput::begin for the
                // negotiated frame info and tensor size.
                unsafe { conversion.to_tensor(&stream, video, &input.planes, output.addr)? };
                input.end(&stream)?;
                output.end(&stream, outbuf)
            })(),
            Mode::ToVideo(conversion) => (|| {
                let bytes = conversion.tensor_bytes();
                let input = FlatInput::begin(&stream, inbuf, bytes, &mut state.tensor_input)?;
                let output = Output::begin(&stream, outbuf, video, &mut state.cuda.output_staging)?;
                // SAFETY: as above.
                unsafe { conversion.to_video(&stream, input.addr, video, &output.planes)? };
                input.end(&stream)?;
                output.end(&stream, outbuf, video)
            })(),
        };
        result.map_err(|e| self.post_cuda_error(&e))?;
        Ok(gst::FlowSuccess::Ok)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn video_caps(format: &str, width: i32, height: i32) -> gst::Caps {
        gst_video::VideoCapsBuilder::new()
            .format(gst_video::VideoFormat::from_string(format))
            .width(width)
            .height(height)
            .framerate(gst::Fraction::new(25, 1))
            .build()
    }

    #[test]
    fn video_becomes_nnstreamer_tensor_caps() {
        gst::init().unwrap();
        let mut settings = Settings::default();
        let caps = video_caps("RGBA", 224, 160);
        let s = tensor_for_video(
            caps.structure(0).unwrap(),
            &settings,
            "float32".to_send_value(),
        );
        assert_eq!(
            s.to_string(),
            "other/tensors, format=(string)static, num_tensors=(int)1, types=(string)float32, \
             dimensions=(string)224:160:3:1, framerate=(fraction)25/1;"
        );
        settings.layout = TensorLayout::Nhwc;
        settings.channel_order = ChannelOrder::Bgra;
        let s = tensor_for_video(
            caps.structure(0).unwrap(),
            &settings,
            "uint8".to_send_value(),
        );
        assert_eq!(s.get::<&str>("dimensions").unwrap(), "4:224:160:1");
        let gray = video_caps("GRAY8", 64, 48);
        let s = tensor_for_video(
            gray.structure(0).unwrap(),
            &settings,
            "uint8".to_send_value(),
        );
        assert_eq!(s.get::<&str>("dimensions").unwrap(), "1:64:48:1");
    }

    #[test]
    fn tensors_become_video_of_matching_channels() {
        gst::init().unwrap();
        let s = tensor_structure(
            "float32".to_send_value(),
            Some(TensorShape {
                channels: 3,
                height: 120,
                width: 160,
                layout: Layout::Nchw,
            }),
            None,
        );
        let v = video_structure(&s, Layout::Nchw);
        assert_eq!(v.get::<i32>("width").unwrap(), 160);
        assert_eq!(v.get::<i32>("height").unwrap(), 120);
        let formats: Vec<String> = v
            .get::<gst::List>("format")
            .unwrap()
            .iter()
            .map(|f| f.get::<String>().unwrap())
            .collect();
        assert!(formats.contains(&"RGBP".to_string()));
        assert!(!formats.contains(&"GRAY8".to_string()));
    }

    #[test]
    fn presets_and_channel_order() {
        let mut settings = Settings::default();
        settings.apply_preset(NormalizationPreset::Imagenet);
        settings.channel_order = ChannelOrder::Bgr;
        let components = settings.channel_components(3);
        assert_eq!(components, vec![2, 1, 0]);
        let n = settings.normalization(&components);
        // The B channel, first in the tensor, gets B's mean and std.
        assert_eq!(n.mean[0], 0.406);
        assert_eq!(n.std[0], 0.225);
        assert_eq!(n.scale, 1.0 / 255.0);
        settings.apply_preset(NormalizationPreset::Symmetric);
        let n = settings.normalization(&settings.channel_components(3));
        // 255 -> 1, 0 -> -1
        assert_eq!((255.0 * n.scale - n.mean[0]) / n.std[0], 1.0);
        assert_eq!((0.0 * n.scale - n.mean[0]) / n.std[0], -1.0);
    }

    #[test]
    fn component_values_take_one_three_or_four() {
        gst::init().unwrap();
        let array = |v: &[f64]| gst::Array::new(v.iter().map(|x| x.to_send_value())).to_value();
        assert_eq!(
            component_values(&array(&[2.0]), 0.0).unwrap(),
            [2.0, 2.0, 2.0, 0.0]
        );
        assert_eq!(
            component_values(&array(&[1.0, 2.0, 3.0]), 1.0).unwrap(),
            [1.0, 2.0, 3.0, 1.0]
        );
        assert!(component_values(&array(&[1.0, 2.0]), 0.0).is_err());
        assert!(component_values(&array(&[f64::NAN]), 0.0).is_err());
    }

    #[test]
    fn refusals_say_what_decides_types_dimensions_and_formats() {
        gst::init().unwrap();
        let video = video_caps("RGBA", 224, 224);
        let refused = |settings: &Settings, incaps: &gst::Caps, accepted: &str| {
            let downstream = Downstream {
                accepted: accepted.parse().unwrap(),
                next: "sink".into(),
            };
            refusal("cudaconvert", settings, incaps, &downstream)
        };
        assert_eq!(
            refused(&Settings::default(), &video, "other/tensors, types=int32"),
            "cudaconvert produces types float32 (property dtype=float32; uint8, float16, \
             bfloat16 and float32 are possible), downstream accepts types int32"
        );
        let rgba = Settings {
            channel_order: ChannelOrder::Rgba,
            ..Settings::default()
        };
        assert_eq!(
            refused(&rgba, &video, "other/tensors, dimensions=224:224:3:1"),
            "cudaconvert produces dimensions 224:224:4:1 (from 224x224 RGBA video with \
             layout=nchw and channel-order=rgba; cudawarpaffine before cudaconvert sets the \
             size), downstream accepts dimensions 224:224:3:1"
        );
        let tensors: gst::Caps = "other/tensors, format=static, num_tensors=1, types=float32, \
                                  dimensions=320:240:3:1"
            .parse()
            .unwrap();
        let text = refused(&Settings::default(), &tensors, "video/x-raw, format=GRAY8");
        assert!(
            text.starts_with("cudaconvert produces format RGB, BGR, "),
            "{text}"
        );
        assert!(
            text.ends_with(
                " (for tensors of dimensions 320:240:3:1: 1 channel makes gray video, 3 or 4 \
                 RGB video), downstream accepts format GRAY8"
            ),
            "{text}"
        );
    }
}
