//! `cudaconvert`: video frames to tensors (dtype, layout, channel order, scale/mean/std) on the
//! GPU, with NNStreamer's `other/tensors` caps, and tensors back to video.

use cudapreproc_core::tensor::{DType, Layout, Normalization};
use gst::glib;

use crate::cudabasetransform::CudaBaseTransform;

mod caps;
mod imp;
mod settings;

glib::wrapper! {
    pub struct CudaConvert(ObjectSubclass<imp::CudaConvert>)
        @extends CudaBaseTransform, gst_base::BaseTransform, gst::Element, gst::Object;
}

crate::property_enum! {
    pub enum TensorDType("GstCudaConvertDType") => DType {
        Uint8 = 0, "uint8", "8-bit unsigned integers (rounded, saturated)" => DType::Uint8;
        Float16 = 1, "float16", "IEEE half precision" => DType::Float16;
        Bfloat16 = 2, "bfloat16", "bfloat16" => DType::Bfloat16;
        #[default]
        Float32 = 3, "float32", "IEEE single precision" => DType::Float32;
    }
}

crate::property_enum! {
    pub enum TensorLayout("GstCudaConvertLayout") => Layout {
        #[default]
        Nchw = 0, "nchw", "Channel planes [1, C, H, W]" => Layout::Nchw;
        Nhwc = 1, "nhwc", "Interleaved channels [1, H, W, C]" => Layout::Nhwc;
    }
}

crate::property_enum! {
    pub enum ChannelOrder("GstCudaConvertChannelOrder") {
        #[default]
        Rgb = 0, "rgb", "R, G, B (alpha dropped)";
        Bgr = 1, "bgr", "B, G, R (alpha dropped)";
        Rgba = 2, "rgba", "R, G, B, A (opaque where the video has no alpha)";
        Bgra = 3, "bgra", "B, G, R, A (opaque where the video has no alpha)";
    }
}

crate::property_enum! {
    pub enum NormalizationPreset("GstCudaConvertPreset") => Normalization<3> {
        #[default]
        None = 0, "none", "None: scale 1, mean 0, std 1 (values as in the video)"
            => Normalization::IDENTITY;
        Unit = 1, "unit", "[0, 1]: scale 1/255" => Normalization::UNIT;
        Symmetric = 2, "symmetric", "[-1, 1]: scale 2/255, mean 1" => Normalization::SYMMETRIC;
        Imagenet = 3, "imagenet",
            "ImageNet: scale 1/255, mean 0.485 0.456 0.406, std 0.229 0.224 0.225"
            => Normalization::IMAGENET;
    }
}

/// Factory names of the element: the product's `cudaconvert`, and `cudatensorconvert`, which no
/// other plugin uses. GStreamer's own nvcodec plugin registers a `cudaconvert` too (a colour
/// converter) on machines where it finds NVRTC; a registry keeps one feature per name, so there
/// the second name is the one that always reaches this element.
pub const FACTORY_NAMES: [&str; 2] = ["cudaconvert", "cudatensorconvert"];
