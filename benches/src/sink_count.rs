//! The count of buffers reaching a pipeline's sink, shared by the pipeline benchmarks.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use gst::prelude::*;

/// Counts the buffers reaching the sink pad of the element named `sink` in `pipeline`.
pub fn count_sink_buffers(pipeline: &gst::Pipeline) -> Arc<AtomicU64> {
    let frames = Arc::new(AtomicU64::new(0));
    let counter = frames.clone();
    pipeline
        .by_name("sink")
        .expect("an element named sink")
        .static_pad("sink")
        .expect("a sink pad")
        .add_probe(gst::PadProbeType::BUFFER, move |_, _| {
            counter.fetch_add(1, Ordering::Relaxed);
            gst::PadProbeReturn::Ok
        });
    frames
}
