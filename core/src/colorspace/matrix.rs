//! Y'CbCr matrices and quantisation ranges, and the affine map from one format's code values
//! to another's that the colour kernels apply.

use super::format::{Family, PixelFormat};

/// The luma weights that define a Y'CbCr matrix.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Matrix {
    Bt601,
    Bt709,
    Bt2020,
    Smpte240m,
}

impl Matrix {
    pub const ALL: [Matrix; 4] = [
        Matrix::Bt601,
        Matrix::Bt709,
        Matrix::Bt2020,
        Matrix::Smpte240m,
    ];

    /// (Kr, Kb); Kg = 1 - Kr - Kb.
    pub fn kr_kb(self) -> (f64, f64) {
        match self {
            Matrix::Bt601 => (0.299, 0.114),
            Matrix::Bt709 => (0.2126, 0.0722),
            Matrix::Bt2020 => (0.2627, 0.0593),
            Matrix::Smpte240m => (0.212, 0.087),
        }
    }

    pub fn from_gst(matrix: gst_video::VideoColorMatrix) -> Option<Self> {
        use gst_video::VideoColorMatrix as M;
        match matrix {
            M::Bt601 => Some(Matrix::Bt601),
            M::Bt709 => Some(Matrix::Bt709),
            M::Bt2020 => Some(Matrix::Bt2020),
            M::Smpte240m => Some(Matrix::Smpte240m),
            // FCC is BT.601's weights rounded; treat it as BT.601.
            M::Fcc => Some(Matrix::Bt601),
            _ => None,
        }
    }

    pub fn to_gst(self) -> gst_video::VideoColorMatrix {
        use gst_video::VideoColorMatrix as M;
        match self {
            Matrix::Bt601 => M::Bt601,
            Matrix::Bt709 => M::Bt709,
            Matrix::Bt2020 => M::Bt2020,
            Matrix::Smpte240m => M::Smpte240m,
        }
    }
}

/// Quantisation range of the code values.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Range {
    /// Y' in [16, 235], Cb/Cr in [16, 240] (scaled by 2^(depth-8)).
    Limited,
    /// Every code value used.
    Full,
}

impl Range {
    pub fn from_gst(range: gst_video::VideoColorRange) -> Option<Self> {
        match range {
            gst_video::VideoColorRange::Range16_235 => Some(Range::Limited),
            gst_video::VideoColorRange::Range0_255 => Some(Range::Full),
            _ => None,
        }
    }

    pub fn to_gst(self) -> gst_video::VideoColorRange {
        match self {
            Range::Limited => gst_video::VideoColorRange::Range16_235,
            Range::Full => gst_video::VideoColorRange::Range0_255,
        }
    }

    /// Offsets and scales of the luma and chroma code values for `depth` bits, as GStreamer
    /// defines them (`gst_video_color_range_offsets`): code = offset + scale * value, with luma
    /// in [0, 1] and chroma in [-0.5, 0.5].
    pub fn offsets_scales(self, depth: u32) -> (f64, f64, f64, f64) {
        let chroma_offset = f64::from(1u32 << (depth - 1));
        match self {
            Range::Limited => (
                f64::from(1u32 << (depth - 4)),
                f64::from(219u32 << (depth - 8)),
                chroma_offset,
                f64::from(224u32 << (depth - 8)),
            ),
            Range::Full => {
                let max = f64::from(((1u64 << depth) - 1) as u32);
                (0.0, max, chroma_offset, max)
            }
        }
    }
}

/// How one side of a conversion encodes colour: its pixel format and, for Y'CbCr and gray,
/// the matrix and range. RGB formats are always full range.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Encoding {
    pub format: PixelFormat,
    pub matrix: Matrix,
    pub range: Range,
}

type Mat3 = [[f64; 3]; 3];

fn mat_mul(a: &Mat3, b: &Mat3) -> Mat3 {
    let mut r = [[0.0; 3]; 3];
    for (i, row) in r.iter_mut().enumerate() {
        for (j, v) in row.iter_mut().enumerate() {
            *v = (0..3).map(|k| a[i][k] * b[k][j]).sum();
        }
    }
    r
}

/// R'G'B' (each in [0, 1]) to Y' in [0, 1] and Pb/Pr in [-0.5, 0.5].
pub fn rgb_to_ypbpr(matrix: Matrix) -> Mat3 {
    let (kr, kb) = matrix.kr_kb();
    let kg = 1.0 - kr - kb;
    [
        [kr, kg, kb],
        [-kr / (2.0 * (1.0 - kb)), -kg / (2.0 * (1.0 - kb)), 0.5],
        [0.5, -kg / (2.0 * (1.0 - kr)), -kb / (2.0 * (1.0 - kr))],
    ]
}

/// Inverse of [`rgb_to_ypbpr`].
pub fn ypbpr_to_rgb(matrix: Matrix) -> Mat3 {
    let (kr, kb) = matrix.kr_kb();
    let kg = 1.0 - kr - kb;
    [
        [1.0, 0.0, 2.0 * (1.0 - kr)],
        [
            1.0,
            -2.0 * kb * (1.0 - kb) / kg,
            -2.0 * kr * (1.0 - kr) / kg,
        ],
        [1.0, 2.0 * (1.0 - kb), 0.0],
    ]
}

/// The affine map from code values of `format` to normalised components: Y'PbPr for
/// Y'CbCr and gray, R'G'B' in [0, 1] for RGB. Returns (scale per component, offset per
/// component) such that normalised = (code - offset) / scale.
fn normalisation(enc: &Encoding) -> ([f64; 3], [f64; 3]) {
    let depth = enc.format.depth();
    match enc.format.family() {
        Family::Rgb => {
            let max = f64::from(((1u64 << depth) - 1) as u32);
            ([max; 3], [0.0; 3])
        }
        Family::Yuv | Family::Gray => {
            let (oy, sy, oc, sc) = enc.range.offsets_scales(depth);
            ([sy, sc, sc], [oy, oc, oc])
        }
    }
}

/// Coefficients `m` of the affine map from input code values (c0, c1, c2) to output code values:
/// `out[i] = m[i][0] * c0 + m[i][1] * c1 + m[i][2] * c2 + m[i][3]`, before rounding and clamping.
///
/// Components are ordered (Y', Cb, Cr) for Y'CbCr and gray, (R, G, B) for RGB. A gray input
/// supplies neutral chroma; a gray output keeps only the first component.
pub fn conversion_coefficients(src: &Encoding, dst: &Encoding) -> [[f64; 4]; 3] {
    let to_rgb = |enc: &Encoding| -> Mat3 {
        match enc.format.family() {
            Family::Rgb => [[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]],
            Family::Yuv | Family::Gray => ypbpr_to_rgb(enc.matrix),
        }
    };
    let from_rgb = |enc: &Encoding| -> Mat3 {
        match enc.format.family() {
            Family::Rgb => [[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]],
            Family::Yuv | Family::Gray => rgb_to_ypbpr(enc.matrix),
        }
    };

    // Same matrix on both Y'CbCr sides: skip the RGB round trip so that a layout or depth
    // change stays exact instead of picking up the matrix inversion's rounding.
    let same_space = src.format.family() != Family::Rgb
        && dst.format.family() != Family::Rgb
        && src.matrix == dst.matrix;
    let colour: Mat3 = if same_space
        || (src.format.family() == Family::Rgb && dst.format.family() == Family::Rgb)
    {
        [[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]]
    } else {
        mat_mul(&from_rgb(dst), &to_rgb(src))
    };

    let (in_scale, in_offset) = normalisation(src);
    let (out_scale, out_offset) = normalisation(dst);

    // out = out_offset + out_scale * (colour * ((c - in_offset) / in_scale))
    let mut m = [[0.0; 4]; 3];
    for i in 0..3 {
        let mut constant = out_offset[i];
        for j in 0..3 {
            let k = out_scale[i] * colour[i][j] / in_scale[j];
            m[i][j] = k;
            constant -= k * in_offset[j];
        }
        m[i][3] = constant;
    }
    m
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matrices_are_inverse() {
        for matrix in Matrix::ALL {
            let p = mat_mul(&ypbpr_to_rgb(matrix), &rgb_to_ypbpr(matrix));
            for (i, row) in p.iter().enumerate() {
                for (j, v) in row.iter().enumerate() {
                    let expected = if i == j { 1.0 } else { 0.0 };
                    assert!((v - expected).abs() < 1e-12, "{matrix:?} [{i}][{j}] = {v}");
                }
            }
        }
    }

    #[test]
    fn limited_range_offsets_match_gstreamer() {
        assert_eq!(
            Range::Limited.offsets_scales(8),
            (16.0, 219.0, 128.0, 224.0)
        );
        assert_eq!(
            Range::Limited.offsets_scales(10),
            (64.0, 876.0, 512.0, 896.0)
        );
        assert_eq!(Range::Full.offsets_scales(8), (0.0, 255.0, 128.0, 255.0));
        assert_eq!(
            Range::Limited.offsets_scales(16),
            (4096.0, 56064.0, 32768.0, 57344.0)
        );
    }

    #[test]
    fn nv12_to_p010_same_colorimetry_is_a_shift() {
        let src = Encoding {
            format: PixelFormat::Nv12,
            matrix: Matrix::Bt709,
            range: Range::Limited,
        };
        let dst = Encoding {
            format: PixelFormat::P010,
            ..src
        };
        let m = conversion_coefficients(&src, &dst);
        for (i, row) in m.iter().enumerate() {
            for (j, v) in row.iter().enumerate() {
                let expected = if i == j { 4.0 } else { 0.0 };
                assert!((v - expected).abs() < 1e-9, "[{i}][{j}] = {v}");
            }
        }
    }
}
