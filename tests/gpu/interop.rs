//! With gst-plugins-bad's `nvcodec` elements (GStreamer 1.22 on the GPU host): their CUDA memory
//! into ours, ours into theirs, and which `cudaconvert` a pipeline gets when both plugins are
//! visible. Each result is compared with the same work done by our elements alone, with upstream's
//! elements in our context (read and written in place) and in a context of their own (copied),
//! and what each costs per frame is counted.

use std::process::Command;
use std::sync::{Arc, Mutex};

use gst::prelude::*;

use cudapreproc_core::cuda::{traffic, Traffic};
use cudapreproc_tests::UpstreamContext as Context;
use cudapreproc_tests::{appsink, media_dir, pipeline_in, play_frame_md5s, Stopping};

use crate::device;
use crate::nvdec::references;

/// The MD5 of every frame an `appsink name=sink` at the end of `description` receives.
fn frame_md5s(description: &str) -> Vec<String> {
    frame_md5s_in(description, Context::Shared)
}

fn frame_md5s_in(description: &str, context: Context) -> Vec<String> {
    let pipeline = Stopping(pipeline_in(description, context));
    let (md5s, eos) = play_frame_md5s(&pipeline);
    let error = cudapreproc_tests::pending_error(&pipeline);
    assert!(error.is_none(), "{description}: {error:?}");
    assert!(eos, "{description}: no EOS");
    md5s
}

fn upstream(factory: &str) {
    assert!(
        gst::ElementFactory::find(factory).is_some(),
        "gst-plugins-bad's nvcodec element {factory} must be available on the GPU host"
    );
}

/// `nvh264dec ! cudacvtcolor`: upstream's decoder hands its CUDA memory to our converter. The
/// NV12 frames we download from it are libavcodec's, and its RGBA is what `nvdec ! cudacvtcolor`
/// makes.
#[test]
fn nvh264dec_into_cudacvtcolor() {
    let _device = device();
    upstream("nvh264dec");
    let clip = "h264_bframes_720p.mp4";
    let source = format!(
        "filesrc location={} ! qtdemux ! h264parse",
        media_dir().join(clip).display()
    );
    let theirs_nv12 = frame_md5s(&format!(
        "{source} ! nvh264dec ! video/x-raw(memory:CUDAMemory) ! cudacvtcolor ! \
         video/x-raw,format=NV12 ! appsink name=sink sync=false"
    ));
    let expected: Vec<_> = references(clip).into_iter().map(|(_, m)| m).collect();
    assert_eq!(theirs_nv12, expected, "nvh264dec ! cudacvtcolor, NV12");
    let theirs = frame_md5s(&format!(
        "{source} ! nvh264dec ! video/x-raw(memory:CUDAMemory) ! cudacvtcolor ! \
         video/x-raw,format=RGBA ! appsink name=sink sync=false"
    ));
    let ours = frame_md5s(&format!(
        "{source} ! nvdec ! video/x-raw(memory:CUDAMemory) ! cudacvtcolor ! \
         video/x-raw,format=RGBA ! appsink name=sink sync=false"
    ));
    let separate = frame_md5s_in(
        &format!(
            "{source} ! nvh264dec ! video/x-raw(memory:CUDAMemory) ! cudacvtcolor ! \
             video/x-raw,format=RGBA ! appsink name=sink sync=false"
        ),
        Context::Separate,
    );
    assert_eq!(theirs.len(), expected.len());
    assert_eq!(
        theirs, ours,
        "nvh264dec ! cudacvtcolor against nvdec ! cudacvtcolor, RGBA"
    );
    assert_eq!(
        separate, ours,
        "nvh264dec in a context of its own ! cudacvtcolor against nvdec ! cudacvtcolor, RGBA"
    );
    println!(
        "nvh264dec ! cudacvtcolor: {} frames; NV12 equal to libavcodec's, RGBA equal to nvdec ! \
         cudacvtcolor's, with nvh264dec in our context and in its own",
        theirs.len()
    );
}

/// `nvdec ! cudadownload`: our decoder writes each frame in place into upstream's download
/// buffers (ordered through the legacy default stream, or with a host wait for
/// `downstream-sync=host`), or copies it into them in a context of their own; every way, the
/// frames are libavcodec's.
#[test]
fn nvdec_into_cudadownload() {
    let _device = device();
    upstream("cudadownload");
    let clip = "h264_bframes_720p.mp4";
    let expected: Vec<_> = references(clip).into_iter().map(|(_, m)| m).collect();
    for (sync, context) in [
        ("legacy-stream", Context::Shared),
        ("host", Context::Shared),
        ("legacy-stream", Context::Separate),
    ] {
        let line = format!(
            "filesrc location={} ! qtdemux ! h264parse ! nvdec downstream-sync={sync} ! \
             video/x-raw(memory:CUDAMemory),format=NV12 ! cudadownload ! video/x-raw,format=NV12 ! \
             appsink name=sink sync=false",
            media_dir().join(clip).display()
        );
        let frames = frame_md5s_in(&line, context);
        assert_eq!(
            frames, expected,
            "nvdec downstream-sync={sync} ! cudadownload, {context:?}"
        );
    }
    println!(
        "nvdec ! cudadownload: {} frames equal to libavcodec's, with downstream-sync \
         legacy-stream and host in our context, and in cudadownload's own",
        expected.len()
    );
}

/// What our elements cost per frame in `description` (ending in `fakesink name=sink`): copies
/// and host waits counted from the sixth frame to the last, and the frames counted.
fn cost_per_frame(description: &str, context: Context) -> (u64, f64, f64) {
    let pipeline = Stopping(pipeline_in(description, context));
    let counted: Arc<Mutex<(u64, Option<Traffic>, Traffic)>> = Arc::default();
    let pad = pipeline
        .by_name("sink")
        .unwrap()
        .static_pad("sink")
        .unwrap();
    let probe_counted = counted.clone();
    pad.add_probe(gst::PadProbeType::BUFFER, move |_, _| {
        let mut counted = probe_counted.lock().unwrap();
        counted.0 += 1;
        if counted.0 == 5 {
            counted.1 = Some(traffic());
        }
        counted.2 = traffic();
        gst::PadProbeReturn::Ok
    });
    pipeline.set_state(gst::State::Playing).unwrap();
    let message = cudapreproc_tests::end_or_error(&pipeline, gst::ClockTime::from_seconds(60))
        .expect("EOS or an error within 60 s");
    assert!(
        matches!(message.view(), gst::MessageView::Eos(_)),
        "{description}: {message:?}"
    );
    let (frames, start, end) = *counted.lock().unwrap();
    let start = start.expect("more than 5 frames");
    let spent = end.since(&start);
    let per_frame = |n: u64| n as f64 / (frames - 5) as f64;
    (frames, per_frame(spent.copies), per_frame(spent.host_waits))
}

/// Upstream's memory in our context is read in place: `nvh264dec ! cudacvtcolor` makes no copy
/// and no host wait per frame on our side, where a context of its own costs a copy and a wait
/// each; and our elements write in place into the pool of upstream's `cudadownload` (no copy, no
/// host wait: the legacy default stream waits for our writes; one wait per frame with
/// `downstream-sync=host`), where its own context costs a copy into its memory.
#[test]
fn upstream_memory_in_place_costs_counted() {
    let _device = device();
    upstream("nvh264dec");
    upstream("cudadownload");
    let source = format!(
        "filesrc location={} ! qtdemux ! h264parse",
        media_dir().join("h264_bframes_720p.mp4").display()
    );
    let rgba = "cudacvtcolor ! video/x-raw(memory:CUDAMemory),format=RGBA";
    let cases = [
        (
            "nvh264dec ! cudacvtcolor",
            format!("{source} ! nvh264dec ! {rgba}"),
        ),
        ("nvdec ! cudacvtcolor", format!("{source} ! nvdec ! {rgba}")),
        (
            "nvdec ! cudacvtcolor ! cudadownload",
            // System memory after it, or it passes CUDA memory through to fakesink.
            format!("{source} ! nvdec ! {rgba} ! cudadownload ! video/x-raw"),
        ),
        (
            "... downstream-sync=host ! cudadownload",
            format!(
                "{source} ! nvdec ! cudacvtcolor downstream-sync=host ! \
                 video/x-raw(memory:CUDAMemory),format=RGBA ! cudadownload ! video/x-raw"
            ),
        ),
    ];
    let mut costs = Vec::new();
    for (name, line) in &cases {
        for context in [Context::Shared, Context::Separate] {
            let line = format!("{line} ! fakesink name=sink sync=false");
            let (frames, copies, waits) = cost_per_frame(&line, context);
            println!(
                "{name:<36} upstream context {context:?}: {frames} frames, per frame {copies:.2} \
                 copies, {waits:.2} host waits"
            );
            costs.push(((*name, context), (copies, waits)));
        }
    }
    let cost = |name: &str, context| {
        costs
            .iter()
            .find(|(key, _)| *key == (name, context))
            .map(|(_, cost)| *cost)
            .unwrap()
    };
    // A wait that finds the work already done is not counted: the paths that must wait show
    // close to one per frame rather than exactly one.
    assert_eq!(
        cost("nvh264dec ! cudacvtcolor", Context::Shared),
        (0.0, 0.0)
    );
    let (copies, waits) = cost("nvh264dec ! cudacvtcolor", Context::Separate);
    assert!(copies == 1.0 && waits > 0.5, "{copies} {waits}");
    assert_eq!(cost("nvdec ! cudacvtcolor", Context::Shared), (0.0, 0.0));
    assert_eq!(
        cost("nvdec ! cudacvtcolor ! cudadownload", Context::Shared),
        (0.0, 0.0)
    );
    let (copies, waits) = cost("... downstream-sync=host ! cudadownload", Context::Shared);
    assert!(
        copies == 0.0 && waits > 0.5 && waits <= 1.0,
        "{copies} {waits}"
    );
    let (copies, waits) = cost("nvdec ! cudacvtcolor ! cudadownload", Context::Separate);
    assert!(copies >= 1.0 && waits > 0.5, "{copies} {waits}");
}

/// How a reader on GStreamer's kind of stream sees a write queued on our non-blocking stream.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Reader {
    /// `cuMemcpyDtoHAsync` on a blocking stream (`CU_STREAM_DEFAULT`), as GStreamer's CUDA
    /// elements read.
    BlockingStream,
    /// `cuMemcpyDtoH`, synchronous on the legacy default stream, as GStreamer 1.22's CUDA memory
    /// maps to the host.
    Synchronous,
}

/// What `reader` reads of a marker byte our stream sets behind ~20 ms of other work, with and
/// without the legacy default stream waiting for our event first.
fn marker_read(
    device: &Arc<cudapreproc_core::cuda::Device>,
    reader: Reader,
    ordered: bool,
    round: u8,
) -> u8 {
    use cudapreproc_core::cuda::ForeignStream;
    use cudarc::driver::result;
    const BUSY_BYTES: usize = 1 << 30;
    device.bind().unwrap();
    let ours = device.new_stream().unwrap();
    let written = device.new_event().unwrap();
    // SAFETY: every address is an allocation of this function in the device's primary context,
    // bound above, freed after the streams using it have been synchronised.
    unsafe {
        let busy = result::malloc_sync(BUSY_BYTES).unwrap();
        let marker = result::malloc_sync(1).unwrap();
        result::memset_d8_sync(marker, round.wrapping_sub(1), 1).unwrap();
        let theirs = result::stream::create(result::stream::StreamKind::Default).unwrap();
        let ours_raw = ours.handle() as cudarc::driver::sys::CUstream;
        for value in 0..64u8 {
            result::memset_d8_async(busy, value, BUSY_BYTES, ours_raw).unwrap();
        }
        result::memset_d8_async(marker, round, 1, ours_raw).unwrap();
        if ordered {
            ours.record(&written).unwrap();
            written.make_wait(&ForeignStream::LEGACY_DEFAULT).unwrap();
        }
        let mut read = [0u8];
        match reader {
            Reader::BlockingStream => {
                result::memcpy_dtoh_async(&mut read, marker, theirs).unwrap();
                result::stream::synchronize(theirs).unwrap();
            }
            Reader::Synchronous => result::memcpy_dtoh_sync(&mut read, marker).unwrap(),
        }
        ours.synchronize().unwrap();
        result::stream::destroy(theirs).unwrap();
        result::free_sync(busy).unwrap();
        result::free_sync(marker).unwrap();
        read[0]
    }
}

/// `downstream-sync=legacy-stream`, on its own: with the legacy default stream waiting for an
/// event of our non-blocking stream, work then queued on a blocking stream, or run synchronously,
/// sees our write; without the wait it does not (the check can fail).
#[test]
fn legacy_stream_wait_orders_gstreamers_readers_after_our_writes() {
    let device = device();
    for reader in [Reader::BlockingStream, Reader::Synchronous] {
        let mut stale_without = 0;
        for round in 1..=10u8 {
            let read = marker_read(&device, reader, true, round);
            assert_eq!(
                read, round,
                "{reader:?}, ordered, round {round}: read a stale marker"
            );
            if marker_read(&device, reader, false, round) != round {
                stale_without += 1;
            }
        }
        println!(
            "{reader:?}: 10 of 10 rounds read our write with the legacy stream waiting; \
             {stale_without} of 10 read a stale marker without"
        );
        assert!(
            stale_without > 0,
            "{reader:?}: without the wait every read still saw the write: the check cannot fail"
        );
    }
}

/// `cudacvtcolor ! cudadownload`: upstream's download element reads our CUDA memory (through a
/// plain map, which gives a host copy) and gets the bytes our own download gives.
#[test]
fn cudacvtcolor_into_cudadownload() {
    let _device = device();
    upstream("cudadownload");
    let source = "videotestsrc num-buffers=20 pattern=ball ! \
                  video/x-raw,format=NV12,width=640,height=480 ! cudacvtcolor ! \
                  video/x-raw(memory:CUDAMemory),format=RGBA";
    let download =
        format!("{source} ! cudadownload ! video/x-raw,format=RGBA ! appsink name=sink sync=false");
    let theirs = frame_md5s(&download);
    let separate = frame_md5s_in(&download, Context::Separate);
    let ours = frame_md5s(&format!(
        "{source} ! cudacvtcolor ! video/x-raw,format=RGBA ! appsink name=sink sync=false"
    ));
    assert_eq!(theirs.len(), 20);
    assert_eq!(
        theirs, ours,
        "cudadownload (our context) against our own download"
    );
    assert_eq!(
        separate, ours,
        "cudadownload (its own context) against our own download"
    );
    println!(
        "cudacvtcolor ! cudadownload: 20 frames equal to our own download's, with cudadownload \
         in our context and in its own"
    );
}

/// `cudacvtcolor ! cudaconvertscale`: our converter writes in place into the pool of upstream's
/// scaler (which registers with NVRTC 12, see [`nvrtc_library`]), and the scaled frames equal
/// those of upstream's elements alone (`cudaupload ! cudaconvertscale`); a scaler in a context of
/// its own gets the same frames through a copy into its pool (upstream's filters cannot read our
/// memory, only its download can).
#[test]
fn cudacvtcolor_into_cudaconvertscale() {
    // Before GStreamer loads nvcodec: the NVRTC its scaler needs, and a registry scanned with it.
    let registry = std::env::temp_dir().join("cudapreproc-interop-scale.bin");
    let _ = std::fs::remove_file(&registry);
    std::env::set_var("GST_REGISTRY_1_0", &registry);
    std::env::set_var("GST_CUDA_NVRTC_LIBNAME", nvrtc_library());
    let _device = device();
    upstream("cudaconvertscale");
    let source = "videotestsrc num-buffers=20 pattern=ball ! \
                  video/x-raw,format=RGBA,width=640,height=480";
    let scale = "cudaconvertscale ! \
                 video/x-raw(memory:CUDAMemory),format=RGBA,width=320,height=240 ! cudadownload ! \
                 video/x-raw,format=RGBA ! appsink name=sink sync=false";
    let theirs = frame_md5s(&format!("{source} ! cudaupload ! {scale}"));
    let ours_line =
        format!("{source} ! cudacvtcolor ! video/x-raw(memory:CUDAMemory),format=RGBA ! {scale}");
    let ours = frame_md5s(&ours_line);
    assert_eq!(theirs.len(), 20);
    let separate = frame_md5s_in(&ours_line, Context::Separate);
    assert_eq!(
        ours, theirs,
        "cudacvtcolor ! cudaconvertscale (our context)"
    );
    assert_eq!(
        separate, theirs,
        "cudacvtcolor ! cudaconvertscale (its own context)"
    );
    println!(
        "cudacvtcolor ! cudaconvertscale: 20 frames equal to cudaupload ! cudaconvertscale's, \
         with the scaler in our context and in its own"
    );
}

/// `cudaupload ! cudawarpaffine`: upstream's CUDA memory into our warp equals system memory
/// into it.
#[test]
fn cudaupload_into_cudawarpaffine() {
    let _device = device();
    upstream("cudaupload");
    let source = "videotestsrc num-buffers=20 pattern=smpte ! \
                  video/x-raw,format=RGBA,width=640,height=480";
    let warp = "cudawarpaffine width=224 height=224 rotation=10 ! video/x-raw,format=RGBA ! \
                appsink name=sink sync=false";
    let theirs = frame_md5s(&format!("{source} ! cudaupload ! {warp}"));
    let ours = frame_md5s(&format!("{source} ! {warp}"));
    assert_eq!(theirs.len(), 20);
    assert_eq!(
        theirs, ours,
        "cudaupload ! cudawarpaffine against system memory input"
    );
    println!("cudaupload ! cudawarpaffine: 20 frames equal to system memory input's");
}

/// The NVRTC library upstream's NVRTC-based elements are pointed at: `CUDAPREPROC_TEST_NVRTC`
/// (scripts/gpu-run sets it to the NVRTC 12 it unpacks, with which GStreamer 1.22's elements
/// register), else the GPU host's CUDA 13 NVRTC (with which they do not: 1.22 compiles for
/// compute_52, which NVRTC 13 no longer knows).
fn nvrtc_library() -> String {
    std::env::var("CUDAPREPROC_TEST_NVRTC")
        .unwrap_or_else(|_| "/usr/local/cuda/targets/x86_64-linux/lib/libnvrtc.so.13".into())
}

/// How the GStreamer tools of a case find plugins.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Plugins {
    /// Ours through `GST_PLUGIN_PATH` (as a user adds it), upstream's NVRTC elements disabled.
    PluginPath,
    /// The same, upstream's NVRTC elements enabled (`GST_CUDA_NVRTC_LIBNAME`).
    PluginPathWithNvrtc,
    /// Upstream's NVRTC elements enabled, ours at the end of `GST_PLUGIN_SYSTEM_PATH`: scanned
    /// after the system plugins, so its features replace theirs of the same name.
    ScannedLastWithNvrtc,
}

/// `program` (a GStreamer tool) with a fresh registry and `plugins` set up.
fn tool(program: &str, plugins: Plugins) -> Command {
    let registry = std::env::temp_dir().join(format!("cudapreproc-interop-{plugins:?}.bin"));
    let _ = std::fs::remove_file(&registry);
    let mut command = Command::new(program);
    command.env("GST_REGISTRY_1_0", &registry);
    if plugins == Plugins::PluginPath {
        command.env_remove("GST_CUDA_NVRTC_LIBNAME");
    } else {
        command.env("GST_CUDA_NVRTC_LIBNAME", nvrtc_library());
    }
    if plugins == Plugins::ScannedLastWithNvrtc {
        let system = std::env::var("GST_PLUGIN_SYSTEM_PATH_1_0")
            .expect("GST_PLUGIN_SYSTEM_PATH_1_0 set (scripts/gpu-run sources .gpu/gst/env.sh)");
        let ours = std::env::var("GST_PLUGIN_PATH").expect("our plugin on GST_PLUGIN_PATH");
        command
            .env_remove("GST_PLUGIN_PATH")
            .env("GST_PLUGIN_SYSTEM_PATH_1_0", format!("{system}:{ours}"));
    }
    command
}

/// Which plugin `gst-inspect-1.0 NAME` finds.
fn plugin_of(name: &str, plugins: Plugins) -> String {
    let out = tool("gst-inspect-1.0", plugins)
        .arg(name)
        .output()
        .expect("gst-inspect-1.0 on PATH");
    let text = String::from_utf8_lossy(&out.stdout);
    text.lines()
        .skip_while(|l| !l.starts_with("Plugin Details:"))
        .find_map(|l| l.trim().strip_prefix("Name"))
        .map(|n| n.trim().to_string())
        .unwrap_or_else(|| format!("none ({})", String::from_utf8_lossy(&out.stderr).trim()))
}

/// Runs `gst-launch-1.0 DESCRIPTION`: Ok, or the first line the tool printed.
fn launch(description: &str, plugins: Plugins) -> Result<(), String> {
    let out = tool("gst-launch-1.0", plugins)
        .arg("-q")
        .args(description.split_whitespace())
        .output()
        .expect("gst-launch-1.0 on PATH");
    if out.status.success() {
        return Ok(());
    }
    let text =
        String::from_utf8_lossy(&out.stderr).to_string() + &String::from_utf8_lossy(&out.stdout);
    Err(text
        .lines()
        .find(|l| !l.trim().is_empty())
        .unwrap_or("")
        .trim()
        .to_string())
}

/// Both plugins visible: which `cudaconvert` a launch line gets, with upstream's NVRTC elements
/// disabled and enabled, and with ours scanned last; `cudatensorconvert` is ours in every case
/// and converts correctly in this process, where nvcodec is loaded too.
#[test]
fn cudaconvert_with_upstream_in_the_registry() {
    let _device = device();
    const TO_TENSOR: &str = "videotestsrc num-buffers=3 ! \
        video/x-raw,format=RGBA,width=64,height=48 ! CONVERTER ! other/tensors ! fakesink";
    println!("upstream's NVRTC elements pointed at {}", nvrtc_library());
    let mut upstream_registered = false;
    for plugins in [
        Plugins::PluginPath,
        Plugins::PluginPathWithNvrtc,
        Plugins::ScannedLastWithNvrtc,
    ] {
        let convert = plugin_of("cudaconvert", plugins);
        let tensor = plugin_of("cudatensorconvert", plugins);
        let upstream_scale = plugin_of("cudascale", plugins);
        let by_name = |name| launch(&TO_TENSOR.replace("CONVERTER", name), plugins);
        let (convert_run, tensor_run) = (by_name("cudaconvert"), by_name("cudatensorconvert"));
        println!(
            "{plugins:?}: cudaconvert -> {convert}, cudatensorconvert -> {tensor}, \
             cudascale -> {upstream_scale}; video to tensor with cudaconvert: {convert_run:?}, \
             with cudatensorconvert: {tensor_run:?}"
        );
        assert_eq!(tensor, "cudapreproc");
        assert_eq!(tensor_run, Ok(()), "{plugins:?}: cudatensorconvert");
        // The name goes to the plugin scanned last: upstream's where it registered and ours is
        // on GST_PLUGIN_PATH (scanned first).
        let registered = upstream_scale == "nvcodec";
        upstream_registered |= registered;
        if registered && plugins == Plugins::PluginPathWithNvrtc {
            assert_eq!(convert, "nvcodec", "{plugins:?}");
            // Upstream's converts CUDA video to CUDA video: the line does not link.
            let error = convert_run.expect_err("upstream's cudaconvert makes no tensors");
            assert!(error.contains("cudaconvert0 can't handle caps"), "{error}");
        } else {
            assert_eq!(convert, "cudapreproc", "{plugins:?}");
            assert_eq!(convert_run, Ok(()), "{plugins:?}: cudaconvert");
        }
    }
    if !upstream_registered {
        println!(
            "upstream's NVRTC-based elements (cudaconvert, cudascale) did not register here: \
             the name clash was not exercised"
        );
    }

    // In this process (our plugin registered statically), our tensor converter by its own name.
    let reference: Vec<u8> = (0..64 * 48).flat_map(|i| [i as u8, 7, 200, 255]).collect();
    let pipeline = Stopping(cudapreproc_tests::pipeline(
        "appsrc name=src format=time caps=video/x-raw,format=RGBA,width=64,height=48,\
         framerate=30/1 ! cudatensorconvert dtype=uint8 layout=nhwc channel-order=rgba ! \
         appsink name=sink sync=false",
    ));
    let src = cudapreproc_tests::appsrc(&pipeline);
    let sink = appsink(&pipeline);
    pipeline.set_state(gst::State::Playing).unwrap();
    let mut buffer = gst::Buffer::from_mut_slice(reference.clone());
    buffer.make_mut().set_pts(gst::ClockTime::ZERO);
    src.push_buffer(buffer).unwrap();
    src.end_of_stream().unwrap();
    let sample = sink.pull_sample().unwrap();
    let map = sample.buffer().unwrap().map_readable().unwrap();
    assert_eq!(
        &map[..],
        &reference[..],
        "cudatensorconvert uint8 NHWC RGBA"
    );
    println!("cudatensorconvert in this process: uint8 NHWC tensor equal to its RGBA input");
}
