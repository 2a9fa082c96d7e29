//! GPU tensors to encoded video: [`VideoWriter`] pushes frames through `tensorsrc`,
//! `cudaconvert` (tensor to 8-bit RGBA, undoing the normalisation a reader applied) and
//! `cudacvtcolor` into an encoder, a parser and a muxer chosen by the file name, or into a
//! pipeline tail of the application's own.
//!
//! The encoder is NVIDIA's (NVENC, upstream GStreamer's `nvh264enc`/`nvh265enc`, fed CUDA
//! memory) where the GPU has one, otherwise a software encoder (`x264enc`, `openh264enc`,
//! `x265enc`, fed system memory); [`VideoWriter::encoder`] says which.

use std::path::Path;
use std::sync::LazyLock;
use std::time::Duration;

use cudapreproc_core::tensor::TensorInfo;
use gst::prelude::*;
use gstcudapreproc::TensorSrc;

use crate::choice::named_choice;
use crate::reader::convert_properties;
pub use crate::reader::{ColorOrder, DType, Layout, Normalize};
use crate::{register_elements, CudaTensor, Device, Error};

static CAT: LazyLock<gst::DebugCategory> = LazyLock::new(|| {
    gst::DebugCategory::new(
        "videowriter",
        gst::DebugColorFlags::empty(),
        Some("Tensors to encoded video"),
    )
});

/// How long closing waits for the encoder and muxer to finish the file.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(60);

named_choice! {
    /// The compression format written.
    pub enum Codec("codec") {
        #[default]
        H264 = "h264" | "avc",
        H265 = "h265" | "hevc",
    }
}

named_choice! {
    /// How the encoded video samples colour.
    pub enum Chroma("chroma") {
        /// Colour at half the width and height (what players expect); sides must be even.
        #[default]
        Yuv420 = "420" | "4:2:0" | "yuv420",
        /// Colour at every pixel: any size, and exact with `lossless`.
        Yuv444 = "444" | "4:4:4" | "yuv444",
    }
}

/// An encoder the writer knows how to set up.
#[derive(Debug, PartialEq, Eq)]
pub struct Encoder {
    /// Its GStreamer factory.
    pub factory: &'static str,
    /// NVENC, fed CUDA memory; otherwise a software encoder fed system memory.
    pub hardware: bool,
    codec: Codec,
    /// It encodes 4:4:4 and has a lossless mode (OpenH264 has neither).
    full_range_of_modes: bool,
}

impl Encoder {
    /// Whether it can write what `options` ask for.
    fn can_write(&self, options: &WriterOptions) -> bool {
        self.full_range_of_modes || (options.chroma == Chroma::Yuv420 && !options.lossless)
    }

    /// The element with its rate or lossless setting, as launch-line text.
    fn element(&self, options: &WriterOptions) -> String {
        let kbps = options.bitrate_kbps;
        match (self.factory, options.lossless) {
            // A quantiser of 0 is x264's lossless mode (profile High 4:4:4 Predictive).
            ("x264enc", true) => "x264enc pass=quant quantizer=0".into(),
            ("x265enc", true) => "x265enc option-string=lossless=1".into(),
            (factory, true) => format!("{factory} preset=lossless"),
            // openh264enc counts bits per second.
            ("openh264enc", false) => format!(
                "openh264enc bitrate={} rate-control=bitrate complexity=high",
                u64::from(kbps) * 1000
            ),
            // x264enc, x265enc and NVENC count kbit/s.
            (factory, false) => format!("{factory} bitrate={kbps}"),
        }
    }

    /// The caps between the colour converter and the encoder.
    fn input_caps(&self, chroma: Chroma) -> String {
        let format = match (chroma, self.hardware) {
            (Chroma::Yuv444, _) => "Y444",
            (Chroma::Yuv420, true) => "NV12",
            (Chroma::Yuv420, false) => "I420",
        };
        let memory = if self.hardware {
            "(memory:CUDAMemory)"
        } else {
            ""
        };
        format!("video/x-raw{memory},format={format}")
    }

    fn parser(&self) -> &'static str {
        match self.codec {
            Codec::H264 => "h264parse",
            Codec::H265 => "h265parse",
        }
    }
}

/// The encoders tried for each codec, best first.
const ENCODERS: [Encoder; 5] = [
    Encoder {
        factory: "nvh264enc",
        hardware: true,
        codec: Codec::H264,
        full_range_of_modes: true,
    },
    Encoder {
        factory: "x264enc",
        hardware: false,
        codec: Codec::H264,
        full_range_of_modes: true,
    },
    Encoder {
        factory: "openh264enc",
        hardware: false,
        codec: Codec::H264,
        full_range_of_modes: false,
    },
    Encoder {
        factory: "nvh265enc",
        hardware: true,
        codec: Codec::H265,
        full_range_of_modes: true,
    },
    Encoder {
        factory: "x265enc",
        hardware: false,
        codec: Codec::H265,
        full_range_of_modes: true,
    },
];

/// The encoder for `options`: the one they force (one of [`ENCODERS`] for their codec), else
/// the first of those that can write their chroma and lossless mode that `available` says is
/// installed (NVENC's elements are registered only where the GPU has NVENC).
pub fn choose_encoder(
    options: &WriterOptions,
    available: impl Fn(&str) -> bool,
) -> Result<&'static Encoder, Error> {
    let codec = options.codec;
    let known: Vec<&'static Encoder> = ENCODERS.iter().filter(|e| e.codec == codec).collect();
    let names = |encoders: &[&Encoder]| {
        encoders
            .iter()
            .map(|e| e.factory)
            .collect::<Vec<_>>()
            .join(", ")
    };
    let able: Vec<&'static Encoder> = known
        .iter()
        .copied()
        .filter(|e| e.can_write(options))
        .collect();
    let wanted = match (options.chroma, options.lossless) {
        (Chroma::Yuv420, false) => String::new(),
        (Chroma::Yuv420, true) => " lossless".into(),
        (Chroma::Yuv444, false) => " 4:4:4".into(),
        (Chroma::Yuv444, true) => " lossless 4:4:4".into(),
    };
    match options.encoder.as_deref() {
        Some(name) => {
            let encoder = known.iter().find(|e| e.factory == name).ok_or_else(|| {
                Error::InvalidArgument(format!(
                    "encoder \"{name}\": for {codec:?} one of {}",
                    names(&known)
                ))
            })?;
            if !encoder.can_write(options) {
                return Err(Error::InvalidArgument(format!(
                    "encoder \"{name}\" cannot write{wanted} video; {} can",
                    names(&able)
                )));
            }
            if available(name) {
                Ok(encoder)
            } else {
                Err(Error::Pipeline(format!(
                    "encoder {name} is not installed (or, for NVENC, this GPU has none)"
                )))
            }
        }
        None => able
            .iter()
            .copied()
            .find(|e| available(e.factory))
            .ok_or_else(|| {
                Error::Pipeline(format!(
                    "no {codec:?} encoder for{wanted} video is installed: one of {} is needed",
                    names(&able)
                ))
            }),
    }
}

/// The muxer for a file name, by its extension; `None` for a raw elementary stream.
pub fn muxer_for(path: &str) -> Result<Option<&'static str>, Error> {
    let extension = Path::new(path)
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase);
    match extension.as_deref() {
        Some("mp4" | "m4v") => Ok(Some("mp4mux")),
        Some("mov") => Ok(Some("qtmux")),
        Some("mkv") => Ok(Some("matroskamux")),
        Some("h264" | "264" | "h265" | "265" | "hevc") => Ok(None),
        _ => Err(Error::InvalidArgument(format!(
            "{path}: the file name must end in .mp4, .m4v, .mov, .mkv, or .h264/.h265 for a raw \
             stream (or give a pipeline tail)"
        ))),
    }
}

/// How frames are written.
#[derive(Clone, Debug, PartialEq)]
pub struct WriterOptions {
    /// Frames per second, as a fraction (numerator, denominator).
    pub fps: (i32, i32),
    pub codec: Codec,
    /// An encoder factory to use instead of the writer's choice.
    pub encoder: Option<String>,
    /// Target bitrate in kbit/s. The default, 20 Mbit/s, keeps frames close to their source
    /// (for training data and results, not for streaming).
    pub bitrate_kbps: u32,
    /// Colour sampling of the video: 4:2:0 (the default; even sides only) or 4:4:4.
    pub chroma: Chroma,
    /// Encode without loss (the rate is then the encoder's): x264enc at quantiser 0, x265enc's
    /// lossless mode, NVENC's lossless preset. With 4:4:4 the decoded pixels are the converted
    /// frames' exactly; with 4:2:0, up to the colour subsampling. OpenH264 has no such mode.
    pub lossless: bool,
    /// The tensors' layout and channel order, and the normalisation their values carry (the
    /// writer undoes it: `x = (y * std + mean) / scale`, rounded and clamped to 0..255).
    pub layout: Layout,
    pub color_order: ColorOrder,
    pub normalize: Normalize,
    /// Instead of encoder, parser, muxer and file: the rest of the pipeline after the colour
    /// converter, in `gst-launch-1.0` syntax (`"x264enc ! rtph264pay ! udpsink host=..."`);
    /// the writer's destination is then only a name for messages.
    pub tail: Option<String>,
}

impl Default for WriterOptions {
    fn default() -> Self {
        WriterOptions {
            fps: (30, 1),
            codec: Codec::H264,
            encoder: None,
            bitrate_kbps: 20_000,
            chroma: Chroma::Yuv420,
            lossless: false,
            layout: Layout::Nchw,
            color_order: ColorOrder::Rgb,
            normalize: Normalize::IDENTITY,
            tail: None,
        }
    }
}

/// The running pipeline, made at the first write (when the frames' size and type are known).
struct Running {
    pipeline: gst::Pipeline,
    src: TensorSrc,
    /// One frame, `[1, ...]`.
    frame: TensorInfo,
}

/// Writes batches of GPU frames (`[N, C, H, W]` or `[N, H, W, C]`, or one frame without `N`)
/// to a video file; [`Self::close`] finishes it.
pub struct VideoWriter {
    destination: String,
    options: WriterOptions,
    /// `None` with a pipeline tail of the application's.
    encoder: Option<&'static Encoder>,
    muxer: Option<&'static str>,
    running: Option<Running>,
    frames: u64,
}

impl VideoWriter {
    /// A writer for `destination`. The encoder and muxer are chosen now, so that a name or
    /// codec nothing can write is an error here rather than at the first frame.
    pub fn create(destination: &str, options: WriterOptions) -> Result<VideoWriter, Error> {
        register_elements()?;
        let (fps_n, fps_d) = options.fps;
        if fps_n <= 0 || fps_d <= 0 {
            return Err(Error::InvalidArgument(format!(
                "fps {fps_n}/{fps_d}: numerator and denominator above 0"
            )));
        }
        if options.bitrate_kbps == 0 {
            return Err(Error::InvalidArgument("bitrate_kbps: above 0".into()));
        }
        let (encoder, muxer) = if options.tail.is_some() {
            (None, None)
        } else {
            let encoder =
                choose_encoder(&options, |name| gst::ElementFactory::find(name).is_some())?;
            (Some(encoder), muxer_for(destination)?)
        };
        if let Some(encoder) = encoder {
            gst::info!(CAT, "{destination}: encoding with {}", encoder.factory);
        }
        Ok(VideoWriter {
            destination: destination.to_string(),
            options,
            encoder,
            muxer,
            running: None,
            frames: 0,
        })
    }

    /// The encoder's factory (`nvh264enc`, `x264enc`...); `None` with a tail of the
    /// application's.
    pub fn encoder(&self) -> Option<&'static str> {
        self.encoder.map(|e| e.factory)
    }

    /// Frames written so far.
    pub fn frames_written(&self) -> u64 {
        self.frames
    }

    /// Queues the frames of `batch`, waiting while the pipeline is full. Every batch must have
    /// the first one's frame shape and type. Each frame is cut out of the batch by one copy on
    /// the GPU (this library's device memory is not shared in parts), ordered after the work
    /// that wrote the batch; the batch may be reused or dropped as soon as this returns.
    pub fn write(&mut self, batch: &CudaTensor) -> Result<(), Error> {
        let (count, frame_shape) = self.frames_of(batch)?;
        if self.running.is_none() {
            self.running = Some(self.start(batch, &frame_shape)?);
        }
        let running = self.running.as_ref().expect("started above");
        let frame_bytes = running.frame.bytes;
        if frame_shape != running.frame.dims[1..] || batch.dtype() != running.frame.dtype {
            return Err(Error::InvalidArgument(format!(
                "{}: frames of shape {frame_shape:?} {}, where the video has {:?} {}",
                self.destination,
                batch.dtype(),
                &running.frame.dims[1..],
                running.frame.dtype
            )));
        }
        let buffer = batch.sample().buffer().ok_or_else(|| {
            Error::NotATensor(format!("{}: a tensor without data", self.destination))
        })?;
        let (fps_n, fps_d) = self.options.fps;
        let time = |frame: u64| {
            gst::ClockTime::SECOND
                .mul_div_floor(frame * fps_d as u64, fps_n as u64)
                .expect("frame times fit 64 bits")
        };
        for k in 0..count {
            // Frame k, copied on the GPU into memory of its own.
            let mut frame = buffer
                .copy_region(
                    gst::BufferCopyFlags::MEMORY,
                    k * frame_bytes..(k + 1) * frame_bytes,
                )
                .map_err(|e| Error::Pipeline(format!("{}: frame {k}: {e}", self.destination)))?;
            {
                let frame = frame.get_mut().expect("a new buffer");
                frame.set_pts(time(self.frames));
                frame.set_duration(time(self.frames + 1) - time(self.frames));
            }
            if running.src.push_buffer(frame).is_err() {
                return Err(self.failure("the pipeline stopped taking frames"));
            }
            self.frames += 1;
        }
        Ok(())
    }

    /// Ends the stream and waits for the file to be finished (the muxer writes its index at
    /// the end); an error on the way is returned. A writer that never wrote a frame leaves no
    /// file.
    pub fn close(mut self) -> Result<(), Error> {
        self.finish()
    }

    fn finish(&mut self) -> Result<(), Error> {
        let Some(running) = self.running.take() else {
            return Ok(());
        };
        let destination = &self.destination;
        let outcome = if running.src.end_of_stream().is_err() {
            Err(Self::error_of(&running, destination, "ending the stream"))
        } else {
            let timeout = gst::ClockTime::from_nseconds(CLOSE_TIMEOUT.as_nanos() as u64);
            let ended = running.pipeline.bus().and_then(|bus| {
                bus.timed_pop_filtered(timeout, &[gst::MessageType::Eos, gst::MessageType::Error])
            });
            match ended.as_ref().map(|m| m.view()) {
                Some(gst::MessageView::Eos(_)) => Ok(()),
                Some(gst::MessageView::Error(e)) => Err(stream_error(destination, e)),
                _ => Err(Error::Stream(format!(
                    "{destination}: the file was not finished within {} s",
                    CLOSE_TIMEOUT.as_secs()
                ))),
            }
        };
        let _ = running.pipeline.set_state(gst::State::Null);
        outcome
    }

    /// The frame count and the shape of one frame (`[C, H, W]` or `[H, W, C]`) of `batch`.
    fn frames_of(&self, batch: &CudaTensor) -> Result<(usize, Vec<u64>), Error> {
        let shape: Vec<u64> = batch.shape().iter().map(|&d| d as u64).collect();
        let (count, frame) = match shape.len() {
            3 => (1, shape.clone()),
            4 => (shape[0] as usize, shape[1..].to_vec()),
            _ => {
                return Err(Error::InvalidArgument(format!(
                    "{}: a batch of frames has 4 dimensions (or 3 for one frame), not {shape:?}",
                    self.destination
                )))
            }
        };
        let channels = match self.options.layout {
            Layout::Nchw => frame[0],
            Layout::Nhwc => frame[2],
        };
        if !(3..=4).contains(&channels) {
            return Err(Error::InvalidArgument(format!(
                "{}: shape {shape:?} as {:?} has {channels} channels; 3 or 4 are written",
                self.destination, self.options.layout
            )));
        }
        if batch.device() == Device::Cpu {
            return Err(Error::InvalidArgument(format!(
                "{}: the frames are in system memory; the writer takes GPU tensors",
                self.destination
            )));
        }
        Ok((count, frame))
    }

    /// The tensors' caps for one frame of `frame_shape` (outermost first) and `dtype`.
    fn frame_caps(&self, frame_shape: &[u64], dtype: DType) -> gst::Caps {
        let dims: Vec<String> = std::iter::once(1)
            .chain(frame_shape.iter().copied())
            .rev()
            .map(|d| d.to_string())
            .collect();
        let (fps_n, fps_d) = self.options.fps;
        gst::Caps::builder(cudapreproc_core::tensor::TENSORS)
            .features([cudapreproc_core::caps::CAPS_FEATURE_MEMORY_CUDA])
            .field("format", "static")
            .field("num_tensors", 1i32)
            .field("types", dtype.name())
            .field("dimensions", dims.join(":"))
            .field("framerate", gst::Fraction::new(fps_n, fps_d))
            .build()
    }

    /// The pipeline after `tensorsrc` for frames of `width` x `height`.
    fn description(&self, device: i32, width: u64, height: u64) -> Result<String, Error> {
        let options = &self.options;
        let head = format!(
            "cudaconvert cuda-device-id={device} {} ! \
             video/x-raw(memory:CUDAMemory),format=RGBA ! cudacvtcolor cuda-device-id={device}",
            convert_properties(options.layout, options.color_order, &options.normalize)
        );
        let tail = match (&options.tail, self.encoder) {
            (Some(tail), _) => tail.clone(),
            (None, Some(encoder)) => {
                // H.264's and H.265's 4:2:0 crop in steps of two pixels.
                if options.chroma == Chroma::Yuv420 && (width % 2 == 1 || height % 2 == 1) {
                    return Err(Error::InvalidArgument(format!(
                        "{}: {width}x{height}: 4:2:0 video has even sides; write 4:4:4 \
                         (chroma 444) for odd sizes",
                        self.destination
                    )));
                }
                let location = self.destination.replace('\\', "\\\\").replace('"', "\\\"");
                let sink = format!("filesink location=\"{location}\"");
                let parsed = format!(
                    "{} ! {} ! {}",
                    encoder.input_caps(options.chroma),
                    encoder.element(options),
                    encoder.parser()
                );
                match self.muxer {
                    Some(muxer) => format!("{parsed} ! {muxer} ! {sink}"),
                    None => format!(
                        "{parsed} ! video/x-{}, stream-format=byte-stream ! {sink}",
                        match encoder.codec {
                            Codec::H264 => "h264",
                            Codec::H265 => "h265",
                        }
                    ),
                }
            }
            (None, None) => unreachable!("a writer has an encoder or a tail"),
        };
        Ok(format!("{head} ! {tail}"))
    }

    fn start(&self, batch: &CudaTensor, frame_shape: &[u64]) -> Result<Running, Error> {
        let Device::Cuda(device) = batch.device() else {
            unreachable!("checked in frames_of")
        };
        let (height, width) = match self.options.layout {
            Layout::Nchw => (frame_shape[1], frame_shape[2]),
            Layout::Nhwc => (frame_shape[0], frame_shape[1]),
        };
        let description = format!(
            "tensorsrc name=src max-buffers=4 ! {}",
            self.description(device, width, height)?
        );
        gst::debug!(CAT, "{}: {description}", self.destination);
        let pipeline = gst::parse::launch(&description)
            .map_err(|e| Error::Pipeline(format!("{}: {e}", self.destination)))?
            .downcast::<gst::Pipeline>()
            .map_err(|_| Error::Pipeline("not a pipeline".into()))?;
        let src = pipeline
            .by_name("src")
            .and_then(|e| e.downcast::<TensorSrc>().ok())
            .expect("the description names its tensorsrc");
        let caps = self.frame_caps(frame_shape, batch.dtype());
        let frame = TensorInfo::from_caps(&caps).map_err(Error::InvalidArgument)?;
        src.set_property("caps", &caps);
        let running = Running {
            pipeline,
            src,
            frame,
        };
        if running.pipeline.set_state(gst::State::Playing).is_err() {
            let error = Self::error_of(&running, &self.destination, "starting");
            let _ = running.pipeline.set_state(gst::State::Null);
            return Err(error);
        }
        Ok(running)
    }

    /// The pipeline's error, or `what` failed.
    fn failure(&mut self, what: &str) -> Error {
        let running = self.running.take().expect("running");
        let error = Self::error_of(&running, &self.destination, what);
        let _ = running.pipeline.set_state(gst::State::Null);
        error
    }

    /// The error the pipeline posted, or "`what` failed".
    fn error_of(running: &Running, destination: &str, what: &str) -> Error {
        let message = running.pipeline.bus().and_then(|bus| {
            bus.timed_pop_filtered(gst::ClockTime::from_seconds(1), &[gst::MessageType::Error])
        });
        match message.as_ref().map(|m| m.view()) {
            Some(gst::MessageView::Error(e)) => stream_error(destination, e),
            _ => Error::Stream(format!("{destination}: {what} failed")),
        }
    }
}

/// An element's error, as the writer's.
fn stream_error(destination: &str, error: &gst::message::Error) -> Error {
    Error::Stream(format!("{destination}: {}", error.error().message()))
}

impl Drop for VideoWriter {
    /// Finishes the file as [`VideoWriter::close`] does; its error goes to the debug log.
    fn drop(&mut self) {
        if let Err(e) = self.finish() {
            gst::warning!(CAT, "{}: {e}", self.destination);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nvenc_first_then_software_encoders() {
        let only = |names: &'static [&'static str]| move |name: &str| names.contains(&name);
        let chosen = |codec, forced: Option<&str>, names| {
            let options = WriterOptions {
                codec,
                encoder: forced.map(str::to_string),
                ..WriterOptions::default()
            };
            choose_encoder(&options, only(names)).map(|e| e.factory)
        };
        let picks: [(Codec, Option<&str>, &'static [&'static str], &str); 5] = [
            (
                Codec::H264,
                None,
                &["openh264enc", "nvh264enc", "x264enc"],
                "nvh264enc",
            ),
            (Codec::H264, None, &["openh264enc", "x264enc"], "x264enc"),
            (Codec::H264, None, &["openh264enc"], "openh264enc"),
            (Codec::H265, None, &["x265enc", "openh264enc"], "x265enc"),
            (
                Codec::H264,
                Some("openh264enc"),
                &["nvh264enc", "openh264enc"],
                "openh264enc",
            ),
        ];
        for (codec, forced, installed, expected) in picks {
            assert_eq!(
                chosen(codec, forced, installed),
                Ok(expected),
                "{codec:?} {forced:?} {installed:?}"
            );
        }
        assert_eq!(
            chosen(Codec::H265, None, &["openh264enc"]),
            Err(Error::Pipeline(
                "no H265 encoder for video is installed: one of nvh265enc, x265enc is needed"
                    .into()
            ))
        );
        assert!(matches!(
            chosen(Codec::H264, Some("x265enc"), &["x265enc"]),
            Err(Error::InvalidArgument(e)) if e.contains("for H264 one of nvh264enc, x264enc, openh264enc")
        ));
        assert!(matches!(
            chosen(Codec::H264, Some("nvh264enc"), &["x264enc"]),
            Err(Error::Pipeline(e)) if e.contains("nvh264enc is not installed")
        ));
    }

    #[test]
    fn lossless_and_4_4_4_choose_an_encoder_that_has_them() {
        let only = |names: &'static [&'static str]| move |name: &str| names.contains(&name);
        let options = |chroma, lossless, encoder: Option<&str>| WriterOptions {
            chroma,
            lossless,
            encoder: encoder.map(str::to_string),
            ..WriterOptions::default()
        };
        let chosen = |options: WriterOptions, names| {
            choose_encoder(&options, only(names)).map(|e| e.factory)
        };
        let installed = &["openh264enc", "x264enc"];
        assert_eq!(
            chosen(options(Chroma::Yuv444, false, None), installed),
            Ok("x264enc")
        );
        assert_eq!(
            chosen(options(Chroma::Yuv420, true, None), &["openh264enc"]),
            Err(Error::Pipeline(
                "no H264 encoder for lossless video is installed: one of nvh264enc, x264enc is \
                 needed"
                    .into()
            ))
        );
        assert_eq!(
            chosen(
                options(Chroma::Yuv444, true, Some("openh264enc")),
                installed
            ),
            Err(Error::InvalidArgument(
                "encoder \"openh264enc\" cannot write lossless 4:4:4 video; nvh264enc, x264enc can"
                    .into()
            ))
        );
        let find = |name| ENCODERS.iter().find(|e| e.factory == name).unwrap();
        let lossless = options(Chroma::Yuv444, true, None);
        assert_eq!(
            find("x264enc").element(&lossless),
            "x264enc pass=quant quantizer=0"
        );
        assert_eq!(
            find("x265enc").element(&lossless),
            "x265enc option-string=lossless=1"
        );
        assert_eq!(
            find("nvh265enc").element(&lossless),
            "nvh265enc preset=lossless"
        );
        assert_eq!(
            find("nvh264enc").input_caps(Chroma::Yuv444),
            "video/x-raw(memory:CUDAMemory),format=Y444"
        );
        assert_eq!(
            find("x265enc").input_caps(Chroma::Yuv444),
            "video/x-raw,format=Y444"
        );
        assert_eq!("4:4:4".parse::<Chroma>(), Ok(Chroma::Yuv444));
        assert_eq!("420".parse::<Chroma>(), Ok(Chroma::Yuv420));
        assert!("422".parse::<Chroma>().is_err());
    }

    #[test]
    fn the_file_name_picks_the_muxer() {
        assert_eq!(muxer_for("out.mp4"), Ok(Some("mp4mux")));
        assert_eq!(muxer_for("/a/b/OUT.MKV"), Ok(Some("matroskamux")));
        assert_eq!(muxer_for("clip.mov"), Ok(Some("qtmux")));
        assert_eq!(muxer_for("raw.h264"), Ok(None));
        assert!(
            matches!(muxer_for("out.avi"), Err(Error::InvalidArgument(e)) if e.starts_with("out.avi: "))
        );
        assert!(muxer_for("noextension").is_err());
    }

    #[test]
    fn encoders_get_their_rate_in_their_units() {
        let find = |name| ENCODERS.iter().find(|e| e.factory == name).unwrap();
        let rate = |bitrate_kbps| WriterOptions {
            bitrate_kbps,
            ..WriterOptions::default()
        };
        assert_eq!(
            find("openh264enc").element(&rate(20_000)),
            "openh264enc bitrate=20000000 rate-control=bitrate complexity=high"
        );
        assert_eq!(
            find("x264enc").element(&rate(8_000)),
            "x264enc bitrate=8000"
        );
        assert_eq!(
            find("nvh265enc").element(&rate(8_000)),
            "nvh265enc bitrate=8000"
        );
        assert_eq!(
            find("nvh264enc").input_caps(Chroma::Yuv420),
            "video/x-raw(memory:CUDAMemory),format=NV12"
        );
        assert_eq!(find("x265enc").parser(), "h265parse");
    }

    fn writer(destination: &str, encoder: &str, options: WriterOptions) -> VideoWriter {
        VideoWriter {
            destination: destination.into(),
            encoder: ENCODERS.iter().find(|e| e.factory == encoder),
            muxer: muxer_for(destination).unwrap_or(None),
            options,
            running: None,
            frames: 0,
        }
    }

    #[test]
    fn the_pipeline_undoes_the_normalisation_and_ends_in_the_file() {
        let options = WriterOptions {
            layout: Layout::Nhwc,
            color_order: ColorOrder::Bgr,
            normalize: Normalize::UNIT,
            ..WriterOptions::default()
        };
        let software = writer("/tmp/a \"b\".mp4", "openh264enc", options.clone());
        let text = software.description(1, 640, 360).unwrap();
        assert_eq!(
            text,
            format!(
                "cudaconvert cuda-device-id=1 layout=nhwc channel-order=bgr scale={} \
                 mean=\"<0,0,0>\" std=\"<1,1,1>\" ! video/x-raw(memory:CUDAMemory),format=RGBA ! \
                 cudacvtcolor cuda-device-id=1 ! video/x-raw,format=I420 ! openh264enc \
                 bitrate=20000000 rate-control=bitrate complexity=high ! h264parse ! mp4mux ! \
                 filesink location=\"/tmp/a \\\"b\\\".mp4\"",
                1.0 / 255.0
            )
        );
        let raw = writer("out.h265", "nvh265enc", WriterOptions::default());
        assert!(raw.description(0, 640, 360).unwrap().ends_with(
            "video/x-raw(memory:CUDAMemory),format=NV12 ! nvh265enc bitrate=20000 ! \
                        h265parse ! video/x-h265, stream-format=byte-stream ! \
                        filesink location=\"out.h265\""
        ));
        let mut tail = writer(
            "stream",
            "x264enc",
            WriterOptions {
                tail: Some("x264enc ! fakesink".into()),
                ..WriterOptions::default()
            },
        );
        tail.encoder = None;
        assert!(tail
            .description(0, 3, 3)
            .unwrap()
            .ends_with("cudacvtcolor cuda-device-id=0 ! x264enc ! fakesink"));
    }

    #[test]
    fn odd_sizes_need_4_4_4() {
        for encoder in ["x264enc", "nvh264enc"] {
            let odd = writer("out.mkv", encoder, WriterOptions::default());
            assert_eq!(
                odd.description(0, 161, 90),
                Err(Error::InvalidArgument(
                    "out.mkv: 161x90: 4:2:0 video has even sides; write 4:4:4 (chroma 444) for \
                     odd sizes"
                        .into()
                ))
            );
        }
        let full = WriterOptions {
            chroma: Chroma::Yuv444,
            lossless: true,
            ..WriterOptions::default()
        };
        let odd = writer("out.mkv", "x265enc", full);
        assert!(odd.description(0, 161, 91).unwrap().ends_with(
            "cudacvtcolor cuda-device-id=0 ! video/x-raw,format=Y444 ! x265enc \
             option-string=lossless=1 ! h265parse ! matroskamux ! filesink location=\"out.mkv\""
        ));
    }

    #[test]
    fn codecs_by_name() {
        assert_eq!("hevc".parse::<Codec>(), Ok(Codec::H265));
        assert_eq!("h264".parse::<Codec>(), Ok(Codec::H264));
        assert!("vp9".parse::<Codec>().is_err());
    }
}
