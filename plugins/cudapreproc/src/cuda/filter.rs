//! What every CUDA filter element shares: picking the device (`cuda-device-id`, or following the
//! incoming memory), its stream and staging frames, caps in both memory kinds, and a bounded pool
//! of our device memory for CUDA output.

use std::sync::{Arc, Mutex};

use gst_base::prelude::*;

use super::device::{Device, Stream};
use super::error::CudaError;
use super::frame::Staging;
use super::memory::{device_memory, CudaMapping, UPSTREAM_MEMORY_TYPE};
use super::pool::CudaBufferPool;
use super::CAPS_FEATURE_MEMORY_CUDA;

/// Default of every element's `cuda-device-id`: follow the incoming memory (device 0 when it
/// is system memory).
pub const DEFAULT_DEVICE_ID: i32 = -1;

/// Buffers an element's output pool may hold beyond what downstream asked for: enough to keep
/// the GPU ahead of a queue, few enough that memory stays bounded.
const POOL_HEADROOM: u32 = 6;

/// The device resources of one running filter.
pub struct FilterDevice {
    pub device: Arc<Device>,
    pub stream: Arc<Stream>,
    pub input_staging: Staging,
    pub output_staging: Staging,
}

impl FilterDevice {
    /// Opens the device `device_id` asks for (device 0 for -1) and creates the element's stream.
    pub fn open(device_id: i32) -> Result<Self, CudaError> {
        let device = Device::open(device_id.max(0))?;
        let stream = Arc::new(device.new_stream()?);
        Ok(FilterDevice {
            device,
            stream,
            input_staging: Staging::default(),
            output_staging: Staging::default(),
        })
    }

    /// With `cuda-device-id` -1, the device of `buffer`'s CUDA memory when it differs from the
    /// one in use.
    pub fn device_to_follow(&self, device_id: i32, buffer: &gst::BufferRef) -> Option<i32> {
        if device_id >= 0 || buffer.n_memory() != 1 {
            return None;
        }
        let ordinal = memory_device(buffer.peek_memory(0))?;
        (ordinal != self.device.ordinal()).then_some(ordinal)
    }

    /// With `cuda-device-id` -1, new resources on the device holding `buffer`'s CUDA memory when
    /// that is not the device in use (the caller then needs a new output pool: it marks its
    /// source pad for reconfiguration).
    pub fn follow(
        &self,
        device_id: i32,
        buffer: &gst::BufferRef,
    ) -> Result<Option<FilterDevice>, CudaError> {
        self.device_to_follow(device_id, buffer)
            .map(FilterDevice::open)
            .transpose()
    }
}

/// The `cuda-device-id` property of a filter that `does` something on the GPU.
pub fn device_id_property(does: &str) -> glib::ParamSpec {
    glib::ParamSpecInt::builder("cuda-device-id")
        .nick("CUDA device ID")
        .blurb(&format!(
            "GPU to {does} on; -1: the GPU holding the incoming CUDA memory (GPU 0 for system \
             memory)"
        ))
        .minimum(-1)
        .default_value(DEFAULT_DEVICE_ID)
        .mutable_ready()
        .build()
}

/// Sink and source pad templates of a filter, both with `caps`.
pub fn pad_templates(caps: &gst::Caps) -> Vec<gst::PadTemplate> {
    [gst::PadDirection::Sink, gst::PadDirection::Src]
        .into_iter()
        .map(|direction| {
            let name = if direction == gst::PadDirection::Sink {
                "sink"
            } else {
                "src"
            };
            gst::PadTemplate::new(name, direction, gst::PadPresence::Always, caps).unwrap()
        })
        .collect()
}

/// The device ordinal of CUDA memory (ours or upstream's), `None` for other memory.
pub fn memory_device(memory: &gst::MemoryRef) -> Option<i32> {
    if let Some(ours) = device_memory(memory) {
        return Some(ours.device().ordinal());
    }
    if memory.is_type(UPSTREAM_MEMORY_TYPE) {
        let mapping = CudaMapping::new(memory, false).ok()?;
        return Device::ordinal_of(mapping.addr()).ok();
    }
    None
}

pub fn cuda_features() -> gst::CapsFeatures {
    gst::CapsFeatures::new([CAPS_FEATURE_MEMORY_CUDA])
}

/// Whether the first structure of `caps` is in CUDA memory.
pub fn is_cuda_caps(caps: &gst::CapsRef) -> bool {
    caps.features(0)
        .is_some_and(|f| f.contains(CAPS_FEATURE_MEMORY_CUDA))
}

/// Bytes of one tightly laid out frame of video `caps` (what a system-memory frame takes).
pub fn frame_size(caps: &gst::Caps) -> Option<usize> {
    gst_video::VideoInfo::from_caps(caps)
        .ok()
        .map(|info| info.size())
}

/// `video/x-raw` caps with `formats`, in CUDA memory first, then in system memory.
pub fn video_caps(formats: &[&str]) -> gst::Caps {
    let structure = gst_video::VideoCapsBuilder::new()
        .format_list(
            formats
                .iter()
                .map(|f| gst_video::VideoFormat::from_string(f)),
        )
        .build()
        .structure(0)
        .unwrap()
        .to_owned();
    let mut caps = gst::Caps::new_empty();
    {
        let caps = caps.get_mut().unwrap();
        caps.append_structure_full(structure.clone(), Some(cuda_features()));
        caps.append_structure_full(structure, Some(gst::CapsFeatures::new_empty()));
    }
    caps
}

/// The caps a filter that changes only `fields` (and the memory kind) can produce from `caps`:
/// each structure without those fields, with `formats`, in CUDA memory first, then system memory.
pub fn transform_video_caps(caps: &gst::Caps, formats: &[&str], fields: &[&str]) -> gst::Caps {
    if caps.is_any() {
        return caps.clone();
    }
    let format_list = gst::List::new(formats.iter().copied());
    let mut out = gst::Caps::new_empty();
    for features in [cuda_features(), gst::CapsFeatures::new_empty()] {
        for structure in caps.iter() {
            let mut s = structure.to_owned();
            s.remove_fields(fields.iter().copied());
            s.set("format", format_list.clone());
            out.merge_structure_full(s, Some(features.clone()));
        }
    }
    out
}

/// Replaces the pools of an allocation query for CUDA output with a bounded pool of our device
/// memory on `device`, whose host transfers run on `stream`. Video caps size the buffers from the
/// frame layout; other caps (tensors) need `flat_size`, the bytes of one buffer.
pub fn decide_cuda_pool(
    query: &mut gst::query::Allocation,
    device: &Arc<Device>,
    stream: &Arc<Stream>,
    flat_size: Option<usize>,
) -> Result<(), gst::LoggableError> {
    let (caps, _) = query.get_owned();
    let caps =
        caps.ok_or_else(|| gst::loggable_error!(gst::CAT_RUST, "allocation without caps"))?;
    let min = query
        .allocation_pools()
        .map(|(_, _, min, _)| min)
        .max()
        .unwrap_or(0)
        .max(2);
    let pool = CudaBufferPool::new(device, stream);
    let mut config = pool.config();
    config.set_params(
        Some(&caps),
        flat_size.unwrap_or(0) as u32,
        min,
        min + POOL_HEADROOM,
    );
    if flat_size.is_none() {
        config.add_option(gst_video::BUFFER_POOL_OPTION_VIDEO_META);
    }
    pool.set_config(config)
        .map_err(|e| gst::loggable_error!(gst::CAT_RUST, "CUDA pool config: {e}"))?;
    let size = pool.buffer_size().unwrap_or_default() as u32;
    while query.allocation_pools().count() > 1 {
        query.remove_nth_allocation_pool(1);
    }
    if query.allocation_pools().next().is_none() {
        query.add_allocation_pool(Some(&pool), size, min, min + POOL_HEADROOM);
    } else {
        query.set_nth_allocation_pool(0, Some(&pool), size, min, min + POOL_HEADROOM);
    }
    Ok(())
}

/// The per-run state of a filter element, as far as the code all filters share needs it.
pub trait FilterState {
    fn cuda(&self) -> &FilterDevice;
    fn set_cuda(&mut self, cuda: FilterDevice);
}

/// What every filter does in `submit_input_buffer`: with `cuda-device-id` -1, move to the device
/// holding the incoming CUDA memory (new stream, and a new output pool through reconfiguration).
pub fn follow_input<S: FilterState>(
    element: &gst_base::BaseTransform,
    cat: gst::DebugCategory,
    state: &Mutex<Option<S>>,
    device_id: i32,
    buffer: &gst::BufferRef,
) -> Result<(), gst::FlowError> {
    let followed = state
        .lock()
        .unwrap()
        .as_ref()
        .map(|s| s.cuda().follow(device_id, buffer))
        .transpose()
        .map_err(|e| {
            element.post_error_message(e.to_error_message());
            gst::FlowError::Error
        })?
        .flatten();
    if let Some(cuda) = followed {
        gst::info!(
            cat,
            obj = element,
            "following input memory to {:?}",
            cuda.device
        );
        if let Some(state) = state.lock().unwrap().as_mut() {
            state.set_cuda(cuda);
        }
        element.src_pad().mark_reconfigure();
    }
    Ok(())
}

/// What every filter does in `decide_allocation` for CUDA output: a pool of our memory on its
/// device (`flat_size` bytes per buffer for tensors). `false` when the caps are not CUDA memory:
/// the caller then leaves the decision to its parent class.
pub fn decide_allocation<S: FilterState>(
    state: &Mutex<Option<S>>,
    query: &mut gst::query::Allocation,
    flat_size: Option<usize>,
) -> Result<bool, gst::LoggableError> {
    let (caps, _) = query.get_owned();
    if !caps.as_ref().is_some_and(|c| is_cuda_caps(c)) {
        return Ok(false);
    }
    let state = state.lock().unwrap();
    let cuda = state
        .as_ref()
        .ok_or_else(|| gst::loggable_error!(gst::CAT_RUST, "allocation while stopped"))?
        .cuda();
    decide_cuda_pool(query, &cuda.device, &cuda.stream, flat_size)?;
    Ok(true)
}
