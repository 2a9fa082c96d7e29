//! Decoders kept between streams: the next stream takes the decoder at work, or one kept from
//! an earlier stream, instead of creating one (which costs far more than a short clip takes to
//! decode). A decoder is never reconfigured to a larger output size than it was created for
//! (see `cuvid::reusable`); a decoder made for a larger stream replaces the smaller ones of its
//! kind, so a dataset of clips of several sizes settles on one decoder per codec and format.

use std::sync::Mutex;

use cudapreproc_core::cuvid::{
    reusable, same_kind, supersedes, Decoder, DecoderConfig, DecoderLimits, Reuse,
};

/// Decoders an element holds at most, the one decoding included: each holds its surfaces
/// (about 45 MB for 1080p H.264, 5 MB for 360p), so the least recently used goes when a
/// seventh configuration comes.
pub(super) const MAX_DECODERS: usize = 6;

/// A decoder between streams, with the GPU it was made on.
struct Kept {
    device: i32,
    decoder: Decoder,
}

/// The kept decoders, least recently used first.
#[derive(Default)]
pub(super) struct KeptDecoders(Vec<Kept>);

impl KeptDecoders {
    /// Keeps `decoder` (made on `device`) for a later stream.
    pub(super) fn keep(&mut self, device: i32, decoder: Decoder) {
        self.0.push(Kept { device, decoder });
        self.trim();
    }

    /// The decoder for `wanted` on `device`: `current` (the decoder of the stream before) where
    /// it can take it, since every decoder switched to is one more the decode engines share
    /// out; else the kept decoder that gets there with the least work, `current` being kept.
    pub(super) fn exchange(
        &mut self,
        device: i32,
        current: Option<Decoder>,
        wanted: &DecoderConfig,
    ) -> Option<Decoder> {
        if let Some(decoder) = current {
            if work_to_reach(decoder.config(), decoder.limits(), wanted).is_some() {
                return Some(decoder);
            }
            self.0.push(Kept { device, decoder });
        }
        let candidates = self
            .0
            .iter()
            .map(|k| (k.device == device).then(|| (*k.decoder.config(), k.decoder.limits())));
        let taken = best_fit(candidates, wanted).map(|index| self.0.remove(index).decoder);
        // Trimmed only now, so that the decoder wanted is never the one dropped.
        self.trim();
        taken
    }

    /// Drops the kept decoders on `device` that `decoder`, just made, can stand in for.
    pub(super) fn drop_superseded(&mut self, device: i32, decoder: &Decoder) {
        let (new, new_limits) = (decoder.config(), decoder.limits());
        self.0.retain(|k| {
            k.device != device
                || !supersedes(new, new_limits, k.decoder.config(), k.decoder.limits())
        });
    }

    /// Drops the least recently used decoders past the bound (the one decoding counts too).
    fn trim(&mut self) {
        let excess = self.0.len().saturating_sub(MAX_DECODERS - 1);
        self.0.drain(..excess);
    }

    pub(super) fn clear(&mut self) {
        self.0.clear();
    }
}

/// The largest decoder made in this process for each device and kind of stream
/// ([`same_kind`]: codec, chroma format, bit depth, output format, deinterlacing, output
/// surfaces), for elements whose `decoder-size` is `largest`.
static LARGEST: Mutex<Vec<(i32, DecoderConfig)>> = Mutex::new(Vec::new());

/// `wanted` grown, side by side, to the largest decoder of its kind in `largest`: its coded
/// size, output size and decode surfaces. A decoder made for it is reconfigured down to
/// `wanted` and can later take every stream it has grown to.
fn grown(wanted: &DecoderConfig, largest: Option<&DecoderConfig>) -> DecoderConfig {
    let Some(largest) = largest else {
        return *wanted;
    };
    let max = |a: (u32, u32), b: (u32, u32)| (a.0.max(b.0), a.1.max(b.1));
    let coded = max(wanted.max_size(), largest.max_size());
    let output = max(wanted.output_size(), largest.output_size());
    DecoderConfig {
        coded_width: coded.0,
        coded_height: coded.1,
        display_area: (0, 0, output.0 as i32, output.1 as i32),
        surfaces: wanted.surfaces.max(largest.surfaces),
        max_coded_size: None,
        ..*wanted
    }
}

/// What a decoder for `wanted` on `device` is made for when decoders are made at the largest
/// size of their kind: `wanted` grown to it (see [`grown`]). The registry grows with `wanted`.
pub(super) fn largest_for(device: i32, wanted: &DecoderConfig) -> DecoderConfig {
    let mut largest = LARGEST.lock().unwrap();
    let index = largest
        .iter()
        .position(|(d, config)| *d == device && same_kind(config, wanted));
    let made_for = grown(wanted, index.map(|i| &largest[i].1));
    match index {
        Some(i) => largest[i].1 = made_for,
        None => largest.push((device, made_for)),
    }
    made_for
}

/// The surfaces a decoder of `limits` would be asked for: the parser's count may be below
/// what it was created with, which it keeps.
pub(super) fn with_surfaces_of(wanted: &DecoderConfig, limits: DecoderLimits) -> DecoderConfig {
    DecoderConfig {
        surfaces: wanted.surfaces.max(limits.surfaces),
        ..*wanted
    }
}

/// What a decoder decoding `config` within `limits` has to do to decode `wanted`: 0 nothing,
/// 1 a reconfiguration; `None` where it cannot.
fn work_to_reach(
    config: &DecoderConfig,
    limits: DecoderLimits,
    wanted: &DecoderConfig,
) -> Option<u8> {
    match reusable(config, limits, &with_surfaces_of(wanted, limits)) {
        Reuse::Same => Some(0),
        Reuse::Reconfigure => Some(1),
        Reuse::NewDecoder(_) => None,
    }
}

/// The candidate (`None`: not usable here) that decodes `wanted` as it is, else the one a
/// reconfiguration takes there; the most recently kept among equals.
fn best_fit(
    candidates: impl Iterator<Item = Option<(DecoderConfig, DecoderLimits)>>,
    wanted: &DecoderConfig,
) -> Option<usize> {
    candidates
        .enumerate()
        .filter_map(|(index, candidate)| {
            let (config, limits) = candidate?;
            let work = work_to_reach(&config, limits, wanted)?;
            Some((work, std::cmp::Reverse(index)))
        })
        .min()
        .map(|(_, std::cmp::Reverse(index))| index)
}

#[cfg(test)]
mod tests {
    use super::*;
    use cudapreproc_core::cuvid::{ChromaFormat, Codec, Deinterlace, SurfaceFormat};

    fn config(codec: Codec, width: u32, height: u32) -> DecoderConfig {
        DecoderConfig {
            codec,
            chroma: ChromaFormat::Yuv420,
            bit_depth: 8,
            coded_width: width,
            coded_height: height.next_multiple_of(16),
            display_area: (0, 0, width as i32, height as i32),
            surfaces: 10,
            output_surfaces: 4,
            output_format: SurfaceFormat::Nv12,
            deinterlace: Deinterlace::Weave,
            max_coded_size: None,
        }
    }

    fn kept(config: DecoderConfig) -> Option<(DecoderConfig, DecoderLimits)> {
        Some((config, DecoderLimits::of(&config)))
    }

    /// A decoder made at the largest size can be reconfigured down to every stream it grew
    /// from, and its growth stays within its kind (codec, format) and device.
    #[test]
    fn decoders_grow_to_the_largest_stream_of_their_kind() {
        let p360 = config(Codec::H264, 640, 360);
        let p1080 = config(Codec::H264, 1920, 1080);
        let portrait = config(Codec::H264, 720, 1280);
        assert_eq!(grown(&p360, None), p360, "nothing larger met yet");
        let both = grown(&p360, Some(&p1080));
        assert_eq!((both.coded_width, both.coded_height), (1920, 1088));
        assert_eq!(both.output_size(), (1920, 1080));
        let limits = DecoderLimits::of(&both);
        assert_eq!(
            reusable(&both, limits, &with_surfaces_of(&p360, limits)),
            Reuse::Reconfigure
        );
        assert_eq!(
            reusable(&both, limits, &with_surfaces_of(&p1080, limits)),
            Reuse::Same
        );
        let union = grown(&portrait, Some(&both));
        assert_eq!(union.output_size(), (1920, 1280), "each side the larger");
        let surfaces = grown(
            &DecoderConfig {
                surfaces: 14,
                ..p360
            },
            Some(&p1080),
        );
        assert_eq!(surfaces.surfaces, 14);

        // The process-wide record: per device and kind.
        let device = 9;
        assert_eq!(largest_for(device, &p1080), p1080);
        assert_eq!(largest_for(device, &p360).output_size(), (1920, 1080));
        assert_eq!(largest_for(device + 1, &p360), p360, "another GPU");
        let hevc = config(Codec::Hevc, 640, 360);
        assert_eq!(largest_for(device, &hevc), hevc, "another codec");
    }

    #[test]
    fn the_decoder_of_the_same_size_and_codec_is_taken() {
        let p360 = config(Codec::H264, 640, 360);
        let p720 = config(Codec::H264, 1280, 720);
        let hevc720 = config(Codec::Hevc, 1280, 720);
        let pool = || [kept(p360), kept(hevc720), kept(p720)].into_iter();
        assert_eq!(best_fit(pool(), &p720), Some(2));
        assert_eq!(best_fit(pool(), &p360), Some(0));
        assert_eq!(best_fit(pool(), &hevc720), Some(1));
        // No size or codec met before: a new decoder.
        assert_eq!(best_fit(pool(), &config(Codec::H264, 1920, 1080)), None);
        assert_eq!(best_fit(pool(), &config(Codec::Vp9, 640, 360)), None);
        // Other GPUs' decoders are never taken.
        assert_eq!(best_fit([None, None].into_iter(), &p360), None);
    }

    #[test]
    fn decoding_as_it_is_wins_over_reconfiguring_and_the_latest_over_older() {
        // `best_fit` over decoders kept in this order, all on this GPU.
        let fit = |pool: &[DecoderConfig], wanted| best_fit(pool.iter().map(|c| kept(*c)), wanted);
        let p360 = config(Codec::H264, 640, 360);
        // Same output size, another coded size: a reconfiguration.
        let cropped = DecoderConfig {
            coded_height: 384,
            ..p360
        };
        assert_eq!(fit(&[cropped, p360], &p360), Some(1));
        assert_eq!(fit(&[p360, cropped], &p360), Some(0));
        assert_eq!(fit(&[cropped], &p360), Some(0));
        assert_eq!(fit(&[p360, p360], &p360), Some(1));
        // Fewer surfaces than a decoder was made with decode on it as it is.
        let fewer = DecoderConfig {
            surfaces: 6,
            ..p360
        };
        assert_eq!(fit(&[cropped, p360], &fewer), Some(1));
    }
}
