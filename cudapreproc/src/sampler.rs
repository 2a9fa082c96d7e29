//! Clip samplers: which frames each clip of a video takes, for training on short clips.
//!
//! A sampler reads a video's [`Timeline`] (its frame count and presentation times) and returns
//! the frame indices of each clip; a reader decodes them afterwards. The four samplers and their
//! parameters, defaults, validation and the [`Policy`] for clips that run past the end follow
//! torchcodec's (`torchcodec.samplers`), so the same parameters choose the same frames, except
//! that random starts come from [`SampleRng`], whose draws a seed fixes on every machine.
//!
//! ```
//! use cudapreproc::sampler::{ClipSampler, IndexSampling, SampleRng, Timeline};
//!
//! let pts: Vec<f64> = (0..300).map(|i| i as f64 / 30.0).collect();
//! let timeline = Timeline {
//!     num_frames: 300,
//!     pts_seconds: &pts,
//!     begin_stream_seconds: 0.0,
//!     end_stream_seconds: 10.0,
//!     average_fps: 30.0,
//! };
//! let sampler = ClipSampler::RegularIndices(IndexSampling {
//!     num_clips: 3,
//!     num_frames_per_clip: 4,
//!     num_indices_between_frames: 2,
//!     ..Default::default()
//! });
//! let clips = sampler.sample(&timeline, &mut SampleRng::new(0))?;
//! assert_eq!(clips, [[0, 2, 4, 6], [146, 148, 150, 152], [293, 295, 297, 299]]);
//! # Ok::<(), cudapreproc::sampler::SamplerError>(())
//! ```
//!
//! Where torchcodec computes in 32-bit floats (random and regular clip start times), these
//! samplers compute in `f64`, so a start time that falls on a frame boundary may resolve to the
//! neighbour of the frame torchcodec's rounding lands on.

use std::fmt;
use std::num::NonZeroU64;
use std::str::FromStr;

/// What a sampler needs to know about one video.
///
/// Index samplers read only `num_frames`. Timestamp samplers read every field and check that
/// they agree: one finite, ascending presentation time per frame, a non-empty stream range and a
/// positive frame rate.
#[derive(Clone, Copy, Debug)]
pub struct Timeline<'a> {
    /// How many frames the video has.
    pub num_frames: usize,
    /// Each frame's presentation time in seconds (stream time), presentation order, ascending.
    pub pts_seconds: &'a [f64],
    /// Where the stream starts: the first frame's presentation time, or earlier.
    pub begin_stream_seconds: f64,
    /// Where the stream ends: when the last frame stops being shown.
    pub end_stream_seconds: f64,
    /// Frames per second on average; its inverse is the default spacing of timestamp clips.
    pub average_fps: f64,
}

impl Timeline<'_> {
    /// The frame played at `seconds`: the last frame whose presentation time is at or before it
    /// (each frame plays until the next one starts, the last one until `end_stream_seconds`).
    /// Times between `begin_stream_seconds` and the first frame's presentation time give frame 0.
    /// `None` outside [`begin_stream_seconds`, `end_stream_seconds`) or without presentation
    /// times.
    pub fn frame_played_at(&self, seconds: f64) -> Option<usize> {
        let in_stream = (self.begin_stream_seconds..self.end_stream_seconds).contains(&seconds);
        (in_stream && !self.pts_seconds.is_empty()).then(|| frame_at(self.pts_seconds, seconds))
    }

    /// Refuses a timeline whose fields disagree, for the timestamp samplers.
    fn check_times(&self) -> Result<(), SamplerError> {
        let invalid = |reason: String| Err(SamplerError::InvalidTimeline(reason));
        if self.num_frames == 0 {
            return Err(SamplerError::EmptyVideo);
        }
        if self.pts_seconds.len() != self.num_frames {
            return invalid(format!(
                "pts_seconds has {} entries for {} frames",
                self.pts_seconds.len(),
                self.num_frames
            ));
        }
        if let Some(i) = self.pts_seconds.iter().position(|p| !p.is_finite()) {
            return invalid(format!("pts_seconds[{i}] is {}", self.pts_seconds[i]));
        }
        if let Some(i) = self.pts_seconds.windows(2).position(|w| w[1] < w[0]) {
            return invalid(format!(
                "pts_seconds[{}] ({}) is before pts_seconds[{i}] ({}); presentation times must ascend",
                i + 1,
                self.pts_seconds[i + 1],
                self.pts_seconds[i]
            ));
        }
        let (begin, end) = (self.begin_stream_seconds, self.end_stream_seconds);
        if !(begin.is_finite() && end.is_finite() && begin < end) {
            return invalid(format!("the stream range [{begin}, {end}) s is empty"));
        }
        if !(self.average_fps.is_finite() && self.average_fps > 0.0) {
            return invalid(format!(
                "average_fps is {}; it must be a positive number",
                self.average_fps
            ));
        }
        Ok(())
    }
}

/// The frame played at `seconds` in ascending `pts`: frames after the first count once their
/// presentation time has come, so a time exactly on a frame's pts gives that frame.
fn frame_at(pts: &[f64], seconds: f64) -> usize {
    pts.get(1..)
        .map_or(0, |later| later.partition_point(|&p| p <= seconds))
}

/// How a clip that runs past the end of the video is completed to its length.
///
/// A clip of 5 frames, 2 apart, starting at frame 95 of a 100-frame video should take
/// [95, 97, 99, 101, 103]; only [95, 97, 99] exist. For timestamp samplers, a clip runs past the
/// end when one of its sampling times is at or after `end_stream_seconds`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Policy {
    /// Repeat the clip's last frame in the video: [95, 97, 99, 99, 99]. The default.
    #[default]
    RepeatLast,
    /// Start over from the clip's own first frame (not the video's): [95, 97, 99, 95, 97].
    Wrap,
    /// Fail with [`SamplerError::ClipPastEnd`] or [`SamplerError::ClipPastEndSeconds`].
    Error,
}

impl Policy {
    /// The name torchcodec gives the policy: `"repeat_last"`, `"wrap"` or `"error"`.
    pub fn name(self) -> &'static str {
        match self {
            Policy::RepeatLast => "repeat_last",
            Policy::Wrap => "wrap",
            Policy::Error => "error",
        }
    }
}

impl fmt::Display for Policy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Policy {
    type Err = SamplerError;

    /// Reads a policy by its [`name`](Policy::name), exactly (case included).
    fn from_str(name: &str) -> Result<Self, Self::Err> {
        [Policy::RepeatLast, Policy::Wrap, Policy::Error]
            .into_iter()
            .find(|p| p.name() == name)
            .ok_or_else(|| SamplerError::UnknownPolicy(name.to_owned()))
    }
}

/// Parameters of the index samplers ([`ClipSampler::RandomIndices`] and
/// [`ClipSampler::RegularIndices`]); `Default` gives torchcodec's defaults.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IndexSampling {
    /// How many clips. Default 1.
    pub num_clips: usize,
    /// How many frames each clip takes. Default 1.
    pub num_frames_per_clip: usize,
    /// The index distance between consecutive frames of a clip ("dilation"); 1, the default,
    /// takes consecutive frames.
    pub num_indices_between_frames: usize,
    /// The first frame a clip may start at; a negative value counts from the end (-1 is the last
    /// frame). Default 0. A value that is no frame of the video even so is refused (torchcodec
    /// passes one below `-num_frames` on as a negative index).
    pub sampling_range_start: i64,
    /// Clips start before this frame: in [`sampling_range_start`, `sampling_range_end`).
    ///
    /// A negative value counts from the end, as torchcodec reads it: -1 lets clips start up to
    /// the second-to-last frame, not the last. A value past the video means its end. Clips that
    /// start late may then run past the end, and `policy` completes them.
    ///
    /// `None` (the default): one past the last start from which a whole clip fits, so no clip
    /// runs past the end. A clip spanning more frames than the video has fits nowhere; then, as
    /// in torchcodec, clips start at frame 0 and `policy` completes them (with
    /// [`Policy::Error`], sampling fails).
    pub sampling_range_end: Option<i64>,
    /// How a clip that runs past the last frame is completed. Default [`Policy::RepeatLast`].
    pub policy: Policy,
}

impl Default for IndexSampling {
    fn default() -> Self {
        IndexSampling {
            num_clips: 1,
            num_frames_per_clip: 1,
            num_indices_between_frames: 1,
            sampling_range_start: 0,
            sampling_range_end: None,
            policy: Policy::RepeatLast,
        }
    }
}

/// What the timestamp samplers share: how each clip takes its frames, and where clips may
/// start. `Default` gives torchcodec's defaults.
#[derive(Clone, Debug, PartialEq)]
pub struct TimestampClips {
    /// How many frames each clip takes. Default 1.
    pub num_frames_per_clip: usize,
    /// Seconds between the sampling times of consecutive frames of a clip; each frame is the one
    /// played at its time, so with a variable frame rate the frames' own presentation times are
    /// this far apart only on average. `None` (the default): one average frame duration,
    /// `1 / average_fps`.
    pub seconds_between_frames: Option<f64>,
    /// The earliest time a clip may start at, within the stream. `None` (the default): the
    /// stream's beginning, which need not be 0.
    pub sampling_range_start: Option<f64>,
    /// Clips start strictly before this time. A time past the stream's end means its end; clips
    /// that start late may then run past the end, and `policy` completes them.
    ///
    /// `None` (the default): the latest start whose last sampling time is still before the
    /// stream's end, `end_stream_seconds - (num_frames_per_clip - 1) * seconds_between_frames`.
    /// Unlike the index samplers, a clip longer than the range leaves this before the start, and
    /// sampling fails (as in torchcodec).
    pub sampling_range_end: Option<f64>,
    /// How a clip that runs past the stream's end is completed. Default [`Policy::RepeatLast`].
    pub policy: Policy,
}

impl Default for TimestampClips {
    fn default() -> Self {
        TimestampClips {
            num_frames_per_clip: 1,
            seconds_between_frames: None,
            sampling_range_start: None,
            sampling_range_end: None,
            policy: Policy::RepeatLast,
        }
    }
}

/// Parameters of [`ClipSampler::RandomTimestamps`]; `Default` gives torchcodec's defaults.
#[derive(Clone, Debug, PartialEq)]
pub struct RandomTimestampSampling {
    /// How many clips. Default 1.
    pub num_clips: usize,
    /// Each clip's frames, and the range its start is drawn from.
    pub clips: TimestampClips,
}

impl Default for RandomTimestampSampling {
    fn default() -> Self {
        RandomTimestampSampling {
            num_clips: 1,
            clips: TimestampClips::default(),
        }
    }
}

/// Parameters of [`ClipSampler::RegularTimestamps`]. The spacing of clips has no default
/// (torchcodec requires it); [`RegularTimestampSampling::new`] gives the other defaults.
#[derive(Clone, Debug, PartialEq)]
pub struct RegularTimestampSampling {
    /// Seconds from one clip's start to the next's; with the sampling range, it sets how many
    /// clips there are (there is no `num_clips`, as in torchcodec).
    pub seconds_between_clip_starts: f64,
    /// Each clip's frames, and the range of starts: the first clip starts at
    /// `sampling_range_start`.
    pub clips: TimestampClips,
}

impl RegularTimestampSampling {
    /// Clips `seconds_between_clip_starts` apart over the whole stream, each of one frame, with
    /// torchcodec's defaults for the rest.
    pub fn new(seconds_between_clip_starts: f64) -> Self {
        RegularTimestampSampling {
            seconds_between_clip_starts,
            clips: TimestampClips::default(),
        }
    }
}

/// A way to choose clips from a video; [`ClipSampler::sample`] gives each clip's frame indices.
#[derive(Clone, Debug, PartialEq)]
pub enum ClipSampler {
    /// `num_clips` clips starting at frames drawn uniformly and independently from the sampling
    /// range. The clips come in the order drawn, not sorted, and the same start may come twice,
    /// so any `num_clips` is possible.
    RandomIndices(IndexSampling),
    /// `num_clips` clips starting at frames spread evenly from the first to the last start of the
    /// sampling range, both included, in ascending order.
    ///
    /// The starts are torchcodec's `torch.linspace(start, end - 1, num_clips)` in integers:
    /// truncated toward zero, the first half measured from the first start and the second half
    /// from the last, so one clip starts at the first start, and more clips than starts repeat
    /// starts instead of failing: 20 clips over starts 0 to 10 start at 0, 0, 1, 1, 2, 2, 3, 3,
    /// 4, 4, 5, 5, 6, 6, 7, 7, 8, 8, 9, 10.
    RegularIndices(IndexSampling),
    /// `num_clips` clips starting at times drawn uniformly from the sampling range [start, end)
    /// seconds; each clip takes the frames played at its start and every
    /// `seconds_between_frames` after it. Unsorted, as [`ClipSampler::RandomIndices`].
    RandomTimestamps(RandomTimestampSampling),
    /// Clips starting at the sampling range's start and every `seconds_between_clip_starts`
    /// after it, while before the range's end (`torch.arange`); each takes the frames played at
    /// its start and every `seconds_between_frames` after it. Starts that fall within one frame
    /// give the same clip twice.
    RegularTimestamps(RegularTimestampSampling),
}

impl ClipSampler {
    /// The frame indices of each clip, clips in order, each `num_frames_per_clip` long.
    /// Timestamp samplers resolve each timestamp to the frame played at it
    /// ([`Timeline::frame_played_at`]). Only the random samplers draw from `rng`, one draw per
    /// clip in clip order ([`SampleRng::below`] of the number of starts for indices,
    /// [`SampleRng::unit_f64`] for timestamps), so a seed gives the same clips every time.
    pub fn sample(
        &self,
        timeline: &Timeline,
        rng: &mut SampleRng,
    ) -> Result<Vec<Vec<usize>>, SamplerError> {
        let num_frames = timeline.num_frames;
        match self {
            ClipSampler::RandomIndices(p) => {
                let (first, count) = p.starts(num_frames)?;
                let starts = (0..p.num_clips).map(|_| first + rng.below(count) as usize);
                p.clips(num_frames, starts)
            }
            ClipSampler::RegularIndices(p) => {
                let (first, count) = p.starts(num_frames)?;
                let last = first + (count.get() - 1) as usize;
                p.clips(num_frames, linspace(first, last, p.num_clips))
            }
            ClipSampler::RandomTimestamps(p) => {
                timeline.check_times()?;
                positive_count("num_clips", p.num_clips)?;
                let range = TimeRange::new(timeline, &p.clips)?;
                let width = range.end - range.start;
                let starts = (0..p.num_clips).map(|_| {
                    let start = range.start + rng.unit_f64() * width;
                    // Rounding can carry a start up to the range's open end.
                    if start < range.end {
                        start
                    } else {
                        range.end.next_down()
                    }
                });
                range.clips(timeline, p.num_clips, starts)
            }
            ClipSampler::RegularTimestamps(p) => {
                timeline.check_times()?;
                let step =
                    positive_seconds("seconds_between_clip_starts", p.seconds_between_clip_starts)?;
                let range = TimeRange::new(timeline, &p.clips)?;
                // torch.arange's length; a start that rounding puts at the end is dropped.
                // At least 1 where the division underflows; saturates for spacings so small
                // that the clips fail to allocate.
                let count = ((range.end - range.start) / step).ceil().max(1.0) as usize;
                let starts = (0..count)
                    .map(|i| range.start + i as f64 * step)
                    .take_while(|&start| start < range.end);
                range.clips(timeline, count, starts)
            }
        }
    }
}

impl IndexSampling {
    /// Checks the parameters and returns the first frame a clip may start at and how many
    /// starts there are.
    fn starts(&self, num_frames: usize) -> Result<(usize, NonZeroU64), SamplerError> {
        if num_frames == 0 {
            return Err(SamplerError::EmptyVideo);
        }
        positive_count("num_clips", self.num_clips)?;
        positive_count("num_frames_per_clip", self.num_frames_per_clip)?;
        positive_count(
            "num_indices_between_frames",
            self.num_indices_between_frames,
        )?;
        // Counts past i64::MAX frames do not exist; saturating keeps the arithmetic signed.
        let n = i64::try_from(num_frames).unwrap_or(i64::MAX);
        let from_end = |i: i64| if i < 0 { i + n } else { i };
        let start = from_end(self.sampling_range_start);
        if !(0..n).contains(&start) {
            return Err(SamplerError::StartOutsideVideo {
                start: self.sampling_range_start,
                num_frames,
            });
        }
        let end = match self.sampling_range_end {
            Some(end) => from_end(end).min(n),
            None => {
                let span = self
                    .num_indices_between_frames
                    .saturating_mul(self.num_frames_per_clip - 1)
                    .saturating_add(1);
                (n - i64::try_from(span).unwrap_or(i64::MAX) + 1).max(1)
            }
        };
        let count = u64::try_from(end - start)
            .ok()
            .and_then(NonZeroU64::new)
            .ok_or(SamplerError::EmptyIndexRange {
                start,
                end,
                num_frames,
                default_end: self.sampling_range_end.is_none(),
            })?;
        Ok((start as usize, count))
    }

    /// The clips starting at `starts`, completed by the policy where they run past the end.
    fn clips(
        &self,
        num_frames: usize,
        starts: impl Iterator<Item = usize>,
    ) -> Result<Vec<Vec<usize>>, SamplerError> {
        let length = self.num_frames_per_clip;
        let mut clips = allocate(self.num_clips, self.num_clips, length)?;
        for start in starts {
            let mut clip = allocate(length, self.num_clips, length)?;
            clip.extend(
                (start..num_frames)
                    .step_by(self.num_indices_between_frames)
                    .take(length),
            );
            complete(&mut clip, length, self.policy, || {
                SamplerError::ClipPastEnd {
                    clip_start: start,
                    num_frames,
                }
            })?;
            clips.push(clip);
        }
        Ok(clips)
    }
}

/// A checked timestamp sampling: where clips may start, [`start`, `end`) seconds, and how each
/// clip takes its frames.
struct TimeRange {
    start: f64,
    end: f64,
    seconds_between_frames: f64,
    num_frames_per_clip: usize,
    policy: Policy,
}

impl TimeRange {
    /// Checks the parameters shared by the timestamp samplers against a checked timeline and
    /// resolves their defaults.
    fn new(timeline: &Timeline, clips: &TimestampClips) -> Result<Self, SamplerError> {
        let TimestampClips {
            num_frames_per_clip,
            seconds_between_frames,
            sampling_range_start,
            sampling_range_end,
            policy,
        } = *clips;
        positive_count("num_frames_per_clip", num_frames_per_clip)?;
        let seconds_between_frames = match seconds_between_frames {
            Some(seconds) => positive_seconds("seconds_between_frames", seconds)?,
            None => 1.0 / timeline.average_fps,
        };
        let (begin, stream_end) = (timeline.begin_stream_seconds, timeline.end_stream_seconds);
        let start = match sampling_range_start {
            Some(start) => {
                let start = finite_seconds("sampling_range_start", start)?;
                if !(begin..stream_end).contains(&start) {
                    return Err(SamplerError::StartOutsideStream {
                        start,
                        begin,
                        end: stream_end,
                    });
                }
                start
            }
            None => begin,
        };
        let end = match sampling_range_end {
            Some(end) => finite_seconds("sampling_range_end", end)?,
            None => stream_end - (num_frames_per_clip - 1) as f64 * seconds_between_frames,
        };
        if start >= end {
            return Err(SamplerError::EmptyTimeRange {
                start,
                end,
                default_end: sampling_range_end.is_none(),
            });
        }
        Ok(TimeRange {
            start,
            end: end.min(stream_end),
            seconds_between_frames,
            num_frames_per_clip,
            policy,
        })
    }

    /// The clips starting at `starts` (at most `num_clips`), their sampling times resolved to
    /// frames and completed by the policy where they reach the stream's end.
    fn clips(
        &self,
        timeline: &Timeline,
        num_clips: usize,
        starts: impl Iterator<Item = f64>,
    ) -> Result<Vec<Vec<usize>>, SamplerError> {
        let length = self.num_frames_per_clip;
        let stream_end = timeline.end_stream_seconds;
        let mut clips = allocate(num_clips, num_clips, length)?;
        for start in starts {
            let mut clip = allocate(length, num_clips, length)?;
            clip.extend(
                (0..length)
                    .map(|i| start + i as f64 * self.seconds_between_frames)
                    .take_while(|&t| t < stream_end)
                    .map(|t| frame_at(timeline.pts_seconds, t)),
            );
            complete(&mut clip, length, self.policy, || {
                SamplerError::ClipPastEndSeconds {
                    clip_start: start,
                    end_stream_seconds: stream_end,
                }
            })?;
            clips.push(clip);
        }
        Ok(clips)
    }
}

/// An empty vector with room for `capacity` entries, or an error naming the request when memory
/// cannot hold it.
fn allocate<T>(
    capacity: usize,
    num_clips: usize,
    num_frames_per_clip: usize,
) -> Result<Vec<T>, SamplerError> {
    let mut v = Vec::new();
    v.try_reserve_exact(capacity)
        .map_err(|_| SamplerError::TooLarge {
            num_clips,
            num_frames_per_clip,
        })?;
    Ok(v)
}

/// Completes a clip cut short by the end of the video to `length` frames as `policy` says.
/// Clips always hold their first frame: the sampling range ends within the video.
fn complete(
    clip: &mut Vec<usize>,
    length: usize,
    policy: Policy,
    past_end: impl FnOnce() -> SamplerError,
) -> Result<(), SamplerError> {
    let missing = length - clip.len();
    if missing == 0 {
        return Ok(());
    }
    match policy {
        Policy::RepeatLast => {
            if let Some(&last) = clip.last() {
                clip.resize(length, last);
            }
        }
        Policy::Wrap => {
            let again: Vec<usize> = clip.iter().copied().cycle().take(missing).collect();
            clip.extend(again);
        }
        Policy::Error => return Err(past_end()),
    }
    Ok(())
}

/// `steps` integers from `first` to `last` as `torch.linspace` with an integer type gives them:
/// a `f64` step, the first half counted up from `first` and the rest down from `last`,
/// truncated toward zero; one step gives `first`.
fn linspace(first: usize, last: usize, steps: usize) -> impl Iterator<Item = usize> {
    let step = (last as f64 - first as f64) / steps.saturating_sub(1).max(1) as f64;
    let halfway = steps / 2;
    (0..steps).map(move |i| {
        if steps == 1 {
            first
        } else if i < halfway {
            (first as f64 + step * i as f64) as usize
        } else {
            (last as f64 - step * (steps - 1 - i) as f64) as usize
        }
    })
}

fn positive_count(name: &'static str, value: usize) -> Result<(), SamplerError> {
    if value == 0 {
        return Err(SamplerError::ZeroCount { name });
    }
    Ok(())
}

fn positive_seconds(name: &'static str, value: f64) -> Result<f64, SamplerError> {
    if value.is_finite() && value > 0.0 {
        Ok(value)
    } else {
        Err(SamplerError::NotPositiveSeconds { name, value })
    }
}

fn finite_seconds(name: &'static str, value: f64) -> Result<f64, SamplerError> {
    if value.is_finite() {
        Ok(value)
    } else {
        Err(SamplerError::NotFiniteSeconds { name, value })
    }
}

/// The random numbers of the random samplers: SplitMix64 (Steele, Lea and Flood, "Fast
/// splittable pseudorandom number generators", 2014, with the constants of Vigna's
/// `splitmix64.c`). The 64-bit state advances by the golden-ratio constant and each output mixes
/// it; seeded with 1234567, the first outputs are 6457827717110365317, 3203168211198807973 and
/// 9817491932198370423. The algorithm is fixed here, so a seed gives the same clips on every
/// machine and in every version. Statistically sound (it passes BigCrush), not cryptographic.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SampleRng {
    state: u64,
}

impl SampleRng {
    /// A generator whose draws `seed` decides; every seed is good, 0 included.
    pub fn new(seed: u64) -> Self {
        SampleRng { state: seed }
    }

    /// The next 64 uniformly distributed bits.
    pub fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// A uniform integer in [0, `bound`), without modulo bias: the high half of a draw times
    /// `bound`, redrawing the few draws whose low half shows they would favour some values
    /// (Lemire, "Fast random integer generation in an interval", 2019).
    pub fn below(&mut self, bound: NonZeroU64) -> u64 {
        let bound = bound.get();
        let mut product = u128::from(self.next_u64()) * u128::from(bound);
        if (product as u64) < bound {
            // 2^64 mod bound: products with a low half under it belong to an uneven share.
            let threshold = bound.wrapping_neg() % bound;
            while (product as u64) < threshold {
                product = u128::from(self.next_u64()) * u128::from(bound);
            }
        }
        (product >> 64) as u64
    }

    /// A uniform `f64` in [0, 1): the top 53 bits of a draw, a multiple of 2^-53.
    pub fn unit_f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// Why clips could not be sampled.
#[derive(Debug, Clone, PartialEq)]
pub enum SamplerError {
    /// The video has no frames.
    EmptyVideo,
    /// `num_clips`, `num_frames_per_clip` or `num_indices_between_frames` is 0.
    ZeroCount { name: &'static str },
    /// `seconds_between_frames` or `seconds_between_clip_starts` is not a positive, finite number
    /// of seconds.
    NotPositiveSeconds { name: &'static str, value: f64 },
    /// `sampling_range_start` or `sampling_range_end` of a timestamp sampler is NaN or infinite.
    NotFiniteSeconds { name: &'static str, value: f64 },
    /// The timeline's fields disagree or are not numbers (timestamp samplers): why.
    InvalidTimeline(String),
    /// An index sampler's `sampling_range_start` (as given) is no frame of the video, counting
    /// negative values from the end.
    StartOutsideVideo { start: i64, num_frames: usize },
    /// A timestamp sampler's `sampling_range_start` is outside the stream, [`begin`, `end`).
    StartOutsideStream { start: f64, begin: f64, end: f64 },
    /// No frame lies in the sampling range [`start`, `end`) of an index sampler (negative values
    /// counted from the end, the end limited to the video); `default_end` when the end was left
    /// to its default.
    EmptyIndexRange {
        start: i64,
        end: i64,
        num_frames: usize,
        default_end: bool,
    },
    /// No time lies in the sampling range [`start`, `end`) of a timestamp sampler;
    /// `default_end` when the end was left to its default.
    EmptyTimeRange {
        start: f64,
        end: f64,
        default_end: bool,
    },
    /// The clip starting at frame `clip_start` runs past the last frame and the policy is
    /// [`Policy::Error`].
    ClipPastEnd {
        clip_start: usize,
        num_frames: usize,
    },
    /// The clip starting at `clip_start` seconds samples at or after the stream's end and the
    /// policy is [`Policy::Error`].
    ClipPastEndSeconds {
        clip_start: f64,
        end_stream_seconds: f64,
    },
    /// A policy name other than `repeat_last`, `wrap` and `error`.
    UnknownPolicy(String),
    /// The clips would not fit in memory.
    TooLarge {
        num_clips: usize,
        num_frames_per_clip: usize,
    },
}

impl fmt::Display for SamplerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SamplerError::EmptyVideo => write!(f, "the video has no frames"),
            SamplerError::ZeroCount { name } => write!(f, "{name} is 0; it must be at least 1"),
            SamplerError::NotPositiveSeconds { name, value } => write!(
                f,
                "{name} is {value}; it must be a positive number of seconds"
            ),
            SamplerError::NotFiniteSeconds { name, value } => {
                write!(
                    f,
                    "{name} is {value}; it must be a finite number of seconds"
                )
            }
            SamplerError::InvalidTimeline(reason) => write!(f, "invalid timeline: {reason}"),
            SamplerError::StartOutsideVideo { start, num_frames } => write!(
                f,
                "sampling_range_start {start} is outside a video of {num_frames} frames; it \
                 must be from -{num_frames} to {}",
                num_frames - 1
            ),
            SamplerError::StartOutsideStream { start, begin, end } => write!(
                f,
                "sampling_range_start {start} s is outside the stream, [{begin}, {end}) s"
            ),
            SamplerError::EmptyIndexRange {
                start,
                end,
                num_frames,
                default_end,
            } => {
                write!(
                    f,
                    "sampling range [{start}, {end}) is empty for a video of {num_frames} frames"
                )?;
                if *default_end {
                    write!(
                        f,
                        " (sampling_range_end defaults to where clips stop fitting in the video)"
                    )?;
                }
                Ok(())
            }
            SamplerError::EmptyTimeRange {
                start,
                end,
                default_end,
            } => {
                write!(f, "sampling range [{start}, {end}) s is empty")?;
                if *default_end {
                    write!(
                        f,
                        " (sampling_range_end defaults to where clips stop fitting in the stream)"
                    )?;
                }
                Ok(())
            }
            SamplerError::ClipPastEnd {
                clip_start,
                num_frames,
            } => write!(
                f,
                "clip at frame {clip_start} runs past the end ({num_frames} frames) and policy \
                 is error"
            ),
            SamplerError::ClipPastEndSeconds {
                clip_start,
                end_stream_seconds,
            } => write!(
                f,
                "clip at {clip_start} s runs past the end ({end_stream_seconds} s) and policy \
                 is error"
            ),
            SamplerError::UnknownPolicy(name) => write!(
                f,
                "unknown policy {name:?}; expected repeat_last, wrap or error"
            ),
            SamplerError::TooLarge {
                num_clips,
                num_frames_per_clip,
            } => write!(
                f,
                "{num_clips} clips × {num_frames_per_clip} frames per clip do not fit in memory"
            ),
        }
    }
}

impl std::error::Error for SamplerError {}

#[cfg(test)]
mod tests {
    use super::*;

    /// A video known by its frame count only, as index samplers need it.
    fn frames(num_frames: usize) -> Timeline<'static> {
        Timeline {
            num_frames,
            pts_seconds: &[],
            begin_stream_seconds: 0.0,
            end_stream_seconds: 0.0,
            average_fps: 0.0,
        }
    }

    /// Eight frames at 4 fps from 0 s to 2 s: every time a multiple of 0.25 s, exact in binary.
    const CFR: [f64; 8] = [0.0, 0.25, 0.5, 0.75, 1.0, 1.25, 1.5, 1.75];

    fn cfr() -> Timeline<'static> {
        Timeline {
            num_frames: CFR.len(),
            pts_seconds: &CFR,
            begin_stream_seconds: 0.0,
            end_stream_seconds: 2.0,
            average_fps: 4.0,
        }
    }

    /// A variable frame rate: frames of 0.25, 0.25, 0.5, 0.125, 0.875 and 0.5 s, from 0.5 s.
    const VFR: [f64; 6] = [0.5, 0.75, 1.0, 1.5, 1.625, 2.5];

    fn vfr() -> Timeline<'static> {
        Timeline {
            num_frames: VFR.len(),
            pts_seconds: &VFR,
            begin_stream_seconds: 0.5,
            end_stream_seconds: 3.0,
            average_fps: 2.4,
        }
    }

    fn sample(sampler: ClipSampler, timeline: &Timeline) -> Result<Vec<Vec<usize>>, SamplerError> {
        sampler.sample(timeline, &mut SampleRng::new(0))
    }

    fn regular_indices(num_frames: usize, p: IndexSampling) -> Vec<Vec<usize>> {
        sample(ClipSampler::RegularIndices(p), &frames(num_frames)).unwrap()
    }

    fn regular_timestamps(timeline: &Timeline, p: RegularTimestampSampling) -> Vec<Vec<usize>> {
        sample(ClipSampler::RegularTimestamps(p), timeline).unwrap()
    }

    /// How many clips start at each frame.
    fn start_counts(clips: &[Vec<usize>], num_frames: usize) -> Vec<usize> {
        let mut counts = vec![0; num_frames];
        for clip in clips {
            counts[clip[0]] += 1;
        }
        counts
    }

    #[test]
    fn the_generator_is_splitmix64() {
        let mut rng = SampleRng::new(1234567);
        let outputs: Vec<u64> = (0..5).map(|_| rng.next_u64()).collect();
        assert_eq!(
            outputs,
            [
                6457827717110365317,
                3203168211198807973,
                9817491932198370423,
                4593380528125082431,
                16408922859458223821
            ]
        );
        assert_eq!(SampleRng::new(0).next_u64(), 0xe220_a839_7b1d_cdaf);
    }

    #[test]
    fn bounded_integers_are_in_range_unbiased_and_fixed_by_the_seed() {
        let bound = |b| NonZeroU64::new(b).unwrap();
        // Computed separately from the published algorithms.
        let mut rng = SampleRng::new(3);
        let draws: Vec<u64> = (0..8).map(|_| rng.below(bound(3))).collect();
        assert_eq!(draws, [0, 2, 1, 0, 0, 1, 0, 2]);

        let mut counts = [0usize; 3];
        for _ in 0..30_000 {
            counts[rng.below(bound(3)) as usize] += 1;
        }
        assert!(
            counts.iter().all(|&c| c.abs_diff(10_000) < 500),
            "{counts:?}"
        );

        assert!((0..100).all(|_| rng.below(bound(1)) == 0));
        // Nearly half of all draws are redrawn for this bound (the third here).
        let large = (1 << 63) + 1;
        let mut rng = SampleRng::new(11);
        let draws: Vec<u64> = (0..4).map(|_| rng.below(bound(large))).collect();
        assert_eq!(
            draws,
            [
                2916839690478819406,
                2419891404314872272,
                4654242944874133240,
                5090726676432169991
            ]
        );
        assert!((0..100).all(|_| rng.below(bound(large)) < large));
        assert!((0..100).all(|_| rng.below(NonZeroU64::MAX) < u64::MAX));
    }

    #[test]
    fn unit_floats_are_in_the_unit_interval() {
        let mut rng = SampleRng::new(5);
        let draws: Vec<f64> = (0..10_000).map(|_| rng.unit_f64()).collect();
        assert!(draws.iter().all(|u| (0.0..1.0).contains(u)));
        let mean = draws.iter().sum::<f64>() / draws.len() as f64;
        assert!((mean - 0.5).abs() < 0.01, "{mean}");
    }

    #[test]
    fn policies_parse_by_name() {
        for policy in [Policy::RepeatLast, Policy::Wrap, Policy::Error] {
            assert_eq!(policy.name().parse::<Policy>(), Ok(policy));
            assert_eq!(policy.to_string(), policy.name());
        }
        assert_eq!(Policy::default(), Policy::RepeatLast);
        let e = "Wrap".parse::<Policy>().unwrap_err();
        assert_eq!(e, SamplerError::UnknownPolicy("Wrap".into()));
        assert_eq!(
            e.to_string(),
            "unknown policy \"Wrap\"; expected repeat_last, wrap or error"
        );
    }

    #[test]
    fn defaults_are_torchcodecs() {
        let index = IndexSampling::default();
        assert_eq!((index.num_clips, index.num_frames_per_clip), (1, 1));
        assert_eq!(index.num_indices_between_frames, 1);
        assert_eq!(
            (index.sampling_range_start, index.sampling_range_end),
            (0, None)
        );
        assert_eq!(index.policy, Policy::RepeatLast);
        let clips = TimestampClips::default();
        assert_eq!(clips.num_frames_per_clip, 1);
        assert_eq!(clips.seconds_between_frames, None);
        assert_eq!(
            (clips.sampling_range_start, clips.sampling_range_end),
            (None, None)
        );
        assert_eq!(clips.policy, Policy::RepeatLast);
        let random = RandomTimestampSampling::default();
        assert_eq!((random.num_clips, &random.clips), (1, &clips));
        let regular = RegularTimestampSampling::new(0.5);
        assert_eq!(regular.seconds_between_clip_starts, 0.5);
        assert_eq!(regular.clips, clips);
        // One clip of the first frame.
        assert_eq!(regular_indices(10, IndexSampling::default()), [[0]]);
        assert_eq!(regular_timestamps(&cfr(), regular), [[0], [2], [4], [6]]);
    }

    #[test]
    fn regular_indices_spread_clip_starts_as_linspace() {
        // 3 frames a clip fit from frames 0 to 7; starts 0, 7/3 and 14/3 truncated, and 7.
        let clips = regular_indices(
            10,
            IndexSampling {
                num_clips: 4,
                num_frames_per_clip: 3,
                ..Default::default()
            },
        );
        assert_eq!(clips, [[0, 1, 2], [2, 3, 4], [4, 5, 6], [7, 8, 9]]);

        // Dilation 2: a clip of 3 spans 5 frames, so starts end at 5.
        let clips = regular_indices(
            10,
            IndexSampling {
                num_clips: 2,
                num_frames_per_clip: 3,
                num_indices_between_frames: 2,
                ..Default::default()
            },
        );
        assert_eq!(clips, [[0, 2, 4], [5, 7, 9]]);

        // Starts floor(15 i / 11) and floor(9 i / 7): where the exact value is an integer, f64
        // rounding counted from the first start alone would land one below it (at 14 and 8).
        let starts = |num_frames, num_clips| -> Vec<usize> {
            let p = IndexSampling {
                num_clips,
                ..Default::default()
            };
            regular_indices(num_frames, p)
                .iter()
                .map(|c| c[0])
                .collect()
        };
        assert_eq!(starts(16, 12), [0, 1, 2, 4, 5, 6, 8, 9, 10, 12, 13, 15]);
        let exact: Vec<usize> = (0..29).map(|i| 9 * i / 7).collect();
        assert_eq!(starts(37, 29), exact);
    }

    #[test]
    fn more_regular_clips_than_starts_repeat_starts_in_order() {
        // torchcodec's example: torch.linspace(0, 10, steps=20) in integers.
        let clips = regular_indices(
            11,
            IndexSampling {
                num_clips: 20,
                ..Default::default()
            },
        );
        let starts: Vec<usize> = clips.iter().map(|c| c[0]).collect();
        assert_eq!(
            starts,
            [0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7, 8, 8, 9, 10]
        );
    }

    #[test]
    fn policies_complete_index_clips_past_the_end() {
        // Clips of 5 starting at frames 0, 1 and 2 of a 5-frame video (torchcodec's cases).
        let clips = |step, policy| {
            sample(
                ClipSampler::RegularIndices(IndexSampling {
                    num_clips: 3,
                    num_frames_per_clip: 5,
                    num_indices_between_frames: step,
                    sampling_range_end: Some(3),
                    policy,
                    ..Default::default()
                }),
                &frames(5),
            )
        };
        assert_eq!(
            clips(1, Policy::RepeatLast).unwrap(),
            [[0, 1, 2, 3, 4], [1, 2, 3, 4, 4], [2, 3, 4, 4, 4]]
        );
        assert_eq!(
            clips(2, Policy::RepeatLast).unwrap(),
            [[0, 2, 4, 4, 4], [1, 3, 3, 3, 3], [2, 4, 4, 4, 4]]
        );
        assert_eq!(
            clips(1, Policy::Wrap).unwrap(),
            [[0, 1, 2, 3, 4], [1, 2, 3, 4, 1], [2, 3, 4, 2, 3]]
        );
        assert_eq!(
            clips(2, Policy::Wrap).unwrap(),
            [[0, 2, 4, 0, 2], [1, 3, 1, 3, 1], [2, 4, 2, 4, 2]]
        );
        // The first clip fits; the second does not.
        assert_eq!(
            clips(1, Policy::Error),
            Err(SamplerError::ClipPastEnd {
                clip_start: 1,
                num_frames: 5
            })
        );
    }

    #[test]
    fn index_ranges_count_negative_values_from_the_end_and_stop_at_the_video() {
        let starts = |start, end| {
            regular_indices(
                10,
                IndexSampling {
                    num_clips: 2,
                    sampling_range_start: start,
                    sampling_range_end: end,
                    ..Default::default()
                },
            )
        };
        assert_eq!(starts(-3, Some(-1)), [[7], [8]]);
        assert_eq!(starts(-3, Some(-1)), starts(7, Some(9)));
        assert_eq!(starts(-1, None), [[9], [9]]);
        // An end past the video is its end; clips running past it are completed.
        let clips = regular_indices(
            10,
            IndexSampling {
                num_clips: 2,
                num_frames_per_clip: 3,
                sampling_range_start: 8,
                sampling_range_end: Some(100),
                ..Default::default()
            },
        );
        assert_eq!(clips, [[8, 9, 9], [9, 9, 9]]);
    }

    #[test]
    fn clips_longer_than_the_video_start_at_frame_0_by_default() {
        let p = IndexSampling {
            num_clips: 2,
            num_frames_per_clip: 5,
            ..Default::default()
        };
        assert_eq!(
            regular_indices(3, p.clone()),
            [[0, 1, 2, 2, 2], [0, 1, 2, 2, 2]]
        );
        let strict = IndexSampling {
            policy: Policy::Error,
            ..p.clone()
        };
        assert_eq!(
            sample(ClipSampler::RegularIndices(strict), &frames(3)),
            Err(SamplerError::ClipPastEnd {
                clip_start: 0,
                num_frames: 3
            })
        );
        let late = IndexSampling {
            sampling_range_start: 1,
            ..p
        };
        assert_eq!(
            sample(ClipSampler::RegularIndices(late), &frames(3)),
            Err(SamplerError::EmptyIndexRange {
                start: 1,
                end: 1,
                num_frames: 3,
                default_end: true
            })
        );
    }

    #[test]
    fn random_indices_are_unsorted_uniform_draws_fixed_by_the_seed() {
        let random = |p: IndexSampling, num_frames, seed| {
            ClipSampler::RandomIndices(p)
                .sample(&frames(num_frames), &mut SampleRng::new(seed))
                .unwrap()
        };
        let five = IndexSampling {
            num_clips: 5,
            ..Default::default()
        };
        // Computed separately from the published algorithms: below(1000) five times, seed 42.
        assert_eq!(
            random(five.clone(), 1000, 42),
            [[741], [159], [278], [344], [38]]
        );
        assert_eq!(
            random(five.clone(), 1000, 42),
            random(five.clone(), 1000, 42)
        );
        assert_ne!(random(five.clone(), 1000, 42), random(five, 1000, 43));

        let clips = random(
            IndexSampling {
                num_clips: 1000,
                num_frames_per_clip: 2,
                sampling_range_start: 3,
                sampling_range_end: Some(7),
                ..Default::default()
            },
            10,
            1,
        );
        assert!(clips
            .iter()
            .all(|c| (3..7).contains(&c[0]) && c[1] == c[0] + 1));
        assert_eq!(start_counts(&clips, 10)[..3], [0, 0, 0]);
        assert!(start_counts(&clips, 10)[3..7].iter().all(|&c| c > 200));

        let clips = random(
            IndexSampling {
                num_clips: 20_000,
                ..Default::default()
            },
            10,
            2,
        );
        let counts = start_counts(&clips, 10);
        assert!(counts.iter().all(|&c| c.abs_diff(2000) < 200), "{counts:?}");
    }

    #[test]
    fn frames_played_at_a_time_change_on_each_presentation_time() {
        let timeline = vfr();
        let played = |t: f64| timeline.frame_played_at(t);
        assert_eq!(played(0.5), Some(0));
        assert_eq!(played(0.75_f64.next_down()), Some(0));
        assert_eq!(played(0.75), Some(1));
        assert_eq!(played(1.0), Some(2));
        assert_eq!(played(1.5_f64.next_down()), Some(2));
        assert_eq!(played(1.5), Some(3));
        assert_eq!(played(1.625), Some(4));
        assert_eq!(played(2.5_f64.next_down()), Some(4));
        assert_eq!(played(2.5), Some(5));
        assert_eq!(played(3.0_f64.next_down()), Some(5));
        assert_eq!(played(3.0), None);
        assert_eq!(played(0.5_f64.next_down()), None);
        // Before the first frame but within the stream: the first frame.
        let early = Timeline {
            begin_stream_seconds: 0.25,
            ..vfr()
        };
        assert_eq!(early.frame_played_at(0.3), Some(0));
        assert_eq!(frames(3).frame_played_at(0.0), None);
    }

    #[test]
    fn regular_timestamps_take_the_frames_played_at_each_time() {
        // Two frames a clip, 0.25 s apart, fit in starts before 1.75 s.
        let clips = regular_timestamps(
            &cfr(),
            RegularTimestampSampling {
                clips: TimestampClips {
                    num_frames_per_clip: 2,
                    ..Default::default()
                },
                ..RegularTimestampSampling::new(0.5)
            },
        );
        assert_eq!(clips, [[0, 1], [2, 3], [4, 5], [6, 7]]);

        // Starts 0, 0.6, 1.2 and 1.8 (a little less in f64) fall within frames.
        let clips = regular_timestamps(&cfr(), RegularTimestampSampling::new(0.6));
        assert_eq!(clips, [[0], [2], [4], [7]]);

        let clips = regular_timestamps(
            &cfr(),
            RegularTimestampSampling {
                clips: TimestampClips {
                    num_frames_per_clip: 3,
                    seconds_between_frames: Some(0.5),
                    ..Default::default()
                },
                ..RegularTimestampSampling::new(1.0)
            },
        );
        assert_eq!(clips, [[0, 2, 4]]);

        // The stream starts at 0.5 s; 2 s falls within the long fifth frame.
        assert_eq!(
            regular_timestamps(&vfr(), RegularTimestampSampling::new(0.5)),
            [[0], [2], [3], [4], [5]]
        );
        let clips = regular_timestamps(
            &vfr(),
            RegularTimestampSampling {
                clips: TimestampClips {
                    num_frames_per_clip: 3,
                    seconds_between_frames: Some(0.25),
                    ..Default::default()
                },
                ..RegularTimestampSampling::new(1.0)
            },
        );
        assert_eq!(clips, [[0, 1, 2], [3, 4, 4]]);
    }

    #[test]
    fn policies_complete_timestamp_clips_at_the_stream_end() {
        // Clips of 4 from 1.5 s and 1.75 s; only their first 2 and 1 sampling times are
        // before 2 s.
        let clips = |policy| {
            sample(
                ClipSampler::RegularTimestamps(RegularTimestampSampling {
                    clips: TimestampClips {
                        num_frames_per_clip: 4,
                        sampling_range_start: Some(1.5),
                        sampling_range_end: Some(2.0),
                        policy,
                        ..Default::default()
                    },
                    ..RegularTimestampSampling::new(0.25)
                }),
                &cfr(),
            )
        };
        assert_eq!(
            clips(Policy::RepeatLast).unwrap(),
            [[6, 7, 7, 7], [7, 7, 7, 7]]
        );
        assert_eq!(clips(Policy::Wrap).unwrap(), [[6, 7, 6, 7], [7, 7, 7, 7]]);
        assert_eq!(
            clips(Policy::Error),
            Err(SamplerError::ClipPastEndSeconds {
                clip_start: 1.5,
                end_stream_seconds: 2.0
            })
        );
    }

    #[test]
    fn random_timestamps_are_unsorted_uniform_draws_fixed_by_the_seed() {
        let random = |p: RandomTimestampSampling, seed| {
            ClipSampler::RandomTimestamps(p)
                .sample(&cfr(), &mut SampleRng::new(seed))
                .unwrap()
        };
        let five = RandomTimestampSampling {
            num_clips: 5,
            ..Default::default()
        };
        // Computed separately: starts 2 s × unit_f64 for seed 7 are 0.78, 0.03, 1.80, 1.17, 0.90.
        assert_eq!(random(five.clone(), 7), [[3], [0], [7], [4], [3]]);
        assert_ne!(random(five.clone(), 7), random(five, 8));

        let clips = random(
            RandomTimestampSampling {
                num_clips: 200,
                clips: TimestampClips {
                    num_frames_per_clip: 2,
                    sampling_range_start: Some(0.5),
                    sampling_range_end: Some(1.0),
                    ..Default::default()
                },
            },
            1,
        );
        assert!(clips.iter().all(|c| c == &[2, 3] || c == &[3, 4]));
        assert!(clips.contains(&vec![2, 3]) && clips.contains(&vec![3, 4]));

        let clips = random(
            RandomTimestampSampling {
                num_clips: 8000,
                ..Default::default()
            },
            2,
        );
        let counts = start_counts(&clips, 8);
        assert!(counts.iter().all(|&c| c.abs_diff(1000) < 100), "{counts:?}");
    }

    #[test]
    fn random_start_times_stay_before_the_range_end() {
        // Times from 2^53 s are 2 s apart in f64: a start drawn past 2^53 + 1 would round up to
        // the end of the range and leave its clip without a frame.
        let start = 2f64.powi(53);
        let timeline = Timeline {
            num_frames: 1,
            pts_seconds: &[start],
            begin_stream_seconds: start,
            end_stream_seconds: start + 2.0,
            average_fps: 0.5,
        };
        let p = RandomTimestampSampling {
            num_clips: 100,
            ..Default::default()
        };
        let clips = ClipSampler::RandomTimestamps(p)
            .sample(&timeline, &mut SampleRng::new(0))
            .unwrap();
        assert!(clips.iter().all(|c| c == &[0]), "{clips:?}");
    }

    #[test]
    fn invalid_parameters_are_refused_saying_why() {
        let idx = |p: IndexSampling| ClipSampler::RegularIndices(p);
        let rnd = |p: RandomTimestampSampling| ClipSampler::RandomTimestamps(p);
        let reg = |p: RegularTimestampSampling| ClipSampler::RegularTimestamps(p);
        let d = IndexSampling::default;
        let r = RandomTimestampSampling::default;
        let g = || RegularTimestampSampling::new(0.5);
        let c = TimestampClips::default;
        // The random sampler, and the regular one every 0.5 s, taking `clips`.
        let rnd_clips = |clips| rnd(RandomTimestampSampling { clips, ..r() });
        let reg_clips = |clips| reg(RegularTimestampSampling { clips, ..g() });
        let (ten, eight) = (frames(10), cfr());
        let cases: Vec<(ClipSampler, Timeline, SamplerError, &str)> = vec![
            (
                idx(d()),
                frames(0),
                SamplerError::EmptyVideo,
                "the video has no frames",
            ),
            (
                rnd(r()),
                Timeline {
                    num_frames: 0,
                    pts_seconds: &[],
                    ..cfr()
                },
                SamplerError::EmptyVideo,
                "the video has no frames",
            ),
            (
                idx(IndexSampling {
                    num_clips: 0,
                    ..d()
                }),
                ten,
                SamplerError::ZeroCount { name: "num_clips" },
                "num_clips is 0; it must be at least 1",
            ),
            (
                idx(IndexSampling {
                    num_frames_per_clip: 0,
                    ..d()
                }),
                ten,
                SamplerError::ZeroCount {
                    name: "num_frames_per_clip",
                },
                "num_frames_per_clip is 0; it must be at least 1",
            ),
            (
                idx(IndexSampling {
                    num_indices_between_frames: 0,
                    ..d()
                }),
                ten,
                SamplerError::ZeroCount {
                    name: "num_indices_between_frames",
                },
                "num_indices_between_frames is 0; it must be at least 1",
            ),
            (
                idx(IndexSampling {
                    sampling_range_start: 10,
                    ..d()
                }),
                ten,
                SamplerError::StartOutsideVideo {
                    start: 10,
                    num_frames: 10,
                },
                "sampling_range_start 10 is outside a video of 10 frames; it must be from -10 to 9",
            ),
            (
                idx(IndexSampling {
                    sampling_range_start: -11,
                    ..d()
                }),
                ten,
                SamplerError::StartOutsideVideo {
                    start: -11,
                    num_frames: 10,
                },
                "sampling_range_start -11 is outside a video of 10 frames; it must be from -10 to 9",
            ),
            (
                idx(IndexSampling {
                    sampling_range_start: 4,
                    sampling_range_end: Some(4),
                    ..d()
                }),
                ten,
                SamplerError::EmptyIndexRange {
                    start: 4,
                    end: 4,
                    num_frames: 10,
                    default_end: false,
                },
                "sampling range [4, 4) is empty for a video of 10 frames",
            ),
            (
                idx(IndexSampling {
                    sampling_range_start: -3,
                    sampling_range_end: Some(-5),
                    ..d()
                }),
                ten,
                SamplerError::EmptyIndexRange {
                    start: 7,
                    end: 5,
                    num_frames: 10,
                    default_end: false,
                },
                "sampling range [7, 5) is empty for a video of 10 frames",
            ),
            (
                idx(IndexSampling {
                    num_frames_per_clip: 3,
                    sampling_range_start: 9,
                    ..d()
                }),
                ten,
                SamplerError::EmptyIndexRange {
                    start: 9,
                    end: 8,
                    num_frames: 10,
                    default_end: true,
                },
                "sampling range [9, 8) is empty for a video of 10 frames (sampling_range_end \
                 defaults to where clips stop fitting in the video)",
            ),
            (
                idx(IndexSampling {
                    num_frames_per_clip: 3,
                    sampling_range_start: 8,
                    sampling_range_end: Some(10),
                    policy: Policy::Error,
                    ..d()
                }),
                ten,
                SamplerError::ClipPastEnd {
                    clip_start: 8,
                    num_frames: 10,
                },
                "clip at frame 8 runs past the end (10 frames) and policy is error",
            ),
            (
                ClipSampler::RandomIndices(IndexSampling {
                    num_clips: usize::MAX,
                    ..d()
                }),
                ten,
                SamplerError::TooLarge {
                    num_clips: usize::MAX,
                    num_frames_per_clip: 1,
                },
                "18446744073709551615 clips × 1 frames per clip do not fit in memory",
            ),
            (
                idx(IndexSampling {
                    num_frames_per_clip: usize::MAX,
                    ..d()
                }),
                ten,
                SamplerError::TooLarge {
                    num_clips: 1,
                    num_frames_per_clip: usize::MAX,
                },
                "1 clips × 18446744073709551615 frames per clip do not fit in memory",
            ),
            (
                rnd(r()),
                Timeline {
                    num_frames: 9,
                    ..cfr()
                },
                SamplerError::InvalidTimeline("pts_seconds has 8 entries for 9 frames".into()),
                "invalid timeline: pts_seconds has 8 entries for 9 frames",
            ),
            (
                reg(g()),
                Timeline {
                    num_frames: 2,
                    pts_seconds: &[0.0, f64::NAN],
                    ..cfr()
                },
                SamplerError::InvalidTimeline("pts_seconds[1] is NaN".into()),
                "invalid timeline: pts_seconds[1] is NaN",
            ),
            (
                reg(g()),
                Timeline {
                    num_frames: 3,
                    pts_seconds: &[0.0, 0.5, 0.25],
                    ..cfr()
                },
                SamplerError::InvalidTimeline(
                    "pts_seconds[2] (0.25) is before pts_seconds[1] (0.5); presentation times \
                     must ascend"
                        .into(),
                ),
                "invalid timeline: pts_seconds[2] (0.25) is before pts_seconds[1] (0.5); \
                 presentation times must ascend",
            ),
            (
                reg(g()),
                Timeline {
                    end_stream_seconds: 0.0,
                    ..cfr()
                },
                SamplerError::InvalidTimeline("the stream range [0, 0) s is empty".into()),
                "invalid timeline: the stream range [0, 0) s is empty",
            ),
            (
                rnd(r()),
                Timeline {
                    average_fps: 0.0,
                    ..cfr()
                },
                SamplerError::InvalidTimeline(
                    "average_fps is 0; it must be a positive number".into(),
                ),
                "invalid timeline: average_fps is 0; it must be a positive number",
            ),
            (
                rnd(RandomTimestampSampling {
                    num_clips: 0,
                    ..r()
                }),
                eight,
                SamplerError::ZeroCount { name: "num_clips" },
                "num_clips is 0; it must be at least 1",
            ),
            (
                reg_clips(TimestampClips {
                    num_frames_per_clip: 0,
                    ..c()
                }),
                eight,
                SamplerError::ZeroCount {
                    name: "num_frames_per_clip",
                },
                "num_frames_per_clip is 0; it must be at least 1",
            ),
            (
                reg(RegularTimestampSampling::new(0.0)),
                eight,
                SamplerError::NotPositiveSeconds {
                    name: "seconds_between_clip_starts",
                    value: 0.0,
                },
                "seconds_between_clip_starts is 0; it must be a positive number of seconds",
            ),
            (
                reg(RegularTimestampSampling::new(f64::INFINITY)),
                eight,
                SamplerError::NotPositiveSeconds {
                    name: "seconds_between_clip_starts",
                    value: f64::INFINITY,
                },
                "seconds_between_clip_starts is inf; it must be a positive number of seconds",
            ),
            (
                rnd_clips(TimestampClips {
                    seconds_between_frames: Some(-0.5),
                    ..c()
                }),
                eight,
                SamplerError::NotPositiveSeconds {
                    name: "seconds_between_frames",
                    value: -0.5,
                },
                "seconds_between_frames is -0.5; it must be a positive number of seconds",
            ),
            (
                rnd_clips(TimestampClips {
                    sampling_range_end: Some(f64::INFINITY),
                    ..c()
                }),
                eight,
                SamplerError::NotFiniteSeconds {
                    name: "sampling_range_end",
                    value: f64::INFINITY,
                },
                "sampling_range_end is inf; it must be a finite number of seconds",
            ),
            (
                rnd_clips(TimestampClips {
                    sampling_range_start: Some(-1.0),
                    ..c()
                }),
                eight,
                SamplerError::StartOutsideStream {
                    start: -1.0,
                    begin: 0.0,
                    end: 2.0,
                },
                "sampling_range_start -1 s is outside the stream, [0, 2) s",
            ),
            (
                reg_clips(TimestampClips {
                    sampling_range_start: Some(2.0),
                    ..c()
                }),
                eight,
                SamplerError::StartOutsideStream {
                    start: 2.0,
                    begin: 0.0,
                    end: 2.0,
                },
                "sampling_range_start 2 s is outside the stream, [0, 2) s",
            ),
            (
                rnd_clips(TimestampClips {
                    sampling_range_end: Some(-1.0),
                    ..c()
                }),
                eight,
                SamplerError::EmptyTimeRange {
                    start: 0.0,
                    end: -1.0,
                    default_end: false,
                },
                "sampling range [0, -1) s is empty",
            ),
            (
                // Nine frames 0.25 s apart span the whole stream: no start leaves room.
                reg_clips(TimestampClips {
                    num_frames_per_clip: 9,
                    ..c()
                }),
                eight,
                SamplerError::EmptyTimeRange {
                    start: 0.0,
                    end: 0.0,
                    default_end: true,
                },
                "sampling range [0, 0) s is empty (sampling_range_end defaults to where clips \
                 stop fitting in the stream)",
            ),
            (
                reg_clips(TimestampClips {
                    num_frames_per_clip: 3,
                    sampling_range_start: Some(1.5),
                    sampling_range_end: Some(2.0),
                    policy: Policy::Error,
                    ..c()
                }),
                eight,
                SamplerError::ClipPastEndSeconds {
                    clip_start: 1.5,
                    end_stream_seconds: 2.0,
                },
                "clip at 1.5 s runs past the end (2 s) and policy is error",
            ),
            (
                reg(RegularTimestampSampling::new(1e-300)),
                eight,
                SamplerError::TooLarge {
                    num_clips: usize::MAX,
                    num_frames_per_clip: 1,
                },
                "18446744073709551615 clips × 1 frames per clip do not fit in memory",
            ),
        ];
        for (sampler, timeline, error, text) in cases {
            let e = sample(sampler.clone(), &timeline).unwrap_err();
            assert_eq!(e, error, "{sampler:?}");
            assert_eq!(e.to_string(), text);
        }
    }
}
