#![allow(clippy::non_send_fields_in_send_ty)]

//! The core of gst-cudapreproc, which the GStreamer plugin, the application library and the
//! Python module all build on.
//!
//! - [`cuda`]: devices through their primary contexts (the ones PyTorch, CuPy and CV-CUDA use),
//!   streams, events, errors that name the failed call, and the count of what is held.
//! - [`memory`]: device memory as GstMemory, with the events that order its readers and writers,
//!   and its bounded buffer pool.
//! - [`frame`]: typed, lifetime-bound views of frames and tensors in device memory, and device
//!   frames and tensors of one's own.
//! - [`access`]: a GstBuffer's frame or tensor on the device whatever memory it arrives in.
//! - [`kernels`]: the CUDA kernels of `kernels/` and their safe launchers.
//! - [`cuvid`]: NVIDIA's bitstream parser and the NVDEC decoder.
//! - [`colorspace`], [`geometry`], [`tensor`]: pixel formats and colour maths, affine matrices,
//!   tensor shapes and types.
//! - [`caps`], [`negotiation`]: caps in both memory kinds, and saying why caps were refused.
//! - [`upstream`]: the CUDA context shared with GStreamer's own CUDA elements.
//! - [`index`]: a video's metadata and every frame's time and key flag, found without decoding,
//!   as nvdec will output them.
//!
//! Nothing here needs `unsafe` from its users, but for one door: [`cuda::ForeignStream::from_raw`],
//! where a stream handle of another library comes in.

pub mod access;
pub mod caps;
pub mod colorspace;
pub mod cuda;
pub mod cuvid;
pub mod frame;
pub mod geometry;
pub mod index;
pub mod kernels;
pub mod memory;
pub mod negotiation;
pub mod tensor;
pub mod upstream;
