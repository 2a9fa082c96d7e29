#![allow(clippy::non_send_fields_in_send_ty, unused_doc_comments)]

//! GPU-resident video preprocessing for deep learning: the GStreamer elements. The CUDA, NVDEC,
//! colour and geometry code they are built on is the `cudapreproc-core` crate.

mod cudabasetransform;
mod cudaconvert;
mod cudacvtcolor;
mod cudawarpaffine;
mod nvdec;
mod nvdecsrc;
mod property;
mod tensorsink;

pub use cudabasetransform::{CudaBaseTransform, CudaBaseTransformImpl};
pub use cudaconvert::{ChannelOrder, CudaConvert, NormalizationPreset, TensorDType, TensorLayout};
pub use cudacvtcolor::{ColorMatrix, ColorRange, CudaCvtColor};
pub use cudawarpaffine::{
    CudaWarpAffine, WarpBorder, WarpFit, WarpInterpolation, MATRIX_EVENT as WARP_MATRIX_EVENT,
    MATRIX_META as WARP_MATRIX_META,
};
pub use nvdec::{DeinterlaceMode, NvDec};
pub use nvdecsrc::NvDecSrc;
pub use property::LOG_DOMAIN as PROPERTY_LOG_DOMAIN;
pub use tensorsink::{TensorSink, TENSOR_INFO};

fn plugin_init(plugin: &gst::Plugin) -> Result<(), glib::BoolError> {
    cudacvtcolor::register(plugin)?;
    cudaconvert::register(plugin)?;
    cudawarpaffine::register(plugin)?;
    nvdec::register(plugin)?;
    nvdecsrc::register(plugin)?;
    tensorsink::register(plugin)?;
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
