//! `cudacvtcolor`: colour conversion between Y'CbCr, gray and RGB formats on the GPU, in CUDA
//! or system memory.

use cudapreproc_core::colorspace::{Matrix, Range};
use gst::glib;

use crate::cudabasetransform::CudaBaseTransform;

mod imp;

glib::wrapper! {
    pub struct CudaCvtColor(ObjectSubclass<imp::CudaCvtColor>)
        @extends CudaBaseTransform, gst_base::BaseTransform, gst::Element, gst::Object;
}

/// Y'CbCr matrix to use instead of the caps' colorimetry.
#[derive(Debug, Eq, PartialEq, Ord, PartialOrd, Hash, Clone, Copy, Default, glib::Enum)]
#[repr(u32)]
#[enum_type(name = "GstCudaPreprocColorMatrix")]
pub enum ColorMatrix {
    #[default]
    #[enum_value(
        name = "Auto: from the caps (or GStreamer's default for the size)",
        nick = "auto"
    )]
    Auto = 0,
    #[enum_value(name = "ITU-R BT.601", nick = "bt601")]
    Bt601 = 1,
    #[enum_value(name = "ITU-R BT.709", nick = "bt709")]
    Bt709 = 2,
    #[enum_value(name = "ITU-R BT.2020", nick = "bt2020")]
    Bt2020 = 3,
    #[enum_value(name = "SMPTE 240M", nick = "smpte240m")]
    Smpte240m = 4,
}

/// Quantisation range to use instead of the caps' colorimetry.
#[derive(Debug, Eq, PartialEq, Ord, PartialOrd, Hash, Clone, Copy, Default, glib::Enum)]
#[repr(u32)]
#[enum_type(name = "GstCudaPreprocColorRange")]
pub enum ColorRange {
    #[default]
    #[enum_value(name = "Auto: from the caps (or GStreamer's default)", nick = "auto")]
    Auto = 0,
    #[enum_value(name = "Limited range (16-235 for 8 bits)", nick = "limited")]
    Limited = 1,
    #[enum_value(name = "Full range (0-255 for 8 bits)", nick = "full")]
    Full = 2,
}

/// The matrix a property value asks for; `None` for auto.
impl From<ColorMatrix> for Option<Matrix> {
    fn from(matrix: ColorMatrix) -> Self {
        match matrix {
            ColorMatrix::Auto => None,
            ColorMatrix::Bt601 => Some(Matrix::Bt601),
            ColorMatrix::Bt709 => Some(Matrix::Bt709),
            ColorMatrix::Bt2020 => Some(Matrix::Bt2020),
            ColorMatrix::Smpte240m => Some(Matrix::Smpte240m),
        }
    }
}

/// The range a property value asks for; `None` for auto.
impl From<ColorRange> for Option<Range> {
    fn from(range: ColorRange) -> Self {
        match range {
            ColorRange::Auto => None,
            ColorRange::Limited => Some(Range::Limited),
            ColorRange::Full => Some(Range::Full),
        }
    }
}
