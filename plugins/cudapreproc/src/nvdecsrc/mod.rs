//! `nvdecsrc`: a source bin that reads a file or URI, demuxes and parses its first video stream
//! and decodes it with `nvdec`; one `src` pad, audio and other streams ignored.

use gst::glib;

mod imp;
mod watchdog;

glib::wrapper! {
    pub struct NvDecSrc(ObjectSubclass<imp::NvDecSrc>)
        @extends gst::Bin, gst::Element, gst::Object,
        @implements gst::ChildProxy, gst::URIHandler;
}
