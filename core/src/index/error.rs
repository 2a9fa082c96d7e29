//! Why a file could not be indexed, each naming the file.

use std::fmt;

/// Why a file could not be indexed. `file` is the path or URI as given.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum IndexError {
    /// Nothing to read there.
    NotFound { file: String },
    /// A path that cannot be turned into a URI, or a URI GStreamer cannot take.
    BadLocation { file: String, reason: String },
    /// Streams, but none of them video in a format the decoder takes; their media types.
    NoVideo { file: String, streams: Vec<String> },
    /// GStreamer could not read it as video: its message (a truncated or damaged file, not a
    /// media file at all, a missing element...).
    Unreadable { file: String, reason: String },
    /// A video stream without a single frame shown.
    NoFrames { file: String },
    /// The header lacks what an approximate index is computed from (`"duration"`, `"frame
    /// rate"`); an exact index reads the packets instead.
    NotInHeader { file: String, missing: &'static str },
    /// GStreamer gave nothing new for this many seconds.
    Stalled { file: String, seconds: u64 },
}

impl IndexError {
    /// The file the error is about, as given.
    pub fn file(&self) -> &str {
        match self {
            IndexError::NotFound { file }
            | IndexError::BadLocation { file, .. }
            | IndexError::NoVideo { file, .. }
            | IndexError::Unreadable { file, .. }
            | IndexError::NoFrames { file }
            | IndexError::NotInHeader { file, .. }
            | IndexError::Stalled { file, .. } => file,
        }
    }
}

impl fmt::Display for IndexError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            IndexError::NotFound { file } => write!(f, "{file}: not found"),
            IndexError::BadLocation { file, reason } => {
                write!(
                    f,
                    "{file}: not a file name or URI that can be read: {reason}"
                )
            }
            IndexError::NoVideo { file, streams } => {
                let found = if streams.is_empty() {
                    "no streams found".to_string()
                } else {
                    format!("streams found: {}", streams.join(", "))
                };
                if streams.iter().any(|s| s.starts_with("video/")) {
                    write!(f, "{file}: no video stream nvdec decodes ({found})")
                } else {
                    write!(f, "{file}: no video stream ({found})")
                }
            }
            IndexError::Unreadable { file, reason } => {
                write!(f, "{file}: cannot be read as video: {reason}")
            }
            IndexError::NoFrames { file } => write!(f, "{file}: the video stream has no frames"),
            IndexError::NotInHeader { file, missing } => write!(
                f,
                "{file}: the header gives no {missing}; an exact index (VideoIndex::scan) reads \
                 the frames instead"
            ),
            IndexError::Stalled { file, seconds } => write!(
                f,
                "{file}: reading stalled: GStreamer gave nothing new for {seconds} s"
            ),
        }
    }
}

impl std::error::Error for IndexError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_name_the_file_and_the_streams() {
        let file = "clip.mp4".to_string();
        let audio = IndexError::NoVideo {
            file: file.clone(),
            streams: vec!["audio/mpeg".into()],
        };
        assert_eq!(
            audio.to_string(),
            "clip.mp4: no video stream (streams found: audio/mpeg)"
        );
        let theora = IndexError::NoVideo {
            file: file.clone(),
            streams: vec!["video/x-theora".into(), "audio/x-vorbis".into()],
        };
        assert_eq!(
            theora.to_string(),
            "clip.mp4: no video stream nvdec decodes (streams found: video/x-theora, audio/x-vorbis)"
        );
        assert_eq!(
            IndexError::NotFound { file: file.clone() }.to_string(),
            "clip.mp4: not found"
        );
        assert_eq!(IndexError::NoFrames { file }.file(), "clip.mp4");
    }
}
