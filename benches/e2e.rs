//! End to end: decode only, against the whole chain to tensors pulled by an application, for one
//! stream and N at once (N pipelines in this process), next to anchors' figures from the same
//! run.
//!
//!   e2e-bench CLIP [--streams N] [--batch B] [--anchor "COMMAND"]...
//!
//! Rows:
//! - decode only: `nvdecsrc location=CLIP ! video/x-raw(memory:CUDAMemory) ! fakesink`;
//! - chain: `nvdecsrc ! cudawarpaffine 224x224 ! cudacvtcolor ! RGBP ! cudaconvert float32 NCHW
//!   imagenet ! tensorsink`, every tensor pulled through the `cudapreproc` library by an
//!   application thread that waits for its ready event (as a consumer must) and drops it;
//! - the same chain with the colour conversion first, at the decoded size (the order).
//!
//! Pipelines preroll first, then all of a row start together; a row's figure is the frames
//! decoded after the start (all but each pipeline's prerolled one) over the time from the start
//! to the last end of stream (tearing the pipelines down comes after). Each anchor command is run with N
//! appended, once with 1 and once with N, and its last line is printed beside ours; a figure
//! "F fps" in it gives the ratios at the end.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;

use clap::Parser;
use cudapreproc_benches::anchor_last_line;
use gst::prelude::*;

/// e2e-bench: decode only against the whole chain to tensors, next to anchors' figures.
#[derive(Parser)]
#[command(name = "e2e-bench")]
struct Options {
    /// The clip to decode.
    clip: String,
    /// Pipelines run at once in the multi-stream rows.
    #[arg(long, default_value_t = 7)]
    streams: usize,
    /// Frames per tensor (tensorsink's batch-size).
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..))]
    batch: u32,
    /// An anchor command (repeatable); the number of streams is appended.
    #[arg(long = "anchor")]
    anchors: Vec<String>,
}

/// What runs after `nvdecsrc`.
#[derive(Clone, Copy)]
enum Work {
    DecodeOnly,
    Chain,
    ColourFirst,
}

impl Work {
    fn name(self) -> &'static str {
        match self {
            Work::DecodeOnly => "decode only",
            Work::Chain => "chain to tensors",
            Work::ColourFirst => "chain, colour first",
        }
    }

    fn description(self, clip: &str, batch: u32) -> String {
        let source = format!("nvdecsrc location=\"{clip}\"");
        let tensors = format!(
            "cudaconvert dtype=float32 layout=nchw preset=imagenet ! tensorsink batch-size={batch}"
        );
        match self {
            Work::DecodeOnly => format!(
                "{source} ! video/x-raw(memory:CUDAMemory) ! \
                 fakesink name=sink sync=false signal-handoffs=true"
            ),
            Work::Chain => format!(
                "{source} ! cudawarpaffine width=224 height=224 ! cudacvtcolor ! \
                 video/x-raw(memory:CUDAMemory),format=RGBP ! {tensors}"
            ),
            Work::ColourFirst => format!(
                "{source} ! cudacvtcolor ! video/x-raw(memory:CUDAMemory),format=RGBP ! \
                 cudawarpaffine width=224 height=224 ! {tensors}"
            ),
        }
    }
}

/// A prerolled pipeline, ready to start.
enum Prepared {
    /// Frames counted as the sink renders them.
    Decode(gst::Pipeline, Arc<AtomicU64>),
    /// Tensors pulled by an application thread.
    Tensors(cudapreproc::TensorPipeline),
}

fn prepare(work: Work, clip: &str, batch: u32) -> Prepared {
    let description = work.description(clip, batch);
    match work {
        Work::DecodeOnly => {
            let pipeline = gst::parse::launch(&description)
                .unwrap()
                .downcast::<gst::Pipeline>()
                .unwrap();
            let frames = Arc::new(AtomicU64::new(0));
            let counter = frames.clone();
            // Frames as the sink renders them, as tensorsink delivers them (the prerolled one once).
            pipeline
                .by_name("sink")
                .unwrap()
                .connect("handoff", false, move |_| {
                    counter.fetch_add(1, Ordering::Relaxed);
                    None
                });
            pipeline.set_state(gst::State::Paused).unwrap();
            let (result, _, _) = pipeline.state(gst::ClockTime::from_seconds(30));
            assert!(result.is_ok(), "{description} does not preroll");
            Prepared::Decode(pipeline, frames)
        }
        Work::Chain | Work::ColourFirst => {
            let pipeline = cudapreproc::TensorPipeline::parse(&description).unwrap();
            pipeline
                .set_state(gst::State::Paused)
                .unwrap_or_else(|e| panic!("{description} does not preroll: {e}"));
            Prepared::Tensors(pipeline)
        }
    }
}

/// Runs one prepared pipeline from PLAYING to its end of stream; returns its frame count and
/// when the end came, with the pipeline (stopped by the caller after the clock stops: tearing
/// down a decoder takes a while and is not throughput).
fn run(prepared: Prepared) -> (u64, Instant, Prepared) {
    match &prepared {
        Prepared::Decode(pipeline, frames) => {
            pipeline.set_state(gst::State::Playing).unwrap();
            let msg = cudapreproc_tests::end_or_error(pipeline, gst::ClockTime::NONE).unwrap();
            if let gst::MessageView::Error(e) = msg.view() {
                panic!("decode: {}", e.error());
            }
            let end = Instant::now();
            (frames.load(Ordering::Relaxed), end, prepared)
        }
        Prepared::Tensors(pipeline) => {
            pipeline.set_state(gst::State::Playing).unwrap();
            let mut frames = 0;
            for tensor in pipeline.tensors() {
                let tensor = tensor.unwrap();
                tensor.synchronize().unwrap();
                frames += tensor.frame_numbers().len() as u64;
            }
            (frames, Instant::now(), prepared)
        }
    }
}

impl Drop for Prepared {
    fn drop(&mut self) {
        if let Prepared::Decode(pipeline, _) = self {
            let _ = pipeline.set_state(gst::State::Null);
        }
    }
}

/// Prepares `n` pipelines, starts them together, returns (frames, seconds, fps).
fn row(work: Work, options: &Options, n: usize) -> (u64, f64, f64) {
    let prepared: Vec<Prepared> = (0..n)
        .map(|_| prepare(work, &options.clip, options.batch))
        .collect();
    let start = Instant::now();
    let results: Vec<(u64, Instant, Prepared)> = std::thread::scope(|scope| {
        let threads: Vec<_> = prepared
            .into_iter()
            .map(|p| scope.spawn(move || run(p)))
            .collect();
        threads.into_iter().map(|t| t.join().unwrap()).collect()
    });
    // Less the frame each pipeline decoded before the start, to preroll.
    let frames: u64 = results.iter().map(|r| r.0.saturating_sub(1)).sum();
    let end = results.iter().map(|r| r.1).max().unwrap();
    let seconds = (end - start).as_secs_f64();
    drop(results);
    (frames, seconds, frames as f64 / seconds)
}

/// The number before " fps" in an anchor's line.
fn fps_in(line: &str) -> Option<f64> {
    let words: Vec<&str> = line.split_whitespace().collect();
    words
        .windows(2)
        .find(|w| w[1] == "fps")
        .and_then(|w| w[0].parse().ok())
}

fn main() {
    cudapreproc::register_elements().unwrap();
    let options = Options::parse();
    let n = options.streams;
    // Warm-up: CUDA, NVDEC and NVRTC initialisation, file cache.
    row(Work::Chain, &options, 1);
    row(Work::DecodeOnly, &options, 1);

    println!(
        "clip {} | tensors 3x224x224 float32 NCHW ImageNet, batch {}",
        options.clip, options.batch
    );
    println!(
        "{:<44} {:>8} {:>9} {:>9} {:>9}",
        "", "frames", "seconds", "fps", "of decode"
    );
    let mut ours = Vec::new();
    for streams in [1, n] {
        let decode = row(Work::DecodeOnly, &options, streams);
        for work in [Work::DecodeOnly, Work::Chain, Work::ColourFirst] {
            let (frames, seconds, fps) = match work {
                Work::DecodeOnly => decode,
                _ => row(work, &options, streams),
            };
            let name = format!("{}, {streams} stream(s)", work.name());
            println!(
                "{name:<44} {frames:>8} {seconds:>9.3} {fps:>9.0} {:>8.1}%",
                100.0 * fps / decode.2
            );
            ours.push((work, streams, fps));
        }
    }
    let mut ratios = Vec::new();
    for command in &options.anchors {
        for streams in [1, n] {
            let line = anchor_last_line(command, streams);
            println!("anchor x{streams}: {line}");
            if let Some(fps) = fps_in(&line) {
                ratios.push((line, streams, fps));
            }
        }
    }
    for (line, streams, fps) in ratios {
        let label = line.split(':').next().unwrap_or("anchor");
        let decode_only = label.contains("decode only");
        let Some((work, _, ours)) = ours.iter().find(|(w, s, _)| {
            *s == streams
                && matches!(w, Work::DecodeOnly) == decode_only
                && !matches!(w, Work::ColourFirst)
        }) else {
            continue;
        };
        println!(
            "ours ({}, {streams} stream(s)) / {label}: {:.2}x",
            work.name(),
            ours / fps
        );
    }
}
