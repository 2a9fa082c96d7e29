//! Stress: state changes, seeks, many pipelines and processes at once, and a long run, with the
//! plugin's resource counts (`cuda::live_resources`), the driver's device memory figure and the
//! process's resident memory checked for leaks and growth.

use std::io::Read;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use cudapreproc_core::cuda;
use gst::prelude::*;

use cudapreproc_tests::{appsink, chain, frame_md5, media_dir, Rng, Stopping};

use crate::nvdec::{decode_exactly, references, stream_time};
use crate::{device, device_used, tensor_md5};

const MIB: f64 = 1048576.0;

/// This process's resident memory in bytes (VmRSS).
fn resident_bytes() -> i64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let kib: i64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .expect("VmRSS in /proc/self/status");
    kib * 1024
}

/// 1,000 NULL -> PLAYING -> NULL cycles of the whole chain ending in `tensorsink`, half of them
/// stopped as soon as PLAYING is asked for, half after the first tensor (checked equal to the
/// first cycle's): after every cycle the plugin holds nothing, and device memory stays flat.
#[test]
fn thousand_state_cycles_release_everything() {
    let device = device();
    let pipeline =
        cudapreproc::TensorPipeline::parse(&chain::launch_line("tensorsink max-buffers=2"))
            .unwrap();
    let baseline = cuda::live_resources();
    let mut first: Option<String> = None;
    let mut samples = Vec::new();
    let started = Instant::now();
    for cycle in 0..1000 {
        if cycle % 2 == 0 {
            pipeline.set_state(gst::State::Playing).unwrap();
            let tensor = pipeline
                .next_tensor()
                .unwrap_or_else(|e| panic!("cycle {cycle}: {e}"))
                .unwrap_or_else(|| panic!("cycle {cycle}: EOS before the first tensor"));
            let md5 = tensor_md5(&tensor);
            assert_eq!(
                first.get_or_insert_with(|| md5.clone()),
                &md5,
                "cycle {cycle}: first tensor differs"
            );
        } else {
            // Asynchronous: the pipeline is still starting when it is stopped.
            pipeline.pipeline().set_state(gst::State::Playing).unwrap();
        }
        pipeline.set_state(gst::State::Null).unwrap();
        let live = cuda::live_resources();
        assert_eq!(live, baseline, "cycle {cycle}: still held after NULL");
        if cycle % 100 == 99 {
            samples.push((cycle + 1, device_used(&device), resident_bytes()));
        }
    }
    println!(
        "1000 cycles in {:.1} s; after each, the plugin held what it held before: {baseline}",
        started.elapsed().as_secs_f64()
    );
    for (cycles, used, rss) in &samples {
        println!(
            "after {cycles:>4} cycles: device memory used {:>8.1} MiB, resident {:>7.1} MiB",
            *used as f64 / MIB,
            *rss as f64 / MIB
        );
    }
    let (_, used1, rss1) = samples[1];
    let (_, used_last, rss_last) = *samples.last().unwrap();
    assert!(
        (used_last - used1).abs() <= 4 << 20,
        "device memory moved {} bytes",
        used_last - used1
    );
    assert!(
        rss_last - rss1 <= 16 << 20,
        "resident memory grew {} bytes",
        rss_last - rss1
    );
}

/// 100 seeks while playing the real clip through `nvdecsrc`: half frame-accurate (the frame
/// shown is the one asked for), half to key frames; every frame shown after a seek is the
/// libavcodec frame for its timestamp.
#[test]
fn hundred_seeks_during_playback() {
    let _device = device();
    let clip = media_dir().join("bigbuckbunny.mp4");
    let expected = references("bigbuckbunny.mp4");
    let pipeline = Stopping(cudapreproc_tests::pipeline(&format!(
        "nvdecsrc location={} ! video/x-raw,format=NV12 ! appsink name=sink sync=false \
         max-buffers=4",
        clip.display()
    )));
    let sink = appsink(&pipeline);
    pipeline.set_state(gst::State::Playing).unwrap();
    let mut times = Vec::new();
    while let Some(sample) = sink.try_pull_sample(gst::ClockTime::from_seconds(20)) {
        let info = gst_video::VideoInfo::from_caps(sample.caps().unwrap()).unwrap();
        let index = times.len();
        assert_eq!(
            frame_md5(sample.buffer().unwrap(), &info),
            expected[index].1,
            "frame {index} before seeking"
        );
        times.push(stream_time(&sample).unwrap());
    }
    assert_eq!(times.len(), expected.len());
    let index_at = |t: gst::ClockTime| times.iter().rposition(|&s| s <= t).unwrap_or(0);

    let mut rng = Rng(0x5eed_5eed);
    let (mut accurate, mut key_unit, mut checked) = (0, 0, 0);
    let started = Instant::now();
    for seek in 0..100 {
        let target = rng.below(times.len() as u32) as usize;
        let exact = seek % 2 == 0;
        let (flags, position) = if exact {
            (
                gst::SeekFlags::FLUSH | gst::SeekFlags::ACCURATE,
                times[target] + gst::ClockTime::from_mseconds(5),
            )
        } else {
            (
                gst::SeekFlags::FLUSH | gst::SeekFlags::KEY_UNIT | gst::SeekFlags::SNAP_BEFORE,
                times[target],
            )
        };
        pipeline
            .seek_simple(flags, position)
            .unwrap_or_else(|e| panic!("seek {seek} to {position}: {e}"));
        // A few frames from there (fewer when the clip ends first), each checked.
        let frames = 1 + rng.below(6) as usize;
        for n in 0..frames {
            let Some(sample) = sink.try_pull_sample(gst::ClockTime::from_seconds(10)) else {
                assert!(
                    sink.is_eos() && n > 0,
                    "seek {seek} to {position}: no frame and no EOS"
                );
                break;
            };
            let info = gst_video::VideoInfo::from_caps(sample.caps().unwrap()).unwrap();
            let time = stream_time(&sample).unwrap();
            let index = index_at(time);
            if n == 0 && exact {
                assert_eq!(index, target, "seek {seek} to {position}: frame at {time}");
            }
            assert_eq!(
                frame_md5(sample.buffer().unwrap(), &info),
                expected[index].1,
                "seek {seek} to {position}: frame {n} after it (at {time}, frame {index})"
            );
            checked += 1;
        }
        if exact {
            accurate += 1;
        } else {
            key_unit += 1;
        }
    }
    let bus_error = cudapreproc_tests::pending_error(&pipeline);
    assert!(bus_error.is_none(), "{bus_error:?}");
    println!(
        "100 seeks during playback in {:.1} s ({accurate} accurate, {key_unit} to key frames): \
         {checked} frames after them, each equal to libavcodec's frame at its timestamp",
        started.elapsed().as_secs_f64()
    );
}

/// Clips that decode bit-exactly on every NVIDIA decoder, for the many-at-once tests.
const CLIPS: [&str; 4] = [
    "h264_bframes_720p.mp4",
    "hevc_8bit.mp4",
    "vp9.webm",
    "bigbuckbunny.mp4",
];

/// 16 pipelines decoding at once in this process, each bit-exact, and everything released
/// after.
#[test]
fn sixteen_pipelines_in_one_process() {
    let device = device();
    let baseline = cuda::live_resources();
    let used_before = device_used(&device);
    let started = Instant::now();
    let threads: Vec<_> = (0..16)
        .map(|i| {
            let clip = CLIPS[i % CLIPS.len()];
            std::thread::spawn(move || (clip, decode_exactly(clip)))
        })
        .collect();
    let mut frames = 0;
    let mut failures = Vec::new();
    for thread in threads {
        match thread.join().unwrap() {
            (_, Ok(n)) => frames += n,
            (clip, Err(e)) => failures.push(format!("{clip}: {e}")),
        }
    }
    let elapsed = started.elapsed();
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    let live = cuda::live_resources();
    assert_eq!(live, baseline, "held after all 16 pipelines stopped");
    println!(
        "16 pipelines at once in one process: {frames} frames in {:.2} s, every frame equal to \
         libavcodec's; after: {live}; device memory used {:.1} MiB before, {:.1} MiB after",
        elapsed.as_secs_f64(),
        used_before as f64 / MIB,
        device_used(&device) as f64 / MIB
    );
}

/// Run in a child process by [`sixteen_processes`] (the clip named by `CUDAPREPROC_STRESS_CLIP`),
/// and on its own as a plain test of one clip.
#[test]
fn one_process_decodes_a_clip() {
    let _device = device();
    let clip = std::env::var("CUDAPREPROC_STRESS_CLIP").unwrap_or_else(|_| CLIPS[0].to_string());
    let frames = decode_exactly(&clip).unwrap();
    println!("decoded {clip}: {frames} frames equal to libavcodec's");
}

/// 16 processes decoding at once (this test binary running [`one_process_decodes_a_clip`]),
/// each bit-exact.
#[test]
fn sixteen_processes() {
    let _device = device();
    let exe = std::env::current_exe().unwrap();
    let started = Instant::now();
    let children: Vec<_> = (0..16)
        .map(|i| {
            let clip = CLIPS[i % CLIPS.len()];
            let child = Command::new(&exe)
                .args([
                    "--exact",
                    "stress::one_process_decodes_a_clip",
                    "--nocapture",
                    "--test-threads=1",
                ])
                .env("CUDAPREPROC_STRESS_CLIP", clip)
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap();
            (clip, child)
        })
        .collect();
    let mut failures = Vec::new();
    let mut decoded = 0;
    for (clip, mut child) in children {
        let status = loop {
            if let Some(status) = child.try_wait().unwrap() {
                break Some(status);
            }
            if started.elapsed() > Duration::from_secs(180) {
                let _ = child.kill();
                break None;
            }
            std::thread::sleep(Duration::from_millis(50));
        };
        let mut out = String::new();
        child
            .stdout
            .take()
            .unwrap()
            .read_to_string(&mut out)
            .unwrap();
        child
            .stderr
            .take()
            .unwrap()
            .read_to_string(&mut out)
            .unwrap();
        match status {
            Some(s) if s.success() && out.contains(&format!("decoded {clip}: ")) => decoded += 1,
            Some(s) => failures.push(format!("{clip}: {s}\n{out}")),
            None => failures.push(format!("{clip}: still running after 180 s")),
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    println!(
        "16 processes at once: {decoded} of 16 decoded every frame equal to libavcodec's, in \
         {:.2} s in all",
        started.elapsed().as_secs_f64()
    );
}

/// The whole chain into `tensorsink` over the real clip looped to 100,000 frames: the plugin's
/// allocations, the driver's device memory figure and the process's resident memory sampled
/// every 5,000 frames are flat after warm-up, and each loop's first tensor is the same.
#[test]
fn hundred_thousand_frames_flat_memory() {
    const FRAMES: usize = 100_000;
    const EVERY: usize = 5_000;
    let device = device();
    let pipeline =
        cudapreproc::TensorPipeline::launch(&chain::launch_line("tensorsink max-buffers=2"))
            .unwrap();
    let mut first: Option<String> = None;
    let mut samples = Vec::new();
    let (mut frames, mut loops) = (0usize, 0usize);
    let mut at_loop_start = true;
    let started = Instant::now();
    while frames < FRAMES {
        match pipeline.next_tensor().unwrap() {
            Some(tensor) => {
                if at_loop_start {
                    let md5 = tensor_md5(&tensor);
                    assert_eq!(
                        first.get_or_insert_with(|| md5.clone()),
                        &md5,
                        "loop {loops}: first tensor differs"
                    );
                    at_loop_start = false;
                }
                frames += 1;
                if frames.is_multiple_of(EVERY) {
                    samples.push((
                        frames,
                        started.elapsed(),
                        device_used(&device),
                        cuda::live_resources(),
                        resident_bytes(),
                    ));
                }
            }
            None => {
                loops += 1;
                at_loop_start = true;
                pipeline
                    .pipeline()
                    .seek_simple(gst::SeekFlags::FLUSH, gst::ClockTime::ZERO)
                    .unwrap();
            }
        }
    }
    drop(pipeline);
    println!(
        "{FRAMES} frames ({loops} loops of the clip) in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    println!(
        "{:>7} {:>8} {:>14} {:>16} {:>8} {:>7} {:>9}",
        "frames", "time s", "device MiB", "plugin buf/MiB", "events", "streams", "RSS MiB"
    );
    for (frames, time, used, live, rss) in &samples {
        println!(
            "{frames:>7} {:>8.1} {:>14.1} {:>9}/{:>6.1} {:>8} {:>7} {:>9.1}",
            time.as_secs_f64(),
            *used as f64 / MIB,
            live.device_buffers,
            live.device_bytes as f64 / MIB,
            live.events,
            live.streams,
            *rss as f64 / MIB
        );
    }
    // Warm-up: the first 10,000 frames (pools reach their working size, caches fill).
    let warm = &samples[1];
    for (frames, _, used, live, rss) in &samples[2..] {
        assert!(
            (used - warm.2).abs() <= 4 << 20,
            "device memory moved {} bytes by frame {frames}",
            used - warm.2
        );
        // Pools grow on demand up to their bounds; allocations must not keep growing.
        assert!(
            live.device_bytes <= warm.3.device_bytes + (8 << 20),
            "plugin device memory grew to {} bytes by frame {frames}",
            live.device_bytes
        );
        assert!(
            rss - warm.4 <= 16 << 20,
            "resident memory grew {} bytes by frame {frames}",
            rss - warm.4
        );
    }
}
