//! `cudaconvert`: video frames to tensors (dtype, layout, channel order, scale/mean/std) on the
//! GPU, with NNStreamer's `other/tensors` caps, and tensors back to video.

use cudapreproc_core::tensor::{DType, Layout};
use gst::glib;

use crate::cudabasetransform::CudaBaseTransform;

mod caps;
mod imp;
mod settings;

glib::wrapper! {
    pub struct CudaConvert(ObjectSubclass<imp::CudaConvert>)
        @extends CudaBaseTransform, gst_base::BaseTransform, gst::Element, gst::Object;
}

#[derive(Debug, Eq, PartialEq, Hash, Clone, Copy, Default, glib::Enum)]
#[repr(u32)]
#[enum_type(name = "GstCudaConvertDType")]
pub enum TensorDType {
    #[enum_value(name = "8-bit unsigned integers (rounded, saturated)", nick = "uint8")]
    Uint8 = 0,
    #[enum_value(name = "IEEE half precision", nick = "float16")]
    Float16 = 1,
    #[enum_value(name = "bfloat16", nick = "bfloat16")]
    Bfloat16 = 2,
    #[default]
    #[enum_value(name = "IEEE single precision", nick = "float32")]
    Float32 = 3,
}

#[derive(Debug, Eq, PartialEq, Hash, Clone, Copy, Default, glib::Enum)]
#[repr(u32)]
#[enum_type(name = "GstCudaConvertLayout")]
pub enum TensorLayout {
    #[default]
    #[enum_value(name = "Channel planes [1, C, H, W]", nick = "nchw")]
    Nchw = 0,
    #[enum_value(name = "Interleaved channels [1, H, W, C]", nick = "nhwc")]
    Nhwc = 1,
}

#[derive(Debug, Eq, PartialEq, Hash, Clone, Copy, Default, glib::Enum)]
#[repr(u32)]
#[enum_type(name = "GstCudaConvertChannelOrder")]
pub enum ChannelOrder {
    #[default]
    #[enum_value(name = "R, G, B (alpha dropped)", nick = "rgb")]
    Rgb = 0,
    #[enum_value(name = "B, G, R (alpha dropped)", nick = "bgr")]
    Bgr = 1,
    #[enum_value(
        name = "R, G, B, A (opaque where the video has no alpha)",
        nick = "rgba"
    )]
    Rgba = 2,
    #[enum_value(
        name = "B, G, R, A (opaque where the video has no alpha)",
        nick = "bgra"
    )]
    Bgra = 3,
}

#[derive(Debug, Eq, PartialEq, Hash, Clone, Copy, Default, glib::Enum)]
#[repr(u32)]
#[enum_type(name = "GstCudaConvertPreset")]
pub enum NormalizationPreset {
    #[default]
    #[enum_value(
        name = "None: scale 1, mean 0, std 1 (values as in the video)",
        nick = "none"
    )]
    None = 0,
    #[enum_value(name = "[0, 1]: scale 1/255", nick = "unit")]
    Unit = 1,
    #[enum_value(name = "[-1, 1]: scale 2/255, mean 1", nick = "symmetric")]
    Symmetric = 2,
    #[enum_value(
        name = "ImageNet: scale 1/255, mean 0.485 0.456 0.406, std 0.229 0.224 0.225",
        nick = "imagenet"
    )]
    Imagenet = 3,
}

impl From<TensorDType> for DType {
    fn from(dtype: TensorDType) -> Self {
        match dtype {
            TensorDType::Uint8 => DType::Uint8,
            TensorDType::Float16 => DType::Float16,
            TensorDType::Bfloat16 => DType::Bfloat16,
            TensorDType::Float32 => DType::Float32,
        }
    }
}

impl From<TensorLayout> for Layout {
    fn from(layout: TensorLayout) -> Self {
        match layout {
            TensorLayout::Nchw => Layout::Nchw,
            TensorLayout::Nhwc => Layout::Nhwc,
        }
    }
}

/// Factory names of the element: the product's `cudaconvert`, and `cudatensorconvert`, which no
/// other plugin uses. GStreamer's own nvcodec plugin registers a `cudaconvert` too (a colour
/// converter) on machines where it finds NVRTC; a registry keeps one feature per name, so there
/// the second name is the one that always reaches this element.
pub const FACTORY_NAMES: [&str; 2] = ["cudaconvert", "cudatensorconvert"];
