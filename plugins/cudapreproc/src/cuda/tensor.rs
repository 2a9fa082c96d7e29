//! Tensors as NNStreamer's caps describe them, and launching the conversions of
//! `kernels/tensor.cu` between video frames and tensors.

use super::device::{grid_2d, Stream};
use super::error::CudaError;
use super::frame::Planes;

const MODULE: &str = "tensor";

/// Element type of a tensor; the names are NNStreamer's `types` strings (bfloat16 is ours:
/// NNStreamer has no such type).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(i32)]
pub enum DType {
    Uint8 = 0,
    Float16 = 1,
    Bfloat16 = 2,
    Float32 = 3,
}

impl DType {
    pub const ALL: [DType; 4] = [
        DType::Uint8,
        DType::Float16,
        DType::Bfloat16,
        DType::Float32,
    ];

    pub fn name(self) -> &'static str {
        match self {
            DType::Uint8 => "uint8",
            DType::Float16 => "float16",
            DType::Bfloat16 => "bfloat16",
            DType::Float32 => "float32",
        }
    }

    pub fn from_name(name: &str) -> Option<DType> {
        DType::ALL.into_iter().find(|d| d.name() == name)
    }

    /// Kernel entry converting video into tensors of this type.
    pub fn to_tensor_entry(self) -> &'static str {
        match self {
            DType::Uint8 => "video_to_tensor_uint8",
            DType::Float16 => "video_to_tensor_float16",
            DType::Bfloat16 => "video_to_tensor_bfloat16",
            DType::Float32 => "video_to_tensor_float32",
        }
    }

    /// Kernel entry for packed 8-bit frames of `pixel_bytes` (3 or 4) bytes per pixel into NCHW
    /// tensors of this type, 4 pixels per thread.
    pub fn packed_to_tensor_entry(self, pixel_bytes: i32) -> &'static str {
        match (pixel_bytes, self) {
            (3, DType::Uint8) => "packed3_to_tensor_nchw_uint8",
            (3, DType::Float16) => "packed3_to_tensor_nchw_float16",
            (3, DType::Bfloat16) => "packed3_to_tensor_nchw_bfloat16",
            (3, DType::Float32) => "packed3_to_tensor_nchw_float32",
            (_, DType::Uint8) => "packed4_to_tensor_nchw_uint8",
            (_, DType::Float16) => "packed4_to_tensor_nchw_float16",
            (_, DType::Bfloat16) => "packed4_to_tensor_nchw_bfloat16",
            (_, DType::Float32) => "packed4_to_tensor_nchw_float32",
        }
    }

    /// Kernel entry converting tensors of this type into video.
    pub fn to_video_entry(self) -> &'static str {
        match self {
            DType::Uint8 => "tensor_to_video_uint8",
            DType::Float16 => "tensor_to_video_float16",
            DType::Bfloat16 => "tensor_to_video_bfloat16",
            DType::Float32 => "tensor_to_video_float32",
        }
    }

    pub fn size(self) -> usize {
        match self {
            DType::Uint8 => 1,
            DType::Float16 | DType::Bfloat16 => 2,
            DType::Float32 => 4,
        }
    }
}

impl std::fmt::Display for DType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// Memory order of a tensor's dimensions (batch of one).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Layout {
    /// Channel planes: [1, C, H, W].
    Nchw,
    /// Interleaved channels: [1, H, W, C].
    Nhwc,
}

/// Shape of one frame's tensor.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TensorShape {
    pub channels: u32,
    pub height: u32,
    pub width: u32,
    pub layout: Layout,
}

impl TensorShape {
    /// The shape, outermost dimension first.
    pub fn dims(&self) -> [u32; 4] {
        match self.layout {
            Layout::Nchw => [1, self.channels, self.height, self.width],
            Layout::Nhwc => [1, self.height, self.width, self.channels],
        }
    }

    /// NNStreamer's `dimensions` string: innermost dimension first, so NCHW 224x224 RGB is
    /// `224:224:3:1`.
    pub fn nnstreamer_dims(&self) -> String {
        let d = self.dims();
        format!("{}:{}:{}:{}", d[3], d[2], d[1], d[0])
    }

    /// Reads a `dimensions` string as a frame tensor of `layout`: four dimensions (missing outer
    /// ones count as 1), batch 1, 1 to 4 channels.
    pub fn from_nnstreamer_dims(dims: &str, layout: Layout) -> Result<TensorShape, String> {
        let mut values = dims
            .split(':')
            .map(|d| d.trim().parse::<u32>())
            .collect::<Result<Vec<_>, _>>()
            .map_err(|_| format!("dimensions \"{dims}\" are not numbers separated by ':'"))?;
        if values.is_empty() || values.len() > 4 || values.contains(&0) {
            return Err(format!(
                "dimensions \"{dims}\": a frame tensor has 1 to 4 non-zero dimensions"
            ));
        }
        values.resize(4, 1);
        if values[3] != 1 {
            return Err(format!(
                "dimensions \"{dims}\": batch {} (one frame per buffer needs 1)",
                values[3]
            ));
        }
        let (channels, height, width) = match layout {
            Layout::Nchw => (values[2], values[1], values[0]),
            Layout::Nhwc => (values[0], values[2], values[1]),
        };
        if !(1..=4).contains(&channels) {
            return Err(format!(
                "dimensions \"{dims}\" as {layout:?}: {channels} channels, 1 to 4 are supported"
            ));
        }
        // The caps come from outside: refused rather than overflowing the element count or a
        // buffer size later. The tensor of the widest type (4 bytes) must fit a buffer pool's
        // 32-bit size, which also keeps width and height within caps ints.
        let bytes = [channels, height, width]
            .into_iter()
            .try_fold(4u64, |bytes, d| bytes.checked_mul(u64::from(d)));
        if bytes.is_none_or(|bytes| bytes > u64::from(u32::MAX)) {
            return Err(format!("dimensions \"{dims}\": a tensor over 4 GiB"));
        }
        Ok(TensorShape {
            channels,
            height,
            width,
            layout,
        })
    }

    pub fn elements(&self) -> usize {
        self.channels as usize * self.height as usize * self.width as usize
    }

    /// Element strides, outermost first, matching [`Self::dims`].
    pub fn strides(&self) -> [usize; 4] {
        let (c, h, w) = (
            self.channels as usize,
            self.height as usize,
            self.width as usize,
        );
        match self.layout {
            Layout::Nchw => [c * h * w, h * w, w, 1],
            Layout::Nhwc => [h * w * c, w * c, c, 1],
        }
    }
}

/// `y = (x * scale - mean) / std` per tensor channel.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Normalization {
    pub scale: f64,
    pub mean: [f64; 4],
    pub std: [f64; 4],
}

impl Normalization {
    pub const IDENTITY: Normalization = Normalization {
        scale: 1.0,
        mean: [0.0; 4],
        std: [1.0; 4],
    };
}

/// Mirrors `SampleAccess` in `kernels/tensor.cu`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct SampleAccess {
    plane: u64,
    pitch: i32,
    offset: i32,
    pixel_bytes: i32,
    present: i32,
    channel: i32,
    unused: i32,
}

/// Mirrors `FrameAccess` in `kernels/tensor.cu`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct FrameAccess {
    sample: [SampleAccess; 4],
    count: i32,
    sample_bytes: i32,
    width: i32,
    height: i32,
}

/// Mirrors `TensorMap` in `kernels/tensor.cu`.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq)]
struct TensorMap {
    tensor: u64,
    channels: i32,
    planar: i32,
    a: [f64; 4],
    b: [f64; 4],
    max_value: f64,
}

// SAFETY: plain-old-data with the layouts of the CUDA structs.
unsafe impl cudarc::driver::DeviceRepr for FrameAccess {}
unsafe impl cudarc::driver::DeviceRepr for TensorMap {}

/// The video formats a tensor is made from or turned into.
pub const VIDEO_FORMATS: &[&str] = &[
    "RGB",
    "BGR",
    "RGBA",
    "BGRA",
    "RGBx",
    "BGRx",
    "RGBP",
    "BGRP",
    "GRAY8",
    "GRAY16_LE",
];

/// Whether frames of `format` have colour (R, G, B) rather than only gray.
pub fn is_color(format: gst_video::VideoFormat) -> bool {
    gst_video::VideoFormatInfo::from_format(format).is_rgb()
}

/// Where each component (R, G, B, A; gray is component 0) of a frame of `info` is.
fn component_access(
    info: &gst_video::VideoInfo,
    planes: &Planes,
    writing: bool,
) -> [SampleAccess; 4] {
    let finfo = info.format_info();
    let mut access = [SampleAccess::default(); 4];
    let n = finfo.n_components() as usize;
    for (c, a) in access.iter_mut().enumerate().take(n) {
        let plane = finfo.plane()[c] as usize;
        *a = SampleAccess {
            plane: planes.addr[plane],
            pitch: planes.stride[plane] as i32,
            offset: finfo.poffset()[c] as i32,
            pixel_bytes: finfo.pixel_stride()[c],
            present: 1,
            channel: -1,
            unused: 0,
        };
    }
    // Writing RGBx/BGRx: the padding byte (after the three colours) is set like opaque alpha.
    if writing && n == 3 && finfo.pixel_stride()[0] == 4 {
        access[3] = SampleAccess {
            plane: planes.addr[0],
            pitch: planes.stride[0] as i32,
            offset: 3,
            pixel_bytes: 4,
            present: 1,
            channel: -1,
            unused: 0,
        };
    }
    access
}

fn frame_access(
    info: &gst_video::VideoInfo,
    sample: [SampleAccess; 4],
    count: usize,
) -> FrameAccess {
    FrameAccess {
        sample,
        count: count as i32,
        sample_bytes: if info.format_info().depth()[0] > 8 {
            2
        } else {
            1
        },
        width: info.width() as i32,
        height: info.height() as i32,
    }
}

/// A conversion between frames of one video format and tensors of one shape and type.
#[derive(Clone, Debug, PartialEq)]
pub struct TensorConversion {
    pub shape: TensorShape,
    pub dtype: DType,
    /// For each tensor channel, the frame component (R=0, G=1, B=2, A=3; gray 0) it holds.
    pub channel_components: Vec<usize>,
    pub normalization: Normalization,
}

impl TensorConversion {
    pub fn tensor_bytes(&self) -> usize {
        self.shape.elements() * self.dtype.size()
    }

    fn map(&self, tensor: u64, max_value: f64) -> TensorMap {
        TensorMap {
            tensor,
            channels: self.shape.channels as i32,
            planar: (self.shape.layout == Layout::Nchw) as i32,
            a: [0.0; 4],
            b: [0.0; 4],
            max_value,
        }
    }

    fn check_frame(&self, info: &gst_video::VideoInfo) -> Result<(), CudaError> {
        if (info.width(), info.height()) != (self.shape.width, self.shape.height) {
            return Err(CudaError::Invalid(format!(
                "{}x{} frame for a {}x{} tensor",
                info.width(),
                info.height(),
                self.shape.width,
                self.shape.height
            )));
        }
        Ok(())
    }

    /// Bytes per pixel when the packed 8-bit fast path serves a frame of `info` at `planes` and
    /// the tensor at `tensor`: one plane of 3- or 4-byte pixels, rows and the tensor aligned for
    /// word loads and vector stores, a width of whole groups of 4 pixels, NCHW.
    fn packed_pixel_bytes(
        info: &gst_video::VideoInfo,
        planes: &Planes,
        tensor: u64,
        layout: Layout,
    ) -> Option<i32> {
        let finfo = info.format_info();
        let bytes = finfo.pixel_stride()[0];
        let packed = finfo.n_planes() == 1 && finfo.depth()[0] == 8 && (bytes == 3 || bytes == 4);
        (packed
            && layout == Layout::Nchw
            && info.width().is_multiple_of(4)
            && planes.addr[0].is_multiple_of(4)
            && planes.stride[0].is_multiple_of(4)
            && tensor.is_multiple_of(16))
        .then_some(bytes)
    }

    fn max_value(info: &gst_video::VideoInfo) -> f64 {
        if info.format_info().depth()[0] > 8 {
            65535.0
        } else {
            255.0
        }
    }

    /// Queues the conversion of the frame `src` (of `info`) into the tensor at `tensor`.
    ///
    /// # Safety
    /// `src` must be a live frame of `info` and `tensor` hold [`Self::tensor_bytes`] bytes of
    /// device memory, both on `stream`'s device, until the queued work has run.
    pub unsafe fn to_tensor(
        &self,
        stream: &Stream,
        info: &gst_video::VideoInfo,
        src: &Planes,
        tensor: u64,
    ) -> Result<(), CudaError> {
        self.check_frame(info)?;
        let components = component_access(info, src, false);
        let mut map = self.map(tensor, Self::max_value(info));
        let mut samples = [SampleAccess::default(); 4];
        let n = &self.normalization;
        for (channel, &component) in self.channel_components.iter().enumerate() {
            samples[channel] = components[component];
            map.a[channel] = n.scale / n.std[channel];
            map.b[channel] = n.mean[channel] / n.std[channel];
        }
        let access = frame_access(info, samples, self.channel_components.len());
        let (entry, config) = match Self::packed_pixel_bytes(info, src, tensor, self.shape.layout) {
            Some(bytes) => (
                self.dtype.packed_to_tensor_entry(bytes),
                grid_2d(info.width() / 4, info.height(), (32, 8)),
            ),
            None => (
                self.dtype.to_tensor_entry(),
                grid_2d(info.width(), info.height(), (32, 8)),
            ),
        };
        // SAFETY: the argument types mirror the kernel's; the memory is the caller's to keep
        // alive.
        unsafe { stream.launch(MODULE, entry, config, (&access, &map, &0i32)) }
    }

    /// Queues the conversion of the tensor at `tensor` into the frame `dst` (of `info`):
    /// components no tensor channel holds (alpha from a 3-channel tensor) are set to the
    /// largest value.
    ///
    /// # Safety
    /// As for [`Self::to_tensor`].
    pub unsafe fn to_video(
        &self,
        stream: &Stream,
        tensor: u64,
        info: &gst_video::VideoInfo,
        dst: &Planes,
    ) -> Result<(), CudaError> {
        self.check_frame(info)?;
        let mut components = component_access(info, dst, true);
        let mut map = self.map(tensor, Self::max_value(info));
        let n = &self.normalization;
        for (channel, &component) in self.channel_components.iter().enumerate() {
            components[component].channel = channel as i32;
            map.a[component] = n.std[channel] / n.scale;
            map.b[component] = n.mean[channel] / n.scale;
        }
        let access = frame_access(info, components, 4);
        let config = grid_2d(info.width(), info.height(), (32, 8));
        // SAFETY: as in `to_tensor`.
        unsafe {
            stream.launch(
                MODULE,
                self.dtype.to_video_entry(),
                config,
                (&access, &map, &0i32),
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dims_are_innermost_first() {
        let nchw = TensorShape {
            channels: 3,
            height: 224,
            width: 320,
            layout: Layout::Nchw,
        };
        assert_eq!(nchw.nnstreamer_dims(), "320:224:3:1");
        assert_eq!(nchw.dims(), [1, 3, 224, 320]);
        assert_eq!(nchw.strides(), [3 * 224 * 320, 224 * 320, 320, 1]);
        let nhwc = TensorShape {
            layout: Layout::Nhwc,
            ..nchw
        };
        assert_eq!(nhwc.nnstreamer_dims(), "3:320:224:1");
        assert_eq!(nhwc.strides(), [224 * 320 * 3, 320 * 3, 3, 1]);
        for shape in [nchw, nhwc] {
            let parsed =
                TensorShape::from_nnstreamer_dims(&shape.nnstreamer_dims(), shape.layout).unwrap();
            assert_eq!(parsed, shape);
        }
    }

    #[test]
    fn bad_dims_are_refused() {
        for dims in ["", "a:b", "0:3:3:1", "3:3:3:2", "224:224:5:1", "1:2:3:4:5"] {
            assert!(
                TensorShape::from_nnstreamer_dims(dims, Layout::Nchw).is_err(),
                "{dims}"
            );
        }
        // Missing outer dimensions are 1: a gray 8x4 image.
        let gray = TensorShape::from_nnstreamer_dims("8:4", Layout::Nchw).unwrap();
        assert_eq!((gray.channels, gray.height, gray.width), (1, 4, 8));
    }

    #[test]
    fn tensors_over_4_gib_are_refused() {
        // Found by fuzzing (tensor_caps): the element count overflowed (a panic, or a wrapped
        // unit size), and widths over i32::MAX became negative video caps widths.
        for dims in [
            "4294967295:4294967295:4:1",
            "4294967295:1:1:1",
            "32768:32768:1:1",
        ] {
            let refused = TensorShape::from_nnstreamer_dims(dims, Layout::Nchw).unwrap_err();
            assert!(refused.contains("over 4 GiB"), "{dims}: {refused}");
        }
        // The largest float32 tensors still fit a buffer pool's 32-bit size.
        let big = TensorShape::from_nnstreamer_dims("32767:32768:1:1", Layout::Nchw).unwrap();
        assert_eq!(big.elements() * DType::Float32.size(), 32767 * 32768 * 4);
    }

    #[test]
    fn dtype_names_round_trip() {
        for dtype in DType::ALL {
            assert_eq!(DType::from_name(dtype.name()), Some(dtype));
        }
        assert_eq!(DType::from_name("int7"), None);
    }
}
