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

crate::property_enum! {
    pub enum WarpInterpolation("GstCudaWarpAffineInterpolation") => Interpolation {
        Nearest = 0, "nearest", "Nearest neighbour" => Interpolation::Nearest;
        #[default]
        Linear = 1, "linear", "Bilinear" => Interpolation::Linear;
        Cubic = 2, "cubic", "Bicubic (a = -0.75, as OpenCV)" => Interpolation::Cubic;
        Area = 3, "area", "Area average for axis-aligned downscaling (linear otherwise)"
            => Interpolation::Area;
    }
}

crate::property_enum! {
    pub enum WarpBorder("GstCudaWarpAffineBorder") => Border {
        #[default]
        Constant = 0, "constant", "Constant: the border-value" => Border::Constant;
        Replicate = 1, "replicate", "Replicate the edge pixel: aaa|abcd|ddd" => Border::Replicate;
        Reflect = 2, "reflect", "Reflect, edge repeated: cba|abcd|dcb" => Border::Reflect;
        Reflect101 = 3, "reflect-101", "Reflect about the edge pixel: dcb|abcd|cba"
            => Border::Reflect101;
        Wrap = 4, "wrap", "Wrap around: bcd|abcd|abc" => Border::Wrap;
    }
}

crate::property_enum! {
    pub enum WarpFit("GstCudaWarpAffineFit") => Fit {
        #[default]
        Stretch = 0, "stretch", "Stretch to the output size (aspect ratio changes)" => Fit::Stretch;
        Letterbox = 1, "letterbox",
            "Keep the aspect ratio, fit inside, centred, borders around (letterbox)"
            => Fit::Letterbox;
        Fill = 2, "fill", "Keep the aspect ratio, fill the output, centred, overhang cut off"
            => Fit::Fill;
    }
}

/// Registers the matrix meta, once per process.
pub fn register_meta() {
    if !gst::meta::CustomMeta::is_registered(MATRIX_META) {
        gst::meta::CustomMeta::register(MATRIX_META, &[]);
    }
}
