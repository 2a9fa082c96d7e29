#![allow(clippy::non_send_fields_in_send_ty, unused_doc_comments)]

//! GPU-resident video preprocessing for deep learning.

pub mod colorspace;
pub mod cuda;
mod cudacvtcolor;
pub mod cuvid;
pub mod geometry;
mod nvdec;
mod nvdecsrc;

pub use cudacvtcolor::{ColorMatrix, ColorRange, CudaCvtColor};
pub use nvdec::{DeinterlaceMode, NvDec};
pub use nvdecsrc::NvDecSrc;

fn plugin_init(plugin: &gst::Plugin) -> Result<(), glib::BoolError> {
    cudacvtcolor::register(plugin)?;
    nvdec::register(plugin)?;
    nvdecsrc::register(plugin)?;
    Ok(())
}

gst::plugin_define!(
    cudapreproc,
    env!("CARGO_PKG_DESCRIPTION"),
    plugin_init,
    concat!(env!("CARGO_PKG_VERSION"), "-", env!("COMMIT_ID")),
    "MPL",
    env!("CARGO_PKG_NAME"),
    env!("CARGO_PKG_NAME"),
    "Unknown package origin",
    env!("BUILD_REL_DATE")
);
