//! What `nvdec` makes of a sequence header (the parser's CUVIDEOFORMAT, from the bitstream):
//! the visible size (`SequenceInfo::display_size`, `DecoderConfig::output_size`), the output
//! formats for the chroma format and bit depth, and the framerate, pixel aspect ratio and
//! colorimetry it announces: computed without overflow, valid GStreamer values (positive
//! denominators, a video info that builds and reads back), equal to the exact value whenever
//! that fits GStreamer's 32-bit fractions and refused or approximated otherwise.
#![no_main]

use arbitrary::Arbitrary;
use cudapreproc_core::cuvid::{ChromaFormat, Codec, DecoderConfig, SequenceInfo, SurfaceFormat};
use libfuzzer_sys::fuzz_target;

#[derive(Arbitrary, Debug)]
struct Input {
    coded: (u32, u32),
    display_area: (i32, i32, i32, i32),
    bit_depth_minus8: u8,
    chroma: u8,
    min_surfaces: u8,
    progressive: bool,
    frame_rate: (u32, u32),
    aspect_ratio: (i32, i32),
    full_range: bool,
    color: (u8, u8, u8),
}

fn gcd(mut a: u128, mut b: u128) -> u128 {
    while b != 0 {
        (a, b) = (b, a % b);
    }
    a
}

/// Checks that `got` is a valid fraction for `num / den` (both > 0): exact when it fits a
/// GStreamer fraction, else `fallback` or close to the value.
fn check_fraction(got: gst::Fraction, num: u128, den: u128, fallback: gst::Fraction, what: &str) {
    assert!(got.denom() > 0, "{what}: {got}");
    assert!(got.numer() >= 0, "{what}: {got}");
    let g = gcd(num, den);
    let (n, d) = (num / g, den / g);
    if n <= i32::MAX as u128 && d <= i32::MAX as u128 {
        assert_eq!(
            (got.numer() as u128, got.denom() as u128),
            (n, d),
            "{what}: {num}/{den} gave {got}"
        );
    } else if got != fallback {
        let exact = num as f64 / den as f64;
        let value = f64::from(got.numer()) / f64::from(got.denom());
        assert!(
            (value - exact).abs() <= 1e-6 * exact,
            "{what}: {num}/{den} gave {got}"
        );
    }
}

fuzz_target!(|input: Input| {
    cudapreproc_fuzz::init();
    let seq = SequenceInfo {
        coded_width: input.coded.0,
        coded_height: input.coded.1,
        display_area: input.display_area,
        bit_depth: u32::from(input.bit_depth_minus8) + 8,
        chroma: match input.chroma % 4 {
            0 => ChromaFormat::Monochrome,
            1 => ChromaFormat::Yuv420,
            2 => ChromaFormat::Yuv422,
            _ => ChromaFormat::Yuv444,
        },
        min_surfaces: u32::from(input.min_surfaces),
        progressive: input.progressive,
        frame_rate: input.frame_rate,
        aspect_ratio: input.aspect_ratio,
        full_range: input.full_range,
        color_primaries: input.color.0,
        transfer_characteristics: input.color.1,
        matrix_coefficients: input.color.2,
    };

    // The visible rectangle, right/bottom exclusive; an inverted one is empty.
    let (l, t, r, b) = seq.display_area;
    let expected = (
        (i64::from(r) - i64::from(l)).max(0),
        (i64::from(b) - i64::from(t)).max(0),
    );
    let (width, height) = seq.display_size();
    assert_eq!((i64::from(width), i64::from(height)), expected, "{seq:?}");

    let Some((surface, format)) = seq.output_formats() else {
        assert!(
            seq.chroma == ChromaFormat::Yuv422 || ![8, 10, 12].contains(&seq.bit_depth),
            "{seq:?}: no output format"
        );
        return;
    };
    let finfo = gst_video::VideoFormatInfo::from_format(format);
    assert!(finfo.depth()[0] >= seq.bit_depth, "{seq:?}: {format:?}");
    let subsampled = seq.chroma != ChromaFormat::Yuv444;
    assert_eq!(finfo.w_sub()[1] == 1, subsampled, "{seq:?}: {format:?}");
    assert_eq!(
        matches!(surface, SurfaceFormat::Nv12 | SurfaceFormat::P016),
        subsampled
    );

    let config = DecoderConfig::for_sequence(Codec::H264, &seq, 1, 4, surface);
    assert_eq!(config.output_size(), (width, height), "{seq:?}");

    let fps = seq.fps();
    match seq.frame_rate {
        (n, d) if n > 0 && d > 0 => check_fraction(
            fps,
            n.into(),
            d.into(),
            gst::Fraction::new(0, 1),
            "framerate",
        ),
        _ => assert_eq!(fps, gst::Fraction::new(0, 1)),
    }
    let par = seq.pixel_aspect_ratio(width, height);
    match seq.aspect_ratio {
        (x, y) if x > 0 && y > 0 && width > 0 && height > 0 => {
            assert!(par.numer() > 0, "{seq:?}: {par}");
            check_fraction(
                par,
                x as u128 * u128::from(height),
                y as u128 * u128::from(width),
                gst::Fraction::new(1, 1),
                "pixel aspect ratio",
            );
        }
        _ => assert_eq!(par, gst::Fraction::new(1, 1)),
    }

    // The output caps as `negotiate` builds them (at a size GStreamer takes, so what is refused
    // is ours): they build, and read back the same.
    let default = gst_video::VideoInfo::builder(format, 64, 64)
        .build()
        .expect("a 64x64 frame");
    let colorimetry = seq.colorimetry(&default.colorimetry());
    let range = if seq.full_range {
        gst_video::VideoColorRange::Range0_255
    } else {
        gst_video::VideoColorRange::Range16_235
    };
    assert_eq!(colorimetry.range(), range);
    let info = gst_video::VideoInfo::builder(format, 64, 64)
        .interlace_mode(if seq.progressive {
            gst_video::VideoInterlaceMode::Progressive
        } else {
            gst_video::VideoInterlaceMode::Mixed
        })
        .fps(fps)
        .par(par)
        .colorimetry(&colorimetry)
        .build()
        .unwrap_or_else(|e| panic!("{seq:?}: {fps} {par} {colorimetry}: {e}"));
    let caps = info.to_caps().expect("caps of a built info");
    let back = gst_video::VideoInfo::from_caps(&caps).unwrap_or_else(|e| panic!("{caps}: {e}"));
    assert_eq!((back.fps(), back.par()), (fps, par), "{caps}");
});
