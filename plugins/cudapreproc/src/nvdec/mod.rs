//! `nvdec`: hardware decoding with NVDEC through NVIDIA's bitstream parser, into CUDA memory
//! (or system memory when downstream needs it).

use cudapreproc_core::cuvid::Deinterlace;
use gst::glib;

mod caps;
mod client;
mod damage;
mod imp;
mod kept;
mod leading;
mod output;
mod selection;

glib::wrapper! {
    pub struct NvDec(ObjectSubclass<imp::NvDec>)
        @extends gst_video::VideoDecoder, gst::Element, gst::Object;
}

/// What the decoder does with interlaced pictures.
#[derive(Debug, Eq, PartialEq, Ord, PartialOrd, Hash, Clone, Copy, Default, glib::Enum)]
#[repr(u32)]
#[enum_type(name = "GstCudaPreprocDeinterlaceMode")]
pub enum DeinterlaceMode {
    #[default]
    #[enum_value(
        name = "Weave: both fields in one frame, as coded (interlaced caps)",
        nick = "weave"
    )]
    Weave = 0,
    #[enum_value(name = "Bob: one field, line-doubled (progressive caps)", nick = "bob")]
    Bob = 1,
    #[enum_value(
        name = "Adaptive: motion-adaptive deinterlacing (progressive caps)",
        nick = "adaptive"
    )]
    Adaptive = 2,
}

impl From<DeinterlaceMode> for Deinterlace {
    fn from(mode: DeinterlaceMode) -> Self {
        match mode {
            DeinterlaceMode::Weave => Deinterlace::Weave,
            DeinterlaceMode::Bob => Deinterlace::Bob,
            DeinterlaceMode::Adaptive => Deinterlace::Adaptive,
        }
    }
}
