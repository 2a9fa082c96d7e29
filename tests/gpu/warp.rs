//! `cudawarpaffine` on a GPU against OpenCV (`cv2.warpAffine`, `cv2.resize` with INTER_AREA),
//! run through `tests/gpu/opencv_reference.py` with the Python OpenCV of the machine. Random
//! images, random matrices, every format, interpolation and border mode. Needs an NVIDIA GPU and
//! driver, and python3 with numpy and opencv: without them every test fails.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;

use cudapreproc_core::colorspace::{Matrix, PixelFormat, Range};
use cudapreproc_core::kernels::warp::{planes_of, FORMATS};
use gst::prelude::*;

use cudapreproc_tests::{
    half_plane_matrix, image_to_buffer, init, random_frame, run_frames, tight_planes, Rng,
};

const BORDERS: [&str; 5] = ["constant", "replicate", "reflect", "reflect-101", "wrap"];

/// One warp to check: the element's settings and what OpenCV is asked for.
struct Case {
    name: String,
    format: PixelFormat,
    src: (u32, u32),
    dst: (u32, u32),
    /// Destination -> source.
    matrix: [f64; 6],
    interpolation: &'static str,
    border: &'static str,
    /// Per component (R, G, B, A or Y, U, V), code values.
    border_value: [f64; 4],
    /// `cv2.resize` with INTER_AREA instead of `cv2.warpAffine`.
    resize: bool,
    /// Element properties that give the matrix; empty: the matrix itself (inverse-map).
    placement: String,
}

impl Case {
    fn tolerance(&self) -> i64 {
        if self.interpolation == "cubic" {
            2
        } else {
            1
        }
    }

    fn element(&self) -> String {
        let m = self.matrix;
        let values: Vec<String> = self.border_value.iter().map(|v| v.to_string()).collect();
        let matrix = if self.resize {
            String::new()
        } else if !self.placement.is_empty() {
            self.placement.clone()
        } else {
            format!(
                "matrix-string=\"{} {} {}; {} {} {}\" inverse-map=true",
                m[0], m[1], m[2], m[3], m[4], m[5]
            )
        };
        format!(
            "cudawarpaffine {matrix} width={} height={} interpolation={} border-mode={} \
             border-value=\"<{}>\" ! video/x-raw(memory:CUDAMemory)",
            self.dst.0,
            self.dst.1,
            self.interpolation,
            self.border,
            values.join(",")
        )
    }
}

/// A random matrix mapping a `dst` sized output into and around a `src` sized input: rotation,
/// anisotropic scale, shear and an offset of up to a quarter of the image.
fn random_matrix(rng: &mut Rng, src: (u32, u32), dst: (u32, u32)) -> [f64; 6] {
    let angle = rng.uniform(-std::f64::consts::PI, std::f64::consts::PI);
    let (sx, sy) = (rng.uniform(0.4, 2.5), rng.uniform(0.4, 2.5));
    let shear = rng.uniform(-0.3, 0.3);
    let (sin, cos) = angle.sin_cos();
    let a = [cos * sx, -sin * sy + shear, sin * sx, cos * sy];
    let (cx, cy) = (f64::from(dst.0) / 2.0, f64::from(dst.1) / 2.0);
    let tx = f64::from(src.0) / 2.0 + rng.uniform(-0.25, 0.25) * f64::from(src.0);
    let ty = f64::from(src.1) / 2.0 + rng.uniform(-0.25, 0.25) * f64::from(src.1);
    [
        a[0],
        a[1],
        tx - a[0] * cx - a[1] * cy,
        a[2],
        a[3],
        ty - a[2] * cx - a[3] * cy,
    ]
}

/// A fresh scratch folder for OpenCV's inputs and outputs.
fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("cudapreproc-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn run_opencv(dir: &Path) {
    // The GStreamer runtime's LD_LIBRARY_PATH must not reach the system's Python.
    let output = Command::new("python3")
        .arg("tests/gpu/opencv_reference.py")
        .arg(dir)
        .env_remove("LD_LIBRARY_PATH")
        .output()
        .expect("python3 runs");
    assert!(
        output.status.success(),
        "opencv_reference.py failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    print!("{}", String::from_utf8_lossy(&output.stdout));
}

fn le_words(bytes: &[u8]) -> Vec<i64> {
    bytes
        .chunks_exact(2)
        .map(|w| i64::from(u16::from_le_bytes([w[0], w[1]])))
        .collect()
}

/// Runs every case through the element and OpenCV; returns, per case, the largest difference
/// and the number of samples beyond the case's tolerance.
fn run_cases(cases: &[Case], folder: &str) -> Vec<(i64, usize)> {
    init();
    let dir = scratch(folder);
    let mut table = String::new();
    let mut outputs = Vec::new();
    for (index, case) in cases.iter().enumerate() {
        let (in_info, image) = random_frame(
            case.format,
            case.src,
            Some((Matrix::Bt709, Range::Limited)),
            1000 + index as u64,
        );
        let input = image_to_buffer(&image, &in_info);
        let in_planes = tight_planes(&input, &in_info);
        let mut out_planes = None;
        run_frames(
            &case.element(),
            &in_info.to_caps().unwrap(),
            &[input],
            |_, buffer, info| {
                assert_eq!((info.width(), info.height()), case.dst, "{}", case.name);
                out_planes = Some(tight_planes(buffer, info));
            },
        );
        let (kinds, shift) = planes_of(case.format.video_format()).unwrap();
        for (p, kind) in kinds.iter().enumerate() {
            let name = format!("{}_p{p}", case.name);
            let half = |n: u32| if kind.half { n.div_ceil(2) } else { n };
            let (dtype, data) = if kind.wide {
                let codes: Vec<u8> = le_words(&in_planes[p])
                    .iter()
                    .flat_map(|w| ((*w as u16) >> shift).to_le_bytes())
                    .collect();
                ("uint16", codes)
            } else {
                ("uint8", in_planes[p].clone())
            };
            std::fs::write(dir.join(format!("{name}.in")), data).unwrap();
            let m = if kind.half {
                half_plane_matrix(&case.matrix)
            } else {
                case.matrix
            };
            let values: Vec<String> = kind.components[..kind.channels]
                .iter()
                .map(|&c| case.border_value[c].to_string())
                .collect();
            let m: Vec<String> = m.iter().map(|v| v.to_string()).collect();
            writeln!(
                table,
                "{name}\t{}\t{}\t{}\t{}\t{dtype}\t{}\t{}\t{}\t{}\t{}\t{}",
                if case.resize { "resize" } else { "warp" },
                half(case.src.1),
                half(case.src.0),
                kind.channels,
                half(case.dst.0),
                half(case.dst.1),
                case.interpolation,
                case.border,
                values.join(","),
                m.join(",")
            )
            .unwrap();
        }
        outputs.push((out_planes.expect("one output frame"), kinds, shift));
    }
    std::fs::write(dir.join("cases.tsv"), table).unwrap();
    run_opencv(&dir);

    let mut results = Vec::new();
    for (case, (planes, kinds, shift)) in cases.iter().zip(outputs) {
        let (mut worst, mut beyond) = (0i64, 0usize);
        for (p, kind) in kinds.iter().enumerate() {
            let expected = std::fs::read(dir.join(format!("{}_p{p}.out", case.name))).unwrap();
            let (ours, theirs): (Vec<i64>, Vec<i64>) = if kind.wide {
                // OpenCV saturates to 16 bits, the format holds 10: cubic overshoot is clipped.
                (
                    le_words(&planes[p]).iter().map(|w| w >> shift).collect(),
                    le_words(&expected).iter().map(|v| (*v).min(1023)).collect(),
                )
            } else {
                (
                    planes[p].iter().map(|&b| i64::from(b)).collect(),
                    expected.iter().map(|&b| i64::from(b)).collect(),
                )
            };
            assert_eq!(ours.len(), theirs.len(), "{} plane {p}: sizes", case.name);
            for (a, b) in ours.iter().zip(&theirs) {
                let d = (a - b).abs();
                worst = worst.max(d);
                if d > case.tolerance() {
                    beyond += 1;
                }
            }
        }
        results.push((worst, beyond));
    }
    let _ = std::fs::remove_dir_all(&dir);
    results
}

/// Prints the largest difference per group and fails on any sample beyond tolerance.
fn report(cases: &[Case], results: &[(i64, usize)], group: impl Fn(&Case) -> String) {
    let mut groups: BTreeMap<String, (usize, i64, usize)> = BTreeMap::new();
    for (case, (worst, beyond)) in cases.iter().zip(results) {
        let entry = groups.entry(group(case)).or_default();
        entry.0 += 1;
        entry.1 = entry.1.max(*worst);
        entry.2 += beyond;
    }
    for (name, (n, worst, beyond)) in &groups {
        println!("{name:40} {n:4} cases  max |ours - opencv| {worst:3}  samples beyond tolerance {beyond}");
    }
    let failed: Vec<&String> = cases
        .iter()
        .zip(results)
        .filter(|(_, (_, beyond))| *beyond > 0)
        .map(|(c, _)| &c.name)
        .collect();
    assert!(failed.is_empty(), "cases beyond tolerance: {failed:?}");
}

#[test]
fn warp_matches_opencv_for_every_format_interpolation_and_border() {
    init();
    let mut rng = Rng(20261121);
    let mut cases = Vec::new();
    for name in FORMATS {
        let format =
            PixelFormat::from_video_format(gst_video::VideoFormat::from_string(name)).unwrap();
        for interpolation in ["nearest", "linear", "cubic"] {
            for border in BORDERS {
                for _ in 0..2 {
                    let src = (37 + rng.below(60), 29 + rng.below(50));
                    let dst = (31 + rng.below(50), 23 + rng.below(40));
                    let max = if format.sample_bytes() == 2 {
                        1023.0
                    } else {
                        255.0
                    };
                    let border_value = [0; 4].map(|_| f64::from(rng.below(max as u32 + 1)));
                    cases.push(Case {
                        name: format!("{name}_{interpolation}_{border}_{}", cases.len()),
                        format,
                        src,
                        dst,
                        matrix: random_matrix(&mut rng, src, dst),
                        interpolation,
                        border,
                        border_value,
                        resize: false,
                        placement: String::new(),
                    });
                }
            }
        }
    }
    let results = run_cases(&cases, "warp");
    report(&cases, &results, |c| {
        format!("{} {}", c.interpolation, c.border)
    });
    report(&cases, &results, |c| format!("{:?}", c.format));
}

#[test]
fn area_downscale_matches_opencv_resize() {
    init();
    let mut rng = Rng(7);
    let mut cases = Vec::new();
    for name in ["GRAY8", "RGB", "BGRx", "RGBA", "RGBP", "NV12", "I420"] {
        let format =
            PixelFormat::from_video_format(gst_video::VideoFormat::from_string(name)).unwrap();
        for (sw, sh, dw, dh) in [
            (96, 64, 32, 16),
            (97, 61, 40, 25),
            (200, 120, 64, 48),
            (1920, 1080, 224, 224),
            (150, 90, 100, 60),
            (64, 64, 63, 33),
        ] {
            // 4:2:0 chroma planes only downscale by the luma factor when the sizes are even.
            if matches!(name, "NV12" | "I420")
                && (sw % 2 == 1 || sh % 2 == 1 || dw % 2 == 1 || dh % 2 == 1)
            {
                continue;
            }
            let (sx, sy) = (f64::from(sw) / f64::from(dw), f64::from(sh) / f64::from(dh));
            cases.push(Case {
                name: format!("{name}_area_{sw}x{sh}_{dw}x{dh}_{}", rng.below(1000)),
                format,
                src: (sw, sh),
                dst: (dw, dh),
                matrix: [sx, 0.0, sx / 2.0 - 0.5, 0.0, sy, sy / 2.0 - 0.5],
                interpolation: "area",
                border: "replicate",
                border_value: [0.0; 4],
                resize: true,
                placement: String::new(),
            });
        }
    }
    let results = run_cases(&cases, "area");
    report(&cases, &results, |c| format!("area {:?}", c.format));
}

/// The matrix the element reads back (the placement properties' result) warps like OpenCV does
/// with it; one case per convenience property.
#[test]
fn placement_matrices_read_back_and_match_opencv() {
    init();
    let mut cases = Vec::new();
    let placements = [
        ("letterbox", "fit=letterbox width=96 height=96", (96, 96)),
        ("fill", "fit=fill width=64 height=80", (64, 80)),
        (
            "crop",
            "crop-x=10 crop-y=5 crop-width=50 crop-height=40 width=50 height=40",
            (50, 40),
        ),
        ("rotate", "rotation=30", (120, 72)),
        (
            "flips",
            "flip-horizontal=true flip-vertical=true",
            (120, 72),
        ),
        ("resize", "width=60 height=36", (60, 36)),
    ];
    for (i, (name, props, dst)) in placements.iter().enumerate() {
        let format = PixelFormat::Rgb;
        let (in_info, image) = random_frame(format, (120, 72), None, i as u64);
        let pipeline = cudapreproc_tests::pipeline(&format!(
            "appsrc name=src ! cudawarpaffine name=warp inverse-map=true {props} ! fakesink"
        ));
        let src = cudapreproc_tests::appsrc(&pipeline);
        src.set_caps(Some(&in_info.to_caps().unwrap()));
        src.set_property("format", gst::Format::Time);
        src.push_buffer(image_to_buffer(&image, &in_info)).unwrap();
        src.end_of_stream().unwrap();
        assert_eq!(cudapreproc_tests::run_to_end(&pipeline), None, "{name}");
        let warp = pipeline.by_name("warp").unwrap();
        let array = warp.property::<gst::Array>("matrix");
        let m: Vec<f64> = array.iter().map(|v| v.get::<f64>().unwrap()).collect();
        assert_eq!(m.len(), 6, "{name}: matrix read back");
        let text = warp.property::<Option<String>>("matrix-string").unwrap();
        println!("{name:10} {props:70} matrix {text}");
        cases.push(Case {
            name: format!("placement_{name}"),
            format,
            src: (120, 72),
            dst: *dst,
            matrix: m.try_into().unwrap(),
            interpolation: "linear",
            border: "constant",
            border_value: [0.0, 0.0, 0.0, 255.0],
            resize: false,
            placement: props.to_string(),
        });
    }
    // The same properties again, checked against OpenCV with the read-back matrix.
    let results = run_cases(&cases, "placement");
    report(&cases, &results, |c| c.name.clone());
}

/// The matrix changes between buffers: a property set while playing, the per-buffer meta and
/// the custom event, each applying to exactly the buffers it should.
#[test]
fn matrix_changes_per_buffer() {
    init();
    let format = PixelFormat::Gray8;
    let (in_info, image) = random_frame(format, (64, 48), None, 99);
    let pipeline = cudapreproc_tests::Stopping(cudapreproc_tests::pipeline(
        "appsrc name=src format=time ! cudawarpaffine name=warp inverse-map=true \
         interpolation=nearest ! appsink name=sink sync=false",
    ));
    let src = cudapreproc_tests::appsrc(&pipeline);
    let sink = cudapreproc_tests::appsink(&pipeline);
    let warp = pipeline.by_name("warp").unwrap();
    src.set_caps(Some(&in_info.to_caps().unwrap()));
    pipeline.set_state(gst::State::Playing).unwrap();
    let frame = |pts: u64| {
        let mut b = image_to_buffer(&image, &in_info);
        b.make_mut().set_pts(gst::ClockTime::from_mseconds(pts));
        b
    };
    let shift = |dx: f64| gst::Array::new([1.0, 0.0, dx, 0.0, 1.0, 0.0].map(|v| v.to_send_value()));
    // 0: property (shift 1); 1: meta (shift 2) on this buffer only; 2: property again;
    // 3 and 4: event (shift 3) from then on.
    warp.set_property("matrix", shift(1.0));
    src.push_buffer(frame(0)).unwrap();
    let mut with_meta = frame(40);
    {
        let b = with_meta.make_mut();
        let mut meta = gst::meta::CustomMeta::add(b, gstcudapreproc::WARP_MATRIX_META).unwrap();
        meta.mut_structure().set("matrix", shift(2.0));
    }
    src.push_buffer(with_meta).unwrap();
    src.push_buffer(frame(80)).unwrap();
    let event = gst::event::CustomDownstream::new(
        gst::Structure::builder(gstcudapreproc::WARP_MATRIX_EVENT)
            .field("matrix", "1 0 3; 0 1 0")
            .build(),
    );
    assert!(src.send_event(event));
    src.push_buffer(frame(120)).unwrap();
    src.push_buffer(frame(160)).unwrap();
    src.end_of_stream().unwrap();
    let expected_shift = [1usize, 2, 1, 3, 3];
    for (i, dx) in expected_shift.iter().enumerate() {
        let sample = cudapreproc_tests::sample_or_error(&pipeline, &sink).unwrap();
        let info = gst_video::VideoInfo::from_caps(sample.caps().unwrap()).unwrap();
        let buffer = sample.buffer().unwrap();
        assert!(
            gst::meta::CustomMeta::from_buffer(buffer, gstcudapreproc::WARP_MATRIX_META).is_err(),
            "buffer {i}: the matrix meta must not reach the output"
        );
        let out = &tight_planes(buffer, &info)[0];
        let src_plane = &image.planes[0];
        for y in 0..48 {
            for x in 0..64 - dx {
                assert_eq!(
                    out[y * 64 + x],
                    src_plane[y * 64 + x + dx],
                    "buffer {i}: expected a shift by {dx} at ({x}, {y})"
                );
            }
        }
        println!("buffer {i}: shifted by {dx} as expected");
    }
    let text = warp.property::<Option<String>>("matrix-string").unwrap();
    assert_eq!(text, "1 0 3; 0 1 0");
}

/// The matrix property parses from a gst-launch line as a GstValueArray.
#[test]
fn matrix_array_from_launch_line() {
    init();
    let pipeline = cudapreproc_tests::pipeline(
        "videotestsrc num-buffers=3 ! video/x-raw,format=NV12,width=320,height=240 ! \
         cudawarpaffine name=warp matrix=\"<0.5, 0.0, 0.0, 0.0, 0.5, 0.0>\" width=160 height=120 ! \
         video/x-raw,format=NV12 ! fakesink",
    );
    assert_eq!(cudapreproc_tests::run_to_end(&pipeline), None);
    let warp = pipeline.by_name("warp").unwrap();
    let text = warp.property::<Option<String>>("matrix-string").unwrap();
    assert_eq!(text, "0.5 0 0; 0 0.5 0");
}
