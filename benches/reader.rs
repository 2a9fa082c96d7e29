//! The dataset workload: many short clips, a few frames from each, next to an anchor's figures
//! from the same run.
//!
//!   reader-bench CLIPDIR [--decoders N] [--epochs E] [--calls] [--anchor "COMMAND"]
//!                [--tasks uniform20,random8,train]
//!
//! CLIPDIR holds the clips (`scripts/make-bench-clips`: 10 s, 360p to 1080p, GOPs of 250 and
//! 30). Per clip, three tasks, as NVIDIA's PyNvVideoCodec anchor (`pynv_reader.py`) does them:
//! - uniform20: frames 0, 5, ..., 95 as uint8 RGB planar, `[20, 3, H, W]`;
//! - random8: 8 frames drawn from the first 300 (seeded by the file name);
//! - train: uniform20 resized to 224x224 (bilinear), ImageNet-normalised float32.
//!
//! Two rows per task, each after a warm-up pass over the files and timed over E passes (default
//! 1; more passes give steadier figures on few files), with the CPU cores the process kept busy
//! meanwhile (and with `--calls`, the time spent in each NVCUVID call, to see which one waits
//! when several readers decode at once):
//! - reader: one `VideoReader` moved from file to file; clips/s, frames/s, and the time from
//!   opening a file to having its frames (the first batch of a new file), median and mean;
//! - dataset: `VideoDataset` with N decoders (default 7, NVDEC's engines on an H100), each file's
//!   frames one batch; clips/s, frames/s and the time from the epoch's start to its first batch.
//!
//! The anchor command is run as `COMMAND CLIPDIR 0` (one decoder, one file after another) and
//! `COMMAND CLIPDIR N` (N threads, a decoder each); its lines `pynvvideocodec TASK threads=T: C
//! clips/s, ...` are printed and their clips/s set beside ours. Its one-decoder time per clip
//! (1 / clips/s: one batch per file) is the anchor's time to the first batch of a new file.

use std::path::PathBuf;
use std::process::Command;
use std::time::Instant;

use clap::Parser;
use cudapreproc::dataset::{DatasetOptions, VideoDataset};
use cudapreproc::reader::{DType, Normalize, ReaderOptions, VideoReader};
use cudapreproc::sampler::{ClipSampler, IndexSampling, SampleRng};
use cudapreproc_core::cuvid::{nvcuvid_times, reset_nvcuvid_times, CallTime};

const TASKS: [&str; 3] = ["uniform20", "random8", "train"];

/// reader-bench: the dataset workload (many short clips, a few frames from each), next to an
/// anchor's figures.
#[derive(Parser)]
#[command(name = "reader-bench")]
struct Options {
    /// The folder of clips.
    #[arg(value_name = "CLIPDIR")]
    dir: PathBuf,
    /// Decoders of the dataset rows.
    #[arg(long, default_value_t = 7)]
    decoders: usize,
    /// Timed passes over the files, after the warm-up pass.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u64).range(1..))]
    epochs: u64,
    /// Print the time in each NVCUVID call under each row.
    #[arg(long)]
    calls: bool,
    /// The anchor command; the folder and the number of decoders are appended.
    #[arg(long)]
    anchor: Option<String>,
    /// The tasks to run, comma-separated (default: all); they run in the order listed below.
    #[arg(long, value_delimiter = ',', value_parser = TASKS)]
    tasks: Vec<String>,
}

impl Options {
    /// The tasks asked for, in TASKS' order.
    fn tasks(&self) -> Vec<&'static str> {
        TASKS
            .into_iter()
            .filter(|task| self.tasks.is_empty() || self.tasks.iter().any(|t| t == task))
            .collect()
    }
}

/// What each frame becomes for `task`.
fn reader_options(task: &str) -> ReaderOptions {
    match task {
        "train" => ReaderOptions {
            size: Some((224, 224)),
            dtype: DType::Float32,
            normalize: Normalize::IMAGENET,
            ..ReaderOptions::default()
        },
        _ => ReaderOptions::default(),
    }
}

/// The frames `task` takes from `file`.
fn frames(task: &str, file: &str) -> Vec<i64> {
    if task != "random8" {
        return (0..100).step_by(5).collect();
    }
    // Eight distinct frames of the first 300, seeded by the file name.
    let seed = file.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
    });
    let mut rng = SampleRng::new(seed);
    let mut chosen: Vec<i64> = Vec::new();
    while chosen.len() < 8 {
        let f = rng.below(std::num::NonZeroU64::new(300).unwrap()) as i64;
        if !chosen.contains(&f) {
            chosen.push(f);
        }
    }
    chosen.sort_unstable();
    chosen
}

/// The sampler that picks the same frames in a dataset: one clip of 20 frames 5 apart from
/// frame 0, or 8 single frames from the first 300.
fn sampler(task: &str) -> (ClipSampler, usize) {
    match task {
        "random8" => (
            ClipSampler::RandomIndices(IndexSampling {
                num_clips: 8,
                sampling_range_end: Some(300),
                ..Default::default()
            }),
            8,
        ),
        _ => (
            ClipSampler::RegularIndices(IndexSampling {
                num_clips: 1,
                num_frames_per_clip: 20,
                num_indices_between_frames: 5,
                sampling_range_end: Some(1),
                ..Default::default()
            }),
            1,
        ),
    }
}

/// CPU time this process has used (all threads, user and system), in seconds: from
/// /proc/self/stat, whose times are in Linux's fixed USER_HZ of 100 ticks a second.
fn process_cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // The fields after the command name, which is in parentheses and may hold spaces.
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .map_or("", |(_, rest)| rest)
        .split_whitespace()
        .collect();
    let ticks = |i: usize| fields.get(i).and_then(|f| f.parse::<f64>().ok());
    // utime and stime: fields 14 and 15 of the line, 12 and 13 after the name.
    ticks(11)
        .zip(ticks(12))
        .map_or(f64::NAN, |(u, s)| (u + s) / 100.0)
}

struct Figures {
    clips_per_s: f64,
    frames_per_s: f64,
    /// CPU cores the process kept busy on average (CPU seconds over wall seconds).
    cpu_cores: f64,
    /// Time in each NVCUVID call during the timed passes.
    nvcuvid: Vec<CallTime>,
    /// Reader rows: per file, open to frames ready; dataset rows: the epoch's start to its first
    /// batch ready. In ms.
    latency_ms: Vec<f64>,
}

/// A timed stretch of work: its wall time, the process's CPU time and the NVCUVID calls in it.
struct Measurement {
    start: Instant,
    cpu_seconds: f64,
}

impl Measurement {
    fn start() -> Self {
        reset_nvcuvid_times();
        Measurement {
            cpu_seconds: process_cpu_seconds(),
            start: Instant::now(),
        }
    }

    /// The figures of the work since `start`, which gave `clips` clips of `frames` frames.
    fn figures(&self, clips: usize, frames: usize, latency_ms: Vec<f64>) -> Figures {
        let seconds = self.start.elapsed().as_secs_f64();
        Figures {
            cpu_cores: (process_cpu_seconds() - self.cpu_seconds) / seconds,
            nvcuvid: nvcuvid_times(),
            clips_per_s: clips as f64 / seconds,
            frames_per_s: frames as f64 / seconds,
            latency_ms,
        }
    }
}

fn reader_pass(task: &str, files: &[String], epochs: usize) -> Figures {
    let mut reader = VideoReader::open(&files[0], reader_options(task)).unwrap();
    let mut run = |timed: bool| {
        let mut latency = Vec::new();
        let mut frames_out = 0;
        let passes = if timed { epochs } else { 1 };
        let measurement = Measurement::start();
        for file in files.iter().cycle().take(passes * files.len()) {
            let opened = Instant::now();
            reader.reopen(file).unwrap();
            let batch = reader.get_frames_at(&frames(task, file)).unwrap();
            batch.data.synchronize().unwrap();
            latency.push(opened.elapsed().as_secs_f64() * 1e3);
            frames_out += batch.indices.len();
        }
        timed.then(|| measurement.figures(passes * files.len(), frames_out, latency))
    };
    run(false);
    run(true).unwrap()
}

fn dataset_pass(task: &str, files: &[String], decoders: usize, epochs: usize) -> Figures {
    let (sampler, clips_per_file) = sampler(task);
    let dataset = VideoDataset::new(
        files.to_vec(),
        DatasetOptions {
            sampler,
            reader: reader_options(task),
            batch_size: clips_per_file,
            decoders,
            ..DatasetOptions::default()
        },
    )
    .unwrap();
    let run = |first_epoch: u64, passes: usize| {
        let measurement = Measurement::start();
        let mut frames_out = 0;
        let mut first_batch_ms = Vec::new();
        let epochs = (first_epoch..).take(passes);
        for batch in epochs.flat_map(|epoch| dataset.iter(epoch)) {
            let batch = batch.unwrap();
            batch.data.synchronize().unwrap();
            if first_batch_ms.is_empty() {
                first_batch_ms.push(measurement.start.elapsed().as_secs_f64() * 1e3);
            }
            frames_out += batch.frame_indices.len();
        }
        measurement.figures(passes * files.len(), frames_out, first_batch_ms)
    };
    run(0, 1);
    run(1, epochs)
}

/// The anchor's clips/s for each task, from its output lines, and the lines themselves.
fn anchor(command: &str, dir: &std::path::Path, threads: usize) -> (Vec<(String, f64)>, String) {
    let output = Command::new("sh")
        .arg("-c")
        .arg(format!("{command} {} {threads}", dir.display()))
        .output()
        .expect("sh runs");
    let text = String::from_utf8_lossy(&output.stdout).to_string();
    let figures = text
        .lines()
        .filter_map(|line| {
            let task = line.split_whitespace().nth(1)?.to_string();
            let clips = line
                .split(": ")
                .nth(1)?
                .split_whitespace()
                .next()?
                .parse()
                .ok()?;
            Some((task, clips))
        })
        .collect();
    let shown = if text.trim().is_empty() {
        format!(
            "anchor failed: {}",
            String::from_utf8_lossy(&output.stderr).trim()
        )
    } else {
        text
    };
    (figures, shown)
}

/// How a task's rows are printed.
struct Row<'a> {
    task: &'a str,
    /// Each NVCUVID call's time on a line of its own under the row.
    calls: bool,
}

impl Row<'_> {
    /// One row: our figures, `latency` (already formatted), and the anchor's clips/s beside.
    fn print(&self, name: &str, figures: &Figures, latency: &str, anchor: Option<f64>) {
        println!(
            "{:<10} {name:<20} {:>8.1} {:>9.0} {latency:>22} {:>14} {:>7} {:>9.1}",
            self.task,
            figures.clips_per_s,
            figures.frames_per_s,
            anchor.map_or("-".into(), |c| format!("{c:.1}")),
            anchor.map_or("-".into(), |a| format!("{:.2}x", figures.clips_per_s / a)),
            figures.cpu_cores
        );
        if self.calls {
            for call in &figures.nvcuvid {
                println!("    {call}");
            }
        }
    }
}

fn median(values: &[f64]) -> f64 {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    sorted[sorted.len() / 2]
}

fn main() {
    let options = Options::parse();
    let mut files: Vec<String> = std::fs::read_dir(&options.dir)
        .unwrap_or_else(|e| panic!("{}: {e}", options.dir.display()))
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "mp4"))
        .map(|p| p.display().to_string())
        .collect();
    files.sort();
    assert!(
        !files.is_empty(),
        "no .mp4 clips in {}",
        options.dir.display()
    );
    let (mut one, mut many) = (Vec::new(), Vec::new());
    if let Some(command) = &options.anchor {
        let (figures, text) = anchor(command, &options.dir, 0);
        print!("{text}");
        one = figures;
        let (figures, text) = anchor(command, &options.dir, options.decoders);
        print!("{text}");
        many = figures;
    }
    let anchor_of = |figures: &[(String, f64)], task: &str| {
        figures
            .iter()
            .find(|(t, _)| t == task)
            .map(|(_, clips)| *clips)
    };
    println!(
        "{} clips in {} | reader: one VideoReader, file after file | dataset: {} decoders",
        files.len(),
        options.dir.display(),
        options.decoders
    );
    println!(
        "{:<10} {:<20} {:>8} {:>9} {:>22} {:>14} {:>7} {:>9}",
        "task",
        "row",
        "clips/s",
        "frames/s",
        "ms to a file's frames",
        "anchor clips/s",
        "ratio",
        "CPU cores"
    );
    for task in options.tasks() {
        let reader = reader_pass(task, &files, options.epochs as usize);
        let anchor_one = anchor_of(&one, task);
        let latency = format!(
            "{:.1} med, {:.1} mean{}",
            median(&reader.latency_ms),
            reader.latency_ms.iter().sum::<f64>() / reader.latency_ms.len() as f64,
            anchor_one.map_or(String::new(), |c| format!(" ({:.1})", 1e3 / c))
        );
        let row = Row {
            task,
            calls: options.calls,
        };
        row.print("reader, 1 decoder", &reader, &latency, anchor_one);
        let dataset = dataset_pass(task, &files, options.decoders, options.epochs as usize);
        let first_batch = dataset
            .latency_ms
            .first()
            .map_or(String::new(), |ms| format!("first batch {ms:.1}"));
        let name = format!("dataset, {} decoders", options.decoders);
        row.print(&name, &dataset, &first_batch, anchor_of(&many, task));
    }
    println!("(in parentheses: the anchor's time per clip with one decoder, one batch per file)");
}
