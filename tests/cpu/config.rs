//! Bad configuration is refused with a message a user sees: every element's property values that
//! cannot be right keep the previous value and warn, on the bus when the element is in a
//! pipeline, as a GLib warning on stderr before (a gst-launch line sets properties before the
//! pipeline exists); caps no element can meet are refused when linking, or by the element with
//! the reason.

use std::sync::{Mutex, MutexGuard, Once};

use cudapreproc_core::negotiation::{self, Conflict, Downstream, FieldConflict};
use gst::prelude::*;
use gstcudapreproc::{GOBJECT_LOG_DOMAIN as GOBJECT_DOMAIN, PROPERTY_LOG_DOMAIN};

static WARNINGS: Mutex<Vec<String>> = Mutex::new(Vec::new());

/// GLib warnings are not attributed to an element: the tests here that look at them run one at
/// a time (the element's own warnings name it, so other suites running meanwhile do not count).
static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

/// Starts capturing the GLib warnings of the plugin's domain and GLib-GObject's; the guard keeps
/// other tests of this module from running meanwhile.
fn capture() -> MutexGuard<'static, ()> {
    static HANDLERS: Once = Once::new();
    cudapreproc_tests::init();
    HANDLERS.call_once(|| {
        gstcudapreproc::handle_property_warnings(|domain, _, message| {
            WARNINGS
                .lock()
                .unwrap()
                .push(format!("{}: {message}", domain.unwrap_or_default()));
        });
    });
    let guard = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    WARNINGS.lock().unwrap().clear();
    guard
}

/// The warnings captured since `capture()` that contain `needle`.
fn warnings_with(needle: &str) -> Vec<String> {
    WARNINGS
        .lock()
        .unwrap()
        .iter()
        .filter(|w| w.contains(needle))
        .cloned()
        .collect()
}

/// Who refuses a value, and what the message then says.
#[derive(Clone, Copy, Debug)]
enum By {
    /// GLib, against the property's range: "... is invalid or out of range for property 'x'".
    GLib,
    /// The element, through the plugin's one refusal path; the message contains this.
    Element(&'static str),
    /// The launch-line parser, which cannot read the text as the property's type (an unknown
    /// enum nick): "could not set property".
    Parser,
}

struct Case {
    factory: &'static str,
    property: &'static str,
    /// Set first; what must still be there afterwards.
    valid: &'static str,
    invalid: &'static str,
    by: By,
}

const fn case(
    factory: &'static str,
    property: &'static str,
    valid: &'static str,
    invalid: &'static str,
    by: By,
) -> Case {
    Case {
        factory,
        property,
        valid,
        invalid,
        by,
    }
}

/// A tensor's caps as a launch line gives them.
const TENSOR_CAPS: &str =
    "\"other/tensors,format=(string)static,num_tensors=(int)1,types=(string)uint8,\
                           dimensions=(string)4:3:2:1\"";

/// Every property of every element that takes a user value, with values that cannot be right,
/// as they would appear on a gst-launch line.
#[rustfmt::skip]
const INVALID: &[Case] = &[
    // cudawarpaffine
    case("cudawarpaffine", "matrix", "<1.0,0,0,0,1,0>", "<1.0,2.0,3.0>", By::Element("a 2x3 affine matrix has 6 numbers, the array has 3")),
    case("cudawarpaffine", "matrix", "<1.0,0,0,0,1,0>", "<1,2,3,4,5,6,7>", By::Element("6 numbers")),
    case("cudawarpaffine", "matrix", "<1.0,0,0,0,1,0>", "<1,0,inf,0,1,0>", By::GLib),
    case("cudawarpaffine", "matrix", "<1.0,0,0,0,1,0>", "<1,0,nan,0,1,0>", By::GLib),
    case("cudawarpaffine", "matrix", "<1.0,0,0,0,1,0>", "<1,0,x,0,1,0>", By::Parser),
    case("cudawarpaffine", "matrix-string", "\"2 0 1; 0 2 -1\"", "\"1 0 0 0 1\"", By::Element("a 2x3 affine matrix has 6 numbers, \"1 0 0 0 1\" has 5")),
    case("cudawarpaffine", "matrix-string", "\"2 0 1; 0 2 -1\"", "\"1 0 x 0 1 0\"", By::Element("'x' in matrix \"1 0 x 0 1 0\" is not a number")),
    case("cudawarpaffine", "matrix-string", "\"2 0 1; 0 2 -1\"", "\"1 0 inf 0 1 0\"", By::Element("has a value that is not finite")),
    case("cudawarpaffine", "width", "224", "16385", By::GLib),
    case("cudawarpaffine", "width", "224", "-1", By::GLib),
    case("cudawarpaffine", "height", "224", "100000", By::GLib),
    case("cudawarpaffine", "border-value", "<114>", "<1,2,3,4,5>", By::Element("1 to 4 values (one per component) expected, got 5")),
    case("cudawarpaffine", "border-value", "<114>", "<-1>", By::GLib),
    case("cudawarpaffine", "border-value", "<114>", "<70000>", By::GLib),
    case("cudawarpaffine", "border-value", "<114>", "<nan>", By::GLib),
    case("cudawarpaffine", "rotation", "90", "361", By::GLib),
    case("cudawarpaffine", "rotation", "90", "nan", By::GLib),
    case("cudawarpaffine", "crop-x", "10", "3000000000", By::GLib),
    case("cudawarpaffine", "crop-height", "10", "-5", By::GLib),
    case("cudawarpaffine", "interpolation", "cubic", "bicubic", By::Parser),
    case("cudawarpaffine", "border-mode", "wrap", "mirror", By::Parser),
    case("cudawarpaffine", "fit", "letterbox", "squash", By::Parser),
    case("cudawarpaffine", "cuda-device-id", "0", "-2", By::GLib),
    case("cudawarpaffine", "downstream-sync", "host", "device", By::Parser),
    // cudaconvert, under both names
    case("cudaconvert", "scale", "0.5", "0", By::Element("a scale of 0 makes every value the same")),
    case("cudaconvert", "scale", "0.5", "nan", By::GLib),
    case("cudaconvert", "scale", "0.5", "inf", By::GLib),
    case("cudaconvert", "mean", "<0.5>", "<1,2>", By::Element("1, 3 or 4 values expected, got 2")),
    case("cudaconvert", "mean", "<0.5>", "<>", By::Element("1, 3 or 4 values expected, got 0")),
    case("cudaconvert", "mean", "<0.5>", "<nan>", By::GLib),
    case("cudaconvert", "mean", "<0.5>", "<1,inf,1>", By::GLib),
    case("cudaconvert", "std", "<0.5>", "<0>", By::GLib),
    case("cudaconvert", "std", "<0.5>", "<1,-1,1>", By::GLib),
    case("cudaconvert", "std", "<0.5>", "<1,2>", By::Element("1, 3 or 4 values expected, got 2")),
    case("cudaconvert", "std", "<0.5>", "<\"a\">", By::Parser),
    case("cudaconvert", "dtype", "float16", "int7", By::Parser),
    case("cudaconvert", "layout", "nhwc", "chw", By::Parser),
    case("cudaconvert", "channel-order", "bgr", "gbr", By::Parser),
    case("cudaconvert", "preset", "imagenet", "foo", By::Parser),
    case("cudaconvert", "cuda-device-id", "0", "-5", By::GLib),
    case("cudaconvert", "downstream-sync", "host", "gpu", By::Parser),
    case("cudatensorconvert", "scale", "0.5", "0", By::Element("a scale of 0")),
    case("cudatensorconvert", "std", "<0.5>", "<0>", By::GLib),
    // cudacvtcolor
    case("cudacvtcolor", "input-matrix", "bt709", "bt999", By::Parser),
    case("cudacvtcolor", "input-range", "full", "half", By::Parser),
    case("cudacvtcolor", "output-matrix", "bt2020", "bt2021", By::Parser),
    case("cudacvtcolor", "output-range", "limited", "0-255", By::Parser),
    case("cudacvtcolor", "cuda-device-id", "0", "-2", By::GLib),
    case("cudacvtcolor", "downstream-sync", "host", "none", By::Parser),
    // tensorsink
    case("tensorsink", "batch-size", "8", "0", By::GLib),
    case("tensorsink", "frame-stride", "2", "0", By::GLib),
    case("tensorsink", "frame-indices", "<3,1,4>", "<3,-1>", By::GLib),
    case("tensorsink", "frame-indices", "<3,1,4>", "<1.5>", By::Parser),
    case("tensorsink", "frame-indices", "<3,1,4>", "<\"two\">", By::Parser),
    case("tensorsink", "max-buffers", "4", "-1", By::GLib),
    case("tensorsink", "batch-size", "8", "-1", By::GLib),
    case("tensorsink", "frame-stride", "2", "-1", By::GLib),
    case("tensorsink", "cuda-device-id", "0", "-2", By::GLib),
    // tensorsrc
    case("tensorsrc", "max-buffers", "4", "0", By::GLib),
    case("tensorsrc", "caps", TENSOR_CAPS, "video/x-raw", By::Element("is not other/tensors")),
    case("tensorsrc", "caps", TENSOR_CAPS, "\"other/tensors,types=(string){uint8,float32}\"", By::Element("is not fixed")),
    case("tensorsrc", "caps", TENSOR_CAPS, "\"other/tensors,types=(string)int7\"", By::Element("is not other/tensors")),
    case("tensorsrc", "caps", TENSOR_CAPS, "other/tensors", By::Element("no types in other/tensors")),
    // nvdec
    case("nvdec", "display-delay", "0", "17", By::GLib),
    case("nvdec", "decode-surfaces", "8", "33", By::GLib),
    case("nvdec", "output-every", "2", "0", By::GLib),
    case("nvdec", "output-every", "2", "-1", By::GLib),
    case("nvdec", "deinterlace-mode", "bob", "blend", By::Parser),
    case("nvdec", "decoder-size", "largest", "huge", By::Parser),
    case("nvdec", "cuda-device-id", "1", "-1", By::GLib),
    case("nvdec", "max-errors", "3", "-2", By::GLib),
    case("nvdec", "downstream-sync", "host", "stream", By::Parser),
    case("nvdec", "frame-times", "<0.5,1.0>", "<1.0,-0.5>", By::GLib),
    case("nvdec", "frame-times", "<0.5,1.0>", "<1.0,nan>", By::GLib),
    case("nvdec", "frame-times", "<0.5,1.0>", "<1.0,inf>", By::GLib),
    case("nvdec", "frame-times", "<0.5,1.0>", "<\"one\">", By::Parser),
    // nvdecsrc: its own properties, and the decoder's it offers
    case("nvdecsrc", "location", "clip.mp4", "\"\"", By::Element("an empty location names no file")),
    case("nvdecsrc", "uri", "file:///tmp/clip.mp4", "clip.mp4", By::Element("\"clip.mp4\" is not a URI")),
    case("nvdecsrc", "uri", "file:///tmp/clip.mp4", "/tmp/clip.mp4", By::Element("a file name goes in location")),
    case("nvdecsrc", "display-delay", "0", "17", By::GLib),
    case("nvdecsrc", "output-every", "2", "0", By::GLib),
    case("nvdecsrc", "deinterlace-mode", "bob", "blend", By::Parser),
    case("nvdecsrc", "decoder-size", "largest", "huge", By::Parser),
    case("nvdecsrc", "downstream-sync", "host", "cpu", By::Parser),
    case("nvdecsrc", "frame-indices", "<3,1,4>", "<3,-1>", By::GLib),
    case("nvdecsrc", "frame-indices", "<3,1,4>", "<1.5>", By::Parser),
    case("nvdecsrc", "frame-times", "<0.5>", "<-0.5>", By::GLib),
];

/// The value of `property` as text, for comparing.
fn text_of(element: &gst::Element, property: &str) -> String {
    element
        .property_value(property)
        .serialize()
        .map_or_else(|_| "(unserializable)".into(), |s| s.to_string())
}

/// `description` (one element) parsed as gst-launch-1.0 does: the properties are set before any
/// pipeline exists, so nothing reaches a bus.
fn parse_one(description: &str) -> Result<gst::Element, glib::Error> {
    gst::parse::launch(description)
}

#[test]
fn invalid_values_keep_the_previous_value_and_warn_without_a_bus() {
    let _guard = capture();
    for (i, c) in INVALID.iter().enumerate() {
        let name = format!("cfg-nobus-{i}");
        let what = format!("{} {}={}", c.factory, c.property, c.invalid);
        let reference = parse_one(&format!("{} {}={}", c.factory, c.property, c.valid))
            .unwrap_or_else(|e| panic!("{what}: the valid value {} fails: {e}", c.valid));
        let parsed = parse_one(&format!(
            "{} name={name} {}={} {}={}",
            c.factory, c.property, c.valid, c.property, c.invalid
        ));
        let element = match (c.by, parsed) {
            (By::Parser, Err(e)) => {
                assert!(
                    e.message()
                        .contains(&format!("could not set property \"{}\"", c.property)),
                    "{what}: {e}"
                );
                continue;
            }
            (By::Parser, Ok(_)) => panic!("{what}: the parser accepted it"),
            (_, Err(e)) => panic!("{what}: {e}"),
            (_, Ok(element)) => element,
        };
        assert_eq!(
            text_of(&element, c.property),
            text_of(&reference, c.property),
            "{what}: the previous value must stay"
        );
        match c.by {
            By::Element(words) => {
                let ours = warnings_with(&format!("'{name}'"));
                assert_eq!(ours.len(), 1, "{what}: {ours:?}");
                // The factory that made the element's type names it (so cudatensorconvert's
                // say cudaconvert), then the element's name.
                let expected = format!(" '{name}': property '{}' not changed: ", c.property);
                assert!(
                    ours[0].starts_with(&format!("{PROPERTY_LOG_DOMAIN}: ")),
                    "{what}: {}",
                    ours[0]
                );
                assert!(ours[0].contains(&expected), "{what}: {}", ours[0]);
                assert!(ours[0].contains(words), "{what}: {}", ours[0]);
            }
            By::GLib => {
                let glib = warnings_with(&format!(
                    "invalid or out of range for property '{}'",
                    c.property
                ));
                assert_eq!(glib.len(), 1, "{what}: {glib:?}");
                assert!(glib[0].starts_with(GOBJECT_DOMAIN), "{}", glib[0]);
            }
            By::Parser => unreachable!(),
        }
        WARNINGS.lock().unwrap().clear();
    }
}

/// Sets `property` from `text` as `gst_util_set_object_arg` does (what applications and
/// tools setting properties from text use).
fn set_from_text(element: &gst::Element, property: &str, text: &str) {
    use glib::translate::ToGlibPtr;
    // SAFETY: a live object and NUL-terminated strings for the duration of the call.
    unsafe {
        gst::ffi::gst_util_set_object_arg(
            element.as_ptr() as *mut glib::gobject_ffi::GObject,
            property.to_glib_none().0,
            text.to_glib_none().0,
        );
    }
}

/// Sets `property` to `value` as C code calling `g_object_set_property` does (GLib validates it;
/// the Rust binding would panic instead).
fn set_value(element: &gst::Element, property: &str, value: &glib::Value) {
    use glib::translate::ToGlibPtr;
    // SAFETY: a live object, a NUL-terminated name and an initialised value.
    unsafe {
        glib::gobject_ffi::g_object_set_property(
            element.as_ptr() as *mut glib::gobject_ffi::GObject,
            property.to_glib_none().0,
            value.to_glib_none().0,
        );
    }
}

/// The warning messages on `bus` from the element named `name`.
fn bus_warnings(bus: &gst::Bus, name: &str) -> Vec<String> {
    std::iter::from_fn(|| bus.pop_filtered(&[gst::MessageType::Warning]))
        .filter(|m| m.src().is_some_and(|s| s.name() == name))
        .filter_map(|m| match m.view() {
            gst::MessageView::Warning(w) => Some(w.error().to_string()),
            _ => None,
        })
        .collect()
}

#[test]
fn invalid_values_in_a_pipeline_are_bus_warnings() {
    let _guard = capture();
    for (i, c) in INVALID.iter().enumerate() {
        let By::Element(words) = c.by else {
            continue;
        };
        let name = format!("cfg-bus-{i}");
        let what = format!("{} {}={}", c.factory, c.property, c.invalid);
        let pipeline = gst::Pipeline::new();
        let element = gst::ElementFactory::make(c.factory)
            .name(name.as_str())
            .build()
            .unwrap();
        pipeline.add(&element).unwrap();
        set_from_text(&element, c.property, c.valid.trim_matches('"'));
        let before = text_of(&element, c.property);
        set_from_text(&element, c.property, c.invalid.trim_matches('"'));
        assert_eq!(text_of(&element, c.property), before, "{what}");
        let on_bus = bus_warnings(&pipeline.bus().unwrap(), &name);
        assert_eq!(on_bus.len(), 1, "{what}: {on_bus:?}");
        assert!(
            on_bus[0].starts_with(&format!("property '{}' not changed: ", c.property)),
            "{what}: {}",
            on_bus[0]
        );
        assert!(on_bus[0].contains(words), "{what}: {}", on_bus[0]);
        assert!(
            warnings_with(&format!("'{name}'")).is_empty(),
            "{what}: on the bus, so not on stderr too"
        );
    }
}

#[test]
fn a_bin_without_a_bus_still_warns_on_stderr() {
    let _guard = capture();
    // An element in a bin posts to the bin's internal bus, which a bin outside any pipeline
    // has nowhere to forward to.
    let bin = gst::Bin::new();
    let warp = gst::ElementFactory::make("cudawarpaffine")
        .name("cfg-in-bin")
        .build()
        .unwrap();
    bin.add(&warp).unwrap();
    set_from_text(&warp, "matrix-string", "1 2 3");
    let ours = warnings_with("'cfg-in-bin'");
    assert_eq!(ours.len(), 1, "{ours:?}");
    assert!(
        ours[0].contains("property 'matrix-string' not changed"),
        "{ours:?}"
    );

    // Given a bus, the bin carries the warning there instead.
    let bus = gst::Bus::new();
    bin.set_bus(Some(&bus));
    set_from_text(&warp, "matrix-string", "1 2 3");
    let on_bus = bus_warnings(&bus, "cfg-in-bin");
    assert_eq!(on_bus.len(), 1, "{on_bus:?}");
    assert!(on_bus[0].contains("has 3"), "{on_bus:?}");
    assert_eq!(warnings_with("'cfg-in-bin'").len(), 1, "only the first");
}

#[test]
fn ill_typed_values_from_applications_are_refused() {
    let _guard = capture();
    let strings = gst::Array::new(["1", "0", "0", "0", "1", "0"].map(|s| s.to_send_value()));
    for (factory, property, value) in [
        // Array elements of the wrong type: GLib checks them against the element spec.
        ("cudawarpaffine", "matrix", strings.to_value()),
        (
            "cudawarpaffine",
            "border-value",
            gst::Array::new([114i32.to_send_value()]).to_value(),
        ),
        (
            "cudaconvert",
            "mean",
            gst::Array::new([0.5f32.to_send_value()]).to_value(),
        ),
        (
            "tensorsink",
            "frame-indices",
            gst::Array::new([(-2i32).to_send_value()]).to_value(),
        ),
        (
            "tensorsink",
            "frame-indices",
            gst::Array::new([u64::MAX.to_send_value()]).to_value(),
        ),
        // Values out of the range.
        ("cudaconvert", "scale", f64::INFINITY.to_value()),
        (
            "cudaconvert",
            "std",
            gst::Array::new([0.0f64.to_send_value()]).to_value(),
        ),
        ("cudawarpaffine", "width", 20000u32.to_value()),
    ] {
        let element = gst::ElementFactory::make(factory).build().unwrap();
        let before = text_of(&element, property);
        WARNINGS.lock().unwrap().clear();
        set_value(&element, property, &value);
        assert_eq!(
            text_of(&element, property),
            before,
            "{factory} {property}={value:?}"
        );
        let glib = warnings_with(&format!("for property '{property}'"));
        assert_eq!(glib.len(), 1, "{factory} {property}={value:?}: {glib:?}");
    }
    // Within its range and of the element spec's type, a wrong length reaches the element.
    let warp = gst::ElementFactory::make("cudawarpaffine")
        .name("cfg-typed")
        .build()
        .unwrap();
    set_value(
        &warp,
        "matrix",
        &gst::Array::new([1.0f64, 0.0, 0.0].map(|v| v.to_send_value())).to_value(),
    );
    let ours = warnings_with("'cfg-typed'");
    assert_eq!(ours.len(), 1, "{ours:?}");
    assert!(ours[0].contains("6 numbers"), "{ours:?}");
}

/// Values at the edges of what is meaningful: accepted, read back, no warning.
#[test]
fn edge_values_are_accepted() {
    let _guard = capture();
    for (i, (factory, property, text)) in [
        ("cudawarpaffine", "width", "16384"),
        ("cudawarpaffine", "height", "1"),
        ("cudawarpaffine", "width", "0"),
        ("cudawarpaffine", "rotation", "-360"),
        ("cudawarpaffine", "border-value", "<0>"),
        ("cudawarpaffine", "border-value", "<65535,0,0,255>"),
        ("cudawarpaffine", "border-value", "<>"),
        ("cudawarpaffine", "crop-x", "2147483647"),
        ("cudawarpaffine", "matrix", "<0,0,0,0,0,0>"),
        ("cudawarpaffine", "matrix", "<>"),
        ("cudawarpaffine", "cuda-device-id", "-1"),
        ("cudaconvert", "scale", "-1"),
        ("cudaconvert", "scale", "1e-9"),
        ("cudaconvert", "mean", "<-1000,0,1000,0.5>"),
        ("cudaconvert", "std", "<1e-6,1e-6,1e-6,1e-6>"),
        ("cudaconvert", "std", "<1000,1,1,1>"),
        ("cudacvtcolor", "output-matrix", "smpte240m"),
        ("tensorsink", "batch-size", "1"),
        ("tensorsink", "max-buffers", "0"),
        ("tensorsink", "frame-indices", "<0,9223372036854775807>"),
        ("tensorsink", "frame-indices", "<>"),
        ("nvdec", "display-delay", "16"),
        ("nvdec", "decode-surfaces", "32"),
        ("nvdec", "max-errors", "-1"),
        ("nvdec", "frame-times", "<0.0,3.2,1e6>"),
        ("nvdec", "frame-times", "<>"),
        ("nvdecsrc", "uri", "https://example.com/clip.mp4"),
        ("nvdecsrc", "location", "clip.mp4"),
        ("nvdecsrc", "frame-indices", "<0,9223372036854775807>"),
        ("nvdecsrc", "frame-times", "<0.0,2.5>"),
    ]
    .into_iter()
    .enumerate()
    {
        let name = format!("cfg-edge-{i}");
        let element = parse_one(&format!("{factory} name={name} {property}={text}"))
            .unwrap_or_else(|e| panic!("{factory} {property}={text}: {e}"));
        let pspec = element.find_property(property).unwrap();
        let expected = glib::Value::deserialize_with_pspec(text, &pspec)
            .unwrap()
            .serialize()
            .unwrap()
            .to_string();
        assert_eq!(
            text_of(&element, property),
            expected,
            "{factory} {property}={text}"
        );
        assert_eq!(
            warnings_with(&format!("'{name}'")),
            Vec::<String>::new(),
            "{factory} {property}={text}"
        );
    }
    assert_eq!(warnings_with(GOBJECT_DOMAIN), Vec::<String>::new());
}

#[test]
fn numeric_ranges_are_meaningful() {
    cudapreproc_tests::init();
    let uint = |factory: &str, property: &str| {
        let element = gst::ElementFactory::make(factory).build().unwrap();
        let pspec = element.find_property(property).unwrap();
        let pspec = pspec.downcast_ref::<glib::ParamSpecUInt>().unwrap();
        (pspec.minimum(), pspec.maximum())
    };
    assert_eq!(uint("cudawarpaffine", "width"), (0, 16384));
    assert_eq!(uint("cudawarpaffine", "height"), (0, 16384));
    assert_eq!(uint("cudawarpaffine", "crop-x"), (0, i32::MAX as u32));
    assert_eq!(uint("cudawarpaffine", "crop-width"), (0, i32::MAX as u32));
    assert_eq!(uint("tensorsink", "batch-size").0, 1);
    assert_eq!(uint("tensorsink", "frame-stride").0, 1);
    assert_eq!(uint("nvdec", "output-every").0, 1);
    assert_eq!(uint("nvdec", "display-delay"), (0, 16));
    assert_eq!(uint("nvdec", "decode-surfaces"), (0, 32));
    let element_spec = |factory: &str, property: &str| {
        let element = gst::ElementFactory::make(factory).build().unwrap();
        let pspec = element.find_property(property).unwrap();
        let spec = pspec
            .downcast_ref::<gst::ParamSpecArray>()
            .unwrap()
            .element_spec()
            .unwrap()
            .clone();
        let spec = spec.downcast_ref::<glib::ParamSpecDouble>().unwrap();
        (spec.minimum(), spec.maximum())
    };
    assert_eq!(element_spec("cudaconvert", "std").0, 1e-6);
    assert_eq!(
        element_spec("cudawarpaffine", "border-value"),
        (0.0, 65535.0)
    );
}

/// Caps nothing in the element can meet fail when the launch line is linked, with GStreamer's
/// message naming them (no GPU involved: the link checks run before any element starts).
#[test]
fn unmeetable_caps_are_refused_when_linking() {
    cudapreproc_tests::init();
    for (description, element, caps) in [
        (
            "videotestsrc ! cudaconvert ! other/tensors,types=int32 ! fakesink",
            "rscudaconvert",
            "types=(string)int32",
        ),
        (
            "videotestsrc ! cudaconvert dtype=float32 ! other/tensors,types=uint8 ! fakesink",
            "rscudaconvert",
            "types=(string)uint8",
        ),
        (
            "videotestsrc ! cudawarpaffine width=320 height=240 ! video/x-raw,width=640 ! fakesink",
            "rscudawarpaffine",
            "width=(int)640",
        ),
        (
            "videotestsrc ! cudacvtcolor ! video/x-raw,format=YUY2 ! fakesink",
            "rscudacvtcolor",
            "format=(string)YUY2",
        ),
        (
            "videotestsrc ! video/x-raw,format=RGBA,width=64,height=48 ! cudaconvert ! \
             cudaconvert ! video/x-raw,format=GRAY8 ! fakesink",
            "rscudaconvert",
            "format=(string)GRAY8",
        ),
        (
            "fakesrc ! h264parse ! nvdec ! video/x-raw,format=I420 ! fakesink",
            "rsnvdec",
            "format=(string)I420",
        ),
    ] {
        let error = gst::parse::launch(description)
            .err()
            .unwrap_or_else(|| panic!("{description}: linked"));
        let text = error.message();
        assert!(text.contains("could not link"), "{description}: {text}");
        assert!(text.contains(element), "{description}: {text}");
        assert!(text.contains(caps), "{description}: {text}");
    }
}

/// Runs `description` (ending in an appsrc-fed tensorsink, which needs no GPU) with one buffer
/// and returns the first error's text.
fn tensorsink_error(caps: &str, sink: &str) -> String {
    let pipeline = cudapreproc_tests::pipeline(&format!(
        "appsrc name=src caps=\"{caps}\" format=time ! {sink}"
    ));
    let src = cudapreproc_tests::appsrc(&pipeline);
    let pipeline = cudapreproc_tests::Stopping(pipeline);
    pipeline.set_state(gst::State::Playing).unwrap();
    src.push_buffer(gst::Buffer::with_size(64).unwrap())
        .unwrap();
    src.end_of_stream().unwrap();
    let bus = pipeline.bus().unwrap();
    for msg in bus.iter_timed(gst::ClockTime::from_seconds(10)) {
        match msg.view() {
            gst::MessageView::Error(e) => {
                assert_eq!(
                    e.error().kind::<gst::CoreError>(),
                    Some(gst::CoreError::Negotiation),
                    "{e:?}"
                );
                return e.error().to_string();
            }
            gst::MessageView::Eos(_) => break,
            _ => {}
        }
    }
    panic!("{caps} ! {sink}: no error");
}

#[test]
fn tensorsink_refuses_tensors_it_cannot_describe() {
    cudapreproc_tests::init();
    let tensors = "other/tensors,format=static,num_tensors=1,types=float32";
    for (dims, sink, expected) in [
        ("0:3", "tensorsink", "dimensions \"0:3\" are empty or zero"),
        ("a:b", "tensorsink", "dimensions \"a:b\" are not numbers"),
        (
            "1920:1080:3:1",
            "tensorsink batch-size=200",
            "batch-size=200 frames of 24883200 bytes",
        ),
    ] {
        let caps = format!("{tensors},dimensions=(string){dims}");
        let error = tensorsink_error(&caps, sink);
        assert!(
            error.starts_with("tensorsink cannot describe the tensors of")
                || error.starts_with("batch-size="),
            "{caps}: {error}"
        );
        assert!(error.contains(expected), "{caps}: {error}");
    }
    let error = tensorsink_error(tensors, "tensorsink");
    assert!(error.contains("no dimensions"), "{error}");
}

/// The sentence builder every element's refusal goes through, on the cases of the README.
#[test]
fn refusals_compare_field_by_field() {
    cudapreproc_tests::init();
    let caps = |s: &str| s.parse::<gst::Caps>().unwrap();
    let downstream = |accepted: &str| Downstream {
        accepted: caps(accepted),
        next: "next".into(),
    };
    let offered = caps(
        "other/tensors(memory:CUDAMemory), format=static, num_tensors=1, types=float32, \
         dimensions=224:224:3:1; other/tensors, format=static, num_tensors=1, types=float32, \
         dimensions=224:224:3:1",
    );
    assert_eq!(
        negotiation::conflict(&offered, &caps("other/tensors, types=int32")),
        Some(Conflict::Fields(vec![FieldConflict {
            field: "types".into(),
            offered: "float32".into(),
            accepted: "int32".into(),
        }]))
    );
    assert_eq!(
        negotiation::explain(
            "cudaconvert",
            &offered,
            &downstream("other/tensors, types=int32, dimensions=1:1:1:1"),
            |field| (field == "types").then(|| "property dtype=float32".into()),
        ),
        "cudaconvert produces types float32 (property dtype=float32), downstream accepts types \
         int32; cudaconvert produces dimensions 224:224:3:1, downstream accepts dimensions \
         1:1:1:1"
    );
    assert_eq!(
        negotiation::explain("cudaconvert", &offered, &downstream("video/x-raw"), |_| {
            None
        }),
        "cudaconvert produces other/tensors, downstream accepts video/x-raw"
    );
    assert_eq!(
        negotiation::explain(
            "cudaconvert",
            &offered,
            &downstream("other/tensors(memory:NVMM)"),
            |_| None
        ),
        "cudaconvert produces frames in memory:CUDAMemory or system memory, downstream accepts \
         memory:NVMM"
    );
    assert_eq!(
        negotiation::explain("cudaconvert", &offered, &downstream("EMPTY"), |_| None),
        "downstream of cudaconvert accepts no caps at all"
    );
    // The peer takes such caps: what follows it refused.
    let tensors = caps("other/tensors, types=float32");
    assert_eq!(
        negotiation::explain(
            "cudaconvert",
            &tensors,
            &downstream("other/tensors"),
            |_| None
        ),
        "cudaconvert produces other/tensors, types=(string)float32; next after it takes such \
         caps, but nothing after next accepts what it would make of them"
    );
    assert_eq!(
        negotiation::conflict(&offered, &caps("other/tensors")),
        None
    );
}
