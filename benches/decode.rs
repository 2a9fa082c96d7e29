//! NVDEC decode throughput of `nvdec` (CUDA memory out), one stream and N at once (N pipelines
//! in this process, and N processes), next to an anchor's figure from the same run.
//!
//!   decode-bench CLIP [--streams N] [--props "nvdec properties"] [--nvdecsrc] [--anchor "COMMAND"]
//!
//! Each pipeline is `filesrc ! parsebin ! nvdec ! video/x-raw(memory:CUDAMemory) ! fakesink`, or
//! with `--nvdecsrc` the source bin, `nvdecsrc ! video/x-raw(memory:CUDAMemory) ! fakesink`.
//! Pipelines preroll first (decoder created, first frame out), then all start together; a
//! pipeline's figure is the frames its sink received after the start over the time from the
//! start to its end of stream (teardown not counted; for N processes the time until they have
//! exited is printed as well). The anchor command (e.g. NVIDIA's PyNvVideoCodec script) is run
//! as is, with N appended for the multi-stream row, and its last line printed beside ours.

use std::io::{BufRead, Write};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::Parser;
use cudapreproc_benches::anchor_last_line;
use cudapreproc_benches::sink_count::count_sink_buffers;
use gst::prelude::*;

/// decode-bench: NVDEC decode throughput of `nvdec`, next to an anchor's figure.
#[derive(Parser)]
#[command(name = "decode-bench")]
struct Options {
    /// The clip to decode.
    clip: String,
    /// Streams decoded at once in the multi-stream rows.
    #[arg(long, default_value_t = 7)]
    streams: usize,
    /// Properties for nvdec (or nvdecsrc), as on a launch line.
    #[arg(long, default_value = "")]
    props: String,
    /// Decode with the nvdecsrc source bin instead of filesrc ! parsebin ! nvdec.
    #[arg(long = "nvdecsrc")]
    source_bin: bool,
    /// The anchor command; the number of streams is appended.
    #[arg(long)]
    anchor: Option<String>,
}

/// One prerolled pipeline and the count of frames its sink has received.
struct Run {
    pipeline: gst::Pipeline,
    frames: Arc<AtomicU64>,
}

impl Options {
    /// The pipeline up to the decoded frames.
    fn decoder(&self) -> String {
        let (clip, props) = (&self.clip, &self.props);
        if self.source_bin {
            format!("nvdecsrc location=\"{clip}\" {props}")
        } else {
            format!("filesrc location=\"{clip}\" ! parsebin ! nvdec {props}")
        }
    }
}

fn prepare(decoder: &str) -> Run {
    let pipeline = gst::parse::launch(&format!(
        "{decoder} ! video/x-raw(memory:CUDAMemory) ! fakesink name=sink sync=false"
    ))
    .unwrap()
    .downcast::<gst::Pipeline>()
    .unwrap();
    let frames = count_sink_buffers(&pipeline);
    pipeline.set_state(gst::State::Paused).unwrap();
    let (result, _, _) = pipeline.state(gst::ClockTime::from_seconds(30));
    if result.is_err() {
        let error = cudapreproc_tests::pending_error(&pipeline)
            .map(|m| format!("{m:?}"))
            .unwrap_or_default();
        panic!("{decoder} does not preroll: {error}");
    }
    Run { pipeline, frames }
}

/// Starts every run at once; returns (frames after the start, seconds to its end of stream) of
/// each. The runs are left at their end of stream; `stop` tears them down.
fn race(runs: &[Run]) -> Vec<(u64, f64)> {
    let before: Vec<u64> = runs
        .iter()
        .map(|r| r.frames.load(Ordering::Relaxed))
        .collect();
    let start = Instant::now();
    for run in runs {
        run.pipeline.set_state(gst::State::Playing).unwrap();
    }
    let mut results = vec![None; runs.len()];
    while results.iter().any(Option::is_none) {
        for (i, run) in runs.iter().enumerate() {
            if results[i].is_some() {
                continue;
            }
            if let Some(msg) =
                cudapreproc_tests::end_or_error(&run.pipeline, gst::ClockTime::from_mseconds(1))
            {
                if let gst::MessageView::Error(e) = msg.view() {
                    panic!("pipeline {i}: {}", e.error());
                }
                let frames = run.frames.load(Ordering::Relaxed) - before[i];
                results[i] = Some((frames, start.elapsed().as_secs_f64()));
            }
        }
    }
    results.into_iter().map(Option::unwrap).collect()
}

fn stop(runs: &[Run]) {
    for run in runs {
        run.pipeline.set_state(gst::State::Null).unwrap();
    }
}

/// `race` and `stop`.
fn race_and_stop(runs: &[Run]) -> Vec<(u64, f64)> {
    let results = race(runs);
    stop(runs);
    results
}

/// Aggregate fps of runs started together: all frames over the time the last one took.
fn aggregate(results: &[(u64, f64)]) -> (u64, f64, f64) {
    let frames: u64 = results.iter().map(|r| r.0).sum();
    let seconds = results.iter().map(|r| r.1).fold(0.0, f64::max);
    (frames, seconds, frames as f64 / seconds)
}

/// Child mode: prepare one pipeline, say "ready", wait for a line on stdin, run, print
/// "FRAMES SECONDS" at the end of stream (before the teardown, which the parent times apart).
fn child(decoder: &str) {
    let runs = [prepare(decoder)];
    println!("ready");
    std::io::stdout().flush().unwrap();
    let mut line = String::new();
    std::io::stdin().read_line(&mut line).unwrap();
    let (frames, seconds) = race(&runs)[0];
    println!("{frames} {seconds}");
    std::io::stdout().flush().unwrap();
    stop(&runs);
}

/// Runs `n` processes at once: (frames, seconds to the last end of stream, fps) and the seconds
/// until all have exited.
fn processes(decoder: &str, n: usize) -> ((u64, f64, f64), f64) {
    let exe = std::env::current_exe().unwrap();
    let mut children: Vec<_> = (0..n)
        .map(|_| {
            Command::new(&exe)
                .args(["--child", decoder])
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    let mut readers: Vec<_> = children
        .iter_mut()
        .map(|c| std::io::BufReader::new(c.stdout.take().unwrap()))
        .collect();
    for reader in &mut readers {
        let mut line = String::new();
        reader.read_line(&mut line).unwrap();
        assert_eq!(line.trim(), "ready", "a child failed to start");
    }
    let start = Instant::now();
    for child in &mut children {
        writeln!(child.stdin.as_mut().unwrap(), "go").unwrap();
    }
    let mut frames = 0;
    for reader in &mut readers {
        let mut line = String::new();
        reader.read_line(&mut line).unwrap();
        frames += line
            .split_whitespace()
            .next()
            .unwrap()
            .parse::<u64>()
            .unwrap();
    }
    let seconds = start.elapsed().as_secs_f64();
    for mut child in children {
        child.wait().unwrap();
    }
    let exited = start.elapsed().as_secs_f64();
    ((frames, seconds, frames as f64 / seconds), exited)
}

fn main() {
    gst::init().unwrap();
    gstcudapreproc::plugin_register_static().unwrap();
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).map(String::as_str) == Some("--child") {
        child(&args[2]);
        return;
    }
    let options = Options::parse();
    let row = |name: &str, (frames, seconds, fps): (u64, f64, f64)| {
        println!("{name:<44} {frames:>7} {seconds:>9.3} {fps:>9.0}");
    };

    // Warm-up: CUDA and NVDEC initialisation, file cache.
    let decoder = options.decoder();
    race_and_stop(&[prepare(&decoder)]);

    println!("{decoder}");
    println!("{:<44} {:>7} {:>9} {:>9}", "", "frames", "seconds", "fps");
    let one = aggregate(&race_and_stop(&[prepare(&decoder)]));
    row("nvdec, 1 stream", one);
    if let Some(command) = &options.anchor {
        println!("anchor, 1 stream: {}", anchor_last_line(command, 1));
    }
    let n = options.streams;
    let runs: Vec<Run> = (0..n).map(|_| prepare(&decoder)).collect();
    row(
        &format!("nvdec, {n} pipelines in one process"),
        aggregate(&race_and_stop(&runs)),
    );
    let (figures, exited) = processes(&decoder, n);
    row(&format!("nvdec, {n} processes"), figures);
    // The anchor's clock (PyNvVideoCodec's script) runs until its processes have exited.
    println!("  ({n} processes torn down and exited {exited:.3} s after the start)");
    if let Some(command) = &options.anchor {
        println!("anchor, {n} streams: {}", anchor_last_line(command, n));
    }
    std::thread::sleep(Duration::from_millis(10));
}
