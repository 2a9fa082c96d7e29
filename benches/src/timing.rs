//! Timing shared by the kernel benchmarks: CUDA-event timing of back-to-back launches, and a
//! kernel timed in rounds alternating with a device copy of the same bytes.

use std::sync::Arc;

use cudapreproc_core::cuda::{CudaError, Device, Stream, Timer};
use cudapreproc_core::frame::DeviceTensor;

/// Timed rounds per figure; the median is reported.
pub const ROUNDS: usize = 5;

/// Mean time of `iterations` runs of `work`, in microseconds, after a warm-up.
pub fn time_us(
    stream: &Stream,
    iterations: u32,
    mut work: impl FnMut() -> Result<(), CudaError>,
) -> Result<f64, CudaError> {
    for _ in 0..iterations / 10 {
        work()?;
    }
    let timer = Timer::new(stream.device())?;
    timer.start(stream)?;
    for _ in 0..iterations {
        work()?;
    }
    timer.stop(stream)?;
    Ok(timer.elapsed_ms()? as f64 * 1000.0 / iterations as f64)
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// Microseconds per launch of `work`, and of a device-to-device copy moving `bytes` bytes
/// (reading half, writing half), timed in alternating rounds with medians kept: clocks and the
/// memory system warm up and drift, and both figures should see the same conditions. The copy
/// reuses the same two buffers in every round, as kernels reuse their frames.
pub fn against_copy(
    device: &Arc<Device>,
    stream: &Stream,
    iterations: u32,
    bytes: usize,
    mut work: impl FnMut() -> Result<(), CudaError>,
) -> Result<(f64, f64), CudaError> {
    let copy_src = DeviceTensor::new(device, bytes / 2)?;
    let mut copy_dst = DeviceTensor::new(device, bytes / 2)?;
    let (mut us, mut copy_us) = (Vec::new(), Vec::new());
    for _ in 0..ROUNDS {
        us.push(time_us(stream, iterations, &mut work)?);
        copy_us.push(time_us(stream, iterations, || {
            copy_dst.view_mut().copy_from(stream, &copy_src.view())
        })?);
    }
    Ok((median(us), median(copy_us)))
}
