//! What the parsed caps of a video stream say about it: codec, size, bit depth, colorimetry and
//! nominal frame rate.

use gst::prelude::*;

/// The fields of the metadata the caps give.
#[derive(Clone, Debug, PartialEq)]
pub(super) struct StreamCaps {
    pub codec: String,
    pub width: u32,
    pub height: u32,
    pub bit_depth: Option<u32>,
    pub colorimetry: Option<String>,
    /// The nominal rate; `None` for 0/1 (variable) or none.
    pub framerate: Option<(i32, i32)>,
}

impl StreamCaps {
    /// The nominal duration of a frame.
    pub fn frame_duration(&self) -> Option<gst::ClockTime> {
        let (n, d) = self.framerate?;
        gst::ClockTime::SECOND.mul_div_round(d as u64, n as u64)
    }
}

/// The short codec name of a parsed media type ("h264" for video/x-h264...).
fn codec(s: &gst::StructureRef) -> String {
    match s.name().as_str() {
        "video/x-h264" => "h264".into(),
        "video/x-h265" => "h265".into(),
        "video/x-vp8" => "vp8".into(),
        "video/x-vp9" => "vp9".into(),
        "video/x-av1" => "av1".into(),
        "image/jpeg" => "jpeg".into(),
        "video/mpeg" => match s.get::<i32>("mpegversion") {
            Ok(1) => "mpeg1".into(),
            Ok(4) => "mpeg4".into(),
            _ => "mpeg2".into(),
        },
        other => other.into(),
    }
}

/// Bits per luma sample: the parser's `bit-depth-luma` (h264parse, h265parse, vp9parse), else
/// what the profile allows alone; `None` where the profile allows several depths.
fn bit_depth(s: &gst::StructureRef) -> Option<u32> {
    if let Ok(depth) = s.get::<u32>("bit-depth-luma") {
        return Some(depth);
    }
    let profile = s.get::<&str>("profile").ok()?;
    match (s.name().as_str(), profile) {
        (
            "video/x-h264",
            "baseline"
            | "constrained-baseline"
            | "main"
            | "extended"
            | "high"
            | "progressive-high"
            | "constrained-high",
        ) => Some(8),
        ("video/x-h264", "high-10" | "high-10-intra" | "progressive-high-10") => Some(10),
        ("video/x-h265", "main" | "main-still-picture" | "main-intra" | "main-444") => Some(8),
        ("video/x-h265", "main-10" | "main-10-intra" | "main-444-10") => Some(10),
        ("video/x-h265", "main-12" | "main-12-intra" | "main-444-12") => Some(12),
        ("video/x-vp9", "0" | "1") => Some(8),
        _ => None,
    }
}

/// What `caps` (the parser's output) say of the stream; `None` without a size.
pub(super) fn read(caps: &gst::CapsRef) -> Option<StreamCaps> {
    let s = caps.structure(0)?;
    let width = s.get::<i32>("width").ok()?;
    let height = s.get::<i32>("height").ok()?;
    let framerate = s
        .get::<gst::Fraction>("framerate")
        .ok()
        .filter(|f| f.numer() > 0 && f.denom() > 0)
        .map(|f| (f.numer(), f.denom()));
    Some(StreamCaps {
        codec: codec(s),
        width: u32::try_from(width).ok()?,
        height: u32::try_from(height).ok()?,
        bit_depth: bit_depth(s),
        colorimetry: s.get::<String>("colorimetry").ok(),
        framerate,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn caps(text: &str) -> gst::Caps {
        gst::init().unwrap();
        text.parse().unwrap()
    }

    #[test]
    fn h264_caps_as_h264parse_gives_them() {
        let caps = caps(
            "video/x-h264, stream-format=byte-stream, alignment=au, profile=high, width=320, \
             height=240, framerate=30/1, bit-depth-luma=(uint)8, colorimetry=bt709",
        );
        let stream = read(&caps).unwrap();
        assert_eq!(
            stream,
            StreamCaps {
                codec: "h264".into(),
                width: 320,
                height: 240,
                bit_depth: Some(8),
                colorimetry: Some("bt709".into()),
                framerate: Some((30, 1)),
            }
        );
        assert_eq!(
            stream.frame_duration(),
            Some(gst::ClockTime::from_nseconds(33_333_333))
        );
    }

    #[test]
    fn variable_rate_and_depth_from_the_profile() {
        let stream = read(&caps(
            "video/x-h265, profile=main-10, width=64, height=48, framerate=0/1",
        ))
        .unwrap();
        assert_eq!(stream.codec, "h265");
        assert_eq!(stream.bit_depth, Some(10));
        assert_eq!(stream.framerate, None);
        assert_eq!(stream.frame_duration(), None);
        let vp9 = read(&caps("video/x-vp9, profile=(string)2, width=64, height=48")).unwrap();
        assert_eq!((vp9.bit_depth, vp9.colorimetry), (None, None));
        let mpeg1 = read(&caps("video/mpeg, mpegversion=1, width=64, height=48")).unwrap();
        assert_eq!(mpeg1.codec, "mpeg1");
        assert_eq!(read(&caps("video/x-h264, width=64")), None);
    }
}
