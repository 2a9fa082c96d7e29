//! CUDA itself: devices through their primary contexts (shared with PyTorch, CuPy and CV-CUDA),
//! streams and events for ordering work without host synchronisation, one error type naming the
//! failed call, and the count of what the process holds. Raw allocations and copies stay inside
//! this crate; users reach device memory through [`crate::frame`] views.

mod device;
mod error;
mod live;
pub mod nvrtc;
mod ready;
mod traffic;

pub(crate) use device::{describe_address, grid_2d, DeviceBuffer, PinnedBuffer, Plane};
pub use device::{
    device_count, driver_available, Device, Event, ForeignStream, PoolMemory, Stream, Timer,
};
pub(crate) use error::Check;
pub use error::{CudaError, CudaResult};
pub use live::{live_resources, LiveResources};
pub(crate) use live::{Resource, Tracked};
pub use ready::ReadyEvent;
pub use traffic::{traffic, Traffic};
