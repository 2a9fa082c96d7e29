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

crate::property_enum! {
    /// The size a new decoder is made for.
    pub enum DecoderSize("GstCudaPreprocDecoderSize") {
        #[default]
        Stream = 0, "stream", "Stream: the stream's own size";
        Largest = 1, "largest",
            "Largest: the largest stream of its codec and format a decoder of this process was \
             made for, reconfigured down to this one (an element moving between files of mixed \
             sizes then makes one decoder, not one per larger size)";
    }
}

crate::property_enum! {
    /// What the decoder does with interlaced pictures.
    pub enum DeinterlaceMode("GstCudaPreprocDeinterlaceMode") => Deinterlace {
        #[default]
        Weave = 0, "weave", "Weave: both fields in one frame, as coded (interlaced caps)"
            => Deinterlace::Weave;
        Bob = 1, "bob", "Bob: one field, line-doubled (progressive caps)" => Deinterlace::Bob;
        Adaptive = 2, "adaptive", "Adaptive: motion-adaptive deinterlacing (progressive caps)"
            => Deinterlace::Adaptive;
    }
}
