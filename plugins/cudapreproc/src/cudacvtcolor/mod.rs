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

crate::property_enum! {
    /// Y'CbCr matrix to use instead of the caps' colorimetry; `None` for auto.
    pub enum ColorMatrix("GstCudaPreprocColorMatrix") => Option<Matrix> {
        #[default]
        Auto = 0, "auto", "Auto: from the caps (or GStreamer's default for the size)" => None;
        Bt601 = 1, "bt601", "ITU-R BT.601" => Some(Matrix::Bt601);
        Bt709 = 2, "bt709", "ITU-R BT.709" => Some(Matrix::Bt709);
        Bt2020 = 3, "bt2020", "ITU-R BT.2020" => Some(Matrix::Bt2020);
        Smpte240m = 4, "smpte240m", "SMPTE 240M" => Some(Matrix::Smpte240m);
    }
}

crate::property_enum! {
    /// Quantisation range to use instead of the caps' colorimetry; `None` for auto.
    pub enum ColorRange("GstCudaPreprocColorRange") => Option<Range> {
        #[default]
        Auto = 0, "auto", "Auto: from the caps (or GStreamer's default)" => None;
        Limited = 1, "limited", "Limited range (16-235 for 8 bits)" => Some(Range::Limited);
        Full = 2, "full", "Full range (0-255 for 8 bits)" => Some(Range::Full);
    }
}
