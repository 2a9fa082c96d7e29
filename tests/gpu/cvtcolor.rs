//! `cudacvtcolor` on a GPU, against the float64 CPU reference (docs/colour.md). Needs an NVIDIA
//! GPU and driver: without them every test fails.

use std::sync::Arc;

use cudapreproc_core::colorspace::matrix::ypbpr_to_rgb;
use cudapreproc_core::colorspace::{Encoding, Matrix, PixelFormat, Range};
use cudapreproc_core::{caps, cuda, memory};
use cudapreproc_tests::reference::{compare, convert, Image};
use gst::prelude::*;
use gst_video::prelude::*;

use cudapreproc_tests::{
    buffer_to_image, encoding_of, image_to_buffer, random_frame, run_frames, sample_or_error,
    video_info, Stopping,
};

use crate::device;

const COLORIMETRIES: [(Matrix, Range); 8] = [
    (Matrix::Bt601, Range::Limited),
    (Matrix::Bt709, Range::Full),
    (Matrix::Bt2020, Range::Limited),
    (Matrix::Smpte240m, Range::Full),
    (Matrix::Bt709, Range::Limited),
    (Matrix::Bt601, Range::Full),
    (Matrix::Bt2020, Range::Full),
    (Matrix::Smpte240m, Range::Limited),
];

/// Tolerance for an output format: +-1 of its own depth (docs/colour.md).
const TOLERANCE: u32 = 1;

struct Case {
    /// The input frames' format and how they are encoded.
    src: Encoding,
    /// The colorimetry the input caps say, `None` for none at all; `src`'s unless the case
    /// checks that properties or defaults take over from the caps.
    caps_encoding: Option<(Matrix, Range)>,
    dst_format: PixelFormat,
    width: u32,
    height: u32,
}

impl Case {
    /// `src` encoded with `colorimetry` into `dst`, at `width` x `height`.
    fn new(
        src: PixelFormat,
        (matrix, range): (Matrix, Range),
        dst: PixelFormat,
        (width, height): (u32, u32),
    ) -> Case {
        Case {
            src: Encoding {
                format: src,
                matrix,
                range,
            },
            caps_encoding: Some((matrix, range)),
            dst_format: dst,
            width,
            height,
        }
    }

    /// The case with input caps that say `caps_encoding` instead.
    fn with_caps_encoding(self, caps_encoding: Option<(Matrix, Range)>) -> Case {
        Case {
            caps_encoding,
            ..self
        }
    }

    /// The input's video info (`src`'s layout) and caps (colorimetry as `caps_encoding` says).
    fn input(&self) -> (gst_video::VideoInfo, gst::Caps) {
        let info = video_info(self.src.format, self.width, self.height, self.caps_encoding);
        let mut caps = info.to_caps().unwrap();
        if self.caps_encoding.is_none() {
            // A video info always has a colorimetry (GStreamer's default for the size).
            caps.make_mut()
                .structure_mut(0)
                .unwrap()
                .remove_field("colorimetry");
        }
        (info, caps)
    }
}

/// Runs `case` through `middle` (which must end in caps for the output) on two random frames
/// and returns the worst difference against the reference, as a printable line on failure.
fn check_case(case: &Case, middle: &str, seed: u64) -> Result<u32, String> {
    let (in_info, in_caps) = case.input();
    let images: Vec<Image> = (0..2)
        .map(|i| {
            Image::random(
                case.src.format,
                case.width as usize,
                case.height as usize,
                seed + i,
            )
        })
        .collect();
    let buffers: Vec<gst::Buffer> = images
        .iter()
        .map(|i| image_to_buffer(i, &in_info))
        .collect();
    let mut results = Vec::new();
    run_frames(middle, &in_caps, &buffers, |n, buffer, out_info| {
        assert_eq!(
            out_info.format(),
            case.dst_format.video_format(),
            "{middle}"
        );
        let dst = encoding_of(out_info);
        let expected = convert(&images[n], &case.src, &dst);
        results.push((compare(&expected, &buffer_to_image(buffer, out_info)), dst));
    });
    let mut worst = 0;
    for (diff, dst) in results {
        if diff.max > TOLERANCE {
            return Err(format!(
                "{} {:?}/{:?} -> {} {:?}/{:?} {}x{}: off by {} at plane {} sample {} row {} \
                 (expected {}, got {})",
                case.src.format,
                case.src.matrix,
                case.src.range,
                dst.format,
                dst.matrix,
                dst.range,
                case.width,
                case.height,
                diff.max,
                diff.plane,
                diff.x,
                diff.y,
                diff.expected,
                diff.actual
            ));
        }
        worst = worst.max(diff.max);
    }
    Ok(worst)
}

fn cuda_caps(format: PixelFormat) -> String {
    format!("video/x-raw(memory:CUDAMemory),format={}", format.name())
}

/// `cudacvtcolor` with downstream fixing the output format and colorimetry.
fn into_colorimetry(format: PixelFormat, (matrix, range): (Matrix, Range)) -> String {
    let colorimetry = cudapreproc_tests::colorimetry(matrix, range);
    format!(
        "cudacvtcolor ! {},colorimetry=(string){colorimetry}",
        cuda_caps(format)
    )
}

/// Runs every `(case, middle, seed)` as [`check_case`] does, then fails with every case that was
/// off, not only the first.
fn check_cases(checks: Vec<(Case, String, u64)>) {
    let cases = checks.len();
    let failures: Vec<String> = checks
        .into_iter()
        .filter_map(|(case, middle, seed)| check_case(&case, &middle, seed).err())
        .collect();
    println!("{cases} cases, {} failed", failures.len());
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// Every input format to every output format, CUDA memory in and out (the input is uploaded by
/// a first `cudacvtcolor`, which exercises the same-format copy), at an odd size (generic
/// kernel) and a 4:2:0-friendly size (vectorised kernels where they apply).
#[test]
fn every_format_pair_matches_reference_in_cuda_memory() {
    let _device = device();
    let mut checks = Vec::new();
    for (i, src) in PixelFormat::ALL.into_iter().enumerate() {
        for (j, dst) in PixelFormat::ALL.into_iter().enumerate() {
            let (matrix, range) = COLORIMETRIES[(i + j) % COLORIMETRIES.len()];
            for (width, height) in [(37, 23), (64, 32)] {
                let case = Case::new(src, (matrix, range), dst, (width, height));
                let middle = format!(
                    "cudacvtcolor ! {} ! cudacvtcolor ! {}",
                    cuda_caps(src),
                    cuda_caps(dst)
                );
                checks.push((case, middle, (i * 100 + j) as u64));
            }
        }
    }
    check_cases(checks);
}

/// Every input format into system memory output (download path) and from system memory input.
#[test]
fn system_memory_in_and_out_match_reference() {
    let _device = device();
    let mut checks = Vec::new();
    for (i, src) in PixelFormat::ALL.into_iter().enumerate() {
        for dst in [
            PixelFormat::Rgb,
            PixelFormat::Nv12,
            PixelFormat::P010,
            PixelFormat::Bgrp,
            PixelFormat::Gray8,
        ] {
            let (matrix, range) = COLORIMETRIES[i % COLORIMETRIES.len()];
            let case = Case::new(src, (matrix, range), dst, (41, 17));
            let middle = format!("cudacvtcolor ! video/x-raw,format={}", dst.name());
            checks.push((case, middle, 7 + i as u64));
        }
    }
    check_cases(checks);
}

/// Matrix and range as the caps say, for both directions and every combination.
#[test]
fn every_matrix_and_range_both_directions() {
    let _device = device();
    let mut checks = Vec::new();
    for (matrix, range) in COLORIMETRIES {
        for (src, dst) in [
            (PixelFormat::Nv12, PixelFormat::Rgba),
            (PixelFormat::P010, PixelFormat::Rgb),
            (PixelFormat::Y444, PixelFormat::Bgrx),
        ] {
            let case = Case::new(src, (matrix, range), dst, (64, 32));
            checks.push((case, format!("cudacvtcolor ! {}", cuda_caps(dst)), 3));
        }
        // RGB -> Y'CbCr with the output colorimetry fixed downstream.
        for dst in [PixelFormat::Nv12, PixelFormat::I420_10, PixelFormat::Y42b] {
            let case = Case::new(PixelFormat::Rgba, (matrix, range), dst, (35, 19));
            checks.push((case, into_colorimetry(dst, (matrix, range)), 5));
        }
    }
    check_cases(checks);
}

/// Y'CbCr -> Y'CbCr across matrices, ranges and depths (downstream fixes the output colorimetry).
#[test]
fn yuv_to_yuv_across_matrices_and_depths() {
    let _device = device();
    let checks = [
        (
            PixelFormat::Nv12,
            COLORIMETRIES[0],
            PixelFormat::I420,
            COLORIMETRIES[4],
        ),
        (
            PixelFormat::P010,
            COLORIMETRIES[2],
            PixelFormat::Nv12,
            COLORIMETRIES[1],
        ),
        (
            PixelFormat::I420_10,
            COLORIMETRIES[6],
            PixelFormat::P016,
            COLORIMETRIES[2],
        ),
        (
            PixelFormat::Y444,
            COLORIMETRIES[3],
            PixelFormat::Nv16,
            COLORIMETRIES[5],
        ),
        (
            PixelFormat::Gray8,
            COLORIMETRIES[5],
            PixelFormat::P010,
            COLORIMETRIES[4],
        ),
    ]
    .into_iter()
    .map(|(src, src_col, dst, dst_col)| {
        let case = Case::new(src, src_col, dst, (33, 21));
        (case, into_colorimetry(dst, dst_col), 11)
    })
    .collect();
    check_cases(checks);
}

/// `input-matrix`/`input-range` win over the caps; HD without colorimetry is BT.709.
#[test]
fn overrides_and_hd_default() {
    let _device = device();
    check_cases(vec![
        // The caps say BT.601 limited, the properties BT.2020 full: the result must be BT.2020
        // full.
        (
            Case::new(
                PixelFormat::Nv12,
                (Matrix::Bt2020, Range::Full),
                PixelFormat::Rgb,
                (64, 32),
            )
            .with_caps_encoding(Some((Matrix::Bt601, Range::Limited))),
            "cudacvtcolor input-matrix=bt2020 input-range=full ! video/x-raw,format=RGB".into(),
            99,
        ),
        // 1920x1080 NV12 without colorimetry in the caps: BT.709 limited, never BT.601.
        (
            Case::new(
                PixelFormat::Nv12,
                (Matrix::Bt709, Range::Limited),
                PixelFormat::Rgba,
                (1920, 1080),
            )
            .with_caps_encoding(None),
            "cudacvtcolor ! video/x-raw,format=RGBA".into(),
            5,
        ),
    ]);
}

/// Same caps in and out: the element passes buffers through untouched.
#[test]
fn passthrough_when_caps_match() {
    let _device = device();
    let (info, image) = random_frame(
        PixelFormat::I420,
        (32, 16),
        Some((Matrix::Bt709, Range::Limited)),
        1,
    );
    let input = image_to_buffer(&image, &info);
    let in_ptr = input.map_readable().unwrap().as_ptr();
    let mut out_ptr = None;
    run_frames(
        &format!("cudacvtcolor ! {}", info.to_caps().unwrap()),
        &info.to_caps().unwrap(),
        std::slice::from_ref(&input),
        |_, buffer, _| out_ptr = Some(buffer.map_readable().unwrap().as_ptr()),
    );
    assert_eq!(Some(in_ptr), out_ptr, "passthrough keeps the same memory");
}

/// A chain of converters, each on its own stream and thread (queues), with small pools: the
/// event ordering between streams must keep every frame intact.
#[test]
fn chain_across_streams_keeps_frames_intact() {
    let _device = device();
    let formats = [
        PixelFormat::Nv12,
        PixelFormat::Rgba,
        PixelFormat::I420,
        PixelFormat::Bgrx,
        PixelFormat::Y444,
        PixelFormat::Rgbp,
        PixelFormat::Nv12,
    ];
    let mut middle = Vec::new();
    for f in &formats[1..] {
        middle.push(format!(
            "cudacvtcolor ! {},colorimetry=(string)bt709 ! queue max-size-buffers=2",
            cuda_caps(*f)
        ));
    }
    let info = video_info(
        PixelFormat::Nv12,
        128,
        64,
        Some((Matrix::Bt709, Range::Limited)),
    );
    let images: Vec<Image> = (0..40)
        .map(|i| Image::random(PixelFormat::Nv12, 128, 64, 1000 + i))
        .collect();
    let buffers: Vec<gst::Buffer> = images.iter().map(|i| image_to_buffer(i, &info)).collect();
    let bt709 = |format| Encoding {
        format,
        matrix: Matrix::Bt709,
        range: if format == PixelFormat::Nv12
            || format == PixelFormat::I420
            || format == PixelFormat::Y444
        {
            Range::Limited
        } else {
            Range::Full
        },
    };
    let mut worst = Vec::new();
    run_frames(
        &middle.join(" ! "),
        &info.to_caps().unwrap(),
        &buffers,
        |n, buffer, out_info| {
            // The reference runs the same chain step by step.
            let mut expected = images[n].clone();
            for pair in formats.windows(2) {
                expected = convert(&expected, &bt709(pair[0]), &bt709(pair[1]));
            }
            worst.push(compare(&expected, &buffer_to_image(buffer, out_info)));
        },
    );
    for (n, diff) in worst.iter().enumerate() {
        // Each of the six steps may round differently by one; errors do not grow past a few.
        assert!(diff.max <= 3, "frame {n}: {diff:?}");
    }
}

/// Which luma positions of an I420 `frame` are inside the RGB gamut (their float64 R'G'B' lies
/// within [0, 255], give or take the 2 codes that rounding the Y'CbCr source itself can add):
/// only those can survive a trip through 8-bit RGB.
fn in_gamut(frame: &Image, enc: &Encoding) -> Vec<bool> {
    let (oy, sy, oc, sc) = enc.range.offsets_scales(8);
    let m = ypbpr_to_rgb(enc.matrix);
    let (w, h) = (frame.width, frame.height);
    let cw = w.div_ceil(2);
    (0..w * h)
        .map(|i| {
            let (x, y) = (i % w, i / w);
            let c = (y / 2) * cw + x / 2;
            let ypbpr = [
                (f64::from(frame.planes[0][i]) - oy) / sy,
                (f64::from(frame.planes[1][c]) - oc) / sc,
                (f64::from(frame.planes[2][c]) - oc) / sc,
            ];
            m.iter().all(|row| {
                let v = 255.0 * (row[0] * ypbpr[0] + row[1] * ypbpr[1] + row[2] * ypbpr[2]);
                (-2.0..=257.0).contains(&v)
            })
        })
        .collect()
}

/// The pipeline of the issue: videotestsrc -> RGBA in CUDA memory -> I420, compared with the
/// source frames (I420 here, so that it is a round trip). Prints the round-trip error.
#[test]
fn rgba_round_trip_of_videotestsrc() {
    let _device = device();
    let pipeline = Stopping(cudapreproc_tests::pipeline(
        "videotestsrc num-buffers=300 ! video/x-raw,format=I420,width=320,height=240 ! tee name=t \
         t. ! queue ! appsink name=original sync=false \
         t. ! queue ! cudacvtcolor ! video/x-raw(memory:CUDAMemory),format=RGBA ! cudacvtcolor ! \
         video/x-raw,format=I420 ! appsink name=roundtrip sync=false",
    ));
    let sink = |name| cudapreproc_tests::element::<gst_app::AppSink>(&*pipeline, name);
    let (original, roundtrip) = (sink("original"), sink("roundtrip"));
    pipeline.set_state(gst::State::Playing).unwrap();
    let (mut frames, mut clipped) = (0, 0usize);
    let (mut worst_vs_reference, mut worst_in_gamut, mut worst_anywhere) = (0, 0, 0);
    while let (Some(a), Some(b)) = (
        sample_or_error(&pipeline, &original),
        sample_or_error(&pipeline, &roundtrip),
    ) {
        let info_a = gst_video::VideoInfo::from_caps(a.caps().unwrap()).unwrap();
        let info_b = gst_video::VideoInfo::from_caps(b.caps().unwrap()).unwrap();
        let source = buffer_to_image(a.buffer().unwrap(), &info_a);
        let result = buffer_to_image(b.buffer().unwrap(), &info_b);
        let yuv = encoding_of(&info_a);
        let rgba = Encoding {
            format: PixelFormat::Rgba,
            matrix: yuv.matrix,
            range: Range::Full,
        };
        let reference = convert(&convert(&source, &yuv, &rgba), &rgba, &encoding_of(&info_b));
        worst_vs_reference = worst_vs_reference.max(compare(&reference, &result).max);
        worst_anywhere = worst_anywhere.max(compare(&source, &result).max);
        // Luma of in-gamut pixels, chroma of 2x2 blocks whose four pixels are all in gamut.
        let gamut = in_gamut(&source, &yuv);
        let (w, h) = (source.width, source.height);
        clipped += gamut.iter().filter(|g| !**g).count();
        for (i, &ok) in gamut.iter().enumerate() {
            if ok {
                let d = source.planes[0][i].abs_diff(result.planes[0][i]);
                worst_in_gamut = worst_in_gamut.max(u32::from(d));
            }
        }
        for cy in 0..h.div_ceil(2) {
            for cx in 0..w.div_ceil(2) {
                let block_ok = (2 * cy..(2 * cy + 2).min(h))
                    .all(|y| (2 * cx..(2 * cx + 2).min(w)).all(|x| gamut[y * w + x]));
                if block_ok {
                    let c = cy * w.div_ceil(2) + cx;
                    for p in 1..3 {
                        let d = source.planes[p][c].abs_diff(result.planes[p][c]);
                        worst_in_gamut = worst_in_gamut.max(u32::from(d));
                    }
                }
            }
        }
        frames += 1;
    }
    println!(
        "round trip over {frames} frames: max error {worst_in_gamut} on in-gamut pixels, \
         {worst_anywhere} anywhere ({clipped} pixel-frames outside the RGB gamut are clipped by \
         RGBA), {worst_vs_reference} against the float64 reference of the same two conversions"
    );
    assert_eq!(frames, 300);
    assert!(worst_vs_reference <= 2);
    assert!(worst_in_gamut <= 2);
}

/// 10,000 frames through two converters: the plugin's own device allocations never exceed what
/// the pipeline can hold at once (pools reuse their buffers, nothing is allocated per frame) and
/// the driver's used memory moves only by what those allocations explain.
///
/// With a one-buffer queue the ceiling is exact: three RGBA buffers (one queued, one read by the
/// second converter, one written by the first while it waits to push), two I420 (fakesink's last
/// sample and the one being written) and the upload staging frame. Whether the first pool ever
/// needs its third buffer depends on thread scheduling, so the test bounds the count instead of
/// asking it to stay at its warm-up value.
#[test]
fn device_memory_is_flat_over_10000_frames() {
    let device = device();
    let pipeline = cudapreproc_tests::pipeline(
        "videotestsrc num-buffers=10000 ! video/x-raw,format=NV12,width=1280,height=720 ! \
         cudacvtcolor ! video/x-raw(memory:CUDAMemory),format=RGBA ! \
         queue max-size-buffers=1 max-size-bytes=0 max-size-time=0 ! cudacvtcolor ! \
         video/x-raw(memory:CUDAMemory),format=I420 ! fakesink name=sink",
    );
    let samples = Arc::new(std::sync::Mutex::new(Vec::new()));
    let sink_pad = pipeline
        .by_name("sink")
        .unwrap()
        .static_pad("sink")
        .unwrap();
    let (probe_samples, probe_device) = (samples.clone(), device.clone());
    let count = std::sync::atomic::AtomicU64::new(0);
    sink_pad.add_probe(gst::PadProbeType::BUFFER, move |_, _| {
        let count = count.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1;
        if count.is_multiple_of(1000) {
            let (free, total) = probe_device.memory_info().unwrap();
            let live = cuda::live_resources();
            let (buffers, bytes) = (live.device_buffers, live.device_bytes);
            probe_samples
                .lock()
                .unwrap()
                .push((count, total - free, buffers, bytes));
        }
        gst::PadProbeReturn::Ok
    });
    assert_eq!(cudapreproc_tests::run_to_end(&pipeline), None);
    let samples = samples.lock().unwrap();
    for (frame, used, buffers, bytes) in samples.iter() {
        println!(
            "frame {frame:>6}: device memory used {:>8.1} MiB, plugin allocations {buffers} ({:.1} MiB)",
            *used as f64 / 1048576.0,
            *bytes as f64 / 1048576.0
        );
    }
    assert_eq!(samples.len(), 10);
    let device_size = |format| {
        let info = gst_video::VideoInfo::builder(format, 1280, 720)
            .build()
            .unwrap();
        memory::device_layout(&info).unwrap().size() as i64
    };
    let (rgba, i420, nv12) = (
        device_size(gst_video::VideoFormat::Rgba),
        device_size(gst_video::VideoFormat::I420),
        device_size(gst_video::VideoFormat::Nv12),
    );
    let ceiling = (6, 3 * rgba + 2 * i420 + nv12);
    let (_, used0, _, bytes0) = samples[0];
    for (frame, used, buffers, bytes) in samples.iter() {
        assert!(
            *buffers <= ceiling.0 && *bytes <= ceiling.1,
            "allocations ({buffers}, {bytes} bytes) above the pipeline's ceiling {ceiling:?} at \
             frame {frame}"
        );
        let explained = bytes - bytes0;
        let drift = (*used as i64 - used0 as i64 - explained).abs();
        assert!(
            drift <= 2 << 20,
            "device memory moved {drift} bytes beyond the plugin's own allocations by frame {frame}"
        );
    }
}

/// Upstream GStreamer's CUDA memory (`cudaupload` from gst-plugins-bad) is accepted as input.
#[test]
fn upstream_cuda_memory_is_accepted() {
    let _device = device();
    assert!(
        gst::ElementFactory::find("cudaupload").is_some(),
        "gst-plugins-bad's nvcodec plugin (cudaupload) must be available on the GPU host"
    );
    check_cases(vec![(
        Case::new(
            PixelFormat::Nv12,
            (Matrix::Bt709, Range::Limited),
            PixelFormat::Rgba,
            (64, 48),
        ),
        "cudaupload ! cudacvtcolor ! video/x-raw(memory:CUDAMemory),format=RGBA".into(),
        77,
    )]);
}

/// A device that does not exist is named in the error.
#[test]
fn missing_device_is_reported() {
    let _device = device();
    cudapreproc_tests::assert_missing_device_reported(cuda::device_count().unwrap());
}

/// Output of a kernel is what it wrote: pool buffers start poisoned, and a frame whose
/// conversion is skipped would show the poison. Also checks the host view after device writes.
#[test]
fn fresh_pool_buffers_are_poisoned_then_overwritten() {
    let _device = device();
    let (info, image) = random_frame(
        PixelFormat::Gray8,
        (16, 8),
        Some((Matrix::Bt601, Range::Full)),
        4,
    );
    let mut checked = false;
    run_frames(
        "cudacvtcolor ! video/x-raw(memory:CUDAMemory),format=RGBx",
        &info.to_caps().unwrap(),
        &[image_to_buffer(&image, &info)],
        |_, buffer, out_info| {
            let actual = buffer_to_image(buffer, out_info);
            assert!(actual.planes[0].iter().any(|&b| b != memory::POISON));
            let map = buffer.map_readable().unwrap();
            // Row padding beyond the frame keeps the poison: nothing writes outside the frame.
            let stride = buffer.meta::<gst_video::VideoMeta>().unwrap().stride()[0] as usize;
            assert!(stride > 16 * 4);
            assert!(map[16 * 4..stride].iter().all(|&b| b == memory::POISON));
            checked = true;
        },
    );
    assert!(checked);
}

/// An application writing into our CUDA memory through a plain (host) map: the bytes reach the
/// GPU before the next kernel reads them, and a deep copy of the buffer (device to device) holds
/// the same frame.
#[test]
fn host_writes_and_deep_copies_of_cuda_memory() {
    let device = device();
    let stream = Arc::new(device.new_stream().unwrap());
    let (info, image) = random_frame(
        PixelFormat::Nv12,
        (64, 32),
        Some((Matrix::Bt709, Range::Limited)),
        31,
    );
    let pool = memory::CudaBufferPool::new(&device, &stream);
    let mut config = pool.config();
    config.set_params(Some(&info.to_caps().unwrap()), 0, 2, 4);
    pool.set_config(config).unwrap();
    pool.set_active(true).unwrap();

    let mut written = pool.acquire_buffer(None).unwrap();
    {
        let mut frame =
            gst_video::VideoFrameRef::from_buffer_ref_writable(written.get_mut().unwrap(), &info)
                .unwrap();
        for (p, plane) in image.planes.iter().enumerate() {
            let (row, rows) = Image::plane_size(PixelFormat::Nv12, 64, 32, p);
            let stride = frame.plane_stride()[p] as usize;
            let data = frame.plane_data_mut(p as u32).unwrap();
            for y in 0..rows {
                data[y * stride..y * stride + row].copy_from_slice(&plane[y * row..(y + 1) * row]);
            }
        }
    }
    let copied = written.copy_deep().unwrap();
    assert!(
        memory::device_memory(copied.peek_memory(0)).is_some(),
        "the copy stays on the GPU"
    );

    let mut cuda_caps = info.to_caps().unwrap();
    cuda_caps
        .get_mut()
        .unwrap()
        .set_features_simple(Some(gst::CapsFeatures::new([
            caps::CAPS_FEATURE_MEMORY_CUDA,
        ])));
    let mut diffs = Vec::new();
    run_frames(
        "cudacvtcolor ! video/x-raw(memory:CUDAMemory),format=RGBA",
        &cuda_caps,
        &[written, copied],
        |_, buffer, out_info| {
            let expected = convert(&image, &encoding_of(&info), &encoding_of(out_info));
            diffs.push(compare(&expected, &buffer_to_image(buffer, out_info)));
        },
    );
    pool.set_active(false).unwrap();
    for diff in diffs {
        assert!(diff.max <= TOLERANCE, "{diff:?}");
    }
}
