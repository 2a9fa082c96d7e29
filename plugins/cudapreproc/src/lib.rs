#![allow(clippy::non_send_fields_in_send_ty, unused_doc_comments)]

//! GPU-resident video preprocessing for deep learning: the GStreamer elements. The CUDA, NVDEC,
//! colour and geometry code they are built on is the `cudapreproc-core` crate.

use gst::prelude::*;

mod cudabasetransform;
mod cudaconvert;
mod cudacvtcolor;
mod cudawarpaffine;
mod nvdec;
mod nvdecsrc;
mod property;
mod tensorsink;
mod tensorsrc;

pub use cudabasetransform::{CudaBaseTransform, CudaBaseTransformImpl};
pub use cudaconvert::{ChannelOrder, CudaConvert, NormalizationPreset, TensorDType, TensorLayout};
pub use cudacvtcolor::{ColorMatrix, ColorRange, CudaCvtColor};
pub use cudawarpaffine::{
    CudaWarpAffine, WarpBorder, WarpFit, WarpInterpolation, MATRIX_EVENT as WARP_MATRIX_EVENT,
    MATRIX_META as WARP_MATRIX_META,
};
pub use nvdec::{DecoderSize, DeinterlaceMode, NvDec};
pub use nvdecsrc::NvDecSrc;
pub use property::{
    handle_property_warnings, DownstreamSync, GOBJECT_LOG_DOMAIN, LOG_DOMAIN as PROPERTY_LOG_DOMAIN,
};
pub use tensorsink::{sample_info, TensorSink, TENSOR_INFO};
pub use tensorsrc::TensorSrc;

/// Name of the authors in every element's metadata.
const AUTHORS: &str = "The gst-cudapreproc authors";

/// `ElementImpl::metadata` of an element: its long name, classification and description, made
/// once. Used inside `impl ElementImpl`.
macro_rules! element_metadata {
    ($long_name:expr, $classification:expr, $description:expr) => {
        fn metadata() -> Option<&'static gst::subclass::ElementMetadata> {
            static METADATA: std::sync::LazyLock<gst::subclass::ElementMetadata> =
                std::sync::LazyLock::new(|| {
                    gst::subclass::ElementMetadata::new(
                        $long_name,
                        $classification,
                        $description,
                        crate::AUTHORS,
                    )
                });
            Some(&*METADATA)
        }
    };
}
pub(crate) use element_metadata;

/// `ElementImpl::pad_templates` of an element: `$templates` (a `Vec<gst::PadTemplate>`), made
/// once. Used inside `impl ElementImpl`.
macro_rules! element_pad_templates {
    ($templates:expr) => {
        fn pad_templates() -> &'static [gst::PadTemplate] {
            static PAD_TEMPLATES: std::sync::LazyLock<Vec<gst::PadTemplate>> =
                std::sync::LazyLock::new(|| $templates);
            PAD_TEMPLATES.as_ref()
        }
    };
}
pub(crate) use element_pad_templates;

/// The template of an always-present pad named after its direction (`sink` or `src`).
fn always_pad(direction: gst::PadDirection, caps: &gst::Caps) -> gst::PadTemplate {
    let name = match direction {
        gst::PadDirection::Sink => "sink",
        _ => "src",
    };
    gst::PadTemplate::new(name, direction, gst::PadPresence::Always, caps)
        .expect("a valid pad template")
}

/// `CAT`, the module's debug category (visible as `$vis`): its name (the element's factory name,
/// or the part's) and description, made on first use.
macro_rules! debug_category {
    ($vis:vis static CAT = $name:literal, $description:literal) => {
        $vis static CAT: std::sync::LazyLock<gst::DebugCategory> = std::sync::LazyLock::new(|| {
            gst::DebugCategory::new($name, gst::DebugColorFlags::empty(), Some($description))
        });
    };
}
pub(crate) use debug_category;

/// A property's value type: a GLib enum (its type name, then per value a nick and a description
/// for `gst-inspect-1.0`) and, after `=>`, the core type each value maps to with `From`.
macro_rules! property_enum {
    (
        $(#[$meta:meta])*
        pub enum $name:ident($type_name:literal) => $target:ty {
            $($(#[$value_meta:meta])* $value:ident = $number:literal, $nick:literal, $description:literal => $mapped:expr;)+
        }
    ) => {
        crate::property_enum! {
            $(#[$meta])*
            pub enum $name($type_name) {
                $($(#[$value_meta])* $value = $number, $nick, $description;)+
            }
        }

        impl From<$name> for $target {
            fn from(value: $name) -> Self {
                match value {
                    $($name::$value => $mapped,)+
                }
            }
        }
    };
    (
        $(#[$meta:meta])*
        pub enum $name:ident($type_name:literal) {
            $($(#[$value_meta:meta])* $value:ident = $number:literal, $nick:literal, $description:literal;)+
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Eq, PartialEq, Ord, PartialOrd, Hash, Clone, Copy, Default, glib::Enum)]
        #[repr(u32)]
        #[enum_type(name = $type_name)]
        pub enum $name {
            $($(#[$value_meta])* #[enum_value(name = $description, nick = $nick)] $value = $number,)+
        }
    };
}
pub(crate) use property_enum;

fn plugin_init(plugin: &gst::Plugin) -> Result<(), glib::BoolError> {
    cudawarpaffine::register_meta();
    let elements = [
        ("cudacvtcolor", CudaCvtColor::static_type()),
        ("cudawarpaffine", CudaWarpAffine::static_type()),
        ("nvdec", NvDec::static_type()),
        ("nvdecsrc", NvDecSrc::static_type()),
        ("tensorsink", TensorSink::static_type()),
        ("tensorsrc", TensorSrc::static_type()),
    ];
    let convert = cudaconvert::FACTORY_NAMES.map(|name| (name, CudaConvert::static_type()));
    for (name, element_type) in elements.into_iter().chain(convert) {
        gst::Element::register(Some(plugin), name, gst::Rank::NONE, element_type)?;
    }
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
