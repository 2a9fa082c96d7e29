//! `nvdecsrc`: a source bin that reads a file or URI, demuxes and parses its first video stream
//! and decodes it with `nvdec`; one `src` pad, audio and other streams ignored.

use gst::glib;
use gst::prelude::*;

mod imp;

glib::wrapper! {
    pub struct NvDecSrc(ObjectSubclass<imp::NvDecSrc>)
        @extends gst::Bin, gst::Element, gst::Object,
        @implements gst::ChildProxy, gst::URIHandler;
}

pub fn register(plugin: &gst::Plugin) -> Result<(), glib::BoolError> {
    gst::Element::register(
        Some(plugin),
        "nvdecsrc",
        gst::Rank::NONE,
        NvDecSrc::static_type(),
    )
}
