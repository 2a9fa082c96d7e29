//! What the fuzz targets share: GStreamer's set-up, the plugin's filters' GstBaseTransform
//! virtual methods called directly (as the base class calls them during negotiation, without a
//! pipeline or a GPU), and setting element properties from text.

use std::sync::Once;

use glib::translate::{from_glib, from_glib_full, IntoGlib, IntoGlibPtr, ToGlibPtr, ToGlibPtrMut};
use gst::prelude::*;

/// Initialises GStreamer once per process.
pub fn init() {
    static INIT: Once = Once::new();
    INIT.call_once(|| {
        gst::init().expect("gst::init");
        // The plugin warns on stderr (GLib log domain "cudapreproc") about each property value
        // it refuses when no bus would carry the warning: millions of lines when fuzzing.
        glib::log_set_handler(
            Some("cudapreproc"),
            glib::LogLevels::all(),
            false,
            false,
            |_, _, _| {},
        );
        // GStreamer's caps parser warns about every malformed caps text it is given.
        glib::log_set_handler(
            Some("GStreamer"),
            glib::LogLevels::LEVEL_WARNING,
            false,
            false,
            |_, _, _| {},
        );
    });
}

/// The class structure of `element`'s type, where its virtual methods are.
fn class(element: &gst_base::BaseTransform) -> gst_base::ffi::GstBaseTransformClass {
    let instance: *mut gst_base::ffi::GstBaseTransform = element.to_glib_none().0;
    // SAFETY: a live GstBaseTransform instance's g_class points at its class structure, which
    // starts with GstBaseTransformClass (the plugin's filters subclass GstBaseTransform).
    unsafe {
        let instance = instance as *const glib::gobject_ffi::GTypeInstance;
        *((*instance).g_class as *const gst_base::ffi::GstBaseTransformClass)
    }
}

/// A caps virtual method of GstBaseTransform: `transform_caps` and `fixate_caps` have this
/// signature (the element, the pad direction, the caps, the other caps).
type CapsVfunc = unsafe extern "C" fn(
    *mut gst_base::ffi::GstBaseTransform,
    gst::ffi::GstPadDirection,
    *mut gst::ffi::GstCaps,
    *mut gst::ffi::GstCaps,
) -> *mut gst::ffi::GstCaps;

/// Calls `f` on `element` with `caps` (borrowed) and `other`, as the virtual method takes it
/// (borrowed or owned).
///
/// # Safety
/// `other` is null or caps that `f` may take as its contract says.
unsafe fn call_caps_vfunc(
    f: CapsVfunc,
    element: &gst_base::BaseTransform,
    direction: gst::PadDirection,
    caps: &gst::Caps,
    other: *mut gst::ffi::GstCaps,
) -> Option<gst::Caps> {
    // SAFETY: per this function's contract; the vfunc borrows `caps` and returns new caps (or
    // NULL).
    unsafe {
        from_glib_full(f(
            element.to_glib_none().0,
            direction.into_glib(),
            caps.as_mut_ptr(),
            other,
        ))
    }
}

/// `transform_caps`: what `element` can produce on the other pad from `caps` on the
/// `direction` pad, intersected with `filter`.
pub fn transform_caps(
    element: &gst_base::BaseTransform,
    direction: gst::PadDirection,
    caps: &gst::Caps,
    filter: Option<&gst::Caps>,
) -> Option<gst::Caps> {
    let f = class(element).transform_caps?;
    let filter = filter.map_or(std::ptr::null_mut(), |f| f.as_mut_ptr());
    // SAFETY: `transform_caps` borrows the filter.
    unsafe { call_caps_vfunc(f, element, direction, caps, filter) }
}

/// `fixate_caps`: `othercaps` fixated given `caps` on the `direction` pad.
pub fn fixate_caps(
    element: &gst_base::BaseTransform,
    direction: gst::PadDirection,
    caps: &gst::Caps,
    othercaps: gst::Caps,
) -> Option<gst::Caps> {
    let f = class(element).fixate_caps?;
    // SAFETY: `fixate_caps` takes `othercaps`, which is handed over.
    unsafe { call_caps_vfunc(f, element, direction, caps, othercaps.into_glib_ptr()) }
}

/// `transform_size`: the bytes of a buffer of `othercaps` made from one of `size` bytes of
/// `caps` on the `direction` pad, `None` when the element refuses.
pub fn transform_size(
    element: &gst_base::BaseTransform,
    direction: gst::PadDirection,
    caps: &gst::Caps,
    size: usize,
    othercaps: &gst::Caps,
) -> Option<usize> {
    let f = class(element).transform_size?;
    let mut othersize = 0usize;
    // SAFETY: the vfunc borrows both caps and writes the size on success.
    let ok: bool = unsafe {
        from_glib(f(
            element.to_glib_none().0,
            direction.into_glib(),
            caps.as_mut_ptr(),
            size,
            othercaps.as_mut_ptr(),
            &mut othersize,
        ))
    };
    ok.then_some(othersize)
}

/// `sink_event`: `element` handles `event` arriving on its sink pad.
pub fn sink_event(element: &gst_base::BaseTransform, event: gst::Event) -> bool {
    let Some(f) = class(element).sink_event else {
        return false;
    };
    // SAFETY: the vfunc takes `event`.
    unsafe { from_glib(f(element.to_glib_none().0, event.into_glib_ptr())) }
}

/// Sets property `name` of `object` from text as a launch line would, when it exists, is
/// writable and the text is a valid value for it; `false` otherwise.
pub fn set_property_from_str(object: &impl IsA<glib::Object>, name: &str, text: &str) -> bool {
    let Some(pspec) = object.find_property(name) else {
        return false;
    };
    if !pspec.flags().contains(glib::ParamFlags::WRITABLE)
        || pspec.flags().contains(glib::ParamFlags::CONSTRUCT_ONLY)
    {
        return false;
    }
    let Ok(value) = glib::Value::deserialize_with_pspec(text, &pspec) else {
        return false;
    };
    if value.type_() != pspec.value_type() {
        return false;
    }
    // g_param_value_validate changes (and so reports) a value outside the spec's range.
    let mut check = value.clone();
    // SAFETY: a valid pspec and a value of its type.
    let changed = unsafe {
        glib::gobject_ffi::g_param_value_validate(
            pspec.to_glib_none().0,
            check.to_glib_none_mut().0,
        )
    };
    if changed != glib::ffi::GFALSE {
        return false;
    }
    object.set_property_from_value(name, &value);
    true
}

/// `data` as text a GLib string can hold (UTF-8 without NUL, where GLib strings end), as
/// launch lines, caps and structures are.
pub fn glib_text(data: &[u8]) -> Option<&str> {
    std::str::from_utf8(data).ok().filter(|t| !t.contains('\0'))
}

/// Parses caps text. A structure name starts with a letter: GStreamer's parser would print a
/// critical warning for any other text (one per input) before refusing it.
pub fn caps_from_str(text: &str) -> Option<gst::Caps> {
    if text.contains('\0')
        || !text
            .trim_start()
            .starts_with(|c: char| c.is_ascii_alphabetic())
    {
        return None;
    }
    text.parse::<gst::Caps>().ok()
}

/// The `i32` field `name` of `s` when fixed.
pub fn fixed_int(s: &gst::StructureRef, name: &str) -> Option<i32> {
    s.get::<i32>(name).ok()
}
