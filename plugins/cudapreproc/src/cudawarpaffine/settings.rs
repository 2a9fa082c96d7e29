//! What the warp's properties mean for a frame: the crop, the placement and the matrix they
//! give for the negotiated sizes, the output size they ask for, the border value, and matrices
//! read from property values, metas and events.

use cudapreproc_core::geometry::{Affine, Placement, Rect};
use gst::glib;

use super::{WarpBorder, WarpFit, WarpInterpolation};
use crate::property::{array_of, number};

pub(super) const DEFAULT_SIZE: u32 = 0;
/// Largest output side: 16384 x 16384 at 4 bytes a pixel is 1 GiB, well inside what a GStreamer
/// buffer holds (4 GiB); no model takes more.
pub(super) const MAX_SIZE: u32 = 16384;
/// Largest crop coordinate: caps sizes are gint.
pub(super) const MAX_CROP: u32 = i32::MAX as u32;
/// Largest border value: the top of 16-bit code values, the deepest format warped.
pub(super) const MAX_BORDER_VALUE: f64 = 65535.0;
pub(super) const DEFAULT_INVERSE_MAP: bool = false;
pub(super) const DEFAULT_INTERPOLATION: WarpInterpolation = WarpInterpolation::Linear;
pub(super) const DEFAULT_BORDER: WarpBorder = WarpBorder::Constant;
pub(super) const DEFAULT_FIT: WarpFit = WarpFit::Stretch;
pub(super) const DEFAULT_ROTATION: f64 = 0.0;
pub(super) const DEFAULT_FLIP: bool = false;

#[derive(Debug, Clone)]
pub(super) struct Settings {
    pub(super) width: u32,
    pub(super) height: u32,
    /// The user's matrix; `None`: computed from the placement properties.
    pub(super) matrix: Option<Affine>,
    pub(super) inverse_map: bool,
    pub(super) interpolation: WarpInterpolation,
    pub(super) border: WarpBorder,
    /// Per component; empty: black.
    pub(super) border_value: Vec<f64>,
    pub(super) fit: WarpFit,
    pub(super) crop: Rect,
    pub(super) rotation: f64,
    pub(super) flip_horizontal: bool,
    pub(super) flip_vertical: bool,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            width: DEFAULT_SIZE,
            height: DEFAULT_SIZE,
            matrix: None,
            inverse_map: DEFAULT_INVERSE_MAP,
            interpolation: DEFAULT_INTERPOLATION,
            border: DEFAULT_BORDER,
            border_value: Vec::new(),
            fit: DEFAULT_FIT,
            crop: Rect {
                x: 0,
                y: 0,
                width: 0,
                height: 0,
            },
            rotation: DEFAULT_ROTATION,
            flip_horizontal: DEFAULT_FLIP,
            flip_vertical: DEFAULT_FLIP,
        }
    }
}

impl Settings {
    /// The source rectangle in a `src` sized input: `None` when no crop property is set; a
    /// `crop-width` or `crop-height` of 0 reaches the right or bottom edge.
    pub(super) fn crop(&self, src: (u32, u32)) -> Option<Rect> {
        let c = self.crop;
        if (c.x, c.y, c.width, c.height) == (0, 0, 0, 0) {
            return None;
        }
        let or_to_edge = |len: u32, start: u32, size: u32| {
            if len > 0 {
                len
            } else {
                size.saturating_sub(start)
            }
        };
        Some(Rect {
            x: c.x,
            y: c.y,
            width: or_to_edge(c.width, c.x, src.0),
            height: or_to_edge(c.height, c.y, src.1),
        })
    }

    /// Whether the crop properties fit a `src` sized input (a user matrix leaves them unused);
    /// the error names them and the input size.
    pub(super) fn check_crop(&self, src: (u32, u32)) -> Result<(), String> {
        let Some(rect) = self.crop(src).filter(|_| self.matrix.is_none()) else {
            return Ok(());
        };
        let c = self.crop;
        let outside = |start: u32, used: u32, size: u32| {
            used == 0 || u64::from(start) + u64::from(used) > u64::from(size)
        };
        let named = |axis: &str, start: u32, extent: &str, len: u32| {
            if len > 0 {
                format!("crop-{axis}={start} and crop-{extent}={len} reach beyond")
            } else {
                format!("crop-{axis}={start} is outside")
            }
        };
        let why = if outside(rect.x, rect.width, src.0) {
            named("x", c.x, "width", c.width)
        } else if outside(rect.y, rect.height, src.1) {
            named("y", c.y, "height", c.height)
        } else {
            return Ok(());
        };
        Err(format!("{why} the {}x{} input", src.0, src.1))
    }

    fn placement(&self, src: (u32, u32)) -> Placement {
        Placement {
            crop: self.crop(src),
            fit: self.fit.into(),
            rotation: self.rotation,
            flip_horizontal: self.flip_horizontal,
            flip_vertical: self.flip_vertical,
        }
    }

    /// The destination -> source matrix for these sizes: the user's matrix (with or without
    /// `inverse-map`), or the one the placement properties describe.
    pub(super) fn inverse_matrix(
        &self,
        user: Option<(Affine, bool)>,
        src: (u32, u32),
        dst: (u32, u32),
    ) -> Result<Affine, String> {
        let user = user.or(self.matrix.map(|m| (m, self.inverse_map)));
        match user {
            Some((m, true)) => Ok(m),
            Some((m, false)) => m.invert().ok_or_else(|| {
                format!(
                    "matrix {m} is singular, it has no inverse (inverse-map=true if it maps \
                     output to source)"
                )
            }),
            None => {
                let forward = self.placement(src).forward(src, dst)?;
                forward
                    .invert()
                    .ok_or_else(|| format!("placement gives a singular matrix {forward}"))
            }
        }
    }
}

/// The border value for frames of `info`: the user's per-component values (one value: every
/// colour component), the rest black and opaque.
pub(super) fn border_value(info: &gst_video::VideoInfo, user: &[f64]) -> [f64; 4] {
    let finfo = info.format_info();
    let depth_scale = f64::from(1u32 << (finfo.depth()[0] - 8));
    let mut value = if finfo.is_yuv() {
        let luma = match info.colorimetry().range() {
            gst_video::VideoColorRange::Range0_255 => 0.0,
            _ => 16.0,
        };
        [
            luma * depth_scale,
            128.0 * depth_scale,
            128.0 * depth_scale,
            255.0,
        ]
    } else {
        [0.0, 0.0, 0.0, 255.0]
    };
    match user {
        [] => {}
        [single] => value[..3].fill(*single),
        values => {
            for (slot, v) in value.iter_mut().zip(values) {
                *slot = *v;
            }
        }
    }
    value
}

/// Reads a matrix from a structure field holding 6 numbers (an array) or a string.
pub(super) fn matrix_from_value(value: &glib::SendValue) -> Result<Affine, String> {
    if let Ok(text) = value.get::<&str>() {
        return text.parse();
    }
    let array = value
        .get::<gst::Array>()
        .map_err(|_| format!("matrix of type {} (6 numbers expected)", value.type_()))?;
    let numbers = array
        .iter()
        .map(number)
        .collect::<Result<Vec<f64>, String>>()?;
    let values: [f64; 6] = numbers.try_into().map_err(|v: Vec<f64>| {
        format!(
            "a 2x3 affine matrix has 6 numbers, the array has {}",
            v.len()
        )
    })?;
    let matrix = Affine(values);
    if !matrix.is_finite() {
        return Err(format!("matrix {matrix} has a value that is not finite"));
    }
    Ok(matrix)
}

/// A matrix (and optional `inverse-map`) from the structure of our meta or event.
pub(super) fn matrix_from_structure(
    s: &gst::StructureRef,
) -> Result<(Affine, Option<bool>), String> {
    let value = s
        .value("matrix")
        .map_err(|_| format!("{} has no 'matrix' field", s.name()))?;
    let matrix = matrix_from_value(value)?;
    let inverse = s.get::<bool>("inverse-map").ok();
    Ok((matrix, inverse))
}

pub(super) fn matrix_to_array(m: &Affine) -> gst::Array {
    array_of(&m.0)
}

/// The output size for an input of `in_size`: the properties' when set (one of them set: the
/// other keeps the input's aspect ratio), else `peer`'s (what downstream fixed), else the input's.
pub(super) fn output_size(
    settings: &Settings,
    in_size: (u32, u32),
    peer: (Option<u32>, Option<u32>),
) -> (u32, u32) {
    let (w, h) = (settings.width, settings.height);
    // Clamped to what caps can say: a 1x1000000 input with width=16384 gives 1.6e10 rows, which
    // `as u32` truncated to an unrelated size (or a negative caps int).
    let scaled = |a: u32, num: u32, den: u32| {
        ((u64::from(a) * u64::from(num) + u64::from(den) / 2) / u64::from(den))
            .clamp(1, i32::MAX as u64) as u32
    };
    match (w, h) {
        (0, 0) => (peer.0.unwrap_or(in_size.0), peer.1.unwrap_or(in_size.1)),
        (w, 0) => (w, peer.1.unwrap_or_else(|| scaled(in_size.1, w, in_size.0))),
        (0, h) => (peer.0.unwrap_or_else(|| scaled(in_size.0, h, in_size.1)), h),
        (w, h) => (w, h),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_size_keeps_the_aspect_ratio() {
        // (width, height) properties, input size, peer's (width, height), output size.
        let cases = [
            ((224, 0), (1920, 1080), (None, None), (224, 126)),
            ((0, 360), (1920, 1080), (None, None), (640, 360)),
            ((0, 0), (1920, 1080), (Some(300), None), (300, 1080)),
            // Found with the filter_caps fuzz target's aspect check: the kept dimension was
            // truncated to 32 bits (1.6e10 rows became 3499098112, then a negative caps int).
            (
                (16384, 0),
                (1, 1_000_000),
                (None, None),
                (16384, i32::MAX as u32),
            ),
        ];
        for ((width, height), input, peer, expected) in cases {
            let settings = Settings {
                width,
                height,
                ..Settings::default()
            };
            assert_eq!(
                output_size(&settings, input, peer),
                expected,
                "{width}x{height} from {input:?}, peer {peer:?}"
            );
        }
    }

    #[test]
    fn user_matrix_wins_over_placement() {
        let settings = Settings {
            matrix: Some(Affine::scale(2.0, 2.0)),
            fit: WarpFit::Letterbox,
            ..Settings::default()
        };
        let inverse = settings.inverse_matrix(None, (10, 10), (20, 20)).unwrap();
        assert_eq!(inverse, Affine::scale(0.5, 0.5));
        let inverse_map = Settings {
            inverse_map: true,
            ..settings.clone()
        };
        let inverse = inverse_map
            .inverse_matrix(None, (10, 10), (20, 20))
            .unwrap();
        assert_eq!(inverse, Affine::scale(2.0, 2.0));
        let per_buffer = Some((Affine::translate(1.0, 0.0), true));
        assert_eq!(
            settings
                .inverse_matrix(per_buffer, (10, 10), (20, 20))
                .unwrap(),
            Affine::translate(1.0, 0.0)
        );
        let singular = Settings {
            matrix: Some(Affine([1.0, 1.0, 0.0, 1.0, 1.0, 0.0])),
            ..Settings::default()
        };
        assert!(singular
            .inverse_matrix(None, (10, 10), (20, 20))
            .unwrap_err()
            .contains("singular"));
    }

    #[test]
    fn border_defaults_to_black() {
        gst::init().unwrap();
        let info = |format, colorimetry: &str| {
            let mut caps = gst_video::VideoCapsBuilder::new()
                .format(format)
                .width(16)
                .height(16)
                .framerate(gst::Fraction::new(30, 1))
                .build();
            caps.get_mut().unwrap().set("colorimetry", colorimetry);
            gst_video::VideoInfo::from_caps(&caps).unwrap()
        };
        use gst_video::VideoFormat as F;
        assert_eq!(
            border_value(&info(F::Nv12, "bt709"), &[]),
            [16.0, 128.0, 128.0, 255.0]
        );
        assert_eq!(
            border_value(&info(F::P01010le, "bt709"), &[]),
            [64.0, 512.0, 512.0, 255.0]
        );
        assert_eq!(border_value(&info(F::Nv12, "1:3:5:1"), &[])[0], 0.0);
        assert_eq!(
            border_value(&info(F::Rgba, "sRGB"), &[]),
            [0.0, 0.0, 0.0, 255.0]
        );
        assert_eq!(
            border_value(&info(F::Rgb, "sRGB"), &[114.0]),
            [114.0, 114.0, 114.0, 255.0]
        );
        assert_eq!(
            border_value(&info(F::Rgba, "sRGB"), &[1.0, 2.0, 3.0, 4.0]),
            [1.0, 2.0, 3.0, 4.0]
        );
    }

    #[test]
    fn crop_reaches_the_edges_and_must_fit() {
        let crop = |x, y, width, height| Settings {
            crop: Rect {
                x,
                y,
                width,
                height,
            },
            ..Settings::default()
        };
        assert_eq!(Settings::default().crop((320, 240)), None);
        assert_eq!(
            crop(10, 20, 0, 0).crop((320, 240)),
            Some(Rect {
                x: 10,
                y: 20,
                width: 310,
                height: 220
            })
        );
        assert!(crop(10, 20, 100, 50).check_crop((320, 240)).is_ok());
        assert_eq!(
            crop(300, 0, 100, 100).check_crop((320, 240)).unwrap_err(),
            "crop-x=300 and crop-width=100 reach beyond the 320x240 input"
        );
        assert_eq!(
            crop(0, 240, 0, 0).check_crop((320, 240)).unwrap_err(),
            "crop-y=240 is outside the 320x240 input"
        );
        // A user matrix leaves the crop unused.
        let with_matrix = Settings {
            matrix: Some(Affine::IDENTITY),
            ..crop(300, 0, 100, 100)
        };
        assert!(with_matrix.check_crop((320, 240)).is_ok());
    }
}
