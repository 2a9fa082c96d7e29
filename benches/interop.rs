//! Our elements beside GStreamer's own CUDA elements (gst-plugins-bad's `nvcodec`): frames per
//! second, and the copies and host waits our side makes per frame, with upstream's elements in our
//! CUDA context (memory used in place) and in a context of their own (memory copied), next to
//! `nvdec ! cudacvtcolor` (our elements alone) from the same run.
//!
//!   interop-bench CLIP [--repeats N]
//!
//! CLIP is an H.264 MP4. Each row is `filesrc ! qtdemux ! h264parse ! DECODER ! cudacvtcolor [downstream-sync=host] !
//! RGBA in CUDA memory [! cudadownload] ! fakesink`, prerolled, then timed from PLAYING to its end
//! of stream; the figure is the median of N runs (default 3). Copies and host waits come from
//! `cudapreproc_core::cuda::traffic()` over the timed part, divided by the frames.

use std::sync::atomic::Ordering;
use std::time::Instant;

use clap::Parser;
use cudapreproc_benches::sink_count::count_sink_buffers;
use cudapreproc_core::cuda::traffic;
use cudapreproc_tests::UpstreamContext as Context;
use gst::prelude::*;

/// One timed run: frames, seconds, copies and host waits per frame.
fn run(line: &str, context: Context) -> (u64, f64, f64, f64) {
    let pipeline = cudapreproc_tests::pipeline_in(line, context);
    let frames = count_sink_buffers(&pipeline);
    pipeline.set_state(gst::State::Paused).unwrap();
    let (prerolled, _, _) = pipeline.state(gst::ClockTime::from_seconds(30));
    assert!(prerolled.is_ok(), "{line} does not preroll");
    let (before, spent_before) = (frames.load(Ordering::Relaxed), traffic());
    let start = Instant::now();
    pipeline.set_state(gst::State::Playing).unwrap();
    let message = cudapreproc_tests::end_or_error(&pipeline, gst::ClockTime::from_seconds(120))
        .expect("EOS or an error within 120 s");
    let seconds = start.elapsed().as_secs_f64();
    let spent = traffic().since(&spent_before);
    if let gst::MessageView::Error(e) = message.view() {
        panic!("{line}: {}", e.error());
    }
    pipeline.set_state(gst::State::Null).unwrap();
    let frames = frames.load(Ordering::Relaxed) - before;
    let per_frame = |n: u64| n as f64 / frames as f64;
    (
        frames,
        seconds,
        per_frame(spent.copies),
        per_frame(spent.host_waits),
    )
}

/// interop-bench: our elements beside GStreamer's own CUDA elements.
#[derive(Parser)]
#[command(name = "interop-bench")]
struct Options {
    /// An H.264 MP4.
    clip: String,
    /// Runs per row; the median is printed.
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u32).range(1..))]
    repeats: u32,
}

fn main() {
    let Options { clip, repeats } = Options::parse();
    cudapreproc::register_elements().unwrap();
    let source = format!("filesrc location=\"{clip}\" ! qtdemux ! h264parse");
    let download = " ! cudadownload ! video/x-raw";
    // (row name, decoder, cudacvtcolor's properties, after RGBA, upstream context)
    let rows = [
        (
            "nvh264dec ! cudacvtcolor",
            "nvh264dec",
            "",
            "",
            Context::Shared,
        ),
        (
            "nvh264dec ! cudacvtcolor",
            "nvh264dec",
            "",
            "",
            Context::Separate,
        ),
        ("nvdec ! cudacvtcolor", "nvdec", "", "", Context::Shared),
        (
            "nvdec ! cudacvtcolor ! cudadownload",
            "nvdec",
            "",
            download,
            Context::Shared,
        ),
        (
            "... downstream-sync=host ! cudadownload",
            "nvdec",
            " downstream-sync=host",
            download,
            Context::Shared,
        ),
        (
            "nvdec ! cudacvtcolor ! cudadownload",
            "nvdec",
            "",
            download,
            Context::Separate,
        ),
    ];
    println!("{clip}, median of {repeats} runs");
    println!(
        "{:<38} {:<16} {:>7} {:>9} {:>13} {:>17}",
        "pipeline", "upstream context", "frames", "fps", "copies/frame", "host waits/frame"
    );
    for (name, decoder, converter, tail, context) in rows {
        let line = format!(
            "{source} ! {decoder} ! video/x-raw(memory:CUDAMemory) ! cudacvtcolor{converter} ! \
             video/x-raw(memory:CUDAMemory),format=RGBA{tail} ! fakesink name=sink sync=false"
        );
        let mut runs: Vec<_> = (0..repeats).map(|_| run(&line, context)).collect();
        runs.sort_by(|a, b| (a.0 as f64 / a.1).total_cmp(&(b.0 as f64 / b.1)));
        let (frames, seconds, copies, waits) = runs[runs.len() / 2];
        let context = match (decoder, tail, context) {
            ("nvdec", "", _) => "-".to_string(),
            (_, _, context) => format!("{context:?}"),
        };
        println!(
            "{name:<38} {context:<16} {frames:>7} {:>9.1} {copies:>13.2} {waits:>17.2}",
            frames as f64 / seconds
        );
    }
}
