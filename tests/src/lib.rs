//! Helpers shared by the CPU and GPU test suites: plugin set-up, video infos with explicit
//! colorimetry, moving frames between GStreamer buffers and reference images, and running
//! small pipelines.

pub mod chain;
pub mod http;
pub mod reference;

use crate::reference::Image;
use cudapreproc_core::colorspace::{Encoding, Family, Matrix, PixelFormat, Range};
use gst::prelude::*;
use gst_video::prelude::*;

/// Initialises GStreamer and registers the plugin from this build (no GST_PLUGIN_PATH needed),
/// through the application library, so tests using both register it once.
pub fn init() {
    cudapreproc::register_elements().expect("plugin registers");
}

/// The GStreamer colorimetry for a matrix and range: GStreamer's named colorimetry of that
/// standard (its transfer function and primaries), with the range asked for.
pub fn colorimetry(matrix: Matrix, range: Range) -> gst_video::VideoColorimetry {
    let name = match matrix {
        Matrix::Bt601 => "bt601",
        Matrix::Bt709 => "bt709",
        Matrix::Bt2020 => "bt2020-10",
        Matrix::Smpte240m => "smpte240m",
    };
    let standard: gst_video::VideoColorimetry =
        name.parse().expect("a colorimetry GStreamer names");
    let gst_range = match range {
        Range::Limited => gst_video::VideoColorRange::Range16_235,
        Range::Full => gst_video::VideoColorRange::Range0_255,
    };
    gst_video::VideoColorimetry::new(
        gst_range,
        standard.matrix(),
        standard.transfer(),
        standard.primaries(),
    )
}

/// A video info for `format` at `width` x `height`, with the colorimetry of `encoding` for
/// Y'CbCr and gray formats (RGB keeps GStreamer's sRGB default).
pub fn video_info(
    format: PixelFormat,
    width: u32,
    height: u32,
    encoding: Option<(Matrix, Range)>,
) -> gst_video::VideoInfo {
    let mut builder = gst_video::VideoInfo::builder(format.video_format(), width, height)
        .fps(gst::Fraction::new(30, 1));
    let c;
    if let (Some((matrix, range)), false) = (encoding, format.family() == Family::Rgb) {
        c = colorimetry(matrix, range);
        builder = builder.colorimetry(&c);
    }
    builder.build().unwrap()
}

/// A random `format` frame of `width` x `height` drawn from `seed`, and the video info of caps
/// that describe it (with `encoding`, as [`video_info`] reads it).
pub fn random_frame(
    format: PixelFormat,
    (width, height): (u32, u32),
    encoding: Option<(Matrix, Range)>,
    seed: u64,
) -> (gst_video::VideoInfo, Image) {
    let info = video_info(format, width, height, encoding);
    let image = Image::random(format, width as usize, height as usize, seed);
    (info, image)
}

/// The encoding a frame of `info` is in, read from its colorimetry the way docs/colour.md
/// defines it (written independently of the element's own reading).
pub fn encoding_of(info: &gst_video::VideoInfo) -> Encoding {
    let format = PixelFormat::from_video_format(info.format()).expect("supported format");
    let c = info.colorimetry();
    let matrix = match c.matrix() {
        gst_video::VideoColorMatrix::Bt601 | gst_video::VideoColorMatrix::Fcc => Matrix::Bt601,
        gst_video::VideoColorMatrix::Bt709 => Matrix::Bt709,
        gst_video::VideoColorMatrix::Bt2020 => Matrix::Bt2020,
        gst_video::VideoColorMatrix::Smpte240m => Matrix::Smpte240m,
        _ if info.height() >= 2160 => Matrix::Bt2020,
        _ if info.height() > 576 => Matrix::Bt709,
        _ => Matrix::Bt601,
    };
    let range = match (c.range(), format.family()) {
        (gst_video::VideoColorRange::Range16_235, _) => Range::Limited,
        (gst_video::VideoColorRange::Range0_255, _) => Range::Full,
        (_, Family::Yuv) => Range::Limited,
        _ => Range::Full,
    };
    Encoding {
        format,
        matrix,
        range,
    }
}

/// A system-memory buffer holding `image` laid out as `info` says (no video meta needed).
pub fn image_to_buffer(image: &Image, info: &gst_video::VideoInfo) -> gst::Buffer {
    let mut buffer = gst::Buffer::with_size(info.size()).unwrap();
    {
        let mut map = buffer.get_mut().unwrap().map_writable().unwrap();
        let mut rest = map.as_mut_slice();
        let n = info.n_planes() as usize;
        let mut planes: Vec<&mut [u8]> = Vec::new();
        for p in 0..n {
            let end = if p + 1 < n {
                info.offset()[p + 1] - info.offset()[p]
            } else {
                rest.len()
            };
            let (plane, tail) = rest.split_at_mut(end);
            planes.push(plane);
            rest = tail;
        }
        let strides: Vec<usize> = info.stride().iter().map(|s| *s as usize).collect();
        image.write_strided(&mut planes, &strides);
    }
    buffer
}

/// The frame in `buffer` (any memory: a plain map gives a host view) as a reference image.
pub fn buffer_to_image(buffer: &gst::BufferRef, info: &gst_video::VideoInfo) -> Image {
    let frame = gst_video::VideoFrameRef::from_buffer_ref_readable(buffer, info).unwrap();
    let format = PixelFormat::from_video_format(info.format()).unwrap();
    let planes: Vec<&[u8]> = (0..frame.n_planes())
        .map(|p| frame.plane_data(p).unwrap())
        .collect();
    let strides: Vec<usize> = frame.plane_stride().iter().map(|s| *s as usize).collect();
    Image::from_strided(
        format,
        info.width() as usize,
        info.height() as usize,
        &planes,
        &strides,
    )
}

/// A pipeline that is set to NULL when dropped, also when a test panics half-way (dropping a
/// playing pipeline would leave its threads running into the next test).
pub struct Stopping(pub gst::Pipeline);

impl Drop for Stopping {
    fn drop(&mut self) {
        let _ = self.0.set_state(gst::State::Null);
    }
}

impl std::ops::Deref for Stopping {
    type Target = gst::Pipeline;
    fn deref(&self) -> &gst::Pipeline {
        &self.0
    }
}

/// Runs `pipeline` until EOS or error; returns the first error message's text, if any.
pub fn run_to_end(pipeline: &gst::Pipeline) -> Option<String> {
    let pipeline = Stopping(pipeline.clone());
    pipeline.set_state(gst::State::Playing).ok();
    let bus = pipeline.bus().unwrap();
    let mut error = None;
    for msg in bus.iter_timed(gst::ClockTime::from_seconds(120)) {
        match msg.view() {
            gst::MessageView::Eos(_) => break,
            gst::MessageView::Error(e) => {
                error = Some(format!("{}", e.error()));
                break;
            }
            _ => {}
        }
    }
    drop(pipeline);
    error
}

/// The first end-of-stream or error message on `pipeline`'s bus within `timeout`
/// (`gst::ClockTime::NONE`: however long it takes), if one comes.
pub fn end_or_error(
    pipeline: &gst::Pipeline,
    timeout: impl Into<Option<gst::ClockTime>>,
) -> Option<gst::Message> {
    pipeline
        .bus()
        .unwrap()
        .timed_pop_filtered(timeout, &[gst::MessageType::Eos, gst::MessageType::Error])
}

/// The error of the first error message on `pipeline`'s bus within `timeout`; fails the test
/// when none comes.
pub fn next_error(pipeline: &gst::Pipeline, timeout: gst::ClockTime) -> glib::Error {
    let message = pipeline
        .bus()
        .unwrap()
        .timed_pop_filtered(timeout, &[gst::MessageType::Error])
        .unwrap_or_else(|| panic!("no error message within {timeout}"));
    let gst::MessageView::Error(error) = message.view() else {
        unreachable!()
    };
    error.error()
}

/// The error message already on `pipeline`'s bus, if there is one (no waiting).
pub fn pending_error(pipeline: &gst::Pipeline) -> Option<gst::Message> {
    pipeline
        .bus()
        .unwrap()
        .pop_filtered(&[gst::MessageType::Error])
}

/// Asserts that a pipeline asking `cudacvtcolor` for CUDA device `id`, one this machine does
/// not have, fails to start with an error naming that device.
pub fn assert_missing_device_reported(id: i32) {
    let pipeline = pipeline(&format!(
        "videotestsrc num-buffers=1 ! cudacvtcolor cuda-device-id={id} ! fakesink"
    ));
    let error = run_to_end(&pipeline).expect("start must fail");
    assert!(
        error.contains(&format!("CUDA device {id} does not exist")),
        "{error}"
    );
}

/// Parses a `gst-launch-1.0` style description into a pipeline.
pub fn pipeline(description: &str) -> gst::Pipeline {
    init();
    gst::parse::launch(description)
        .unwrap_or_else(|e| panic!("{description}: {e}"))
        .downcast::<gst::Pipeline>()
        .unwrap()
}

/// Which CUDA context GStreamer's own CUDA elements (gst-plugins-bad's nvcodec) use in a pipeline.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum UpstreamContext {
    /// The one our elements give them: the primary context, our memory's.
    Shared,
    /// One of their own, set on the pipeline before it starts.
    Separate,
}

/// The pipeline `description`, with upstream's CUDA elements in `context`.
pub fn pipeline_in(description: &str, context: UpstreamContext) -> gst::Pipeline {
    let pipeline = pipeline(description);
    if context == UpstreamContext::Separate {
        let separate = cudapreproc_core::upstream::separate_context(0);
        pipeline.set_context(&separate.expect("upstream's CUDA library"));
    }
    pipeline
}

/// The visible picture of `buffer` (a frame of `info`, any memory) as one tight plane per
/// plane: rows without padding.
pub fn tight_planes(buffer: &gst::BufferRef, info: &gst_video::VideoInfo) -> Vec<Vec<u8>> {
    let frame = gst_video::VideoFrameRef::from_buffer_ref_readable(buffer, info).unwrap();
    (0..frame.n_planes())
        .map(|p| {
            let (row_bytes, rows) = cudapreproc_core::frame::plane_extent(
                info.format(),
                info.width(),
                info.height(),
                p as usize,
            );
            let stride = frame.plane_stride()[p as usize] as usize;
            let data = frame.plane_data(p).unwrap();
            (0..rows)
                .flat_map(|y| &data[y * stride..y * stride + row_bytes])
                .copied()
                .collect()
        })
        .collect()
}

/// MD5 (lower-case hex) of the visible picture, planes in order, rows without padding: what
/// `ffmpeg -f framemd5` computes for the same pixel format.
pub fn frame_md5(buffer: &gst::BufferRef, info: &gst_video::VideoInfo) -> String {
    let mut context = md5::Context::new();
    for plane in tight_planes(buffer, info) {
        context.consume(&plane);
    }
    format!("{:x}", context.compute())
}

/// Pushes `frames` (system memory, caps `in_caps`) through `middle` and hands every output
/// buffer, with its caps, to `check` (then drops it: pools are bounded, so a test that kept
/// every output would stall the pipeline, as an application would).
pub fn run_samples(
    middle: &str,
    in_caps: &gst::Caps,
    frames: &[gst::Buffer],
    mut check: impl FnMut(usize, &gst::BufferRef, &gst::CapsRef),
) {
    let description =
        format!("appsrc name=src format=time ! {middle} ! appsink name=sink sync=false");
    let pipeline = Stopping(pipeline(&description));
    let src = appsrc(&pipeline);
    let sink = appsink(&pipeline);
    src.set_caps(Some(in_caps));
    pipeline.set_state(gst::State::Playing).unwrap();
    for (i, frame) in frames.iter().enumerate() {
        let mut frame = frame.clone();
        frame
            .make_mut()
            .set_pts(gst::ClockTime::from_mseconds(40 * i as u64));
        src.push_buffer(frame).unwrap();
    }
    src.end_of_stream().unwrap();
    let mut n = 0;
    while let Some(sample) = sample_or_error(&pipeline, &sink) {
        check(n, sample.buffer().unwrap(), sample.caps().unwrap());
        n += 1;
    }
    assert_eq!(n, frames.len(), "{description}: frames lost");
}

/// [`run_samples`] for video output: `check` gets each frame with the video info of its caps.
pub fn run_frames(
    middle: &str,
    in_caps: &gst::Caps,
    frames: &[gst::Buffer],
    mut check: impl FnMut(usize, &gst::BufferRef, &gst_video::VideoInfo),
) {
    run_samples(middle, in_caps, frames, |n, buffer, caps| {
        let info = gst_video::VideoInfo::from_caps(caps).unwrap();
        check(n, buffer, &info)
    });
}

/// The next sample, `None` at EOS; a pipeline error fails the test with its message.
pub fn sample_or_error(pipeline: &gst::Pipeline, sink: &gst_app::AppSink) -> Option<gst::Sample> {
    match sink.try_pull_sample(gst::ClockTime::from_seconds(30)) {
        Some(sample) => Some(sample),
        None => {
            if let Some(msg) = pending_error(pipeline) {
                if let gst::MessageView::Error(e) = msg.view() {
                    panic!("pipeline error: {} ({:?})", e.error(), e.debug());
                }
            }
            assert!(sink.is_eos(), "no sample within 30 s and no EOS");
            None
        }
    }
}

/// Seeded splitmix64, so every run tries the same cases.
pub struct Rng(pub u64);

impl Rng {
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    pub fn uniform(&mut self, lo: f64, hi: f64) -> f64 {
        lo + (hi - lo) * (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    pub fn below(&mut self, n: u32) -> u32 {
        (self.next_u64() % u64::from(n)) as u32
    }
}

/// The matrix for a plane subsampled by 2 both ways, chroma centred between luma samples
/// (sample c of the plane sits at luma coordinate 2c + 0.5).
pub fn half_plane_matrix(m: &[f64; 6]) -> [f64; 6] {
    [
        m[0],
        m[1],
        (0.5 * (m[0] + m[1]) + m[2] - 0.5) / 2.0,
        m[3],
        m[4],
        (0.5 * (m[3] + m[4]) + m[5] - 0.5) / 2.0,
    ]
}

/// The folder `scripts/make-test-media` filled (`CUDAPREPROC_DECODE_MEDIA`, or
/// `.gpu/media/decode` under the current folder).
pub fn media_dir() -> std::path::PathBuf {
    let dir = std::env::var_os("CUDAPREPROC_DECODE_MEDIA")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| std::path::PathBuf::from(".gpu/media/decode"));
    assert!(
        dir.join("manifest.tsv").exists(),
        "no decode test media in {} (scripts/make-test-media makes it; on the GPU host, \
         carry .gpu/packs/media.tar.xz from scripts/stage-gpu)",
        dir.display()
    );
    dir
}

/// A tab-separated table (the test media's manifests and frame tables): its header's fields,
/// and each row after it as its fields, blank lines left out. Panics naming the file when it
/// cannot be read.
pub fn tsv(path: &std::path::Path) -> (Vec<String>, Vec<Vec<String>>) {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut rows = text
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| l.split('\t').map(str::to_string).collect::<Vec<_>>());
    let header = rows.next().unwrap_or_default();
    (header, rows.collect())
}

/// The element named `name` in `bin`, as a `T` (an appsrc, an appsink, one of ours). Panics
/// naming it when there is none, or when it is something else.
pub fn element<T: IsA<gst::Element>>(bin: &impl IsA<gst::Bin>, name: &str) -> T {
    bin.by_name(name)
        .unwrap_or_else(|| panic!("no element named {name}"))
        .downcast::<T>()
        .unwrap_or_else(|e| panic!("{name} is a {}, not a {}", e.type_(), T::static_type()))
}

/// The appsrc named `src` in `pipeline`.
pub fn appsrc(pipeline: &gst::Pipeline) -> gst_app::AppSrc {
    element(pipeline, "src")
}

/// Plays `pipeline` and takes the MD5 of every frame its appsink `sink` receives (as
/// [`frame_md5`]), until no frame comes for 20 s; with whether it had reached the end of the
/// stream.
pub fn play_frame_md5s(pipeline: &gst::Pipeline) -> (Vec<String>, bool) {
    let sink = appsink(pipeline);
    pipeline.set_state(gst::State::Playing).unwrap();
    let mut md5s = Vec::new();
    while let Some(sample) = sink.try_pull_sample(gst::ClockTime::from_seconds(20)) {
        let info = gst_video::VideoInfo::from_caps(sample.caps().unwrap()).unwrap();
        md5s.push(frame_md5(sample.buffer().unwrap(), &info));
    }
    (md5s, sink.is_eos())
}

/// The appsink named `sink` in `pipeline`.
pub fn appsink(pipeline: &gst::Pipeline) -> gst_app::AppSink {
    element(pipeline, "sink")
}
