//! `CudaBaseTransform`: the base class of the CUDA filters (`cudacvtcolor`, `cudawarpaffine`,
//! `cudaconvert`), as upstream's `GstCudaBaseTransform` is of theirs. It owns what every CUDA
//! filter does the same way:
//!
//! - the `cuda-device-id` property, the device and stream from start to stop, and following the
//!   GPU of the incoming CUDA memory when the property is -1;
//! - the `downstream-sync` property: how writes into a downstream GStreamer element's CUDA
//!   buffers are finished before they are pushed;
//! - caps in both memory kinds (the subclass says what the other pad carries, the base applies
//!   the peer's filter and prefers CUDA memory when fixating), and the output size of a frame or
//!   tensor;
//! - the allocation query (video meta proposed upstream, a bounded pool of our device memory
//!   decided for CUDA output);
//! - bringing each input and output onto the device ([`cudapreproc_core::access`]) around the
//!   subclass's work, and posting its errors;
//! - saying why caps were refused, once per caps event.
//!
//! A subclass implements [`CudaBaseTransformImpl`]: `other_caps`, `set_info` and
//! `transform_frames`, and optionally `fixate` and `hint`. Its `BaseTransformImpl` only names
//! the mode ([`never_in_place`]).

use cudapreproc_core::access::{Input, Media, Output};
use cudapreproc_core::caps::fixate_preferring_cuda;
use cudapreproc_core::cuda::Stream;
use gst::glib;
use gst::prelude::*;
use gst::subclass::prelude::*;
use gst_base::subclass::prelude::*;

mod imp;

glib::wrapper! {
    pub struct CudaBaseTransform(ObjectSubclass<imp::CudaBaseTransform>)
        @extends gst_base::BaseTransform, gst::Element, gst::Object;
}

/// What the pads negotiated: the caps, and what they carry.
#[derive(Debug)]
pub struct Negotiated {
    pub incaps: gst::Caps,
    pub outcaps: gst::Caps,
    pub input: Media,
    pub output: Media,
}

/// What [`CudaBaseTransformImpl::transform_frames`] returns; the base posts the error.
pub type TransformResult = Result<(), gst::ErrorMessage>;

/// The `BaseTransformImpl` of a CUDA filter that overrides nothing of BaseTransform itself: the
/// mode the base class works in.
macro_rules! never_in_place {
    ($filter:ty) => {
        impl gst_base::subclass::prelude::BaseTransformImpl for $filter {
            const MODE: gst_base::subclass::BaseTransformMode =
                gst_base::subclass::BaseTransformMode::NeverInPlace;
            const PASSTHROUGH_ON_SAME_CAPS: bool = false;
            const TRANSFORM_IP_ON_PASSTHROUGH: bool = false;
        }
    };
}
pub(crate) use never_in_place;

/// What a CUDA filter implements.
pub trait CudaBaseTransformImpl: BaseTransformImpl {
    /// The caps the other pad can carry for `caps` on the pad of `direction` (the base narrows
    /// them with the peer's filter, and answers ANY caps with ANY itself).
    fn other_caps(&self, direction: gst::PadDirection, caps: &gst::Caps) -> gst::Caps;

    /// Fixates `other` (what the other pad allows) for the fixed `caps` on the pad of `dir`. By
    /// default the first structure in CUDA memory, fixated.
    fn fixate(&self, _dir: gst::PadDirection, _caps: &gst::Caps, other: gst::Caps) -> gst::Caps {
        fixate_preferring_cuda(&other)
    }

    /// Takes the negotiated input and output. `Err` refuses them, saying why: the base posts it
    /// as the negotiation error.
    fn set_info(&self, negotiated: &Negotiated) -> Result<(), String>;

    /// Queues the work turning `src` into `dst` on `stream`; the base brackets it with the
    /// ordering of both buffers' memory and posts an error returned here.
    fn transform_frames(&self, stream: &Stream, src: &Input, dst: &mut Output) -> TransformResult;

    /// What decides `field` of what the filter makes of `caps` (the property, or what would
    /// help), for the error the base posts when downstream takes none of it: a caps event that
    /// fails before `set_info` could say why. By default nothing is added to the fields in
    /// conflict.
    fn hint(&self, _caps: &gst::Caps, _field: &str) -> Option<String> {
        None
    }
}

/// Class struct of `CudaBaseTransform`: the subclass's virtual methods.
#[repr(C)]
pub struct Class {
    parent: gst_base::ffi::GstBaseTransformClass,
    other_caps: fn(&CudaBaseTransform, gst::PadDirection, &gst::Caps) -> gst::Caps,
    fixate: fn(&CudaBaseTransform, gst::PadDirection, &gst::Caps, gst::Caps) -> gst::Caps,
    set_info: fn(&CudaBaseTransform, &Negotiated) -> Result<(), String>,
    transform_frames: fn(&CudaBaseTransform, &Stream, &Input, &mut Output) -> TransformResult,
    hint: fn(&CudaBaseTransform, &gst::Caps, &str) -> Option<String>,
}

// SAFETY: `Class` starts with its parent's class struct, as GObject requires.
unsafe impl ClassStruct for Class {
    type Type = imp::CudaBaseTransform;
}

/// The implementation of the subclass `T` behind `obj`. The type check cannot fail: `T`'s class
/// functions are only called on instances of `T`.
fn subclass_of<T: CudaBaseTransformImpl>(obj: &CudaBaseTransform) -> &T {
    obj.dynamic_cast_ref::<T::Type>()
        .expect("a class function called on an instance of its class")
        .imp()
}

// SAFETY: `class_init` chains up to BaseTransform's and fills in every field of `Class`.
unsafe impl<T: CudaBaseTransformImpl> IsSubclassable<T> for CudaBaseTransform {
    fn class_init(class: &mut glib::Class<Self>) {
        Self::parent_class_init::<T>(class);
        let class = class.as_mut();
        class.other_caps = |obj, direction, caps| subclass_of::<T>(obj).other_caps(direction, caps);
        class.fixate = |obj, direction, caps, othercaps| {
            subclass_of::<T>(obj).fixate(direction, caps, othercaps)
        };
        class.set_info = |obj, negotiated| subclass_of::<T>(obj).set_info(negotiated);
        class.transform_frames = |obj, stream, input, output| {
            subclass_of::<T>(obj).transform_frames(stream, input, output)
        };
        class.hint = |obj, caps, field| subclass_of::<T>(obj).hint(caps, field);
    }
}

/// Sink and source pad templates of a filter, both with `caps`.
pub fn pad_templates(caps: &gst::Caps) -> Vec<gst::PadTemplate> {
    vec![
        crate::always_pad(gst::PadDirection::Sink, caps),
        crate::always_pad(gst::PadDirection::Src, caps),
    ]
}
