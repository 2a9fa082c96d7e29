//! The video index (`cudapreproc_core::index`) against what libavcodec says of the reader test
//! clips: `tests/media/reader/`, made by `scripts/make-reader-media`, each with ffprobe's frame
//! table (`NAME.frames.tsv`). Frame counts, every frame's time and key flag, `keyframe_for`,
//! `frame_played_at`, the approximate index from the header, and the errors. Expected values
//! come from the tables and the files' bytes, never from the index itself; where GStreamer
//! times frames differently from libavcodec (MPEG-TS, an edit list starting inside a frame; see
//! the index module's documentation) the difference is computed from the file.

use std::path::{Path, PathBuf};

use cudapreproc_core::index::{uri_for, IndexError, VideoIndex};
use cudapreproc_tests::tsv;

/// Stream times agree within this: ffprobe prints microseconds, GStreamer rounds nanoseconds.
const TOLERANCE: f64 = 0.001;

fn media() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("media/reader")
}

/// A row of `manifest.tsv`.
struct Clip {
    name: String,
    codec: String,
    container: String,
    width: u32,
    height: u32,
    frames: usize,
    keyframes: usize,
}

impl Clip {
    fn path(&self) -> String {
        media().join(&self.name).display().to_string()
    }

    /// The container's media type as typefind names it.
    fn container_type(&self) -> &'static str {
        match self.container.as_str() {
            "mp4" => "video/quicktime",
            "matroska" => "video/x-matroska",
            "webm" => "video/webm",
            "mpegts" => "video/mpegts",
            other => panic!("{}: container {other} not expected", self.name),
        }
    }
}

fn manifest() -> Vec<Clip> {
    let (_, rows) = tsv(&media().join("manifest.tsv"));
    let clips: Vec<Clip> = rows
        .into_iter()
        .map(|f| Clip {
            name: f[0].clone(),
            codec: f[1].clone(),
            container: f[2].clone(),
            width: f[3].parse().unwrap(),
            height: f[4].parse().unwrap(),
            frames: f[5].parse().unwrap(),
            keyframes: f[6].parse().unwrap(),
        })
        .collect();
    assert!(
        clips.len() >= 10,
        "manifest.tsv lists {} clips",
        clips.len()
    );
    clips
}

/// The exact index of `clip`, read frame by frame.
fn scan(clip: &Clip) -> VideoIndex {
    VideoIndex::scan(&clip.path()).unwrap_or_else(|e| panic!("{}: {e}", clip.name))
}

/// A row of ffprobe's frame table.
struct Row {
    pts: f64,
    key: bool,
}

fn table(clip: &Clip) -> Vec<Row> {
    let path = media().join(format!("{}.frames.tsv", clip.name));
    let (header, fields) = tsv(&path);
    assert_eq!(
        header,
        ["index", "pts_seconds", "duration_seconds", "key", "type"]
    );
    let rows: Vec<Row> = fields
        .iter()
        .map(|f| Row {
            pts: f[1].parse().unwrap(),
            key: f[3] == "1",
        })
        .collect();
    assert_eq!(rows.len(), clip.frames, "{}", path.display());
    rows
}

/// The time between frames if it is the same throughout (within a millisecond), as in every
/// clip but the variable-rate ones.
fn constant_spacing(rows: &[Row]) -> Option<f64> {
    let gaps: Vec<f64> = rows.windows(2).map(|w| w[1].pts - w[0].pts).collect();
    let first = *gaps.first()?;
    gaps.iter()
        .all(|g| (g - first).abs() < TOLERANCE)
        .then_some(first)
}

/// The first PCR of an MPEG-TS file, in seconds: where tsdemux starts counting time.
fn first_pcr(path: &str) -> f64 {
    let bytes = std::fs::read(path).unwrap();
    for packet in bytes.chunks_exact(188) {
        assert_eq!(packet[0], 0x47, "{path}: lost MPEG-TS sync");
        let has_adaptation = packet[3] & 0x20 != 0;
        if has_adaptation && packet[4] >= 7 && packet[5] & 0x10 != 0 {
            let b = &packet[6..12];
            let base = (u64::from(b[0]) << 25)
                | (u64::from(b[1]) << 17)
                | (u64::from(b[2]) << 9)
                | (u64::from(b[3]) << 1)
                | (u64::from(b[4]) >> 7);
            let extension = (u64::from(b[4] & 1) << 8) | u64::from(b[5]);
            return (base * 300 + extension) as f64 / 27e6;
        }
    }
    panic!("{path}: no PCR");
}

/// What the index must hold for `clip`, derived from ffprobe's table: each frame's stream time
/// and key flag, in presentation order.
fn expected(clip: &Clip, rows: &[Row], index: &VideoIndex) -> Vec<(f64, bool)> {
    match (clip.container.as_str(), clip.name.as_str()) {
        // tsdemux's times count from the first PCR, ffprobe's are the PES timestamps.
        ("mpegts", _) => {
            let pcr = first_pcr(&clip.path());
            rows.iter().map(|r| (r.pts - pcr, r.key)).collect()
        }
        // The edit list starts inside a frame: libavformat and the index leave it out; in
        // GStreamer's stream time the others come later by what the edit leaves of it, the
        // index's first frame's time: ffprobe's frames, later by that shift.
        ("mp4", "editlist_partial.mp4") => {
            let shift = index.frames()[0].stream_time_ns as f64 / 1e9;
            assert!(
                shift > 0.0 && shift < 1.0 / 30.0,
                "{}: shift {shift}",
                clip.name
            );
            rows.iter()
                .map(|r| (r.pts - rows[0].pts + shift, r.key))
                .collect()
        }
        _ => rows.iter().map(|r| (r.pts, r.key)).collect(),
    }
}

/// Each clip of the manifest with ffprobe's table of its frames and the index a scan makes.
fn scanned_clips() -> impl Iterator<Item = (Clip, Vec<Row>, VideoIndex)> {
    cudapreproc_tests::init();
    manifest().into_iter().map(|clip| {
        let rows = table(&clip);
        let index = scan(&clip);
        (clip, rows, index)
    })
}

#[test]
fn scan_finds_every_frame_libavcodec_shows() {
    for (clip, rows, index) in scanned_clips() {
        let name = &clip.name;
        let times: Vec<f64> = index
            .frames()
            .iter()
            .map(|f| f.stream_time_ns as f64 / 1e9)
            .collect();
        let keys: Vec<bool> = index.frames().iter().map(|f| f.key).collect();
        let want = expected(&clip, &rows, &index);
        assert_eq!(index.len(), want.len(), "{name}: frame count");
        for (i, ((t, key), (want_t, want_key))) in times.iter().zip(&keys).zip(&want).enumerate() {
            assert!(
                (t - want_t).abs() < TOLERANCE,
                "{name} frame {i}: stream time {t}, libavcodec's {want_t}"
            );
            assert_eq!(key, want_key, "{name} frame {i}: key flag");
        }
        let key_frames: Vec<usize> = (0..want.len()).filter(|&i| want[i].1).collect();
        assert_eq!(index.key_frames(), key_frames, "{name}");
        assert_eq!(
            key_frames.len(),
            clip.keyframes,
            "{name}: manifest's key frames"
        );
        for i in 0..want.len() {
            let start = key_frames.iter().rev().find(|&&k| k <= i).copied();
            assert_eq!(
                index.keyframe_for(i),
                start.unwrap_or(0),
                "{name}: key frame to decode frame {i} from"
            );
        }

        let meta = index.metadata();
        assert!(index.exact(), "{name}");
        assert_eq!(index.source(), clip.path());
        assert_eq!(meta.codec, clip.codec, "{name}");
        assert_eq!(
            (meta.width, meta.height),
            (clip.width, clip.height),
            "{name}"
        );
        assert_eq!(
            meta.container.as_deref(),
            Some(clip.container_type()),
            "{name}"
        );
        assert_eq!(meta.seekable, clip.container != "mpegts", "{name}");
        assert_eq!(meta.bit_depth, Some(8), "{name}");
        assert_eq!(meta.num_frames, index.len(), "{name}");
        assert!(
            (meta.begin_stream_seconds - want[0].0).abs() < TOLERANCE,
            "{name}"
        );
        let last = index.frames().last().unwrap();
        let end = last.end_ns() as f64 / 1e9;
        assert_eq!(meta.end_stream_seconds, end, "{name}");
        let duration = meta.end_stream_seconds - meta.begin_stream_seconds;
        assert!((meta.duration_seconds - duration).abs() < 1e-9, "{name}");
        assert!(
            (meta.average_fps - index.len() as f64 / duration).abs() < 1e-6,
            "{name}"
        );

        // Constant-rate clips: 30 fps in the caps, and every frame lasts until the next.
        if let Some(spacing) = constant_spacing(&rows) {
            assert_eq!(meta.framerate, Some((30, 1)), "{name}");
            for (i, frame) in index.frames().iter().enumerate() {
                let d = frame.duration_ns as f64 / 1e9;
                assert!(
                    (d - spacing).abs() < TOLERANCE,
                    "{name} frame {i}: lasts {d} s"
                );
            }
        }
    }
}

#[test]
fn frame_played_at_finds_each_frame_between_its_start_and_the_next() {
    for (clip, rows, index) in scanned_clips() {
        let name = &clip.name;
        let starts: Vec<f64> = expected(&clip, &rows, &index).iter().map(|w| w.0).collect();
        // Frames are at least 16 ms apart: half a millisecond either side of a start is in the
        // frame before and the frame itself.
        for (i, start) in starts.iter().enumerate() {
            assert_eq!(
                index.frame_played_at(start + 0.0005),
                Some(i),
                "{name} at {start}+"
            );
            let before = index.frame_played_at(start - 0.0005);
            assert_eq!(before, i.checked_sub(1), "{name} at {start}-");
        }
        let end = index.metadata().end_stream_seconds;
        let last = starts.len() - 1;
        assert_eq!(index.frame_played_at(end - 0.0005), Some(last), "{name}");
        assert_eq!(index.frame_played_at(end), None, "{name}");
        assert_eq!(index.frame_played_at(end + 1.0), None, "{name}");
    }
}

#[test]
fn from_header_places_frames_at_the_nominal_rate_without_key_frames() {
    cudapreproc_tests::init();
    for clip in manifest() {
        let rows = table(&clip);
        let name = &clip.name;
        let exact = scan(&clip);
        let index = VideoIndex::from_header(&clip.path()).unwrap_or_else(|e| panic!("{e}"));
        assert!(!index.exact(), "{name}");
        assert!(index.key_frames().is_empty(), "{name}");
        assert_eq!(index.keyframe_for(index.len() / 2), 0, "{name}");
        let (meta, exact_meta) = (index.metadata(), exact.metadata());
        assert_eq!(meta.codec, clip.codec, "{name}");
        assert_eq!(
            (meta.width, meta.height),
            (clip.width, clip.height),
            "{name}"
        );
        assert_eq!(meta.container, exact_meta.container, "{name}");
        assert_eq!(meta.framerate, exact_meta.framerate, "{name}");
        assert_eq!(meta.num_frames, index.len(), "{name}");
        // Frames from where the stream starts, one nominal frame apart.
        let (num, den) = meta.framerate.unwrap();
        let step = index.frames()[1].stream_time_ns - index.frames()[0].stream_time_ns;
        assert!(
            (step as f64 / 1e9 - den as f64 / num as f64).abs() < 1e-6,
            "{name}"
        );
        // Within a frame: the header cannot know that an edit list cuts into the first one
        // (editlist_partial.mp4), which the exact index leaves out.
        assert!(
            (meta.begin_stream_seconds - exact_meta.begin_stream_seconds).abs()
                < den as f64 / num as f64,
            "{name}: begins at {} s, the frames at {} s",
            meta.begin_stream_seconds,
            exact_meta.begin_stream_seconds
        );
        if constant_spacing(&rows).is_some() {
            let n = index.len() as i64;
            assert!(
                (n - rows.len() as i64).abs() <= 1,
                "{name}: {n} frames from the header, libavcodec shows {}",
                rows.len()
            );
        }
    }
}

#[test]
fn a_uri_indexes_the_same_as_its_path() {
    cudapreproc_tests::init();
    let path = media().join("gop30.mp4").display().to_string();
    let uri = uri_for(&path).unwrap();
    assert!(
        uri.starts_with("file:///") && uri.ends_with("/gop30.mp4"),
        "{uri}"
    );
    let by_path = VideoIndex::scan(&path).unwrap();
    let by_uri = VideoIndex::scan(&uri).unwrap();
    assert_eq!(by_path.frames(), by_uri.frames());
    assert_eq!(by_uri.source(), uri);
}

fn scratch() -> PathBuf {
    let dir = std::env::temp_dir().join(format!("cudapreproc-index-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Both ways of indexing give `check`'s error for `path`, and the message names it.
fn both_refuse(path: &str, check: impl Fn(&IndexError) -> bool) {
    for (how, result) in [
        ("scan", VideoIndex::scan(path)),
        ("from_header", VideoIndex::from_header(path)),
    ] {
        let error = result.expect_err(&format!("{how} indexed {path}"));
        assert!(check(&error), "{how}({path}): {error:?}");
        assert!(
            error.to_string().starts_with(&format!("{path}: ")),
            "{how}: {error}"
        );
        assert_eq!(error.file(), path);
    }
}

#[test]
fn files_that_are_not_video_are_refused_naming_them() {
    cudapreproc_tests::init();
    let dir = scratch();

    let missing = dir.join("missing.mp4").display().to_string();
    both_refuse(&missing, |e| matches!(e, IndexError::NotFound { .. }));

    let text = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../media/README.md")
        .display()
        .to_string();
    both_refuse(&text, |e| matches!(e, IndexError::Unreadable { .. }));

    let wav = dir.join("tone.wav");
    let pipeline = cudapreproc_tests::pipeline(&format!(
        "audiotestsrc num-buffers=20 ! wavenc ! filesink location=\"{}\"",
        wav.display()
    ));
    assert_eq!(cudapreproc_tests::run_to_end(&pipeline), None);
    let wav = wav.display().to_string();
    both_refuse(
        &wav,
        |e| matches!(e, IndexError::NoVideo { streams, .. } if streams == &["audio/x-raw"]),
    );
    assert_eq!(
        VideoIndex::scan(&wav).unwrap_err().to_string(),
        format!("{wav}: no video stream (streams found: audio/x-raw)")
    );

    // ffmpeg writes the MP4 index (moov) last: half the file has samples but no index.
    let whole = std::fs::read(media().join("gop30.mp4")).unwrap();
    let truncated = dir.join("truncated.mp4");
    std::fs::write(&truncated, &whole[..whole.len() / 2]).unwrap();
    let truncated = truncated.display().to_string();
    both_refuse(&truncated, |e| matches!(e, IndexError::Unreadable { .. }));

    std::fs::remove_dir_all(&dir).unwrap();
}
