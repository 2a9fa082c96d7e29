//! What a sequence header announces, and what it means for the decoder's output: its surface
//! and video formats, frame rate, pixel aspect ratio and colorimetry.

use super::{ffi, ChromaFormat, SurfaceFormat};

/// What a sequence header announced.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SequenceInfo {
    pub coded_width: u32,
    pub coded_height: u32,
    /// Visible rectangle: left, top, right, bottom (exclusive).
    pub display_area: (i32, i32, i32, i32),
    pub bit_depth: u32,
    pub chroma: ChromaFormat,
    /// Fewest decode surfaces the stream needs.
    pub min_surfaces: u32,
    pub progressive: bool,
    /// (numerator, denominator); 0 when unknown.
    pub frame_rate: (u32, u32),
    /// Display aspect ratio (x, y); 0 when unknown.
    pub aspect_ratio: (i32, i32),
    pub full_range: bool,
    /// ISO/IEC 23091-4 (H.273) codes.
    pub color_primaries: u8,
    pub transfer_characteristics: u8,
    pub matrix_coefficients: u8,
}

impl SequenceInfo {
    pub(crate) fn from_raw(f: &ffi::CUVIDEOFORMAT) -> Self {
        SequenceInfo {
            coded_width: f.coded_width,
            coded_height: f.coded_height,
            display_area: (
                f.display_area.left,
                f.display_area.top,
                f.display_area.right,
                f.display_area.bottom,
            ),
            bit_depth: u32::from(f.bit_depth_luma_minus8) + 8,
            chroma: ChromaFormat::from_raw(f.chroma_format),
            min_surfaces: u32::from(f.min_num_decode_surfaces),
            progressive: f.progressive_sequence != 0,
            frame_rate: (f.frame_rate_numerator, f.frame_rate_denominator),
            aspect_ratio: (f.display_aspect_ratio_x, f.display_aspect_ratio_y),
            full_range: f.video_signal_flags & 0x08 != 0,
            color_primaries: f.color_primaries,
            transfer_characteristics: f.transfer_characteristics,
            matrix_coefficients: f.matrix_coefficients,
        }
    }

    /// Width and height of the visible picture (0 for an inverted rectangle).
    pub fn display_size(&self) -> (u32, u32) {
        extent(self.display_area)
    }
}

/// Width and height of the rectangle `(left, top, right, bottom)`, right and bottom exclusive,
/// 0 when inverted. In 64 bits: the rectangle comes from the bitstream, and `right - left`
/// overflows an i32 (or wraps to a huge u32 when negative).
pub(crate) fn extent((l, t, r, b): (i32, i32, i32, i32)) -> (u32, u32) {
    let side = |from: i32, to: i32| (i64::from(to) - i64::from(from)).max(0) as u32;
    (side(l, r), side(t, b))
}

impl SequenceInfo {
    /// The surface format and GStreamer format the decoder outputs for this sequence.
    pub fn output_formats(&self) -> Option<(SurfaceFormat, gst_video::VideoFormat)> {
        use gst_video::VideoFormat as F;
        match (self.chroma, self.bit_depth) {
            (ChromaFormat::Monochrome | ChromaFormat::Yuv420, 8) => {
                Some((SurfaceFormat::Nv12, F::Nv12))
            }
            (ChromaFormat::Monochrome | ChromaFormat::Yuv420, 10) => {
                Some((SurfaceFormat::P016, F::P01010le))
            }
            (ChromaFormat::Monochrome | ChromaFormat::Yuv420, 12) => {
                Some((SurfaceFormat::P016, F::P016Le))
            }
            (ChromaFormat::Yuv444, 8) => Some((SurfaceFormat::Yuv444, F::Y444)),
            (ChromaFormat::Yuv444, 10 | 12) => Some((SurfaceFormat::Yuv444_16, F::Y44416le)),
            _ => None,
        }
    }

    /// The frame rate the header announces; 0/1 when unknown.
    pub fn fps(&self) -> gst::Fraction {
        match self.frame_rate {
            (n, d) if n > 0 && d > 0 => fraction(n.into(), d.into()),
            _ => None,
        }
        .unwrap_or(gst::Fraction::new(0, 1))
    }

    /// The pixel aspect ratio of a `width` x `height` picture shown at the display aspect ratio
    /// the header announces; 1/1 when unknown.
    pub fn pixel_aspect_ratio(&self, width: u32, height: u32) -> gst::Fraction {
        match self.aspect_ratio {
            (x, y) if x > 0 && y > 0 && width > 0 && height > 0 => {
                fraction(x as u64 * u64::from(height), y as u64 * u64::from(width))
            }
            _ => None,
        }
        .unwrap_or(gst::Fraction::new(1, 1))
    }

    /// Colorimetry from the signal description; `default` (GStreamer's for the size) for what
    /// the stream leaves unspecified.
    pub fn colorimetry(
        &self,
        default: &gst_video::VideoColorimetry,
    ) -> gst_video::VideoColorimetry {
        const UNSPECIFIED: u8 = 2;
        let range = if self.full_range {
            gst_video::VideoColorRange::Range0_255
        } else {
            gst_video::VideoColorRange::Range16_235
        };
        let matrix =
            match gst_video::VideoColorMatrix::from_iso(u32::from(self.matrix_coefficients)) {
                gst_video::VideoColorMatrix::Unknown => default.matrix(),
                _ if self.matrix_coefficients == UNSPECIFIED => default.matrix(),
                m => m,
            };
        let transfer = match gst_video::VideoTransferFunction::from_iso(u32::from(
            self.transfer_characteristics,
        )) {
            gst_video::VideoTransferFunction::Unknown => default.transfer(),
            _ if self.transfer_characteristics == UNSPECIFIED => default.transfer(),
            t => t,
        };
        let primaries =
            match gst_video::VideoColorPrimaries::from_iso(u32::from(self.color_primaries)) {
                gst_video::VideoColorPrimaries::Unknown => default.primaries(),
                _ if self.color_primaries == UNSPECIFIED => default.primaries(),
                p => p,
            };
        gst_video::VideoColorimetry::new(range, matrix, transfer, primaries)
    }
}

/// `num / den` (both positive) as a GStreamer fraction: reduced, approximated when it does
/// not fit 32 bits, `None` when even that fails. The values come from the bitstream (an H.264
/// time_scale is any u32): cast to i32 they could be negative, and their products overflow.
fn fraction(num: u64, den: u64) -> Option<gst::Fraction> {
    let (mut a, mut b) = (num, den);
    while b != 0 {
        (a, b) = (b, a % b);
    }
    let (num, den) = (num / a, den / a);
    match (i32::try_from(num), i32::try_from(den)) {
        (Ok(num), Ok(den)) => Some(gst::Fraction::new(num, den)),
        _ => gst::Fraction::approximate_f64(num as f64 / den as f64)
            .filter(|f| f.numer() > 0 && f.denom() > 0),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seq(frame_rate: (u32, u32), aspect_ratio: (i32, i32)) -> SequenceInfo {
        SequenceInfo {
            coded_width: 1920,
            coded_height: 1088,
            display_area: (0, 0, 1920, 1080),
            bit_depth: 8,
            chroma: ChromaFormat::Yuv420,
            min_surfaces: 4,
            progressive: true,
            frame_rate,
            aspect_ratio,
            full_range: false,
            color_primaries: 1,
            transfer_characteristics: 1,
            matrix_coefficients: 1,
        }
    }

    #[test]
    fn rates_are_valid_fractions() {
        gst::init().unwrap();
        // Found by fuzzing (nvdec_sequence): rates over i32::MAX were cast to negative
        // fractions (a panic for a denominator of 2^31), and the aspect ratio's products
        // overflowed i32.
        let fps = |n, d| seq((n, d), (0, 0)).fps();
        assert_eq!(fps(60000, 1001), gst::Fraction::new(60000, 1001));
        assert_eq!(fps(0, 1), gst::Fraction::new(0, 1));
        // Reduced to fit, approximated, or unknown when GStreamer cannot hold it.
        assert_eq!(fps(1 << 31, 1 << 31), gst::Fraction::new(1, 1));
        assert_eq!(fps(30, 1 << 31), gst::Fraction::new(15, 1 << 30));
        let near = fps(u32::MAX - 1, 3);
        assert!(near.numer() > 0 && near.denom() > 0);
        let exact = f64::from(u32::MAX - 1) / 3.0;
        assert!((f64::from(near.numer()) / f64::from(near.denom()) - exact).abs() < 1.0);
        assert_eq!(fps(u32::MAX, 1), gst::Fraction::new(0, 1));
        let par = |x, y| seq((30, 1), (x, y)).pixel_aspect_ratio(1920, 1080);
        assert_eq!(par(16, 9), gst::Fraction::new(1, 1));
        assert_eq!(par(4, 3), gst::Fraction::new(3, 4));
        let wide = par(i32::MAX, 1);
        let exact = f64::from(i32::MAX) * 9.0 / 16.0;
        assert!((f64::from(wide.numer()) / f64::from(wide.denom()) - exact).abs() < 1.0);
        assert_eq!(par(0, 3), gst::Fraction::new(1, 1));
    }

    #[test]
    fn unspecified_colour_codes_take_the_default() {
        gst::init().unwrap();
        let default = gst_video::VideoColorimetry::new(
            gst_video::VideoColorRange::Range16_235,
            gst_video::VideoColorMatrix::Bt601,
            gst_video::VideoTransferFunction::Bt601,
            gst_video::VideoColorPrimaries::Smpte170m,
        );
        let mut s = seq((30, 1), (0, 0));
        assert_eq!(
            s.colorimetry(&default).matrix(),
            gst_video::VideoColorMatrix::Bt709
        );
        (
            s.matrix_coefficients,
            s.transfer_characteristics,
            s.color_primaries,
        ) = (2, 2, 2);
        s.full_range = true;
        let c = s.colorimetry(&default);
        assert_eq!(
            (c.matrix(), c.transfer(), c.primaries(), c.range()),
            (
                default.matrix(),
                default.transfer(),
                default.primaries(),
                gst_video::VideoColorRange::Range0_255
            )
        );
    }
}
