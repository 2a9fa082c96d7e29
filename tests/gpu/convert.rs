//! `cudaconvert` on a GPU against float64 references (docs/tensors.md), and the whole chain
//! `nvdecsrc ! cudawarpaffine ! cudacvtcolor ! cudaconvert` on the real clip against a CPU
//! computation of the same chain on libavcodec's decode. Needs an NVIDIA GPU and driver: without
//! them every test fails.

use gst::prelude::*;
use gst_video::prelude::*;
use gstcudapreproc::colorspace::reference::{convert, Image};
use gstcudapreproc::colorspace::{Encoding, PixelFormat};
use gstcudapreproc::cuda::tensor::VIDEO_FORMATS;

use cudapreproc_tests::{
    encoding_of, frame_md5, half_plane_matrix, init, media_dir, run_frames, run_samples,
    sample_or_error, tight_planes, Rng, Stopping,
};

const DTYPES: [&str; 4] = ["uint8", "float16", "bfloat16", "float32"];

fn random_buffer(rng: &mut Rng, size: usize) -> gst::Buffer {
    let bytes: Vec<u8> = (0..size).map(|_| rng.next_u64() as u8).collect();
    gst::Buffer::from_mut_slice(bytes)
}

/// Sample of component `c` (R, G, B, A; gray 0) at (x, y), from GStreamer's own description
/// of the format; `None` when the format has no such component.
fn component(
    frame: &gst_video::VideoFrameRef<&gst::BufferRef>,
    c: usize,
    x: usize,
    y: usize,
) -> Option<f64> {
    let finfo = frame.format_info();
    if c >= finfo.n_components() as usize {
        return None;
    }
    let plane = finfo.plane()[c];
    let stride = frame.plane_stride()[plane as usize] as usize;
    let data = frame.plane_data(plane).unwrap();
    let at = y * stride + x * finfo.pixel_stride()[c] as usize + finfo.poffset()[c] as usize;
    Some(if finfo.depth()[c] > 8 {
        f64::from(u16::from_le_bytes([data[at], data[at + 1]]))
    } else {
        f64::from(data[at])
    })
}

fn half_to_f64(h: u16) -> f64 {
    let sign = if h & 0x8000 != 0 { -1.0 } else { 1.0 };
    let exp = i32::from((h >> 10) & 0x1f);
    let mant = f64::from(h & 0x3ff);
    match exp {
        0 => sign * mant * 2f64.powi(-24),
        31 if mant == 0.0 => sign * f64::INFINITY,
        31 => f64::NAN,
        _ => sign * (1.0 + mant / 1024.0) * 2f64.powi(exp - 15),
    }
}

fn bf16_to_f64(b: u16) -> f64 {
    f64::from(f32::from_bits(u32::from(b) << 16))
}

/// The tensor's elements as f64.
fn elements(bytes: &[u8], dtype: &str) -> Vec<f64> {
    match dtype {
        "uint8" => bytes.iter().map(|&b| f64::from(b)).collect(),
        "float16" => bytes
            .chunks_exact(2)
            .map(|w| half_to_f64(u16::from_le_bytes([w[0], w[1]])))
            .collect(),
        "bfloat16" => bytes
            .chunks_exact(2)
            .map(|w| bf16_to_f64(u16::from_le_bytes([w[0], w[1]])))
            .collect(),
        _ => bytes
            .chunks_exact(4)
            .map(|w| f64::from(f32::from_le_bytes([w[0], w[1], w[2], w[3]])))
            .collect(),
    }
}

/// Whether `got` is `exact` stored as `dtype`: correctly rounded (float32: within 1e-6
/// relative; float16/bfloat16: within half a unit in the last place, plus float32's rounding,
/// which the value passes through; uint8: rounded half to even and saturated).
fn acceptable(got: f64, exact: f64, dtype: &str) -> bool {
    match dtype {
        "uint8" => got == exact.clamp(0.0, 255.0).round_ties_even(),
        "float32" => (got - exact).abs() <= 1e-6 * exact.abs(),
        _ => {
            let mantissa_bits = if dtype == "float16" { 10 } else { 7 };
            let exponent = exact.abs().log2().floor().max(-14.0);
            let ulp = 2f64.powf(exponent - f64::from(mantissa_bits));
            (got - exact).abs() <= ulp / 2.0 + exact.abs() * 2f64.powi(-24) || got == exact
        }
    }
}

/// Components each tensor channel holds, for a channel order and video with or without colour.
fn order_components(order: &str, color: bool) -> Vec<usize> {
    if !color {
        return vec![0];
    }
    match order {
        "rgb" => vec![0, 1, 2],
        "bgr" => vec![2, 1, 0],
        "rgba" => vec![0, 1, 2, 3],
        _ => vec![2, 1, 0, 3],
    }
}

fn element_index(
    layout: &str,
    channels: usize,
    (w, h): (usize, usize),
    c: usize,
    x: usize,
    y: usize,
) -> usize {
    if layout == "nchw" {
        (c * h + y) * w + x
    } else {
        (y * w + x) * channels + c
    }
}

#[test]
fn video_to_tensor_matches_float64_for_every_format_and_option() {
    init();
    let mut rng = Rng(5);
    let mut cases = 0;
    let mut worst_f32_rel = 0f64;
    // An odd width (the general kernel) and a multiple of 4 (the packed 8-bit fast path).
    for (w, h) in [(37usize, 23usize), (64, 20)] {
        for format_name in VIDEO_FORMATS {
            let format = gst_video::VideoFormat::from_string(format_name);
            let info = gst_video::VideoInfo::builder(format, w as u32, h as u32)
                .fps(gst::Fraction::new(30, 1))
                .build()
                .unwrap();
            let color = info.format_info().is_rgb();
            let max = if info.format_info().depth()[0] > 8 {
                65535.0
            } else {
                255.0
            };
            for dtype in DTYPES {
                for layout in ["nchw", "nhwc"] {
                    for order in ["rgb", "bgr", "rgba", "bgra"] {
                        // Random normalisation: scale, and per-component mean and std.
                        let scale = rng.uniform(0.001, 0.05);
                        let mean: Vec<f64> = (0..4).map(|_| rng.uniform(-2.0, 2.0)).collect();
                        let std: Vec<f64> = (0..4).map(|_| rng.uniform(0.1, 2.0)).collect();
                        let (scale, mean, std) = if dtype == "uint8" {
                            (1.0, vec![0.0; 4], vec![1.0; 4])
                        } else {
                            (scale, mean, std)
                        };
                        let list = |v: &[f64]| {
                            v.iter()
                                .map(|x| x.to_string())
                                .collect::<Vec<_>>()
                                .join(",")
                        };
                        let element = format!(
                        "cudaconvert dtype={dtype} layout={layout} channel-order={order} \
                         scale={scale} mean=\"<{}>\" std=\"<{}>\" ! other/tensors(memory:CUDAMemory)",
                        list(&mean),
                        list(&std)
                    );
                        let input = random_buffer(&mut rng, info.size());
                        let components = order_components(order, color);
                        let channels = components.len();
                        run_samples(
                            &element,
                            &info.to_caps().unwrap(),
                            std::slice::from_ref(&input),
                            |_, buffer, _| {
                                let map = buffer.map_readable().unwrap();
                                let got = elements(&map, dtype);
                                assert_eq!(got.len(), channels * w * h, "{element}: tensor size");
                                let frame = gst_video::VideoFrameRef::from_buffer_ref_readable(
                                    input.as_ref(),
                                    &info,
                                )
                                .unwrap();
                                for y in 0..h {
                                    for x in 0..w {
                                        for (k, &c) in components.iter().enumerate() {
                                            let sample = component(&frame, c, x, y).unwrap_or(max);
                                            let exact = (sample * scale - mean[c]) / std[c];
                                            let value = got
                                                [element_index(layout, channels, (w, h), k, x, y)];
                                            assert!(
                                        acceptable(value, exact, dtype),
                                        "{format_name} {element}: channel {k} at ({x}, {y}): {value} for {exact}"
                                    );
                                            if dtype == "float32" && exact != 0.0 {
                                                worst_f32_rel = worst_f32_rel
                                                    .max(((value - exact) / exact).abs());
                                            }
                                        }
                                    }
                                }
                            },
                        );
                        cases += 1;
                    }
                }
            }
        }
    }
    println!(
        "{cases} cases ({} formats x 4 dtypes x 2 layouts x 4 channel orders x 2 sizes), all \
         within tolerance; largest float32 relative error {worst_f32_rel:.3e}",
        VIDEO_FORMATS.len()
    );
}

fn f32_to_half_bits(v: f32) -> u16 {
    // Only for making test inputs: exact for the values used (multiples of 1/256 below 8).
    let v = f64::from(v);
    if v == 0.0 {
        return 0;
    }
    let sign = if v < 0.0 { 0x8000 } else { 0 };
    let a = v.abs();
    let exp = a.log2().floor() as i32;
    let mant = ((a / 2f64.powi(exp) - 1.0) * 1024.0).round() as u16;
    sign | (((exp + 15) as u16) << 10) | mant
}

#[test]
fn tensor_to_video_matches_float64() {
    init();
    let mut rng = Rng(11);
    let (w, h) = (29usize, 17usize);
    let mut cases = 0;
    for dtype in DTYPES {
        for layout in ["nchw", "nhwc"] {
            for (format_name, order, channels) in [
                ("RGB", "rgb", 3),
                ("BGRA", "bgr", 3),
                ("RGBA", "rgba", 4),
                ("RGBx", "bgr", 3),
                ("RGBP", "rgb", 3),
                ("BGRP", "bgr", 3),
                ("GRAY8", "rgb", 1),
            ] {
                let n = channels * w * h;
                // Values around the normalised range, some beyond it (clamped).
                let values: Vec<f64> = (0..n)
                    .map(|_| (rng.uniform(-3.0, 3.0) * 256.0).round() / 256.0)
                    .collect();
                let (scale, mean, std) = if dtype == "uint8" {
                    (1.0, [0.0; 4], [1.0; 4])
                } else {
                    (
                        1.0 / 255.0,
                        [0.485, 0.456, 0.406, 0.5],
                        [0.229, 0.224, 0.225, 0.25],
                    )
                };
                let stored: Vec<f64> = values
                    .iter()
                    .map(|v| {
                        if dtype == "uint8" {
                            (v.abs() * 40.0).round().min(255.0)
                        } else {
                            *v
                        }
                    })
                    .collect();
                let bytes: Vec<u8> = match dtype {
                    "uint8" => stored.iter().map(|&v| v as u8).collect(),
                    "float16" => stored
                        .iter()
                        .flat_map(|&v| f32_to_half_bits(v as f32).to_le_bytes())
                        .collect(),
                    "bfloat16" => stored
                        .iter()
                        .flat_map(|&v| (((v as f32).to_bits() >> 16) as u16).to_le_bytes())
                        .collect(),
                    _ => stored
                        .iter()
                        .flat_map(|&v| (v as f32).to_le_bytes())
                        .collect(),
                };
                let dims = if layout == "nchw" {
                    format!("{w}:{h}:{channels}:1")
                } else {
                    format!("{channels}:{w}:{h}:1")
                };
                let caps = gst::Caps::builder("other/tensors")
                    .field("format", "static")
                    .field("num_tensors", 1i32)
                    .field("types", dtype)
                    .field("dimensions", dims.as_str())
                    .field("framerate", gst::Fraction::new(30, 1))
                    .build();
                let list = |v: &[f64]| {
                    v.iter()
                        .map(|x| x.to_string())
                        .collect::<Vec<_>>()
                        .join(",")
                };
                let element = format!(
                    "cudaconvert layout={layout} channel-order={order} scale={scale} mean=\"<{}>\" \
                     std=\"<{}>\" ! video/x-raw,format={format_name}",
                    list(&mean),
                    list(&std)
                );
                let got_elements = elements(&bytes, dtype);
                run_frames(
                    &element,
                    &caps,
                    &[gst::Buffer::from_mut_slice(bytes.clone())],
                    |_, buffer, info| {
                        let frame =
                            gst_video::VideoFrameRef::from_buffer_ref_readable(buffer, info)
                                .unwrap();
                        let color = info.format_info().is_rgb();
                        let components = order_components(order, color);
                        for y in 0..h {
                            for x in 0..w {
                                for c in 0..info.format_info().n_components() as usize {
                                    let expected = match components.iter().position(|&k| k == c) {
                                        Some(k) => {
                                            let v = got_elements
                                                [element_index(layout, channels, (w, h), k, x, y)];
                                            ((v * std[c] + mean[c]) / scale)
                                                .clamp(0.0, 255.0)
                                                .round_ties_even()
                                        }
                                        None => 255.0,
                                    };
                                    let got = component(&frame, c, x, y).unwrap();
                                    assert_eq!(got, expected, "{dtype} {layout} -> {format_name}: component {c} at ({x}, {y})");
                                }
                                if format_name == "RGBx" {
                                    let data = frame.plane_data(0).unwrap();
                                    let stride = frame.plane_stride()[0] as usize;
                                    assert_eq!(data[y * stride + x * 4 + 3], 255, "RGBx padding");
                                }
                            }
                        }
                    },
                );
                cases += 1;
            }
        }
    }
    println!("{cases} tensor -> video cases, every sample as the float64 reference");
}

/// Bilinear warp of one plane in float64 with OpenCV's conventions (pixel centres at integers,
/// `m` maps output to source), rounded half to even; every tap inside the source here.
fn warp_plane(
    src: &[u8],
    (sw, sh): (usize, usize),
    channels: usize,
    m: &[f64; 6],
    (dw, dh): (usize, usize),
) -> Vec<u8> {
    let mut out = vec![0u8; dw * dh * channels];
    for y in 0..dh {
        for x in 0..dw {
            let sx = m[0] * x as f64 + m[1] * y as f64 + m[2];
            let sy = m[3] * x as f64 + m[4] * y as f64 + m[5];
            let (x0, y0) = (sx.floor(), sy.floor());
            let (fx, fy) = (sx - x0, sy - y0);
            let at = |xi: f64, yi: f64, c: usize| {
                let xi = (xi as isize).clamp(0, sw as isize - 1) as usize;
                let yi = (yi as isize).clamp(0, sh as isize - 1) as usize;
                f64::from(src[(yi * sw + xi) * channels + c])
            };
            for c in 0..channels {
                let top = at(x0, y0, c) * (1.0 - fx) + at(x0 + 1.0, y0, c) * fx;
                let bottom = at(x0, y0 + 1.0, c) * (1.0 - fx) + at(x0 + 1.0, y0 + 1.0, c) * fx;
                let v = top * (1.0 - fy) + bottom * fy;
                out[(y * dw + x) * channels + c] = v.round_ties_even().clamp(0.0, 255.0) as u8;
            }
        }
    }
    out
}

/// The pipeline on the real clip: every tensor against the CPU chain on libavcodec's
/// decode (frames checked bit-exact with libavcodec's MD5 first).
#[test]
fn decode_warp_color_tensor_chain_on_the_real_clip() {
    init();
    let clip = media_dir().join("bigbuckbunny.mp4");
    let reference_md5: Vec<String> = std::fs::read_to_string(media_dir().join("bigbuckbunny.md5"))
        .expect("libavcodec's MD5s (scripts/make-test-media)")
        .lines()
        .map(|l| l.split_whitespace().nth(2).unwrap().to_string())
        .collect();

    // The decoded frames, checked to be libavcodec's.
    let decode = Stopping(cudapreproc_tests::pipeline(&format!(
        "nvdecsrc location={} ! video/x-raw,format=NV12 ! appsink name=sink sync=false",
        clip.display()
    )));
    let sink = decode
        .by_name("sink")
        .unwrap()
        .downcast::<gst_app::AppSink>()
        .unwrap();
    decode.set_state(gst::State::Playing).unwrap();
    let mut frames = Vec::new();
    let mut encoding: Option<Encoding> = None;
    let mut size = (0, 0);
    while let Some(sample) = sample_or_error(&decode, &sink) {
        let info = gst_video::VideoInfo::from_caps(sample.caps().unwrap()).unwrap();
        let buffer = sample.buffer().unwrap();
        assert_eq!(
            frame_md5(buffer, &info),
            reference_md5[frames.len()],
            "frame {}",
            frames.len()
        );
        encoding = Some(encoding_of(&info));
        size = (info.width() as usize, info.height() as usize);
        frames.push(tight_planes(buffer, &info));
    }
    drop(decode);
    let encoding = encoding.expect("frames decoded");
    println!(
        "{} frames decoded, every one bit-exact with libavcodec; {encoding:?}",
        frames.len()
    );

    let chain = Stopping(cudapreproc_tests::pipeline(&format!(
        "nvdecsrc location={} ! cudawarpaffine width=224 height=224 ! cudacvtcolor ! \
         video/x-raw(memory:CUDAMemory),format=RGBP ! \
         cudaconvert dtype=float32 layout=nchw preset=imagenet ! appsink name=sink sync=false",
        clip.display()
    )));
    let sink = chain
        .by_name("sink")
        .unwrap()
        .downcast::<gst_app::AppSink>()
        .unwrap();
    chain.set_state(gst::State::Playing).unwrap();
    let (sx, sy) = (size.0 as f64 / 224.0, size.1 as f64 / 224.0);
    let luma_m = [sx, 0.0, sx / 2.0 - 0.5, 0.0, sy, sy / 2.0 - 0.5];
    let chroma_m = half_plane_matrix(&luma_m);
    let rgb_enc = Encoding {
        format: PixelFormat::Rgbp,
        ..encoding
    };
    let mean = [0.485, 0.456, 0.406];
    let std = [0.229, 0.224, 0.225];
    let (mut n, mut worst, mut exact, mut total) = (0usize, 0f64, 0usize, 0usize);
    while let Some(sample) = sample_or_error(&chain, &sink) {
        let caps = sample.caps().unwrap().structure(0).unwrap().to_owned();
        assert_eq!(caps.get::<&str>("dimensions").unwrap(), "224:224:3:1");
        assert_eq!(caps.get::<&str>("types").unwrap(), "float32");
        let map = sample.buffer().unwrap().map_readable().unwrap();
        let got = elements(&map, "float32");
        let planes = &frames[n];
        let (cw, ch) = (size.0.div_ceil(2), size.1.div_ceil(2));
        let y = warp_plane(&planes[0], size, 1, &luma_m, (224, 224));
        let uv = warp_plane(&planes[1], (cw, ch), 2, &chroma_m, (112, 112));
        let warped = Image {
            format: PixelFormat::Nv12,
            width: 224,
            height: 224,
            planes: vec![y, uv],
        };
        let rgb = convert(&warped, &encoding, &rgb_enc);
        for c in 0..3 {
            for i in 0..224 * 224 {
                let expected = (f64::from(rgb.planes[c][i]) / 255.0 - mean[c]) / std[c];
                let d = (got[c * 224 * 224 + i] - expected).abs();
                worst = worst.max(d);
                if d <= 1e-6 * expected.abs().max(1e-6) {
                    exact += 1;
                }
                total += 1;
                // A few code values of 8-bit RGB, after /255/std: where the warp's float and
                // float64 round a luma or chroma sample differently, the colour conversion
                // carries that difference (times up to 2.1 for chroma) into RGB.
                assert!(
                    d <= 4.0 / 255.0 / 0.224 + 1e-6,
                    "frame {n} channel {c} element {i}: {} for {expected}",
                    got[c * 224 * 224 + i]
                );
            }
        }
        n += 1;
    }
    assert_eq!(n, frames.len(), "a tensor for every frame");
    println!(
        "{n} tensors 3x224x224 float32: {exact} of {total} elements ({:.4}%) equal the CPU chain \
         within 1e-6 relative, largest difference {worst:.5} (one 8-bit code is {:.5})",
        100.0 * exact as f64 / total as f64,
        1.0 / 255.0 / 0.225
    );
}
