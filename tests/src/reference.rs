//! Float64 CPU reference of the colour conversion defined in `docs/colour.md`.
//!
//! It follows the definition step by step for every pixel (read code values, normalise with the
//! input range, Y'PbPr -> R'G'B' -> Y'PbPr, encode with the output range, average subsampled
//! chroma, round and clamp) and deliberately does not use
//! [`conversion_coefficients`](cudapreproc_core::colorspace::conversion_coefficients): the tests check that
//! affine map, and through it the CUDA kernels, against this independent chain.

use cudapreproc_core::colorspace::{Encoding, Family, Matrix, PixelFormat};

/// A frame in host memory with tightly packed planes in GStreamer's plane order
/// (NV12: Y, UV; YV12: Y, V, U; I420: Y, U, V; RGBP: R, G, B; BGRP: B, G, R; packed formats:
/// 1 plane). Plane `p` holds exactly the `rows * row_bytes` bytes that
/// [`Image::plane_size`]`(format, width, height, p)` gives, rows back to back.
#[derive(Clone, Debug, PartialEq)]
pub struct Image {
    pub format: PixelFormat,
    pub width: usize,
    pub height: usize,
    pub planes: Vec<Vec<u8>>,
}

/// Where the samples of one component of a format live. Components are numbered (Y', Cb, Cr)
/// for Y'CbCr and gray, (R, G, B) for RGB, and 3 is the alpha (or padding) byte of a 4-byte
/// packed RGB format. Offsets and steps count samples, not bytes.
#[derive(Clone, Copy, Debug)]
struct Location {
    plane: usize,
    /// Index of the component's sample inside the group of samples at one position.
    offset: usize,
    /// Samples from one position to the next within a row.
    step: usize,
    /// log2 of the horizontal and vertical subsampling.
    sx: u32,
    sy: u32,
}

/// The [`Location`] of `component` (numbered as there) in `format`.
fn location(format: PixelFormat, component: usize) -> Location {
    let own_plane = |plane| Location {
        plane,
        offset: 0,
        step: 1,
        sx: 0,
        sy: 0,
    };
    if let (Some(offsets), Some(step)) = (format.packed_rgba_offsets(), format.packed_pixel_bytes())
    {
        return Location {
            offset: offsets[component],
            step,
            ..own_plane(0)
        };
    }
    match format.family() {
        Family::Gray => own_plane(0),
        Family::Rgb => own_plane(if format == PixelFormat::Bgrp {
            2 - component
        } else {
            component
        }),
        Family::Yuv if component == 0 => own_plane(0),
        Family::Yuv => {
            let (sx, sy) = format.chroma_shift();
            if format.n_planes() == 2 {
                // Interleaved chroma: CbCr, except NV21 which stores CrCb.
                let cr_first = format == PixelFormat::Nv21;
                Location {
                    plane: 1,
                    offset: usize::from((component == 2) != cr_first),
                    step: 2,
                    sx,
                    sy,
                }
            } else {
                let plane = if format == PixelFormat::Yv12 {
                    3 - component
                } else {
                    component
                };
                Location {
                    sx,
                    sy,
                    ..own_plane(plane)
                }
            }
        }
    }
}

/// `ceil(n / 2^shift)`: the number of subsampled positions covering `n` pixels.
fn subsampled(n: usize, shift: u32) -> usize {
    (n + (1 << shift) - 1) >> shift
}

/// Largest code value of a component with `depth` significant bits.
fn max_code(depth: u32) -> u32 {
    (1 << depth) - 1
}

/// Formats with a fourth byte per pixel: real alpha or padding.
fn has_fourth_byte(format: PixelFormat) -> bool {
    format.packed_pixel_bytes() == Some(4)
}

/// splitmix64 (Steele, Lea, Flood 2014): small, seedable, good enough for test data.
struct SplitMix64(u64);

impl SplitMix64 {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
}

impl Image {
    /// (bytes per row, rows) of plane `plane` for this format and size, as GStreamer lays it
    /// out without stride padding: chroma planes are `ceil(w / 2^sx)` by `ceil(h / 2^sy)`
    /// positions, interleaved chroma planes hold 2 samples per position, and samples of 10- and
    /// 16-bit formats take 2 bytes.
    pub fn plane_size(
        format: PixelFormat,
        width: usize,
        height: usize,
        plane: usize,
    ) -> (usize, usize) {
        assert!(plane < format.n_planes(), "{format} has no plane {plane}");
        if let Some(pixel_bytes) = format.packed_pixel_bytes() {
            return (width * pixel_bytes, height);
        }
        let sample_bytes = format.sample_bytes();
        if plane == 0 || format.family() == Family::Rgb {
            return (width * sample_bytes, height);
        }
        let (sx, sy) = format.chroma_shift();
        let samples_per_position = if format.n_planes() == 2 { 2 } else { 1 };
        (
            subsampled(width, sx) * samples_per_position * sample_bytes,
            subsampled(height, sy),
        )
    }

    /// An image whose every byte is pseudo-random (seeded splitmix64), restricted to valid
    /// sample values: I420_10LE samples below 1024, P010 samples with the low 6 bits zero.
    pub fn random(format: PixelFormat, width: usize, height: usize, seed: u64) -> Image {
        let mut rng = SplitMix64(seed);
        let mut image = Image::blank(format, width, height);
        for plane in &mut image.planes {
            if format.sample_bytes() == 1 {
                plane.fill_with(|| rng.next() as u8);
            } else {
                let mask = max_code(format.depth()) << format.sample_shift();
                for word in plane.chunks_exact_mut(2) {
                    let value = (rng.next() as u32 & mask) as u16;
                    word.copy_from_slice(&value.to_le_bytes());
                }
            }
        }
        image
    }

    /// Copies an image out of strided planes, e.g. a mapped `gst_video::VideoFrame`'s plane
    /// data and strides. Extra planes and strides beyond the format's planes are ignored.
    pub fn from_strided(
        format: PixelFormat,
        width: usize,
        height: usize,
        planes: &[&[u8]],
        strides: &[usize],
    ) -> Image {
        let n_planes = format.n_planes();
        assert!(
            planes.len() >= n_planes && strides.len() >= n_planes,
            "{format} needs {n_planes} planes and strides"
        );
        Image::from_planes(format, width, height, |p, row_bytes, rows| {
            check_strided(planes[p].len(), strides[p], row_bytes, rows, p);
            (0..rows)
                .flat_map(|row| &planes[p][row * strides[p]..][..row_bytes])
                .copied()
                .collect()
        })
    }

    /// Copies the image into strided planes; bytes between the end of a row and the stride
    /// are left untouched. Extra planes and strides beyond the format's planes are ignored.
    pub fn write_strided(&self, planes: &mut [&mut [u8]], strides: &[usize]) {
        self.check();
        let n_planes = self.format.n_planes();
        assert!(
            planes.len() >= n_planes && strides.len() >= n_planes,
            "{} needs {n_planes} planes and strides",
            self.format
        );
        for (p, source) in self.planes.iter().enumerate() {
            let (row_bytes, rows) = Image::plane_size(self.format, self.width, self.height, p);
            check_strided(planes[p].len(), strides[p], row_bytes, rows, p);
            for row in 0..rows {
                planes[p][row * strides[p]..][..row_bytes]
                    .copy_from_slice(&source[row * row_bytes..][..row_bytes]);
            }
        }
    }

    /// All-zero planes of the right sizes.
    fn blank(format: PixelFormat, width: usize, height: usize) -> Image {
        Image::from_planes(format, width, height, |_, row_bytes, rows| {
            vec![0; row_bytes * rows]
        })
    }

    /// The image whose plane `p` is `plane(p, row_bytes, rows)`, rows packed.
    fn from_planes(
        format: PixelFormat,
        width: usize,
        height: usize,
        mut plane: impl FnMut(usize, usize, usize) -> Vec<u8>,
    ) -> Image {
        let planes = (0..format.n_planes())
            .map(|p| {
                let (row_bytes, rows) = Image::plane_size(format, width, height, p);
                plane(p, row_bytes, rows)
            })
            .collect();
        Image {
            format,
            width,
            height,
            planes,
        }
    }

    /// Panics unless the planes have the sizes `plane_size` gives.
    fn check(&self) {
        assert_eq!(
            self.planes.len(),
            self.format.n_planes(),
            "{} image with the wrong number of planes",
            self.format
        );
        for (p, plane) in self.planes.iter().enumerate() {
            let (row_bytes, rows) = Image::plane_size(self.format, self.width, self.height, p);
            assert_eq!(
                plane.len(),
                row_bytes * rows,
                "{} {}x{} plane {p} has the wrong size",
                self.format,
                self.width,
                self.height
            );
        }
    }

    fn byte_index(&self, loc: Location, col: usize, row: usize) -> usize {
        let (row_bytes, _) = Image::plane_size(self.format, self.width, self.height, loc.plane);
        row * row_bytes + (col * loc.step + loc.offset) * self.format.sample_bytes()
    }

    /// The code value (significant bits only) at sample position (`col`, `row`) of `loc`.
    fn sample(&self, loc: Location, col: usize, row: usize) -> u32 {
        let i = self.byte_index(loc, col, row);
        let plane = &self.planes[loc.plane];
        let word = match self.format.sample_bytes() {
            1 => u32::from(plane[i]),
            _ => u32::from(u16::from_le_bytes([plane[i], plane[i + 1]])),
        };
        word >> self.format.sample_shift()
    }

    fn set_sample(&mut self, loc: Location, col: usize, row: usize, code: u32) {
        let i = self.byte_index(loc, col, row);
        let word = code << self.format.sample_shift();
        let plane = &mut self.planes[loc.plane];
        match self.format.sample_bytes() {
            1 => plane[i] = word as u8,
            _ => plane[i..i + 2].copy_from_slice(&(word as u16).to_le_bytes()),
        }
    }
}

fn check_strided(len: usize, stride: usize, row_bytes: usize, rows: usize, plane: usize) {
    assert!(
        stride >= row_bytes,
        "plane {plane}: stride {stride} below the row size {row_bytes}"
    );
    // The last row needs only its own bytes, not a whole stride.
    let needed = if rows == 0 {
        0
    } else {
        (rows - 1) * stride + row_bytes
    };
    assert!(
        len >= needed,
        "plane {plane}: {len} bytes, {rows} rows of stride {stride} need {needed}"
    );
}

/// Step 1: the three input code values of pixel (`x`, `y`), chroma taken from the sample that
/// covers the pixel. Gray supplies neutral chroma (code = chroma offset, value 0).
fn pixel_codes(image: &Image, enc: &Encoding, x: usize, y: usize) -> [f64; 3] {
    let code = |component| {
        let loc = location(image.format, component);
        f64::from(image.sample(loc, x >> loc.sx, y >> loc.sy))
    };
    if image.format.family() == Family::Gray {
        let (_, _, chroma_offset, _) = enc.range.offsets_scales(image.format.depth());
        [code(0), chroma_offset, chroma_offset]
    } else {
        [code(0), code(1), code(2)]
    }
}

/// Code values to normalised components: R'G'B' in [0, 1], or Y' in [0, 1] and Pb/Pr in
/// [-0.5, 0.5].
fn normalise(enc: &Encoding, codes: [f64; 3]) -> [f64; 3] {
    let depth = enc.format.depth();
    match enc.format.family() {
        Family::Rgb => codes.map(|c| c / f64::from(max_code(depth))),
        Family::Yuv | Family::Gray => {
            let (luma_offset, luma_scale, chroma_offset, chroma_scale) =
                enc.range.offsets_scales(depth);
            [
                (codes[0] - luma_offset) / luma_scale,
                (codes[1] - chroma_offset) / chroma_scale,
                (codes[2] - chroma_offset) / chroma_scale,
            ]
        }
    }
}

/// Inverse of [`normalise`], without rounding or clamping.
fn encode(enc: &Encoding, values: [f64; 3]) -> [f64; 3] {
    let depth = enc.format.depth();
    match enc.format.family() {
        Family::Rgb => values.map(|v| v * f64::from(max_code(depth))),
        Family::Yuv | Family::Gray => {
            let (luma_offset, luma_scale, chroma_offset, chroma_scale) =
                enc.range.offsets_scales(depth);
            [
                luma_offset + luma_scale * values[0],
                chroma_offset + chroma_scale * values[1],
                chroma_offset + chroma_scale * values[2],
            ]
        }
    }
}

/// Y'PbPr -> R'G'B': R = Y + 2(1-Kr)Pr, B = Y + 2(1-Kb)Pb, G = (Y - Kr R - Kb B) / Kg.
fn rgb_from_ypbpr(matrix: Matrix, [y, pb, pr]: [f64; 3]) -> [f64; 3] {
    let (kr, kb) = matrix.kr_kb();
    let kg = 1.0 - kr - kb;
    let r = y + 2.0 * (1.0 - kr) * pr;
    let b = y + 2.0 * (1.0 - kb) * pb;
    let g = (y - kr * r - kb * b) / kg;
    [r, g, b]
}

/// R'G'B' -> Y'PbPr: Y = Kr R + Kg G + Kb B, Pb = (B-Y) / (2(1-Kb)), Pr = (R-Y) / (2(1-Kr)).
fn ypbpr_from_rgb(matrix: Matrix, [r, g, b]: [f64; 3]) -> [f64; 3] {
    let (kr, kb) = matrix.kr_kb();
    let kg = 1.0 - kr - kb;
    let y = kr * r + kg * g + kb * b;
    [
        y,
        (b - y) / (2.0 * (1.0 - kb)),
        (r - y) / (2.0 * (1.0 - kr)),
    ]
}

/// Step 2: input code values to unrounded output code values. No clamping between the steps.
fn map_pixel(src: &Encoding, dst: &Encoding, codes: [f64; 3]) -> [f64; 3] {
    let values = normalise(src, codes);
    let src_rgb = src.format.family() == Family::Rgb;
    let dst_rgb = dst.format.family() == Family::Rgb;
    let converted = match (src_rgb, dst_rgb) {
        (true, true) => values,
        // Same matrix on both luma/chroma sides: the colour step is the identity.
        (false, false) if src.matrix == dst.matrix => values,
        (false, false) => ypbpr_from_rgb(dst.matrix, rgb_from_ypbpr(src.matrix, values)),
        (false, true) => rgb_from_ypbpr(src.matrix, values),
        (true, false) => ypbpr_from_rgb(dst.matrix, values),
    };
    encode(dst, converted)
}

/// Step 3: round half away from zero, then clamp to the code range.
fn quantise(value: f64, depth: u32) -> u32 {
    value.round().clamp(0.0, f64::from(max_code(depth))) as u32
}

/// Converts `src`, interpreted with `src_enc` (whose format must be `src.format`), to
/// `dst_enc.format` as `docs/colour.md` defines it.
pub fn convert(src: &Image, src_enc: &Encoding, dst_enc: &Encoding) -> Image {
    assert_eq!(
        src.format, src_enc.format,
        "the source encoding describes another format"
    );
    src.check();
    // Step 0: the same format in the same encoding is a transfer, not a conversion.
    let same_encoding = src_enc.format.family() == Family::Rgb
        || (src_enc.matrix == dst_enc.matrix && src_enc.range == dst_enc.range);
    if src_enc.format == dst_enc.format && same_encoding {
        return src.clone();
    }
    let (width, height) = (src.width, src.height);
    let mut dst = Image::blank(dst_enc.format, width, height);
    let depth = dst.format.depth();

    // Steps 1 and 2 for every pixel, kept unrounded for the chroma averaging of step 4: one
    // row-major plane of values per output component.
    let mut values: [Vec<f64>; 3] = Default::default();
    for y in 0..height {
        for x in 0..width {
            let pixel = map_pixel(src_enc, dst_enc, pixel_codes(src, src_enc, x, y));
            for (plane, value) in values.iter_mut().zip(pixel) {
                plane.push(value);
            }
        }
    }

    let components = if dst.format.family() == Family::Gray {
        1
    } else {
        3
    };
    for (component, values) in values.iter().enumerate().take(components) {
        let loc = location(dst.format, component);
        for row in 0..subsampled(height, loc.sy) {
            // Steps 3 and 4: each sample is the mean over the pixels it covers (one pixel when
            // not subsampled, fewer than a full block at an odd right or bottom edge).
            let ys = row << loc.sy..((row + 1) << loc.sy).min(height);
            for col in 0..subsampled(width, loc.sx) {
                let xs = col << loc.sx..((col + 1) << loc.sx).min(width);
                let covered: Vec<f64> = ys
                    .clone()
                    .flat_map(|y| xs.clone().map(move |x| y * width + x))
                    .map(|i| values[i])
                    .collect();
                let mean = covered.iter().sum::<f64>() / covered.len() as f64;
                dst.set_sample(loc, col, row, quantise(mean, depth));
            }
        }
    }

    // Step 5: alpha copied when both sides have it, otherwise alpha or padding is opaque.
    if has_fourth_byte(dst.format) {
        let dst_alpha = location(dst.format, 3);
        let src_alpha =
            (src.format.has_alpha() && dst.format.has_alpha()).then(|| location(src.format, 3));
        for y in 0..height {
            for x in 0..width {
                let alpha = src_alpha.map_or(255, |loc| src.sample(loc, x, y));
                dst.set_sample(dst_alpha, x, y, alpha);
            }
        }
    }
    dst
}

/// The largest difference between two images of the same format and size, in significant code
/// values (P010 words compared after `>> 6`), and where it is: `plane`, `x` = sample index
/// within the row, `y` = row. Every sample of every plane counts, alpha and padding included.
/// When the images are equal, `max` is 0 and the position is the first sample.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Difference {
    pub max: u32,
    pub plane: usize,
    pub x: usize,
    pub y: usize,
    pub expected: u32,
    pub actual: u32,
}

/// Finds the largest [`Difference`] between `expected` and `actual` (the first, in plane then
/// row then sample order, if several are equally large).
pub fn compare(expected: &Image, actual: &Image) -> Difference {
    assert_eq!(
        (expected.format, expected.width, expected.height),
        (actual.format, actual.width, actual.height),
        "compared images differ in format or size"
    );
    expected.check();
    actual.check();
    let format = expected.format;
    let sample_bytes = format.sample_bytes();
    let read = |bytes: &[u8]| {
        let word = match bytes {
            [b] => u32::from(*b),
            [lo, hi] => u32::from(u16::from_le_bytes([*lo, *hi])),
            _ => unreachable!("samples are 1 or 2 bytes"),
        };
        word >> format.sample_shift()
    };
    let mut worst: Option<Difference> = None;
    for (plane, (e_plane, a_plane)) in expected.planes.iter().zip(&actual.planes).enumerate() {
        let (row_bytes, rows) = Image::plane_size(format, expected.width, expected.height, plane);
        for y in 0..rows {
            let e_row = &e_plane[y * row_bytes..][..row_bytes];
            let a_row = &a_plane[y * row_bytes..][..row_bytes];
            let samples = e_row
                .chunks_exact(sample_bytes)
                .zip(a_row.chunks_exact(sample_bytes));
            for (x, (e, a)) in samples.enumerate() {
                let (expected, actual) = (read(e), read(a));
                let max = expected.abs_diff(actual);
                if worst.is_none_or(|w| max > w.max) {
                    worst = Some(Difference {
                        max,
                        plane,
                        x,
                        y,
                        expected,
                        actual,
                    });
                }
            }
        }
    }
    worst.unwrap_or(Difference {
        max: 0,
        plane: 0,
        x: 0,
        y: 0,
        expected: 0,
        actual: 0,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use cudapreproc_core::colorspace::matrix::{conversion_coefficients, Range};
    use gst_video::prelude::*;
    use PixelFormat::*;

    const RANGES: [Range; 2] = [Range::Limited, Range::Full];

    fn enc(format: PixelFormat, matrix: Matrix, range: Range) -> Encoding {
        Encoding {
            format,
            matrix,
            range,
        }
    }

    /// RGB formats ignore matrix and range; any will do.
    fn rgb(format: PixelFormat) -> Encoding {
        enc(format, Matrix::Bt709, Range::Full)
    }

    fn image(format: PixelFormat, width: usize, height: usize, planes: Vec<Vec<u8>>) -> Image {
        let image = Image {
            format,
            width,
            height,
            planes,
        };
        image.check();
        image
    }

    /// Little-endian bytes of 16-bit words.
    fn le(words: &[u16]) -> Vec<u8> {
        words.iter().flat_map(|w| w.to_le_bytes()).collect()
    }

    fn ycbcr_to_rgb(matrix: Matrix, range: Range, [y, u, v]: [u8; 3]) -> [u8; 3] {
        let src = image(Y444, 1, 1, vec![vec![y], vec![u], vec![v]]);
        let out = convert(&src, &enc(Y444, matrix, range), &rgb(Rgb));
        out.planes[0].clone().try_into().unwrap()
    }

    fn rgb_to_ycbcr(matrix: Matrix, range: Range, pixel: [u8; 3]) -> [u8; 3] {
        let src = image(Rgb, 1, 1, vec![pixel.to_vec()]);
        let out = convert(&src, &rgb(Rgb), &enc(Y444, matrix, range));
        [out.planes[0][0], out.planes[1][0], out.planes[2][0]]
    }

    fn assert_within(actual: [u8; 3], expected: [u8; 3], tolerance: u8) {
        for (a, e) in actual.iter().zip(&expected) {
            assert!(
                a.abs_diff(*e) <= tolerance,
                "{actual:?} not within {tolerance} of {expected:?}"
            );
        }
    }

    #[test]
    fn bt601_limited_red_to_rgb() {
        // Y = (81-16)/219 = 0.29680, Pb = (90-128)/224 = -0.16964, Pr = (240-128)/224 = 0.5
        // R = Y + 2(1-0.299)Pr = 0.99780 -> 254.44 -> 254
        // B = Y + 2(1-0.114)Pb = -0.00381 -> -0.97 -> 0
        // G = (Y - 0.299R - 0.114B)/0.587 = -0.00188 -> -0.48 -> 0
        let out = ycbcr_to_rgb(Matrix::Bt601, Range::Limited, [81, 90, 240]);
        assert_eq!(out, [254, 0, 0]);
        assert_within(out, [255, 0, 0], 1);
    }

    #[test]
    fn bt709_limited_red_to_rgb() {
        // Y = (63-16)/219 = 0.21461, Pb = (102-128)/224 = -0.11607, Pr = 0.5
        // R = Y + 2(1-0.2126)Pr = 1.00201 -> 255.51 -> 256 -> clamped 255
        // B = Y + 2(1-0.0722)Pb = -0.00077 -> -0.20 -> 0
        // G = (Y - 0.2126R - 0.0722B)/0.7152 = 0.00229 -> 0.58 -> 1
        let out = ycbcr_to_rgb(Matrix::Bt709, Range::Limited, [63, 102, 240]);
        assert_eq!(out, [255, 1, 0]);
        assert_within(out, [255, 0, 0], 1);
    }

    #[test]
    fn bt709_limited_white_and_black() {
        // Y = (235-16)/219 = 1, Pb = Pr = 0 -> R = G = B = 1 -> 255
        assert_eq!(
            ycbcr_to_rgb(Matrix::Bt709, Range::Limited, [235, 128, 128]),
            [255, 255, 255]
        );
        // Y = (16-16)/219 = 0 -> R = G = B = 0
        assert_eq!(
            ycbcr_to_rgb(Matrix::Bt709, Range::Limited, [16, 128, 128]),
            [0, 0, 0]
        );
    }

    #[test]
    fn full_range_white_rgb_to_ycbcr() {
        // R = G = B = 1 -> Y = Kr + Kg + Kb = 1 -> 0 + 255*1 = 255; Pb = Pr = 0 -> 128
        for matrix in Matrix::ALL {
            assert_eq!(
                rgb_to_ycbcr(matrix, Range::Full, [255, 255, 255]),
                [255, 128, 128],
                "{matrix:?}"
            );
        }
    }

    #[test]
    fn rgb_red_to_bt2020_limited() {
        // Y = 16 + 219*0.2627 = 73.53 -> 74
        // U = 128 + 224*(-0.2627/(2*(1-0.0593))) = 128 - 31.28 = 96.72 -> 97
        // V = 128 + 224*((1-0.2627)/(2*(1-0.2627))) = 128 + 112 = 240
        let out = rgb_to_ycbcr(Matrix::Bt2020, Range::Limited, [255, 0, 0]);
        assert_eq!(out, [74, 97, 240]);
    }

    #[test]
    fn p010_bt601_limited_white_and_black() {
        let p010 = enc(P010, Matrix::Bt601, Range::Limited);
        // 10-bit limited: Y = (940-64)/876 = 1, chroma (512-512)/896 = 0 -> white.
        let white = image(P010, 1, 1, vec![le(&[940 << 6]), le(&[512 << 6, 512 << 6])]);
        assert_eq!(convert(&white, &p010, &rgb(Rgb)).planes[0], [255, 255, 255]);
        // Y = (64-64)/876 = 0 -> black.
        let black = image(P010, 1, 1, vec![le(&[64 << 6]), le(&[512 << 6, 512 << 6])]);
        assert_eq!(convert(&black, &p010, &rgb(Rgb)).planes[0], [0, 0, 0]);
    }

    #[test]
    fn gray8_to_rgb_follows_its_range() {
        let gray = |v| image(Gray8, 1, 1, vec![vec![v]]);
        // Full: Y = 200/255, neutral chroma -> R = G = B = Y -> 200.
        let full = enc(Gray8, Matrix::Bt709, Range::Full);
        assert_eq!(convert(&gray(200), &full, &rgb(Rgb)).planes[0], [200; 3]);
        // Limited: (126-16)/219*255 = 128.08 -> 128; 235 -> 255; 16 -> 0.
        let limited = enc(Gray8, Matrix::Bt709, Range::Limited);
        assert_eq!(convert(&gray(126), &limited, &rgb(Rgb)).planes[0], [128; 3]);
        assert_eq!(convert(&gray(235), &limited, &rgb(Rgb)).planes[0], [255; 3]);
        assert_eq!(convert(&gray(16), &limited, &rgb(Rgb)).planes[0], [0; 3]);
    }

    #[test]
    fn rgb_to_gray8_uses_the_matrix_luma() {
        let src = image(Rgb, 1, 1, vec![vec![100, 150, 200]]);
        // BT.709: 0.2126*100 + 0.7152*150 + 0.0722*200 = 21.26 + 107.28 + 14.44 = 142.98 -> 143
        let bt709 = enc(Gray8, Matrix::Bt709, Range::Full);
        assert_eq!(convert(&src, &rgb(Rgb), &bt709).planes, [[143]]);
        // BT.601: 0.299*100 + 0.587*150 + 0.114*200 = 29.9 + 88.05 + 22.8 = 140.75 -> 141
        let bt601 = enc(Gray8, Matrix::Bt601, Range::Full);
        assert_eq!(convert(&src, &rgb(Rgb), &bt601).planes, [[141]]);
        // Limited BT.709: 16 + 219*142.98/255 = 138.79 -> 139
        let limited = enc(Gray8, Matrix::Bt709, Range::Limited);
        assert_eq!(convert(&src, &rgb(Rgb), &limited).planes, [[139]]);
    }

    #[test]
    fn y444_rgb_y444_round_trip_within_one() {
        for matrix in Matrix::ALL {
            for range in RANGES {
                let y444 = enc(Y444, matrix, range);
                // In-gamut colours: Y'CbCr that came from RGB.
                let colours = convert(&Image::random(Rgb, 37, 23, 1), &rgb(Rgb), &y444);
                let back = convert(&convert(&colours, &y444, &rgb(Rgb)), &rgb(Rgb), &y444);
                let diff = compare(&colours, &back);
                assert!(diff.max <= 1, "{matrix:?} {range:?}: {diff:?}");
            }
        }
    }

    /// `src` converted to `via` and back, in `matrix` and either range, is `src` to the bit.
    fn assert_round_trip_exact(src: &Image, via: PixelFormat, matrix: Matrix) {
        for range in RANGES {
            let own = enc(src.format, matrix, range);
            let other = enc(via, matrix, range);
            let back = convert(&convert(src, &own, &other), &other, &own);
            assert_eq!(&back, src, "{range:?}");
        }
    }

    #[test]
    fn nv12_i420_nv12_is_bit_exact() {
        assert_round_trip_exact(&Image::random(Nv12, 37, 23, 2), I420, Matrix::Bt709);
    }

    #[test]
    fn nv12_p010_nv12_is_exact() {
        let src = Image::random(Nv12, 37, 23, 3);
        assert_round_trip_exact(&src, P010, Matrix::Bt601);
        // Limited range scales by 2^(10-8): every code is exactly 4x.
        let wide = convert(
            &src,
            &enc(Nv12, Matrix::Bt601, Range::Limited),
            &enc(P010, Matrix::Bt601, Range::Limited),
        );
        let y0 = u16::from_le_bytes([wide.planes[0][0], wide.planes[0][1]]);
        assert_eq!(u32::from(y0 >> 6), 4 * u32::from(src.planes[0][0]));
    }

    #[test]
    fn p010_p016_p010_is_exact_for_every_10_bit_value() {
        // 64x32: 2048 luma samples and 32x16x2 = 1024 chroma samples; each value 0..1023 appears.
        let (width, height) = (64, 32);
        let luma: Vec<u16> = (0..width * height)
            .map(|i| ((i % 1024) as u16) << 6)
            .collect();
        let chroma: Vec<u16> = (0..1024u16).map(|v| v << 6).collect();
        let src = image(P010, width, height, vec![le(&luma), le(&chroma)]);
        assert_round_trip_exact(&src, P016, Matrix::Bt2020);
    }

    /// Unrounded Cb, Cr code values of an 8-bit RGB pixel, straight from the textbook formula.
    fn textbook_cbcr(matrix: Matrix, range: Range, [r, g, b]: [u8; 3]) -> [f64; 2] {
        let (kr, kb) = matrix.kr_kb();
        let [r, g, b] = [r, g, b].map(|c| f64::from(c) / 255.0);
        let y = kr * r + (1.0 - kr - kb) * g + kb * b;
        let scale = if range == Range::Limited {
            224.0
        } else {
            255.0
        };
        [
            128.0 + scale * (b - y) / (2.0 * (1.0 - kb)),
            128.0 + scale * (r - y) / (2.0 * (1.0 - kr)),
        ]
    }

    /// Expected chroma samples of `pixels` (row-major RGB) subsampled by 2^sx x 2^sy: the
    /// rounded mean over the pixels each sample covers.
    fn expected_chroma(
        pixels: &[[u8; 3]],
        width: usize,
        (sx, sy): (u32, u32),
        enc: &Encoding,
    ) -> Vec<[u8; 2]> {
        let height = pixels.len() / width;
        let mut out = Vec::new();
        for row in 0..subsampled(height, sy) {
            for col in 0..subsampled(width, sx) {
                let mut sum = [0.0; 2];
                let mut n = 0.0;
                for y in (row << sy)..((row + 1) << sy).min(height) {
                    for x in (col << sx)..((col + 1) << sx).min(width) {
                        let [cb, cr] = textbook_cbcr(enc.matrix, enc.range, pixels[y * width + x]);
                        sum = [sum[0] + cb, sum[1] + cr];
                        n += 1.0;
                    }
                }
                out.push(sum.map(|s| (s / n).round() as u8));
            }
        }
        out
    }

    fn rgb_image(pixels: &[[u8; 3]], width: usize) -> Image {
        image(Rgb, width, pixels.len() / width, vec![pixels.concat()])
    }

    #[test]
    fn chroma_is_the_mean_of_the_2x2_block() {
        let pixels = [[255, 0, 0], [0, 255, 0], [0, 0, 255], [40, 80, 120]];
        let nv12 = enc(Nv12, Matrix::Bt601, Range::Limited);
        let out = convert(&rgb_image(&pixels, 2), &rgb(Rgb), &nv12);
        let expected = expected_chroma(&pixels, 2, (1, 1), &nv12);
        assert_eq!(out.planes[1], expected.concat());
        // The mean is not just one pixel's chroma (would pass a picking implementation).
        let top_left =
            textbook_cbcr(Matrix::Bt601, Range::Limited, pixels[0]).map(|c| c.round() as u8);
        assert_ne!(expected[0], top_left);
    }

    #[test]
    fn odd_size_edge_blocks_average_only_existing_pixels() {
        let pixels: Vec<[u8; 3]> = (0..9u8)
            .map(|i| [i * 28, 255 - i * 25, i.wrapping_mul(97)])
            .collect();
        let src = rgb_image(&pixels, 3);
        for (matrix, range) in [
            (Matrix::Bt709, Range::Limited),
            (Matrix::Bt2020, Range::Full),
        ] {
            // 4:2:0, 3x3: blocks of 4, 2 (right), 2 (bottom) and 1 (corner) pixels.
            let nv12 = enc(Nv12, matrix, range);
            let expected = expected_chroma(&pixels, 3, (1, 1), &nv12);
            assert_eq!(convert(&src, &rgb(Rgb), &nv12).planes[1], expected.concat());
            // Same samples in I420's separate planes.
            let i420 = convert(&src, &rgb(Rgb), &enc(I420, matrix, range));
            assert_eq!(
                i420.planes[1],
                expected.iter().map(|c| c[0]).collect::<Vec<_>>()
            );
            assert_eq!(
                i420.planes[2],
                expected.iter().map(|c| c[1]).collect::<Vec<_>>()
            );
            // 4:2:2, 3x3: blocks of 2 pixels and 1 at the right edge, every row.
            let nv16 = enc(Nv16, matrix, range);
            let expected = expected_chroma(&pixels, 3, (1, 0), &nv16);
            assert_eq!(convert(&src, &rgb(Rgb), &nv16).planes[1], expected.concat());
        }
    }

    /// One row of `width` pixels of packed RGB `format` (`bytes`), converted to packed RGB `to`.
    fn rgb_row(format: PixelFormat, width: usize, bytes: &[u8], to: PixelFormat) -> Vec<u8> {
        let src = image(format, width, 1, vec![bytes.to_vec()]);
        convert(&src, &rgb(format), &rgb(to)).planes.remove(0)
    }

    #[test]
    fn alpha_is_copied_between_alpha_formats() {
        let rgba = [10, 20, 30, 40, 50, 60, 70, 80];
        let bgra = rgb_row(Rgba, 2, &rgba, Bgra);
        assert_eq!(bgra, [30, 20, 10, 40, 70, 60, 50, 80]);
        let argb = rgb_row(Rgba, 2, &rgba, Argb);
        assert_eq!(argb, [40, 10, 20, 30, 80, 50, 60, 70]);
        let abgr = rgb_row(Argb, 2, &argb, Abgr);
        assert_eq!(abgr, [40, 30, 20, 10, 80, 70, 60, 50]);
    }

    #[test]
    fn alpha_is_opaque_when_the_input_has_none() {
        assert_eq!(rgb_row(Rgb, 1, &[10, 20, 30], Rgba), [10, 20, 30, 255]);
        // RGBx padding is not alpha.
        assert_eq!(rgb_row(Rgbx, 1, &[10, 20, 30, 7], Argb), [255, 10, 20, 30]);
        let nv12 = image(Nv12, 1, 1, vec![vec![235], vec![128, 128]]);
        let nv12_enc = enc(Nv12, Matrix::Bt709, Range::Limited);
        assert_eq!(convert(&nv12, &nv12_enc, &rgb(Abgr)).planes[0], [255; 4]);
    }

    #[test]
    fn padding_is_written_as_255() {
        let rgba = [10, 20, 30, 40];
        assert_eq!(rgb_row(Rgba, 1, &rgba, Rgbx), [10, 20, 30, 255]);
        assert_eq!(rgb_row(Rgba, 1, &rgba, Bgrx), [30, 20, 10, 255]);
    }

    #[test]
    fn same_format_and_encoding_is_a_byte_copy() {
        let rgbx = [10, 20, 30, 40];
        assert_eq!(rgb_row(Rgbx, 1, &rgbx, Rgbx), rgbx);
        // A range change of the same format is a conversion.
        let gray = image(Gray8, 1, 1, vec![vec![235]]);
        let limited = enc(Gray8, Matrix::Bt709, Range::Limited);
        let full = enc(Gray8, Matrix::Bt709, Range::Full);
        assert_eq!(convert(&gray, &limited, &limited).planes[0], [235]);
        assert_eq!(convert(&gray, &limited, &full).planes[0], [255]);
    }

    #[test]
    fn byte_layout_of_every_format() {
        // One Y'CbCr pixel, 8-bit limited BT.709, in every Y'CbCr layout.
        let y444 = image(Y444, 1, 1, vec![vec![81], vec![90], vec![240]]);
        let to = |format| {
            convert(
                &y444,
                &enc(Y444, Matrix::Bt709, Range::Limited),
                &enc(format, Matrix::Bt709, Range::Limited),
            )
            .planes
        };
        assert_eq!(to(Nv12), [vec![81], vec![90, 240]]);
        assert_eq!(to(Nv16), [vec![81], vec![90, 240]]);
        assert_eq!(to(Nv21), [vec![81], vec![240, 90]]);
        assert_eq!(to(I420), [vec![81], vec![90], vec![240]]);
        assert_eq!(to(Y42b), [vec![81], vec![90], vec![240]]);
        assert_eq!(to(Yv12), [vec![81], vec![240], vec![90]]);
        assert_eq!(to(Gray8), [vec![81]]);
        // 10-bit limited is 4x: 324 = 0x144, 360 = 0x168, 960 = 0x3c0. P010 keeps them high.
        assert_eq!(
            to(I420_10),
            [vec![0x44, 0x01], vec![0x68, 0x01], vec![0xc0, 0x03]]
        );
        // 0x144 << 6 = 0x5100, 0x168 << 6 = 0x5a00, 0x3c0 << 6 = 0xf000
        assert_eq!(to(P010), [vec![0x00, 0x51], vec![0x00, 0x5a, 0x00, 0xf0]]);
        // 16-bit limited is 256x: 81*256 = 0x5100, 90*256 = 0x5a00, 240*256 = 0xf000.
        assert_eq!(to(P016), [vec![0x00, 0x51], vec![0x00, 0x5a, 0x00, 0xf0]]);

        // One RGB pixel in every RGB layout.
        let src = image(Rgb, 1, 1, vec![vec![1, 2, 3]]);
        let to = |format| convert(&src, &rgb(Rgb), &rgb(format)).planes;
        assert_eq!(to(Rgb), [vec![1, 2, 3]]);
        assert_eq!(to(Bgr), [vec![3, 2, 1]]);
        assert_eq!(to(Rgba), [vec![1, 2, 3, 255]]);
        assert_eq!(to(Bgra), [vec![3, 2, 1, 255]]);
        assert_eq!(to(Rgbx), [vec![1, 2, 3, 255]]);
        assert_eq!(to(Bgrx), [vec![3, 2, 1, 255]]);
        assert_eq!(to(Argb), [vec![255, 1, 2, 3]]);
        assert_eq!(to(Abgr), [vec![255, 3, 2, 1]]);
        assert_eq!(to(Rgbp), [vec![1], vec![2], vec![3]]);
        assert_eq!(to(Bgrp), [vec![3], vec![2], vec![1]]);
    }

    #[test]
    fn every_format_pair_converts() {
        for src_format in PixelFormat::ALL {
            for dst_format in PixelFormat::ALL {
                for (width, height) in [(7, 5), (1, 1)] {
                    let src = Image::random(src_format, width, height, 4);
                    let src_enc = enc(src_format, Matrix::Bt709, Range::Limited);
                    let dst_enc = enc(dst_format, Matrix::Bt2020, Range::Full);
                    let out = convert(&src, &src_enc, &dst_enc);
                    assert_eq!(
                        (out.format, out.width, out.height),
                        (dst_format, width, height)
                    );
                    assert_eq!(out.planes.len(), dst_format.n_planes());
                    for (p, plane) in out.planes.iter().enumerate() {
                        let (row_bytes, rows) = Image::plane_size(dst_format, width, height, p);
                        assert_eq!(
                            plane.len(),
                            row_bytes * rows,
                            "{src_format} -> {dst_format} plane {p}"
                        );
                    }
                }
            }
        }
    }

    const SIZES: [(usize, usize); 4] = [(1, 1), (7, 5), (37, 23), (64, 32)];

    /// Every format at each of [`SIZES`], with GStreamer's `VideoInfo` for it.
    fn formats_and_sizes() -> impl Iterator<Item = (PixelFormat, usize, usize, gst_video::VideoInfo)>
    {
        gst::init().unwrap();
        PixelFormat::ALL.into_iter().flat_map(|format| {
            SIZES.into_iter().map(move |(width, height)| {
                let info = gst_video::VideoInfo::builder(
                    format.video_format(),
                    width as u32,
                    height as u32,
                )
                .build()
                .unwrap();
                (format, width, height, info)
            })
        })
    }

    #[test]
    fn plane_size_matches_video_info() {
        for (format, width, height, info) in formats_and_sizes() {
            assert_eq!(info.n_planes() as usize, format.n_planes(), "{format}");
            for plane in 0..format.n_planes() {
                let component = (0..info.n_components() as u8)
                    .find(|&c| info.comp_plane(c) as usize == plane)
                    .unwrap();
                // Tight row: positions times the bytes from one position to the next.
                let row_bytes =
                    info.comp_width(component) as usize * info.comp_pstride(component) as usize;
                let rows = info.comp_height(component) as usize;
                assert_eq!(
                    Image::plane_size(format, width, height, plane),
                    (row_bytes, rows),
                    "{format} {width}x{height} plane {plane}"
                );
                // VideoInfo pads strides (to 4 bytes, some planes more) but never below a row.
                assert!(info.stride()[plane] as usize >= row_bytes);
            }
        }
    }

    #[test]
    fn sample_locations_match_video_format_info() {
        gst::init().unwrap();
        for format in PixelFormat::ALL {
            let info = gst_video::VideoFormatInfo::from_format(format.video_format());
            assert_eq!(info.depth()[0], format.depth(), "{format}");
            assert_eq!(info.shift()[0], format.sample_shift(), "{format}");
            let components = match format.family() {
                Family::Gray => 1,
                _ if format.has_alpha() => 4,
                _ => 3,
            };
            assert_eq!(info.n_components(), components, "{format}");
            let sample_bytes = format.sample_bytes() as u32;
            for c in 0..components as usize {
                let loc = location(format, c);
                let gst = (
                    info.plane()[c],
                    info.pixel_stride()[c],
                    info.w_sub()[c],
                    info.h_sub()[c],
                );
                let ours = (
                    loc.plane as u32,
                    loc.step as i32 * sample_bytes as i32,
                    loc.sx,
                    loc.sy,
                );
                assert_eq!(ours, gst, "{format} component {c}");
                // GStreamer 1.22's table gives P010_10LE and P016_LE a Cr `poffset` of 1 byte,
                // but their Cr word is at bytes 2-3 (as GStreamer's own unpack reads it, see
                // `samples_match_gstreamer_unpack`); every other offset agrees.
                if !(matches!(format, P010 | P016) && c == 2) {
                    assert_eq!(
                        loc.offset as u32 * sample_bytes,
                        info.poffset()[c],
                        "{format} component {c} offset"
                    );
                }
            }
        }
    }

    #[test]
    fn range_offsets_match_gstreamer() {
        use glib::translate::IntoGlib;
        gst::init().unwrap();
        for format in PixelFormat::ALL
            .into_iter()
            .filter(|f| f.family() != Family::Rgb)
        {
            for range in RANGES {
                let (mut offset, mut scale) = ([0i32; 4], [0i32; 4]);
                // SAFETY: the format is valid, so GStreamer returns its static format info.
                unsafe {
                    let info = gst_video::ffi::gst_video_format_get_info(
                        format.video_format().into_glib(),
                    );
                    gst_video::ffi::gst_video_color_range_offsets(
                        range.to_gst().into_glib(),
                        info,
                        &mut offset,
                        &mut scale,
                    );
                }
                let gst = [
                    offset[0], scale[0], offset[1], scale[1], offset[2], scale[2],
                ]
                .map(f64::from);
                let (oy, sy, oc, sc) = range.offsets_scales(format.depth());
                // GStreamer fills in only the components a format has; gray has luma alone.
                let n = if format.family() == Family::Gray {
                    2
                } else {
                    6
                };
                assert_eq!(
                    [oy, sy, oc, sc, oc, sc][..n],
                    gst[..n],
                    "{format} {range:?}"
                );
            }
        }
    }

    #[test]
    fn samples_match_gstreamer_unpack() {
        gst::init().unwrap();
        let (width, height) = (7, 5);
        for format in PixelFormat::ALL {
            let info = gst_video::VideoFormatInfo::from_format(format.video_format());
            let image = Image::random(format, width, height, 11);
            // Tight strides. The binding checks every plane against `y * stride` even when it is
            // subsampled vertically, so give each plane `height` rows and one spare.
            let strides: Vec<i32> = (0..format.n_planes())
                .map(|p| Image::plane_size(format, width, height, p).0 as i32)
                .collect();
            let planes: Vec<Vec<u8>> = image
                .planes
                .iter()
                .zip(&strides)
                .map(|(plane, &stride)| {
                    let mut padded = plane.clone();
                    padded.resize(stride as usize * (height + 1), 0);
                    padded
                })
                .collect();
            let planes: Vec<&[u8]> = planes.iter().map(Vec::as_slice).collect();
            // Unpacked pixels are A, then Y U V or R G B: 8-bit (AYUV, ARGB) or 16-bit
            // native-endian words with the significant bits on top (AYUV64).
            let deep = format.depth() > 8;
            let mut row = vec![0u8; width * if deep { 8 } else { 4 }];
            let components = match format.family() {
                Family::Gray => 1,
                _ if format.has_alpha() => 4,
                _ => 3,
            };
            for y in 0..height {
                info.unpack(
                    gst_video::VideoPackFlags::TRUNCATE_RANGE,
                    &mut row,
                    &planes,
                    &strides,
                    0,
                    y as i32,
                    width as i32,
                );
                for x in 0..width {
                    for c in 0..components {
                        let i = if c == 3 { 0 } else { c + 1 };
                        let unpacked = if deep {
                            let word =
                                u16::from_ne_bytes([row[x * 8 + 2 * i], row[x * 8 + 2 * i + 1]]);
                            u32::from(word) >> (16 - format.depth())
                        } else {
                            u32::from(row[x * 4 + i])
                        };
                        let loc = location(format, c);
                        assert_eq!(
                            image.sample(loc, x >> loc.sx, y >> loc.sy),
                            unpacked,
                            "{format} pixel ({x}, {y}) component {c}"
                        );
                    }
                }
            }
        }
    }

    /// Splits a frame buffer into its planes (which may lie in any order, with gaps).
    fn split_planes<'a>(
        mut data: &'a mut [u8],
        offsets: &[usize],
        sizes: &[usize],
    ) -> Vec<&'a mut [u8]> {
        let mut order: Vec<usize> = (0..sizes.len()).collect();
        order.sort_by_key(|&p| offsets[p]);
        let mut planes: Vec<Option<&mut [u8]>> = (0..sizes.len()).map(|_| None).collect();
        let mut consumed = 0;
        for p in order {
            let (_, rest) = data.split_at_mut(offsets[p] - consumed);
            let (plane, rest) = rest.split_at_mut(sizes[p]);
            planes[p] = Some(plane);
            data = rest;
            consumed = offsets[p] + sizes[p];
        }
        planes.into_iter().map(Option::unwrap).collect()
    }

    #[test]
    fn strided_round_trip_through_a_gst_video_frame() {
        for (format, width, height, info) in formats_and_sizes() {
            let n = format.n_planes();
            let strides: Vec<usize> = info.stride()[..n].iter().map(|&s| s as usize).collect();
            let sizes: Vec<usize> = (0..n)
                .map(|p| strides[p] * Image::plane_size(format, width, height, p).1)
                .collect();
            let src = Image::random(format, width, height, 5);

            let mut buffer = gst::Buffer::with_size(info.size()).unwrap();
            {
                let mut map = buffer.get_mut().unwrap().map_writable().unwrap();
                let mut planes = split_planes(map.as_mut_slice(), &info.offset()[..n], &sizes);
                src.write_strided(&mut planes, &strides);
            }
            let frame = gst_video::VideoFrame::from_buffer_readable(buffer, &info).unwrap();
            let planes: Vec<&[u8]> = (0..n as u32)
                .map(|p| frame.plane_data(p).unwrap())
                .collect();
            let frame_strides: Vec<usize> =
                frame.plane_stride().iter().map(|&s| s as usize).collect();
            let back = Image::from_strided(format, width, height, &planes, &frame_strides);
            assert_eq!(back, src, "{format} {width}x{height}");
        }
    }

    #[test]
    fn write_strided_leaves_row_padding_alone() {
        let src = image(Gray8, 2, 2, vec![vec![1, 2, 3, 4]]);
        let mut plane = [9u8; 7];
        src.write_strided(&mut [&mut plane], &[5]);
        // The last row needs only its own two bytes.
        assert_eq!(plane, [1, 2, 9, 9, 9, 3, 4]);
        assert_eq!(Image::from_strided(Gray8, 2, 2, &[&plane], &[5]), src);
    }

    #[test]
    fn random_is_seeded_and_valid() {
        for format in PixelFormat::ALL {
            let a = Image::random(format, 37, 23, 6);
            a.check();
            assert_eq!(a, Image::random(format, 37, 23, 6), "{format}");
            assert_ne!(a, Image::random(format, 37, 23, 7), "{format}");
        }
        let words = |image: &Image| -> Vec<u16> {
            image
                .planes
                .concat()
                .chunks_exact(2)
                .map(|w| u16::from_le_bytes([w[0], w[1]]))
                .collect()
        };
        let i420_10 = words(&Image::random(I420_10, 37, 23, 8));
        assert!(i420_10.iter().all(|&w| w < 1024));
        assert!(i420_10.iter().any(|&w| w >= 512));
        let p010 = words(&Image::random(P010, 37, 23, 8));
        assert!(p010.iter().all(|&w| w & 0x3f == 0));
        assert!(p010.iter().any(|&w| w >= 0x8000));
        // P016 uses the whole word.
        assert!(words(&Image::random(P016, 37, 23, 8))
            .iter()
            .any(|&w| w & 0x3f != 0));
    }

    #[test]
    fn compare_finds_a_planted_difference() {
        let expected = Image::random(I420, 37, 23, 9);
        let mut actual = expected.clone();
        assert_eq!(compare(&expected, &actual).max, 0);
        // Plane 2 (V) is 19 samples wide: sample (5, 7) is byte 7*19 + 5.
        let i = 7 * 19 + 5;
        let original = actual.planes[2][i];
        actual.planes[2][i] = if original >= 3 {
            original - 3
        } else {
            original + 3
        };
        assert_eq!(
            compare(&expected, &actual),
            Difference {
                max: 3,
                plane: 2,
                x: 5,
                y: 7,
                expected: u32::from(original),
                actual: u32::from(actual.planes[2][i]),
            }
        );
    }

    #[test]
    fn compare_sees_alpha_and_padding() {
        let expected = image(Rgbx, 2, 1, vec![vec![1, 2, 3, 255, 4, 5, 6, 255]]);
        let mut actual = expected.clone();
        actual.planes[0][7] = 0;
        let diff = compare(&expected, &actual);
        assert_eq!((diff.max, diff.plane, diff.x, diff.y), (255, 0, 7, 0));
    }

    #[test]
    fn compare_p010_is_in_10_bit_units() {
        let expected = Image::random(P010, 7, 5, 10);
        let mut actual = expected.clone();
        // Plane 1 is 4 positions x 2 samples wide; sample (3, 2) is word 2*8 + 3.
        let i = 2 * (2 * 8 + 3);
        let word = u16::from_le_bytes([actual.planes[1][i], actual.planes[1][i + 1]]);
        let code = word >> 6;
        let planted = if code >= 3 { code - 3 } else { code + 3 };
        actual.planes[1][i..i + 2].copy_from_slice(&(planted << 6).to_le_bytes());
        assert_eq!(
            compare(&expected, &actual),
            Difference {
                max: 3,
                plane: 1,
                x: 3,
                y: 2,
                expected: u32::from(code),
                actual: u32::from(planted),
            }
        );
    }

    /// Checks `convert` against `conversion_coefficients` applied by hand: per pixel, the
    /// unrounded chain equals the affine map (1e-9), and every output sample is the mean of the
    /// affine map over the pixels it covers, clamped, to within rounding (0.5 + 1e-9).
    fn check_against_affine_map(src: &Image, src_enc: &Encoding, dst_enc: &Encoding) {
        let m = conversion_coefficients(src_enc, dst_enc);
        let out = convert(src, src_enc, dst_enc);
        let (width, height) = (src.width, src.height);
        let context = format!("{src_enc:?} -> {dst_enc:?}");
        let components = if dst_enc.format.family() == Family::Gray {
            1
        } else {
            3
        };
        // One row-major plane of unrounded affine values per output component.
        let mut affine: [Vec<f64>; 3] = Default::default();
        for y in 0..height {
            for x in 0..width {
                let c = pixel_codes(src, src_enc, x, y);
                let chain = map_pixel(src_enc, dst_enc, c);
                let by_hand: Vec<f64> = m
                    .iter()
                    .map(|row| row[0] * c[0] + row[1] * c[1] + row[2] * c[2] + row[3])
                    .collect();
                for i in 0..components {
                    assert!(
                        (by_hand[i] - chain[i]).abs() <= 1e-9,
                        "{context}: pixel ({x}, {y}) component {i}: affine {} chain {}",
                        by_hand[i],
                        chain[i]
                    );
                }
                for (plane, value) in affine.iter_mut().zip(by_hand) {
                    plane.push(value);
                }
            }
        }
        let max = f64::from(max_code(dst_enc.format.depth()));
        for (i, affine) in affine.iter().enumerate().take(components) {
            let loc = location(dst_enc.format, i);
            for row in 0..subsampled(height, loc.sy) {
                for col in 0..subsampled(width, loc.sx) {
                    let covered: Vec<f64> = (row << loc.sy..((row + 1) << loc.sy).min(height))
                        .flat_map(|y| {
                            (col << loc.sx..((col + 1) << loc.sx).min(width)).map(move |x| (x, y))
                        })
                        .map(|(x, y)| affine[y * width + x])
                        .collect();
                    let expected =
                        (covered.iter().sum::<f64>() / covered.len() as f64).clamp(0.0, max);
                    let actual = f64::from(out.sample(loc, col, row));
                    assert!(
                        (expected - actual).abs() <= 0.5 + 1e-9,
                        "{context}: component {i} sample ({col}, {row}): affine {expected} reference {actual}"
                    );
                }
            }
        }
    }

    /// [`check_against_affine_map`] from every format of `formats` to every one, with each
    /// (source matrix, range, destination matrix, range) of `encodings`, on random `width` x
    /// `height` images, the first seeded with `seed`.
    fn check_affine_maps(
        formats: &[PixelFormat],
        encodings: &[(Matrix, Range, Matrix, Range)],
        (width, height): (usize, usize),
        mut seed: u64,
    ) {
        for &src_format in formats {
            for &dst_format in formats {
                for &(src_matrix, src_range, dst_matrix, dst_range) in encodings {
                    seed += 1;
                    let src = Image::random(src_format, width, height, seed);
                    check_against_affine_map(
                        &src,
                        &enc(src_format, src_matrix, src_range),
                        &enc(dst_format, dst_matrix, dst_range),
                    );
                }
            }
        }
    }

    #[test]
    fn affine_map_agrees_with_reference_chain() {
        // 4:4:4 formats of every family, every matrix and range on both sides.
        let encodings: Vec<_> = Matrix::ALL
            .into_iter()
            .flat_map(|a| Matrix::ALL.map(|b| (a, b)))
            .flat_map(|(src_matrix, dst_matrix)| {
                RANGES.into_iter().flat_map(|a| RANGES.map(|b| (a, b))).map(
                    move |(src_range, dst_range)| (src_matrix, src_range, dst_matrix, dst_range),
                )
            })
            .collect();
        check_affine_maps(&[Y444, Gray8, Rgb, Bgra, Rgbp], &encodings, (8, 4), 100);
    }

    #[test]
    fn affine_map_agrees_with_reference_for_every_format() {
        // Subsampled and deep formats too: averaging commutes with the affine map.
        let encodings = [
            (Matrix::Bt601, Range::Limited, Matrix::Bt2020, Range::Full),
            (Matrix::Bt709, Range::Full, Matrix::Bt709, Range::Limited),
            (
                Matrix::Smpte240m,
                Range::Limited,
                Matrix::Bt709,
                Range::Limited,
            ),
        ];
        check_affine_maps(&PixelFormat::ALL, &encodings, (5, 3), 1000);
    }
}
