//! HEVC pictures that cannot be decoded where decoding starts: the random access skipped leading
//! (RASL) pictures of the CRA picture a stream or a seek starts at refer to pictures before it,
//! which were never decoded. HEVC says to drop them (they are never output), as libavcodec does.
//! NVCUVID's parser decodes them regardless, from missing references, and then hands the CRA
//! picture to display with one of their timestamps, so the CRA's own frame went missing after a
//! seek. They are dropped before the parser sees them.

/// What an HEVC access unit (byte-stream, one picture) holds, for [`LeadingPictures`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Picture {
    /// A random access skipped leading picture (NAL unit types RASL_N, RASL_R).
    SkippedLeading,
    /// Any other picture.
    Other,
    /// No slice: parameter sets, SEI, end of sequence.
    NoSlice,
}

/// The NAL unit types of the slices of HEVC access unit `data` (Annex B byte stream).
fn picture_of(data: &[u8]) -> Picture {
    const RASL_N: u8 = 8;
    const RASL_R: u8 = 9;
    /// VCL NAL unit types (slices) are 0 to 31.
    const LAST_VCL: u8 = 31;
    let mut kind = Picture::NoSlice;
    let mut i = 0;
    while i + 3 < data.len() {
        if data[i] == 0 && data[i + 1] == 0 && data[i + 2] == 1 {
            let nal_type = (data[i + 3] >> 1) & 0x3f;
            match nal_type {
                RASL_N | RASL_R => return Picture::SkippedLeading,
                0..=LAST_VCL => kind = Picture::Other,
                _ => {}
            }
            i += 3;
        } else {
            i += 1;
        }
    }
    kind
}

/// Where an HEVC stream is, from where decoding starts (its start, or a seek).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Position {
    /// No picture yet: the next is the random access point decoding starts at.
    Start,
    /// Past the random access point: its leading pictures cannot be decoded.
    AtRandomAccess,
    /// Past a picture that follows the random access point in output order: every picture
    /// can be decoded.
    Decoding,
}

/// Drops the leading pictures of the random access point decoding starts at.
#[derive(Debug)]
pub(super) struct LeadingPictures {
    position: Position,
}

impl LeadingPictures {
    /// Decoding starts (a new stream or a flush).
    pub(super) fn start() -> LeadingPictures {
        LeadingPictures {
            position: Position::Start,
        }
    }

    /// Whether access unit `data` is a leading picture that cannot be decoded here.
    pub(super) fn undecodable(&mut self, data: &[u8]) -> bool {
        match (picture_of(data), self.position) {
            (Picture::SkippedLeading, Position::AtRandomAccess) => true,
            (Picture::SkippedLeading | Picture::Other, Position::Start) => {
                self.position = Position::AtRandomAccess;
                false
            }
            (Picture::Other, Position::AtRandomAccess) => {
                self.position = Position::Decoding;
                false
            }
            _ => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An access unit of NAL units of `types`, each behind a 4-byte start code.
    fn access_unit(types: &[u8]) -> Vec<u8> {
        types
            .iter()
            .flat_map(|&t| [0, 0, 0, 1, t << 1, 1, 0xaf, 0x00, 0x00, 0x03, 0x01])
            .collect()
    }

    const VPS: u8 = 32;
    const SPS: u8 = 33;
    const PPS: u8 = 34;
    const CRA: u8 = 21;
    const IDR_W_RADL: u8 = 19;
    const RASL_N: u8 = 8;
    const RASL_R: u8 = 9;
    const TRAIL_R: u8 = 1;
    const TRAIL_N: u8 = 0;

    #[test]
    fn nal_types_are_read_behind_three_and_four_byte_start_codes() {
        assert_eq!(picture_of(&access_unit(&[VPS, SPS, PPS])), Picture::NoSlice);
        assert_eq!(
            picture_of(&access_unit(&[VPS, SPS, PPS, CRA])),
            Picture::Other
        );
        assert_eq!(picture_of(&access_unit(&[RASL_R])), Picture::SkippedLeading);
        assert_eq!(
            picture_of(&[0, 0, 1, RASL_N << 1, 1]),
            Picture::SkippedLeading
        );
        assert_eq!(picture_of(&[]), Picture::NoSlice);
    }

    #[test]
    fn leading_pictures_are_dropped_only_at_the_start() {
        let mut leading = LeadingPictures::start();
        assert!(!leading.undecodable(&access_unit(&[VPS, SPS, PPS, CRA])));
        assert!(leading.undecodable(&access_unit(&[RASL_R])));
        assert!(leading.undecodable(&access_unit(&[RASL_N])));
        assert!(!leading.undecodable(&access_unit(&[TRAIL_R])));
        // The next CRA's leading pictures refer to pictures that were decoded.
        assert!(!leading.undecodable(&access_unit(&[CRA])));
        assert!(!leading.undecodable(&access_unit(&[RASL_N])));
        assert!(!leading.undecodable(&access_unit(&[TRAIL_N])));
    }

    #[test]
    fn a_stream_starting_at_an_idr_picture_keeps_everything() {
        let mut leading = LeadingPictures::start();
        for types in [&[VPS, SPS, PPS, IDR_W_RADL][..], &[TRAIL_R], &[TRAIL_N]] {
            assert!(!leading.undecodable(&access_unit(types)));
        }
    }
}
