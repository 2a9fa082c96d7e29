//! Hostile input: the corpus of broken files `scripts/make-bad-media` makes, decoded through the
//! whole chain in one process, each followed by a good file that must still decode exactly; and
//! frames whose size does not match their caps, which every element must refuse.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use cudapreproc_core::cuda::{self, LiveResources};
use gst::prelude::*;

use cudapreproc_tests::{appsink, chain, play_frame_md5s, tsv, Stopping};

use crate::device;
use crate::nvdec::decode_exactly;

/// Longest a broken file may take to end (the clips are at most a few hundred frames).
const FILE_LIMIT: Duration = Duration::from_secs(20);

/// The folder `scripts/make-bad-media` filled (`CUDAPREPROC_BAD_MEDIA`, or `.gpu/media/bad`).
fn corpus_dir() -> PathBuf {
    let dir = std::env::var_os("CUDAPREPROC_BAD_MEDIA")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(".gpu/media/bad"));
    assert!(
        dir.join("manifest.tsv").exists(),
        "no bad-input corpus in {} (scripts/make-bad-media makes it)",
        dir.display()
    );
    dir
}

struct Entry {
    name: String,
    category: String,
    expect: String,
    notes: String,
}

fn corpus(dir: &Path) -> Vec<Entry> {
    let (_, rows) = tsv(&dir.join("manifest.tsv"));
    rows.into_iter()
        .map(|f| Entry {
            name: f[0].clone(),
            category: f[1].clone(),
            expect: f[3].clone(),
            notes: f.get(4).cloned().unwrap_or_default(),
        })
        .collect()
}

/// How one run of a pipeline ended.
#[derive(Debug, Default)]
struct Outcome {
    frames: usize,
    warnings: Vec<String>,
    /// The first error: (element that posted it, text).
    error: Option<(String, String)>,
    eos: bool,
    elapsed: Duration,
}

impl Outcome {
    fn kind(&self) -> &'static str {
        match (&self.error, self.eos, self.warnings.is_empty()) {
            (Some(_), _, _) => "error",
            (None, true, true) => "eos",
            (None, true, false) => "eos+warnings",
            (None, false, _) => "hang",
        }
    }
}

/// Plays `pipeline`, taking buffers from its appsink, until EOS, an error or `limit`.
fn play(pipeline: &gst::Pipeline, limit: Duration) -> Outcome {
    let sink = appsink(pipeline);
    let bus = pipeline.bus().unwrap();
    let started = Instant::now();
    let mut outcome = Outcome::default();
    let _ = pipeline.set_state(gst::State::Playing);
    while started.elapsed() < limit {
        if sink
            .try_pull_sample(gst::ClockTime::from_mseconds(50))
            .is_some()
        {
            outcome.frames += 1;
        }
        while let Some(msg) = bus.pop_filtered(&[
            gst::MessageType::Error,
            gst::MessageType::Warning,
            gst::MessageType::Eos,
        ]) {
            match msg.view() {
                gst::MessageView::Error(e) => {
                    let source = msg.src().map(|s| s.path_string().to_string());
                    outcome
                        .error
                        .get_or_insert((source.unwrap_or_default(), e.error().to_string()));
                }
                gst::MessageView::Warning(w) => outcome.warnings.push(w.error().to_string()),
                gst::MessageView::Eos(_) => outcome.eos = true,
                _ => {}
            }
        }
        if outcome.error.is_some() || (outcome.eos && sink.is_eos()) {
            break;
        }
    }
    outcome.elapsed = started.elapsed();
    outcome
}

/// Aborts the process (naming what it was doing) if a step takes longer than a minute: a hang
/// in a state change cannot be caught any other way.
struct Watchdog {
    last_step: Arc<AtomicU64>,
    doing: Arc<Mutex<String>>,
    started: Instant,
}

impl Watchdog {
    fn start() -> Watchdog {
        let watchdog = Watchdog {
            last_step: Arc::new(AtomicU64::new(0)),
            doing: Arc::new(Mutex::new(String::new())),
            started: Instant::now(),
        };
        let (last_step, doing, started) = (
            watchdog.last_step.clone(),
            watchdog.doing.clone(),
            watchdog.started,
        );
        std::thread::spawn(move || loop {
            std::thread::sleep(Duration::from_secs(1));
            let since = started.elapsed().as_secs() - last_step.load(Ordering::Relaxed);
            if since > 60 {
                eprintln!("HANG: {} for {since} s", doing.lock().unwrap());
                std::process::abort();
            }
        });
        watchdog
    }

    fn step(&self, what: String) {
        *self.doing.lock().unwrap() = what;
        self.last_step
            .store(self.started.elapsed().as_secs(), Ordering::Relaxed);
    }
}

/// The good clip of the corpus, decoded in this process: every frame must equal libavcodec's.
fn good_clip_decodes_exactly(dir: &Path, expected: &[String]) -> Result<(), String> {
    let pipeline = Stopping(cudapreproc_tests::pipeline(&format!(
        "nvdecsrc location={} ! video/x-raw,format=NV12 ! appsink name=sink sync=false",
        dir.join("good.mp4").display()
    )));
    let (md5s, eos) = play_frame_md5s(&pipeline);
    if !eos {
        return Err(format!("stopped after {} frames without EOS", md5s.len()));
    }
    if md5s != expected {
        let equal = md5s.iter().zip(expected).filter(|(a, b)| a == b).count();
        return Err(format!(
            "{} frames, {equal} equal to libavcodec's {}",
            md5s.len(),
            expected.len()
        ));
    }
    Ok(())
}

/// GLib warnings and criticals (GStreamer's assertions among them) logged since the last call.
fn take_glib_messages() -> Vec<String> {
    std::mem::take(&mut *GLIB_MESSAGES.lock().unwrap())
}

static GLIB_MESSAGES: Mutex<Vec<String>> = Mutex::new(Vec::new());

/// Keeps GLib's warnings and criticals (still printed) so each can be tied to the file that
/// caused it.
fn record_glib_messages() {
    glib::log_set_default_handler(|domain, level, message| {
        if matches!(level, glib::LogLevel::Critical | glib::LogLevel::Warning) {
            GLIB_MESSAGES
                .lock()
                .unwrap()
                .push(format!("{}: {message}", domain.unwrap_or("")));
        }
        glib::log_default_handler(domain, level, Some(message));
    });
}

/// Everything the plugin holds besides the device the test keeps open must be released at NULL.
fn released(baseline: &LiveResources) -> Result<(), String> {
    let now = cuda::live_resources();
    if now == *baseline {
        Ok(())
    } else {
        Err(format!("held after NULL: {now} (before: {baseline})"))
    }
}

/// Every file of the corpus through `nvdecsrc ! <the chain> ! appsink`: each ends (EOS or an
/// error) within 20 s with a readable message, files that must fail do, nothing leaks, and the
/// good clip decodes exactly after every one of them in the same process.
#[test]
fn broken_files_end_cleanly_and_the_next_file_decodes() {
    let _device = device();
    let dir = corpus_dir();
    let entries = corpus(&dir);
    let expected: Vec<String> = std::fs::read_to_string(dir.join("good.md5"))
        .unwrap()
        .lines()
        .map(|l| l.split_whitespace().nth(2).unwrap().to_string())
        .collect();
    assert!(!expected.is_empty());
    let watchdog = Watchdog::start();
    record_glib_messages();
    watchdog.step("the good clip, first".into());
    good_clip_decodes_exactly(&dir, &expected).unwrap();
    let baseline = cuda::live_resources();

    let mut by_category: BTreeMap<String, BTreeMap<&'static str, usize>> = BTreeMap::new();
    // Each distinct error text: how many files gave it, and the first of them.
    let mut messages: BTreeMap<String, (usize, &str)> = BTreeMap::new();
    let mut glib_messages = Vec::new();
    let mut failures = Vec::new();
    let started = Instant::now();
    let mut slowest = (Duration::ZERO, String::new());
    for entry in &entries {
        let path = dir.join(&entry.name);
        watchdog.step(format!("{} ({})", entry.name, entry.notes));
        let pipeline = Stopping(cudapreproc_tests::pipeline(&chain_line(&path)));
        let outcome = play(&pipeline, FILE_LIMIT);
        drop(pipeline);
        let kind = outcome.kind();
        *by_category
            .entry(entry.category.clone())
            .or_default()
            .entry(kind)
            .or_default() += 1;
        if outcome.elapsed > slowest.0 {
            slowest = (outcome.elapsed, entry.name.clone());
        }
        let mut problems = Vec::new();
        match (&outcome.error, entry.expect.as_str()) {
            (_, _) if kind == "hang" => problems.push(format!(
                "no EOS and no error after {FILE_LIMIT:?} ({} frames)",
                outcome.frames
            )),
            (None, "error") => problems.push(format!(
                "expected an error, got EOS after {} frames",
                outcome.frames
            )),
            (Some((source, text)), "decodes") => problems.push(format!(
                "expected to decode, got error from {source}: {text}"
            )),
            _ => {}
        }
        if let Some((source, text)) = &outcome.error {
            // "Internal data stream error" and "general stream error" only say that a thread
            // stopped; the element that stopped it must have said why first.
            if text.contains("Internal data stream error")
                || text.contains("general stream error")
                || text.trim().is_empty()
            {
                problems.push(format!("unhelpful error from {source}: {text:?}"));
            }
            let element = source.rsplit('/').next().unwrap_or_default();
            let element = element.split(':').next().unwrap_or_default();
            // nvdecsrc names the file first; group by what follows.
            let prefix = format!("{}: ", path.display());
            let text = text.strip_prefix(&prefix).unwrap_or(text);
            messages
                .entry(format!("{element}: {text}"))
                .or_insert((0, &entry.name))
                .0 += 1;
        }
        if let Err(e) = released(&baseline) {
            problems.push(e);
        }
        for message in take_glib_messages() {
            glib_messages.push(format!("{}: {message}", entry.name));
        }
        watchdog.step(format!("the good clip after {}", entry.name));
        if let Err(e) = good_clip_decodes_exactly(&dir, &expected) {
            problems.push(format!("the good clip afterwards: {e}"));
        }
        if !problems.is_empty() {
            failures.push(format!(
                "{} ({}): {}",
                entry.name,
                entry.notes,
                problems.join("; ")
            ));
        }
    }

    println!(
        "{} broken files in {:.1} s (slowest {} in {:.2} s); the good clip decoded exactly after \
         each one ({} frames)",
        entries.len(),
        started.elapsed().as_secs_f64(),
        slowest.1,
        slowest.0.as_secs_f64(),
        expected.len()
    );
    println!(
        "{:<12} {:>6} {:>6} {:>13} {:>6} {:>5}",
        "category", "files", "eos", "eos+warnings", "error", "hang"
    );
    for (category, kinds) in &by_category {
        let n = |k: &str| kinds.get(k).copied().unwrap_or(0);
        println!(
            "{category:<12} {:>6} {:>6} {:>13} {:>6} {:>5}",
            kinds.values().sum::<usize>(),
            n("eos"),
            n("eos+warnings"),
            n("error"),
            n("hang")
        );
    }
    println!("errors posted, by element and text:");
    for (message, (count, first)) in &messages {
        println!("  {count:>4} x {message} (e.g. {first})");
    }
    println!(
        "GLib warnings and criticals while decoding ({}):",
        glib_messages.len()
    );
    for message in &glib_messages {
        println!("  {message}");
    }
    assert!(
        failures.is_empty(),
        "{} of {} files:\n{}",
        failures.len(),
        entries.len(),
        failures.join("\n")
    );
}

fn chain_line(path: &Path) -> String {
    format!(
        "nvdecsrc location={} ! {} ! appsink name=sink sync=false",
        path.display(),
        chain::CHAIN
    )
}

/// Frames smaller than their caps say (system memory, and CUDA memory whose size or layout does
/// not match) are refused by every element with an error naming the sizes, never read past;
/// the process goes on working.
#[test]
fn frames_that_do_not_match_their_caps_are_refused() {
    let _device = device();
    let baseline = cuda::live_resources();
    let video = |memory: &str, format: &str, w: u32, h: u32| {
        gst::Caps::from_str(&format!(
            "video/x-raw{memory},format={format},width={w},height={h},framerate=30/1"
        ))
        .unwrap()
    };
    // A real CUDA frame of 320x240 RGBA from our own pool, to pass off as a larger one.
    let small_cuda = {
        let pipeline = Stopping(cudapreproc_tests::pipeline(
            "videotestsrc num-buffers=1 ! video/x-raw,width=320,height=240 ! cudacvtcolor ! \
             video/x-raw(memory:CUDAMemory),format=RGBA ! appsink name=sink sync=false",
        ));
        let sink = appsink(&pipeline);
        pipeline.set_state(gst::State::Playing).unwrap();
        let sample = sink.pull_sample().unwrap();
        sample.buffer_owned().unwrap()
    };
    let without_meta = {
        let mut buffer = gst::Buffer::new();
        buffer
            .get_mut()
            .unwrap()
            .append_memory(small_cuda.memory(0).unwrap().to_owned());
        buffer
    };
    let short_system = gst::Buffer::from_mut_slice(vec![0x5au8; 640 * 480]);
    let short_tensor = gst::Buffer::from_mut_slice(vec![0x5au8; 3 * 224 * 100 * 4]);
    let tensor_caps = gst::Caps::from_str(
        "other/tensors,format=static,num_tensors=1,types=float32,dimensions=224:224:3:1,\
         framerate=30/1",
    )
    .unwrap();

    // Each input, and the elements it is given to.
    let cases: Vec<(&str, gst::Caps, gst::Buffer, &[&str])> = vec![
        (
            "NV12 640x480 in 307200 bytes, system memory",
            video("", "NV12", 640, 480),
            short_system.clone(),
            &[
                "cudacvtcolor ! video/x-raw(memory:CUDAMemory),format=RGBA",
                "cudawarpaffine width=64 height=64",
            ],
        ),
        (
            "RGBA 640x480 in 307200 bytes, system memory",
            video("", "RGBA", 640, 480),
            short_system,
            &["cudaconvert dtype=float32"],
        ),
        (
            "float32 3x224x224 tensor in 268800 bytes, system memory",
            tensor_caps,
            short_tensor,
            &["tensorsink"],
        ),
        (
            "a 320x240 CUDA frame (with its video meta) sent as 1920x1080",
            video("(memory:CUDAMemory)", "RGBA", 1920, 1080),
            small_cuda.clone(),
            &[
                "cudacvtcolor ! video/x-raw(memory:CUDAMemory),format=NV12",
                "cudawarpaffine width=224 height=224",
            ],
        ),
        (
            "a 320x240 CUDA frame without video meta sent as 1920x1080",
            video("(memory:CUDAMemory)", "RGBA", 1920, 1080),
            without_meta,
            &[
                "cudaconvert dtype=float32",
                "cudawarpaffine width=224 height=224",
            ],
        ),
    ];
    drop(small_cuda);
    let mut failures = Vec::new();
    // Consumed by the loop, so that no buffer outlives it.
    let tries = cases
        .into_iter()
        .flat_map(|(what, caps, buffer, elements)| {
            elements
                .iter()
                .map(move |element| (what, caps.clone(), buffer.clone(), *element))
        });
    for (what, caps, buffer, element) in tries {
        let sink = if element == "tensorsink" {
            ""
        } else {
            " ! appsink name=sink sync=false"
        };
        let pipeline = Stopping(cudapreproc_tests::pipeline(&format!(
            "appsrc name=src format=time ! {element}{sink}"
        )));
        let src = cudapreproc_tests::appsrc(&pipeline);
        src.set_caps(Some(&caps));
        pipeline.set_state(gst::State::Playing).unwrap();
        let mut buffer = buffer;
        buffer.make_mut().set_pts(gst::ClockTime::ZERO);
        let _ = src.push_buffer(buffer);
        let _ = src.end_of_stream();
        let error = cudapreproc_tests::end_or_error(&pipeline, gst::ClockTime::from_seconds(10))
            .and_then(|msg| match msg.view() {
                gst::MessageView::Error(e) => Some(e.error().to_string()),
                _ => None,
            });
        drop(pipeline);
        let element_name = element.split_whitespace().next().unwrap();
        match error {
            Some(text) if text.contains("bytes") => {
                println!("{element_name:<15} {what}: refused: {text}")
            }
            other => failures.push(format!("{element_name} {what}: {other:?}")),
        }
    }
    assert!(failures.is_empty(), "not refused:\n{}", failures.join("\n"));
    released(&baseline).unwrap();
    // The process still decodes exactly.
    decode_exactly("h264_bframes_720p.mp4")
        .unwrap_or_else(|e| panic!("after the refused frames: {e}"));
}
