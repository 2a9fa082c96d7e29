//! Which stretches of a video to decode for a set of wanted frames: each stretch starts at a key
//! frame (where a seek lands) and decodes on through its wanted frames.

/// Frames a seek costs, as frames decoded: flushing the pipeline and the decoder's display
/// queue, and refilling it. Decoding on through a gap shorter than this beats seeking past it.
pub(super) const SEEK_COST_FRAMES: usize = 8;

/// One stretch of decoding: from key frame `keyframe` on, up to the last of `frames` (sorted).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct Stretch {
    pub(super) keyframe: usize,
    pub(super) frames: Vec<usize>,
}

/// The stretches that decode `wanted` (sorted, without repeats): a new stretch starts where the
/// key frame a wanted frame decodes from lies more than [`SEEK_COST_FRAMES`] past the previous
/// wanted frame, so the frames in between are skipped by a seek instead of decoded.
/// `keyframe_for(i)` is the key frame decoding must start at to reach frame `i`.
pub(super) fn stretches(wanted: &[usize], keyframe_for: impl Fn(usize) -> usize) -> Vec<Stretch> {
    let mut plan: Vec<Stretch> = Vec::new();
    for &frame in wanted {
        let keyframe = keyframe_for(frame);
        match plan.last_mut() {
            Some(stretch)
                if keyframe <= stretch.frames.last().copied().unwrap_or(0) + SEEK_COST_FRAMES =>
            {
                stretch.frames.push(frame)
            }
            _ => plan.push(Stretch {
                keyframe,
                frames: vec![frame],
            }),
        }
    }
    plan
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Key frames every `gop` frames.
    fn every(gop: usize) -> impl Fn(usize) -> usize {
        move |i| i / gop * gop
    }

    #[test]
    fn frames_within_reach_are_decoded_on() {
        assert_eq!(
            stretches(&[0, 5, 10, 95], every(30)),
            vec![
                Stretch {
                    keyframe: 0,
                    frames: vec![0, 5, 10]
                },
                Stretch {
                    keyframe: 90,
                    frames: vec![95]
                }
            ]
        );
        // A long GOP: everything from its key frame.
        assert_eq!(
            stretches(&[3, 120, 240], every(250)),
            vec![Stretch {
                keyframe: 0,
                frames: vec![3, 120, 240]
            }]
        );
    }

    #[test]
    fn a_key_frame_just_past_the_last_wanted_frame_is_not_worth_a_seek() {
        // Key frame 30 lies 8 frames past frame 22: decoding on costs no more than seeking.
        let plan = stretches(&[22, 31], every(30));
        assert_eq!(plan.len(), 1);
        let plan = stretches(&[21, 31], every(30));
        assert_eq!(plan.len(), 2);
        assert_eq!(plan[1].keyframe, 30);
    }

    #[test]
    fn nothing_wanted_decodes_nothing() {
        assert!(stretches(&[], every(30)).is_empty());
    }
}
