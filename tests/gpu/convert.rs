//! `cudaconvert` on a GPU against float64 references (docs/tensors.md), and the whole chain
//! `nvdecsrc ! cudawarpaffine ! cudacvtcolor ! cudaconvert` on the real clip against a CPU
//! computation of the same chain on libavcodec's decode. Needs an NVIDIA GPU and driver: without
//! them every test fails.

use cudapreproc_core::tensor::{one_tensor_caps, VIDEO_FORMATS};
use gst::prelude::*;
use gst_video::prelude::*;

use cudapreproc_tests::chain::{self, Agreement, ChainReference};
use cudapreproc_tests::{init, run_frames, run_samples, sample_or_error, Rng, Stopping};

const DTYPES: [&str; 4] = ["uint8", "float16", "bfloat16", "float32"];

/// Numbers as a launch line's array between `<` and `>`: `1,0.5,2`.
fn array(values: &[f64]) -> String {
    values
        .iter()
        .map(|x| x.to_string())
        .collect::<Vec<_>>()
        .join(",")
}

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
                        let element = format!(
                        "cudaconvert dtype={dtype} layout={layout} channel-order={order} \
                         scale={scale} mean=\"<{}>\" std=\"<{}>\" ! other/tensors(memory:CUDAMemory)",
                        array(&mean),
                        array(&std)
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
                let mut caps = one_tensor_caps(dtype, &dims);
                caps.make_mut().set("framerate", gst::Fraction::new(30, 1));
                let element = format!(
                    "cudaconvert layout={layout} channel-order={order} scale={scale} mean=\"<{}>\" \
                     std=\"<{}>\" ! video/x-raw,format={format_name}",
                    array(&mean),
                    array(&std)
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

/// The pipeline on the real clip: every tensor against the CPU chain on libavcodec's
/// decode (frames checked bit-exact with libavcodec's MD5 first).
#[test]
fn decode_warp_color_tensor_chain_on_the_real_clip() {
    let reference = ChainReference::new();
    let chain = Stopping(cudapreproc_tests::pipeline(&chain::launch_line(
        "appsink name=sink sync=false",
    )));
    let sink = cudapreproc_tests::appsink(&chain);
    chain.set_state(gst::State::Playing).unwrap();
    let mut agreement = Agreement::default();
    while let Some(sample) = sample_or_error(&chain, &sink) {
        let caps = sample.caps().unwrap().structure(0).unwrap().to_owned();
        assert_eq!(caps.get::<&str>("dimensions").unwrap(), "224:224:3:1");
        assert_eq!(caps.get::<&str>("types").unwrap(), "float32");
        let map = sample.buffer().unwrap().map_readable().unwrap();
        let n = agreement.tensors();
        agreement.check("appsink", n, &chain::f32s(&map), &reference.expected(n));
    }
    assert_eq!(
        agreement.tensors(),
        reference.len(),
        "a tensor for every frame"
    );
    println!("appsink: {}", agreement.summary());
}
