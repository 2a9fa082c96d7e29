//! `cudawarpaffine`, `cudaconvert` and `tensorsink` without a GPU: properties (and refusal of
//! invalid values), and the caps each offers for what is linked to it.

use std::str::FromStr;

use gst::prelude::*;

fn matrix_string(element: &gst::Element) -> Option<String> {
    element.property::<Option<String>>("matrix-string")
}

#[test]
fn warp_matrix_properties_set_read_back_and_refuse() {
    cudapreproc_tests::init();
    let warp = gst::ElementFactory::make("cudawarpaffine").build().unwrap();
    assert_eq!(matrix_string(&warp), None);
    assert_eq!(warp.property::<gst::Array>("matrix").len(), 0);

    warp.set_property("matrix-string", "2 0 1; 0 2 -1");
    assert_eq!(matrix_string(&warp).as_deref(), Some("2 0 1; 0 2 -1"));
    let values: Vec<f64> = warp
        .property::<gst::Array>("matrix")
        .iter()
        .map(|v| v.get::<f64>().unwrap())
        .collect();
    assert_eq!(values, [2.0, 0.0, 1.0, 0.0, 2.0, -1.0]);

    // From a launch line, as a GstValueArray.
    warp.set_property_from_str("matrix", "<0.5, 0, 3, 0, 0.5, 4>");
    assert_eq!(matrix_string(&warp).as_deref(), Some("0.5 0 3; 0 0.5 4"));

    // Wrong lengths, non-numbers and non-finite values leave the matrix as it was.
    for bad in ["1 0 0 0 1", "1 0 x 0 1 0", "1 0 inf 0 1 0", "1 2 3 4 5 6 7"] {
        warp.set_property("matrix-string", bad);
        assert_eq!(
            matrix_string(&warp).as_deref(),
            Some("0.5 0 3; 0 0.5 4"),
            "{bad}"
        );
    }
    let five = gst::Array::new([1.0f64, 0.0, 0.0, 0.0, 1.0].map(|v| v.to_send_value()));
    warp.set_property("matrix", five);
    assert_eq!(matrix_string(&warp).as_deref(), Some("0.5 0 3; 0 0.5 4"));

    // An empty string or array goes back to the placement properties.
    warp.set_property("matrix-string", "");
    assert_eq!(matrix_string(&warp), None);
}

#[test]
fn warp_enums_and_border_value() {
    cudapreproc_tests::init();
    let warp = gst::ElementFactory::make("cudawarpaffine").build().unwrap();
    for (name, default, other) in [
        ("interpolation", "linear", "cubic"),
        ("border-mode", "constant", "reflect-101"),
        ("fit", "stretch", "letterbox"),
    ] {
        let nick = |e: &gst::Element| {
            glib::EnumValue::from_value(&e.property_value(name))
                .unwrap()
                .1
                .nick()
                .to_string()
        };
        assert_eq!(nick(&warp), default, "{name}");
        warp.set_property_from_str(name, other);
        assert_eq!(nick(&warp), other, "{name}");
    }
    warp.set_property_from_str("border-value", "<114, 114, 114>");
    assert_eq!(warp.property::<gst::Array>("border-value").len(), 3);
    let five = gst::Array::new([1.0f64; 5].map(|v| v.to_send_value()));
    warp.set_property("border-value", five);
    assert_eq!(
        warp.property::<gst::Array>("border-value").len(),
        3,
        "5 values refused"
    );
    let pspec = warp.find_property("rotation").unwrap();
    let pspec = pspec.downcast_ref::<glib::ParamSpecDouble>().unwrap();
    assert_eq!((pspec.minimum(), pspec.maximum()), (-360.0, 360.0));
}

#[test]
fn convert_presets_and_refused_values() {
    cudapreproc_tests::init();
    let convert = gst::ElementFactory::make("cudaconvert").build().unwrap();
    let values = |name: &str| -> Vec<f64> {
        convert
            .property::<gst::Array>(name)
            .iter()
            .map(|v| v.get::<f64>().unwrap())
            .collect()
    };
    assert_eq!(convert.property::<f64>("scale"), 1.0);
    convert.set_property_from_str("preset", "imagenet");
    assert_eq!(convert.property::<f64>("scale"), 1.0 / 255.0);
    assert_eq!(values("mean"), [0.485, 0.456, 0.406, 0.0]);
    assert_eq!(values("std"), [0.229, 0.224, 0.225, 1.0]);
    // Set after the preset, a value overrides it.
    convert.set_property_from_str("mean", "<0.5>");
    assert_eq!(values("mean"), [0.5, 0.5, 0.5, 0.0]);
    // Refused: two values; a zero std (below the element spec's minimum) and a NaN scale
    // GLib refuses already (tests/cpu/config.rs checks what the user sees).
    convert.set_property_from_str("std", "<1, 2>");
    let zero = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        convert.set_property_from_str("std", "<1, 0, 1>")
    }));
    assert!(zero.is_err(), "a zero std must not be accepted");
    assert_eq!(values("std"), [0.229, 0.224, 0.225, 1.0]);
    let nan = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        convert.set_property("scale", f64::NAN)
    }));
    assert!(nan.is_err(), "a NaN scale must not be accepted");
    assert_eq!(convert.property::<f64>("scale"), 1.0 / 255.0);
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        convert.set_property_from_str("dtype", "int7")
    }));
    assert!(result.is_err(), "an unknown dtype must not be accepted");
}

/// Asserts that the first structure (with its memory) of the caps `element`'s source pad offers,
/// when `upstream` caps are linked to its sink, has every field `expected` names, with that
/// value.
fn assert_first_offer(element: &str, upstream: &str, expected: &str) {
    let pipeline = cudapreproc_tests::pipeline(&format!(
        "capsfilter caps=\"{upstream}\" ! {element} name=e ! fakesink"
    ));
    let e = pipeline.by_name("e").unwrap();
    let caps = e.static_pad("src").unwrap().query_caps(None);
    let expected = gst::Caps::from_str(expected).unwrap();
    let mut first = caps.clone();
    first.truncate();
    assert!(
        first.is_subset(&expected),
        "first of {caps}, expected {expected}"
    );
}

#[test]
fn video_caps_become_nnstreamer_tensors() {
    assert_first_offer(
        "cudaconvert dtype=float16 layout=nhwc channel-order=bgr",
        "video/x-raw,format=RGBA,width=320,height=240,framerate=30/1",
        "other/tensors(memory:CUDAMemory),types=float16,dimensions=(string)3:320:240:1,\
         num_tensors=1,format=static",
    );
}

#[test]
fn tensor_caps_become_video_of_their_size() {
    assert_first_offer(
        "cudaconvert",
        "other/tensors,format=static,num_tensors=1,types=float32,dimensions=64:48:3:1,framerate=30/1",
        "video/x-raw(ANY),width=64,height=48",
    );
}

#[test]
fn warp_offers_its_size_and_keeps_the_format() {
    assert_first_offer(
        "cudawarpaffine width=224 height=224",
        "video/x-raw,format=NV12,width=1920,height=1080,framerate=30/1",
        "video/x-raw(ANY),format=NV12,width=224,height=224",
    );
}

/// `frame-indices` of `sink`, as numbers.
fn frame_indices(sink: &gst::Element) -> Vec<u64> {
    sink.property::<gst::Array>("frame-indices")
        .iter()
        .map(|v| v.get::<u64>().unwrap())
        .collect()
}

#[test]
fn tensorsink_registration_and_properties() {
    cudapreproc_tests::init();
    let sink = gst::ElementFactory::make("tensorsink").build().unwrap();
    assert!(
        !sink.property::<bool>("sync"),
        "applications pull, no clock waits"
    );
    assert_eq!(sink.property::<u32>("max-buffers"), 2);
    assert_eq!(sink.property::<u32>("batch-size"), 1);
    assert!(sink.property::<bool>("wait-on-eos"));
    sink.set_property_from_str("frame-indices", "<3, 1, 4>");
    let indices = frame_indices(&sink);
    assert_eq!(indices, [3, 1, 4]);
    // Negative numbers and non-numbers are refused, when parsed or when set: the value stays
    // as it was.
    for invalid in ["<3, -1>", "<1.5>", "<\"two\">"] {
        let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            sink.set_property_from_str("frame-indices", invalid)
        }));
        let kept = frame_indices(&sink);
        assert_eq!(kept, [3, 1, 4], "after {invalid}");
    }
    // The same from an application building the array itself: other types, or a number past
    // any frame's.
    for invalid in [
        (-2i32).to_send_value(),
        "two".to_send_value(),
        u64::MAX.to_send_value(),
    ] {
        let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            sink.set_property("frame-indices", gst::Array::new([invalid.clone()]))
        }));
        let kept = frame_indices(&sink);
        assert_eq!(kept, [3, 1, 4], "after {invalid:?}");
    }
    sink.set_property("frame-indices", gst::Array::new([7u64.to_send_value()]));
    let set = frame_indices(&sink);
    assert_eq!(set, [7]);
    let zero = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        sink.set_property("batch-size", 0u32)
    }));
    assert!(zero.is_err(), "a batch of 0 frames must not be accepted");
    // Pulling from a sink that never ran returns nothing instead of blocking.
    let sink = sink.downcast::<gstcudapreproc::TensorSink>().unwrap();
    assert!(sink
        .try_pull_tensor(gst::ClockTime::from_mseconds(10))
        .is_none());
}
