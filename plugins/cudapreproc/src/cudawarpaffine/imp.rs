use std::sync::{LazyLock, Mutex};

use gst::glib;
use gst::prelude::*;
use gst::subclass::prelude::*;
use gst_base::prelude::*;
use gst_base::subclass::prelude::*;

use super::{WarpBorder, WarpFit, WarpInterpolation, MATRIX_EVENT, MATRIX_META};
use crate::cuda::filter::{self, FilterDevice, DEFAULT_DEVICE_ID};
use crate::cuda::frame::{self, Input, Output};
use crate::cuda::warp::{self, Border, Interpolation, Warp};
use crate::cuda::CudaError;
use crate::geometry::{Affine, Fit, Placement, Rect};
use crate::negotiation::{self, Downstream, Refusals};
use crate::property::{self, factory_name, number};

static CAT: LazyLock<gst::DebugCategory> = LazyLock::new(|| {
    gst::DebugCategory::new(
        "cudawarpaffine",
        gst::DebugColorFlags::empty(),
        Some("CUDA affine warp"),
    )
});

const DEFAULT_SIZE: u32 = 0;
/// Largest output side: 16384 x 16384 at 4 bytes a pixel is 1 GiB, well inside what a GStreamer
/// buffer holds (4 GiB); no model takes more.
const MAX_SIZE: u32 = 16384;
/// Largest crop coordinate: caps sizes are gint.
const MAX_CROP: u32 = i32::MAX as u32;
/// Largest border value: the top of 16-bit code values, the deepest format warped.
const MAX_BORDER_VALUE: f64 = 65535.0;
const DEFAULT_INVERSE_MAP: bool = false;
const DEFAULT_INTERPOLATION: WarpInterpolation = WarpInterpolation::Linear;
const DEFAULT_BORDER: WarpBorder = WarpBorder::Constant;
const DEFAULT_FIT: WarpFit = WarpFit::Stretch;
const DEFAULT_ROTATION: f64 = 0.0;
const DEFAULT_FLIP: bool = false;

/// Caps fields the element changes (besides memory).
const RESIZED_FIELDS: &[&str] = &["width", "height", "pixel-aspect-ratio"];

#[derive(Debug, Clone)]
struct Settings {
    device_id: i32,
    width: u32,
    height: u32,
    /// The user's matrix; `None`: computed from the placement properties.
    matrix: Option<Affine>,
    inverse_map: bool,
    interpolation: WarpInterpolation,
    border: WarpBorder,
    /// Per component; empty: black.
    border_value: Vec<f64>,
    fit: WarpFit,
    crop: Rect,
    rotation: f64,
    flip_horizontal: bool,
    flip_vertical: bool,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            device_id: DEFAULT_DEVICE_ID,
            width: DEFAULT_SIZE,
            height: DEFAULT_SIZE,
            matrix: None,
            inverse_map: DEFAULT_INVERSE_MAP,
            interpolation: DEFAULT_INTERPOLATION,
            border: DEFAULT_BORDER,
            border_value: Vec::new(),
            fit: DEFAULT_FIT,
            crop: Rect {
                x: 0,
                y: 0,
                width: 0,
                height: 0,
            },
            rotation: DEFAULT_ROTATION,
            flip_horizontal: DEFAULT_FLIP,
            flip_vertical: DEFAULT_FLIP,
        }
    }
}

impl Settings {
    /// The source rectangle in a `src` sized input: `None` when no crop property is set; a
    /// `crop-width` or `crop-height` of 0 reaches the right or bottom edge.
    fn crop(&self, src: (u32, u32)) -> Option<Rect> {
        let c = self.crop;
        if (c.x, c.y, c.width, c.height) == (0, 0, 0, 0) {
            return None;
        }
        let or_to_edge = |len: u32, start: u32, size: u32| {
            if len > 0 {
                len
            } else {
                size.saturating_sub(start)
            }
        };
        Some(Rect {
            x: c.x,
            y: c.y,
            width: or_to_edge(c.width, c.x, src.0),
            height: or_to_edge(c.height, c.y, src.1),
        })
    }

    /// Whether the crop properties fit a `src` sized input (a user matrix leaves them unused);
    /// the error names them and the input size.
    fn check_crop(&self, src: (u32, u32)) -> Result<(), String> {
        let Some(rect) = self.crop(src).filter(|_| self.matrix.is_none()) else {
            return Ok(());
        };
        let c = self.crop;
        let outside = |start: u32, used: u32, size: u32| {
            used == 0 || u64::from(start) + u64::from(used) > u64::from(size)
        };
        let named = |axis: &str, start: u32, extent: &str, len: u32| {
            if len > 0 {
                format!("crop-{axis}={start} and crop-{extent}={len} reach beyond")
            } else {
                format!("crop-{axis}={start} is outside")
            }
        };
        let why = if outside(rect.x, rect.width, src.0) {
            named("x", c.x, "width", c.width)
        } else if outside(rect.y, rect.height, src.1) {
            named("y", c.y, "height", c.height)
        } else {
            return Ok(());
        };
        Err(format!("{why} the {}x{} input", src.0, src.1))
    }

    fn placement(&self, src: (u32, u32)) -> Placement {
        Placement {
            crop: self.crop(src),
            fit: match self.fit {
                WarpFit::Stretch => Fit::Stretch,
                WarpFit::Letterbox => Fit::Letterbox,
                WarpFit::Fill => Fit::Fill,
            },
            rotation: self.rotation,
            flip_horizontal: self.flip_horizontal,
            flip_vertical: self.flip_vertical,
        }
    }

    /// The destination -> source matrix for these sizes: the user's matrix (with or without
    /// `inverse-map`), or the one the placement properties describe.
    fn inverse_matrix(
        &self,
        user: Option<(Affine, bool)>,
        src: (u32, u32),
        dst: (u32, u32),
    ) -> Result<Affine, String> {
        let user = user.or(self.matrix.map(|m| (m, self.inverse_map)));
        match user {
            Some((m, true)) => Ok(m),
            Some((m, false)) => m.invert().ok_or_else(|| {
                format!(
                    "matrix {m} is singular, it has no inverse (inverse-map=true if it maps \
                     output to source)"
                )
            }),
            None => {
                let forward = self.placement(src).forward(src, dst)?;
                forward
                    .invert()
                    .ok_or_else(|| format!("placement gives a singular matrix {forward}"))
            }
        }
    }
}

/// The border value for frames of `info`: the user's per-component values (one value: every
/// colour component), the rest black and opaque.
fn border_value(info: &gst_video::VideoInfo, user: &[f64]) -> [f64; 4] {
    let finfo = info.format_info();
    let depth_scale = f64::from(1u32 << (finfo.depth()[0] - 8));
    let mut value = if finfo.is_yuv() {
        let luma = match info.colorimetry().range() {
            gst_video::VideoColorRange::Range0_255 => 0.0,
            _ => 16.0,
        };
        [
            luma * depth_scale,
            128.0 * depth_scale,
            128.0 * depth_scale,
            255.0,
        ]
    } else {
        [0.0, 0.0, 0.0, 255.0]
    };
    match user {
        [] => {}
        [single] => value[..3].fill(*single),
        values => {
            for (slot, v) in value.iter_mut().zip(values) {
                *slot = *v;
            }
        }
    }
    value
}

/// Reads a matrix from a structure field holding 6 numbers (an array) or a string.
fn matrix_from_value(value: &glib::SendValue) -> Result<Affine, String> {
    if let Ok(text) = value.get::<&str>() {
        return text.parse();
    }
    let array = value
        .get::<gst::Array>()
        .map_err(|_| format!("matrix of type {} (6 numbers expected)", value.type_()))?;
    let numbers = array
        .iter()
        .map(number)
        .collect::<Result<Vec<f64>, String>>()?;
    let values: [f64; 6] = numbers.try_into().map_err(|v: Vec<f64>| {
        format!(
            "a 2x3 affine matrix has 6 numbers, the array has {}",
            v.len()
        )
    })?;
    let matrix = Affine(values);
    if !matrix.is_finite() {
        return Err(format!("matrix {matrix} has a value that is not finite"));
    }
    Ok(matrix)
}

/// A matrix (and optional `inverse-map`) from the structure of our meta or event.
fn matrix_from_structure(s: &gst::StructureRef) -> Result<(Affine, Option<bool>), String> {
    let value = s
        .value("matrix")
        .map_err(|_| format!("{} has no 'matrix' field", s.name()))?;
    let matrix = matrix_from_value(value)?;
    let inverse = s.get::<bool>("inverse-map").ok();
    Ok((matrix, inverse))
}

fn matrix_to_array(m: &Affine) -> gst::Array {
    gst::Array::new(m.0.iter().map(|v| v.to_send_value()))
}

struct Negotiated {
    in_info: gst_video::VideoInfo,
    out_info: gst_video::VideoInfo,
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
pub struct CudaWarpAffine {
    settings: Mutex<Settings>,
    state: Mutex<Option<State>>,
    refusals: Refusals,
    /// The matrix of the last frame (forward, or inverse as `inverse-map` says), for reading
    /// back; kept after the element stops, cleared when a property changes.
    last_matrix: Mutex<Option<Affine>>,
}

impl CudaWarpAffine {
    fn post_cuda_error(&self, error: &CudaError) -> gst::FlowError {
        self.obj().post_error_message(error.to_error_message());
        gst::FlowError::Error
    }

    /// The matrix to report through the `matrix` properties: the one the last frame used, the
    /// user's, or the placement's for the negotiated sizes.
    fn reported_matrix(&self) -> Option<Affine> {
        if let Some(m) = *self.last_matrix.lock().unwrap() {
            return Some(m);
        }
        let settings = self.settings.lock().unwrap().clone();
        let state = self.state.lock().unwrap();
        if settings.matrix.is_some() {
            return settings.matrix;
        }
        let n = state.as_ref()?.negotiated.as_ref()?;
        let inverse = settings
            .inverse_matrix(
                None,
                (n.in_info.width(), n.in_info.height()),
                (n.out_info.width(), n.out_info.height()),
            )
            .ok()?;
        if settings.inverse_map {
            Some(inverse)
        } else {
            inverse.invert()
        }
    }

    fn set_user_matrix(&self, matrix: Option<Affine>) {
        self.settings.lock().unwrap().matrix = matrix;
        *self.last_matrix.lock().unwrap() = None;
    }

    fn refuse(&self, property: &str, why: &str) {
        property::refuse(self.obj().upcast_ref(), *CAT, property, why);
    }

    /// The size of the negotiated input, against which a crop set while running is checked.
    fn input_size(&self) -> Option<(u32, u32)> {
        let state = self.state.lock().unwrap();
        let n = state.as_ref()?.negotiated.as_ref()?;
        Some((n.in_info.width(), n.in_info.height()))
    }
}

/// The caps on the other pad for `caps` on the pad of `direction`: the same video at any size
/// and pixel aspect ratio (towards the source pad, the size properties pin the size), in CUDA
/// or system memory.
fn transform(settings: &Settings, direction: gst::PadDirection, caps: &gst::Caps) -> gst::Caps {
    if caps.is_any() {
        return caps.clone();
    }
    let mut other = gst::Caps::new_empty();
    let features_list = [filter::cuda_features(), gst::CapsFeatures::new_empty()];
    for features in features_list {
        for s in caps.iter() {
            let mut s = s.to_owned();
            s.remove_fields(RESIZED_FIELDS.iter().copied());
            let fixed = |v: u32| v > 0 && direction == gst::PadDirection::Sink;
            if fixed(settings.width) {
                s.set("width", settings.width as i32);
            } else {
                s.set("width", gst::IntRange::new(1, i32::MAX));
            }
            if fixed(settings.height) {
                s.set("height", settings.height as i32);
            } else {
                s.set("height", gst::IntRange::new(1, i32::MAX));
            }
            s.set(
                "pixel-aspect-ratio",
                gst::FractionRange::new(
                    gst::Fraction::new(1, i32::MAX),
                    gst::Fraction::new(i32::MAX, 1),
                ),
            );
            other.merge_structure_full(s, Some(features.clone()));
        }
    }
    other
}

/// Why downstream takes nothing `name` makes of `incaps`.
fn refusal(name: &str, settings: &Settings, incaps: &gst::Caps, downstream: &Downstream) -> String {
    let offered = transform(settings, gst::PadDirection::Sink, incaps);
    negotiation::explain(name, &offered, downstream, |field| match field {
        "width" if settings.width > 0 => Some(format!(
            "property width={}; 0 takes it from downstream",
            settings.width
        )),
        "height" if settings.height > 0 => Some(format!(
            "property height={}; 0 takes it from downstream",
            settings.height
        )),
        "format" => Some(format!(
            "{name} keeps the format; cudacvtcolor after it converts"
        )),
        _ => Some(format!("{name} keeps the input's")),
    })
}

/// The output size for an input of `in_size`: the properties' when set (one of them set: the
/// other keeps the input's aspect ratio), else `peer`'s (what downstream fixed), else the input's.
fn output_size(
    settings: &Settings,
    in_size: (u32, u32),
    peer: (Option<u32>, Option<u32>),
) -> (u32, u32) {
    let (w, h) = (settings.width, settings.height);
    // Clamped to what caps can say: a 1x1000000 input with width=16384 gives 1.6e10 rows, which
    // `as u32` truncated to an unrelated size (or a negative caps int).
    let scaled = |a: u32, num: u32, den: u32| {
        ((u64::from(a) * u64::from(num) + u64::from(den) / 2) / u64::from(den))
            .clamp(1, i32::MAX as u64) as u32
    };
    match (w, h) {
        (0, 0) => (peer.0.unwrap_or(in_size.0), peer.1.unwrap_or(in_size.1)),
        (w, 0) => (w, peer.1.unwrap_or_else(|| scaled(in_size.1, w, in_size.0))),
        (0, h) => (peer.0.unwrap_or_else(|| scaled(in_size.0, h, in_size.1)), h),
        (w, h) => (w, h),
    }
}

#[glib::object_subclass]
impl ObjectSubclass for CudaWarpAffine {
    const NAME: &'static str = "GstRsCudaWarpAffine";
    type Type = super::CudaWarpAffine;
    type ParentType = gst_base::BaseTransform;
}

impl ObjectImpl for CudaWarpAffine {
    fn properties() -> &'static [glib::ParamSpec] {
        static PROPERTIES: LazyLock<Vec<glib::ParamSpec>> = LazyLock::new(|| {
            vec![
                filter::device_id_property("warp"),
                glib::ParamSpecUInt::builder("width")
                    .nick("Width")
                    .blurb("Output width; 0: from downstream caps, else the input's (or kept in proportion to height)")
                    .default_value(DEFAULT_SIZE)
                    .maximum(MAX_SIZE)
                    .mutable_ready()
                    .build(),
                glib::ParamSpecUInt::builder("height")
                    .nick("Height")
                    .blurb("Output height; 0: from downstream caps, else the input's (or kept in proportion to width)")
                    .default_value(DEFAULT_SIZE)
                    .maximum(MAX_SIZE)
                    .mutable_ready()
                    .build(),
                gst::ParamSpecArray::builder("matrix")
                    .nick("Matrix")
                    .blurb(
                        "2x3 affine matrix <a, b, c, d, e, f> (OpenCV's M: source -> output, or \
                         output -> source with inverse-map); overrides the placement properties. \
                         Reads back the matrix in use. Settable while playing",
                    )
                    .element_spec(
                        &glib::ParamSpecDouble::builder("value")
                            .nick("Value")
                            .blurb("Matrix element")
                            .build(),
                    )
                    .mutable_playing()
                    .build(),
                glib::ParamSpecString::builder("matrix-string")
                    .nick("Matrix as text")
                    .blurb("The matrix property as text: \"a b c; d e f\" (commas work too)")
                    .mutable_playing()
                    .build(),
                glib::ParamSpecBoolean::builder("inverse-map")
                    .nick("Inverse map")
                    .blurb("The matrix maps output pixels to source pixels (OpenCV's WARP_INVERSE_MAP)")
                    .default_value(DEFAULT_INVERSE_MAP)
                    .mutable_playing()
                    .build(),
                glib::ParamSpecEnum::builder_with_default("interpolation", DEFAULT_INTERPOLATION)
                    .nick("Interpolation")
                    .blurb("How output pixels are computed from the source")
                    .mutable_playing()
                    .build(),
                glib::ParamSpecEnum::builder_with_default("border-mode", DEFAULT_BORDER)
                    .nick("Border mode")
                    .blurb("What is read outside the source")
                    .mutable_playing()
                    .build(),
                gst::ParamSpecArray::builder("border-value")
                    .nick("Border value")
                    .blurb(
                        "Constant border per component in code values (R, G, B, A or Y, U, V; \
                         10-bit values for P010); one value: every colour component; empty: black",
                    )
                    .element_spec(
                        &glib::ParamSpecDouble::builder("value")
                            .nick("Value")
                            .blurb("Component value")
                            .minimum(0.0)
                            .maximum(MAX_BORDER_VALUE)
                            .build(),
                    )
                    .mutable_playing()
                    .build(),
                glib::ParamSpecEnum::builder_with_default("fit", DEFAULT_FIT)
                    .nick("Fit")
                    .blurb("How the (cropped) source is fitted into the output size")
                    .mutable_playing()
                    .build(),
                glib::ParamSpecUInt::builder("crop-x")
                    .nick("Crop x")
                    .blurb("Left of the source rectangle to use")
                    .maximum(MAX_CROP)
                    .mutable_playing()
                    .build(),
                glib::ParamSpecUInt::builder("crop-y")
                    .nick("Crop y")
                    .blurb("Top of the source rectangle to use")
                    .maximum(MAX_CROP)
                    .mutable_playing()
                    .build(),
                glib::ParamSpecUInt::builder("crop-width")
                    .nick("Crop width")
                    .blurb("Width of the source rectangle to use; 0: to the right edge")
                    .maximum(MAX_CROP)
                    .mutable_playing()
                    .build(),
                glib::ParamSpecUInt::builder("crop-height")
                    .nick("Crop height")
                    .blurb("Height of the source rectangle to use; 0: to the bottom edge")
                    .maximum(MAX_CROP)
                    .mutable_playing()
                    .build(),
                glib::ParamSpecDouble::builder("rotation")
                    .nick("Rotation")
                    .blurb("Rotation about the output's centre, degrees counter-clockwise")
                    .minimum(-360.0)
                    .maximum(360.0)
                    .default_value(DEFAULT_ROTATION)
                    .mutable_playing()
                    .build(),
                glib::ParamSpecBoolean::builder("flip-horizontal")
                    .nick("Flip horizontally")
                    .blurb("Mirror left and right")
                    .default_value(DEFAULT_FLIP)
                    .mutable_playing()
                    .build(),
                glib::ParamSpecBoolean::builder("flip-vertical")
                    .nick("Flip vertically")
                    .blurb("Mirror top and bottom")
                    .default_value(DEFAULT_FLIP)
                    .mutable_playing()
                    .build(),
            ]
        });
        PROPERTIES.as_ref()
    }

    fn set_property(&self, _id: usize, value: &glib::Value, pspec: &glib::ParamSpec) {
        let name = pspec.name();
        match name {
            "matrix" => {
                let array = value.get::<gst::Array>().expect("type checked upstream");
                if array.is_empty() {
                    self.set_user_matrix(None);
                    return;
                }
                match matrix_from_value(&array.to_send_value()) {
                    Ok(m) => self.set_user_matrix(Some(m)),
                    Err(e) => self.refuse(name, &e),
                }
                return;
            }
            "matrix-string" => {
                let text = value
                    .get::<Option<String>>()
                    .expect("type checked upstream");
                match text.as_deref().map(str::trim) {
                    None | Some("") => self.set_user_matrix(None),
                    Some(text) => match text.parse::<Affine>() {
                        Ok(m) => self.set_user_matrix(Some(m)),
                        Err(e) => self.refuse(name, &e),
                    },
                }
                return;
            }
            "border-value" => {
                // GLib has checked each element against the element spec.
                let array = value.get::<gst::Array>().expect("type checked upstream");
                let values: Vec<f64> = array
                    .iter()
                    .map(|v| v.get::<f64>().expect("type checked upstream"))
                    .collect();
                if values.len() > 4 {
                    self.refuse(
                        name,
                        &format!(
                            "1 to 4 values (one per component) expected, got {}",
                            values.len()
                        ),
                    );
                    return;
                }
                self.settings.lock().unwrap().border_value = values;
            }
            "crop-x" | "crop-y" | "crop-width" | "crop-height" => {
                let v: u32 = value.get().expect("type checked upstream");
                let input = self.input_size();
                let mut settings = self.settings.lock().unwrap();
                let mut crop = settings.crop;
                match name {
                    "crop-x" => crop.x = v,
                    "crop-y" => crop.y = v,
                    "crop-width" => crop.width = v,
                    _ => crop.height = v,
                }
                // While running, a crop that leaves the input is refused now rather than
                // failing the next frame.
                let candidate = Settings {
                    crop,
                    ..settings.clone()
                };
                if let Some(Err(e)) = input.map(|size| candidate.check_crop(size)) {
                    drop(settings);
                    self.refuse(name, &e);
                    return;
                }
                settings.crop = crop;
            }
            _ => {
                let mut settings = self.settings.lock().unwrap();
                match name {
                    "cuda-device-id" => {
                        settings.device_id = value.get().expect("type checked upstream")
                    }
                    "width" => settings.width = value.get().expect("type checked upstream"),
                    "height" => settings.height = value.get().expect("type checked upstream"),
                    "inverse-map" => {
                        settings.inverse_map = value.get().expect("type checked upstream")
                    }
                    "interpolation" => {
                        settings.interpolation = value.get().expect("type checked upstream")
                    }
                    "border-mode" => settings.border = value.get().expect("type checked upstream"),
                    "fit" => settings.fit = value.get().expect("type checked upstream"),
                    "rotation" => settings.rotation = value.get().expect("type checked upstream"),
                    "flip-horizontal" => {
                        settings.flip_horizontal = value.get().expect("type checked upstream")
                    }
                    "flip-vertical" => {
                        settings.flip_vertical = value.get().expect("type checked upstream")
                    }
                    _ => unimplemented!(),
                }
            }
        }
        // Whatever changed, the reported matrix is recomputed.
        *self.last_matrix.lock().unwrap() = None;
    }

    fn property(&self, _id: usize, pspec: &glib::ParamSpec) -> glib::Value {
        match pspec.name() {
            "matrix" => {
                return self
                    .reported_matrix()
                    .map(|m| matrix_to_array(&m))
                    .unwrap_or_else(|| gst::Array::new(Vec::<glib::SendValue>::new()))
                    .to_value()
            }
            "matrix-string" => return self.reported_matrix().map(|m| m.to_string()).to_value(),
            _ => {}
        }
        let settings = self.settings.lock().unwrap();
        match pspec.name() {
            "cuda-device-id" => settings.device_id.to_value(),
            "width" => settings.width.to_value(),
            "height" => settings.height.to_value(),
            "inverse-map" => settings.inverse_map.to_value(),
            "interpolation" => settings.interpolation.to_value(),
            "border-mode" => settings.border.to_value(),
            "border-value" => {
                gst::Array::new(settings.border_value.iter().map(|v| v.to_send_value())).to_value()
            }
            "fit" => settings.fit.to_value(),
            "crop-x" => settings.crop.x.to_value(),
            "crop-y" => settings.crop.y.to_value(),
            "crop-width" => settings.crop.width.to_value(),
            "crop-height" => settings.crop.height.to_value(),
            "rotation" => settings.rotation.to_value(),
            "flip-horizontal" => settings.flip_horizontal.to_value(),
            "flip-vertical" => settings.flip_vertical.to_value(),
            _ => unimplemented!(),
        }
    }
}

impl GstObjectImpl for CudaWarpAffine {}

impl ElementImpl for CudaWarpAffine {
    fn metadata() -> Option<&'static gst::subclass::ElementMetadata> {
        static ELEMENT_METADATA: LazyLock<gst::subclass::ElementMetadata> = LazyLock::new(|| {
            gst::subclass::ElementMetadata::new(
                "CUDA affine warp",
                "Filter/Effect/Converter/Video/Scaler/Hardware",
                "Warps video with a 2x3 affine matrix on an NVIDIA GPU (resize, crop, rotate, \
                 flip, letterbox), matching OpenCV's warpAffine, in CUDA or system memory",
                "The gst-cudapreproc authors",
            )
        });
        Some(&*ELEMENT_METADATA)
    }

    fn pad_templates() -> &'static [gst::PadTemplate] {
        static PAD_TEMPLATES: LazyLock<Vec<gst::PadTemplate>> = LazyLock::new(|| {
            let caps = filter::video_caps(warp::FORMATS);
            filter::pad_templates(&caps)
        });
        PAD_TEMPLATES.as_ref()
    }
}

impl BaseTransformImpl for CudaWarpAffine {
    const MODE: gst_base::subclass::BaseTransformMode =
        gst_base::subclass::BaseTransformMode::NeverInPlace;
    const PASSTHROUGH_ON_SAME_CAPS: bool = false;
    const TRANSFORM_IP_ON_PASSTHROUGH: bool = false;

    fn start(&self) -> Result<(), gst::ErrorMessage> {
        let device_id = self.settings.lock().unwrap().device_id;
        let cuda = FilterDevice::open(device_id).map_err(|e| e.to_error_message())?;
        gst::info!(CAT, imp = self, "warping on {:?}", cuda.device);
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
        direction: gst::PadDirection,
        caps: &gst::Caps,
        filter: Option<&gst::Caps>,
    ) -> Option<gst::Caps> {
        let settings = self.settings.lock().unwrap().clone();
        let other = transform(&settings, direction, caps);
        let other = match filter {
            Some(filter) => filter.intersect_with_mode(&other, gst::CapsIntersectMode::First),
            None => other,
        };
        gst::debug!(CAT, imp = self, "transformed {caps} into {other}");
        Some(other)
    }

    fn fixate_caps(
        &self,
        direction: gst::PadDirection,
        caps: &gst::Caps,
        othercaps: gst::Caps,
    ) -> gst::Caps {
        let settings = self.settings.lock().unwrap().clone();
        let Some(in_s) = caps.structure(0) else {
            let mut othercaps = othercaps;
            othercaps.fixate();
            return othercaps;
        };
        let chosen = othercaps
            .iter_with_features()
            .position(|(_, f)| f.contains(crate::cuda::CAPS_FEATURE_MEMORY_CUDA))
            .unwrap_or(0);
        let Some((s, features)) = othercaps.iter_with_features().nth(chosen) else {
            return othercaps;
        };
        let mut s = s.to_owned();
        let features = features.to_owned();
        let in_size = (
            in_s.get::<i32>("width").unwrap_or(1).max(1) as u32,
            in_s.get::<i32>("height").unwrap_or(1).max(1) as u32,
        );
        let peer = (
            s.get::<i32>("width").ok().map(|v| v as u32),
            s.get::<i32>("height").ok().map(|v| v as u32),
        );
        let size = if direction == gst::PadDirection::Sink {
            output_size(&settings, in_size, peer)
        } else {
            (peer.0.unwrap_or(in_size.0), peer.1.unwrap_or(in_size.1))
        };
        s.fixate_field_nearest_int("width", size.0 as i32);
        s.fixate_field_nearest_int("height", size.1 as i32);
        for field in ["format", "framerate", "colorimetry", "chroma-site"] {
            if let Ok(value) = in_s.value(field) {
                if !s.has_field(field) {
                    s.set_value(field, value.clone());
                }
            }
        }
        let par = in_s
            .get::<gst::Fraction>("pixel-aspect-ratio")
            .unwrap_or(gst::Fraction::new(1, 1));
        s.fixate_field_nearest_fraction("pixel-aspect-ratio", par);
        let mut out = gst::Caps::new_empty();
        out.get_mut()
            .unwrap()
            .append_structure_full(s, Some(features));
        out.fixate();
        gst::debug!(CAT, imp = self, "fixated to {out}");
        out
    }

    fn set_caps(&self, incaps: &gst::Caps, outcaps: &gst::Caps) -> Result<(), gst::LoggableError> {
        let obj = self.obj();
        let refuse = |why: String| self.refusals.refuse(obj.upcast_ref(), *CAT, &why);
        let in_info = gst_video::VideoInfo::from_caps(incaps)
            .map_err(|_| refuse(format!("invalid input caps {incaps}")))?;
        let out_info = gst_video::VideoInfo::from_caps(outcaps)
            .map_err(|_| refuse(format!("invalid output caps {outcaps}")))?;
        if in_info.format() != out_info.format() {
            return Err(refuse(format!(
                "cudawarpaffine keeps the format: {} in, {} out (put cudacvtcolor before or after it)",
                in_info.format(),
                out_info.format()
            )));
        }
        // What only the frame sizes can judge: the crop, and the matrix they give.
        let settings = self.settings.lock().unwrap().clone();
        let src = (in_info.width(), in_info.height());
        let dst = (out_info.width(), out_info.height());
        settings
            .check_crop(src)
            .and_then(|()| settings.inverse_matrix(None, src, dst))
            .map_err(refuse)?;
        gst::info!(
            CAT,
            imp = self,
            "{} {}x{} -> {}x{}",
            in_info.format(),
            in_info.width(),
            in_info.height(),
            out_info.width(),
            out_info.height()
        );
        let mut state = self.state.lock().unwrap();
        let state = state
            .as_mut()
            .ok_or_else(|| gst::loggable_error!(CAT, "caps set while stopped"))?;
        state.negotiated = Some(Negotiated { in_info, out_info });
        *self.last_matrix.lock().unwrap() = None;
        Ok(())
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

    fn transform_meta<'a>(
        &self,
        outbuf: &mut gst::BufferRef,
        meta: gst::MetaRef<'a, gst::Meta>,
        inbuf: &'a gst::BufferRef,
    ) -> bool {
        // The matrix meta was for this warp; a later warp must not apply it again.
        if meta
            .try_as_custom_meta()
            .is_some_and(|m| m.has_name(MATRIX_META))
        {
            return false;
        }
        self.parent_transform_meta(outbuf, meta, inbuf)
    }

    fn sink_event(&self, event: gst::Event) -> bool {
        if let gst::EventView::Caps(_) = event.view() {
            let obj = self.obj();
            return self.refusals.sink_event(
                obj.upcast_ref(),
                *CAT,
                event,
                |event| self.parent_sink_event(event),
                |caps| {
                    let settings = self.settings.lock().unwrap().clone();
                    let downstream = Downstream::of(obj.src_pad());
                    refusal(&factory_name(&*obj), &settings, caps, &downstream)
                },
            );
        }
        if let gst::EventView::CustomDownstream(custom) = event.view() {
            if let Some(s) = custom.structure().filter(|s| s.name() == MATRIX_EVENT) {
                match matrix_from_structure(s) {
                    Ok((matrix, inverse)) => {
                        gst::debug!(CAT, imp = self, "matrix {matrix} from an event");
                        if let Some(inverse) = inverse {
                            self.settings.lock().unwrap().inverse_map = inverse;
                        }
                        self.set_user_matrix(Some(matrix));
                        self.obj().notify("matrix");
                    }
                    Err(e) => gst::element_imp_warning!(
                        self,
                        gst::StreamError::Format,
                        ["{MATRIX_EVENT} event ignored: {e}"]
                    ),
                }
                return true;
            }
        }
        self.parent_sink_event(event)
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
        let settings = self.settings.lock().unwrap().clone();
        let per_buffer = match gst::meta::CustomMeta::from_buffer(inbuf, MATRIX_META) {
            Ok(meta) => match matrix_from_structure(meta.structure()) {
                Ok((m, inverse)) => Some((m, inverse.unwrap_or(settings.inverse_map))),
                Err(e) => {
                    gst::element_imp_warning!(
                        self,
                        gst::StreamError::Format,
                        ["{MATRIX_META} ignored: {e}"]
                    );
                    None
                }
            },
            Err(_) => None,
        };

        let mut state = self.state.lock().unwrap();
        let state = state.as_mut().ok_or(gst::FlowError::Flushing)?;
        let negotiated = state
            .negotiated
            .as_ref()
            .ok_or(gst::FlowError::NotNegotiated)?;
        let (in_info, out_info) = (&negotiated.in_info, &negotiated.out_info);
        let src_size = (in_info.width(), in_info.height());
        let dst_size = (out_info.width(), out_info.height());
        let inverse = settings
            .inverse_matrix(per_buffer, src_size, dst_size)
            .map_err(|e| {
                gst::element_imp_error!(self, gst::LibraryError::Settings, ["{e}"]);
                gst::FlowError::Error
            })?;
        let reported = if per_buffer.map_or(settings.inverse_map, |(_, inv)| inv) {
            Some(inverse)
        } else {
            inverse.invert()
        };
        *self.last_matrix.lock().unwrap() = reported;

        let warp = Warp {
            format: in_info.format(),
            src_size,
            dst_size,
            inverse,
            interpolation: match settings.interpolation {
                WarpInterpolation::Nearest => Interpolation::Nearest,
                WarpInterpolation::Linear => Interpolation::Linear,
                WarpInterpolation::Cubic => Interpolation::Cubic,
                WarpInterpolation::Area => Interpolation::Area,
            },
            border: match settings.border {
                WarpBorder::Constant => Border::Constant,
                WarpBorder::Replicate => Border::Replicate,
                WarpBorder::Reflect => Border::Reflect,
                WarpBorder::Reflect101 => Border::Reflect101,
                WarpBorder::Wrap => Border::Wrap,
            },
            border_value: border_value(out_info, &settings.border_value),
        };
        let identity = src_size == dst_size && inverse == Affine::IDENTITY;

        let cuda = &mut state.cuda;
        let stream = cuda.stream.clone();
        let result = (|| {
            let input = Input::begin(&stream, inbuf, in_info, &mut cuda.input_staging)?;
            let output = Output::begin(&stream, outbuf, out_info, &mut cuda.output_staging)?;
            if identity {
                frame::copy_frame(&stream, &input.planes, &output.planes, in_info)?;
            } else {
                // SAFETY: the planes come from Input/Output::begin for the negotiated infos,
                // whose format and sizes the warp was built from.
                unsafe { warp.launch(&stream, &input.planes, &output.planes)? };
            }
            input.end(&stream)?;
            output.end(&stream, outbuf, out_info)
        })();
        result.map_err(|e| self.post_cuda_error(&e))?;
        Ok(gst::FlowSuccess::Ok)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_size_keeps_the_aspect_ratio() {
        let settings = Settings {
            width: 224,
            ..Settings::default()
        };
        assert_eq!(
            output_size(&settings, (1920, 1080), (None, None)),
            (224, 126)
        );
        let settings = Settings {
            height: 360,
            ..Settings::default()
        };
        assert_eq!(
            output_size(&settings, (1920, 1080), (None, None)),
            (640, 360)
        );
        assert_eq!(
            output_size(&Settings::default(), (1920, 1080), (Some(300), None)),
            (300, 1080)
        );
        // Found with the filter_caps fuzz target's aspect check: the kept dimension was
        // truncated to 32 bits (1.6e10 rows became 3499098112, then a negative caps int).
        let settings = Settings {
            width: 16384,
            ..Settings::default()
        };
        assert_eq!(
            output_size(&settings, (1, 1_000_000), (None, None)),
            (16384, i32::MAX as u32)
        );
    }

    #[test]
    fn user_matrix_wins_over_placement() {
        let settings = Settings {
            matrix: Some(Affine::scale(2.0, 2.0)),
            fit: WarpFit::Letterbox,
            ..Settings::default()
        };
        let inverse = settings.inverse_matrix(None, (10, 10), (20, 20)).unwrap();
        assert_eq!(inverse, Affine::scale(0.5, 0.5));
        let inverse_map = Settings {
            inverse_map: true,
            ..settings.clone()
        };
        let inverse = inverse_map
            .inverse_matrix(None, (10, 10), (20, 20))
            .unwrap();
        assert_eq!(inverse, Affine::scale(2.0, 2.0));
        let per_buffer = Some((Affine::translate(1.0, 0.0), true));
        assert_eq!(
            settings
                .inverse_matrix(per_buffer, (10, 10), (20, 20))
                .unwrap(),
            Affine::translate(1.0, 0.0)
        );
        let singular = Settings {
            matrix: Some(Affine([1.0, 1.0, 0.0, 1.0, 1.0, 0.0])),
            ..Settings::default()
        };
        assert!(singular
            .inverse_matrix(None, (10, 10), (20, 20))
            .unwrap_err()
            .contains("singular"));
    }

    #[test]
    fn border_defaults_to_black() {
        gst::init().unwrap();
        let info = |format, colorimetry: &str| {
            let mut caps = gst_video::VideoCapsBuilder::new()
                .format(format)
                .width(16)
                .height(16)
                .framerate(gst::Fraction::new(30, 1))
                .build();
            caps.get_mut().unwrap().set("colorimetry", colorimetry);
            gst_video::VideoInfo::from_caps(&caps).unwrap()
        };
        use gst_video::VideoFormat as F;
        assert_eq!(
            border_value(&info(F::Nv12, "bt709"), &[]),
            [16.0, 128.0, 128.0, 255.0]
        );
        assert_eq!(
            border_value(&info(F::P01010le, "bt709"), &[]),
            [64.0, 512.0, 512.0, 255.0]
        );
        assert_eq!(border_value(&info(F::Nv12, "1:3:5:1"), &[])[0], 0.0);
        assert_eq!(
            border_value(&info(F::Rgba, "sRGB"), &[]),
            [0.0, 0.0, 0.0, 255.0]
        );
        assert_eq!(
            border_value(&info(F::Rgb, "sRGB"), &[114.0]),
            [114.0, 114.0, 114.0, 255.0]
        );
        assert_eq!(
            border_value(&info(F::Rgba, "sRGB"), &[1.0, 2.0, 3.0, 4.0]),
            [1.0, 2.0, 3.0, 4.0]
        );
    }

    #[test]
    fn crop_reaches_the_edges_and_must_fit() {
        let crop = |x, y, width, height| Settings {
            crop: Rect {
                x,
                y,
                width,
                height,
            },
            ..Settings::default()
        };
        assert_eq!(Settings::default().crop((320, 240)), None);
        assert_eq!(
            crop(10, 20, 0, 0).crop((320, 240)),
            Some(Rect {
                x: 10,
                y: 20,
                width: 310,
                height: 220
            })
        );
        assert!(crop(10, 20, 100, 50).check_crop((320, 240)).is_ok());
        assert_eq!(
            crop(300, 0, 100, 100).check_crop((320, 240)).unwrap_err(),
            "crop-x=300 and crop-width=100 reach beyond the 320x240 input"
        );
        assert_eq!(
            crop(0, 240, 0, 0).check_crop((320, 240)).unwrap_err(),
            "crop-y=240 is outside the 320x240 input"
        );
        // A user matrix leaves the crop unused.
        let with_matrix = Settings {
            matrix: Some(Affine::IDENTITY),
            ..crop(300, 0, 100, 100)
        };
        assert!(with_matrix.check_crop((320, 240)).is_ok());
    }

    #[test]
    fn refusal_names_the_size_properties_and_the_kept_format() {
        gst::init().unwrap();
        let settings = Settings {
            width: 320,
            height: 240,
            ..Settings::default()
        };
        let incaps: gst::Caps = "video/x-raw, format=NV12, width=1920, height=1080, \
                                 framerate=30/1"
            .parse()
            .unwrap();
        let refused = |accepted: &str| {
            refusal(
                "cudawarpaffine",
                &settings,
                &incaps,
                &Downstream {
                    accepted: accepted.parse().unwrap(),
                    next: "sink".into(),
                },
            )
        };
        assert_eq!(
            refused("video/x-raw, width=640"),
            "cudawarpaffine produces width 320 (property width=320; 0 takes it from \
             downstream), downstream accepts width 640"
        );
        assert_eq!(
            refused("video/x-raw, format=RGBA"),
            "cudawarpaffine produces format NV12 (cudawarpaffine keeps the format; cudacvtcolor \
             after it converts), downstream accepts format RGBA"
        );
    }
}
