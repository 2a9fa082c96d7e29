//! `VideoWriter` round trips: frames read from a clip by `VideoReader`, written to a file and
//! read back, must come back as they went (PSNR at least 40 dB against what was written, at the
//! writer's default 20 Mbit/s), in every layout, channel order and element type the reader
//! gives; odd sizes are refused in 4:2:0 and written in lossless 4:4:4, which decodes bit-exact.

use cudapreproc::reader::VideoReader;
use cudapreproc::reader::{ColorOrder, DType, FrameBatch, Layout, Normalize, ReaderOptions};
use cudapreproc::writer::{Chroma, Codec, VideoWriter, WriterOptions};
use cudapreproc::Error;
use gst::prelude::*;

use cudapreproc_tests::tight_planes;

use crate::device;
use crate::reader::host_bytes;

const CLIP: &str = "tests/media/reader/gop30_640x360.mp4";
const FRAMES: usize = 30;

fn scratch(name: &str) -> String {
    let dir = std::env::temp_dir().join(format!("cudapreproc-writer-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir.join(name).to_str().unwrap().to_string()
}

fn psnr(a: &[u8], b: &[u8]) -> f64 {
    assert_eq!(a.len(), b.len());
    let mse = a
        .iter()
        .zip(b)
        .map(|(&x, &y)| (f64::from(x) - f64::from(y)).powi(2))
        .sum::<f64>()
        / a.len() as f64;
    if mse == 0.0 {
        f64::INFINITY
    } else {
        10.0 * (255.0f64 * 255.0 / mse).log10()
    }
}

/// The first frames of the clip as the reader gives them with `options`.
fn source_frames(options: ReaderOptions) -> FrameBatch {
    let mut reader = VideoReader::open(CLIP, options).unwrap();
    reader.get_frames_in_range(0, FRAMES, 1).unwrap()
}

#[test]
fn written_frames_read_back_within_40_db() {
    let _device = device();
    // What is compared: uint8 RGB NCHW, as written and as read back.
    let reference = host_bytes(&source_frames(ReaderOptions::default()));
    let plane = reference.len() / FRAMES;
    for (name, options) in [
        ("uint8 RGB NCHW", ReaderOptions::default()),
        (
            "float32 BGR NHWC in [0, 1]",
            ReaderOptions {
                dtype: DType::Float32,
                layout: Layout::Nhwc,
                color_order: ColorOrder::Bgr,
                normalize: Normalize::UNIT,
                ..ReaderOptions::default()
            },
        ),
        (
            "float16 RGB NCHW, ImageNet-normalised",
            ReaderOptions {
                dtype: DType::Float16,
                normalize: Normalize::IMAGENET,
                ..ReaderOptions::default()
            },
        ),
    ] {
        let path = scratch(&format!("{}.mp4", name.replace([' ', ',', '[', ']'], "_")));
        let frames = source_frames(options.clone());
        let mut writer = VideoWriter::create(
            &path,
            WriterOptions {
                layout: options.layout,
                color_order: options.color_order,
                normalize: options.normalize,
                ..WriterOptions::default()
            },
        )
        .unwrap();
        let encoder = writer.encoder().unwrap();
        // The batch twice: the writer goes on across writes, and a batch's memory is read in
        // place as often as it is written.
        writer.write(&frames.data).unwrap();
        writer.write(&frames.data).unwrap();
        assert_eq!(writer.frames_written(), 2 * FRAMES as u64);
        writer.close().unwrap();

        let mut back = VideoReader::open(&path, ReaderOptions::default()).unwrap();
        assert_eq!(back.len(), 2 * FRAMES, "{name}: frames in the file");
        let read = host_bytes(&back.get_frames_in_range(0, 2 * FRAMES, 1).unwrap());
        let worst = (0..2 * FRAMES)
            .map(|k| {
                let source = &reference[(k % FRAMES) * plane..][..plane];
                psnr(source, &read[k * plane..][..plane])
            })
            .fold(f64::INFINITY, f64::min);
        println!(
            "{name:<40} {encoder}: {} frames written and read back, lowest PSNR {worst:.1} dB",
            2 * FRAMES
        );
        assert!(worst >= 40.0, "{name}: lowest PSNR {worst:.1} dB");
    }
}

/// Odd sizes: 4:2:0 refuses them naming the size; lossless 4:4:4 H.265 (x265enc) writes them,
/// and NVDEC decodes exactly the Y'CbCr frames the writer's colour converter gave the encoder
/// (the same tensors written with a tail that stores them raw). 321x181 (NVDEC's HEVC decoder
/// takes 144x144 and more): RGB rows of 963 bytes, no multiple of any alignment.
#[test]
fn odd_sizes_lossless_4_4_4_decode_bit_exact() {
    let _device = device();
    let (width, height) = (321u32, 181u32);
    let frames = source_frames(ReaderOptions {
        size: Some((width, height)),
        ..ReaderOptions::default()
    });
    let mut writer = VideoWriter::create(&scratch("odd.mp4"), WriterOptions::default()).unwrap();
    let error = writer.write(&frames.data).unwrap_err();
    assert!(
        matches!(&error, Error::InvalidArgument(e) if e.contains("321x181") && e.contains("4:4:4")),
        "{error}"
    );
    println!("4:2:0: {error}");

    let lossless = WriterOptions {
        codec: Codec::H265,
        chroma: Chroma::Yuv444,
        lossless: true,
        ..WriterOptions::default()
    };
    let path = scratch("odd-lossless.mkv");
    let mut writer = VideoWriter::create(&path, lossless.clone()).unwrap();
    let encoder = writer.encoder().unwrap();
    writer.write(&frames.data).unwrap();
    writer.close().unwrap();
    // What the encoder was given: the same frames, stored raw after the colour converter.
    let raw = scratch("odd-converted.yuv");
    let tail = format!("video/x-raw,format=Y444 ! filesink location={raw}");
    let mut converted = VideoWriter::create(
        "converted frames",
        WriterOptions {
            tail: Some(tail),
            ..lossless
        },
    )
    .unwrap();
    converted.write(&frames.data).unwrap();
    converted.close().unwrap();
    let info = gst_video::VideoInfo::builder(gst_video::VideoFormat::Y444, width, height)
        .build()
        .unwrap();
    let stored = std::fs::read(&raw).unwrap();
    assert_eq!(
        stored.len(),
        FRAMES * info.size(),
        "raw Y444 frames in GStreamer's default layout"
    );
    let expected: Vec<Vec<u8>> = stored
        .chunks(info.size())
        .map(|frame| tight_planes(&gst::Buffer::from_slice(frame.to_vec()), &info).concat())
        .collect();

    let decode = cudapreproc_tests::Stopping(cudapreproc_tests::pipeline(&format!(
        "filesrc location={path} ! matroskademux ! h265parse ! nvdec ! \
         video/x-raw,format=Y444 ! appsink name=sink sync=false"
    )));
    let sink = cudapreproc_tests::appsink(&decode);
    decode.set_state(gst::State::Playing).unwrap();
    let mut decoded = Vec::new();
    while let Some(sample) = sink.try_pull_sample(gst::ClockTime::from_seconds(20)) {
        let info = gst_video::VideoInfo::from_caps(sample.caps().unwrap()).unwrap();
        assert_eq!((info.width(), info.height()), (width, height));
        decoded.push(tight_planes(sample.buffer().unwrap(), &info).concat());
    }
    let error = cudapreproc_tests::pending_error(&decode);
    assert!(error.is_none(), "decoding {path}: {error:?}");
    assert_eq!(decoded.len(), FRAMES, "frames decoded by nvdec");
    let differing = (0..FRAMES).filter(|&k| decoded[k] != expected[k]).count();
    assert_eq!(
        differing, 0,
        "frames of {FRAMES} that differ after the round trip"
    );
    println!(
        "{encoder} lossless 4:4:4 {width}x{height}: {FRAMES} frames decoded by nvdec equal \
         bit for bit to the Y444 the encoder was given"
    );
}

/// The sink caps upstream's `nvh264enc` (GStreamer 1.22) declares on a GPU with NVENC: system
/// memory first, then GL and CUDA memory, of these formats. The H100 and H200 have no NVENC, so
/// the element does not register there.
const NVH264ENC_SINK_CAPS: &str = "\
    video/x-raw, format=(string){ NV12, YV12, I420, BGRA, RGBA, Y444, VUYA }, \
    width=(int)[ 145, 4096 ], height=(int)[ 49, 4096 ], interlace-mode=(string)progressive; \
    video/x-raw(memory:GLMemory), format=(string){ NV12, YV12, I420, BGRA, RGBA, Y444, VUYA }, \
    width=(int)[ 145, 4096 ], height=(int)[ 49, 4096 ], interlace-mode=(string)progressive; \
    video/x-raw(memory:CUDAMemory), format=(string){ NV12, YV12, I420, BGRA, RGBA, Y444, VUYA }, \
    width=(int)[ 145, 4096 ], height=(int)[ 49, 4096 ], interlace-mode=(string)progressive";

/// What the writer's NVENC path puts before the encoder (tensors to RGBA, then `cudacvtcolor`),
/// linked to a capsfilter with `nvh264enc`'s sink caps in its place: the link negotiates CUDA
/// memory although the encoder lists system memory first, in a format the encoder takes (the
/// converter keeps RGBA, which needs no conversion), and the frames arrive in CUDA memory (what
/// NVENC registers in place).
#[test]
fn nvenc_input_negotiates_cuda_memory() {
    let _device = device();
    let pipeline = cudapreproc_tests::Stopping(cudapreproc_tests::pipeline(&format!(
        "videotestsrc num-buffers=5 ! video/x-raw,format=RGBA,width=640,height=360 ! \
         cudatensorconvert dtype=float32 layout=nchw ! cudatensorconvert layout=nchw ! \
         video/x-raw(memory:CUDAMemory),format=RGBA ! cudacvtcolor ! \
         capsfilter caps=\"{NVH264ENC_SINK_CAPS}\" ! appsink name=sink sync=false"
    )));
    let sink = cudapreproc_tests::appsink(&pipeline);
    pipeline.set_state(gst::State::Playing).unwrap();
    let mut frames = 0;
    while let Some(sample) = sink.try_pull_sample(gst::ClockTime::from_seconds(20)) {
        let caps = sample.caps().unwrap();
        assert!(
            caps.features(0)
                .is_some_and(|f| f.contains("memory:CUDAMemory")),
            "{caps}"
        );
        let format = caps.structure(0).unwrap().get::<&str>("format").unwrap();
        assert!(
            ["NV12", "YV12", "I420", "BGRA", "RGBA", "Y444", "VUYA"].contains(&format),
            "{caps}"
        );
        let buffer = sample.buffer().unwrap();
        assert!(cudapreproc_core::memory::is_cuda_memory(
            buffer.peek_memory(0)
        ));
        frames += 1;
        if frames == 1 {
            println!("negotiated with nvh264enc's sink caps: {caps}");
        }
    }
    assert_eq!(frames, 5, "frames through the link");
}

/// The Python module's writer with PyTorch tensors (tests/gpu/python_writer.py, which checks
/// the round trip of the reader's frames and of PyTorch's own, float NHWC BGR frames, and that
/// a written tensor's memory goes back to PyTorch, and prints what it found).
#[test]
fn python_tensors_written_read_back() {
    let _device = device();
    let folder = std::env::temp_dir().join(format!("cudapreproc-pywriter-{}", std::process::id()));
    crate::run_python(
        "tests/gpu/python_writer.py",
        &[CLIP.as_ref(), folder.as_os_str()],
    );
    let _ = std::fs::remove_dir_all(&folder);
}
