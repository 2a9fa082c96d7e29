//! The caps negotiation of the filters (`cudacvtcolor`, `cudaconvert`, `cudawarpaffine`), through
//! their GstBaseTransform virtual methods as the base class calls them: `transform_caps`,
//! `fixate_caps` and `transform_size` on caps from upstream or downstream, with any properties.
//! Sizes they write are positive caps ints, tensor dimensions they write read back, fixated caps
//! are fixed, `cudawarpaffine` keeps the aspect ratio when one output size is set, buffer sizes
//! are exact (no overflow) and fit a buffer pool.
//!
//! The input is text: a line `ELEMENT DIRECTION [PROPERTY=VALUE ...]` (ELEMENT: cudacvtcolor,
//! cudaconvert or cudawarpaffine; DIRECTION: sink or src, the pad the caps are on), a line of
//! caps, and optionally a line of caps from the other pad's peer (the filter).
#![no_main]

use cudapreproc_core::tensor::{DType, Layout, TensorShape};
use gst::prelude::*;
use gstcudapreproc::{CudaConvert, CudaCvtColor, CudaWarpAffine, TensorLayout};
use libfuzzer_sys::fuzz_target;

use cudapreproc_fuzz::{fixate_caps, fixed_int, transform_caps, transform_size};

const MAX_BYTES: u128 = u32::MAX as u128;

/// Whether every fixed width and height in `caps` is a positive int.
fn sizes_positive(caps: &gst::CapsRef) -> bool {
    caps.iter().all(|s| {
        ["width", "height"].into_iter().all(|f| match s.value(f) {
            Ok(v) => v.get::<i32>().map_or(true, |v| v > 0),
            Err(_) => true,
        })
    })
}

fn layout_of(element: &gst::Element) -> Layout {
    match element.property::<TensorLayout>("layout") {
        TensorLayout::Nchw => Layout::Nchw,
        TensorLayout::Nhwc => Layout::Nhwc,
    }
}

fuzz_target!(|data: &[u8]| {
    let Some(text) = cudapreproc_fuzz::glib_text(data) else {
        return;
    };
    let mut lines = text.split('\n');
    let (Some(header), Some(caps_line)) = (lines.next(), lines.next()) else {
        return;
    };
    let filter_line = lines.next();
    let mut words = header.split_ascii_whitespace();
    let (Some(name), Some(direction)) = (words.next(), words.next()) else {
        return;
    };
    let direction = match direction {
        "sink" => gst::PadDirection::Sink,
        "src" => gst::PadDirection::Src,
        _ => return,
    };
    cudapreproc_fuzz::init();
    let element: gst::Element = match name {
        "cudacvtcolor" => glib::Object::new::<CudaCvtColor>().upcast(),
        "cudaconvert" => glib::Object::new::<CudaConvert>().upcast(),
        "cudawarpaffine" => glib::Object::new::<CudaWarpAffine>().upcast(),
        _ => return,
    };
    for word in words {
        if let Some((property, value)) = word.split_once('=') {
            cudapreproc_fuzz::set_property_from_str(&element, property, value);
        }
    }
    // What reaches the element's virtual methods has passed its pad templates.
    let template = |pad: &str| {
        element
            .pad_template(pad)
            .expect("a pad template")
            .caps()
            .clone()
    };
    let (this_pad, other_pad) = match direction {
        gst::PadDirection::Sink => ("sink", "src"),
        _ => ("src", "sink"),
    };
    let Some(caps) = cudapreproc_fuzz::caps_from_str(caps_line) else {
        return;
    };
    let caps = caps.intersect_with_mode(&template(this_pad), gst::CapsIntersectMode::First);
    let filter = filter_line
        .and_then(cudapreproc_fuzz::caps_from_str)
        .map(|f| f.intersect_with_mode(&template(other_pad), gst::CapsIntersectMode::First));
    let trans = element
        .downcast_ref::<gst_base::BaseTransform>()
        .expect("a BaseTransform");
    let is_convert = name == "cudaconvert";

    // transform_caps: with and without the peer's filter.
    let other = transform_caps(trans, direction, &caps, None).expect("transformed caps");
    if let Some(filter) = &filter {
        transform_caps(trans, direction, &caps, Some(filter)).expect("filtered caps");
    }
    if sizes_positive(&caps) {
        assert!(
            sizes_positive(&other),
            "{name} {direction:?}: {caps} -> {other}"
        );
    }
    if is_convert {
        let layout = layout_of(&element);
        for (s_in, features) in caps.iter_with_features() {
            let mut single = gst::Caps::new_empty();
            single
                .get_mut()
                .unwrap()
                .append_structure_full(s_in.to_owned(), Some(features.to_owned()));
            let out = transform_caps(trans, direction, &single, None).expect("caps");
            for s_out in out.iter() {
                // Video -> tensors: the dimensions written are the frame's, and read back.
                let Ok(dims) = s_out.get::<&str>("dimensions") else {
                    continue;
                };
                let (Some(w), Some(h)) = (fixed_int(s_in, "width"), fixed_int(s_in, "height"))
                else {
                    panic!("{single} -> {out}: dimensions from no size");
                };
                match TensorShape::from_nnstreamer_dims(dims, layout) {
                    Ok(shape) => assert_eq!(
                        (i64::from(shape.width), i64::from(shape.height)),
                        (i64::from(w), i64::from(h)),
                        "{single} -> {out}"
                    ),
                    Err(e) => assert!(
                        16 * w as u128 * h as u128 > MAX_BYTES,
                        "{single} -> {out}: {e}"
                    ),
                }
            }
        }
    }

    // fixate_caps, on caps as the base class has them: ours fixed, the other side's
    // transformed (and filtered by the peer).
    if caps.is_fixed() && !caps.is_any() {
        let othercaps = match &filter {
            Some(filter) => filter.intersect_with_mode(&other, gst::CapsIntersectMode::First),
            None => other.clone(),
        };
        if !othercaps.is_empty() && !othercaps.is_any() {
            let fixed =
                fixate_caps(trans, direction, &caps, othercaps.clone()).expect("fixated caps");
            assert!(fixed.is_fixed(), "{name}: {caps} / {othercaps} -> {fixed}");
            if sizes_positive(&caps) && sizes_positive(&othercaps) {
                assert!(
                    sizes_positive(&fixed),
                    "{name}: {caps} / {othercaps} -> {fixed}"
                );
            }
            let size = transform_size(trans, direction, &caps, 0, &fixed);
            check_size(&fixed, size);
            let s_in = caps.structure(0).unwrap();
            if name == "cudawarpaffine"
                && direction == gst::PadDirection::Sink
                && filter.is_none()
                && s_in.name() == "video/x-raw"
            {
                check_aspect(&element, s_in, fixed.structure(0).unwrap());
            }
        }
    }

    // transform_size (on negotiated, so fixed, caps): exact, and within what a buffer can be.
    if caps.is_fixed() {
        let size = transform_size(trans, direction, &caps, 0, &caps);
        check_size(&caps, size);
    }
});

/// The size `transform_size` gives for a buffer of `caps`: a frame's size, or for tensor caps
/// the product of the dimensions times the type's size (any tensor has a size, whether or not
/// the filter can convert it), within a 32-bit pool size.
fn check_size(caps: &gst::Caps, size: Option<usize>) {
    let s = caps.structure(0).expect("sized caps have a structure");
    if s.name() == "other/tensors" {
        let Some(size) = size else {
            return;
        };
        let dtype = DType::from_name(s.get::<&str>("types").unwrap()).unwrap();
        let bytes = s
            .get::<&str>("dimensions")
            .unwrap()
            .split(':')
            .map(|d| d.trim().parse::<u128>().unwrap())
            .product::<u128>()
            * dtype.size() as u128;
        assert_eq!(size as u128, bytes, "{caps}");
        assert!(bytes <= MAX_BYTES, "{caps}: {bytes} bytes");
    } else {
        let info = gst_video::VideoInfo::from_caps(caps).ok();
        assert_eq!(size, info.map(|i| i.size()), "{caps}");
    }
}

/// `cudawarpaffine` with one output size set keeps the input's aspect ratio for the other
/// (rounded, at least 1, at most what caps can say).
fn check_aspect(element: &gst::Element, s_in: &gst::StructureRef, s_out: &gst::StructureRef) {
    let (Some(in_w), Some(in_h)) = (fixed_int(s_in, "width"), fixed_int(s_in, "height")) else {
        return;
    };
    if in_w <= 0 || in_h <= 0 {
        return;
    }
    let (w, h) = (
        element.property::<u32>("width"),
        element.property::<u32>("height"),
    );
    let (Some(out_w), Some(out_h)) = (fixed_int(s_out, "width"), fixed_int(s_out, "height")) else {
        panic!("{s_in} -> {s_out}: no fixed size");
    };
    let scaled = |a: i32, num: u32, den: i32| {
        let v = (a as u128 * u128::from(num) + den as u128 / 2) / den as u128;
        v.clamp(1, i32::MAX as u128) as i32
    };
    match (w, h) {
        (0, 0) => assert_eq!((out_w, out_h), (in_w, in_h), "{s_in} -> {s_out}"),
        (w, 0) => assert_eq!(
            (out_w, out_h),
            (w as i32, scaled(in_h, w, in_w)),
            "{s_in} -> {s_out}"
        ),
        (0, h) => assert_eq!(
            (out_w, out_h),
            (scaled(in_w, h, in_h), h as i32),
            "{s_in} -> {s_out}"
        ),
        (w, h) => assert_eq!((out_w, out_h), (w as i32, h as i32)),
    }
}
