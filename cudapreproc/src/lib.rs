//! The application side of gst-cudapreproc: run a pipeline that ends in `tensorsink` and take
//! its tensors as [`CudaTensor`]s, which keep their GPU memory alive (out of the pipeline's pools)
//! until dropped, and export zero-copy as DLPack for PyTorch, CuPy or any DLPack consumer.
//!
//! ```no_run
//! let pipeline = cudapreproc::TensorPipeline::launch(
//!     "nvdecsrc location=clip.mp4 ! cudawarpaffine width=224 height=224 ! cudacvtcolor ! \
//!      video/x-raw(memory:CUDAMemory),format=RGBP ! cudaconvert preset=imagenet ! \
//!      tensorsink batch-size=8",
//! )?;
//! for tensor in pipeline.tensors() {
//!     let tensor = tensor?;
//!     println!("{:?} {} at {:#x}", tensor.shape(), tensor.dtype(), tensor.data_ptr());
//! }
//! # Ok::<(), cudapreproc::Error>(())
//! ```

mod choice;
pub mod dataset;
pub mod dlpack;
mod error;
mod import;
mod pipeline;
mod properties;
pub mod reader;
pub mod sampler;
mod tensor;
pub mod writer;

/// A CUDA stream of another library (PyTorch's, CuPy's...), for [`CudaTensor::wait_on_stream`].
pub use cudapreproc_core::cuda::ForeignStream;
/// What the elements hold on the GPU (devices, buffers, streams, events, decoders, parsers,
/// mapped frames): for leak checks and monitoring in long-running applications.
pub use cudapreproc_core::cuda::{live_resources, LiveResources};
pub use error::Error;
pub use import::import_stream;
pub use pipeline::{Pulled, TensorPipeline};
pub use tensor::{CudaTensor, DType, Device};

/// Gives the driver back the GPU memory this library keeps for reuse on `device` (its frames
/// and batches go back to a pool when dropped, and are allocated from it again), after the
/// device's queued work has run; memory still in use stays. For applications that need the
/// memory elsewhere, as `torch.cuda.empty_cache()` does for PyTorch's cache.
pub fn empty_cache(device: i32) -> Result<(), Error> {
    Ok(cudapreproc_core::cuda::Device::open(device)?.release_cached_memory()?)
}

/// Initialises GStreamer and registers the elements this crate links, once per process; also
/// starts collecting the property warnings [`TensorPipeline::parse`] turns into errors.
///
/// The application uses these statically linked elements (and their Rust types, such as
/// `TensorSink`), so it must register them before GStreamer loads a copy of the plugin from
/// `GST_PLUGIN_PATH`: two copies of the same types cannot live in one process.
pub fn register_elements() -> Result<(), Error> {
    static REGISTERED: std::sync::OnceLock<Result<(), String>> = std::sync::OnceLock::new();
    REGISTERED
        .get_or_init(|| {
            gst::init().map_err(|e| e.to_string())?;
            properties::install();
            gstcudapreproc::plugin_register_static()
                .map_err(|e| format!("registering the elements: {e}"))
        })
        .clone()
        .map_err(Error::Pipeline)
}
