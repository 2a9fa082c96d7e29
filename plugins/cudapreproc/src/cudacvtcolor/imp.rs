use std::str::FromStr;
use std::sync::{LazyLock, Mutex};

use gst::glib;
use gst::prelude::*;
use gst::subclass::prelude::*;
use gst_base::prelude::*;
use gst_base::subclass::prelude::*;

use super::{ColorMatrix, ColorRange};
use crate::colorspace::{Encoding, Family, Matrix, PixelFormat, Range};
use crate::cuda::filter::{self, FilterDevice, DEFAULT_DEVICE_ID};
use crate::cuda::frame::{self, Input, Output};
use crate::cuda::{ColorConversion, CudaError};
use crate::negotiation::{self, Downstream, Refusals};
use crate::property::factory_name;

static CAT: LazyLock<gst::DebugCategory> = LazyLock::new(|| {
    gst::DebugCategory::new(
        "cudacvtcolor",
        gst::DebugColorFlags::empty(),
        Some("CUDA colour conversion"),
    )
});

const DEFAULT_MATRIX: ColorMatrix = ColorMatrix::Auto;
const DEFAULT_RANGE: ColorRange = ColorRange::Auto;

/// Caps fields this element may change between input and output (besides format and memory).
const CONVERTED_FIELDS: &[&str] = &["colorimetry", "chroma-site"];

#[derive(Debug, Clone, Copy)]
struct Settings {
    device_id: i32,
    input_matrix: ColorMatrix,
    input_range: ColorRange,
    output_matrix: ColorMatrix,
    output_range: ColorRange,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            device_id: DEFAULT_DEVICE_ID,
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

struct Negotiated {
    in_info: gst_video::VideoInfo,
    out_info: gst_video::VideoInfo,
    mode: Mode,
}

struct State {
    cuda: FilterDevice,
    negotiated: Option<Negotiated>,
}

impl filter::FilterState for State {
    fn cuda(&self) -> &FilterDevice {
        &self.cuda
    }

    fn set_cuda(&mut self, cuda: FilterDevice) {
        self.cuda = cuda;
    }
}

#[derive(Default)]
pub struct CudaCvtColor {
    settings: Mutex<Settings>,
    state: Mutex<Option<State>>,
    refusals: Refusals,
}

fn matrix_override(m: ColorMatrix) -> Option<Matrix> {
    match m {
        ColorMatrix::Auto => None,
        ColorMatrix::Bt601 => Some(Matrix::Bt601),
        ColorMatrix::Bt709 => Some(Matrix::Bt709),
        ColorMatrix::Bt2020 => Some(Matrix::Bt2020),
        ColorMatrix::Smpte240m => Some(Matrix::Smpte240m),
    }
}

fn range_override(r: ColorRange) -> Option<Range> {
    match r {
        ColorRange::Auto => None,
        ColorRange::Limited => Some(Range::Limited),
        ColorRange::Full => Some(Range::Full),
    }
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
    let format = frame::pixel_format(info)?;
    let colorimetry = info.colorimetry();
    let matrix = matrix_override(matrix)
        .or_else(|| Matrix::from_gst(colorimetry.matrix()))
        .unwrap_or_else(|| default_matrix(info.height()));
    let range = range_override(range)
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

impl CudaCvtColor {
    fn post_cuda_error(&self, error: &CudaError) -> gst::FlowError {
        self.obj().post_error_message(error.to_error_message());
        gst::FlowError::Error
    }
}

/// The caps on the other pad for `caps`: the same video in any supported format and either
/// memory.
fn transform(caps: &gst::Caps) -> gst::Caps {
    filter::transform_video_caps(caps, &PixelFormat::caps_list(), CONVERTED_FIELDS)
}

/// Why downstream takes nothing `name` makes of `incaps`.
fn refusal(name: &str, incaps: &gst::Caps, downstream: &Downstream) -> String {
    negotiation::explain(name, &transform(incaps), downstream, |field| match field {
        "format" => None,
        "width" | "height" => Some(format!("{name} keeps the size; cudawarpaffine resizes")),
        _ => Some(format!("{name} keeps the input's")),
    })
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
    let chosen = othercaps
        .iter_with_features()
        .position(|(_, f)| f.contains(crate::cuda::CAPS_FEATURE_MEMORY_CUDA))
        .unwrap_or(0);
    let Some((s, features)) = othercaps.iter_with_features().nth(chosen) else {
        return othercaps;
    };
    let mut s = s.to_owned();
    let features = features.to_owned();
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
    let matrix = matrix_override(settings.output_matrix)
        .or(in_enc
            .filter(|e| e.format.family() == Family::Yuv)
            .map(|e| e.matrix))
        .unwrap_or_else(|| default_matrix(in_info.height()));
    let range = range_override(settings.output_range)
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
    type ParentType = gst_base::BaseTransform;
}

impl ObjectImpl for CudaCvtColor {
    fn properties() -> &'static [glib::ParamSpec] {
        static PROPERTIES: LazyLock<Vec<glib::ParamSpec>> = LazyLock::new(|| {
            vec![
                filter::device_id_property("convert"),
                glib::ParamSpecEnum::builder_with_default("input-matrix", DEFAULT_MATRIX)
                    .nick("Input matrix")
                    .blurb("Y'CbCr matrix of the input, instead of the caps' colorimetry")
                    .mutable_ready()
                    .build(),
                glib::ParamSpecEnum::builder_with_default("input-range", DEFAULT_RANGE)
                    .nick("Input range")
                    .blurb("Quantisation range of the input, instead of the caps' colorimetry")
                    .mutable_ready()
                    .build(),
                glib::ParamSpecEnum::builder_with_default("output-matrix", DEFAULT_MATRIX)
                    .nick("Output matrix")
                    .blurb(
                        "Y'CbCr matrix to produce (announced in the output caps); auto: the \
                         input's, or GStreamer's default for the size",
                    )
                    .mutable_ready()
                    .build(),
                glib::ParamSpecEnum::builder_with_default("output-range", DEFAULT_RANGE)
                    .nick("Output range")
                    .blurb(
                        "Quantisation range to produce (announced in the output caps); auto: \
                         the input's, or limited for Y'CbCr",
                    )
                    .mutable_ready()
                    .build(),
            ]
        });
        PROPERTIES.as_ref()
    }

    fn set_property(&self, _id: usize, value: &glib::Value, pspec: &glib::ParamSpec) {
        let mut settings = self.settings.lock().unwrap();
        match pspec.name() {
            "cuda-device-id" => settings.device_id = value.get().expect("type checked upstream"),
            "input-matrix" => settings.input_matrix = value.get().expect("type checked upstream"),
            "input-range" => settings.input_range = value.get().expect("type checked upstream"),
            "output-matrix" => settings.output_matrix = value.get().expect("type checked upstream"),
            "output-range" => settings.output_range = value.get().expect("type checked upstream"),
            _ => unimplemented!(),
        }
    }

    fn property(&self, _id: usize, pspec: &glib::ParamSpec) -> glib::Value {
        let settings = self.settings.lock().unwrap();
        match pspec.name() {
            "cuda-device-id" => settings.device_id.to_value(),
            "input-matrix" => settings.input_matrix.to_value(),
            "input-range" => settings.input_range.to_value(),
            "output-matrix" => settings.output_matrix.to_value(),
            "output-range" => settings.output_range.to_value(),
            _ => unimplemented!(),
        }
    }
}

impl GstObjectImpl for CudaCvtColor {}

impl ElementImpl for CudaCvtColor {
    fn metadata() -> Option<&'static gst::subclass::ElementMetadata> {
        static ELEMENT_METADATA: LazyLock<gst::subclass::ElementMetadata> = LazyLock::new(|| {
            gst::subclass::ElementMetadata::new(
                "CUDA colour converter",
                "Filter/Converter/Video/Hardware",
                "Converts between Y'CbCr, gray and RGB formats on an NVIDIA GPU, in CUDA or \
                 system memory, following the caps' colorimetry",
                "The gst-cudapreproc authors",
            )
        });
        Some(&*ELEMENT_METADATA)
    }

    fn pad_templates() -> &'static [gst::PadTemplate] {
        static PAD_TEMPLATES: LazyLock<Vec<gst::PadTemplate>> = LazyLock::new(|| {
            let caps = filter::video_caps(&PixelFormat::caps_list());
            filter::pad_templates(&caps)
        });
        PAD_TEMPLATES.as_ref()
    }
}

impl BaseTransformImpl for CudaCvtColor {
    const MODE: gst_base::subclass::BaseTransformMode =
        gst_base::subclass::BaseTransformMode::NeverInPlace;
    const PASSTHROUGH_ON_SAME_CAPS: bool = false;
    const TRANSFORM_IP_ON_PASSTHROUGH: bool = false;

    fn start(&self) -> Result<(), gst::ErrorMessage> {
        let device_id = self.settings.lock().unwrap().device_id;
        let cuda = FilterDevice::open(device_id).map_err(|e| e.to_error_message())?;
        gst::info!(CAT, imp = self, "converting on {:?}", cuda.device);
        *self.state.lock().unwrap() = Some(State {
            cuda,
            negotiated: None,
        });
        Ok(())
    }

    fn stop(&self) -> Result<(), gst::ErrorMessage> {
        *self.state.lock().unwrap() = None;
        Ok(())
    }

    fn transform_caps(
        &self,
        _direction: gst::PadDirection,
        caps: &gst::Caps,
        filter: Option<&gst::Caps>,
    ) -> Option<gst::Caps> {
        let other = transform(caps);
        let other = match filter {
            Some(filter) => filter.intersect_with_mode(&other, gst::CapsIntersectMode::First),
            None => other,
        };
        gst::debug!(CAT, imp = self, "transformed {caps} into {other}");
        Some(other)
    }

    fn fixate_caps(
        &self,
        _direction: gst::PadDirection,
        caps: &gst::Caps,
        othercaps: gst::Caps,
    ) -> gst::Caps {
        let settings = *self.settings.lock().unwrap();
        let fixated = fixate_output(&settings, caps, othercaps);
        gst::debug!(CAT, imp = self, "fixated to {fixated}");
        fixated
    }

    fn set_caps(&self, incaps: &gst::Caps, outcaps: &gst::Caps) -> Result<(), gst::LoggableError> {
        let settings = *self.settings.lock().unwrap();
        let obj = self.obj();
        let refuse = |why: String| self.refusals.refuse(obj.upcast_ref(), *CAT, &why);
        let in_info = gst_video::VideoInfo::from_caps(incaps)
            .map_err(|_| refuse(format!("invalid input caps {incaps}")))?;
        let out_info = gst_video::VideoInfo::from_caps(outcaps)
            .map_err(|_| refuse(format!("invalid output caps {outcaps}")))?;
        let in_enc = encoding(&in_info, settings.input_matrix, settings.input_range)
            .map_err(|e| refuse(e.to_string()))?;
        let out_enc = encoding(&out_info, settings.output_matrix, settings.output_range)
            .map_err(|e| refuse(e.to_string()))?;

        let same_encoding = in_enc.format == out_enc.format
            && (in_enc.format.family() == Family::Rgb
                || (in_enc.matrix == out_enc.matrix && in_enc.range == out_enc.range));
        let mode = if same_encoding {
            Mode::Copy
        } else {
            Mode::Convert(ColorConversion::new(&in_enc, &out_enc))
        };
        let passthrough =
            same_encoding && filter::is_cuda_caps(incaps) == filter::is_cuda_caps(outcaps);
        self.obj().set_passthrough(passthrough);
        gst::info!(
            CAT,
            imp = self,
            "{:?} -> {:?}{}",
            in_enc,
            out_enc,
            if passthrough { " (passthrough)" } else { "" }
        );

        let mut state = self.state.lock().unwrap();
        let state = state
            .as_mut()
            .ok_or_else(|| gst::loggable_error!(CAT, "caps set while stopped"))?;
        state.negotiated = Some(Negotiated {
            in_info,
            out_info,
            mode,
        });
        Ok(())
    }

    fn sink_event(&self, event: gst::Event) -> bool {
        let obj = self.obj();
        self.refusals.sink_event(
            obj.upcast_ref(),
            *CAT,
            event,
            |event| self.parent_sink_event(event),
            |caps| {
                let downstream = Downstream::of(obj.src_pad());
                refusal(&factory_name(&*obj), caps, &downstream)
            },
        )
    }

    /// A frame is one unit whatever padding its memory has (upstream's CUDA memory is pitched
    /// to its own alignment), so the output size follows from the output caps alone.
    fn transform_size(
        &self,
        _direction: gst::PadDirection,
        _caps: &gst::Caps,
        _size: usize,
        othercaps: &gst::Caps,
    ) -> Option<usize> {
        filter::frame_size(othercaps)
    }

    fn propose_allocation(
        &self,
        decide_query: Option<&gst::query::Allocation>,
        query: &mut gst::query::Allocation,
    ) -> Result<(), gst::LoggableError> {
        query.add_allocation_meta::<gst_video::VideoMeta>(None);
        self.parent_propose_allocation(decide_query, query)
    }

    fn decide_allocation(
        &self,
        query: &mut gst::query::Allocation,
    ) -> Result<(), gst::LoggableError> {
        if filter::decide_allocation(&self.state, query, None)? {
            return Ok(());
        }
        self.parent_decide_allocation(query)
    }

    fn submit_input_buffer(
        &self,
        is_discont: bool,
        inbuf: gst::Buffer,
    ) -> Result<gst::FlowSuccess, gst::FlowError> {
        let device_id = self.settings.lock().unwrap().device_id;
        filter::follow_input(
            self.obj().upcast_ref(),
            *CAT,
            &self.state,
            device_id,
            &inbuf,
        )?;
        self.parent_submit_input_buffer(is_discont, inbuf)
    }

    fn transform(
        &self,
        inbuf: &gst::Buffer,
        outbuf: &mut gst::BufferRef,
    ) -> Result<gst::FlowSuccess, gst::FlowError> {
        let mut state = self.state.lock().unwrap();
        let state = state.as_mut().ok_or(gst::FlowError::Flushing)?;
        let negotiated = state
            .negotiated
            .as_ref()
            .ok_or(gst::FlowError::NotNegotiated)?;
        let cuda = &mut state.cuda;
        let stream = cuda.stream.clone();

        let result = (|| {
            let input = Input::begin(&stream, inbuf, &negotiated.in_info, &mut cuda.input_staging)?;
            let output = Output::begin(
                &stream,
                outbuf,
                &negotiated.out_info,
                &mut cuda.output_staging,
            )?;
            match &negotiated.mode {
                Mode::Convert(conversion) => {
                    let src = input.planes.surface(&negotiated.in_info)?;
                    let dst = output.planes.surface(&negotiated.out_info)?;
                    // SAFETY: the surfaces come from Input/Output::begin for the negotiated
                    // infos; their memory stays alive and ordered by events.
                    unsafe { conversion.launch(&stream, &src, &dst)? }
                }
                Mode::Copy => {
                    frame::copy_frame(&stream, &input.planes, &output.planes, &negotiated.in_info)?
                }
            }
            input.end(&stream)?;
            output.end(&stream, outbuf, &negotiated.out_info)
        })();

        result.map_err(|e| self.post_cuda_error(&e))?;
        Ok(gst::FlowSuccess::Ok)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
        let all = filter::transform_video_caps(caps, &PixelFormat::caps_list(), CONVERTED_FIELDS);
        let mut wanted = gst_video::VideoCapsBuilder::new()
            .format(format.video_format())
            .build();
        if cuda {
            wanted
                .get_mut()
                .unwrap()
                .set_features_simple(Some(filter::cuda_features()));
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
                    assert_eq!(
                        filter::is_cuda_caps(&fixed),
                        cuda,
                        "{src} -> {dst}: {fixed}"
                    );
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
        let all = filter::transform_video_caps(&caps, &PixelFormat::caps_list(), CONVERTED_FIELDS);
        let fixed = fixate_output(&Settings::default(), &caps, all);
        assert!(filter::is_cuda_caps(&fixed), "{fixed}");
        assert_eq!(out_info(&fixed).format(), gst_video::VideoFormat::Nv12);
    }

    #[test]
    fn yuv_output_keeps_the_input_colorimetry() {
        gst::init().unwrap();
        let caps = input_caps(PixelFormat::Nv12, 64, 32, Some("bt2020"));
        let fixed = fixate_output(
            &Settings::default(),
            &caps,
            offered(&caps, PixelFormat::I420, true),
        );
        let c = out_info(&fixed).colorimetry();
        assert_eq!(c.matrix(), gst_video::VideoColorMatrix::Bt2020);
        assert_eq!(c.range(), gst_video::VideoColorRange::Range16_235);
    }

    #[test]
    fn rgb_to_yuv_uses_the_default_for_the_size() {
        gst::init().unwrap();
        for (height, matrix) in [
            (480, gst_video::VideoColorMatrix::Bt601),
            (576, gst_video::VideoColorMatrix::Bt601),
            (720, gst_video::VideoColorMatrix::Bt709),
            (1080, gst_video::VideoColorMatrix::Bt709),
            (2160, gst_video::VideoColorMatrix::Bt2020),
        ] {
            let caps = input_caps(PixelFormat::Rgba, 64, height, None);
            let fixed = fixate_output(
                &Settings::default(),
                &caps,
                offered(&caps, PixelFormat::Nv12, true),
            );
            let c = out_info(&fixed).colorimetry();
            assert_eq!(c.matrix(), matrix, "height {height}: {fixed}");
            assert_eq!(c.range(), gst_video::VideoColorRange::Range16_235);
        }
    }

    #[test]
    fn output_overrides_are_announced() {
        gst::init().unwrap();
        let settings = Settings {
            output_matrix: ColorMatrix::Smpte240m,
            output_range: ColorRange::Full,
            ..Settings::default()
        };
        let caps = input_caps(PixelFormat::Nv12, 1920, 1080, Some("bt709"));
        let fixed = fixate_output(&settings, &caps, offered(&caps, PixelFormat::Nv12, true));
        let c = out_info(&fixed).colorimetry();
        assert_eq!(c.matrix(), gst_video::VideoColorMatrix::Smpte240m);
        assert_eq!(c.range(), gst_video::VideoColorRange::Range0_255);
    }

    #[test]
    fn rgb_output_is_srgb() {
        gst::init().unwrap();
        let caps = input_caps(PixelFormat::Nv12, 64, 32, Some("bt601"));
        let fixed = fixate_output(
            &Settings::default(),
            &caps,
            offered(&caps, PixelFormat::Rgbp, false),
        );
        let c = out_info(&fixed).colorimetry();
        assert_eq!(c.matrix(), gst_video::VideoColorMatrix::Rgb);
        assert_eq!(c.range(), gst_video::VideoColorRange::Range0_255);
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
            refusal("cudacvtcolor", &caps, &downstream)
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
