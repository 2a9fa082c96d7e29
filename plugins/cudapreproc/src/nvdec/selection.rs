//! `frame-times`: which frames to output, by the stream time they are shown at, and how far
//! the decoder has got through them.

use std::ops::Range;
use std::sync::Arc;

/// Slack when matching a listed time to a frame's start: times given in seconds as doubles
/// round-trip through nanoseconds to within a few nanoseconds, and no two frames are this close.
const MATCH_SLACK_NS: u64 = 1_000;

/// The end of a frame that belongs to the next one: containers round timestamps (Matroska and
/// WebM to the millisecond) while durations are exact, so a frame's start plus its duration can
/// pass the next frame's start by up to the rounding. Without this, the frame before would take
/// the next one's listed start as its own and the next one would never be output.
const END_SLACK_NS: u64 = 1_000_000;

/// The stream times (nanoseconds, sorted, without repeats) whose frames are output; empty: every
/// frame.
#[derive(Debug, Default, PartialEq, Eq)]
pub(super) struct FrameSelection {
    times: Vec<u64>,
}

impl FrameSelection {
    /// From the property's seconds; refuses what is not a time in the stream.
    pub(super) fn from_seconds(seconds: &[f64]) -> Result<FrameSelection, String> {
        if let Some(bad) = seconds.iter().find(|s| !s.is_finite() || **s < 0.0) {
            return Err(format!(
                "{bad} is not a stream time: times are seconds from the start, 0 or more"
            ));
        }
        let mut times: Vec<u64> = seconds.iter().map(|s| (s * 1e9).round() as u64).collect();
        times.sort_unstable();
        times.dedup();
        Ok(FrameSelection { times })
    }

    pub(super) fn seconds(&self) -> Vec<f64> {
        self.times.iter().map(|t| *t as f64 / 1e9).collect()
    }

    pub(super) fn is_everything(&self) -> bool {
        self.times.is_empty()
    }

    /// The listed times a frame shown from `start` for `duration` (both in ns) covers: those in
    /// [start, start + duration) less its last millisecond (see [`END_SLACK_NS`]), or only
    /// `start` itself when the duration is unknown.
    fn covered(&self, start: u64, duration: Option<u64>) -> Range<usize> {
        let from = start.saturating_sub(MATCH_SLACK_NS);
        let to = match duration.filter(|d| *d > 0) {
            Some(d) => start + d - END_SLACK_NS.min(d / 2),
            None => start + MATCH_SLACK_NS + 1,
        };
        self.times.partition_point(|t| *t < from)..self.times.partition_point(|t| *t < to)
    }
}

/// A frame as the selection sees it: when it is shown and for how long (ns), where known.
#[derive(Clone, Copy, Debug)]
pub(super) struct Shown {
    pub(super) stream_time: Option<u64>,
    pub(super) duration: Option<u64>,
}

/// Which listed times have had their frame decoded since the last flush or selection change.
#[derive(Debug, Default)]
pub(super) struct SelectionProgress {
    selection: Arc<FrameSelection>,
    decoded: Vec<bool>,
    remaining: usize,
}

impl SelectionProgress {
    pub(super) fn new(selection: Arc<FrameSelection>) -> SelectionProgress {
        let n = selection.times.len();
        SelectionProgress {
            selection,
            decoded: vec![false; n],
            remaining: n,
        }
    }

    /// Starts over for `selection` when it is not the one followed (a new property value).
    pub(super) fn follow(&mut self, selection: &Arc<FrameSelection>) {
        if !Arc::ptr_eq(&self.selection, selection) {
            *self = SelectionProgress::new(selection.clone());
        }
    }

    /// Starts over with the same selection (after a flush: a seek).
    pub(super) fn restart(&mut self) {
        *self = SelectionProgress::new(self.selection.clone());
    }

    /// Whether a frame being decoded is to be output, noting the times it covers. Without a
    /// stream time a frame cannot be matched, so only an empty selection outputs it.
    pub(super) fn decoding(&mut self, shown: Shown) -> bool {
        if self.selection.is_everything() {
            return true;
        }
        let Some(start) = shown.stream_time else {
            return false;
        };
        let covered = self.selection.covered(start, shown.duration);
        for decoded in &mut self.decoded[covered.clone()] {
            if !*decoded {
                *decoded = true;
                self.remaining -= 1;
            }
        }
        !covered.is_empty()
    }

    /// Whether every listed time has had its frame decoded: nothing further is needed.
    pub(super) fn complete(&self) -> bool {
        !self.selection.is_everything() && self.remaining == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: u64 = 1_000_000;

    fn progress(seconds: &[f64]) -> SelectionProgress {
        SelectionProgress::new(Arc::new(FrameSelection::from_seconds(seconds).unwrap()))
    }

    fn shown(start_ms: u64, duration_ms: Option<u64>) -> Shown {
        Shown {
            stream_time: Some(start_ms * MS),
            duration: duration_ms.map(|d| d * MS),
        }
    }

    #[test]
    fn a_frame_covers_the_times_from_its_start_to_its_end() {
        let mut p = progress(&[0.040, 0.0785, 0.080, 0.200]);
        assert!(!p.decoding(shown(0, Some(40))));
        assert!(p.decoding(shown(40, Some(40))));
        assert!(!p.complete());
        // 0.080 is the next frame's start, not this one's.
        assert!(p.decoding(shown(80, Some(40))));
        assert!(!p.decoding(shown(120, Some(40))));
        assert!(p.decoding(shown(200, None)));
        assert!(p.complete());
    }

    #[test]
    fn times_given_as_doubles_match_frame_starts_in_nanoseconds() {
        // 1001/30000 s frames: starts are rounded nanoseconds, times are doubles.
        let starts: Vec<u64> = (0..300)
            .map(|i| i * 1_001_000_000_000 / 30_000 / 1000)
            .collect();
        let seconds: Vec<f64> = starts.iter().map(|s| *s as f64 / 1e9).collect();
        let mut p = progress(&seconds);
        for (i, s) in starts.iter().enumerate() {
            let frame = Shown {
                stream_time: Some(*s),
                duration: Some(33_366_666),
            };
            assert!(p.decoding(frame), "frame {i}");
        }
        assert!(p.complete());
    }

    #[test]
    fn a_start_rounded_to_the_millisecond_is_the_next_frames() {
        // Matroska: starts in whole milliseconds, frames 33.333 ms long. The frame at 1.600 s
        // ends at 1.6333 s, past the next one's start at 1.633 s, which is not its to take.
        let mut p = progress(&[1.633]);
        let frame = |start_ms| Shown {
            stream_time: Some(start_ms * MS),
            duration: Some(33_333_333),
        };
        assert!(!p.decoding(frame(1600)));
        assert!(!p.complete());
        assert!(p.decoding(frame(1633)));
        assert!(p.complete());
        // A time inside a frame's last millisecond is the next frame's too.
        let mut p = progress(&[0.0395]);
        assert!(!p.decoding(shown(0, Some(40))));
    }

    #[test]
    fn without_a_duration_only_the_start_matches() {
        let mut p = progress(&[1.0]);
        assert!(!p.decoding(shown(999, None)));
        assert!(!p.decoding(shown(1001, None)));
        assert!(p.decoding(shown(1000, None)));
    }

    #[test]
    fn an_empty_selection_outputs_everything_and_never_completes() {
        let mut p = progress(&[]);
        assert!(p.decoding(Shown {
            stream_time: None,
            duration: None
        }));
        assert!(!p.complete());
    }

    #[test]
    fn frames_without_a_time_are_not_selected() {
        let mut p = progress(&[0.0]);
        let untimed = Shown {
            stream_time: None,
            duration: Some(40 * MS),
        };
        assert!(!p.decoding(untimed));
    }

    #[test]
    fn a_flush_starts_over_and_a_new_selection_replaces_the_old() {
        let selection = Arc::new(FrameSelection::from_seconds(&[0.0]).unwrap());
        let mut p = SelectionProgress::new(selection.clone());
        assert!(p.decoding(shown(0, Some(40))));
        assert!(p.complete());
        p.restart();
        assert!(!p.complete());
        p.follow(&selection);
        assert!(!p.complete());
        let other = Arc::new(FrameSelection::from_seconds(&[1.0, 2.0]).unwrap());
        p.follow(&other);
        assert!(p.decoding(shown(1000, Some(40))));
        assert!(!p.complete());
    }

    #[test]
    fn repeats_and_order_do_not_matter_and_bad_times_are_refused() {
        let a = FrameSelection::from_seconds(&[2.0, 1.0, 2.0]).unwrap();
        assert_eq!(a.seconds(), vec![1.0, 2.0]);
        for bad in [-0.5, f64::NAN, f64::INFINITY] {
            let e = FrameSelection::from_seconds(&[1.0, bad]).unwrap_err();
            assert!(e.contains("not a stream time"), "{e}");
        }
    }
}
