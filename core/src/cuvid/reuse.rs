//! Reusing a decoder for the next stream instead of creating one (about 250 ms each, where a
//! dataset reader opens thousands of short files): which configurations
//! `cuvidReconfigureDecoder` can take a decoder to.

use std::fmt;

use super::DecoderConfig;

/// What a decoder was created with, which reconfiguring it cannot go beyond.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DecoderLimits {
    /// The largest coded size (the creation's `ulMaxWidth` x `ulMaxHeight`).
    pub max_coded_size: (u32, u32),
    /// The decode surfaces the decoder was created with.
    pub surfaces: u32,
    /// The output size it was created for, which its output surfaces keep.
    pub output_size: (u32, u32),
}

impl DecoderLimits {
    /// The limits of a decoder created with `config`.
    pub fn of(config: &DecoderConfig) -> Self {
        DecoderLimits {
            max_coded_size: config.max_size(),
            surfaces: config.surfaces,
            output_size: config.output_size(),
        }
    }

    /// Whether a decoder of these limits can take every configuration one of `other` can.
    fn covers(&self, other: &DecoderLimits) -> bool {
        fits(other.max_coded_size, self.max_coded_size)
            && fits(other.output_size, self.output_size)
            && other.surfaces <= self.surfaces
    }
}

/// Whether a `size` (width, height) fits within `limit` on both sides.
fn fits(size: (u32, u32), limit: (u32, u32)) -> bool {
    size.0 <= limit.0 && size.1 <= limit.1
}

/// Whether a decoder can decode a configuration, and how.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reuse {
    /// It decodes it already: nothing the driver sees changes.
    Same,
    /// `cuvidReconfigureDecoder` takes it there: a new coded size, display area or number of
    /// decode surfaces.
    Reconfigure,
    /// Only a new decoder can decode it.
    NewDecoder(NewDecoderReason),
}

/// Why a configuration needs a new decoder.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NewDecoderReason {
    Codec,
    ChromaFormat,
    BitDepth,
    OutputFormat,
    Deinterlace,
    OutputSurfaces,
    /// The coded size exceeds the decoder's maximum.
    CodedSize {
        wanted: (u32, u32),
        max: (u32, u32),
    },
    /// More decode surfaces than the decoder was created with.
    DecodeSurfaces {
        wanted: u32,
        created: u32,
    },
    /// An output (display) size larger than the decoder was created for.
    OutputSize {
        wanted: (u32, u32),
        created: (u32, u32),
    },
    /// The driver predates `cuvidReconfigureDecoder` (Video Codec SDK 9.0).
    NoReconfigure,
}

impl fmt::Display for NewDecoderReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NewDecoderReason::Codec => f.write_str("another codec"),
            NewDecoderReason::ChromaFormat => f.write_str("another chroma format"),
            NewDecoderReason::BitDepth => f.write_str("another bit depth"),
            NewDecoderReason::OutputFormat => f.write_str("another output surface format"),
            NewDecoderReason::Deinterlace => f.write_str("another deinterlacing mode"),
            NewDecoderReason::OutputSurfaces => f.write_str("another number of output surfaces"),
            NewDecoderReason::CodedSize { wanted, max } => write!(
                f,
                "coded size {}x{} above the decoder's maximum {}x{}",
                wanted.0, wanted.1, max.0, max.1
            ),
            NewDecoderReason::DecodeSurfaces { wanted, created } => write!(
                f,
                "{wanted} decode surfaces, more than the {created} the decoder was created with"
            ),
            NewDecoderReason::OutputSize { wanted, created } => write!(
                f,
                "output size {}x{}, larger than the {}x{} the decoder was created for",
                wanted.0, wanted.1, created.0, created.1
            ),
            NewDecoderReason::NoReconfigure => {
                f.write_str("the driver cannot reconfigure decoders (before Video Codec SDK 9.0)")
            }
        }
    }
}

/// What a decoder created for `current` can never be reconfigured away from, where `wanted`
/// differs: what `CUVIDRECONFIGUREDECODERINFO` has no field for is fixed at creation.
fn fixed_difference(current: &DecoderConfig, wanted: &DecoderConfig) -> Option<NewDecoderReason> {
    use NewDecoderReason as Why;
    let fixed = [
        // The decode engine is set up for one codec, as is the parser feeding it.
        (current.codec != wanted.codec, Why::Codec),
        // The decode surfaces are allocated in the layout of one chroma format...
        (current.chroma != wanted.chroma, Why::ChromaFormat),
        // ...and with one sample size (8 bits, 16 for 10 and 12); the SDK's sample decoder
        // refuses to reconfigure across either.
        (current.bit_depth != wanted.bit_depth, Why::BitDepth),
        // The output surfaces that post-processing writes are allocated in one format.
        (
            current.output_format != wanted.output_format,
            Why::OutputFormat,
        ),
        // The post-processing mode is chosen at creation (adaptive keeps past fields).
        (current.deinterlace != wanted.deinterlace, Why::Deinterlace),
        // How many pictures may be mapped at once: callers size their queues by it.
        (
            current.output_surfaces != wanted.output_surfaces,
            Why::OutputSurfaces,
        ),
    ];
    fixed
        .into_iter()
        .find_map(|(differs, why)| differs.then_some(why))
}

/// Whether a decoder made for `a` and one made for `b` differ only in what reconfiguring
/// changes (sizes, display area, decode surfaces): one could take the other's streams given
/// room enough.
pub fn same_kind(a: &DecoderConfig, b: &DecoderConfig) -> bool {
    fixed_difference(a, b).is_none()
}

/// Whether a decoder created for `new` (within `new_limits`) can decode every configuration a
/// decoder created for `old` (within `old_limits`) can, so that keeping the old one is of no
/// use.
pub fn supersedes(
    new: &DecoderConfig,
    new_limits: DecoderLimits,
    old: &DecoderConfig,
    old_limits: DecoderLimits,
) -> bool {
    same_kind(old, new) && new_limits.covers(&old_limits)
}

/// Whether a decoder decoding `current`, created within `limits`, can decode `wanted`.
///
/// `wanted.max_coded_size` does not enter: it is the room a new decoder would be created with,
/// while the room this one has is `limits`.
pub fn reusable(current: &DecoderConfig, limits: DecoderLimits, wanted: &DecoderConfig) -> Reuse {
    use NewDecoderReason as Why;
    if let Some(why) = fixed_difference(current, wanted) {
        return Reuse::NewDecoder(why);
    }
    // The output surfaces keep the size the decoder was created for. On an H100 (driver 580),
    // decoders reconfigured to a larger output size mapped pictures in those smaller surfaces:
    // copies out of them read other memory, or failed where other decoders were at work. A
    // smaller picture fits them.
    let wanted_size = wanted.output_size();
    if !fits(wanted_size, limits.output_size) {
        return Reuse::NewDecoder(Why::OutputSize {
            wanted: wanted_size,
            created: limits.output_size,
        });
    }
    // The header's rule: the coded size "MUST be <= ulMaxWidth/ulMaxHeight" of the creation,
    // the size the decode surfaces were allocated for.
    let wanted_coded = (wanted.coded_width, wanted.coded_height);
    if !fits(wanted_coded, limits.max_coded_size) {
        return Reuse::NewDecoder(Why::CodedSize {
            wanted: wanted_coded,
            max: limits.max_coded_size,
        });
    }
    // The decode surfaces were allocated at creation: a reconfiguration may use fewer of them,
    // not more.
    if wanted.surfaces > limits.surfaces {
        return Reuse::NewDecoder(Why::DecodeSurfaces {
            wanted: wanted.surfaces,
            created: limits.surfaces,
        });
    }
    let reconfigured =
        |c: &DecoderConfig| (c.coded_width, c.coded_height, c.display_area, c.surfaces);
    if reconfigured(current) == reconfigured(wanted) {
        Reuse::Same
    } else {
        Reuse::Reconfigure
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cuvid::{ChromaFormat, Codec, Deinterlace, SurfaceFormat};

    fn config_360p() -> DecoderConfig {
        DecoderConfig {
            codec: Codec::H264,
            chroma: ChromaFormat::Yuv420,
            bit_depth: 8,
            coded_width: 640,
            coded_height: 368,
            display_area: (0, 0, 640, 360),
            surfaces: 12,
            output_surfaces: 4,
            output_format: SurfaceFormat::Nv12,
            deinterlace: Deinterlace::Weave,
            max_coded_size: Some((1920, 1088)),
        }
    }

    #[test]
    fn limits_are_the_creations() {
        let created = config_360p();
        assert_eq!(
            DecoderLimits::of(&created),
            DecoderLimits {
                max_coded_size: (1920, 1088),
                surfaces: 12,
                output_size: (640, 360),
            }
        );
        // Without room, or with less than the coded size, the maximum is the coded size.
        for max_coded_size in [None, Some((320, 1080))] {
            let created = DecoderConfig {
                max_coded_size,
                ..created
            };
            let expected = if max_coded_size.is_some() { 1080 } else { 368 };
            assert_eq!(DecoderLimits::of(&created).max_coded_size, (640, expected));
        }
    }

    #[test]
    fn each_reuse_rule_can_refuse() {
        use NewDecoderReason as Why;
        let current = config_360p();
        let limits = DecoderLimits::of(&current);
        let reuse = |wanted: DecoderConfig| reusable(&current, limits, &wanted);

        assert_eq!(reuse(current), Reuse::Same);
        // The room a new decoder would get does not matter.
        assert_eq!(
            reuse(DecoderConfig {
                max_coded_size: None,
                ..current
            }),
            Reuse::Same
        );

        let fixed = [
            (
                DecoderConfig {
                    codec: Codec::Hevc,
                    ..current
                },
                Why::Codec,
            ),
            (
                DecoderConfig {
                    chroma: ChromaFormat::Yuv444,
                    ..current
                },
                Why::ChromaFormat,
            ),
            (
                DecoderConfig {
                    bit_depth: 10,
                    ..current
                },
                Why::BitDepth,
            ),
            (
                DecoderConfig {
                    output_format: SurfaceFormat::P016,
                    ..current
                },
                Why::OutputFormat,
            ),
            (
                DecoderConfig {
                    deinterlace: Deinterlace::Adaptive,
                    ..current
                },
                Why::Deinterlace,
            ),
            (
                DecoderConfig {
                    output_surfaces: 2,
                    ..current
                },
                Why::OutputSurfaces,
            ),
        ];
        for (wanted, why) in fixed {
            assert_eq!(reuse(wanted), Reuse::NewDecoder(why), "{wanted:?}");
        }

        // Any coded size up to the maximum, either side, reconfigures where the output size
        // stays; one past it does not.
        let coded = |coded_width, coded_height| DecoderConfig {
            coded_width,
            coded_height,
            ..current
        };
        for (w, h) in [(1920, 1088), (640, 360), (1920, 368), (640, 1088)] {
            assert_eq!(reuse(coded(w, h)), Reuse::Reconfigure, "{w}x{h}");
        }
        for (w, h) in [(1921, 1088), (1920, 1089), (3840, 2160)] {
            let why = Why::CodedSize {
                wanted: (w, h),
                max: (1920, 1088),
            };
            assert_eq!(reuse(coded(w, h)), Reuse::NewDecoder(why), "{w}x{h}");
        }
        // A larger output size than created for takes another decoder, within the maximum
        // coded size or not; a smaller one reconfigures, and so does going back up to the
        // created size.
        let sized = |coded_width, coded_height| DecoderConfig {
            coded_width,
            coded_height,
            display_area: (0, 0, coded_width as i32, coded_height as i32),
            ..current
        };
        for (w, h) in [(1920, 1088), (641, 360), (640, 361), (3840, 2160)] {
            let why = Why::OutputSize {
                wanted: (w, h),
                created: (640, 360),
            };
            assert_eq!(reuse(sized(w, h)), Reuse::NewDecoder(why), "{w}x{h}");
        }
        assert_eq!(reuse(sized(320, 240)), Reuse::Reconfigure);
        assert_eq!(
            reusable(&sized(320, 240), limits, &current),
            Reuse::Reconfigure
        );

        // The display area alone reconfigures where its size stays (post-processing crops to
        // it).
        assert_eq!(
            reuse(DecoderConfig {
                display_area: (0, 8, 640, 368),
                ..current
            }),
            Reuse::Reconfigure
        );

        // Decode surfaces: fewer or as many as created, not more.
        let surfaces = |surfaces| DecoderConfig {
            surfaces,
            ..current
        };
        assert_eq!(reuse(surfaces(4)), Reuse::Reconfigure);
        assert_eq!(
            reuse(surfaces(13)),
            Reuse::NewDecoder(Why::DecodeSurfaces {
                wanted: 13,
                created: 12
            })
        );
        // The limit is the creation's, not the current count: after reconfiguring to fewer
        // surfaces, going back up to the created number is still a reconfiguration.
        let fewer = surfaces(4);
        assert_eq!(reusable(&fewer, limits, &surfaces(12)), Reuse::Reconfigure);
        assert_eq!(
            reusable(&fewer, limits, &surfaces(13)),
            Reuse::NewDecoder(Why::DecodeSurfaces {
                wanted: 13,
                created: 12
            })
        );
    }

    #[test]
    fn reasons_say_what_differs() {
        for (why, said) in [
            (
                NewDecoderReason::CodedSize {
                    wanted: (3840, 2160),
                    max: (1920, 1088),
                },
                "coded size 3840x2160 above the decoder's maximum 1920x1088",
            ),
            (
                NewDecoderReason::DecodeSurfaces {
                    wanted: 20,
                    created: 8,
                },
                "20 decode surfaces, more than the 8 the decoder was created with",
            ),
            (
                NewDecoderReason::OutputSize {
                    wanted: (1280, 720),
                    created: (640, 360),
                },
                "output size 1280x720, larger than the 640x360 the decoder was created for",
            ),
        ] {
            assert_eq!(why.to_string(), said);
        }
    }

    #[test]
    fn a_larger_decoder_supersedes_a_smaller_one_of_its_kind() {
        let small = config_360p();
        let large = DecoderConfig {
            coded_width: 1920,
            coded_height: 1088,
            display_area: (0, 0, 1920, 1080),
            max_coded_size: None,
            ..small
        };
        let (small_limits, large_limits) = (DecoderLimits::of(&small), DecoderLimits::of(&large));
        assert!(supersedes(&large, large_limits, &small, small_limits));
        assert!(!supersedes(&small, small_limits, &large, large_limits));
        // Not across codecs, nor past the other's surfaces.
        let unlike = [
            DecoderConfig {
                codec: Codec::Hevc,
                ..large
            },
            DecoderConfig {
                surfaces: 8,
                ..large
            },
        ];
        for other in unlike {
            let limits = DecoderLimits::of(&other);
            assert!(
                !supersedes(&other, limits, &small, small_limits),
                "{other:?}"
            );
        }
    }
}
