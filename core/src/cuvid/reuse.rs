//! Reusing a decoder for the next stream instead of creating one (about 250 ms each, where a
//! dataset reader opens thousands of short files): which configurations
//! `cuvidReconfigureDecoder` can take a decoder to, and how much room to create one with so
//! that it can.

use std::fmt;

use super::{DecoderCaps, DecoderConfig};

/// What a decoder was created with, which reconfiguring it cannot go beyond.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DecoderLimits {
    /// The largest coded size (the creation's `ulMaxWidth` x `ulMaxHeight`).
    pub max_coded_size: (u32, u32),
    /// The decode surfaces the decoder was created with.
    pub surfaces: u32,
}

impl DecoderLimits {
    /// The limits of a decoder created with `config`.
    pub fn of(config: &DecoderConfig) -> Self {
        DecoderLimits {
            max_coded_size: config.max_size(),
            surfaces: config.surfaces,
        }
    }
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
    /// Another output (display) size.
    OutputSize {
        wanted: (u32, u32),
        current: (u32, u32),
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
            NewDecoderReason::OutputSize { wanted, current } => write!(
                f,
                "output size {}x{}, not the decoder's {}x{}",
                wanted.0, wanted.1, current.0, current.1
            ),
            NewDecoderReason::NoReconfigure => {
                f.write_str("the driver cannot reconfigure decoders (before Video Codec SDK 9.0)")
            }
        }
    }
}

/// Whether a decoder decoding `current`, created within `limits`, can decode `wanted`.
///
/// `wanted.max_coded_size` does not enter: it is the room a new decoder would be created with,
/// while the room this one has is `limits`.
pub fn reusable(current: &DecoderConfig, limits: DecoderLimits, wanted: &DecoderConfig) -> Reuse {
    use NewDecoderReason as Why;
    // What `CUVIDRECONFIGUREDECODERINFO` has no field for is fixed at creation.
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
    if let Some((_, why)) = fixed.into_iter().find(|(differs, _)| *differs) {
        return Reuse::NewDecoder(why);
    }
    // The output surfaces keep their size. On an H100 (driver 580), decoders reconfigured to
    // another output size while other decoders of the process were decoding mapped pictures
    // in memory too small for them (or another decoder's), and copies out of them failed;
    // the same decoders alone did not. Decoders of each size are kept instead (nvdec).
    let (current_size, wanted_size) = (current.output_size(), wanted.output_size());
    if current_size != wanted_size {
        return Reuse::NewDecoder(Why::OutputSize {
            wanted: wanted_size,
            current: current_size,
        });
    }
    // The header's rule: the coded size "MUST be <= ulMaxWidth/ulMaxHeight" of the creation,
    // the size the decode surfaces were allocated for.
    let (width, height) = limits.max_coded_size;
    if wanted.coded_width > width || wanted.coded_height > height {
        return Reuse::NewDecoder(Why::CodedSize {
            wanted: (wanted.coded_width, wanted.coded_height),
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

/// The smallest maximum [`headroom`] gives: 1080p in whole 16-pixel macroblocks.
pub const HEADROOM: (u32, u32) = (1920, 1088);

/// The maximum coded size (`DecoderConfig::max_coded_size`) to create a decoder for a stream of
/// `coded` size with, so that the next streams of a dataset of 360p to 1080p clips reuse it:
/// at least [`HEADROOM`] and at least `coded`, each side within the GPU's maximum; `coded`
/// where the GPU cannot decode that size (too many macroblocks).
///
/// Portrait 1080p (1088x1920) does not fit 1920x1088: its first stream creates a new decoder,
/// whose headroom then covers both orientations.
///
/// The cost is memory, held as long as the decoder lives: its decode surfaces are allocated for
/// the maximum size. A surface of 8-bit 4:2:0 at 1920x1088 takes 3.1 MB (6.3 MB at 10 or 12
/// bits, or in 8-bit 4:4:4) where one at 640x368 (360p) takes 0.35 MB: with 8 to 20 decode
/// surfaces, a 360p stream holds 25 to 63 MB instead of 3 to 7 MB,
/// plus the driver's per-surface side buffers, which grow with the size too.
pub fn headroom(coded: (u32, u32), caps: &DecoderCaps) -> (u32, u32) {
    let side = |coded: u32, room: u32, gpu_max: u32| coded.max(room.min(gpu_max));
    let room = (
        side(coded.0, HEADROOM.0, caps.max_width),
        side(coded.1, HEADROOM.1, caps.max_height),
    );
    match caps.size_problem(room.0, room.1) {
        None => room,
        Some(_) => coded,
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
            max_coded_size: Some(HEADROOM),
        }
    }

    #[test]
    fn limits_are_the_creations() {
        let created = config_360p();
        assert_eq!(
            DecoderLimits::of(&created),
            DecoderLimits {
                max_coded_size: (1920, 1088),
                surfaces: 12
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
            assert_eq!(
                reuse(coded(w, h)),
                Reuse::NewDecoder(Why::CodedSize {
                    wanted: (w, h),
                    max: (1920, 1088)
                }),
                "{w}x{h}"
            );
        }

        // Another output size takes another decoder, within the maximum or not.
        let sized = |coded_width, coded_height| DecoderConfig {
            coded_width,
            coded_height,
            display_area: (0, 0, coded_width as i32, coded_height as i32),
            ..current
        };
        for (w, h) in [(1920, 1088), (320, 240), (3840, 2160)] {
            assert_eq!(
                reuse(sized(w, h)),
                Reuse::NewDecoder(Why::OutputSize {
                    wanted: (w, h),
                    current: (640, 360)
                }),
                "{w}x{h}"
            );
        }

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
        let why = NewDecoderReason::CodedSize {
            wanted: (3840, 2160),
            max: (1920, 1088),
        };
        assert_eq!(
            why.to_string(),
            "coded size 3840x2160 above the decoder's maximum 1920x1088"
        );
        let why = NewDecoderReason::DecodeSurfaces {
            wanted: 20,
            created: 8,
        };
        assert_eq!(
            why.to_string(),
            "20 decode surfaces, more than the 8 the decoder was created with"
        );
        let why = NewDecoderReason::OutputSize {
            wanted: (1280, 720),
            current: (640, 360),
        };
        assert_eq!(
            why.to_string(),
            "output size 1280x720, not the decoder's 640x360"
        );
    }

    #[test]
    fn headroom_covers_1080p_within_the_gpu() {
        let caps = DecoderCaps {
            supported: true,
            engines: 1,
            min_width: 48,
            min_height: 16,
            max_width: 4096,
            max_height: 4096,
            max_macroblocks: 65536,
            output_formats: 1,
        };
        // Smaller streams get 1080p room; larger ones their own size; each side on its own.
        assert_eq!(headroom((640, 368), &caps), (1920, 1088));
        assert_eq!(headroom((1920, 1088), &caps), (1920, 1088));
        assert_eq!(headroom((3840, 2160), &caps), (3840, 2160));
        assert_eq!(headroom((1088, 1920), &caps), (1920, 1920));
        assert_eq!(headroom((4096, 240), &caps), (4096, 1088));
        // The GPU's maximum caps each side, but never below the stream's own size.
        let small = DecoderCaps {
            max_width: 1280,
            max_height: 720,
            max_macroblocks: 3600,
            ..caps
        };
        assert_eq!(headroom((640, 368), &small), (1280, 720));
        assert_eq!(headroom((1920, 1088), &small), (1920, 1088));
        // Room the GPU cannot decode (too many macroblocks together) falls back to the
        // stream's size.
        let few_macroblocks = DecoderCaps {
            max_macroblocks: 4096,
            ..caps
        };
        assert_eq!(headroom((640, 368), &few_macroblocks), (640, 368));
        // A headroom is a maximum a decoder for the stream accepts.
        for coded in [(640, 368), (1920, 1088), (3840, 2160), (1088, 1920)] {
            let max_coded_size = headroom(coded, &caps);
            let config = DecoderConfig {
                coded_width: coded.0,
                coded_height: coded.1,
                max_coded_size: Some(max_coded_size),
                ..config_360p()
            };
            assert_eq!(DecoderLimits::of(&config).max_coded_size, max_coded_size);
        }
    }
}
