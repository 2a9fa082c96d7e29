//! What a reader needs to know about a video before decoding it: its metadata, and every frame's
//! stream time, duration and key flag in presentation order, found with GStreamer without
//! decoding.
//!
//! The index reads the stream through the front end nvdecsrc puts in front of nvdec
//! (`urisourcebin ! parsebin`, the first video stream) with its parser negotiated as in front of
//! nvdec ([`crate::cuvid::PARSED_CAPS`]), and keeps the frames shown: a frame before the segment is decoded
//! but never shown (an MP4 edit list makes such frames) and is not in the index, nor is one the
//! segment's start cuts into (libavformat leaves it out too; GstVideoDecoder would show what is
//! left of it, but a reader never asks for it). Frame times are the stream times
//! (`gst_segment_to_stream_time`) of the decoder's output buffers, so a reader finds each
//! decoded frame in the index by its stream time.
//!
//! Where GStreamer and libavcodec (ffprobe) disagree, the index follows GStreamer:
//!
//! - MPEG-TS: ffprobe gives the PES timestamps; tsdemux counts from the first PCR (ffmpeg's
//!   muxer puts it 0.7 s before the first DTS), so every stream time here is ffprobe's time less
//!   the first PCR.
//! - An MP4 edit list starting inside a frame: both leave that frame out, but libavformat starts
//!   the presentation at the next one, at time 0, where GStreamer's stream time puts it at its
//!   time from the edit's start. An edit starting on a frame boundary (as `ffmpeg -ss T -c copy`
//!   writes at whole frames, and as the B-frame delay of MP4 files with B-frames is written)
//!   gives the same times.
//! - A frame's duration is the time until the next one starts: how long it is shown. The
//!   buffers' own durations can be the parser's guesses (a variable-rate H.264 stream whose
//!   timing information says 1000 fps, an encoder's millisecond time base, gets 1 ms frames
//!   from h264parse) or the container's default (Matroska); only the last frame keeps its own.
//! - Key frames are the parser's: the pictures decoding can start at (IDR and recovery-point I
//!   pictures in H.264, IRAP pictures in H.265, VP9 key frames), the frames libavcodec marks as
//!   key frames in every test clip, open GOPs included.

mod error;
mod frames;
mod pipeline;
mod stream;

pub use error::IndexError;
pub use pipeline::{answer_as_the_decoder, is_video, pad_media, stopped_silently, STALL_TIMEOUT};

use gst::prelude::*;
use pipeline::Until;

/// What the file and its video stream say of themselves.
#[derive(Clone, Debug, PartialEq)]
pub struct VideoMetadata {
    /// The codec, from the parsed caps' media type: "h264", "h265", "vp8", "vp9", "av1",
    /// "mpeg1", "mpeg2", "mpeg4" or "jpeg".
    pub codec: String,
    /// The container's media type as typefind finds it ("video/quicktime",
    /// "video/x-matroska", "video/webm", "video/mpegts"...); `None` for elementary streams.
    pub container: Option<String>,
    /// The picture size of the first caps.
    pub width: u32,
    pub height: u32,
    /// Bits per luma sample, where the caps say (the parser's `bit-depth-luma`, or a profile
    /// that allows one depth only).
    pub bit_depth: Option<u32>,
    /// The caps' colorimetry (from the bitstream's colour description), where they have one.
    pub colorimetry: Option<String>,
    /// The caps' nominal frame rate; `None` when they say 0/1 (variable) or nothing.
    pub framerate: Option<(i32, i32)>,
    /// Exact index: from the first frame's start to the last frame's end. From the header: the
    /// duration query's answer (the container's duration, which can include other streams).
    pub duration_seconds: f64,
    /// The first frame's stream time.
    pub begin_stream_seconds: f64,
    /// The last frame's end.
    pub end_stream_seconds: f64,
    /// Frames per second over the duration.
    pub average_fps: f64,
    pub num_frames: usize,
    /// Whether the container has an index the demuxer seeks with (MP4/MOV, Matroska/WebM).
    pub seekable: bool,
}

/// One frame as the decoder outputs it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IndexedFrame {
    /// Stream time of its start.
    pub stream_time_ns: u64,
    pub duration_ns: u64,
    /// Decoding can start at it (not a delta unit).
    pub key: bool,
}

impl IndexedFrame {
    /// Stream time of its end.
    pub fn end_ns(&self) -> u64 {
        self.stream_time_ns.saturating_add(self.duration_ns)
    }
}

/// The frames of a video's first video stream, in presentation order, and its metadata.
#[derive(Clone, Debug)]
pub struct VideoIndex {
    source: String,
    metadata: VideoMetadata,
    frames: Vec<IndexedFrame>,
    /// Positions of the key frames in `frames`.
    keys: Vec<usize>,
    exact: bool,
}

/// Containers whose demuxers seek with an index of the file's own.
const SEEKABLE: &[&str] = &["video/quicktime", "video/x-matroska", "video/webm"];

/// `path_or_uri` as a URI: one of the form `scheme://...` as it is, anything else as a file
/// name, made absolute (as nvdecsrc does with `location`).
pub fn uri_for(path_or_uri: &str) -> Result<String, IndexError> {
    let bad = |reason: String| IndexError::BadLocation {
        file: path_or_uri.to_string(),
        reason,
    };
    if let Some((scheme, _)) = path_or_uri.split_once("://") {
        let valid = scheme.len() >= 2
            && scheme.starts_with(|c: char| c.is_ascii_alphabetic())
            && scheme
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c));
        if valid {
            return Ok(path_or_uri.to_string());
        }
    }
    if path_or_uri.is_empty() {
        return Err(bad("an empty name names no file".into()));
    }
    let path = std::path::absolute(path_or_uri).map_err(|e| bad(e.to_string()))?;
    glib::filename_to_uri(&path, None)
        .map(|uri| uri.to_string())
        .map_err(|e| bad(e.to_string()))
}

/// The URI of `path_or_uri`, checked to exist where it is a local file.
fn located(path_or_uri: &str) -> Result<String, IndexError> {
    let uri = uri_for(path_or_uri)?;
    if let Ok((path, _)) = glib::filename_from_uri(&uri) {
        if !path.exists() {
            return Err(IndexError::NotFound {
                file: path_or_uri.to_string(),
            });
        }
    }
    Ok(uri)
}

fn seconds(ns: u64) -> f64 {
    ns as f64 / 1e9
}

/// What the video caps `found` say of the stream.
fn stream_of(found: &pipeline::Found, file: &str) -> Result<stream::StreamCaps, IndexError> {
    stream::read(&found.caps).ok_or_else(|| IndexError::Unreadable {
        file: file.to_string(),
        reason: format!("the video caps give no picture size ({})", found.caps),
    })
}

/// The metadata of `stream` in `container` with `frames` (at least one).
fn metadata(
    stream: stream::StreamCaps,
    container: Option<String>,
    frames: &[IndexedFrame],
    duration_seconds: f64,
    average_fps: f64,
) -> VideoMetadata {
    let begin = frames.first().map_or(0, |f| f.stream_time_ns);
    let end = frames.last().map_or(begin, IndexedFrame::end_ns);
    VideoMetadata {
        codec: stream.codec,
        seekable: container.as_deref().is_some_and(|c| SEEKABLE.contains(&c)),
        container,
        width: stream.width,
        height: stream.height,
        bit_depth: stream.bit_depth,
        colorimetry: stream.colorimetry,
        framerate: stream.framerate,
        duration_seconds,
        begin_stream_seconds: seconds(begin),
        end_stream_seconds: seconds(end),
        average_fps,
        num_frames: frames.len(),
    }
}

impl VideoIndex {
    /// Exact: every frame's stream time, duration and key flag, from one pass over the packets
    /// of `path_or_uri` (a file name or a URI) without decoding them. A frame neither its
    /// container nor its parser gives a timestamp (nor the decoder could guess one) is left out:
    /// the decoder outputs it untimed. A file cut short inside its media data is indexed as far
    /// as it can be read (its demuxer ends the stream there, and nvdec decodes as much); one cut
    /// before its index (an MP4 whose `moov` comes last) is refused.
    pub fn scan(path_or_uri: &str) -> Result<VideoIndex, IndexError> {
        let uri = located(path_or_uri)?;
        let found = pipeline::run(&uri, path_or_uri, Until::EndOfStream)?;
        let stream = stream_of(&found, path_or_uri)?;
        let frames =
            frames::in_presentation_order(found.packets, found.nominal.map(|d| d.nseconds()));
        let (Some(first), Some(last)) = (frames.first(), frames.last()) else {
            return Err(IndexError::NoFrames {
                file: path_or_uri.to_string(),
            });
        };
        let duration = seconds(last.end_ns().saturating_sub(first.stream_time_ns));
        let average_fps = if duration > 0.0 {
            frames.len() as f64 / duration
        } else {
            0.0
        };
        let metadata = metadata(stream, found.container, &frames, duration, average_fps);
        Ok(VideoIndex::new(path_or_uri, metadata, frames, true))
    }

    /// Approximate: what the header says (caps, the duration query), read up to the first
    /// frame only. Frames are at the nominal times begin + i / fps from the stream time the
    /// segment starts at, as many as the duration holds (rounded); key frames are unknown (all
    /// false) and [`exact`](Self::exact) is false. Refused with [`IndexError::NotInHeader`]
    /// where the header gives no duration or no frame rate (variable-rate Matroska without a
    /// default duration, elementary streams).
    pub fn from_header(path_or_uri: &str) -> Result<VideoIndex, IndexError> {
        let uri = located(path_or_uri)?;
        let found = pipeline::run(&uri, path_or_uri, Until::FirstFrame)?;
        let file = || path_or_uri.to_string();
        let stream = stream_of(&found, path_or_uri)?;
        let not_in_header = |missing| IndexError::NotInHeader {
            file: file(),
            missing,
        };
        let duration = found.duration.ok_or_else(|| not_in_header("duration"))?;
        let (Some((num, den)), Some(frame)) = (stream.framerate, stream.frame_duration()) else {
            return Err(not_in_header("frame rate"));
        };
        let fps = num as f64 / den as f64;
        let count = (seconds(duration.nseconds()) * fps).round() as u64;
        let begin = found.begin.map(|t| t.nseconds());
        let (Some(begin), true) = (begin, count > 0) else {
            return Err(IndexError::NoFrames { file: file() });
        };
        let frames: Vec<IndexedFrame> = (0..count)
            .map(|i| IndexedFrame {
                stream_time_ns: begin
                    + gst::ClockTime::SECOND
                        .mul_div_round(i * den as u64, num as u64)
                        .map_or(0, |t| t.nseconds()),
                duration_ns: frame.nseconds(),
                key: false,
            })
            .collect();
        let duration = seconds(duration.nseconds());
        let metadata = metadata(stream, found.container, &frames, duration, fps);
        Ok(VideoIndex::new(path_or_uri, metadata, frames, false))
    }

    fn new(
        source: &str,
        metadata: VideoMetadata,
        frames: Vec<IndexedFrame>,
        exact: bool,
    ) -> VideoIndex {
        let keys = frames
            .iter()
            .enumerate()
            .filter(|(_, f)| f.key)
            .map(|(i, _)| i)
            .collect();
        VideoIndex {
            source: source.to_string(),
            metadata,
            frames,
            keys,
            exact,
        }
    }

    pub fn metadata(&self) -> &VideoMetadata {
        &self.metadata
    }

    /// The frames in presentation order.
    pub fn frames(&self) -> &[IndexedFrame] {
        &self.frames
    }

    pub fn len(&self) -> usize {
        self.frames.len()
    }

    pub fn is_empty(&self) -> bool {
        self.frames.is_empty()
    }

    /// Whether every frame was read from the packets ([`scan`](Self::scan)), rather than
    /// placed at nominal times ([`from_header`](Self::from_header)).
    pub fn exact(&self) -> bool {
        self.exact
    }

    /// The file name or URI as given, for messages.
    pub fn source(&self) -> &str {
        &self.source
    }

    /// The key frame to start decoding at to get frame `i` (past the end: the last frame): the
    /// key frame with the largest stream time at or before frame `i`'s. That is right for open
    /// GOPs too: the leading pictures of a key frame are shown before it but decoded after it,
    /// from the key frame before. 0 when there is none.
    pub fn keyframe_for(&self, i: usize) -> usize {
        let Some(frame) = self.frames.get(i).or(self.frames.last()) else {
            return 0;
        };
        let after = self
            .keys
            .partition_point(|&k| self.frames[k].stream_time_ns <= frame.stream_time_ns);
        after.checked_sub(1).map_or(0, |k| self.keys[k])
    }

    /// The positions of the key frames, in presentation order.
    pub fn key_frames(&self) -> Vec<usize> {
        self.keys.clone()
    }

    /// The frame shown at `seconds` of stream time: the last frame starting at or before it
    /// (a frame stays shown until the next one starts), if `seconds` is before the last frame's
    /// end; `None` before the first frame, from the last frame's end on, and for NaN.
    /// `seconds` is taken to the nearest nanosecond, so a frame's own stream time finds it.
    pub fn frame_played_at(&self, seconds: f64) -> Option<usize> {
        let last = self.frames.last()?;
        if seconds.is_nan() || seconds < 0.0 {
            return None;
        }
        let ns = (seconds * 1e9).round();
        if ns >= last.end_ns() as f64 {
            return None;
        }
        let ns = ns as u64;
        self.frames
            .partition_point(|f| f.stream_time_ns <= ns)
            .checked_sub(1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(ms: u64, duration_ms: u64, key: bool) -> IndexedFrame {
        IndexedFrame {
            stream_time_ns: ms * 1_000_000,
            duration_ns: duration_ms * 1_000_000,
            key,
        }
    }

    fn index(frames: Vec<IndexedFrame>) -> VideoIndex {
        let metadata = VideoMetadata {
            codec: "h264".into(),
            container: None,
            width: 16,
            height: 16,
            bit_depth: None,
            colorimetry: None,
            framerate: None,
            duration_seconds: 0.0,
            begin_stream_seconds: 0.0,
            end_stream_seconds: 0.0,
            average_fps: 0.0,
            num_frames: frames.len(),
            seekable: true,
        };
        VideoIndex::new("test", metadata, frames, true)
    }

    /// An open GOP in presentation order: I0 B P | B(leading) I30 ... with the leading B
    /// decoded after I30.
    fn open_gop() -> VideoIndex {
        index(vec![
            frame(0, 10, true),
            frame(10, 10, false),
            frame(20, 10, false),
            frame(30, 10, true),
            frame(40, 10, false),
            frame(50, 10, true),
        ])
    }

    #[test]
    fn keyframe_for_is_the_last_key_frame_not_after_the_frame() {
        let index = open_gop();
        let starts: Vec<usize> = (0..6).map(|i| index.keyframe_for(i)).collect();
        assert_eq!(starts, [0, 0, 0, 3, 3, 5]);
        assert_eq!(index.keyframe_for(99), 5);
        assert_eq!(index.key_frames(), [0, 3, 5]);
        // Without key frames (an approximate index) decoding starts at the beginning.
        let unknown = index_without_keys();
        assert_eq!(unknown.keyframe_for(2), 0);
        assert_eq!(self::index(Vec::new()).keyframe_for(0), 0);
    }

    fn index_without_keys() -> VideoIndex {
        index((0..4).map(|i| frame(i * 10, 10, false)).collect())
    }

    #[test]
    fn keyframe_for_a_frame_at_the_same_time_as_a_later_key_frame() {
        // Two frames at one time (a clipped frame and the next): the key frame counts.
        let index = index(vec![
            frame(0, 10, true),
            frame(10, 0, false),
            frame(10, 10, true),
        ]);
        assert_eq!(index.keyframe_for(1), 2);
    }

    #[test]
    fn frame_played_at_covers_the_stream_and_nothing_else() {
        let index = index(vec![
            frame(100, 10, true),
            frame(110, 20, false),
            frame(135, 10, false),
        ]);
        assert_eq!(index.frame_played_at(0.099_999), None);
        assert_eq!(index.frame_played_at(0.1), Some(0));
        assert_eq!(index.frame_played_at(0.109_999_999), Some(0));
        assert_eq!(index.frame_played_at(0.11), Some(1));
        // A gap after a frame's duration still shows it, until the next frame starts.
        assert_eq!(index.frame_played_at(0.132), Some(1));
        assert_eq!(index.frame_played_at(0.135), Some(2));
        assert_eq!(index.frame_played_at(0.144_999), Some(2));
        assert_eq!(index.frame_played_at(0.145), None);
        assert_eq!(index.frame_played_at(f64::NAN), None);
        assert_eq!(index.frame_played_at(-1.0), None);
        assert_eq!(self::index(Vec::new()).frame_played_at(0.0), None);
    }

    #[test]
    fn plain_paths_become_absolute_file_uris() {
        assert_eq!(uri_for("file:///a/b.mp4").unwrap(), "file:///a/b.mp4");
        assert_eq!(
            uri_for("https://host/v.webm").unwrap(),
            "https://host/v.webm"
        );
        assert_eq!(uri_for("/tmp/a b.mp4").unwrap(), "file:///tmp/a%20b.mp4");
        let relative = uri_for("clip:1.mp4").unwrap();
        assert!(relative.starts_with("file:///"), "{relative}");
        assert!(relative.ends_with("/clip:1.mp4"), "{relative}");
        assert!(matches!(uri_for(""), Err(IndexError::BadLocation { .. })));
    }
}
