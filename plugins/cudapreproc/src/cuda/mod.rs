//! The CUDA core every element builds on: devices through their primary contexts, streams and
//! events for ordering without host synchronisation, device memory as GstMemory with a bounded
//! buffer pool, frame access for any incoming memory, and the kernels from `kernels/`.

pub mod colorconvert;
mod device;
mod error;
pub mod filter;
pub mod frame;
pub mod kernels;
mod live;
mod memory;
pub mod nvrtc;
mod pool;
pub mod tensor;
pub mod warp;

pub use colorconvert::ColorConversion;
pub use device::{
    copy_2d, copy_device, device_count, driver_available, event_synchronize, Device, DeviceBuffer,
    Event, Place, Stream, Timer,
};
pub use error::CudaError;
pub use kernels::Surface;
pub use live::{live_resources, LiveResources};
pub(crate) use live::{Resource, Tracked};
pub use memory::{
    device_memory, CudaAllocator, CudaMapping, DeviceMemory, MAP_CUDA, MEMORY_TYPE,
    UPSTREAM_MEMORY_TYPE,
};
pub use pool::{device_layout, CudaBufferPool, PITCH_ALIGN, POISON};

/// The caps feature of video in CUDA device memory (upstream GStreamer's string, so our caps
/// link with upstream's CUDA elements).
pub const CAPS_FEATURE_MEMORY_CUDA: &str = "memory:CUDAMemory";
