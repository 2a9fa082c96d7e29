//! Colour conversion kernels on 1080p frames against the device-to-device copy bandwidth
//! measured in the same run.
//!
//!   cvtcolor-bench [ITERATIONS]      (default 2000; needs an NVIDIA GPU)
//!
//! Bytes moved per conversion = bytes read + bytes written. The copy reference moves the same
//! number of bytes (reads half, writes half), timed in rounds alternating with the kernel's, and
//! each figure is the median of its rounds; a 256 MiB copy shows the device's peak.

mod timing;

use std::sync::Arc;

use gstcudapreproc::colorspace::reference::Image;
use gstcudapreproc::colorspace::{Encoding, Matrix, PixelFormat, Range};
use gstcudapreproc::cuda::frame::Planes;
use gstcudapreproc::cuda::{
    copy_2d, copy_device, device_layout, ColorConversion, CudaError, Device, DeviceBuffer, Place,
    Stream, Surface,
};
use timing::{against_copy, time_us};

const WIDTH: u32 = 1920;
const HEIGHT: u32 = 1080;

/// A device frame of `format` laid out as the plugin's pool lays frames out.
struct Frame {
    /// Owns the memory `surface` points into.
    _memory: DeviceBuffer,
    surface: Surface,
    /// Bytes of pixel data (without row padding).
    bytes: usize,
}

fn frame(device: &Arc<Device>, format: PixelFormat) -> Result<Frame, CudaError> {
    let info = gst_video::VideoInfo::builder(format.video_format(), WIDTH, HEIGHT)
        .build()
        .unwrap();
    let layout = device_layout(&info).unwrap();
    let buffer = DeviceBuffer::new(device, layout.size())?;
    let surface = Planes::new(buffer.addr(), layout.offset(), layout.stride()).surface(&info)?;
    let bytes = (0..format.n_planes())
        .map(|p| {
            let (row, rows) = Image::plane_size(format, WIDTH as usize, HEIGHT as usize, p);
            row * rows
        })
        .sum();
    Ok(Frame {
        _memory: buffer,
        surface,
        bytes,
    })
}

/// Fills `frame` with random pixels (so no kernel sees all zeros).
fn upload_random(stream: &Stream, frame: &Frame, format: PixelFormat) -> Result<(), CudaError> {
    let image = Image::random(format, WIDTH as usize, HEIGHT as usize, 42);
    for (p, plane) in image.planes.iter().enumerate() {
        let (row, rows) = Image::plane_size(format, WIDTH as usize, HEIGHT as usize, p);
        // SAFETY: the plane holds `rows` rows of `row` bytes; the frame was laid out for them.
        unsafe {
            copy_2d(
                stream,
                Place::Device {
                    addr: frame.surface.plane[p],
                    pitch: frame.surface.stride[p] as usize,
                },
                Place::Host {
                    ptr: plane.as_ptr(),
                    pitch: row,
                },
                row,
                rows,
            )?;
        }
    }
    stream.synchronize()
}

fn copy_bandwidth(
    device: &Arc<Device>,
    stream: &Stream,
    bytes_moved: usize,
    iterations: u32,
) -> Result<(f64, f64), CudaError> {
    let size = bytes_moved / 2;
    let src = DeviceBuffer::new(device, size)?;
    let dst = DeviceBuffer::new(device, size)?;
    // SAFETY: both buffers hold `size` bytes and outlive the timed work (synchronised in time_us).
    let us = time_us(stream, iterations, || unsafe {
        copy_device(stream, dst.addr(), src.addr(), size)
    })?;
    Ok((us, bytes_moved as f64 / us / 1e3))
}

fn main() -> std::process::ExitCode {
    match run() {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("cvtcolor-bench: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}

fn run() -> Result<(), CudaError> {
    let iterations: u32 = std::env::args()
        .nth(1)
        .map(|a| a.parse().expect("ITERATIONS is a number"))
        .unwrap_or(2000);
    gst::init().unwrap();
    let device = Device::open(0)?;
    let stream = device.new_stream()?;
    println!(
        "device: {} | frame {WIDTH}x{HEIGHT} | {iterations} iterations per row",
        device.name()
    );

    let (peak_us, peak) = copy_bandwidth(&device, &stream, 512 << 20, 50)?;
    println!("device-to-device copy, 256 MiB: {peak_us:.1} us, {peak:.0} GB/s (read+write)");

    let source = frame(&device, PixelFormat::Nv12)?;
    upload_random(&stream, &source, PixelFormat::Nv12)?;
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
        let target = frame(&device, out)?;
        let conversion = ColorConversion::new(
            &nv12,
            &Encoding {
                format: out,
                matrix: Matrix::Bt709,
                range: Range::Full,
            },
        );
        let kernel = conversion.entry_point(&source.surface, &target.surface);
        let moved = source.bytes + target.bytes;
        // SAFETY: both frames are live device allocations of the conversion's formats.
        let (us, copy_us) = against_copy(&device, &stream, iterations, moved, || unsafe {
            conversion.launch(&stream, &source.surface, &target.surface)
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
