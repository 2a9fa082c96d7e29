//! `tensorsrc` in a pipeline with tensors in system memory (no GPU needed): what the
//! application pushes comes out in order as the same memory, a full queue makes the
//! application wait, the end of stream follows the last tensor, each tensor goes back to the
//! application when the last reader drops it, and a buffer or caps that do not fit are refused
//! with a message naming the element.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{mpsc, Arc};
use std::time::Duration;

use gst::prelude::*;
use gstcudapreproc::{TensorSink, TensorSrc};

/// One tensor: 2 x 3 x 4 float32 (NNStreamer's dimensions innermost first), 96 bytes.
const CAPS: &str = "other/tensors,format=static,num_tensors=1,types=float32,dimensions=4:3:2:1";
const BYTES: usize = 2 * 3 * 4 * 4;

/// Application memory that counts its releases.
struct Tracked {
    data: Vec<u8>,
    released: Arc<AtomicUsize>,
}

impl AsRef<[u8]> for Tracked {
    fn as_ref(&self) -> &[u8] {
        &self.data
    }
}

impl Drop for Tracked {
    fn drop(&mut self) {
        self.released.fetch_add(1, Ordering::SeqCst);
    }
}

/// Tensor `n`: bytes that differ per tensor and position, in memory counted by `released`.
fn tensor(n: u8, released: &Arc<AtomicUsize>) -> gst::Buffer {
    let data = (0..BYTES).map(|i| (i as u8).wrapping_mul(13) ^ n).collect();
    let mut buffer = gst::Buffer::from_slice(Tracked {
        data,
        released: released.clone(),
    });
    buffer
        .get_mut()
        .unwrap()
        .set_pts(gst::ClockTime::from_mseconds(u64::from(n) * 40));
    buffer
}

/// `tensorsrc ! tensorsink` with the source's `max-buffers` and the sink's, playing.
fn pipeline(src_queue: u32, sink_queue: u32) -> (gst::Pipeline, TensorSrc, TensorSink) {
    let pipeline = cudapreproc_tests::pipeline(&format!(
        "tensorsrc name=src max-buffers={src_queue} caps=\"{CAPS}\" ! \
         tensorsink name=sink max-buffers={sink_queue}"
    ));
    let src = cudapreproc_tests::element(&pipeline, "src");
    let sink = cudapreproc_tests::element(&pipeline, "sink");
    pipeline.set_state(gst::State::Playing).unwrap();
    (pipeline, src, sink)
}

fn pull(sink: &TensorSink) -> gst::Sample {
    sink.try_pull_tensor(gst::ClockTime::from_seconds(5))
        .expect("a tensor within 5 s")
}

fn stop(pipeline: &gst::Pipeline) {
    pipeline.set_state(gst::State::Null).unwrap();
}

#[test]
fn pushed_tensors_come_out_in_order_as_the_same_memory() {
    let (pipeline, src, sink) = pipeline(4, 0);
    let released = Arc::new(AtomicUsize::new(0));
    let pushed: Vec<gst::Buffer> = (0..4).map(|n| tensor(n, &released)).collect();
    let addresses: Vec<usize> = pushed
        .iter()
        .map(|b| b.map_readable().unwrap().as_ptr() as usize)
        .collect();
    for buffer in pushed {
        assert_eq!(src.push_buffer(buffer), Ok(gst::FlowSuccess::Ok));
    }
    assert_eq!(src.end_of_stream(), Ok(gst::FlowSuccess::Ok));
    for (n, address) in addresses.iter().enumerate() {
        let sample = pull(&sink);
        let info = sample.info().unwrap();
        assert_eq!(info.get::<&str>("dtype").unwrap(), "float32");
        assert_eq!(info.get::<u64>("pts").unwrap(), n as u64 * 40_000_000);
        let map = sample.buffer().unwrap().map_readable().unwrap();
        assert_eq!(map.as_ptr() as usize, *address, "tensor {n}: not copied");
        let expected: Vec<u8> = (0..BYTES)
            .map(|i| (i as u8).wrapping_mul(13) ^ n as u8)
            .collect();
        assert_eq!(map.as_slice(), expected, "tensor {n}");
    }
    let bus = pipeline.bus().unwrap();
    bus.timed_pop_filtered(gst::ClockTime::from_seconds(5), &[gst::MessageType::Eos])
        .expect("the end of the stream after the last tensor");
    assert!(sink.is_eos());
    assert_eq!(
        src.push_buffer(tensor(9, &released)),
        Err(gst::FlowError::Eos),
        "nothing is taken after the end"
    );
    stop(&pipeline);
    assert_eq!(
        released.load(Ordering::SeqCst),
        5,
        "every tensor given back"
    );
}

/// What a push returned, with the tensor's number.
type Pushed = (u8, Result<gst::FlowSuccess, gst::FlowError>);

/// Pushes tensors `0..count` into `src` from a thread of its own; each push's result is sent as
/// it returns.
fn push_in_background(
    src: &TensorSrc,
    count: u8,
) -> (std::thread::JoinHandle<()>, mpsc::Receiver<Pushed>) {
    let (done, pushes) = mpsc::channel();
    let src = src.clone();
    let released = Arc::new(AtomicUsize::new(0));
    let pusher = std::thread::spawn(move || {
        for n in 0..count {
            done.send((n, src.push_buffer(tensor(n, &released))))
                .unwrap();
        }
    });
    (pusher, pushes)
}

/// How many pushes return before the pusher waits for room: those that come within half a
/// second of the last.
fn returned_without_waiting(pushes: &mpsc::Receiver<Pushed>) -> usize {
    std::iter::from_fn(|| pushes.recv_timeout(Duration::from_millis(500)).ok()).count()
}

/// The sink keeps one tensor and the source one: the third push waits until the application
/// pulls one at the other end.
#[test]
fn a_full_pipeline_makes_the_application_wait() {
    let (pipeline, src, sink) = pipeline(1, 1);
    let (pusher, pushes) = push_in_background(&src, 4);
    // Tensor 0 waits in the sink, tensor 1 in the source's queue (or in the streaming thread
    // on its way to the full sink, with tensor 2 then queued): at most three pushes return.
    let returned = returned_without_waiting(&pushes);
    assert!((2..=3).contains(&returned), "{returned} pushes returned");
    for n in 0..4u8 {
        let sample = pull(&sink);
        let first = sample.buffer().unwrap().map_readable().unwrap()[0];
        assert_eq!(first, n, "tensor {n} in order");
    }
    pusher.join().unwrap();
    let results: Vec<_> = std::iter::from_fn(|| pushes.try_recv().ok()).collect();
    assert!(results.iter().all(|(_, r)| r.is_ok()), "{results:?}");
    assert_eq!(returned + results.len(), 4);
    stop(&pipeline);
}

/// `max-buffers` raised while a push waits for room lets that push go on.
#[test]
fn a_larger_queue_lets_a_waiting_push_go_on() {
    let (pipeline, src, _sink) = pipeline(1, 1);
    let (pusher, pushes) = push_in_background(&src, 6);
    let returned = returned_without_waiting(&pushes);
    assert!(
        returned < 6,
        "the queue of one filled ({returned} pushes returned)"
    );
    src.set_property("max-buffers", 8u32);
    for _ in returned..6 {
        let (n, pushed) = pushes
            .recv_timeout(Duration::from_secs(5))
            .expect("the waiting push goes on, nothing pulled");
        assert_eq!(pushed, Ok(gst::FlowSuccess::Ok), "push {n}");
    }
    pusher.join().unwrap();
    stop(&pipeline);
}

/// Memory still queued when the pipeline stops goes back to the application, and a push to a
/// stopped source is refused, not kept.
#[test]
fn stopping_gives_queued_tensors_back() {
    let (pipeline, src, _sink) = pipeline(8, 1);
    let released = Arc::new(AtomicUsize::new(0));
    for n in 0..5 {
        src.push_buffer(tensor(n, &released)).unwrap();
    }
    stop(&pipeline);
    assert_eq!(released.load(Ordering::SeqCst), 5);
    assert_eq!(
        src.push_buffer(tensor(5, &released)),
        Err(gst::FlowError::Flushing)
    );
    assert_eq!(released.load(Ordering::SeqCst), 6);
}

/// Downstream fails on the second tensor: the streaming thread stops, and a push that would
/// wait for room returns the failure instead of waiting for ever.
#[test]
fn a_push_after_downstream_failed_returns_its_error() {
    let pipeline = cudapreproc_tests::pipeline(&format!(
        "tensorsrc name=src max-buffers=1 caps=\"{CAPS}\" ! identity error-after=2 ! fakesink"
    ));
    let src: TensorSrc = cudapreproc_tests::element(&pipeline, "src");
    pipeline.set_state(gst::State::Playing).unwrap();
    let released = Arc::new(AtomicUsize::new(0));
    let (done, results) = mpsc::channel();
    let pusher = std::thread::spawn(move || {
        let outcome = (0..8).find_map(|n| src.push_buffer(tensor(n, &released)).err());
        done.send(outcome).unwrap();
    });
    let outcome = results
        .recv_timeout(Duration::from_secs(5))
        .expect("the pushes end within 5 s");
    // The source sends its end of stream after the error, so the pad may show either.
    assert!(
        matches!(outcome, Some(gst::FlowError::Error | gst::FlowError::Eos)),
        "{outcome:?}"
    );
    pusher.join().unwrap();
    // Downstream's error reaches the bus as well (next_error fails the test otherwise).
    cudapreproc_tests::next_error(&pipeline, gst::ClockTime::from_seconds(5));
    stop(&pipeline);
}

#[test]
fn a_buffer_that_is_not_the_caps_tensor_is_refused_naming_the_element() {
    let (pipeline, src, _sink) = pipeline(2, 0);
    let short = gst::Buffer::from_mut_slice(vec![7u8; BYTES - 4]);
    assert_eq!(src.push_buffer(short), Err(gst::FlowError::Error));
    let error = cudapreproc_tests::next_error(&pipeline, gst::ClockTime::from_seconds(5));
    assert_eq!(
        error.message(),
        "src: a buffer of 92 bytes for a float32 tensor of shape [1, 2, 3, 4] (96 bytes)"
    );
    stop(&pipeline);
}

#[test]
fn without_caps_the_source_does_not_start() {
    let pipeline = cudapreproc_tests::pipeline("tensorsrc name=src ! tensorsink");
    assert!(pipeline.set_state(gst::State::Playing).is_err());
    let error = cudapreproc_tests::next_error(&pipeline, gst::ClockTime::from_seconds(5));
    assert!(
        error
            .message()
            .starts_with("src: the caps property is not set"),
        "{error}"
    );
    stop(&pipeline);
}

/// The action signals, for applications that hold the element as a plain GstElement (Python
/// through GObject introspection, C).
#[test]
fn signals_push_and_end_the_stream() {
    let (pipeline, src, sink) = pipeline(2, 0);
    let released = Arc::new(AtomicUsize::new(0));
    let flow = src.emit_by_name::<gst::FlowReturn>("push-buffer", &[&tensor(3, &released)]);
    assert_eq!(flow, gst::FlowReturn::Ok);
    let flow = src.emit_by_name::<gst::FlowReturn>("end-of-stream", &[]);
    assert_eq!(flow, gst::FlowReturn::Ok);
    assert_eq!(pull(&sink).buffer().unwrap().map_readable().unwrap()[0], 3);
    stop(&pipeline);
    assert_eq!(released.load(Ordering::SeqCst), 1);
}
