//! Launching the colour conversion kernels of `kernels/cvtcolor.cu`.

use super::device::{grid_2d, Stream};
use super::error::CudaError;
use super::kernels::Surface;
use crate::colorspace::{conversion_coefficients, Encoding, Family, PixelFormat};

const MODULE: &str = "cvtcolor";

/// Kernel for every format pair and size.
pub const GENERIC_ENTRY: &str = "cvtcolor_generic";

/// Vectorised 8-bit 4:2:0 -> RGB-family kernels, named after their output format.
pub const FAST_ENTRIES: &[&str] = &[
    "cvtcolor_yuv420_to_RGB",
    "cvtcolor_yuv420_to_BGR",
    "cvtcolor_yuv420_to_RGBA",
    "cvtcolor_yuv420_to_BGRA",
    "cvtcolor_yuv420_to_RGBx",
    "cvtcolor_yuv420_to_BGRx",
    "cvtcolor_yuv420_to_ARGB",
    "cvtcolor_yuv420_to_ABGR",
    "cvtcolor_yuv420_to_RGBP",
    "cvtcolor_yuv420_to_BGRP",
];

/// Mirrors `Conversion` in `kernels/cvtcolor.cu`.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq)]
struct Conversion {
    m: [[f32; 4]; 3],
    out_max: f32,
    out_shift: i32,
    in_shift: i32,
    neutral: f32,
}

// SAFETY: plain-old-data with the layout of the CUDA struct.
unsafe impl cudarc::driver::DeviceRepr for Conversion {}

/// A conversion from one encoding to another, ready to launch on any pair of surfaces of those
/// formats and of equal size.
#[derive(Clone, Debug)]
pub struct ColorConversion {
    params: Conversion,
    src: PixelFormat,
    dst: PixelFormat,
}

impl ColorConversion {
    pub fn new(src: &Encoding, dst: &Encoding) -> Self {
        let m64 = conversion_coefficients(src, dst);
        let mut m = [[0f32; 4]; 3];
        for (row, row64) in m.iter_mut().zip(m64.iter()) {
            for (v, v64) in row.iter_mut().zip(row64.iter()) {
                *v = *v64 as f32;
            }
        }
        let depth = dst.format.depth();
        ColorConversion {
            params: Conversion {
                m,
                out_max: ((1u64 << depth) - 1) as f32,
                out_shift: dst.format.sample_shift() as i32,
                in_shift: src.format.sample_shift() as i32,
                neutral: (1u32 << (src.format.depth() - 1)) as f32,
            },
            src: src.format,
            dst: dst.format,
        }
    }

    /// The kernel entry that serves these surfaces: the vectorised 4:2:0 -> RGB kernel when the
    /// formats, size and alignment allow it, the generic one otherwise.
    pub fn entry_point(&self, src: &Surface, dst: &Surface) -> &'static str {
        let fast_src = matches!(
            self.src,
            PixelFormat::Nv12 | PixelFormat::Nv21 | PixelFormat::I420 | PixelFormat::Yv12
        );
        let dst_align = if self.dst.packed_pixel_bytes() == Some(4) {
            16
        } else {
            4
        };
        let fast = fast_src
            && self.dst.family() == Family::Rgb
            && src.width % 4 == 0
            && src.height % 2 == 0
            && src.aligned_to(4)
            && dst.aligned_to(dst_align);
        if !fast {
            return GENERIC_ENTRY;
        }
        let name = self.dst.name();
        FAST_ENTRIES
            .iter()
            .find(|entry| entry.strip_prefix("cvtcolor_yuv420_to_") == Some(name))
            .copied()
            .unwrap_or(GENERIC_ENTRY)
    }

    /// Queues the conversion of `src` into `dst` on `stream`.
    ///
    /// # Safety
    /// Both surfaces must describe live device memory of `stream`'s device, laid out as their
    /// formats say, until the work queued on `stream` has run.
    pub unsafe fn launch(
        &self,
        stream: &Stream,
        src: &Surface,
        dst: &Surface,
    ) -> Result<(), CudaError> {
        if src.pixel_format() != self.src || dst.pixel_format() != self.dst {
            return Err(CudaError::Invalid(format!(
                "conversion {} -> {} launched on {} -> {} surfaces",
                self.src,
                self.dst,
                src.pixel_format(),
                dst.pixel_format()
            )));
        }
        if (src.width, src.height) != (dst.width, dst.height) || src.width <= 0 || src.height <= 0 {
            return Err(CudaError::Invalid(format!(
                "colour conversion needs equal, non-empty sizes, got {}x{} -> {}x{}",
                src.width, src.height, dst.width, dst.height
            )));
        }
        let entry = self.entry_point(src, dst);
        let (w, h) = (src.width as u32, src.height as u32);
        let config = if entry == GENERIC_ENTRY {
            grid_2d(w.div_ceil(2), h.div_ceil(2), (32, 8))
        } else {
            grid_2d(w / 4, h / 2, (32, 8))
        };
        // SAFETY: the argument types mirror the kernels' (Surface, Surface, Conversion); the
        // surfaces' memory is the caller's to keep alive.
        unsafe { stream.launch(MODULE, entry, config, (src, dst, &self.params)) }
    }
}
