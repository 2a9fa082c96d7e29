//! 2x3 affine matrices as OpenCV's `warpAffine` takes them, and the matrices of the common cases
//! (resize, letterbox, crop, rotate, flip) that `cudawarpaffine` builds for its users.
//!
//! A matrix `[a, b, c, d, e, f]` maps a point (x, y) to (a x + b y + c, d x + e y + f). Pixel
//! centres sit at integer coordinates, as in OpenCV; a W-pixel-wide image spans [-0.5, W - 0.5].

/// Row-major 2x3 affine matrix.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Affine(pub [f64; 6]);

impl Affine {
    pub const IDENTITY: Affine = Affine([1.0, 0.0, 0.0, 0.0, 1.0, 0.0]);

    pub fn translate(tx: f64, ty: f64) -> Self {
        Affine([1.0, 0.0, tx, 0.0, 1.0, ty])
    }

    pub fn scale(sx: f64, sy: f64) -> Self {
        Affine([sx, 0.0, 0.0, 0.0, sy, 0.0])
    }

    /// Rotation by `degrees` counter-clockwise as seen on screen (y points down), about the
    /// origin; the same sense as OpenCV's `getRotationMatrix2D`.
    pub fn rotate(degrees: f64) -> Self {
        let (sin, cos) = degrees.to_radians().sin_cos();
        Affine([cos, sin, 0.0, -sin, cos, 0.0])
    }

    /// `self` applied after `first`.
    pub fn after(&self, first: &Affine) -> Affine {
        let [a, b, c, d, e, f] = self.0;
        let [g, h, i, j, k, l] = first.0;
        Affine([
            a * g + b * j,
            a * h + b * k,
            a * i + b * l + c,
            d * g + e * j,
            d * h + e * k,
            d * i + e * l + f,
        ])
    }

    pub fn apply(&self, x: f64, y: f64) -> (f64, f64) {
        let [a, b, c, d, e, f] = self.0;
        (a * x + b * y + c, d * x + e * y + f)
    }

    pub fn determinant(&self) -> f64 {
        self.0[0] * self.0[4] - self.0[1] * self.0[3]
    }

    /// The inverse, as OpenCV's `invertAffineTransform` computes it; `None` when singular.
    pub fn invert(&self) -> Option<Affine> {
        let [a, b, c, d, e, f] = self.0;
        let det = self.determinant();
        if det == 0.0 || !det.is_finite() {
            return None;
        }
        let inv = 1.0 / det;
        let (ia, ib, id, ie) = (e * inv, -b * inv, -d * inv, a * inv);
        Some(Affine([ia, ib, -ia * c - ib * f, id, ie, -id * c - ie * f]))
    }

    /// Whether the matrix only scales and translates (no rotation or shear).
    pub fn is_axis_aligned(&self) -> bool {
        self.0[1] == 0.0 && self.0[3] == 0.0
    }

    pub fn is_finite(&self) -> bool {
        self.0.iter().all(|v| v.is_finite())
    }

    /// The matrix for a plane subsampled by 2 in both directions, chroma samples centred between
    /// luma samples: chroma sample c covers luma samples 2c and 2c + 1, centre 2c + 0.5.
    pub fn for_half_plane(&self) -> Affine {
        let [a, b, c, d, e, f] = self.0;
        Affine([
            a,
            b,
            (0.5 * (a + b) + c - 0.5) / 2.0,
            d,
            e,
            (0.5 * (d + e) + f - 0.5) / 2.0,
        ])
    }
}

impl std::fmt::Display for Affine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Adding 0.0 turns -0 into 0.
        let v = self.0.map(|x| x + 0.0);
        write!(f, "{} {} {}; {} {} {}", v[0], v[1], v[2], v[3], v[4], v[5])
    }
}

impl std::str::FromStr for Affine {
    type Err = String;

    /// Six numbers separated by commas, semicolons or white space, row by row:
    /// `"a b c; d e f"` or `"a,b,c,d,e,f"`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let values: Vec<f64> = s
            .split(|c: char| c == ',' || c == ';' || c.is_whitespace())
            .filter(|t| !t.is_empty())
            .map(|t| {
                t.parse::<f64>()
                    .map_err(|_| format!("'{t}' in matrix \"{s}\" is not a number"))
            })
            .collect::<Result<_, _>>()?;
        let values: [f64; 6] = values.try_into().map_err(|v: Vec<f64>| {
            format!("a 2x3 affine matrix has 6 numbers, \"{s}\" has {}", v.len())
        })?;
        let affine = Affine(values);
        if !affine.is_finite() {
            return Err(format!("matrix \"{s}\" has a value that is not finite"));
        }
        Ok(affine)
    }
}

/// A rectangle in pixels.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Rect {
    pub x: u32,
    pub y: u32,
    pub width: u32,
    pub height: u32,
}

/// How the source rectangle is fitted into the output size.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Fit {
    /// Scale each axis to fill the output: the aspect ratio changes.
    Stretch,
    /// Keep the aspect ratio, fit inside the output, centred, borders on two sides.
    Letterbox,
    /// Keep the aspect ratio, fill the output, centred, cutting off what overhangs.
    Fill,
}

/// Everything the convenience properties of `cudawarpaffine` describe.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Placement {
    /// Part of the source to use; `None`: all of it.
    pub crop: Option<Rect>,
    pub fit: Fit,
    /// Rotation about the output's centre, in degrees, counter-clockwise on screen.
    pub rotation: f64,
    pub flip_horizontal: bool,
    pub flip_vertical: bool,
}

impl Placement {
    /// The forward matrix (source pixel -> output pixel) for a `src` sized input and `dst`
    /// sized output: crop, then fit, then rotate about the output centre, then flip.
    pub fn forward(&self, src: (u32, u32), dst: (u32, u32)) -> Result<Affine, String> {
        let crop = self.crop.unwrap_or(Rect {
            x: 0,
            y: 0,
            width: src.0,
            height: src.1,
        });
        if crop.width == 0
            || crop.height == 0
            || u64::from(crop.x) + u64::from(crop.width) > u64::from(src.0)
            || u64::from(crop.y) + u64::from(crop.height) > u64::from(src.1)
        {
            return Err(format!(
                "crop rectangle {}x{} at ({}, {}) is not inside the {}x{} input",
                crop.width, crop.height, crop.x, crop.y, src.0, src.1
            ));
        }
        let (cw, ch) = (f64::from(crop.width), f64::from(crop.height));
        let (dw, dh) = (f64::from(dst.0), f64::from(dst.1));
        let (sx, sy) = match self.fit {
            Fit::Stretch => (dw / cw, dh / ch),
            Fit::Letterbox => {
                let s = (dw / cw).min(dh / ch);
                (s, s)
            }
            Fit::Fill => {
                let s = (dw / cw).max(dh / ch);
                (s, s)
            }
        };
        // Edges map to edges: the crop's centre lands on the output's centre.
        let crop_centre = (
            f64::from(crop.x) + (cw - 1.0) / 2.0,
            f64::from(crop.y) + (ch - 1.0) / 2.0,
        );
        let dst_centre = ((dw - 1.0) / 2.0, (dh - 1.0) / 2.0);
        let mut around_centre = Affine::scale(sx, sy);
        if self.rotation != 0.0 {
            around_centre = Affine::rotate(self.rotation).after(&around_centre);
        }
        if self.flip_horizontal || self.flip_vertical {
            let fx = if self.flip_horizontal { -1.0 } else { 1.0 };
            let fy = if self.flip_vertical { -1.0 } else { 1.0 };
            around_centre = Affine::scale(fx, fy).after(&around_centre);
        }
        let forward = Affine::translate(dst_centre.0, dst_centre.1)
            .after(&around_centre)
            .after(&Affine::translate(-crop_centre.0, -crop_centre.1));
        if !forward.is_finite() {
            return Err("rotation is not a finite angle".into());
        }
        Ok(forward)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: &Affine, b: &Affine) -> bool {
        a.0.iter()
            .zip(b.0.iter())
            .all(|(x, y)| (x - y).abs() < 1e-9)
    }

    fn place(fit: Fit) -> Placement {
        Placement {
            crop: None,
            fit,
            rotation: 0.0,
            flip_horizontal: false,
            flip_vertical: false,
        }
    }

    #[test]
    fn inverse_undoes_the_matrix() {
        let m = Affine([0.7, -0.4, 12.5, 0.3, 1.2, -7.0]);
        let inv = m.invert().unwrap();
        assert!(close(&inv.after(&m), &Affine::IDENTITY));
        assert!(close(&m.after(&inv), &Affine::IDENTITY));
        assert!(Affine([1.0, 2.0, 0.0, 2.0, 4.0, 0.0]).invert().is_none());
    }

    #[test]
    fn stretch_maps_edges_to_edges() {
        let m = place(Fit::Stretch)
            .forward((1920, 1080), (224, 224))
            .unwrap();
        // The left edge of the first pixel and the right edge of the last map to the output's.
        let (x0, y0) = m.apply(-0.5, -0.5);
        let (x1, y1) = m.apply(1919.5, 1079.5);
        assert!((x0 + 0.5).abs() < 1e-9 && (y0 + 0.5).abs() < 1e-9);
        assert!((x1 - 223.5).abs() < 1e-9 && (y1 - 223.5).abs() < 1e-9);
        // The same matrix cv2.resize uses: src = (dst + 0.5) * scale - 0.5.
        let inv = m.invert().unwrap();
        let scale = 1920.0 / 224.0;
        assert!((inv.apply(10.0, 0.0).0 - ((10.5 * scale) - 0.5)).abs() < 1e-9);
    }

    #[test]
    fn letterbox_centres_and_keeps_aspect() {
        let m = place(Fit::Letterbox)
            .forward((1920, 1080), (640, 640))
            .unwrap();
        assert!((m.0[0] - m.0[4]).abs() < 1e-12);
        let (_, top) = m.apply(0.0, -0.5);
        let (_, bottom) = m.apply(0.0, 1079.5);
        // 1080 * (640 / 1920) = 360 rows, centred: 140 rows of border above and below.
        assert!((top - 139.5).abs() < 1e-9, "{top}");
        assert!((bottom - 499.5).abs() < 1e-9, "{bottom}");
    }

    #[test]
    fn fill_covers_the_output() {
        let m = place(Fit::Fill).forward((1920, 1080), (224, 224)).unwrap();
        let (left, top) = m.apply(-0.5, -0.5);
        let (right, bottom) = m.apply(1919.5, 1079.5);
        assert!(left < -0.5 && right > 223.5);
        assert!((top + 0.5).abs() < 1e-9 && (bottom - 223.5).abs() < 1e-9);
    }

    #[test]
    fn crop_selects_the_rectangle() {
        let p = Placement {
            crop: Some(Rect {
                x: 100,
                y: 50,
                width: 200,
                height: 100,
            }),
            ..place(Fit::Stretch)
        };
        let m = p.forward((640, 480), (200, 100)).unwrap();
        assert!(close(&m, &Affine::translate(-100.0, -50.0)));
        let outside = Placement {
            crop: Some(Rect {
                x: 600,
                y: 0,
                width: 100,
                height: 10,
            }),
            ..place(Fit::Stretch)
        };
        assert!(outside.forward((640, 480), (10, 10)).is_err());
    }

    #[test]
    fn rotation_and_flips_turn_about_the_centre() {
        let p = Placement {
            rotation: 90.0,
            ..place(Fit::Stretch)
        };
        let m = p.forward((100, 100), (100, 100)).unwrap();
        let (cx, cy) = m.apply(49.5, 49.5);
        assert!((cx - 49.5).abs() < 1e-9 && (cy - 49.5).abs() < 1e-9);
        // Counter-clockwise on screen: the right-middle point goes to the top-middle.
        let (x, y) = m.apply(99.0, 49.5);
        assert!((x - 49.5).abs() < 1e-9 && (y - 0.0).abs() < 1e-9, "{x} {y}");
        let flip = Placement {
            flip_horizontal: true,
            ..place(Fit::Stretch)
        };
        let m = flip.forward((100, 50), (100, 50)).unwrap();
        assert!(close(&m, &Affine([-1.0, 0.0, 99.0, 0.0, 1.0, 0.0])));
    }

    #[test]
    fn parses_matrix_strings() {
        let m: Affine = "1 0 5; 0 1 -2.5".parse().unwrap();
        assert_eq!(m, Affine([1.0, 0.0, 5.0, 0.0, 1.0, -2.5]));
        let m: Affine = "0.5,0,0,0,0.5,0".parse().unwrap();
        assert_eq!(m, Affine::scale(0.5, 0.5));
        assert!("1 0 0 0 1".parse::<Affine>().unwrap_err().contains("has 5"));
        assert!("1 0 x 0 1 0".parse::<Affine>().unwrap_err().contains("'x'"));
        assert!("1 0 nan 0 1 0".parse::<Affine>().is_err());
    }

    #[test]
    fn half_plane_matrix_keeps_chroma_aligned() {
        // A 2x downscale of luma is a 2x downscale of chroma, with centres kept aligned.
        let luma = place(Fit::Stretch)
            .forward((64, 32), (32, 16))
            .unwrap()
            .invert()
            .unwrap();
        let chroma = luma.for_half_plane();
        // Chroma sample c of the output is centred on luma 2c + 0.5; its source is the luma
        // matrix applied there, in chroma coordinates.
        let (lx, ly) = luma.apply(2.0 * 3.0 + 0.5, 2.0 * 5.0 + 0.5);
        let (cx, cy) = chroma.apply(3.0, 5.0);
        assert!((cx - (lx - 0.5) / 2.0).abs() < 1e-12);
        assert!((cy - (ly - 0.5) / 2.0).abs() < 1e-12);
    }
}
