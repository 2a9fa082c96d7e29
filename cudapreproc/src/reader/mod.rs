//! Random access to the frames of a video, decoded with NVDEC and made into tensors on the GPU,
//! as a PyTorch user asks for them: by index, by slice, by time, in any order, with repeats.
//!
//! ```no_run
//! use cudapreproc::reader::{ReaderOptions, VideoReader};
//!
//! let mut reader = VideoReader::open("clip.mp4", ReaderOptions::default())?;
//! println!("{} frames at {:.2} fps", reader.len(), reader.metadata().average_fps);
//! let batch = reader.get_frames_at(&[0, 50, -1])?; // [3, 3, H, W] uint8 RGB on the GPU
//! println!("{:?} at {:?} s", batch.data.shape(), batch.pts_seconds);
//! reader.reopen("next.mp4")?; // same pipeline and decoder
//! # Ok::<(), cudapreproc::Error>(())
//! ```
//!
//! One reader keeps one pipeline (`nvdecsrc ! [cudawarpaffine] ! cudacvtcolor ! cudaconvert !
//! tensorsink`) for its whole life: opening the next file changes the source's location, so
//! GStreamer's start-up and the NVDEC decoder are paid once. Only what is asked for costs
//! anything beyond decoding: the decoder is told the stream times of the wanted frames
//! (`nvdec`'s `frame-times`), outputs only those, skips decoding pictures nothing refers to, and
//! ends the stream after the last; a seek goes to the key frame before a wanted frame when the
//! frames before it are not worth decoding (see `plan`).

pub(crate) mod batch;
mod options;
mod plan;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use cudapreproc_core::index::{uri_for, VideoIndex, VideoMetadata};
use gst::prelude::*;

pub(crate) use options::convert_properties;
pub use options::{
    fit_from_name, normalize_preset, ColorOrder, Crop, DType, Fit, Layout, Normalization,
    Normalize, ReaderOptions, SeekMode,
};

use crate::sampler::{ClipSampler, SampleRng, Timeline};
use crate::{CudaTensor, Error, Pulled, TensorPipeline};
use batch::{BatchBuilder, Gpu};

/// How long decoding may go without delivering a frame before the reader gives up: a broken
/// file must end in an error, never a hang.
const STALL_TIMEOUT: Duration = Duration::from_secs(30);

/// Frames decoded for one request, in the order asked.
#[derive(Debug)]
pub struct FrameBatch {
    /// `[N, C, H, W]` (or `[N, H, W, C]`), on the reader's GPU.
    pub data: CudaTensor,
    /// The index of each frame in the video.
    pub indices: Vec<usize>,
    /// When each frame is shown, in seconds of the stream's timeline.
    pub pts_seconds: Vec<f64>,
    /// How long each frame is shown.
    pub duration_seconds: Vec<f64>,
}

/// Whether the pipeline has started on the current file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Position {
    /// In READY with the file's location set: nothing read yet.
    Ready,
    /// Running; the last request's stream ended where its last frame was.
    Running,
}

/// Random access to one video at a time; see the module's documentation.
pub struct VideoReader {
    source: String,
    index: VideoIndex,
    options: ReaderOptions,
    pipeline: TensorPipeline,
    nvdecsrc: gst::Element,
    decoder: gst::Element,
    gpu: Gpu,
    position: Position,
}

impl std::fmt::Debug for VideoReader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VideoReader")
            .field("source", &self.source)
            .field("frames", &self.index.len())
            .field("options", &self.options)
            .finish()
    }
}

/// The index of `source`, as `mode` finds it.
fn index_of(source: &str, mode: SeekMode) -> Result<VideoIndex, Error> {
    match mode {
        SeekMode::Exact => VideoIndex::scan(source),
        SeekMode::Approximate => VideoIndex::from_header(source),
    }
    .map_err(|e| Error::Source(e.to_string()))
}

impl VideoReader {
    /// Opens `source` (a path or a URI): reads its index (see [`SeekMode`]) and prepares the
    /// pipeline; nothing is decoded until frames are asked for.
    pub fn open(source: &str, options: ReaderOptions) -> Result<VideoReader, Error> {
        options.check()?;
        let index = index_of(source, options.seek_mode)?;
        let device = options.device;
        // A reader moves between files: its decoders are made for the largest stream of their
        // codec met so far, so that larger files seldom need a new one.
        let description = format!(
            "nvdecsrc name=source cuda-device-id={device} decoder-size=largest ! {} ! \
             tensorsink name=sink batch-size=1 max-buffers=4 sync=false cuda-device-id={device}",
            options.chain()
        );
        let pipeline = TensorPipeline::parse(&description)?;
        let nvdecsrc = pipeline
            .pipeline()
            .by_name("source")
            .expect("named in the description");
        let decoder = nvdecsrc
            .downcast_ref::<gst::Bin>()
            .and_then(|bin| bin.by_name("decoder"))
            .ok_or_else(|| Error::Pipeline("nvdecsrc without its decoder".into()))?;
        let gpu = Gpu::open(device)?;
        let mut reader = VideoReader {
            source: source.to_string(),
            index,
            options,
            pipeline,
            nvdecsrc,
            decoder,
            gpu,
            position: Position::Ready,
        };
        reader.load()?;
        Ok(reader)
    }

    /// Moves to another video with the same options, keeping the pipeline and the decoder. If
    /// the new video cannot be opened, the reader stays on the current one.
    pub fn reopen(&mut self, source: &str) -> Result<(), Error> {
        let index = index_of(source, self.options.seek_mode)?;
        self.source = source.to_string();
        self.index = index;
        self.load()
    }

    /// Puts the pipeline in READY on the current source.
    fn load(&mut self) -> Result<(), Error> {
        self.pipeline.set_state(gst::State::Ready)?;
        let uri = uri_for(&self.source).map_err(|e| Error::Source(e.to_string()))?;
        self.nvdecsrc.set_property("uri", &uri);
        self.position = Position::Ready;
        Ok(())
    }

    /// The path or URI given.
    pub fn source(&self) -> &str {
        &self.source
    }

    pub fn metadata(&self) -> &VideoMetadata {
        self.index.metadata()
    }

    pub fn options(&self) -> &ReaderOptions {
        &self.options
    }

    /// The number of frames.
    pub fn len(&self) -> usize {
        self.index.len()
    }

    pub fn is_empty(&self) -> bool {
        self.index.is_empty()
    }

    /// The index of the video: every frame's time and key flag.
    pub fn index(&self) -> &VideoIndex {
        &self.index
    }

    /// `i` as a frame index: negative counts from the end.
    fn resolve(&self, i: i64) -> Result<usize, Error> {
        let n = self.len() as i64;
        let resolved = if i < 0 { i + n } else { i };
        if (0..n).contains(&resolved) {
            return Ok(resolved as usize);
        }
        Err(Error::OutOfRange(format!(
            "{}: frame {i} does not exist: the video has {n} frames (0 to {}, or -{n} to -1)",
            self.source,
            n - 1
        )))
    }

    /// The frames at `indices` (negative counts from the end), in the order given, repeats
    /// included.
    pub fn get_frames_at(&mut self, indices: &[i64]) -> Result<FrameBatch, Error> {
        let frames = indices
            .iter()
            .map(|&i| self.resolve(i))
            .collect::<Result<Vec<_>, _>>()?;
        self.decode(&frames)
    }

    /// The frame at `index` (negative counts from the end), as a batch of one.
    pub fn get_frame_at(&mut self, index: i64) -> Result<FrameBatch, Error> {
        self.get_frames_at(&[index])
    }

    /// Frames `start`, `start + step`, ... before `stop`, as Python's `range`; `start` and
    /// `stop` must lie within the video (`stop` may be its length).
    pub fn get_frames_in_range(
        &mut self,
        start: usize,
        stop: usize,
        step: usize,
    ) -> Result<FrameBatch, Error> {
        let n = self.len();
        if step == 0 {
            return Err(Error::InvalidArgument("step must be at least 1".into()));
        }
        if start > stop || stop > n || (start == n && n > 0) {
            return Err(Error::OutOfRange(format!(
                "{}: frames {start} to {stop} are not a range of the video's {n} frames",
                self.source
            )));
        }
        let frames: Vec<usize> = (start..stop).step_by(step).collect();
        self.decode(&frames)
    }

    /// The frame played at `seconds`, for each time given (in the order given).
    pub fn get_frames_played_at(&mut self, seconds: &[f64]) -> Result<FrameBatch, Error> {
        let frames = seconds
            .iter()
            .map(|&t| self.index.frame_played_at(t).ok_or_else(|| self.outside(t)))
            .collect::<Result<Vec<_>, _>>()?;
        self.decode(&frames)
    }

    /// The frames played from `start_seconds` (the one shown then, included) until
    /// `stop_seconds` (frames starting then or later, excluded).
    pub fn get_frames_played_in_range(
        &mut self,
        start_seconds: f64,
        stop_seconds: f64,
    ) -> Result<FrameBatch, Error> {
        let ordered = start_seconds.partial_cmp(&stop_seconds);
        if !matches!(
            ordered,
            Some(std::cmp::Ordering::Less | std::cmp::Ordering::Equal)
        ) {
            return Err(Error::InvalidArgument(format!(
                "the range {start_seconds} s to {stop_seconds} s is reversed (or not numbers)"
            )));
        }
        if start_seconds == stop_seconds {
            return self.decode(&[]);
        }
        let first = self
            .index
            .frame_played_at(start_seconds)
            .ok_or_else(|| self.outside(start_seconds))?;
        if stop_seconds > self.index.metadata().end_stream_seconds {
            return Err(self.outside(stop_seconds));
        }
        let stop_ns = (stop_seconds * 1e9).round() as u64;
        let entries = self.index.frames();
        let frames: Vec<usize> = (first..self.len())
            .take_while(|&i| i == first || entries[i].stream_time_ns < stop_ns)
            .collect();
        self.decode(&frames)
    }

    /// Each frame's stream time in seconds, for samplers.
    pub fn pts_seconds(&self) -> Vec<f64> {
        self.index
            .frames()
            .iter()
            .map(|f| f.stream_time_ns as f64 / 1e9)
            .collect()
    }

    /// The clips `sampler` picks (drawing from `rng`), decoded: `data` is `[clips, frames per
    /// clip, ...one frame]`, the other fields clip after clip.
    pub fn sample_clips(
        &mut self,
        sampler: &ClipSampler,
        rng: &mut SampleRng,
    ) -> Result<FrameBatch, Error> {
        let pts = self.pts_seconds();
        let meta = self.index.metadata();
        let timeline = Timeline {
            num_frames: self.len(),
            pts_seconds: &pts,
            begin_stream_seconds: meta.begin_stream_seconds,
            end_stream_seconds: meta.end_stream_seconds,
            average_fps: meta.average_fps,
        };
        let clips = sampler
            .sample(&timeline, rng)
            .map_err(|e| Error::InvalidArgument(format!("{}: {e}", self.source)))?;
        self.get_clips(&clips)
    }

    /// The frames of `clips` (each a list of frame indices, all of one length), decoded: `data`
    /// is `[clips, frames per clip, ...one frame]`.
    pub fn get_clips(&mut self, clips: &[Vec<usize>]) -> Result<FrameBatch, Error> {
        let per_clip = clips.first().map_or(0, Vec::len);
        if clips.iter().any(|c| c.len() != per_clip) {
            return Err(Error::InvalidArgument(
                "clips of different lengths cannot share a tensor".into(),
            ));
        }
        let flat: Vec<i64> = clips.iter().flatten().map(|&f| f as i64).collect();
        let mut batch = self.get_frames_at(&flat)?;
        let mut shape = vec![clips.len() as i64, per_clip as i64];
        shape.extend_from_slice(&batch.data.shape()[1..]);
        batch.data = batch.data.reshaped(&shape)?;
        Ok(batch)
    }

    fn outside(&self, seconds: f64) -> Error {
        let meta = self.index.metadata();
        Error::OutOfRange(format!(
            "{}: no frame is played at {seconds} s: the video runs from {} s to {} s",
            self.source, meta.begin_stream_seconds, meta.end_stream_seconds
        ))
    }

    /// Decodes `frames` (indices within the video) into one batch in that order.
    fn decode(&mut self, frames: &[usize]) -> Result<FrameBatch, Error> {
        let mut slots: BTreeMap<usize, Vec<usize>> = BTreeMap::new();
        for (slot, &frame) in frames.iter().enumerate() {
            slots.entry(frame).or_default().push(slot);
        }
        let wanted: Vec<usize> = slots.keys().copied().collect();
        let seekable = self.index.metadata().seekable;
        let stretches = plan::stretches(&wanted, |i| {
            if seekable {
                self.index.keyframe_for(i)
            } else {
                0
            }
        });
        let mut batch: Option<BatchBuilder> = None;
        let mut received = vec![false; self.len()];
        for stretch in &stretches {
            self.run(stretch, |reader, frame, tensor| {
                if received[frame] {
                    return Ok(());
                }
                let Some(frame_slots) = slots.get(&frame) else {
                    return Ok(());
                };
                if batch.is_none() {
                    batch = Some(BatchBuilder::like(&reader.gpu, tensor, frames.len())?);
                }
                batch
                    .as_mut()
                    .expect("made above")
                    .put(&mut reader.gpu, tensor, frame_slots)?;
                received[frame] = true;
                Ok(())
            })?;
        }
        let missing: Vec<usize> = wanted.iter().copied().filter(|&f| !received[f]).collect();
        if !missing.is_empty() {
            return Err(Error::Stream(format!(
                "{}: frames {missing:?} could not be decoded (the file is damaged there, or \
                 its index does not match its packets)",
                self.source
            )));
        }
        let data = match batch {
            Some(batch) => {
                let numbers: Vec<u64> = frames.iter().map(|&f| f as u64).collect();
                batch.finish(&self.gpu, &numbers, None)?
            }
            None => self.empty_batch()?,
        };
        let entries = self.index.frames();
        Ok(FrameBatch {
            data,
            indices: frames.to_vec(),
            pts_seconds: frames
                .iter()
                .map(|&f| entries[f].stream_time_ns as f64 / 1e9)
                .collect(),
            duration_seconds: frames
                .iter()
                .map(|&f| entries[f].duration_ns as f64 / 1e9)
                .collect(),
        })
    }

    /// Decodes one stretch: the decoder is told the stretch's frames, the stream starts at its
    /// key frame, and `deliver` gets each frame output (by index) until the decoder ends the
    /// stream.
    fn run(
        &mut self,
        stretch: &plan::Stretch,
        mut deliver: impl FnMut(&mut Self, usize, &CudaTensor) -> Result<(), Error>,
    ) -> Result<(), Error> {
        let entries = self.index.frames();
        let times: Vec<f64> = stretch
            .frames
            .iter()
            .map(|&f| entries[f].stream_time_ns as f64 / 1e9)
            .collect();
        let start = gst::ClockTime::from_nseconds(entries[stretch.keyframe].stream_time_ns);
        let first = entries.first().map_or(0, |f| f.stream_time_ns);
        let seek = stretch.keyframe > 0 && self.index.metadata().seekable;
        match (self.position, seek) {
            (Position::Ready, false) => {
                self.select(&times);
                self.pipeline.set_state(gst::State::Playing)?;
            }
            (Position::Ready, true) => {
                // The demuxer's pads exist only once it runs: preroll on the first frame (a
                // few pictures decoded), then seek.
                self.select(&[first as f64 / 1e9]);
                self.pipeline.set_state(gst::State::Paused)?;
                self.select(&times);
                self.seek(start)?;
                self.pipeline.set_state(gst::State::Playing)?;
            }
            (Position::Running, _) if self.index.metadata().seekable => {
                self.select(&times);
                self.seek(if seek {
                    start
                } else {
                    gst::ClockTime::from_nseconds(first)
                })?;
            }
            (Position::Running, _) => {
                // No index to seek with: start the file again.
                self.pipeline.set_state(gst::State::Ready)?;
                self.select(&times);
                self.pipeline.set_state(gst::State::Playing)?;
            }
        }
        self.position = Position::Running;
        let mut last_progress = Instant::now();
        loop {
            match self.pipeline.pull(Duration::from_millis(100))? {
                Pulled::Tensor(tensor) => {
                    last_progress = Instant::now();
                    // Half a microsecond past the frame's start: timestamps rounded to
                    // nanoseconds still fall in the right frame.
                    let frame = tensor
                        .stream_time()
                        .and_then(|t| self.index.frame_played_at(t.nseconds() as f64 / 1e9 + 5e-7));
                    if let Some(frame) = frame {
                        deliver(self, frame, &tensor)?;
                    }
                }
                Pulled::End => return Ok(()),
                Pulled::Waiting if last_progress.elapsed() > STALL_TIMEOUT => {
                    return Err(Error::Stream(format!(
                        "{}: no frame decoded for {} s",
                        self.source,
                        STALL_TIMEOUT.as_secs()
                    )));
                }
                Pulled::Waiting => {}
            }
        }
    }

    /// Tells the decoder which frames to output, by stream time.
    fn select(&self, seconds: &[f64]) {
        let array = gst::Array::new(seconds.iter().map(|s| s.to_send_value()));
        self.decoder.set_property("frame-times", array);
    }

    /// A flushing seek to the key frame at or before `position`.
    fn seek(&self, position: gst::ClockTime) -> Result<(), Error> {
        self.pipeline
            .pipeline()
            .seek_simple(
                gst::SeekFlags::FLUSH | gst::SeekFlags::KEY_UNIT | gst::SeekFlags::SNAP_BEFORE,
                position,
            )
            .map_err(|_| {
                Error::Stream(format!(
                    "{}: the demuxer refused a seek to {position}",
                    self.source
                ))
            })
    }

    /// A batch of no frames, shaped as the frames would be.
    fn empty_batch(&self) -> Result<CudaTensor, Error> {
        let meta = self.index.metadata();
        let (width, height) = self
            .options
            .size
            .or(self.options.crop.map(|c| (c.width, c.height)))
            .unwrap_or((meta.width, meta.height));
        let dims = match self.options.layout {
            Layout::Nchw => [0, 3, u64::from(height), u64::from(width)],
            Layout::Nhwc => [0, u64::from(height), u64::from(width), 3],
        };
        // No memory behind it, but on the reader's GPU like every other batch.
        let mut info = gstcudapreproc::sample_info(self.options.dtype, &dims, None, None, &[]);
        info.set("memory", "cuda");
        info.set("device-id", self.options.device);
        let sample = gst::Sample::builder()
            .buffer(&gst::Buffer::new())
            .info(info)
            .build();
        CudaTensor::from_sample(sample)
    }
}

impl Drop for VideoReader {
    fn drop(&mut self) {
        // Everything queued on the reader's stream has run before its memory goes.
        let _ = self.gpu.stream.synchronize();
    }
}
