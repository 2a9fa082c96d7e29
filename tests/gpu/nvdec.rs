//! `nvdec` on a GPU against libavcodec's decode of the same clips (`scripts/make-test-media`
//! makes the clips and the references). Needs an NVIDIA GPU and driver: without them every test
//! fails.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use cudapreproc_core::cuda::{self, Device};
use cudapreproc_core::cuvid::{self, ChromaFormat, Codec};
use gst::prelude::*;

use cudapreproc_tests::{frame_md5, init, media_dir, tight_planes, tsv, Stopping};

use crate::device;

/// The real clip bundled with the project (copied next to the test clips, with its reference).
fn real_clip() -> PathBuf {
    media_dir().join("bigbuckbunny.mp4")
}

#[derive(Clone, Debug)]
struct Clip {
    name: String,
    codec: String,
    format: String,
    exact: bool,
    notes: String,
}

fn manifest() -> Vec<Clip> {
    let (_, rows) = tsv(&media_dir().join("manifest.tsv"));
    rows.into_iter()
        .map(|f| Clip {
            name: f[0].clone(),
            codec: f[1].clone(),
            format: f[6].clone(),
            exact: f[7] == "exact",
            notes: f.get(8).cloned().unwrap_or_default(),
        })
        .collect()
}

/// The reference frames of a clip, in display order: (WIDTHxHEIGHT, md5).
pub(crate) fn references(name: &str) -> Vec<(String, String)> {
    let stem = Path::new(name).file_stem().unwrap().to_string_lossy();
    let path = media_dir().join(format!("{stem}.md5"));
    std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .lines()
        .map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            (f[1].to_string(), f[2].to_string())
        })
        .collect()
}

fn codec_of(name: &str) -> Codec {
    match name {
        "h264" => Codec::H264,
        "h265" => Codec::Hevc,
        "vp9" => Codec::Vp9,
        "vp8" => Codec::Vp8,
        "mpeg2" => Codec::Mpeg2,
        "mpeg4" => Codec::Mpeg4,
        "jpeg" => Codec::Jpeg,
        "av1" => Codec::Av1,
        other => panic!("unknown codec {other} in the manifest"),
    }
}

pub(crate) fn supported(device: &Device, codec: Codec) -> bool {
    codec == Codec::Jpeg
        || cuvid::decoder_caps(device, codec, ChromaFormat::Yuv420, 8)
            .unwrap()
            .supported
}

/// One decoded frame.
pub(crate) struct Frame {
    pub(crate) size: String,
    pub(crate) md5: String,
    pub(crate) pts: Option<gst::ClockTime>,
    /// Position in the stream (what a seek asks for).
    pub(crate) stream_time: Option<gst::ClockTime>,
    pub(crate) planes: Option<Vec<Vec<u8>>>,
}

/// What decoding a file gave.
pub(crate) struct Decoded {
    pub(crate) frames: Vec<Frame>,
    pub(crate) warnings: Vec<String>,
    pub(crate) error: Option<String>,
}

/// A pipeline `filesrc ! parsebin ! nvdec PROPS ! CAPS ! appsink`, other streams to fakesinks.
pub(crate) fn decode_pipeline(
    path: &Path,
    props: &str,
    caps: &str,
) -> (Stopping, gst_app::AppSink) {
    init();
    let pipeline = gst::Pipeline::new();
    let src = gst::ElementFactory::make("filesrc")
        .property("location", path.to_str().unwrap())
        .build()
        .unwrap();
    let parse = gst::ElementFactory::make("parsebin").build().unwrap();
    let tail = gst::parse::bin_from_description(
        &format!("nvdec {props} ! {caps} ! appsink name=sink sync=false"),
        true,
    )
    .unwrap();
    pipeline
        .add_many([&src, &parse, tail.upcast_ref()])
        .unwrap();
    src.link(&parse).unwrap();
    let video_sink = tail.static_pad("sink").unwrap();
    // Other streams (audio) stay unlinked: demuxers carry on with the linked one. A sink on
    // them without a queue would hold the demuxer's one thread in preroll after a flush while
    // the decoder still waits for video.
    parse.connect_pad_added(move |_, pad| {
        let caps = pad.current_caps().unwrap_or_else(|| pad.query_caps(None));
        let name = caps
            .structure(0)
            .map(|s| s.name().to_string())
            .unwrap_or_default();
        let is_video = name.starts_with("video/") || name == "image/jpeg";
        if is_video && !video_sink.is_linked() {
            pad.link(&video_sink).unwrap();
        }
    });
    let sink = cudapreproc_tests::element(&tail, "sink");
    (Stopping(pipeline), sink)
}

/// Decodes `path` to the end (or to the first error), `limit` at most.
pub(crate) fn decode(
    path: &Path,
    props: &str,
    caps: &str,
    keep_planes: bool,
    limit: Duration,
) -> Decoded {
    let (pipeline, sink) = decode_pipeline(path, props, caps);
    collect(
        &pipeline,
        &sink,
        &path.display().to_string(),
        keep_planes,
        limit,
    )
}

/// `clip` of the test media decoded by `nvdec PROPS` to NV12 (planes not kept), [`LIMIT`] at
/// most.
fn decode_media_nv12(clip: &str, props: &str) -> Decoded {
    decode(
        &media_dir().join(clip),
        props,
        &output_caps("NV12"),
        false,
        LIMIT,
    )
}

/// Plays `pipeline` and takes every frame from `sink`, with the bus's warnings and first error,
/// until the end (or the first error), `limit` at most.
fn collect(
    pipeline: &gst::Pipeline,
    sink: &gst_app::AppSink,
    what: &str,
    keep_planes: bool,
    limit: Duration,
) -> Decoded {
    let bus = pipeline.bus().unwrap();
    let mut decoded = Decoded {
        frames: Vec::new(),
        warnings: Vec::new(),
        error: None,
    };
    let started = Instant::now();
    let _ = pipeline.set_state(gst::State::Playing);
    loop {
        let sample = sink.try_pull_sample(gst::ClockTime::from_mseconds(200));
        while let Some(msg) =
            bus.pop_filtered(&[gst::MessageType::Error, gst::MessageType::Warning])
        {
            match msg.view() {
                gst::MessageView::Error(e) => {
                    decoded.error.get_or_insert_with(|| e.error().to_string());
                }
                gst::MessageView::Warning(w) => decoded.warnings.push(w.error().to_string()),
                _ => {}
            }
        }
        match sample {
            Some(sample) => {
                let info = gst_video::VideoInfo::from_caps(sample.caps().unwrap()).unwrap();
                let buffer = sample.buffer().unwrap();
                decoded.frames.push(Frame {
                    size: format!("{}x{}", info.width(), info.height()),
                    md5: frame_md5(buffer, &info),
                    pts: buffer.pts(),
                    stream_time: stream_time(&sample),
                    planes: keep_planes.then(|| tight_planes(buffer, &info)),
                });
            }
            None if sink.is_eos() || decoded.error.is_some() => break,
            None => assert!(
                started.elapsed() < limit,
                "{what}: no frame and no end after {limit:?}: hung"
            ),
        }
    }
    decoded
}

/// Stream time of the sample's buffer, from its segment.
pub(crate) fn stream_time(sample: &gst::Sample) -> Option<gst::ClockTime> {
    let segment = sample.segment()?.downcast_ref::<gst::ClockTime>()?.clone();
    segment.to_stream_time(sample.buffer()?.pts()?)
}

pub(crate) fn output_caps(format: &str) -> String {
    format!("video/x-raw,format={format}")
}

pub(crate) const LIMIT: Duration = Duration::from_secs(60);

/// Decodes `clip` (of the test media) and compares every frame with libavcodec's: `Ok(frames)` or what differed.
pub(crate) fn decode_exactly(clip: &str) -> Result<usize, String> {
    let decoded = decode_media_nv12(clip, "");
    if let Some(e) = decoded.error {
        return Err(format!("{clip}: {e}"));
    }
    let md5s: Vec<_> = decoded.frames.iter().map(|f| f.md5.clone()).collect();
    let expected: Vec<_> = references(clip).into_iter().map(|(_, m)| m).collect();
    if md5s != expected {
        let equal = md5s.iter().zip(&expected).filter(|(a, b)| a == b).count();
        return Err(format!(
            "{clip}: {} frames, {equal} equal to libavcodec's {}",
            md5s.len(),
            expected.len()
        ));
    }
    Ok(md5s.len())
}

/// MD5 of 16-bit little-endian planes with every sample shifted down by `bits`, as libavcodec's
/// low-bit formats hold them; a sample with any of those low bits set (which the shift would
/// hide) gives a marker that matches no MD5.
fn shifted_down_md5(planes: &[Vec<u8>], bits: u32) -> String {
    let mut context = md5::Context::new();
    for plane in planes {
        let mut shifted = Vec::with_capacity(plane.len());
        for sample in plane.chunks_exact(2) {
            let value = u16::from_le_bytes([sample[0], sample[1]]);
            if value & ((1 << bits) - 1) != 0 {
                return format!("low bits set in sample {value:#06x}");
            }
            shifted.extend_from_slice(&(value >> bits).to_le_bytes());
        }
        context.consume(&shifted);
    }
    format!("{:x}", context.compute())
}

/// Every frame of every clip the references say must match bit for bit, in display order
/// (B-frames, odd sizes, interlaced MBAFF and PAFF (woven), HEVC 8/10-bit, VP9, VP8, a resolution
/// change, a raw elementary stream), compared by MD5 of the visible picture.
#[test]
fn every_clip_matches_libavcodec_bit_exactly() {
    let device = device();
    let mut failures = Vec::new();
    let mut checked = Vec::new();
    for clip in manifest().into_iter().filter(|c| c.exact) {
        let codec = codec_of(&clip.codec);
        let path = media_dir().join(&clip.name);
        // 4:4:4 above 8 bits: nvdec's Y444_16LE holds the samples in the high bits (as NVDEC
        // writes them); the references are libavcodec's low-bit samples.
        let (format, low_bits) = match clip.format.as_str() {
            "Y444_10LE" => ("Y444_16LE", Some(6)),
            "Y444_12LE" => ("Y444_16LE", Some(4)),
            other => (other, None),
        };
        let decoded = decode(&path, "", &output_caps(format), low_bits.is_some(), LIMIT);
        if !supported(&device, codec) {
            match &decoded.error {
                Some(e) if e.contains("does not decode") => {
                    checked.push(format!("{}: not on this GPU: {e}", clip.name))
                }
                other => failures.push(format!("{}: unsupported, but got {other:?}", clip.name)),
            }
            continue;
        }
        if let Some(e) = &decoded.error {
            failures.push(format!("{}: {e}", clip.name));
            continue;
        }
        if !decoded.warnings.is_empty() {
            failures.push(format!(
                "{}: warnings on an undamaged clip: {:?}",
                clip.name, decoded.warnings
            ));
        }
        let expected = references(&clip.name);
        let got: Vec<(String, String)> = decoded
            .frames
            .iter()
            .map(|f| match (low_bits, &f.planes) {
                (Some(bits), Some(planes)) => (f.size.clone(), shifted_down_md5(planes, bits)),
                _ => (f.size.clone(), f.md5.clone()),
            })
            .collect();
        if got.len() != expected.len() {
            failures.push(format!(
                "{}: {} frames, libavcodec gave {}",
                clip.name,
                got.len(),
                expected.len()
            ));
        }
        let pts: Vec<_> = decoded.frames.iter().map(|f| f.pts).collect();
        if !pts.windows(2).all(|w| w[0] < w[1]) {
            failures.push(format!("{}: timestamps not increasing: {pts:?}", clip.name));
        }
        if let Some(i) = (0..got.len().min(expected.len())).find(|&i| got[i] != expected[i]) {
            failures.push(format!(
                "{}: frame {i} differs: {:?} vs libavcodec {:?}",
                clip.name, got[i], expected[i]
            ));
        }
        checked.push(format!(
            "{}: {} frames bit-exact ({}{})",
            clip.name,
            got.len(),
            clip.codec,
            if clip.notes.is_empty() {
                String::new()
            } else {
                format!(", {}", clip.notes)
            }
        ));
    }
    for line in &checked {
        println!("{line}");
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// MPEG-2, MPEG-4 Part 2 and JPEG leave the inverse DCT's rounding to the decoder: frames
/// match libavcodec's within IDCT tolerance, not bit for bit.
#[test]
fn idct_codecs_match_within_tolerance() {
    let device = device();
    let mut failures = Vec::new();
    for clip in manifest().into_iter().filter(|c| !c.exact) {
        let codec = codec_of(&clip.codec);
        let path = media_dir().join(&clip.name);
        let decoded = decode(&path, "", &output_caps(&clip.format), true, LIMIT);
        if !supported(&device, codec) {
            let e = decoded.error.unwrap_or_default();
            println!("{}: not on this GPU: {e}", clip.name);
            if !e.contains("does not decode") {
                failures.push(format!(
                    "{}: unsupported codec without a clear error",
                    clip.name
                ));
            }
            continue;
        }
        if let Some(e) = decoded.error {
            failures.push(format!("{}: {e}", clip.name));
            continue;
        }
        let stem = Path::new(&clip.name).file_stem().unwrap().to_string_lossy();
        let raw = std::fs::read(media_dir().join(format!("{stem}.nv12"))).unwrap();
        let decoded_bytes: Vec<u8> = decoded
            .frames
            .iter()
            .flat_map(|f| f.planes.as_ref().unwrap().concat())
            .collect();
        if decoded_bytes.len() != raw.len() {
            failures.push(format!(
                "{}: {} bytes decoded, libavcodec {}",
                clip.name,
                decoded_bytes.len(),
                raw.len()
            ));
            continue;
        }
        let (mut max, mut sq, mut beyond_one) = (0u8, 0f64, 0usize);
        for (a, b) in decoded_bytes.iter().zip(&raw) {
            let d = a.abs_diff(*b);
            max = max.max(d);
            sq += f64::from(d) * f64::from(d);
            beyond_one += usize::from(d > 1);
        }
        let mse = sq / raw.len() as f64;
        let psnr = if mse == 0.0 {
            f64::INFINITY
        } else {
            10.0 * (255.0f64 * 255.0 / mse).log10()
        };
        println!(
            "{}: {} frames, PSNR {psnr:.1} dB against libavcodec, max difference {max}, \
             {:.4}% of samples off by more than 1",
            clip.name,
            decoded.frames.len(),
            100.0 * beyond_one as f64 / raw.len() as f64
        );
        if psnr < 45.0 {
            failures.push(format!("{}: PSNR {psnr:.1} dB", clip.name));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// The bundled real clip (Big Buck Bunny, 132 frames, with audio) decodes fully, bit-exact.
#[test]
fn real_clip_decodes_fully() {
    let _device = device();
    let decoded = decode(&real_clip(), "", &output_caps("NV12"), false, LIMIT);
    assert_eq!(decoded.error, None);
    assert_eq!(decoded.warnings, Vec::<String>::new(), "an undamaged clip");
    let expected = references("bigbuckbunny.mp4");
    assert_eq!(decoded.frames.len(), 132);
    assert_eq!(decoded.frames.len(), expected.len());
    for (i, (frame, (size, md5))) in decoded.frames.iter().zip(&expected).enumerate() {
        assert_eq!((&frame.size, &frame.md5), (size, md5), "frame {i}");
    }
    let pts: Vec<_> = decoded.frames.iter().map(|f| f.pts.unwrap()).collect();
    assert!(
        pts.windows(2).all(|w| w[0] < w[1]),
        "display order: {pts:?}"
    );
}

/// Output in CUDA memory: the same frames (read through a host map of the device memory).
#[test]
fn cuda_memory_output_is_the_same() {
    let _device = device();
    let clip = "h264_bframes_720p.mp4";
    let decoded = decode(
        &media_dir().join(clip),
        "",
        "video/x-raw(memory:CUDAMemory),format=NV12",
        false,
        LIMIT,
    );
    assert_eq!(decoded.error, None);
    let md5s: Vec<_> = decoded.frames.iter().map(|f| f.md5.clone()).collect();
    let expected: Vec<_> = references(clip).into_iter().map(|(_, m)| m).collect();
    assert_eq!(md5s, expected);
}

/// Frame-accurate seeks (FLUSH | ACCURATE) to 10 frames land on those frames: the frame shown
/// at each position is the one libavcodec has at that index, with that timestamp.
#[test]
fn accurate_seeks_land_on_the_right_frames() {
    let _device = device();
    let clip = "h264_bframes_720p.mp4";
    let expected = references(clip);
    // Stream time of every frame, from a full decode (containers may shift timestamps).
    let full = decode_media_nv12(clip, "");
    assert_eq!(full.frames.len(), expected.len());
    let times: Vec<gst::ClockTime> = full.frames.iter().map(|f| f.stream_time.unwrap()).collect();
    assert!(
        times.windows(2).all(|w| w[0] < w[1]),
        "display order: {times:?}"
    );

    let (pipeline, sink) = decode_pipeline(&media_dir().join(clip), "", &output_caps("NV12"));
    pipeline.set_state(gst::State::Paused).unwrap();
    pipeline.state(gst::ClockTime::from_seconds(10)).0.unwrap();
    for index in [37usize, 5, 59, 30, 1, 44, 29, 12, 58, 0] {
        // A little after the frame starts: the frame shown then is still this one.
        let position = times[index] + gst::ClockTime::from_mseconds(5);
        pipeline
            .seek_simple(gst::SeekFlags::FLUSH | gst::SeekFlags::ACCURATE, position)
            .unwrap();
        pipeline.state(gst::ClockTime::from_seconds(10)).0.unwrap();
        let sample = sink.pull_preroll().unwrap();
        let info = gst_video::VideoInfo::from_caps(sample.caps().unwrap()).unwrap();
        // GStreamer clips the first buffer to the seek position: it starts there, inside the
        // frame's own interval.
        let time = stream_time(&sample).unwrap();
        let end = times.get(index + 1).copied().unwrap_or(gst::ClockTime::MAX);
        assert!(
            time >= times[index] && time < end,
            "seek to {position}: frame at {time}, expected frame {index} at {}",
            times[index]
        );
        assert_eq!(
            frame_md5(sample.buffer().unwrap(), &info),
            expected[index].1,
            "seek to {position}: wrong picture"
        );
    }
}

/// Damaged input (cut at many points, bits flipped) ends with EOS or an error in bounded time,
/// never a crash or hang; the undamaged file decodes correctly in the same process afterwards.
#[test]
fn damaged_input_ends_cleanly() {
    let _device = device();
    let clip = "h264_raw.h264";
    let original = std::fs::read(media_dir().join(clip)).unwrap();
    let dir = std::env::temp_dir().join("cudapreproc-damaged");
    std::fs::create_dir_all(&dir).unwrap();
    let mut outcomes = Vec::new();
    for percent in [5usize, 15, 30, 45, 60, 75, 90, 99] {
        let path = dir.join(format!("cut{percent}.h264"));
        std::fs::write(&path, &original[..original.len() * percent / 100]).unwrap();
        let d = decode(
            &path,
            "",
            &output_caps("NV12"),
            false,
            Duration::from_secs(20),
        );
        outcomes.push(format!(
            "cut at {percent}%: {} frames, {} warnings, error {:?}",
            d.frames.len(),
            d.warnings.len(),
            d.error
        ));
    }
    // HEVC too: the MP4 clip's stream as Annex B (parsed here), checked undamaged first.
    let annexb = dir.join("hevc.h265");
    let extract = cudapreproc_tests::pipeline(&format!(
        "filesrc location={} ! qtdemux ! h265parse ! \
         video/x-h265,stream-format=byte-stream,alignment=au ! filesink location={}",
        media_dir().join("hevc_8bit.mp4").display(),
        annexb.display()
    ));
    assert_eq!(cudapreproc_tests::run_to_end(&extract), None);
    let hevc = std::fs::read(&annexb).unwrap();
    let undamaged = decode(&annexb, "", &output_caps("NV12"), false, LIMIT);
    let md5s: Vec<_> = undamaged.frames.iter().map(|f| f.md5.clone()).collect();
    let expected: Vec<_> = references("hevc_8bit.mp4")
        .into_iter()
        .map(|(_, m)| m)
        .collect();
    outcomes.push(format!(
        "HEVC as Annex B, undamaged: {} frames, {} equal to libavcodec's ({} frames)",
        md5s.len(),
        md5s.iter().zip(&expected).filter(|(a, b)| a == b).count(),
        expected.len()
    ));
    // Bits flipped after the parameter sets (the first `keep` bytes), so the stream still
    // starts; xorshift positions.
    let mut seed = 0x2545_f491_4f6c_dd1du64;
    let mut errors_past_the_limit = Vec::new();
    let damaged_decode = |path: &Path, props: &str| {
        decode(
            path,
            props,
            &output_caps("NV12"),
            false,
            Duration::from_secs(20),
        )
    };
    for (codec, data, keep, first_count) in
        [("H.264", &original, 64, 8usize), ("HEVC", &hevc, 256, 16)]
    {
        for round in 0..6 {
            let count = first_count << round;
            let mut damaged = data.clone();
            for _ in 0..count {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                let byte = keep + (seed as usize) % (damaged.len() - keep);
                damaged[byte] ^= 1 << (seed >> 61);
            }
            let path = dir.join(format!("flipped{round}.{}", codec.to_lowercase()));
            std::fs::write(&path, &damaged).unwrap();
            let d = damaged_decode(&path, "max-errors=-1");
            outcomes.push(format!(
                "{codec}, {count} bits flipped: {} frames, {} warnings, error {:?}{}",
                d.frames.len(),
                d.warnings.len(),
                d.error,
                d.warnings
                    .first()
                    .map(|w| format!(", first warning: {w}"))
                    .unwrap_or_default()
            ));
            if !d.warnings.is_empty() {
                // max-errors counts consecutive damaged pictures (GstVideoDecoder's rule): with
                // 0, the first one is an error.
                let limited = damaged_decode(&path, "max-errors=0");
                outcomes.push(format!(
                    "  the same with max-errors=0: {} frames, {} warnings, then error {:?}",
                    limited.frames.len(),
                    limited.warnings.len(),
                    limited.error
                ));
                errors_past_the_limit.push(limited.error.is_some());
            }
        }
    }
    for line in &outcomes {
        println!("{line}");
    }
    assert!(
        errors_past_the_limit.iter().all(|e| *e),
        "damaged pictures with max-errors=0, but no error"
    );
    decode_exactly(clip).unwrap_or_else(|e| panic!("the clean file after the damaged ones: {e}"));
}

/// Whether an H.264 access unit (Annex B) holds a slice that other pictures do not refer to
/// (a slice NAL unit with nal_ref_idc 0).
fn is_unreferenced_picture(au: &[u8]) -> bool {
    au.windows(4)
        .filter(|w| w[..3] == [0, 0, 1])
        .map(|w| w[3])
        .any(|header| matches!(header & 0x1f, 1 | 5) && header & 0x60 == 0)
}

/// Access units whose picture is lost (replaced by an access unit delimiter alone, fed past
/// the parser): a warning per lost frame naming its position, as the decoder goes on (the other
/// frames still bit-exact); with `max-errors` below their count, an error.
#[test]
fn lost_pictures_are_reported_with_their_position() {
    let _device = device();
    let clip = "h264_bframes_720p.mp4";
    // The clip's access units, with their timestamps, as the parser gives them.
    let extract = Stopping(cudapreproc_tests::pipeline(&format!(
        "filesrc location={} ! qtdemux ! h264parse ! \
         video/x-h264,stream-format=byte-stream,alignment=au ! appsink name=sink sync=false",
        media_dir().join(clip).display()
    )));
    let sink = cudapreproc_tests::appsink(&extract);
    extract.set_state(gst::State::Playing).unwrap();
    let (mut units, mut caps) = (Vec::new(), None);
    while let Some(sample) = cudapreproc_tests::sample_or_error(&extract, &sink) {
        caps = sample.caps().map(|c| c.to_owned());
        units.push(sample.buffer_owned().unwrap());
    }
    drop(extract);
    let caps = caps.expect("access units");
    // Three pictures nothing refers to, so the others decode as before.
    let lost: Vec<usize> = units
        .iter()
        .enumerate()
        .filter(|(_, au)| is_unreferenced_picture(&au.map_readable().unwrap()))
        .map(|(i, _)| i)
        .step_by(4)
        .take(3)
        .collect();
    assert_eq!(lost.len(), 3, "unreferenced pictures in {clip}");
    const DELIMITER: [u8; 6] = [0, 0, 0, 1, 0x09, 0xf0];

    let run = |props: &str| {
        let pipeline = Stopping(cudapreproc_tests::pipeline(&format!(
            "appsrc name=src format=time max-bytes=0 ! nvdec {props} ! \
             video/x-raw,format=NV12 ! appsink name=sink sync=false"
        )));
        let src = cudapreproc_tests::appsrc(&pipeline);
        src.set_caps(Some(&caps));
        for (i, unit) in units.iter().enumerate() {
            let buffer = if lost.contains(&i) {
                let mut damaged = gst::Buffer::from_slice(DELIMITER);
                let meta = damaged.get_mut().unwrap();
                meta.set_pts(unit.pts());
                meta.set_dts(unit.dts());
                meta.set_flags(unit.flags());
                damaged
            } else {
                unit.clone()
            };
            src.push_buffer(buffer).unwrap();
        }
        src.end_of_stream().unwrap();
        let sink = cudapreproc_tests::appsink(&pipeline);
        collect(&pipeline, &sink, clip, false, LIMIT)
    };

    let decoded = run("max-errors=-1");
    let lost_pts: Vec<_> = lost.iter().map(|&i| units[i].pts()).collect();
    // The references are in display order, which is timestamp order.
    let mut display_pts: Vec<_> = units.iter().map(|u| u.pts()).collect();
    display_pts.sort();
    let expected: Vec<String> = references(clip)
        .into_iter()
        .zip(&display_pts)
        .filter(|(_, pts)| !lost_pts.contains(pts))
        .map(|((_, md5), _)| md5)
        .collect();
    let md5s: Vec<_> = decoded.frames.iter().map(|f| f.md5.clone()).collect();
    assert_eq!(decoded.error, None);
    assert_eq!(md5s, expected, "the frames not lost, bit-exact");
    assert_eq!(decoded.warnings.len(), 3, "{:?}", decoded.warnings);
    for (warning, pts) in decoded.warnings.iter().zip(&lost_pts) {
        assert!(
            warning.contains(&format!("pts {}", pts.display())),
            "{warning}: not the position of the lost frame at {}",
            pts.display()
        );
    }
    println!(
        "{clip}: access units {lost:?} lost: {} frames decoded, all bit-exact; {} warnings:",
        decoded.frames.len(),
        decoded.warnings.len()
    );
    for warning in &decoded.warnings {
        println!("  {warning}");
    }
    // max-errors counts consecutive damaged pictures (GstVideoDecoder's rule): with 0, the
    // first lost picture is an error.
    let limited = run("max-errors=0");
    println!(
        "with max-errors=0: {} frames, {} warnings, then the error {:?}",
        limited.frames.len(),
        limited.warnings.len(),
        limited.error
    );
    let error = limited.error.expect("an error past max-errors=0");
    assert!(
        error.contains(&format!("pts {}", lost_pts[0].display())),
        "{error}: not the first lost frame"
    );
}

/// `output-every=3` outputs a third of the pictures (counted in decode order) and
/// `keyframes-only` the key frames; every picture output is one libavcodec has.
#[test]
fn frame_sampling() {
    let _device = device();
    let clip = "h264_bframes_720p.mp4";
    let reference: HashSet<String> = references(clip).into_iter().map(|(_, m)| m).collect();
    for (properties, frames, why) in [
        ("output-every=3", 20, "60 pictures, one in 3"),
        ("keyframes-only=true", 2, "two key frames (every 30 frames)"),
    ] {
        let out = decode_media_nv12(clip, properties);
        assert_eq!(out.error, None, "{properties}");
        assert_eq!(out.frames.len(), frames, "{properties}: {why}");
        assert!(
            out.frames.iter().all(|f| reference.contains(&f.md5)),
            "{properties}"
        );
    }
}

/// The real clip decoded 20 times in one pipeline, seeking back to the start at each end:
/// device memory and the plugin's allocations stay flat.
#[test]
fn memory_flat_over_20_loops() {
    let device = device();
    let (pipeline, sink) = decode_pipeline(
        &real_clip(),
        "",
        "video/x-raw(memory:CUDAMemory),format=NV12",
    );
    pipeline.set_state(gst::State::Playing).unwrap();
    let (mut frames, mut samples) = (0usize, Vec::new());
    let started = Instant::now();
    while samples.len() < 20 {
        match sink.try_pull_sample(gst::ClockTime::from_mseconds(200)) {
            Some(_) => frames += 1,
            None if sink.is_eos() => {
                let (free, total) = device.memory_info().unwrap();
                let live = cuda::live_resources();
                samples.push((
                    frames,
                    total - free,
                    (live.device_buffers, live.device_bytes),
                ));
                pipeline
                    .seek_simple(gst::SeekFlags::FLUSH, gst::ClockTime::ZERO)
                    .unwrap();
            }
            None => {
                let error = cudapreproc_tests::pending_error(&pipeline);
                assert!(error.is_none(), "{error:?}");
                assert!(
                    started.elapsed() < Duration::from_secs(120),
                    "hung after {frames} frames"
                );
            }
        }
    }
    for (loop_, (frames, used, (buffers, bytes))) in samples.iter().enumerate() {
        println!(
            "loop {:>2}: {frames:>5} frames, device memory used {:>8.1} MiB, plugin allocations \
             {buffers} ({:.1} MiB)",
            loop_ + 1,
            *used as f64 / 1048576.0,
            *bytes as f64 / 1048576.0
        );
    }
    assert_eq!(samples.last().unwrap().0, 20 * 132);
    // The output pool allocates on demand, up to its bound (2 + 6 buffers in front of an
    // appsink): its count may step up whenever the sink happens to hold one more frame at a seek,
    // never past the bound. Device memory outside the plugin's allocations does not move.
    const POOL_BOUND: i64 = 8;
    let outside = |(_, used, (_, bytes)): &(usize, usize, (i64, i64))| *used as i64 - *bytes;
    let outside10 = outside(&samples[9]);
    for (i, sample) in samples.iter().enumerate() {
        let (buffers, _) = sample.2;
        assert!(
            buffers <= POOL_BOUND,
            "{buffers} allocations by loop {}: the pool's bound is {POOL_BOUND}",
            i + 1
        );
        if i >= 9 {
            let drift = (outside(sample) - outside10).abs();
            assert!(
                drift <= 4 << 20,
                "device memory besides the plugin's moved {drift} bytes by loop {}",
                i + 1
            );
        }
    }
}

/// Decodes `clip` of the test media with `nvdecsrc SOURCE` (`location=...` or `uri=...`) and
/// compares every frame with libavcodec's: a line saying how it went.
fn nvdecsrc_matches(source: &str, clip: &str) -> Result<String, String> {
    let format = manifest()
        .into_iter()
        .find(|c| c.name == clip)
        .unwrap()
        .format;
    let pipeline = Stopping(cudapreproc_tests::pipeline(&format!(
        "nvdecsrc {source} ! {} ! appsink name=sink sync=false",
        output_caps(&format)
    )));
    let (md5s, _) = cudapreproc_tests::play_frame_md5s(&pipeline);
    let expected: Vec<_> = references(clip).into_iter().map(|(_, m)| m).collect();
    if md5s != expected {
        let error = cudapreproc_tests::pending_error(&pipeline);
        return Err(format!(
            "{clip}: {} of {} frames match; {error:?}",
            md5s.iter().zip(&expected).filter(|(a, b)| a == b).count(),
            expected.len()
        ));
    }
    Ok(format!("{clip}: {} frames bit-exact", md5s.len()))
}

/// [`nvdecsrc_matches`] for every `(source, clip)`, printing a line per clip after `label`, then
/// failing with every clip that did not match, not only the first.
fn assert_nvdecsrc_matches(label: &str, sources: impl IntoIterator<Item = (String, &'static str)>) {
    let mut failures = Vec::new();
    for (source, clip) in sources {
        match nvdecsrc_matches(&source, clip) {
            Ok(line) => println!("{label} {line}"),
            Err(e) => failures.push(e),
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// `nvdecsrc location=...` reads MP4 (with audio), Matroska, WebM, MPEG-TS and raw elementary
/// streams and gives libavcodec's frames.
#[test]
fn nvdecsrc_reads_every_container() {
    let _device = device();
    let clips = [
        "h264_bframes_720p.mp4",
        "h264_1918x1078.mkv",
        "vp9.webm",
        "h264_642x362.ts",
        "h264_raw.h264",
        "hevc_10bit.mkv",
    ];
    assert_nvdecsrc_matches(
        "nvdecsrc",
        clips.map(|clip| {
            (
                format!("location={}", media_dir().join(clip).display()),
                clip,
            )
        }),
    );
}

/// `nvdecsrc uri=http://...` (GStreamer's HTTP source, byte ranges for demuxers that seek)
/// gives libavcodec's frames, from a server in this process.
#[test]
fn nvdecsrc_reads_http_uris() {
    let _device = device();
    let server = cudapreproc_tests::http::FileServer::start(media_dir());
    let clips = ["h264_bframes_720p.mp4", "vp9.webm", "h264_642x362.ts"];
    assert_nvdecsrc_matches(
        "nvdecsrc over http",
        clips.map(|clip| (format!("uri={}", server.uri(clip)), clip)),
    );
}

/// Errors from inside `nvdecsrc` reach the bus naming the file: one that does not exist, and
/// one that is not video.
#[test]
fn nvdecsrc_errors_name_the_file() {
    let _device = device();
    let missing = std::env::temp_dir().join("cudapreproc-no-such-file.mp4");
    let not_video = std::env::temp_dir().join("cudapreproc-not-video.mp4");
    std::fs::write(&not_video, "this is a text file, not an MP4\n".repeat(200)).unwrap();
    for path in [&missing, &not_video] {
        let pipeline = cudapreproc_tests::pipeline(&format!(
            "nvdecsrc location={} ! fakesink",
            path.display()
        ));
        let error = cudapreproc_tests::run_to_end(&pipeline).expect("must fail");
        println!("{}: {error}", path.display());
        assert!(error.contains(path.to_str().unwrap()), "{error}");
    }
}

/// PSNR (dB) of the 8-bit rows `rows` of two `width`-wide luma planes.
fn luma_psnr(a: &[u8], b: &[u8], width: usize, rows: impl Iterator<Item = usize>) -> f64 {
    let (mut sum, mut n) = (0f64, 0usize);
    for y in rows {
        for x in 0..width {
            let d = f64::from(a[y * width + x]) - f64::from(b[y * width + x]);
            sum += d * d;
            n += 1;
        }
    }
    let mse = sum / n as f64;
    if mse == 0.0 {
        f64::INFINITY
    } else {
        10.0 * (255.0 * 255.0 / mse).log10()
    }
}

/// `deinterlace-mode=bob` and `adaptive` on the interlaced clip: one progressive frame per coded
/// frame, different from the woven picture (the second field's rows are made from the first),
/// with the first (top) field's rows exactly as decoded.
#[test]
fn deinterlacing_modes() {
    let _device = device();
    let path = media_dir().join("h264_interlaced.ts");
    let woven = decode(&path, "", &output_caps("NV12"), true, LIMIT);
    assert_eq!(woven.error, None);
    let (width, height) = (720usize, 576usize);
    for mode in ["bob", "adaptive"] {
        let out = decode(
            &path,
            &format!("deinterlace-mode={mode}"),
            &output_caps("NV12"),
            true,
            LIMIT,
        );
        assert_eq!(out.error, None, "{mode}");
        assert_eq!(
            out.frames.len(),
            woven.frames.len(),
            "{mode}: one frame per frame"
        );
        let (mut worst_top, mut worst_all, mut changed) = (f64::INFINITY, f64::INFINITY, 0);
        for (ours, weave) in out.frames.iter().zip(&woven.frames) {
            assert_eq!(ours.pts, weave.pts, "{mode}: timestamps");
            let (a, b) = (
                &ours.planes.as_ref().unwrap()[0],
                &weave.planes.as_ref().unwrap()[0],
            );
            worst_top = worst_top.min(luma_psnr(a, b, width, (0..height).step_by(2)));
            worst_all = worst_all.min(luma_psnr(a, b, width, 0..height));
            changed += usize::from(ours.md5 != weave.md5);
        }
        println!(
            "{mode}: {} frames, {changed} differ from the woven picture; luma PSNR against it: \
             top-field rows >= {worst_top:.1} dB, all rows >= {worst_all:.1} dB",
            out.frames.len()
        );
        assert!(changed > 0, "{mode}: output identical to weave");
        assert!(
            worst_top >= 30.0,
            "{mode}: top-field rows {worst_top:.1} dB"
        );
    }
}
