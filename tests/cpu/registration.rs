use gst::prelude::*;

#[test]
fn plugin_registers_every_element() {
    cudapreproc_tests::init();
    let plugin = gst::Registry::get()
        .find_plugin("cudapreproc")
        .expect("plugin registered");
    let features: Vec<String> = gst::Registry::get()
        .features_by_plugin("cudapreproc")
        .into_iter()
        .map(|f| f.name().to_string())
        .collect();
    assert!(
        features.contains(&"cudacvtcolor".to_string()),
        "{features:?}"
    );
    assert_eq!(plugin.plugin_name(), "cudapreproc");
}

/// Every factory: its classification, and its type's name, prefixed so it never clashes with
/// upstream GStreamer's CUDA elements.
#[test]
fn every_element_has_its_classification_and_a_prefixed_type_name() {
    cudapreproc_tests::init();
    for (name, classification, type_name) in [
        (
            "cudacvtcolor",
            "Filter/Converter/Video/Hardware",
            "GstRsCudaCvtColor",
        ),
        (
            "cudawarpaffine",
            "Filter/Effect/Converter/Video/Scaler/Hardware",
            "GstRsCudaWarpAffine",
        ),
        (
            "cudaconvert",
            "Filter/Converter/Video/Tensor/Hardware",
            "GstRsCudaConvert",
        ),
        (
            "cudatensorconvert",
            "Filter/Converter/Video/Tensor/Hardware",
            "GstRsCudaConvert",
        ),
        ("nvdec", "Codec/Decoder/Video/Hardware", "GstRsNvDec"),
        ("nvdecsrc", "Source/Video/Hardware", "GstRsNvDecSrc"),
        ("tensorsink", "Sink/Tensor/Hardware", "GstRsTensorSink"),
        ("tensorsrc", "Source/Tensor/Hardware", "GstRsTensorSrc"),
    ] {
        let factory = gst::ElementFactory::find(name).unwrap();
        assert_eq!(factory.plugin_name().as_deref(), Some("cudapreproc"));
        assert_eq!(
            factory.metadata(gst::ELEMENT_METADATA_KLASS),
            Some(classification),
            "{name}"
        );
        let element = factory.create().build().unwrap();
        assert_eq!(element.type_().name(), type_name, "{name}");
    }
}

#[test]
fn cudacvtcolor_properties() {
    cudapreproc_tests::init();
    let element = gst::ElementFactory::make("cudacvtcolor").build().unwrap();
    assert_eq!(element.property::<i32>("cuda-device-id"), -1);
    for name in [
        "input-matrix",
        "output-matrix",
        "input-range",
        "output-range",
    ] {
        assert_eq!(nick_of(&element, name), "auto", "{name}");
    }

    element.set_property("cuda-device-id", 1i32);
    assert_eq!(element.property::<i32>("cuda-device-id"), 1);
    for (name, nick) in [
        ("input-matrix", "bt601"),
        ("input-matrix", "bt709"),
        ("input-matrix", "bt2020"),
        ("output-matrix", "smpte240m"),
        ("input-range", "limited"),
        ("output-range", "full"),
    ] {
        element.set_property_from_str(name, nick);
        assert_eq!(nick_of(&element, name), nick, "{name}");
    }

    let pspec = element.find_property("cuda-device-id").unwrap();
    let pspec = pspec.downcast_ref::<glib::ParamSpecInt>().unwrap();
    assert_eq!(pspec.minimum(), -1);
}

/// The nick of enum property `property`'s value.
fn nick_of(element: &gst::Element, property: &str) -> String {
    let value = element.property_value(property);
    let (_, enum_value) = glib::EnumValue::from_value(&value).unwrap();
    enum_value.nick().to_string()
}

#[test]
fn nvdec_decoder_size_by_nick_in_the_decoder_and_the_source() {
    cudapreproc_tests::init();
    for factory in ["nvdec", "nvdecsrc"] {
        let element = gst::ElementFactory::make(factory).build().unwrap();
        assert_eq!(
            nick_of(&element, "decoder-size"),
            "stream",
            "{factory}: the default"
        );
        for wanted in ["largest", "stream"] {
            element.set_property_from_str("decoder-size", wanted);
            assert_eq!(nick_of(&element, "decoder-size"), wanted, "{factory}");
        }
    }
}

/// Every element that writes into a downstream element's CUDA pool has `downstream-sync`,
/// `legacy-stream` by default (no host wait), the decoder's forwarded by `nvdecsrc`.
#[test]
fn downstream_sync_on_every_writer() {
    cudapreproc_tests::init();
    for factory in [
        "cudacvtcolor",
        "cudawarpaffine",
        "cudaconvert",
        "cudatensorconvert",
        "nvdec",
        "nvdecsrc",
    ] {
        let element = gst::ElementFactory::make(factory).build().unwrap();
        let sync = || nick_of(&element, "downstream-sync");
        assert_eq!(sync(), "legacy-stream", "{factory}: the default");
        for wanted in ["host", "legacy-stream"] {
            element.set_property_from_str("downstream-sync", wanted);
            assert_eq!(sync(), wanted, "{factory}");
        }
    }
}

#[test]
fn unknown_matrix_nick_is_rejected() {
    cudapreproc_tests::init();
    let element = gst::ElementFactory::make("cudacvtcolor").build().unwrap();
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        element.set_property_from_str("input-matrix", "bt999")
    }));
    assert!(result.is_err(), "an unknown matrix must not be accepted");
    assert_eq!(nick_of(&element, "input-matrix"), "auto");
}

#[test]
fn decoder_elements_are_registered() {
    cudapreproc_tests::init();
    for (name, klass, type_name) in [
        ("nvdec", "Codec/Decoder/Video/Hardware", "GstRsNvDec"),
        ("nvdecsrc", "Source/Video/Hardware", "GstRsNvDecSrc"),
    ] {
        let factory = gst::ElementFactory::find(name).unwrap();
        assert_eq!(factory.metadata(gst::ELEMENT_METADATA_KLASS), Some(klass));
        assert_eq!(factory.create().build().unwrap().type_().name(), type_name);
    }
}

#[test]
fn nvdec_properties() {
    cudapreproc_tests::init();
    let nvdec = gst::ElementFactory::make("nvdec").build().unwrap();
    assert_eq!(nvdec.property::<i32>("cuda-device-id"), 0);
    assert_eq!(nvdec.property::<u32>("display-delay"), 4);
    assert_eq!(nvdec.property::<u32>("decode-surfaces"), 0);
    assert_eq!(nvdec.property::<u32>("output-every"), 1);
    assert!(!nvdec.property::<bool>("keyframes-only"));
    nvdec.set_property_from_str("deinterlace-mode", "adaptive");
    assert_eq!(nick_of(&nvdec, "deinterlace-mode"), "adaptive");
    let pspec = nvdec.find_property("output-every").unwrap();
    assert_eq!(
        pspec
            .downcast_ref::<glib::ParamSpecUInt>()
            .unwrap()
            .minimum(),
        1
    );
}

#[test]
fn nvdecsrc_forwards_decoder_properties() {
    cudapreproc_tests::init();
    let src = gst::ElementFactory::make("nvdecsrc").build().unwrap();
    src.set_property("display-delay", 0u32);
    src.set_property("output-every", 5u32);
    src.set_property_from_str("deinterlace-mode", "bob");
    let bin = src.downcast_ref::<gst::Bin>().unwrap();
    let decoder = bin.by_name("decoder").unwrap();
    assert_eq!(decoder.property::<u32>("display-delay"), 0);
    assert_eq!(decoder.property::<u32>("output-every"), 5);
    assert_eq!(nick_of(&decoder, "deinterlace-mode"), "bob");

    src.set_property("location", "media/bigbuckbunny.mp4");
    let uri = src.property::<String>("uri");
    assert!(
        uri.starts_with("file:///") && uri.ends_with("/media/bigbuckbunny.mp4"),
        "{uri}"
    );
}

#[test]
fn nvdecsrc_without_location_says_so() {
    let pipeline = cudapreproc_tests::pipeline("nvdecsrc ! fakesink");
    let error = cudapreproc_tests::run_to_end(&pipeline).expect("must fail");
    assert!(error.contains("no location or uri set"), "{error}");
}

/// `frame-indices` and `frame-times` choose frames two ways: one at a time, the other refused
/// with a warning naming both.
#[test]
fn nvdecsrc_takes_frame_indices_or_frame_times_not_both() {
    let src = gst::ElementFactory::make("nvdecsrc").build().unwrap();
    let indices = gst::Array::new([3u64.to_send_value(), 1u64.to_send_value()]);
    src.set_property("frame-indices", &indices);
    src.set_property("frame-times", gst::Array::new([0.5f64.to_send_value()]));
    assert!(
        src.property::<gst::Array>("frame-times").is_empty(),
        "refused"
    );
    assert_eq!(src.property::<gst::Array>("frame-indices").len(), 2);
    src.set_property(
        "frame-indices",
        gst::Array::new(Vec::<glib::SendValue>::new()),
    );
    src.set_property("frame-times", gst::Array::new([0.5f64.to_send_value()]));
    assert_eq!(
        src.property::<gst::Array>("frame-times").len(),
        1,
        "now taken"
    );
    src.set_property("frame-indices", &indices);
    assert!(
        src.property::<gst::Array>("frame-indices").is_empty(),
        "refused"
    );
}
