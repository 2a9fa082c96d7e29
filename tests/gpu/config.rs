//! Configuration refused once the elements run: caps no element can make end in an error that
//! says what the element produces and what downstream accepts (checked at negotiation, which
//! needs a started element, hence a GPU), and a GPU that does not exist is named at start.

use std::path::PathBuf;

use cudapreproc_core::cuda;
use gst::prelude::*;

use cudapreproc_tests::{media_dir, Stopping};

use crate::device;

/// Plays `description` and returns the first error, which must come within a few seconds.
fn first_error(description: &str) -> glib::Error {
    let pipeline = Stopping(cudapreproc_tests::pipeline(description));
    let _ = pipeline.set_state(gst::State::Playing);
    let bus = pipeline.bus().unwrap();
    for msg in bus.iter_timed(gst::ClockTime::from_seconds(10)) {
        match msg.view() {
            gst::MessageView::Error(e) => return e.error(),
            gst::MessageView::Eos(_) => panic!("{description}: ran to the end without an error"),
            _ => {}
        }
    }
    panic!("{description}: no error within 10 s");
}

/// The first error of `description`: a negotiation error whose text holds every one of
/// `expected`.
fn assert_refused(description: &str, expected: &[&str]) {
    let error = first_error(description);
    assert_eq!(
        error.kind::<gst::CoreError>(),
        Some(gst::CoreError::Negotiation),
        "{description}: {error}"
    );
    let text = error.message();
    for words in expected {
        assert!(
            text.contains(words),
            "{description}: {text}\nmissing: {words}"
        );
    }
}

fn clip() -> PathBuf {
    media_dir().join("bigbuckbunny.mp4")
}

#[test]
fn convert_names_the_dimensions_it_makes() {
    let _device = device();
    assert_refused(
        "videotestsrc num-buffers=1 ! cudaconvert channel-order=rgba ! \
         other/tensors,dimensions=224:224:3:1 ! fakesink",
        &[
            "cudaconvert produces dimensions 224:224:4:1",
            "channel-order=rgba",
            "downstream accepts dimensions 224:224:3:1",
        ],
    );
}

#[test]
fn convert_to_video_names_the_formats_it_makes() {
    let _device = device();
    // Tensors of 3 channels from an application; downstream wants gray video. (Caps set on
    // the launch line would make linking fail already: tests/cpu/config.rs.)
    let description = "appsrc name=src format=time ! cudaconvert ! video/x-raw,format=GRAY8 ! \
                       fakesink";
    let pipeline = Stopping(cudapreproc_tests::pipeline(description));
    let src = cudapreproc_tests::appsrc(&pipeline);
    src.set_caps(Some(
        &"other/tensors,format=static,num_tensors=1,types=float32,\
          dimensions=(string)64:48:3:1,framerate=30/1"
            .parse::<gst::Caps>()
            .unwrap(),
    ));
    pipeline.set_state(gst::State::Playing).unwrap();
    src.push_buffer(gst::Buffer::with_size(64 * 48 * 3 * 4).unwrap())
        .unwrap();
    let text =
        cudapreproc_tests::next_error(&pipeline, gst::ClockTime::from_seconds(10)).to_string();
    for words in [
        "cudaconvert produces format RGB, BGR,",
        "for tensors of dimensions 64:48:3:1",
        "downstream accepts format GRAY8",
    ] {
        assert!(text.contains(words), "{text}\nmissing: {words}");
    }
}

/// Between two elements of ours, the first's caps pass its peer but nothing after the peer
/// takes what the peer would make: the first names the peer.
#[test]
fn convert_chain_names_the_element_whose_output_nothing_takes() {
    let _device = device();
    assert_refused(
        "videotestsrc num-buffers=1 ! video/x-raw,format=RGBA ! cudaconvert ! cudaconvert \
         name=back ! video/x-raw,format=GRAY8 ! fakesink",
        &[
            "cudaconvert produces other/tensors",
            "dimensions=(string)320:240:3:1",
            "back after it takes such caps, but nothing after back accepts what it would make \
             of them",
        ],
    );
}

#[test]
fn warp_crop_outside_the_input_is_refused_at_negotiation() {
    let _device = device();
    assert_refused(
        "videotestsrc num-buffers=1 ! video/x-raw,width=320,height=240 ! \
         cudawarpaffine crop-x=300 crop-width=100 crop-height=100 ! fakesink",
        &["crop-x=300 and crop-width=100 reach beyond the 320x240 input"],
    );
    assert_refused(
        "videotestsrc num-buffers=1 ! video/x-raw,width=320,height=240 ! \
         cudawarpaffine crop-y=240 ! fakesink",
        &["crop-y=240 is outside the 320x240 input"],
    );
}

/// While playing, a crop that would leave the input is refused when set (a bus warning), and
/// the warp goes on with the previous one.
#[test]
fn warp_crop_set_while_playing_is_checked_against_the_input() {
    let _device = device();
    let pipeline = Stopping(cudapreproc_tests::pipeline(
        "videotestsrc ! video/x-raw,width=320,height=240 ! cudawarpaffine name=warp ! \
         fakesink sync=false",
    ));
    pipeline.set_state(gst::State::Playing).unwrap();
    let (result, _, _) = pipeline.state(gst::ClockTime::from_seconds(10));
    result.expect("plays");
    let warp = pipeline.by_name("warp").unwrap();
    // To the right edge from x = 300: inside.
    warp.set_property("crop-x", 300u32);
    warp.set_property("crop-width", 100u32);
    assert_eq!(warp.property::<u32>("crop-width"), 0, "refused");
    let bus = pipeline.bus().unwrap();
    let warning = bus
        .timed_pop_filtered(
            gst::ClockTime::from_seconds(5),
            &[gst::MessageType::Warning, gst::MessageType::Error],
        )
        .expect("a warning");
    let gst::MessageView::Warning(w) = warning.view() else {
        panic!("{warning:?}");
    };
    let text = w.error().to_string();
    assert!(
        text.contains(
            "property 'crop-width' not changed: crop-x=300 and crop-width=100 reach \
                       beyond the 320x240 input"
        ),
        "{text}"
    );
    // Still running.
    assert!(bus
        .timed_pop_filtered(
            gst::ClockTime::from_mseconds(200),
            &[gst::MessageType::Error]
        )
        .is_none());
}

#[test]
fn warp_singular_matrix_is_refused_at_negotiation() {
    let _device = device();
    assert_refused(
        "videotestsrc num-buffers=1 ! cudawarpaffine matrix=<1,1,0,1,1,0> ! fakesink",
        &["matrix 1 1 0; 1 1 0 is singular", "inverse-map=true"],
    );
}

#[test]
fn nvdec_names_the_format_of_the_stream() {
    let _device = device();
    assert_refused(
        &format!(
            "filesrc location={} ! qtdemux ! h264parse ! nvdec ! video/x-raw,format=P010_10LE ! \
             fakesink",
            clip().display()
        ),
        &[
            "nvdec produces format NV12",
            "8-bit 4:2:0 H.264 stream; cudacvtcolor after nvdec converts",
            "downstream accepts format P010_10LE",
        ],
    );
}

/// Through `nvdecsrc` too: the size of the stream is not passed upstream as a constraint (the
/// parser would fail, or nvdecsrc find no stream to decode, without saying why).
#[test]
fn nvdec_names_the_size_of_the_stream() {
    let _device = device();
    assert_refused(
        &format!(
            "nvdecsrc location={} ! video/x-raw,width=640 ! fakesink",
            clip().display()
        ),
        &[
            "bigbuckbunny.mp4: nvdec produces width 1280",
            "cudawarpaffine after nvdec resizes",
            "downstream accepts width 640",
        ],
    );
}

#[test]
fn tensorsink_refuses_a_batch_too_large_for_a_buffer() {
    let _device = device();
    assert_refused(
        "videotestsrc num-buffers=1 ! video/x-raw,format=RGBA,width=1920,height=1080 ! \
         cudaconvert ! tensorsink batch-size=200",
        &[
            "batch-size=200 frames of 24883200 bytes",
            "at most 172 frames",
        ],
    );
}

/// `cuda-device-id` naming a GPU the machine does not have fails at start on every element.
#[test]
fn missing_device_is_named_by_every_element() {
    let _device = device();
    // 7 on the usual one-GPU machine; past the last GPU on bigger ones.
    let id = cuda::device_count().unwrap().max(7);
    let clip = clip();
    for description in [
        format!("videotestsrc num-buffers=1 ! cudacvtcolor cuda-device-id={id} ! fakesink"),
        format!("videotestsrc num-buffers=1 ! cudawarpaffine cuda-device-id={id} ! fakesink"),
        format!("videotestsrc num-buffers=1 ! cudaconvert cuda-device-id={id} ! fakesink"),
        format!("videotestsrc num-buffers=1 ! cudatensorconvert cuda-device-id={id} ! fakesink"),
        format!("videotestsrc num-buffers=1 ! cudaconvert ! tensorsink cuda-device-id={id}"),
        format!(
            "filesrc location={} ! qtdemux ! h264parse ! nvdec cuda-device-id={id} ! fakesink",
            clip.display()
        ),
        format!(
            "nvdecsrc location={} cuda-device-id={id} ! fakesink",
            clip.display()
        ),
    ] {
        let error = first_error(&description);
        let text = error.message();
        assert!(text.contains("does not exist"), "{description}: {text}");
        assert!(text.contains(&id.to_string()), "{description}: {text}");
    }
}
