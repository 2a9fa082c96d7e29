//! From the buffers in front of the decoder to the frames it shows: which of them GstVideoDecoder
//! outputs (it clips to the segment), at which stream time, and in presentation order with every
//! duration known.

use super::IndexedFrame;

/// A frame the decoder outputs, in the order its buffer arrived (decode order).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Packet {
    pub stream_time_ns: u64,
    /// The output buffer's duration; `None` when neither the buffer nor the caps give one.
    pub duration_ns: Option<u64>,
    pub key: bool,
}

/// How long GstVideoDecoder takes a frame to last when clipping it, when neither its buffer nor
/// the caps say (`gst_video_decoder_clip_and_push_buf`).
const CLIP_FALLBACK: gst::ClockTime = gst::ClockTime::from_mseconds(40);

/// The timestamp GstVideoDecoder gives a frame whose buffer has none
/// (`gst_video_decoder_prepare_finish_frame`): with a duration, the previous output's timestamp
/// plus it, else the buffer's DTS, else the segment start; without one, a key frame's DTS.
/// Elementary streams come this way: their parser stamps DTS and durations only.
pub(super) fn guessed_pts(
    segment: &gst::FormattedSegment<gst::ClockTime>,
    previous: Option<gst::ClockTime>,
    dts: Option<gst::ClockTime>,
    duration: Option<gst::ClockTime>,
    key: bool,
) -> Option<gst::ClockTime> {
    match duration {
        Some(duration) => previous
            .map(|p| p.saturating_add(duration))
            .or(dts)
            .or_else(|| segment.start()),
        None if key => dts,
        None => None,
    }
}

/// The frame a buffer with `pts` and `duration` (else the caps' `nominal` frame duration) is
/// in the video, timed in stream time: `None` when it starts before the segment (decoded, never
/// shown: an MP4 edit list makes such frames) or after its end. A frame the segment's start
/// cuts into is left out too, as libavformat leaves it out, so frame numbers agree with
/// libavcodec's (GstVideoDecoder would show what is left of it; the reader never asks for it).
/// A frame running past the segment's end is cut to it, as GstVideoDecoder cuts it.
pub(super) fn shown(
    segment: &gst::FormattedSegment<gst::ClockTime>,
    pts: gst::ClockTime,
    duration: Option<gst::ClockTime>,
    nominal: Option<gst::ClockTime>,
    key: bool,
) -> Option<Packet> {
    let duration = duration.or(nominal);
    if segment.start().is_some_and(|start| pts < start) {
        return None;
    }
    let (start, stop) = segment.clip(pts, pts.saturating_add(duration.unwrap_or(CLIP_FALLBACK)))?;
    let start = start?;
    let stream_time = segment.to_stream_time(start)?;
    Some(Packet {
        stream_time_ns: stream_time.nseconds(),
        duration_ns: duration
            .and(stop)
            .map(|stop| stop.nseconds().saturating_sub(start.nseconds())),
        key,
    })
}

/// `packets` in presentation order: sorted by stream time (frames at the same time keep their
/// order of arrival), each lasting until the next one starts, which is how long it is shown
/// (the buffers' own durations can be the parser's guesses: 1 ms each where an encoder wrote a
/// millisecond time base into a variable-rate stream). The last keeps its own duration, else
/// `nominal` (the caps' frame duration), else the mean time between frames; a duration under a
/// quarter of that mean is such a guess and is passed over.
pub(super) fn in_presentation_order(
    mut packets: Vec<Packet>,
    nominal: Option<u64>,
) -> Vec<IndexedFrame> {
    packets.sort_by_key(|p| p.stream_time_ns);
    let mean = match (packets.first(), packets.last()) {
        (Some(first), Some(last)) if packets.len() > 1 => {
            (last.stream_time_ns - first.stream_time_ns) / (packets.len() as u64 - 1)
        }
        _ => 0,
    };
    let plausible = |duration: u64| duration >= mean / 4;
    let next_times = packets
        .iter()
        .skip(1)
        .map(|p| Some(p.stream_time_ns))
        .chain(std::iter::once(None));
    packets
        .iter()
        .zip(next_times)
        .map(|(p, next)| IndexedFrame {
            stream_time_ns: p.stream_time_ns,
            duration_ns: match next {
                Some(next) => next - p.stream_time_ns,
                None => p
                    .duration_ns
                    .filter(|d| plausible(*d))
                    .or(nominal.filter(|d| plausible(*d)))
                    .unwrap_or(mean),
            },
            key: p.key,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use gst::ClockTime;

    fn ms(ms: u64) -> ClockTime {
        ClockTime::from_mseconds(ms)
    }

    /// A segment as qtdemux makes one for an edit list starting at media time `start`.
    fn segment(start: u64, stop: Option<u64>) -> gst::FormattedSegment<ClockTime> {
        gst::init().unwrap();
        let mut segment = gst::FormattedSegment::<ClockTime>::new();
        segment.set_start(ms(start));
        segment.set_stop(stop.map(ms));
        segment.set_time(ClockTime::ZERO);
        segment
    }

    #[test]
    fn frames_outside_the_segment_are_not_shown() {
        let seg = segment(500, Some(1000));
        // Entirely before the start, ending exactly at it, starting at the stop: never shown.
        assert_eq!(shown(&seg, ms(100), Some(ms(33)), None, true), None);
        assert_eq!(shown(&seg, ms(467), Some(ms(33)), None, false), None);
        assert_eq!(shown(&seg, ms(1000), Some(ms(33)), None, false), None);
        // Inside: its stream time counts from the segment start.
        let inside = shown(&seg, ms(600), Some(ms(33)), None, true).unwrap();
        assert_eq!(inside.stream_time_ns, ms(100).nseconds());
        assert_eq!(inside.duration_ns, Some(ms(33).nseconds()));
        assert!(inside.key);
    }

    #[test]
    fn frames_across_the_segment_start_are_left_out_and_across_its_end_cut_to_it() {
        let seg = segment(500, Some(1000));
        assert_eq!(shown(&seg, ms(480), Some(ms(40)), None, false), None);
        let first = shown(&seg, ms(500), Some(ms(40)), None, false).unwrap();
        assert_eq!(first.stream_time_ns, 0);
        let last = shown(&seg, ms(990), Some(ms(40)), None, false).unwrap();
        assert_eq!(last.stream_time_ns, ms(490).nseconds());
        assert_eq!(last.duration_ns, Some(ms(10).nseconds()));
    }

    #[test]
    fn frames_without_a_duration_keep_none() {
        let seg = segment(500, None);
        assert_eq!(shown(&seg, ms(470), None, None, false), None);
        let untimed = shown(&seg, ms(520), None, None, false).unwrap();
        assert_eq!(
            (untimed.stream_time_ns, untimed.duration_ns),
            (ms(20).nseconds(), None)
        );
        // The caps' rate stands in for a missing duration, as the decoder's output state does.
        let timed = shown(&seg, ms(510), None, Some(ms(20)), false).unwrap();
        assert_eq!(timed.duration_ns, Some(ms(20).nseconds()));
    }

    #[test]
    fn missing_timestamps_are_guessed_as_the_decoder_does() {
        let seg = segment(0, None);
        assert_eq!(
            guessed_pts(&seg, Some(ms(100)), Some(ms(50)), Some(ms(40)), false),
            Some(ms(140))
        );
        assert_eq!(
            guessed_pts(&seg, None, Some(ms(50)), Some(ms(40)), false),
            Some(ms(50))
        );
        assert_eq!(
            guessed_pts(&seg, None, None, Some(ms(40)), false),
            Some(ms(0))
        );
        assert_eq!(
            guessed_pts(&seg, Some(ms(100)), Some(ms(50)), None, true),
            Some(ms(50))
        );
        assert_eq!(
            guessed_pts(&seg, Some(ms(100)), Some(ms(50)), None, false),
            None
        );
    }

    fn packet(ms: u64, duration_ms: Option<u64>, key: bool) -> Packet {
        Packet {
            stream_time_ns: ms * 1_000_000,
            duration_ns: duration_ms.map(|d| d * 1_000_000),
            key,
        }
    }

    #[test]
    fn decode_order_becomes_presentation_order() {
        // I0 P3 B1 B2 as a decoder receives them, 10 ms apart.
        let frames = in_presentation_order(
            vec![
                packet(0, Some(10), true),
                packet(30, Some(10), false),
                packet(10, Some(10), false),
                packet(20, Some(10), false),
            ],
            None,
        );
        let times: Vec<u64> = frames
            .iter()
            .map(|f| f.stream_time_ns / 1_000_000)
            .collect();
        assert_eq!(times, [0, 10, 20, 30]);
        let keys: Vec<bool> = frames.iter().map(|f| f.key).collect();
        assert_eq!(keys, [true, false, false, false]);
    }

    #[test]
    fn frames_last_until_the_next_starts_and_the_last_takes_its_own_or_the_rate() {
        let packets = vec![
            packet(0, None, true),
            packet(25, Some(1), false),
            packet(40, Some(7), false),
            packet(60, None, false),
        ];
        let durations = |frames: Vec<IndexedFrame>| -> Vec<u64> {
            frames.iter().map(|f| f.duration_ns / 1_000_000).collect()
        };
        assert_eq!(
            durations(in_presentation_order(packets.clone(), Some(33_000_000))),
            [25, 15, 20, 33]
        );
        // Without a rate, the last lasts as long as frames do on average (60 ms / 3).
        assert_eq!(
            durations(in_presentation_order(packets.clone(), None)),
            [25, 15, 20, 20]
        );
        let mut last_timed = packets;
        last_timed[3].duration_ns = Some(12_000_000);
        assert_eq!(
            durations(in_presentation_order(last_timed.clone(), None)),
            [25, 15, 20, 12]
        );
        // A parser's 1 ms guess (vfr.mkv through h264parse) gives way to the rate, else the mean.
        last_timed[3].duration_ns = Some(1_000_000);
        assert_eq!(
            durations(in_presentation_order(last_timed.clone(), Some(33_000_000))),
            [25, 15, 20, 33]
        );
        assert_eq!(
            durations(in_presentation_order(last_timed, Some(1_000_000))),
            [25, 15, 20, 20]
        );
        assert!(in_presentation_order(Vec::new(), None).is_empty());
    }
}
