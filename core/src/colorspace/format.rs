//! The pixel formats the colour kernels read and write, and how each is laid out.
//!
//! The numeric value of each [`PixelFormat`] is the format id the kernels in
//! `kernels/cvtcolor.cu` switch on; the two lists must stay in the same order.

use gst_video::VideoFormat;

/// What the three colour components of a format mean.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Family {
    /// Luma and two colour-difference components (Y'CbCr).
    Yuv,
    /// Luma only.
    Gray,
    /// Red, green, blue (always full range).
    Rgb,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u32)]
pub enum PixelFormat {
    Nv12 = 0,
    Nv21 = 1,
    I420 = 2,
    Yv12 = 3,
    P010 = 4,
    P016 = 5,
    I420_10 = 6,
    Y444 = 7,
    Y42b = 8,
    Nv16 = 9,
    Gray8 = 10,
    Rgb = 11,
    Bgr = 12,
    Rgba = 13,
    Bgra = 14,
    Rgbx = 15,
    Bgrx = 16,
    Argb = 17,
    Abgr = 18,
    Rgbp = 19,
    Bgrp = 20,
}

impl PixelFormat {
    pub const ALL: [PixelFormat; 21] = [
        PixelFormat::Nv12,
        PixelFormat::Nv21,
        PixelFormat::I420,
        PixelFormat::Yv12,
        PixelFormat::P010,
        PixelFormat::P016,
        PixelFormat::I420_10,
        PixelFormat::Y444,
        PixelFormat::Y42b,
        PixelFormat::Nv16,
        PixelFormat::Gray8,
        PixelFormat::Rgb,
        PixelFormat::Bgr,
        PixelFormat::Rgba,
        PixelFormat::Bgra,
        PixelFormat::Rgbx,
        PixelFormat::Bgrx,
        PixelFormat::Argb,
        PixelFormat::Abgr,
        PixelFormat::Rgbp,
        PixelFormat::Bgrp,
    ];

    pub fn video_format(self) -> VideoFormat {
        match self {
            PixelFormat::Nv12 => VideoFormat::Nv12,
            PixelFormat::Nv21 => VideoFormat::Nv21,
            PixelFormat::I420 => VideoFormat::I420,
            PixelFormat::Yv12 => VideoFormat::Yv12,
            PixelFormat::P010 => VideoFormat::P01010le,
            PixelFormat::P016 => VideoFormat::P016Le,
            PixelFormat::I420_10 => VideoFormat::I42010le,
            PixelFormat::Y444 => VideoFormat::Y444,
            PixelFormat::Y42b => VideoFormat::Y42b,
            PixelFormat::Nv16 => VideoFormat::Nv16,
            PixelFormat::Gray8 => VideoFormat::Gray8,
            PixelFormat::Rgb => VideoFormat::Rgb,
            PixelFormat::Bgr => VideoFormat::Bgr,
            PixelFormat::Rgba => VideoFormat::Rgba,
            PixelFormat::Bgra => VideoFormat::Bgra,
            PixelFormat::Rgbx => VideoFormat::Rgbx,
            PixelFormat::Bgrx => VideoFormat::Bgrx,
            PixelFormat::Argb => VideoFormat::Argb,
            PixelFormat::Abgr => VideoFormat::Abgr,
            PixelFormat::Rgbp => VideoFormat::Rgbp,
            PixelFormat::Bgrp => VideoFormat::Bgrp,
        }
    }

    pub fn from_video_format(format: VideoFormat) -> Option<Self> {
        Self::ALL.into_iter().find(|f| f.video_format() == format)
    }

    /// The GStreamer caps name, e.g. `"P010_10LE"`.
    pub fn name(self) -> &'static str {
        self.video_format().to_str()
    }

    pub fn family(self) -> Family {
        match self {
            PixelFormat::Gray8 => Family::Gray,
            PixelFormat::Rgb
            | PixelFormat::Bgr
            | PixelFormat::Rgba
            | PixelFormat::Bgra
            | PixelFormat::Rgbx
            | PixelFormat::Bgrx
            | PixelFormat::Argb
            | PixelFormat::Abgr
            | PixelFormat::Rgbp
            | PixelFormat::Bgrp => Family::Rgb,
            _ => Family::Yuv,
        }
    }

    /// Significant bits per component.
    pub fn depth(self) -> u32 {
        match self {
            PixelFormat::P010 | PixelFormat::I420_10 => 10,
            PixelFormat::P016 => 16,
            _ => 8,
        }
    }

    /// Bytes one component sample occupies in memory.
    pub fn sample_bytes(self) -> usize {
        if self.depth() > 8 {
            2
        } else {
            1
        }
    }

    /// Left shift of the significant bits inside a 16-bit sample (P010 keeps its 10 bits high).
    pub fn sample_shift(self) -> u32 {
        match self {
            PixelFormat::P010 => 6,
            _ => 0,
        }
    }

    /// log2 of the horizontal and vertical chroma subsampling factors.
    pub fn chroma_shift(self) -> (u32, u32) {
        match self {
            PixelFormat::Nv12
            | PixelFormat::Nv21
            | PixelFormat::I420
            | PixelFormat::Yv12
            | PixelFormat::P010
            | PixelFormat::P016
            | PixelFormat::I420_10 => (1, 1),
            PixelFormat::Y42b | PixelFormat::Nv16 => (1, 0),
            _ => (0, 0),
        }
    }

    /// True for formats that carry a real alpha channel (not padding).
    pub fn has_alpha(self) -> bool {
        matches!(
            self,
            PixelFormat::Rgba | PixelFormat::Bgra | PixelFormat::Argb | PixelFormat::Abgr
        )
    }

    pub fn n_planes(self) -> usize {
        match self {
            PixelFormat::Nv12
            | PixelFormat::Nv21
            | PixelFormat::P010
            | PixelFormat::P016
            | PixelFormat::Nv16 => 2,
            PixelFormat::I420
            | PixelFormat::Yv12
            | PixelFormat::I420_10
            | PixelFormat::Y444
            | PixelFormat::Y42b
            | PixelFormat::Rgbp
            | PixelFormat::Bgrp => 3,
            _ => 1,
        }
    }

    /// Bytes per pixel of a packed RGB-family format.
    pub fn packed_pixel_bytes(self) -> Option<usize> {
        match self {
            PixelFormat::Rgb | PixelFormat::Bgr => Some(3),
            PixelFormat::Rgba
            | PixelFormat::Bgra
            | PixelFormat::Rgbx
            | PixelFormat::Bgrx
            | PixelFormat::Argb
            | PixelFormat::Abgr => Some(4),
            PixelFormat::Gray8 => Some(1),
            _ => None,
        }
    }

    /// Byte offsets of R, G, B and alpha (or padding) inside a packed pixel.
    pub fn packed_rgba_offsets(self) -> Option<[usize; 4]> {
        match self {
            PixelFormat::Rgb => Some([0, 1, 2, usize::MAX]),
            PixelFormat::Bgr => Some([2, 1, 0, usize::MAX]),
            PixelFormat::Rgba | PixelFormat::Rgbx => Some([0, 1, 2, 3]),
            PixelFormat::Bgra | PixelFormat::Bgrx => Some([2, 1, 0, 3]),
            PixelFormat::Argb => Some([1, 2, 3, 0]),
            PixelFormat::Abgr => Some([3, 2, 1, 0]),
            _ => None,
        }
    }

    /// The caps names of every supported format.
    pub fn caps_list() -> Vec<&'static str> {
        Self::ALL.iter().map(|f| f.name()).collect()
    }
}

impl std::fmt::Display for PixelFormat {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}
