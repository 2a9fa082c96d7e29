//! Launching the affine warp kernels of `kernels/warp.cu` on every plane of a frame.

use crate::caps;
use crate::cuda::{grid_2d, CudaError, CudaResult, Stream};
use crate::frame::{on_stream, FrameView, FrameViewMut};
use crate::geometry::Affine;

const MODULE: &str = "warp";

/// How output pixels are computed from the source.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Interpolation {
    Nearest,
    Linear,
    Cubic,
    /// Mean over the pixel's footprint when the matrix only scales down (and translates);
    /// linear otherwise, as OpenCV's warpAffine does.
    Area,
}

/// What is read outside the source image (OpenCV's border modes).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(i32)]
pub enum Border {
    /// The border value.
    Constant = 0,
    /// The nearest edge pixel: aaa|abcdefgh|hhh.
    Replicate = 1,
    /// Mirrored, edge pixel repeated: cba|abcdefgh|hgf.
    Reflect = 2,
    /// Mirrored about the edge pixel: dcb|abcdefgh|gfe.
    Reflect101 = 3,
    /// Tiled: fgh|abcdefgh|abc.
    Wrap = 4,
}

/// The video formats the warp handles, with how each is split into planes.
pub const FORMATS: &[&str] =
    &caps::joined::<4, 8, 12>(["NV12", "I420", "P010_10LE", "GRAY8"], caps::RGB_FORMATS);

/// One plane of a format: interleaved channels, sample size, whether it is subsampled by 2 in
/// both directions, and which of the format's components (0..4) its channels hold.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PlaneKind {
    pub channels: usize,
    pub wide: bool,
    pub half: bool,
    pub components: [usize; 4],
}

const fn plane(channels: usize, wide: bool, half: bool, components: [usize; 4]) -> PlaneKind {
    PlaneKind {
        channels,
        wide,
        half,
        components,
    }
}

/// The planes of `format` (one of [`FORMATS`]) in plane order, and the left shift of a code
/// value inside its sample word. Components are numbered in the format's natural order
/// (Y, U, V or R, G, B, A).
pub fn planes_of(format: gst_video::VideoFormat) -> Option<(Vec<PlaneKind>, u32)> {
    use gst_video::VideoFormat as F;
    let planes = match format {
        F::Nv12 => vec![
            plane(1, false, false, [0, 0, 0, 0]),
            plane(2, false, true, [1, 2, 0, 0]),
        ],
        F::P01010le => vec![
            plane(1, true, false, [0, 0, 0, 0]),
            plane(2, true, true, [1, 2, 0, 0]),
        ],
        F::I420 => vec![
            plane(1, false, false, [0, 0, 0, 0]),
            plane(1, false, true, [1, 0, 0, 0]),
            plane(1, false, true, [2, 0, 0, 0]),
        ],
        F::Gray8 => vec![plane(1, false, false, [0, 0, 0, 0])],
        F::Rgb => vec![plane(3, false, false, [0, 1, 2, 0])],
        F::Bgr => vec![plane(3, false, false, [2, 1, 0, 0])],
        F::Rgba | F::Rgbx => vec![plane(4, false, false, [0, 1, 2, 3])],
        F::Bgra | F::Bgrx => vec![plane(4, false, false, [2, 1, 0, 3])],
        F::Rgbp => (0..3)
            .map(|c| plane(1, false, false, [c, 0, 0, 0]))
            .collect(),
        F::Bgrp => (0..3)
            .map(|c| plane(1, false, false, [2 - c, 0, 0, 0]))
            .collect(),
        _ => return None,
    };
    let shift = if format == F::P01010le { 6 } else { 0 };
    Some((planes, shift))
}

/// Mirrors `WarpPlane` in `kernels/warp.cu`.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct WarpPlane {
    addr: u64,
    pitch: i32,
    width: i32,
    height: i32,
}

/// Mirrors `WarpParams` in `kernels/warp.cu`.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq)]
struct WarpParams {
    m: [f32; 6],
    border: [f32; 4],
    border_mode: i32,
    shift: i32,
    max_value: f32,
    word_rows: i32,
}

// SAFETY: plain-old-data with the layouts of the CUDA structs.
unsafe impl cudarc::driver::DeviceRepr for WarpPlane {}
unsafe impl cudarc::driver::DeviceRepr for WarpParams {}

/// One warp of a whole frame: format, sizes, matrix, interpolation and border.
#[derive(Clone, Debug, PartialEq)]
pub struct Warp {
    pub format: gst_video::VideoFormat,
    pub src_size: (u32, u32),
    pub dst_size: (u32, u32),
    /// Destination -> source (OpenCV's matrix with WARP_INVERSE_MAP).
    pub inverse: Affine,
    pub interpolation: Interpolation,
    pub border: Border,
    /// Border value per component, in code values (Y, U, V or R, G, B, A).
    pub border_value: [f64; 4],
}

impl Warp {
    /// The interpolation the kernels actually run: area only where the matrix is an
    /// axis-aligned downscale, linear otherwise (as OpenCV's warpAffine).
    pub fn effective_interpolation(&self) -> Interpolation {
        let m = self.inverse.0;
        // The area kernel loops over each output pixel's footprint, |m0| x |m4| source pixels
        // (in f32, as it computes them). One larger than the whole source is no downscale, and
        // a user's wild matrix (1e30: billions of rows) would have it loop for ever.
        let footprint = f64::from(m[0].abs() as f32) * f64::from(m[4].abs() as f32);
        let source = f64::from(self.src_size.0) * f64::from(self.src_size.1);
        if self.interpolation == Interpolation::Area
            && !(self.inverse.is_axis_aligned()
                && m[0].abs() >= 1.0
                && m[4].abs() >= 1.0
                && footprint <= source)
        {
            return Interpolation::Linear;
        }
        self.interpolation
    }

    /// Queues the warp of `src` into `dst` on `stream`: frames of `self.format`, of the source
    /// and destination sizes.
    pub fn launch(
        &self,
        stream: &Stream,
        src: &FrameView,
        dst: &mut FrameViewMut,
    ) -> CudaResult<()> {
        let (planes, shift) = planes_of(self.format).ok_or_else(|| {
            CudaError::Invalid(format!("warp of format {} is not supported", self.format))
        })?;
        let (s, d) = (&src.raw, &dst.raw);
        on_stream(stream, [s.device, d.device])?;
        let (sw, sh) = self.src_size;
        let (dw, dh) = self.dst_size;
        if (s.format, s.width, s.height) != (self.format, sw, sh)
            || (d.format, d.width, d.height) != (self.format, dw, dh)
        {
            return Err(CudaError::Invalid(format!(
                "warp {} {sw}x{sh} -> {dw}x{dh} launched on {} {}x{} -> {} {}x{}",
                self.format, s.format, s.width, s.height, d.format, d.width, d.height
            )));
        }
        if sw == 0 || sh == 0 || dw == 0 || dh == 0 {
            return Err(CudaError::Invalid(format!(
                "warp needs non-empty frames, got {sw}x{sh} -> {dw}x{dh}"
            )));
        }
        if !self.inverse.is_finite() {
            return Err(CudaError::Invalid(format!(
                "warp matrix {} is not finite",
                self.inverse
            )));
        }
        let interpolation = self.effective_interpolation();
        let max_value = if shift > 0 { 1023.0 } else { 255.0 };
        for (index, kind) in planes.iter().enumerate() {
            let half = |n: u32| if kind.half { n.div_ceil(2) } else { n };
            let m = if kind.half {
                self.inverse.for_half_plane()
            } else {
                self.inverse
            };
            let mut border = [0f32; 4];
            for (value, component) in border.iter_mut().zip(kind.components) {
                *value = self.border_value[component] as f32;
            }
            let (src_plane, dst_plane) = (s.planes[index], d.planes[index]);
            let params = WarpParams {
                m: m.0.map(|v| v as f32),
                border,
                border_mode: self.border as i32,
                shift: shift as i32,
                max_value,
                word_rows: (!kind.wide
                    && src_plane.addr.is_multiple_of(4)
                    && src_plane.pitch.is_multiple_of(4)) as i32,
            };
            let src_plane = WarpPlane {
                addr: src_plane.addr,
                pitch: src_plane.pitch as i32,
                width: half(sw) as i32,
                height: half(sh) as i32,
            };
            let dst_plane = WarpPlane {
                addr: dst_plane.addr,
                pitch: dst_plane.pitch as i32,
                width: half(dw) as i32,
                height: half(dh) as i32,
            };
            let entry = entry(interpolation, kind.wide, kind.channels)?;
            let config = grid_2d(dst_plane.width as u32, dst_plane.height as u32, (32, 8));
            // SAFETY: the argument types mirror the kernel's (WarpPlane, WarpPlane, WarpParams);
            // the planes are live device memory of the checked format and sizes (the views'
            // guarantee).
            unsafe { stream.launch(MODULE, entry, config, (&src_plane, &dst_plane, &params))? };
        }
        Ok(())
    }
}

/// Every kernel entry point of the module, for the kernel compilation tests.
pub fn entries() -> Vec<&'static str> {
    let mut all = Vec::new();
    for interpolation in [
        Interpolation::Nearest,
        Interpolation::Linear,
        Interpolation::Cubic,
        Interpolation::Area,
    ] {
        for (wide, channels) in [
            (false, 1),
            (false, 2),
            (false, 3),
            (false, 4),
            (true, 1),
            (true, 2),
        ] {
            all.push(entry(interpolation, wide, channels).unwrap());
        }
    }
    all
}

fn entry(
    interpolation: Interpolation,
    wide: bool,
    channels: usize,
) -> Result<&'static str, CudaError> {
    macro_rules! names {
        ($interp:literal) => {
            match (wide, channels) {
                (false, 1) => Ok(concat!("warp_", $interp, "_u8_c1")),
                (false, 2) => Ok(concat!("warp_", $interp, "_u8_c2")),
                (false, 3) => Ok(concat!("warp_", $interp, "_u8_c3")),
                (false, 4) => Ok(concat!("warp_", $interp, "_u8_c4")),
                (true, 1) => Ok(concat!("warp_", $interp, "_u16_c1")),
                (true, 2) => Ok(concat!("warp_", $interp, "_u16_c2")),
                _ => Err(CudaError::Invalid(format!(
                    "no warp kernel for {channels} channels of {} samples",
                    if wide { "16-bit" } else { "8-bit" }
                ))),
            }
        };
    }
    match interpolation {
        Interpolation::Nearest => names!("nearest"),
        Interpolation::Linear => names!("linear"),
        Interpolation::Cubic => names!("cubic"),
        Interpolation::Area => names!("area"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_format_has_planes() {
        gst::init().unwrap();
        for name in FORMATS {
            let format = gst_video::VideoFormat::from_string(name);
            let (planes, _) = planes_of(format).unwrap_or_else(|| panic!("{name}"));
            let info = gst_video::VideoInfo::builder(format, 64, 32)
                .build()
                .unwrap();
            assert_eq!(planes.len(), info.n_planes() as usize, "{name}");
            for (i, kind) in planes.iter().enumerate() {
                let (row_bytes, _) = crate::frame::plane_extent(format, 64, 32, i);
                let sample = if kind.wide { 2 } else { 1 };
                let width = if kind.half { 32 } else { 64 };
                assert_eq!(
                    row_bytes,
                    width * kind.channels * sample,
                    "{name} plane {i}"
                );
                assert!(entry(Interpolation::Cubic, kind.wide, kind.channels).is_ok());
            }
        }
    }

    #[test]
    fn area_only_for_axis_aligned_downscales() {
        let warp = |m: [f64; 6]| Warp {
            format: gst_video::VideoFormat::Rgb,
            src_size: (64, 64),
            dst_size: (16, 16),
            inverse: Affine(m),
            interpolation: Interpolation::Area,
            border: Border::Constant,
            border_value: [0.0; 4],
        };
        let down = warp([4.0, 0.0, 1.5, 0.0, 4.0, 1.5]);
        assert_eq!(down.effective_interpolation(), Interpolation::Area);
        let up = warp([0.5, 0.0, 0.0, 0.0, 0.5, 0.0]);
        assert_eq!(up.effective_interpolation(), Interpolation::Linear);
        let rotated = warp([0.0, 4.0, 0.0, 4.0, 0.0, 0.0]);
        assert_eq!(rotated.effective_interpolation(), Interpolation::Linear);
        // Found by fuzzing (warp_geometry): a footprint wider than the source had the area
        // kernel loop over it for every output pixel, for ever with a 1e30 scale.
        let whole = warp([64.0, 0.0, 0.0, 0.0, 64.0, 0.0]);
        assert_eq!(whole.effective_interpolation(), Interpolation::Area);
        for scale in [65.0 * 64.0, 1e30, f64::MAX] {
            let wild = warp([scale, 0.0, 0.0, 0.0, scale, 0.0]);
            assert_eq!(
                wild.effective_interpolation(),
                Interpolation::Linear,
                "{scale}"
            );
        }
    }
}
