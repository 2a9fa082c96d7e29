use std::sync::{LazyLock, Mutex};

use cudapreproc_core::access::{Input, Media, Output};
use cudapreproc_core::caps;
use cudapreproc_core::cuda::Stream;
use cudapreproc_core::frame::copy_frame;
use cudapreproc_core::geometry::{Affine, Rect};
use cudapreproc_core::kernels::warp::{self, Warp};
use gst::glib;
use gst::prelude::*;
use gst::subclass::prelude::*;
use gst_base::subclass::prelude::*;

use super::caps::fixate;
use super::settings::*;
use super::{MATRIX_EVENT, MATRIX_META};
use crate::cudabasetransform::{
    pad_templates, CudaBaseTransform, CudaBaseTransformImpl, Negotiated, TransformResult,
};
use crate::property::{array_of, factory_name, properties_from_table, PropertyTable, Spec};

crate::debug_category!(static CAT = "cudawarpaffine", "CUDA affine warp");

/// One side of the crop rectangle, as a crop property reaches it.
type CropSide = fn(&mut Rect) -> &mut u32;

/// (width, height) of the input and of the output.
type Sizes = ((u32, u32), (u32, u32));

#[derive(Default)]
pub struct CudaWarpAffine {
    settings: Mutex<Settings>,
    /// Input and output sizes, once negotiated.
    sizes: Mutex<Option<Sizes>>,
    /// The matrix of the last frame (forward, or inverse as `inverse-map` says), for reading
    /// back; kept after the element stops, cleared when a property changes.
    last_matrix: Mutex<Option<Affine>>,
}

impl CudaWarpAffine {
    /// The matrix to report through the `matrix` properties: the one the last frame used, the
    /// user's, or the placement's for the negotiated sizes.
    fn reported_matrix(&self) -> Option<Affine> {
        if let Some(m) = *self.last_matrix.lock().unwrap() {
            return Some(m);
        }
        let settings = self.settings.lock().unwrap().clone();
        if settings.matrix.is_some() {
            return settings.matrix;
        }
        let (src, dst) = (*self.sizes.lock().unwrap())?;
        let inverse = settings.inverse_matrix(None, src, dst).ok()?;
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

    /// The `matrix` property: the matrix in use as an array (empty when none is known yet).
    fn matrix_array(&self) -> glib::Value {
        self.reported_matrix()
            .map(|m| matrix_to_array(&m))
            .unwrap_or_else(|| array_of::<f64>(&[]))
            .to_value()
    }

    /// Takes the user's matrix from the `matrix` property; an empty array goes back to the
    /// placement properties.
    fn set_matrix_array(&self, value: &glib::Value) -> Result<(), String> {
        let array = value.get::<gst::Array>().expect("type checked upstream");
        let matrix = if array.is_empty() {
            None
        } else {
            Some(matrix_from_value(&array.to_send_value())?)
        };
        self.set_user_matrix(matrix);
        Ok(())
    }

    /// Takes the user's matrix from `matrix-string`; none or an empty one goes back to the
    /// placement properties.
    fn set_matrix_string(&self, value: &glib::Value) -> Result<(), String> {
        let text = value
            .get::<Option<String>>()
            .expect("type checked upstream");
        let matrix = match text.as_deref().map(str::trim) {
            None | Some("") => None,
            Some(text) => Some(text.parse::<Affine>()?),
        };
        self.set_user_matrix(matrix);
        Ok(())
    }

    fn set_border_value(&self, value: &glib::Value) -> Result<(), String> {
        // GLib has checked each element against the element spec.
        let array = value.get::<gst::Array>().expect("type checked upstream");
        let values: Vec<f64> = array
            .iter()
            .map(|v| v.get::<f64>().expect("type checked upstream"))
            .collect();
        if values.len() > 4 {
            return Err(format!(
                "1 to 4 values (one per component) expected, got {}",
                values.len()
            ));
        }
        self.settings.lock().unwrap().border_value = values;
        Ok(())
    }

    /// Sets one side of the crop, through `side`. While running, a crop that leaves the input
    /// is refused now rather than failing the next frame.
    fn set_crop(&self, value: &glib::Value, side: CropSide) -> Result<(), String> {
        let input = self.sizes.lock().unwrap().map(|(src, _)| src);
        let mut settings = self.settings.lock().unwrap();
        let mut crop = settings.crop;
        *side(&mut crop) = value.get().expect("type checked upstream");
        let candidate = Settings {
            crop,
            ..settings.clone()
        };
        if let Some(size) = input {
            candidate.check_crop(size)?;
        }
        settings.crop = crop;
        Ok(())
    }
}

#[glib::object_subclass]
impl ObjectSubclass for CudaWarpAffine {
    const NAME: &'static str = "GstRsCudaWarpAffine";
    type Type = super::CudaWarpAffine;
    type ParentType = CudaBaseTransform;
}

/// The `width` or `height` property, `name`; `other` is the other side.
fn output_side_spec(name: &str, other: &str) -> glib::ParamSpec {
    let nick = name[..1].to_uppercase() + &name[1..];
    let blurb = format!(
        "Output {name}; 0: from downstream caps, else the input's (or kept in proportion to \
         {other})"
    );
    Spec::ready(name, &nick, &blurb).uint(0..=MAX_SIZE, DEFAULT_SIZE)
}

static PROPERTIES: LazyLock<PropertyTable<CudaWarpAffine, Settings>> = LazyLock::new(|| {
    let table = PropertyTable::new(*CAT, |imp: &CudaWarpAffine| &imp.settings)
        .field(output_side_spec("width", "height"), |s| &mut s.width)
        .field(output_side_spec("height", "width"), |s| &mut s.height)
        .property(
            Spec::playing(
                "matrix",
                "Matrix",
                "2x3 affine matrix <a, b, c, d, e, f> (OpenCV's M: source -> output, or output \
                 -> source with inverse-map); overrides the placement properties. Reads back the \
                 matrix in use. Settable while playing",
            )
            .array(
                Spec::element("value", "Value", "Matrix element").double(f64::MIN..=f64::MAX, 0.0),
            ),
            CudaWarpAffine::matrix_array,
            CudaWarpAffine::set_matrix_array,
        )
        .property(
            Spec::playing(
                "matrix-string",
                "Matrix as text",
                "The matrix property as text: \"a b c; d e f\" (commas work too)",
            )
            .string(),
            |imp| imp.reported_matrix().map(|m| m.to_string()).to_value(),
            CudaWarpAffine::set_matrix_string,
        )
        .field(
            Spec::playing(
                "inverse-map",
                "Inverse map",
                "The matrix maps output pixels to source pixels (OpenCV's WARP_INVERSE_MAP)",
            )
            .boolean(DEFAULT_INVERSE_MAP),
            |s| &mut s.inverse_map,
        )
        .field(
            Spec::playing(
                "interpolation",
                "Interpolation",
                "How output pixels are computed from the source",
            )
            .enumeration(DEFAULT_INTERPOLATION),
            |s| &mut s.interpolation,
        )
        .field(
            Spec::playing(
                "border-mode",
                "Border mode",
                "What is read outside the source",
            )
            .enumeration(DEFAULT_BORDER),
            |s| &mut s.border,
        )
        .property(
            Spec::playing(
                "border-value",
                "Border value",
                "Constant border per component in code values (R, G, B, A or Y, U, V; 10-bit \
                 values for P010); one value: every colour component; empty: black",
            )
            .array(
                Spec::element("value", "Value", "Component value")
                    .double(0.0..=MAX_BORDER_VALUE, 0.0),
            ),
            |imp| array_of(&imp.settings.lock().unwrap().border_value).to_value(),
            CudaWarpAffine::set_border_value,
        )
        .field(
            Spec::playing(
                "fit",
                "Fit",
                "How the (cropped) source is fitted into the output size",
            )
            .enumeration(DEFAULT_FIT),
            |s| &mut s.fit,
        );
    // The four sides of the crop, each read and set (checked against the input while running)
    // through `side`.
    let crop_sides: [(&str, &str, &str, CropSide); 4] = [
        (
            "crop-x",
            "Crop x",
            "Left of the source rectangle to use",
            |r| &mut r.x,
        ),
        (
            "crop-y",
            "Crop y",
            "Top of the source rectangle to use",
            |r| &mut r.y,
        ),
        (
            "crop-width",
            "Crop width",
            "Width of the source rectangle to use; 0: to the right edge",
            |r| &mut r.width,
        ),
        (
            "crop-height",
            "Crop height",
            "Height of the source rectangle to use; 0: to the bottom edge",
            |r| &mut r.height,
        ),
    ];
    crop_sides
        .into_iter()
        .fold(table, |table, (name, nick, blurb, side)| {
            table.property(
                Spec::playing(name, nick, blurb).uint(0..=MAX_CROP, 0),
                move |imp| side(&mut imp.settings.lock().unwrap().crop).to_value(),
                move |imp, value| imp.set_crop(value, side),
            )
        })
        .field(
            Spec::playing(
                "rotation",
                "Rotation",
                "Rotation about the output's centre, degrees counter-clockwise",
            )
            .double(-360.0..=360.0, DEFAULT_ROTATION),
            |s| &mut s.rotation,
        )
        .field(
            Spec::playing(
                "flip-horizontal",
                "Flip horizontally",
                "Mirror left and right",
            )
            .boolean(DEFAULT_FLIP),
            |s| &mut s.flip_horizontal,
        )
        .field(
            Spec::playing("flip-vertical", "Flip vertically", "Mirror top and bottom")
                .boolean(DEFAULT_FLIP),
            |s| &mut s.flip_vertical,
        )
        // Whatever changed, the reported matrix is recomputed.
        .after_change(|imp| *imp.last_matrix.lock().unwrap() = None)
});

impl ObjectImpl for CudaWarpAffine {
    properties_from_table!(PROPERTIES);
}

impl GstObjectImpl for CudaWarpAffine {}

impl ElementImpl for CudaWarpAffine {
    crate::element_metadata!(
        "CUDA affine warp",
        "Filter/Effect/Converter/Video/Scaler/Hardware",
        "Warps video with a 2x3 affine matrix on an NVIDIA GPU (resize, crop, rotate, \
         flip, letterbox), matching OpenCV's warpAffine, in CUDA or system memory"
    );

    crate::element_pad_templates!(pad_templates(&caps::video_caps(warp::FORMATS)));
}

impl BaseTransformImpl for CudaWarpAffine {
    const MODE: gst_base::subclass::BaseTransformMode =
        gst_base::subclass::BaseTransformMode::NeverInPlace;
    const PASSTHROUGH_ON_SAME_CAPS: bool = false;
    const TRANSFORM_IP_ON_PASSTHROUGH: bool = false;

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

    /// The matrix event; everything else, caps included, goes to the base class.
    fn sink_event(&self, event: gst::Event) -> bool {
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
}

impl CudaBaseTransformImpl for CudaWarpAffine {
    fn other_caps(&self, direction: gst::PadDirection, caps: &gst::Caps) -> gst::Caps {
        let settings = self.settings.lock().unwrap().clone();
        settings.other_caps(direction, caps)
    }

    fn fixate(&self, dir: gst::PadDirection, caps: &gst::Caps, other: gst::Caps) -> gst::Caps {
        let settings = self.settings.lock().unwrap().clone();
        fixate(&settings, dir, caps, other)
    }

    fn set_info(&self, negotiated: &Negotiated) -> Result<(), String> {
        let (Media::Video(in_info), Media::Video(out_info)) =
            (&negotiated.input, &negotiated.output)
        else {
            return Err("cudawarpaffine warps video, not tensors".into());
        };
        if in_info.format() != out_info.format() {
            return Err(format!(
                "cudawarpaffine keeps the format: {} in, {} out (put cudacvtcolor before or after it)",
                in_info.format(),
                out_info.format()
            ));
        }
        // What only the frame sizes can judge: the crop, and the matrix they give.
        let settings = self.settings.lock().unwrap().clone();
        let src = (in_info.width(), in_info.height());
        let dst = (out_info.width(), out_info.height());
        settings
            .check_crop(src)
            .and_then(|()| settings.inverse_matrix(None, src, dst))?;
        gst::info!(
            CAT,
            imp = self,
            "{} {}x{} -> {}x{}",
            in_info.format(),
            src.0,
            src.1,
            dst.0,
            dst.1
        );
        *self.sizes.lock().unwrap() = Some((src, dst));
        *self.last_matrix.lock().unwrap() = None;
        Ok(())
    }

    fn transform_frames(&self, stream: &Stream, src: &Input, dst: &mut Output) -> TransformResult {
        let settings = self.settings.lock().unwrap().clone();
        let per_buffer = match gst::meta::CustomMeta::from_buffer(src.buffer(), MATRIX_META) {
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
        let border = border_value(
            dst.media().video_info().expect("video output"),
            &settings.border_value,
        );
        let (src, mut dst) = (src.video()?, dst.video()?);
        let src_size = (src.width(), src.height());
        let dst_size = (dst.width(), dst.height());
        let inverse = settings
            .inverse_matrix(per_buffer, src_size, dst_size)
            .map_err(|e| gst::error_msg!(gst::LibraryError::Settings, ["{e}"]))?;
        let reported = if per_buffer.map_or(settings.inverse_map, |(_, inv)| inv) {
            Some(inverse)
        } else {
            inverse.invert()
        };
        *self.last_matrix.lock().unwrap() = reported;

        if src_size == dst_size && inverse == Affine::IDENTITY {
            copy_frame(stream, &src, &mut dst)?;
            return Ok(());
        }
        let warp = Warp {
            format: src.format(),
            src_size,
            dst_size,
            inverse,
            interpolation: settings.interpolation.into(),
            border: settings.border.into(),
            border_value: border,
        };
        warp.launch(stream, &src, &mut dst)?;
        Ok(())
    }

    fn hint(&self, _caps: &gst::Caps, field: &str) -> Option<String> {
        let settings = self.settings.lock().unwrap().clone();
        settings.hint(&factory_name(&*self.obj()), field)
    }
}
