//! Tests that need an NVIDIA GPU and driver (cargo feature `gpu`): without them every test fails,
//! none skips. One binary, so that staging for a GPU machine carries one copy of the plugin;
//! select a suite with a name filter, e.g. `gpu tensorsink::`.

mod config;
mod convert;
mod cvtcolor;
mod interop;
mod multigpu;
mod nvdec;
mod reader;
mod robustness;
mod stress;
mod tensorsink;
mod warp;

use std::sync::Arc;

use cudapreproc_core::cuda::Device;

/// Device 0, kept open by the caller so its primary context lives across pipelines (re-creating
/// it costs ~0.1 s each).
fn device() -> Arc<Device> {
    cudapreproc_tests::init();
    Device::open(0).unwrap_or_else(|e| panic!("GPU tests need a CUDA device: {e}"))
}

/// Device memory in use on `device`, as the driver reports it (every process's).
fn device_used(device: &Device) -> i64 {
    let (free, total) = device.memory_info().unwrap();
    total as i64 - free as i64
}

/// MD5 of a tensor's bytes, read through a plain (host) map of its sample's buffer.
fn tensor_md5(tensor: &cudapreproc::CudaTensor) -> String {
    let map = tensor.sample().buffer().unwrap().map_readable().unwrap();
    format!("{:x}", md5::compute(&map[..]))
}
