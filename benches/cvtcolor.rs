//! Colour conversion kernels on 1080p frames against the device-to-device copy bandwidth
//! measured in the same run.
//!
//!   cvtcolor-bench [ITERATIONS]      (default 2000; needs an NVIDIA GPU)
//!
//! Bytes moved per conversion = bytes read + bytes written. The copy reference moves the same
//! number of bytes (reads half, writes half), timed in rounds alternating with the kernel's, and
//! each figure is the median of its rounds; a 256 MiB copy shows the device's peak.

use std::sync::Arc;

use clap::Parser;
use cudapreproc_benches::timing::{against_copy, time_us};
use cudapreproc_core::colorspace::{Encoding, Matrix, PixelFormat, Range};
use cudapreproc_core::cuda::{CudaError, Device, Stream};
use cudapreproc_core::frame::{DeviceFrame, DeviceTensor};
use cudapreproc_core::kernels::ColorConversion;
use cudapreproc_tests::reference::Image;

const WIDTH: u32 = 1920;
const HEIGHT: u32 = 1080;

/// A device frame of `format` laid out as the plugin's pool lays frames out, filled with random
/// pixels (so no kernel sees all zeros); and its bytes of pixel data (without row padding).
fn frame(
    device: &Arc<Device>,
    stream: &Stream,
    format: PixelFormat,
) -> Result<(DeviceFrame, usize), CudaError> {
    let info = gst_video::VideoInfo::builder(format.video_format(), WIDTH, HEIGHT)
        .build()
        .unwrap();
    let mut frame = DeviceFrame::new(device, &info)?;
    let image = Image::random(format, WIDTH as usize, HEIGHT as usize, 42);
    let mut bytes = 0;
    for (p, plane) in image.planes.iter().enumerate() {
        let (row, rows) = Image::plane_size(format, WIDTH as usize, HEIGHT as usize, p);
        frame.upload_plane(stream, p, plane, row)?;
        bytes += row * rows;
    }
    Ok((frame, bytes))
}

fn copy_bandwidth(
    device: &Arc<Device>,
    stream: &Stream,
    bytes_moved: usize,
    iterations: u32,
) -> Result<(f64, f64), CudaError> {
    let size = bytes_moved / 2;
    let src = DeviceTensor::new(device, size)?;
    let mut dst = DeviceTensor::new(device, size)?;
    let us = time_us(stream, iterations, || {
        dst.view_mut().copy_from(stream, &src.view())
    })?;
    Ok((us, bytes_moved as f64 / us / 1e3))
}

/// cvtcolor-bench: the colour conversion kernels on 1080p frames, against the copy bandwidth.
#[derive(Parser)]
#[command(name = "cvtcolor-bench")]
struct Options {
    /// Launches per timed round.
    #[arg(default_value_t = 2000, value_parser = clap::value_parser!(u32).range(1..))]
    iterations: u32,
}

fn main() -> std::process::ExitCode {
    cudapreproc_benches::exit_code("cvtcolor-bench", run())
}

fn run() -> Result<(), CudaError> {
    let Options { iterations } = Options::parse();
    gst::init().unwrap();
    let device = Device::open(0)?;
    let stream = device.new_stream()?;
    println!(
        "device: {} | frame {WIDTH}x{HEIGHT} | {iterations} iterations per row",
        device.name()
    );

    let (peak_us, peak) = copy_bandwidth(&device, &stream, 512 << 20, 50)?;
    println!("device-to-device copy, 256 MiB: {peak_us:.1} us, {peak:.0} GB/s (read+write)");

    let (source, source_bytes) = frame(&device, &stream, PixelFormat::Nv12)?;
    let nv12 = Encoding {
        format: PixelFormat::Nv12,
        matrix: Matrix::Bt709,
        range: Range::Limited,
    };

    println!();
    println!(
        "{:<12} {:<26} {:>9} {:>9} {:>14} {:>9} {:>10} {:>10}",
        "conversion",
        "kernel",
        "us/frame",
        "GB/s",
        "copy same B",
        "copy GB/s",
        "% of copy",
        "% of peak"
    );
    for out in [PixelFormat::Rgb, PixelFormat::Rgba, PixelFormat::Rgbp] {
        let (mut target, target_bytes) = frame(&device, &stream, out)?;
        let conversion = ColorConversion::new(
            &nv12,
            &Encoding {
                format: out,
                matrix: Matrix::Bt709,
                range: Range::Full,
            },
        );
        let kernel = conversion.entry_for(&source.view(), &target.view_mut());
        let moved = source_bytes + target_bytes;
        let (us, copy_us) = against_copy(&device, &stream, iterations, moved, || {
            conversion.launch(&stream, &source.view(), &mut target.view_mut())
        })?;
        let achieved = moved as f64 / us / 1e3;
        let copy = moved as f64 / copy_us / 1e3;
        println!(
            "{:<12} {:<26} {:>9.2} {:>9.0} {:>12.1}MB {:>9.0} {:>9.0}% {:>9.0}%",
            format!("NV12->{}", out.name()),
            kernel,
            us,
            achieved,
            moved as f64 / 1e6,
            copy,
            100.0 * achieved / copy,
            100.0 * achieved / peak
        );
    }
    Ok(())
}
