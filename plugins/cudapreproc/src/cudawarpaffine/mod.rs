//! `cudawarpaffine`: 2x3 affine warp (resize, crop, rotate, flip, letterbox as special cases) of
//! YUV, RGB and gray video on the GPU, in CUDA or system memory, matching OpenCV's `warpAffine`.

use cudapreproc_core::geometry::Fit;
use cudapreproc_core::kernels::{Border, Interpolation};
use gst::glib;

use crate::cudabasetransform::CudaBaseTransform;

mod caps;
mod imp;
mod settings;

glib::wrapper! {
    pub struct CudaWarpAffine(ObjectSubclass<imp::CudaWarpAffine>)
        @extends CudaBaseTransform, gst_base::BaseTransform, gst::Element, gst::Object;
}

/// Name of the custom meta (`gst_buffer_add_custom_meta`) that sets the matrix for one buffer.
/// Its structure holds `matrix` (6 doubles, an array or a string) and optionally `inverse-map`.
pub const MATRIX_META: &str = "GstCudaWarpAffineMatrixMeta";

/// Name of the structure of a custom downstream event that sets the matrix for the buffers
/// after it, with the same fields as the meta.
pub const MATRIX_EVENT: &str = "cudawarpaffine-matrix";

#[derive(Debug, Eq, PartialEq, Hash, Clone, Copy, Default, glib::Enum)]
#[repr(u32)]
#[enum_type(name = "GstCudaWarpAffineInterpolation")]
pub enum WarpInterpolation {
    #[enum_value(name = "Nearest neighbour", nick = "nearest")]
    Nearest = 0,
    #[default]
    #[enum_value(name = "Bilinear", nick = "linear")]
    Linear = 1,
    #[enum_value(name = "Bicubic (a = -0.75, as OpenCV)", nick = "cubic")]
    Cubic = 2,
    #[enum_value(
        name = "Area average for axis-aligned downscaling (linear otherwise)",
        nick = "area"
    )]
    Area = 3,
}

#[derive(Debug, Eq, PartialEq, Hash, Clone, Copy, Default, glib::Enum)]
#[repr(u32)]
#[enum_type(name = "GstCudaWarpAffineBorder")]
pub enum WarpBorder {
    #[default]
    #[enum_value(name = "Constant: the border-value", nick = "constant")]
    Constant = 0,
    #[enum_value(name = "Replicate the edge pixel: aaa|abcd|ddd", nick = "replicate")]
    Replicate = 1,
    #[enum_value(name = "Reflect, edge repeated: cba|abcd|dcb", nick = "reflect")]
    Reflect = 2,
    #[enum_value(
        name = "Reflect about the edge pixel: dcb|abcd|cba",
        nick = "reflect-101"
    )]
    Reflect101 = 3,
    #[enum_value(name = "Wrap around: bcd|abcd|abc", nick = "wrap")]
    Wrap = 4,
}

#[derive(Debug, Eq, PartialEq, Hash, Clone, Copy, Default, glib::Enum)]
#[repr(u32)]
#[enum_type(name = "GstCudaWarpAffineFit")]
pub enum WarpFit {
    #[default]
    #[enum_value(
        name = "Stretch to the output size (aspect ratio changes)",
        nick = "stretch"
    )]
    Stretch = 0,
    #[enum_value(
        name = "Keep the aspect ratio, fit inside, centred, borders around (letterbox)",
        nick = "letterbox"
    )]
    Letterbox = 1,
    #[enum_value(
        name = "Keep the aspect ratio, fill the output, centred, overhang cut off",
        nick = "fill"
    )]
    Fill = 2,
}

impl From<WarpInterpolation> for Interpolation {
    fn from(interpolation: WarpInterpolation) -> Self {
        match interpolation {
            WarpInterpolation::Nearest => Interpolation::Nearest,
            WarpInterpolation::Linear => Interpolation::Linear,
            WarpInterpolation::Cubic => Interpolation::Cubic,
            WarpInterpolation::Area => Interpolation::Area,
        }
    }
}

impl From<WarpBorder> for Border {
    fn from(border: WarpBorder) -> Self {
        match border {
            WarpBorder::Constant => Border::Constant,
            WarpBorder::Replicate => Border::Replicate,
            WarpBorder::Reflect => Border::Reflect,
            WarpBorder::Reflect101 => Border::Reflect101,
            WarpBorder::Wrap => Border::Wrap,
        }
    }
}

impl From<WarpFit> for Fit {
    fn from(fit: WarpFit) -> Self {
        match fit {
            WarpFit::Stretch => Fit::Stretch,
            WarpFit::Letterbox => Fit::Letterbox,
            WarpFit::Fill => Fit::Fill,
        }
    }
}

/// Registers the matrix meta, once per process.
pub fn register_meta() {
    if !gst::meta::CustomMeta::is_registered(MATRIX_META) {
        gst::meta::CustomMeta::register(MATRIX_META, &[]);
    }
}
