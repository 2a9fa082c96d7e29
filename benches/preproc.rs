//! The warp, tensor and colour kernels on 1080p input, against the device-to-device copy
//! bandwidth measured in the same run and an anchor's figures for the same operations.
//!
//!   preproc-bench [--iterations N] [--anchor "COMMAND"]      (needs an NVIDIA GPU)
//!
//! Rows (input random, on the device): an RGB 1920x1080 frame warped to 224x224 (a resize) and
//! to 1920x1080 (a 10 degree rotation about the centre), bilinear and bicubic; RGB frames of
//! 224x224 and 1920x1080 to float32 NCHW tensors with ImageNet normalisation; NV12 1080p to RGB;
//! and an NV12 1080p frame warped to 224x224 before colour conversion (what the element chain
//! does, 1.5 bytes per pixel instead of 3). Each figure is the median of 5 rounds of N launches
//! timed with CUDA events, alternating with a copy of the same bytes.
//!
//! "GB/s" counts the input frame plus the output, so for the 224x224 warps (which read a small
//! part of the input) it is not a bandwidth but a rate comparable across implementations.
//! The anchor command (`benches/anchors/preproc_anchor.py`) prints `ROW<TAB>LIBRARY<TAB>US`
//! lines for the same rows; they are printed beside ours, with our speed-up.

use std::collections::BTreeMap;
use std::process::Command;
use std::sync::Arc;

use clap::Parser;
use cudapreproc_benches::timing::{against_copy, ROUNDS};
use cudapreproc_core::colorspace::{Encoding, Matrix, PixelFormat, Range};
use cudapreproc_core::cuda::{CudaError, Device, Stream};
use cudapreproc_core::frame::{plane_extent, DeviceFrame, DeviceTensor};
use cudapreproc_core::geometry::{Affine, Fit, Placement};
use cudapreproc_core::kernels::{Border, ColorConversion, Interpolation, TensorConversion, Warp};
use cudapreproc_core::tensor::{DType, Layout, Normalization, TensorShape};

/// A device frame laid out as the plugin's pool lays frames out, filled with pseudo-random
/// bytes; and its bytes of pixel data (without row padding).
fn frame(
    device: &Arc<Device>,
    stream: &Stream,
    format: gst_video::VideoFormat,
    (w, h): (u32, u32),
) -> Result<(DeviceFrame, usize), CudaError> {
    let info = gst_video::VideoInfo::builder(format, w, h).build().unwrap();
    let mut frame = DeviceFrame::new(device, &info)?;
    let layout = frame.info().clone();
    let random: Vec<u8> = (0..layout.size())
        .map(|i| {
            (i as u64)
                .wrapping_mul(0x9e37_79b9_7f4a_7c15)
                .rotate_left(17) as u8
        })
        .collect();
    let mut bytes = 0;
    for p in 0..info.n_planes() as usize {
        let (row, rows) = plane_extent(format, w, h, p);
        let pitch = layout.stride()[p] as usize;
        frame.upload_plane(stream, p, &random[layout.offset()[p]..], pitch)?;
        bytes += row * rows;
    }
    Ok((frame, bytes))
}

/// One measured row: microseconds per frame, bytes moved, and the same-size copy's time.
struct Row {
    name: &'static str,
    us: f64,
    bytes: usize,
    copy_us: f64,
}

/// Times `work` against a copy of `bytes` bytes.
fn measure(
    device: &Arc<Device>,
    stream: &Stream,
    iterations: u32,
    name: &'static str,
    bytes: usize,
    work: impl FnMut() -> Result<(), CudaError>,
) -> Result<Row, CudaError> {
    let (us, copy_us) = against_copy(device, stream, iterations, bytes, work)?;
    Ok(Row {
        name,
        us,
        bytes,
        copy_us,
    })
}

fn stretch(src: (u32, u32), dst: (u32, u32)) -> Affine {
    Placement {
        crop: None,
        fit: Fit::Stretch,
        rotation: 0.0,
        flip_horizontal: false,
        flip_vertical: false,
    }
    .forward(src, dst)
    .unwrap()
    .invert()
    .unwrap()
}

fn rotation(size: (u32, u32), degrees: f64) -> Affine {
    Placement {
        crop: None,
        fit: Fit::Stretch,
        rotation: degrees,
        flip_horizontal: false,
        flip_vertical: false,
    }
    .forward(size, size)
    .unwrap()
    .invert()
    .unwrap()
}

fn imagenet(shape: TensorShape) -> TensorConversion {
    TensorConversion {
        shape,
        dtype: DType::Float32,
        channel_components: vec![0, 1, 2],
        normalization: Normalization {
            scale: 1.0 / 255.0,
            mean: [0.485, 0.456, 0.406, 0.0],
            std: [0.229, 0.224, 0.225, 1.0],
        },
    }
}

/// Runs the anchor command; its `ROW<TAB>LIBRARY<TAB>US` lines by row, then library.
fn anchor(command: &str) -> (Vec<String>, BTreeMap<String, BTreeMap<String, String>>) {
    let output = Command::new("sh")
        .arg("-c")
        .arg(command)
        .output()
        .expect("anchor command runs");
    let mut comments = Vec::new();
    let mut rows: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
    for line in String::from_utf8_lossy(&output.stdout).lines() {
        let fields: Vec<&str> = line.split('\t').collect();
        match fields[..] {
            [row, library, us] => {
                rows.entry(row.to_string())
                    .or_default()
                    .insert(library.to_string(), us.to_string());
            }
            _ => comments.push(line.to_string()),
        }
    }
    if !output.status.success() {
        comments.push(format!(
            "anchor exited with {}: {}",
            output.status,
            String::from_utf8_lossy(&output.stderr)
                .lines()
                .last()
                .unwrap_or("")
        ));
    }
    (comments, rows)
}

/// preproc-bench: the warp, tensor and colour kernels on 1080p input, against the copy
/// bandwidth and an anchor's figures.
#[derive(Parser)]
#[command(name = "preproc-bench")]
struct Options {
    /// Launches per timed round.
    #[arg(long, default_value_t = 500, value_parser = clap::value_parser!(u32).range(1..))]
    iterations: u32,
    /// The anchor command (benches/anchors/preproc_anchor.py).
    #[arg(long)]
    anchor: Option<String>,
}

fn main() -> std::process::ExitCode {
    cudapreproc_benches::exit_code("preproc-bench", run())
}

fn run() -> Result<(), CudaError> {
    let Options {
        iterations,
        anchor: anchor_command,
    } = Options::parse();
    gst::init().unwrap();
    let device = Device::open(0)?;
    let stream = device.new_stream()?;
    let hd = (1920u32, 1080u32);
    let small = (224u32, 224u32);
    use gst_video::VideoFormat as F;

    let (rgb_hd, rgb_hd_bytes) = frame(&device, &stream, F::Rgb, hd)?;
    let (mut rgb_hd_out, rgb_hd_out_bytes) = frame(&device, &stream, F::Rgb, hd)?;
    let (mut rgb_small, rgb_small_bytes) = frame(&device, &stream, F::Rgb, small)?;
    let (nv12_hd, nv12_hd_bytes) = frame(&device, &stream, F::Nv12, hd)?;
    let (mut nv12_small, nv12_small_bytes) = frame(&device, &stream, F::Nv12, small)?;
    let mut tensor_hd = DeviceTensor::new(&device, 3 * 1920 * 1080 * 4)?;
    let mut tensor_small = DeviceTensor::new(&device, 3 * 224 * 224 * 4)?;

    let mut rows = Vec::new();
    let warp = |format, src, dst, inverse, interpolation| Warp {
        format,
        src_size: src,
        dst_size: dst,
        inverse,
        interpolation,
        border: Border::Constant,
        border_value: [0.0, 0.0, 0.0, 255.0],
    };
    let warps = [
        ("warp_1080p_224_linear", Interpolation::Linear, small),
        ("warp_1080p_224_cubic", Interpolation::Cubic, small),
        ("warp_1080p_1080p_linear", Interpolation::Linear, hd),
        ("warp_1080p_1080p_cubic", Interpolation::Cubic, hd),
    ];
    for (name, interpolation, dst) in warps {
        let matrix = if dst == small {
            stretch(hd, small)
        } else {
            rotation(hd, 10.0)
        };
        let w = warp(F::Rgb, hd, dst, matrix, interpolation);
        let (out, out_bytes) = if dst == small {
            (&mut rgb_small, rgb_small_bytes)
        } else {
            (&mut rgb_hd_out, rgb_hd_out_bytes)
        };
        rows.push(measure(
            &device,
            &stream,
            iterations,
            name,
            rgb_hd_bytes + out_bytes,
            || w.launch(&stream, &rgb_hd.view(), &mut out.view_mut()),
        )?);
    }
    let nv12_warp = warp(
        F::Nv12,
        hd,
        small,
        stretch(hd, small),
        Interpolation::Linear,
    );
    rows.push(measure(
        &device,
        &stream,
        iterations,
        "warp_nv12_1080p_224_linear",
        nv12_hd_bytes + nv12_small_bytes,
        || nv12_warp.launch(&stream, &nv12_hd.view(), &mut nv12_small.view_mut()),
    )?);
    for (name, input, input_bytes, tensor, size) in [
        (
            "convert_224_f32_nchw",
            &rgb_small,
            rgb_small_bytes,
            &mut tensor_small,
            small,
        ),
        (
            "convert_1080p_f32_nchw",
            &rgb_hd,
            rgb_hd_bytes,
            &mut tensor_hd,
            hd,
        ),
    ] {
        let conversion = imagenet(TensorShape {
            channels: 3,
            height: size.1,
            width: size.0,
            layout: Layout::Nchw,
        });
        let bytes = input_bytes + conversion.tensor_bytes();
        rows.push(measure(&device, &stream, iterations, name, bytes, || {
            conversion.to_tensor(&stream, &input.view(), &mut tensor.view_mut())
        })?);
    }
    let cvt = ColorConversion::new(
        &Encoding {
            format: PixelFormat::Nv12,
            matrix: Matrix::Bt709,
            range: Range::Limited,
        },
        &Encoding {
            format: PixelFormat::Rgb,
            matrix: Matrix::Bt709,
            range: Range::Full,
        },
    );
    rows.push(measure(
        &device,
        &stream,
        iterations,
        "cvtcolor_nv12_rgb_1080p",
        nv12_hd_bytes + rgb_hd_out_bytes,
        || cvt.launch(&stream, &nv12_hd.view(), &mut rgb_hd_out.view_mut()),
    )?);

    let (comments, anchors) = match &anchor_command {
        Some(command) => anchor(command),
        None => (Vec::new(), BTreeMap::new()),
    };
    let libraries: Vec<String> = {
        let mut all: Vec<String> = anchors.values().flat_map(|m| m.keys().cloned()).collect();
        all.sort();
        all.dedup();
        all
    };
    println!(
        "device: {} | {iterations} launches per round, median of {ROUNDS} rounds",
        device.name()
    );
    for comment in &comments {
        println!("{comment}");
    }
    print!(
        "{:<28} {:>9} {:>8} {:>10} {:>9}",
        "row", "ours us", "GB/s", "copy GB/s", "% copy"
    );
    for library in &libraries {
        print!(" {:>18} {:>8}", format!("{library} us"), "speed-up");
    }
    println!();
    for row in &rows {
        let rate = row.bytes as f64 / row.us / 1e3;
        let copy = row.bytes as f64 / row.copy_us / 1e3;
        print!(
            "{:<28} {:>9.2} {:>8.0} {:>10.0} {:>8.0}%",
            row.name,
            row.us,
            rate,
            copy,
            100.0 * rate / copy
        );
        for library in &libraries {
            let theirs = anchors.get(row.name).and_then(|m| m.get(library));
            match theirs.map(|t| (t, t.parse::<f64>())) {
                Some((_, Ok(us))) => print!(" {:>18.2} {:>7.1}x", us, us / row.us),
                Some((text, Err(_))) => print!(" {:>27}", text),
                None => print!(" {:>27}", "-"),
            }
        }
        println!();
    }
    Ok(())
}
