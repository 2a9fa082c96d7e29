//! Launching the colour conversion kernels of `kernels/cvtcolor.cu`.

use crate::colorspace::{conversion_coefficients, Encoding, Family, PixelFormat};
use crate::cuda::{grid_2d, CudaError, CudaResult, Stream};
use crate::frame::{on_stream, pixel_format, Frame, FrameView, FrameViewMut};

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

/// An image as the colour kernels take it: plane addresses and row pitches. Mirrors `Surface` in
/// `kernels/common.cuh`.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Surface {
    plane: [u64; 3],
    stride: [i32; 3],
    width: i32,
    height: i32,
    format: i32,
}

// SAFETY: plain-old-data with the layout of the CUDA struct.
unsafe impl cudarc::driver::DeviceRepr for Surface {}

impl Surface {
    fn of(frame: &Frame) -> Result<Surface, CudaError> {
        let format = pixel_format(frame.format)?;
        let (mut plane, mut stride) = ([0u64; 3], [0i32; 3]);
        for i in 0..format.n_planes() {
            plane[i] = frame.planes[i].addr;
            stride[i] = frame.planes[i].pitch as i32;
        }
        Ok(Surface {
            plane,
            stride,
            width: frame.width as i32,
            height: frame.height as i32,
            format: format as i32,
        })
    }
}

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

    /// The kernel entry that serves these frames: the vectorised 4:2:0 -> RGB kernel when the
    /// formats, size and alignment allow it, the generic one otherwise.
    fn entry_point(&self, src: &Frame, dst: &Frame) -> &'static str {
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
            && src.width.is_multiple_of(4)
            && src.height.is_multiple_of(2)
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

    /// The kernel entry [`Self::launch`] runs for these frames.
    pub fn entry_for(&self, src: &FrameView, dst: &FrameViewMut) -> &'static str {
        self.entry_point(&src.raw, &dst.raw)
    }

    /// Queues the conversion of `src` into `dst` on `stream`: frames of the conversion's formats
    /// and of one size.
    pub fn launch(
        &self,
        stream: &Stream,
        src: &FrameView,
        dst: &mut FrameViewMut,
    ) -> CudaResult<()> {
        let (s, d) = (&src.raw, &dst.raw);
        on_stream(stream, [s.device, d.device])?;
        let (src_format, dst_format) = (pixel_format(s.format)?, pixel_format(d.format)?);
        if src_format != self.src || dst_format != self.dst {
            return Err(CudaError::Invalid(format!(
                "conversion {} -> {} launched on {src_format} -> {dst_format} frames",
                self.src, self.dst
            )));
        }
        if (s.width, s.height) != (d.width, d.height) || s.width == 0 || s.height == 0 {
            return Err(CudaError::Invalid(format!(
                "colour conversion needs equal, non-empty sizes, got {}x{} -> {}x{}",
                s.width, s.height, d.width, d.height
            )));
        }
        let entry = self.entry_point(s, d);
        let config = if entry == GENERIC_ENTRY {
            grid_2d(s.width.div_ceil(2), s.height.div_ceil(2), (32, 8))
        } else {
            grid_2d(s.width / 4, s.height / 2, (32, 8))
        };
        let (src_surface, dst_surface) = (Surface::of(s)?, Surface::of(d)?);
        // SAFETY: the argument types mirror the kernels' (Surface, Surface, Conversion); the
        // frames are live device memory of the checked formats and size (the views' guarantee).
        unsafe {
            stream.launch(
                MODULE,
                entry,
                config,
                (&src_surface, &dst_surface, &self.params),
            )
        }
    }
}
