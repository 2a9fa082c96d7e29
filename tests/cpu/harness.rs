//! `tensorsink` driven directly with GStreamer's test harness: tensors in system memory pushed
//! in, samples pulled out the way applications pull them. No GPU needed: system memory is handed
//! over as it is.

use gst::prelude::*;
use gst_check::Harness;
use gstcudapreproc::{TensorSink, TENSOR_INFO};

/// One frame's tensor: 2 x 3 x 4 uint8 (NNStreamer's dimensions innermost first).
const CAPS: &str =
    "other/tensors,format=static,num_tensors=1,types=uint8,dimensions=4:3:2:1,framerate=30/1";
const BYTES: usize = 2 * 3 * 4;

/// A harness feeding a `tensorsink` with `properties` set, and the sink.
fn harness(properties: &[(&str, &str)]) -> (Harness, TensorSink) {
    cudapreproc_tests::init();
    let mut h = Harness::new("tensorsink");
    let sink = h.element().unwrap().downcast::<TensorSink>().unwrap();
    for (name, value) in properties {
        sink.set_property_from_str(name, value);
    }
    h.set_src_caps_str(CAPS);
    (h, sink)
}

/// Frame `n`: bytes that differ per frame and per position, with its timestamp.
fn frame(n: u8) -> gst::Buffer {
    let data: Vec<u8> = (0..BYTES as u8).map(|i| i.wrapping_mul(7) ^ n).collect();
    let mut buffer = gst::Buffer::from_mut_slice(data);
    buffer
        .get_mut()
        .unwrap()
        .set_pts(gst::ClockTime::from_mseconds(u64::from(n) * 40));
    buffer
}

fn u64s(info: &gst::StructureRef, field: &str) -> Vec<u64> {
    let array = info.get::<gst::Array>(field).unwrap();
    array.iter().map(|v| v.get::<u64>().unwrap()).collect()
}

/// The next sample, waiting at most a second.
fn pull(sink: &TensorSink) -> gst::Sample {
    sink.try_pull_tensor(gst::ClockTime::SECOND)
        .expect("a tensor within a second")
}

#[test]
fn frames_arrive_with_their_shape_numbers_and_bytes() {
    let (mut h, sink) = harness(&[("max-buffers", "0")]);
    for n in 0..4 {
        h.push(frame(n)).unwrap();
    }
    for n in 0..4u8 {
        let sample = pull(&sink);
        let info = sample.info().unwrap();
        assert_eq!(info.name(), TENSOR_INFO);
        assert_eq!(info.get::<&str>("memory").unwrap(), "system");
        assert_eq!(info.get::<&str>("dtype").unwrap(), "uint8");
        assert_eq!(u64s(info, "shape"), [1, 2, 3, 4]);
        assert_eq!(u64s(info, "strides"), [24, 12, 4, 1]);
        assert_eq!(u64s(info, "frame-numbers"), [u64::from(n)]);
        assert_eq!(info.get::<u64>("pts").unwrap(), u64::from(n) * 40_000_000);
        let map = sample.buffer().unwrap().map_readable().unwrap();
        assert_eq!(map.as_slice(), frame(n).map_readable().unwrap().as_slice());
    }
    assert!(sink.try_pull_tensor(gst::ClockTime::ZERO).is_none());
    assert!(h.push_event(gst::event::Eos::new()));
    assert!(sink.is_eos(), "every tensor pulled, then the end of stream");
}

#[test]
fn frame_indices_and_stride_pick_frames() {
    for (properties, expected) in [
        (&[("frame-indices", "<1, 3>")][..], vec![1, 3]),
        (&[("frame-stride", "2")][..], vec![0, 2, 4]),
    ] {
        let (mut h, sink) = harness(properties);
        let mut picked = Vec::new();
        for n in 0..5 {
            h.push(frame(n)).unwrap();
            while let Some(sample) = sink.try_pull_tensor(gst::ClockTime::ZERO) {
                picked.extend(u64s(sample.info().unwrap(), "frame-numbers"));
            }
        }
        assert_eq!(picked, expected, "{properties:?}");
    }
}

#[test]
fn a_frame_shorter_than_its_caps_is_refused() {
    let (mut h, sink) = harness(&[]);
    h.push(frame(0)).unwrap();
    let short = gst::Buffer::from_mut_slice(vec![1u8; BYTES - 1]);
    assert_eq!(h.push(short), Err(gst::FlowError::Error));
    // The frame before it was delivered whole; nothing was made of the short one.
    assert_eq!(u64s(pull(&sink).info().unwrap(), "frame-numbers"), [0]);
    assert!(sink.try_pull_tensor(gst::ClockTime::ZERO).is_none());
}

/// A pipeline taken back to READY after the end of a stream and played again (a reader moving
/// to its next file) delivers the new run's frames, numbered from 0, and ends only at its own
/// end of stream.
#[test]
fn a_run_after_the_end_of_stream_starts_afresh() {
    let (mut h, sink) = harness(&[("max-buffers", "0"), ("wait-on-eos", "false")]);
    h.push(frame(0)).unwrap();
    h.push(frame(1)).unwrap();
    assert!(h.push_event(gst::event::Eos::new()));
    pull(&sink);
    // Left unpulled: the next run must not hand it out.
    assert!(!sink.is_eos());

    let element = h.element().unwrap();
    element.set_state(gst::State::Ready).unwrap();
    element.set_state(gst::State::Playing).unwrap();
    assert!(!sink.is_eos(), "the last run's end of stream is forgotten");
    assert!(sink.try_pull_tensor(gst::ClockTime::ZERO).is_none());
    assert!(h.push_event(gst::event::StreamStart::new("second run")));
    h.set_src_caps_str(CAPS);
    assert!(
        h.push_event(gst::event::Segment::new(&gst::FormattedSegment::<
            gst::ClockTime,
        >::new()))
    );
    h.push(frame(5)).unwrap();
    let sample = pull(&sink);
    assert_eq!(u64s(sample.info().unwrap(), "frame-numbers"), [0]);
    let map = sample.buffer().unwrap().map_readable().unwrap();
    assert_eq!(map.as_slice(), frame(5).map_readable().unwrap().as_slice());
    assert!(!sink.is_eos());
    assert!(h.push_event(gst::event::Eos::new()));
    assert!(sink.is_eos());
}
