//! Launching the conversions of `kernels/tensor.cu` between video frames and tensors.

use crate::cuda::{grid_2d, CudaError, CudaResult, Stream};
use crate::frame::{on_stream, Frame, FrameView, FrameViewMut, Tensor, TensorView, TensorViewMut};
use crate::tensor::{DType, Layout, Normalization, TensorShape, VIDEO_FORMATS};

const MODULE: &str = "tensor";

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

/// Every kernel entry point of the module, for the kernel compilation tests.
pub fn entries() -> Vec<&'static str> {
    DType::ALL
        .into_iter()
        .flat_map(|dtype| {
            [
                to_tensor_entry(dtype),
                to_video_entry(dtype),
                packed_to_tensor_entry(dtype, 3),
                packed_to_tensor_entry(dtype, 4),
            ]
        })
        .collect()
}

/// Where each component (R, G, B, A; gray is component 0) of `frame` is.
fn component_access(frame: &Frame, writing: bool) -> [SampleAccess; 4] {
    let finfo = gst_video::VideoFormatInfo::from_format(frame.format);
    let mut access = [SampleAccess::default(); 4];
    let n = finfo.n_components() as usize;
    for (c, a) in access.iter_mut().enumerate().take(n) {
        let plane = frame.planes[finfo.plane()[c] as usize];
        *a = SampleAccess {
            plane: plane.addr,
            pitch: plane.pitch as i32,
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
            plane: frame.planes[0].addr,
            pitch: frame.planes[0].pitch as i32,
            offset: 3,
            pixel_bytes: 4,
            present: 1,
            channel: -1,
            unused: 0,
        };
    }
    access
}

/// 65535 for frames of 16-bit samples, 255 for 8-bit ones.
fn max_value(frame: &Frame) -> f64 {
    if sample_bytes(frame) == 2 {
        65535.0
    } else {
        255.0
    }
}

fn sample_bytes(frame: &Frame) -> i32 {
    if gst_video::VideoFormatInfo::from_format(frame.format).depth()[0] > 8 {
        2
    } else {
        1
    }
}

fn frame_access(frame: &Frame, sample: [SampleAccess; 4], count: usize) -> FrameAccess {
    FrameAccess {
        sample,
        count: count as i32,
        sample_bytes: sample_bytes(frame),
        width: frame.width as i32,
        height: frame.height as i32,
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

    /// Checks `frame` and `tensor` against this conversion and `stream`, then describes them as
    /// both directions need: where each frame component is (`writing` adds the padding byte of
    /// RGBx and BGRx), and the tensor's map with its per-channel factors still zero.
    fn prepare(
        &self,
        stream: &Stream,
        frame: &Frame,
        tensor: &Tensor,
        writing: bool,
    ) -> CudaResult<([SampleAccess; 4], TensorMap)> {
        on_stream(stream, [frame.device, tensor.device])?;
        self.check(frame, tensor.bytes)?;
        let map = TensorMap {
            tensor: tensor.addr,
            channels: self.shape.channels as i32,
            planar: (self.shape.layout == Layout::Nchw) as i32,
            a: [0.0; 4],
            b: [0.0; 4],
            max_value: max_value(frame),
        };
        Ok((component_access(frame, writing), map))
    }

    /// Refuses a frame and tensor this conversion does not fit: a format the kernels do not
    /// read (every component at full resolution), another size, a smaller tensor, or a channel
    /// map that does not match the shape.
    fn check(&self, frame: &Frame, tensor_bytes: usize) -> Result<(), CudaError> {
        if !VIDEO_FORMATS.contains(&frame.format.to_str().as_str()) {
            return Err(CudaError::Invalid(format!(
                "no tensor conversion for {} frames",
                frame.format.to_str()
            )));
        }
        if (frame.width, frame.height) != (self.shape.width, self.shape.height) {
            return Err(CudaError::Invalid(format!(
                "{}x{} frame for a {}x{} tensor",
                frame.width, frame.height, self.shape.width, self.shape.height
            )));
        }
        if tensor_bytes < self.tensor_bytes() {
            return Err(CudaError::Invalid(format!(
                "{tensor_bytes} bytes for a tensor of {}",
                self.tensor_bytes()
            )));
        }
        if self.channel_components.len() != self.shape.channels as usize
            || self.channel_components.iter().any(|&c| c > 3)
        {
            return Err(CudaError::Invalid(format!(
                "channel components {:?} for {} channels",
                self.channel_components, self.shape.channels
            )));
        }
        Ok(())
    }

    /// Bytes per pixel when the packed 8-bit fast path serves `frame` and the tensor at
    /// `tensor`: one plane of 3- or 4-byte pixels, rows and the tensor aligned for word loads and
    /// vector stores, a width of whole groups of 4 pixels, NCHW.
    fn packed_pixel_bytes(frame: &Frame, tensor: u64, layout: Layout) -> Option<i32> {
        let finfo = gst_video::VideoFormatInfo::from_format(frame.format);
        let bytes = finfo.pixel_stride()[0];
        let packed = finfo.n_planes() == 1 && finfo.depth()[0] == 8 && (bytes == 3 || bytes == 4);
        (packed
            && layout == Layout::Nchw
            && frame.width.is_multiple_of(4)
            && frame.planes[0].addr.is_multiple_of(4)
            && frame.planes[0].pitch.is_multiple_of(4)
            && tensor.is_multiple_of(16))
        .then_some(bytes)
    }

    /// Queues the conversion of the frame `src` into the tensor `dst` on `stream`.
    pub fn to_tensor(
        &self,
        stream: &Stream,
        src: &FrameView,
        dst: &mut TensorViewMut,
    ) -> CudaResult<()> {
        let (components, mut map) = self.prepare(stream, &src.raw, &dst.raw, false)?;
        let frame = &src.raw;
        let mut samples = [SampleAccess::default(); 4];
        let n = &self.normalization;
        for (channel, &component) in self.channel_components.iter().enumerate() {
            samples[channel] = components[component];
            map.a[channel] = n.scale / n.std[channel];
            map.b[channel] = n.mean[channel] / n.std[channel];
        }
        let access = frame_access(frame, samples, self.channel_components.len());
        let (entry, config) = match Self::packed_pixel_bytes(frame, dst.raw.addr, self.shape.layout)
        {
            Some(bytes) => (
                packed_to_tensor_entry(self.dtype, bytes),
                grid_2d(frame.width / 4, frame.height, (32, 8)),
            ),
            None => (
                to_tensor_entry(self.dtype),
                grid_2d(frame.width, frame.height, (32, 8)),
            ),
        };
        // SAFETY: the argument types mirror the kernel's; the frame and the tensor are live
        // device memory of the checked format, size and byte count (the views' guarantee).
        unsafe { stream.launch(MODULE, entry, config, (&access, &map, &0i32)) }
    }

    /// Queues the conversion of the tensor `src` into the frame `dst` on `stream`: components
    /// no tensor channel holds (alpha from a 3-channel tensor) are set to the largest value.
    pub fn to_video(
        &self,
        stream: &Stream,
        src: &TensorView,
        dst: &mut FrameViewMut,
    ) -> CudaResult<()> {
        let (mut components, mut map) = self.prepare(stream, &dst.raw, &src.raw, true)?;
        let frame = &dst.raw;
        let n = &self.normalization;
        for (channel, &component) in self.channel_components.iter().enumerate() {
            components[component].channel = channel as i32;
            map.a[component] = n.std[channel] / n.scale;
            map.b[component] = n.mean[channel] / n.scale;
        }
        let access = frame_access(frame, components, 4);
        let config = grid_2d(frame.width, frame.height, (32, 8));
        // SAFETY: as in `to_tensor`.
        unsafe {
            stream.launch(
                MODULE,
                to_video_entry(self.dtype),
                config,
                (&access, &map, &0i32),
            )
        }
    }
}

/// Kernel entry converting video into tensors of `dtype`.
fn to_tensor_entry(dtype: DType) -> &'static str {
    match dtype {
        DType::Uint8 => "video_to_tensor_uint8",
        DType::Float16 => "video_to_tensor_float16",
        DType::Bfloat16 => "video_to_tensor_bfloat16",
        DType::Float32 => "video_to_tensor_float32",
    }
}

/// Kernel entry for packed 8-bit frames of `pixel_bytes` (3 or 4) bytes per pixel into NCHW
/// tensors of `dtype`, 4 pixels per thread.
fn packed_to_tensor_entry(dtype: DType, pixel_bytes: i32) -> &'static str {
    match (pixel_bytes, dtype) {
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

/// Kernel entry converting tensors of `dtype` into video.
fn to_video_entry(dtype: DType) -> &'static str {
    match dtype {
        DType::Uint8 => "tensor_to_video_uint8",
        DType::Float16 => "tensor_to_video_float16",
        DType::Bfloat16 => "tensor_to_video_bfloat16",
        DType::Float32 => "tensor_to_video_float32",
    }
}
