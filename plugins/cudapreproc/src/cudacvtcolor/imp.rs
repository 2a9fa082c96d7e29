use std::str::FromStr;
use std::sync::{LazyLock, Mutex};

use cudapreproc_core::access::{Input, Media, Output};
use cudapreproc_core::caps;
use cudapreproc_core::colorspace::{Encoding, Family, Matrix, PixelFormat, Range};
use cudapreproc_core::cuda::{CudaError, Stream};
use cudapreproc_core::frame::{copy_frame, pixel_format};
use cudapreproc_core::kernels::ColorConversion;
use gst::glib;
use gst::subclass::prelude::*;
use gst_base::prelude::*;

use super::{ColorMatrix, ColorRange};
use crate::cudabasetransform::{
    never_in_place, pad_templates, CudaBaseTransform, CudaBaseTransformImpl, Negotiated,
    TransformResult,
};
use crate::property::{factory_name, properties_from_table, PropertyTable, Spec};

crate::debug_category!(static CAT = "cudacvtcolor", "CUDA colour conversion");

const DEFAULT_MATRIX: ColorMatrix = ColorMatrix::Auto;
const DEFAULT_RANGE: ColorRange = ColorRange::Auto;

/// Caps fields this element may change between input and output (besides format and memory).
const CONVERTED_FIELDS: &[&str] = &["colorimetry", "chroma-site"];

#[derive(Debug, Clone, Copy)]
struct Settings {
    input_matrix: ColorMatrix,
    input_range: ColorRange,
    output_matrix: ColorMatrix,
    output_range: ColorRange,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            input_matrix: DEFAULT_MATRIX,
            input_range: DEFAULT_RANGE,
            output_matrix: DEFAULT_MATRIX,
            output_range: DEFAULT_RANGE,
        }
    }
}

/// What `transform` does with each buffer.
enum Mode {
    /// Colour conversion kernel.
    Convert(ColorConversion),
    /// Same format, different memory kind: a plane copy through the device.
    Copy,
}

#[derive(Default)]
pub struct CudaCvtColor {
    settings: Mutex<Settings>,
    /// What the negotiated caps ask for.
    mode: Mutex<Option<Mode>>,
}

/// GStreamer's default matrix for a Y'CbCr frame `height` lines high.
fn default_matrix(height: u32) -> Matrix {
    if height >= 2160 {
        Matrix::Bt2020
    } else if height > 576 {
        Matrix::Bt709
    } else {
        Matrix::Bt601
    }
}

/// How the frames of `info` encode colour, with the element's overrides applied.
fn encoding(
    info: &gst_video::VideoInfo,
    matrix: ColorMatrix,
    range: ColorRange,
) -> Result<Encoding, CudaError> {
    let format = pixel_format(info.format())?;
    let colorimetry = info.colorimetry();
    let matrix = Option::<Matrix>::from(matrix)
        .or_else(|| Matrix::from_gst(colorimetry.matrix()))
        .unwrap_or_else(|| default_matrix(info.height()));
    let range = Option::<Range>::from(range)
        .or_else(|| Range::from_gst(colorimetry.range()))
        .unwrap_or(match format.family() {
            Family::Yuv => Range::Limited,
            Family::Gray | Family::Rgb => Range::Full,
        });
    Ok(Encoding {
        format,
        matrix,
        range,
    })
}

/// The colorimetry string output caps announce for `format` produced with `matrix` and `range`,
/// keeping the input's transfer function and primaries when it has the same matrix.
fn output_colorimetry(
    format: PixelFormat,
    matrix: Matrix,
    range: Range,
    input: Option<&gst_video::VideoColorimetry>,
) -> String {
    if format.family() == Family::Rgb {
        return "sRGB".into();
    }
    let base = input
        .filter(|c| Matrix::from_gst(c.matrix()) == Some(matrix))
        .cloned()
        .unwrap_or_else(|| {
            let name = match matrix {
                Matrix::Bt601 => "bt601",
                Matrix::Bt709 => "bt709",
                Matrix::Bt2020 => "bt2020",
                Matrix::Smpte240m => "smpte240m",
            };
            gst_video::VideoColorimetry::from_str(name).expect("named colorimetry")
        });
    gst_video::VideoColorimetry::new(
        range.to_gst(),
        matrix.to_gst(),
        base.transfer(),
        base.primaries(),
    )
    .to_string()
}

/// The caps on the other pad for `caps`: the same video in any supported format and either
/// memory.
fn transform(caps: &gst::Caps) -> gst::Caps {
    caps::transform_video_caps(caps, &PixelFormat::caps_list(), CONVERTED_FIELDS)
}

/// What decides `field` of what element `name` makes, for a refusal (see
/// [`cudapreproc_core::negotiation::explain`]): the format is chosen, the rest is the input's.
fn hint(name: &str, field: &str) -> Option<String> {
    match field {
        "format" => None,
        "width" | "height" => Some(format!("{name} keeps the size; cudawarpaffine resizes")),
        _ => Some(format!("{name} keeps the input's")),
    }
}

/// Fixates `othercaps` (what the other pad allows) given the fixed `caps` of this pad: CUDA
/// memory when allowed, the same format when allowed (so conversion is skipped), and the
/// colorimetry the element will produce.
fn fixate_output(settings: &Settings, caps: &gst::Caps, othercaps: gst::Caps) -> gst::Caps {
    let Some(in_s) = caps.structure(0) else {
        let mut othercaps = othercaps;
        othercaps.fixate();
        return othercaps;
    };
    let in_format = in_s.get::<&str>("format").unwrap_or_default();
    let Some((mut s, features)) = caps::preferred_structure(&othercaps) else {
        return othercaps;
    };
    s.fixate_field_str("format", in_format);
    for field in ["width", "height", "framerate", "pixel-aspect-ratio"] {
        if let Ok(value) = in_s.value(field) {
            s.set_value(field, value.clone());
        }
    }

    let mut out = gst::Caps::new_empty();
    out.get_mut()
        .unwrap()
        .append_structure_full(s, Some(features));
    out.fixate();

    // Announce the colorimetry of what we will produce, unless the peer fixed one.
    let (Ok(in_info), Some(out_s)) = (
        gst_video::VideoInfo::from_caps(caps),
        out.get_mut().unwrap().structure_mut(0),
    ) else {
        return out;
    };
    let out_format = out_s
        .get::<&str>("format")
        .ok()
        .map(gst_video::VideoFormat::from_string)
        .and_then(PixelFormat::from_video_format);
    let Some(out_format) = out_format else {
        return out;
    };
    let peer_fixed = out_s.has_field("colorimetry");
    let overridden =
        settings.output_matrix != ColorMatrix::Auto || settings.output_range != ColorRange::Auto;
    if peer_fixed && !overridden {
        return out;
    }
    let in_enc = encoding(&in_info, settings.input_matrix, settings.input_range).ok();
    let matrix = Option::<Matrix>::from(settings.output_matrix)
        .or(in_enc
            .filter(|e| e.format.family() == Family::Yuv)
            .map(|e| e.matrix))
        .unwrap_or_else(|| default_matrix(in_info.height()));
    let range = Option::<Range>::from(settings.output_range)
        .or(in_enc
            .filter(|e| e.format.family() != Family::Rgb)
            .map(|e| e.range))
        .unwrap_or(match out_format.family() {
            Family::Yuv => Range::Limited,
            Family::Gray | Family::Rgb => Range::Full,
        });
    let input_colorimetry = (in_info.format_info().is_yuv()).then(|| in_info.colorimetry());
    out_s.set(
        "colorimetry",
        output_colorimetry(out_format, matrix, range, input_colorimetry.as_ref()),
    );
    out
}

#[glib::object_subclass]
impl ObjectSubclass for CudaCvtColor {
    const NAME: &'static str = "GstRsCudaCvtColor";
    type Type = super::CudaCvtColor;
    type ParentType = CudaBaseTransform;
}

static PROPERTIES: LazyLock<PropertyTable<CudaCvtColor, Settings>> = LazyLock::new(|| {
    PropertyTable::new(*CAT, |imp: &CudaCvtColor| &imp.settings)
        .field(
            Spec::ready(
                "input-matrix",
                "Input matrix",
                "Y'CbCr matrix of the input, instead of the caps' colorimetry",
            )
            .enumeration(DEFAULT_MATRIX),
            |s| &mut s.input_matrix,
        )
        .field(
            Spec::ready(
                "input-range",
                "Input range",
                "Quantisation range of the input, instead of the caps' colorimetry",
            )
            .enumeration(DEFAULT_RANGE),
            |s| &mut s.input_range,
        )
        .field(
            Spec::ready(
                "output-matrix",
                "Output matrix",
                "Y'CbCr matrix to produce (announced in the output caps); auto: the input's, or \
                 GStreamer's default for the size",
            )
            .enumeration(DEFAULT_MATRIX),
            |s| &mut s.output_matrix,
        )
        .field(
            Spec::ready(
                "output-range",
                "Output range",
                "Quantisation range to produce (announced in the output caps); auto: the input's, \
                 or limited for Y'CbCr",
            )
            .enumeration(DEFAULT_RANGE),
            |s| &mut s.output_range,
        )
});

impl ObjectImpl for CudaCvtColor {
    properties_from_table!(PROPERTIES);
}

impl GstObjectImpl for CudaCvtColor {}

impl ElementImpl for CudaCvtColor {
    crate::element_metadata!(
        "CUDA colour converter",
        "Filter/Converter/Video/Hardware",
        "Converts between Y'CbCr, gray and RGB formats on an NVIDIA GPU, in CUDA or \
         system memory, following the caps' colorimetry"
    );

    crate::element_pad_templates!(pad_templates(&caps::video_caps(&PixelFormat::caps_list())));
}

never_in_place!(CudaCvtColor);

impl CudaBaseTransformImpl for CudaCvtColor {
    fn other_caps(&self, _direction: gst::PadDirection, caps: &gst::Caps) -> gst::Caps {
        transform(caps)
    }

    fn fixate(&self, _dir: gst::PadDirection, caps: &gst::Caps, other: gst::Caps) -> gst::Caps {
        let settings = *self.settings.lock().unwrap();
        fixate_output(&settings, caps, other)
    }

    fn set_info(&self, negotiated: &Negotiated) -> Result<(), String> {
        let settings = *self.settings.lock().unwrap();
        let Negotiated {
            incaps,
            outcaps,
            input,
            output,
        } = negotiated;
        let (Media::Video(in_info), Media::Video(out_info)) = (input, output) else {
            return Err(format!(
                "cudacvtcolor converts video, not {incaps} to {outcaps}"
            ));
        };
        let in_enc = encoding(in_info, settings.input_matrix, settings.input_range)
            .map_err(|e| e.to_string())?;
        let out_enc = encoding(out_info, settings.output_matrix, settings.output_range)
            .map_err(|e| e.to_string())?;

        let same_encoding = in_enc.format == out_enc.format
            && (in_enc.format.family() == Family::Rgb
                || (in_enc.matrix == out_enc.matrix && in_enc.range == out_enc.range));
        let mode = if same_encoding {
            Mode::Copy
        } else {
            Mode::Convert(ColorConversion::new(&in_enc, &out_enc))
        };
        let passthrough =
            same_encoding && caps::is_cuda_caps(incaps) == caps::is_cuda_caps(outcaps);
        self.obj().set_passthrough(passthrough);
        gst::info!(
            CAT,
            imp = self,
            "{:?} -> {:?}{}",
            in_enc,
            out_enc,
            if passthrough { " (passthrough)" } else { "" }
        );
        *self.mode.lock().unwrap() = Some(mode);
        Ok(())
    }

    fn transform_frames(&self, stream: &Stream, src: &Input, dst: &mut Output) -> TransformResult {
        let mode = self.mode.lock().unwrap();
        let (src, mut dst) = (src.video()?, dst.video()?);
        match mode.as_ref() {
            Some(Mode::Convert(conversion)) => conversion.launch(stream, &src, &mut dst)?,
            Some(Mode::Copy) => copy_frame(stream, &src, &mut dst)?,
            None => return Err(CudaError::Invalid("no negotiated conversion".into()).into()),
        }
        Ok(())
    }

    fn hint(&self, _caps: &gst::Caps, field: &str) -> Option<String> {
        hint(&factory_name(&*self.obj()), field)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use cudapreproc_core::negotiation::{self, Downstream};
    use gst_video::{VideoColorMatrix, VideoColorRange};

    fn input_caps(
        format: PixelFormat,
        width: u32,
        height: u32,
        colorimetry: Option<&str>,
    ) -> gst::Caps {
        let mut caps = gst_video::VideoCapsBuilder::new()
            .format(format.video_format())
            .width(width as i32)
            .height(height as i32)
            .framerate(gst::Fraction::new(30, 1))
            .build();
        if let Some(c) = colorimetry {
            caps.get_mut().unwrap().set("colorimetry", c);
        }
        caps
    }

    /// What the element's transform_caps offers downstream for `caps`, narrowed as a downstream
    /// peer asking for `format` in `cuda` or system memory would.
    fn offered(caps: &gst::Caps, format: PixelFormat, cuda: bool) -> gst::Caps {
        let all = transform(caps);
        let mut wanted = gst_video::VideoCapsBuilder::new()
            .format(format.video_format())
            .build();
        if cuda {
            wanted
                .get_mut()
                .unwrap()
                .set_features_simple(Some(caps::cuda_features()));
        }
        all.intersect_with_mode(&wanted, gst::CapsIntersectMode::First)
    }

    fn out_info(caps: &gst::Caps) -> gst_video::VideoInfo {
        gst_video::VideoInfo::from_caps(caps).unwrap_or_else(|e| panic!("{caps}: {e}"))
    }

    #[test]
    fn every_format_pair_fixates_in_both_memories() {
        gst::init().unwrap();
        let settings = Settings::default();
        for src in PixelFormat::ALL {
            let caps = input_caps(src, 37, 23, None);
            for dst in PixelFormat::ALL {
                for cuda in [true, false] {
                    let fixed = fixate_output(&settings, &caps, offered(&caps, dst, cuda));
                    assert!(fixed.is_fixed(), "{src} -> {dst}: {fixed}");
                    assert_eq!(caps::is_cuda_caps(&fixed), cuda, "{src} -> {dst}: {fixed}");
                    let info = out_info(&fixed);
                    assert_eq!(info.format(), dst.video_format());
                    assert_eq!((info.width(), info.height()), (37, 23));
                    assert_eq!(info.fps(), gst::Fraction::new(30, 1));
                }
            }
        }
    }

    #[test]
    fn cuda_memory_and_input_format_are_preferred() {
        gst::init().unwrap();
        let caps = input_caps(PixelFormat::Nv12, 64, 32, Some("bt709"));
        let all = transform(&caps);
        let fixed = fixate_output(&Settings::default(), &caps, all);
        assert!(caps::is_cuda_caps(&fixed), "{fixed}");
        assert_eq!(out_info(&fixed).format(), gst_video::VideoFormat::Nv12);
    }

    /// The matrix and range the output caps announce when `caps` is fixated to `format`, in
    /// `cuda` or system memory.
    fn announced(
        settings: &Settings,
        caps: &gst::Caps,
        format: PixelFormat,
        cuda: bool,
    ) -> (gst_video::VideoColorMatrix, gst_video::VideoColorRange) {
        let fixed = fixate_output(settings, caps, offered(caps, format, cuda));
        let c = out_info(&fixed).colorimetry();
        (c.matrix(), c.range())
    }

    #[test]
    fn output_colorimetry_is_the_inputs_the_overrides_or_srgb() {
        gst::init().unwrap();
        let overrides = Settings {
            output_matrix: ColorMatrix::Smpte240m,
            output_range: ColorRange::Full,
            ..Settings::default()
        };
        let cases = [
            // Y'CbCr output keeps the input's colorimetry.
            (
                Settings::default(),
                input_caps(PixelFormat::Nv12, 64, 32, Some("bt2020")),
                PixelFormat::I420,
                true,
                (VideoColorMatrix::Bt2020, VideoColorRange::Range16_235),
            ),
            // Output overrides are announced.
            (
                overrides,
                input_caps(PixelFormat::Nv12, 1920, 1080, Some("bt709")),
                PixelFormat::Nv12,
                true,
                (VideoColorMatrix::Smpte240m, VideoColorRange::Range0_255),
            ),
            // RGB output is sRGB.
            (
                Settings::default(),
                input_caps(PixelFormat::Nv12, 64, 32, Some("bt601")),
                PixelFormat::Rgbp,
                false,
                (VideoColorMatrix::Rgb, VideoColorRange::Range0_255),
            ),
        ];
        for (settings, caps, format, cuda, expected) in cases {
            let got = announced(&settings, &caps, format, cuda);
            assert_eq!(got, expected, "{caps} -> {format}");
        }
    }

    #[test]
    fn rgb_to_yuv_uses_the_default_for_the_size() {
        gst::init().unwrap();
        for (height, matrix) in [
            (480, VideoColorMatrix::Bt601),
            (576, VideoColorMatrix::Bt601),
            (720, VideoColorMatrix::Bt709),
            (1080, VideoColorMatrix::Bt709),
            (2160, VideoColorMatrix::Bt2020),
        ] {
            let caps = input_caps(PixelFormat::Rgba, 64, height, None);
            assert_eq!(
                announced(&Settings::default(), &caps, PixelFormat::Nv12, true),
                (matrix, VideoColorRange::Range16_235),
                "height {height}"
            );
        }
    }

    #[test]
    fn hd_without_colorimetry_is_read_as_bt709() {
        gst::init().unwrap();
        let info = out_info(&input_caps(PixelFormat::Nv12, 1920, 1080, None));
        let enc = encoding(&info, ColorMatrix::Auto, ColorRange::Auto).unwrap();
        assert_eq!(enc.matrix, Matrix::Bt709);
        assert_eq!(enc.range, Range::Limited);
        let info = out_info(&input_caps(PixelFormat::Nv12, 640, 480, None));
        let enc = encoding(&info, ColorMatrix::Auto, ColorRange::Auto).unwrap();
        assert_eq!(enc.matrix, Matrix::Bt601);
    }

    #[test]
    fn input_overrides_win_over_caps() {
        gst::init().unwrap();
        let info = out_info(&input_caps(PixelFormat::Nv12, 64, 32, Some("bt601")));
        let enc = encoding(&info, ColorMatrix::Bt2020, ColorRange::Full).unwrap();
        assert_eq!((enc.matrix, enc.range), (Matrix::Bt2020, Range::Full));
    }

    #[test]
    fn refusal_lists_the_formats_and_keeps_the_size() {
        gst::init().unwrap();
        let caps = input_caps(PixelFormat::Nv12, 64, 32, None);
        let refused = |accepted: &str| {
            let downstream = Downstream {
                accepted: accepted.parse().unwrap(),
                next: "sink".into(),
            };
            negotiation::explain("cudacvtcolor", &transform(&caps), &downstream, |field| {
                hint("cudacvtcolor", field)
            })
        };
        let text = refused("video/x-raw, format=YUY2");
        assert!(
            text.starts_with("cudacvtcolor produces format NV12, "),
            "{text}"
        );
        assert!(text.ends_with(", downstream accepts format YUY2"), "{text}");
        assert_eq!(
            refused("video/x-raw, width=640"),
            "cudacvtcolor produces width 64 (cudacvtcolor keeps the size; cudawarpaffine \
             resizes), downstream accepts width 640"
        );
    }
}
