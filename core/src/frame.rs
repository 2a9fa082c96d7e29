//! Frames and tensors in device memory as the kernels see them.
//!
//! A [`FrameView`] (read) or [`FrameViewMut`] (write) describes one frame: format, size, device,
//! and the address and row pitch of each plane. A [`TensorView`] or [`TensorViewMut`] describes a
//! tensor's bytes. Views borrow whatever holds the memory (a buffer mapped through
//! [`crate::access`], a mapped decoder picture, a [`DeviceFrame`]), so they cannot outlive it,
//! and only this crate makes them, from memory whose extent it has checked: the kernel
//! launchers ([`crate::kernels`], [`copy_frame`], [`TensorViewMut::copy_from`]) are safe to call
//! with any views they accept. Work they queue may run after the view is gone: the memory's
//! events keep a later writer from overwriting it before, and freeing device memory waits for
//! the work still using it.

use std::marker::PhantomData;
use std::sync::Arc;

use gst_video::VideoFormat;

use crate::colorspace::PixelFormat;
use crate::cuda::{copy_2d, copy_device, CudaError, Device, DeviceBuffer, Place, Stream};
use crate::memory::device_layout;

/// One plane: the device address of its first row, and its row pitch in bytes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Plane {
    pub(crate) addr: u64,
    pub(crate) pitch: usize,
}

/// What a frame view describes. Made only by this crate, for memory that holds the whole frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct RawFrame {
    pub(crate) format: VideoFormat,
    pub(crate) width: u32,
    pub(crate) height: u32,
    pub(crate) planes: [Plane; gst_video::VIDEO_MAX_PLANES],
    pub(crate) device: i32,
}

impl RawFrame {
    /// The frame laid out by `offsets` and `strides` (checked against the memory's size with
    /// [`check_extent`] by the caller) from `base` on `device`.
    pub(crate) fn new(
        info: &gst_video::VideoInfo,
        base: u64,
        offsets: &[usize],
        strides: &[i32],
        device: i32,
    ) -> Self {
        let mut planes = [Plane::default(); gst_video::VIDEO_MAX_PLANES];
        for (plane, (offset, stride)) in planes.iter_mut().zip(offsets.iter().zip(strides)) {
            *plane = Plane {
                addr: base + *offset as u64,
                pitch: *stride as usize,
            };
        }
        RawFrame {
            format: info.format(),
            width: info.width(),
            height: info.height(),
            planes,
            device,
        }
    }

    pub(crate) fn n_planes(&self) -> usize {
        gst_video::VideoFormatInfo::from_format(self.format).n_planes() as usize
    }

    /// (row bytes, rows) of plane `plane`.
    pub(crate) fn plane_extent(&self, plane: usize) -> (usize, usize) {
        plane_extent(self.format, self.width, self.height, plane)
    }

    /// Whether every plane's address and pitch is a multiple of `align` bytes.
    pub(crate) fn aligned_to(&self, align: u64) -> bool {
        self.planes[..self.n_planes()]
            .iter()
            .all(|p| p.addr.is_multiple_of(align) && (p.pitch as u64).is_multiple_of(align))
    }

    /// Refuses work on a stream of another device.
    pub(crate) fn check_device(&self, stream: &Stream) -> Result<(), CudaError> {
        check_device(self.device, stream)
    }
}

fn check_device(device: i32, stream: &Stream) -> Result<(), CudaError> {
    let ordinal = stream.device().ordinal();
    if device != ordinal {
        return Err(CudaError::Invalid(format!(
            "memory of GPU {device} used by work on GPU {ordinal}"
        )));
    }
    Ok(())
}

/// A frame in device memory that work queued on a stream may read.
#[derive(Clone, Copy, Debug)]
pub struct FrameView<'a> {
    pub(crate) raw: RawFrame,
    _memory: PhantomData<&'a ()>,
}

/// A frame in device memory that work queued on a stream may write.
#[derive(Debug)]
pub struct FrameViewMut<'a> {
    pub(crate) raw: RawFrame,
    _memory: PhantomData<&'a mut ()>,
}

macro_rules! frame_getters {
    () => {
        pub fn format(&self) -> VideoFormat {
            self.raw.format
        }

        pub fn width(&self) -> u32 {
            self.raw.width
        }

        pub fn height(&self) -> u32 {
            self.raw.height
        }

        /// The ordinal of the GPU holding the frame.
        pub fn device(&self) -> i32 {
            self.raw.device
        }

        /// The row pitch of each plane, in bytes.
        pub fn pitches(&self) -> Vec<usize> {
            self.raw.planes[..self.raw.n_planes()]
                .iter()
                .map(|p| p.pitch)
                .collect()
        }
    };
}

impl FrameView<'_> {
    pub(crate) fn new(raw: RawFrame) -> Self {
        FrameView {
            raw,
            _memory: PhantomData,
        }
    }

    frame_getters!();
}

impl FrameViewMut<'_> {
    pub(crate) fn new(raw: RawFrame) -> Self {
        FrameViewMut {
            raw,
            _memory: PhantomData,
        }
    }

    frame_getters!();

    /// The same frame, for reading what was written to it.
    pub fn as_view(&self) -> FrameView<'_> {
        FrameView::new(self.raw)
    }
}

/// What a tensor view describes: `bytes` bytes from `addr` on `device`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct RawTensor {
    pub(crate) addr: u64,
    pub(crate) bytes: usize,
    pub(crate) device: i32,
}

/// A tensor's bytes in device memory that work queued on a stream may read.
#[derive(Clone, Copy, Debug)]
pub struct TensorView<'a> {
    pub(crate) raw: RawTensor,
    _memory: PhantomData<&'a ()>,
}

/// A tensor's bytes in device memory that work queued on a stream may write.
#[derive(Debug)]
pub struct TensorViewMut<'a> {
    pub(crate) raw: RawTensor,
    _memory: PhantomData<&'a mut ()>,
}

impl TensorView<'_> {
    pub(crate) fn new(raw: RawTensor) -> Self {
        TensorView {
            raw,
            _memory: PhantomData,
        }
    }

    pub fn bytes(&self) -> usize {
        self.raw.bytes
    }

    /// The ordinal of the GPU holding the tensor.
    pub fn device(&self) -> i32 {
        self.raw.device
    }
}

impl TensorViewMut<'_> {
    pub(crate) fn new(raw: RawTensor) -> Self {
        TensorViewMut {
            raw,
            _memory: PhantomData,
        }
    }

    pub fn bytes(&self) -> usize {
        self.raw.bytes
    }

    /// The ordinal of the GPU holding the tensor.
    pub fn device(&self) -> i32 {
        self.raw.device
    }

    /// The same bytes, for reading what was written to them.
    pub fn as_view(&self) -> TensorView<'_> {
        TensorView::new(self.raw)
    }

    /// Slot `index` of a batch of `bytes`-byte tensors laid end to end in this tensor.
    pub fn slot(&mut self, index: usize, bytes: usize) -> Result<TensorViewMut<'_>, CudaError> {
        let end = index
            .checked_add(1)
            .and_then(|n| n.checked_mul(bytes))
            .filter(|&end| end <= self.raw.bytes)
            .ok_or_else(|| {
                CudaError::Invalid(format!(
                    "slot {index} of {bytes} bytes is outside a tensor of {} bytes",
                    self.raw.bytes
                ))
            })?;
        Ok(TensorViewMut::new(RawTensor {
            addr: self.raw.addr + (end - bytes) as u64,
            bytes,
            device: self.raw.device,
        }))
    }

    /// Queues a copy of `src`, which must be as large, on `stream`.
    pub fn copy_from(&mut self, stream: &Stream, src: &TensorView) -> Result<(), CudaError> {
        check_device(self.raw.device, stream)?;
        check_device(src.raw.device, stream)?;
        if src.raw.bytes != self.raw.bytes {
            return Err(CudaError::Invalid(format!(
                "copy of a {}-byte tensor into {} bytes",
                src.raw.bytes, self.raw.bytes
            )));
        }
        // SAFETY: both views describe live device memory of `bytes` bytes on the stream's
        // device, kept alive and ordered by their owners' events until the copy has run.
        unsafe { copy_device(stream, self.raw.addr, src.raw.addr, src.raw.bytes) }
    }
}

/// (row bytes, rows) of plane `plane` of a `width` x `height` frame of `format`.
pub fn plane_extent(format: VideoFormat, width: u32, height: u32, plane: usize) -> (usize, usize) {
    let finfo = gst_video::VideoFormatInfo::from_format(format);
    let component = (0..finfo.n_components() as usize)
        .find(|&c| finfo.plane()[c] as usize == plane)
        .expect("every plane holds a component");
    let row_width = finfo.scale_width(component as u8, width) as usize;
    let rows = finfo.scale_height(component as u8, height) as usize;
    (row_width * finfo.pixel_stride()[component] as usize, rows)
}

/// Refuses a layout whose planes do not fit in `size` bytes, so kernels never read or write
/// past the memory.
pub fn check_extent(
    info: &gst_video::VideoInfo,
    offsets: &[usize],
    strides: &[i32],
    size: usize,
) -> Result<(), CudaError> {
    for plane in 0..info.n_planes() as usize {
        let (row_bytes, rows) = plane_extent(info.format(), info.width(), info.height(), plane);
        let stride = strides.get(plane).copied().unwrap_or(0);
        let offset = offsets.get(plane).copied().unwrap_or(usize::MAX);
        let end = (stride as usize)
            .checked_mul(rows.saturating_sub(1))
            .and_then(|v| v.checked_add(row_bytes))
            .and_then(|v| v.checked_add(offset));
        if stride <= 0 || (stride as usize) < row_bytes || end.is_none_or(|end| end > size) {
            return Err(CudaError::Invalid(format!(
                "buffer of {size} bytes does not hold a {}x{} {} frame (plane {plane}: offset \
                 {offset}, stride {stride})",
                info.width(),
                info.height(),
                info.format().to_str()
            )));
        }
    }
    Ok(())
}

/// The colour kernels' pixel format for `format`, if they know it.
pub fn pixel_format(format: VideoFormat) -> Result<PixelFormat, CudaError> {
    PixelFormat::from_video_format(format)
        .ok_or_else(|| CudaError::Invalid(format!("unsupported format {}", format.to_str())))
}

/// Queues a plane-by-plane copy of `src` into `dst` on `stream`; both must have the same format
/// and size.
pub fn copy_frame(
    stream: &Stream,
    src: &FrameView,
    dst: &mut FrameViewMut,
) -> Result<(), CudaError> {
    let (s, d) = (&src.raw, &dst.raw);
    s.check_device(stream)?;
    d.check_device(stream)?;
    if (s.format, s.width, s.height) != (d.format, d.width, d.height) {
        return Err(CudaError::Invalid(format!(
            "copy of a {}x{} {} frame into a {}x{} {} frame",
            s.width,
            s.height,
            s.format.to_str(),
            d.width,
            d.height,
            d.format.to_str()
        )));
    }
    for plane in 0..s.n_planes() {
        let (row_bytes, rows) = s.plane_extent(plane);
        // SAFETY: both frames are live device memory of this format and size (the views'
        // guarantee), kept alive and ordered by their owners' events until the copy has run.
        unsafe {
            copy_2d(
                stream,
                Place::Device {
                    addr: d.planes[plane].addr,
                    pitch: d.planes[plane].pitch,
                },
                Place::Device {
                    addr: s.planes[plane].addr,
                    pitch: s.planes[plane].pitch,
                },
                row_bytes,
                rows,
            )?;
        }
    }
    Ok(())
}

/// A frame of device memory of its own, laid out as the buffer pool lays frames out (planes one
/// after another, rows pitched to [`crate::memory::PITCH_ALIGN`] bytes): for benchmarks, tests
/// and staging.
pub struct DeviceFrame {
    buffer: DeviceBuffer,
    layout: gst_video::VideoInfo,
}

impl DeviceFrame {
    /// A new frame of `info`'s format and size on `device` (its bytes undefined).
    pub fn new(device: &Arc<Device>, info: &gst_video::VideoInfo) -> Result<Self, CudaError> {
        let layout = device_layout(info)
            .map_err(|e| CudaError::Invalid(format!("no device layout for {info:?}: {e}")))?;
        Ok(DeviceFrame {
            buffer: DeviceBuffer::new(device, layout.size())?,
            layout,
        })
    }

    /// The frame's info, with the plane offsets and strides of its layout.
    pub fn info(&self) -> &gst_video::VideoInfo {
        &self.layout
    }

    fn raw(&self) -> RawFrame {
        RawFrame::new(
            &self.layout,
            self.buffer.addr(),
            self.layout.offset(),
            self.layout.stride(),
            self.buffer.device().ordinal(),
        )
    }

    pub fn view(&self) -> FrameView<'_> {
        FrameView::new(self.raw())
    }

    pub fn view_mut(&mut self) -> FrameViewMut<'_> {
        FrameViewMut::new(self.raw())
    }

    /// Copies plane `plane` from host memory (`data`, rows `pitch` bytes apart) into the frame,
    /// on `stream`; `data` may be reused when this returns.
    pub fn upload_plane(
        &mut self,
        stream: &Stream,
        plane: usize,
        data: &[u8],
        pitch: usize,
    ) -> Result<(), CudaError> {
        let raw = self.raw();
        raw.check_device(stream)?;
        let (row_bytes, rows) = host_plane(&raw, plane, data.len(), pitch)?;
        // SAFETY: the plane holds `rows` rows of `row_bytes` (checked above) and so does
        // `data`; a pageable source is staged by the driver before the call returns, and the
        // stream is synchronised below so the frame is written when this returns.
        unsafe {
            copy_2d(
                stream,
                Place::Device {
                    addr: raw.planes[plane].addr,
                    pitch: raw.planes[plane].pitch,
                },
                Place::Host {
                    ptr: data.as_ptr(),
                    pitch,
                },
                row_bytes,
                rows,
            )?;
        }
        stream.synchronize()
    }

    /// Plane `plane` copied to host memory, rows packed without padding, once the work queued on
    /// `stream` so far (which must order it after whatever wrote the frame) has run.
    pub fn download_plane(&self, stream: &Stream, plane: usize) -> Result<Vec<u8>, CudaError> {
        download_plane(stream, &self.view(), plane)
    }
}

/// (row bytes, rows) of plane `plane` of `raw`, checking that `len` host bytes with rows `pitch`
/// apart hold it.
fn host_plane(
    raw: &RawFrame,
    plane: usize,
    len: usize,
    pitch: usize,
) -> Result<(usize, usize), CudaError> {
    if plane >= raw.n_planes() {
        return Err(CudaError::Invalid(format!(
            "{} has no plane {plane}",
            raw.format.to_str()
        )));
    }
    let (row_bytes, rows) = raw.plane_extent(plane);
    let needed = pitch
        .checked_mul(rows.saturating_sub(1))
        .and_then(|n| n.checked_add(row_bytes));
    if pitch < row_bytes || needed.is_none_or(|n| n > len) {
        return Err(CudaError::Invalid(format!(
            "{len} host bytes with rows {pitch} bytes apart do not hold plane {plane} of a \
             {}x{} {} frame",
            raw.width,
            raw.height,
            raw.format.to_str()
        )));
    }
    Ok((row_bytes, rows))
}

/// Plane `plane` of `frame` copied to host memory, rows packed, after the work queued on
/// `stream` so far.
pub fn download_plane(
    stream: &Stream,
    frame: &FrameView,
    plane: usize,
) -> Result<Vec<u8>, CudaError> {
    let raw = frame.raw;
    raw.check_device(stream)?;
    if plane >= raw.n_planes() {
        return Err(CudaError::Invalid(format!(
            "{} has no plane {plane}",
            raw.format.to_str()
        )));
    }
    let (row_bytes, rows) = raw.plane_extent(plane);
    let mut data = vec![0u8; row_bytes * rows];
    // SAFETY: the plane holds `rows` rows of `row_bytes` (the view's guarantee) and so does
    // `data`, which lives until the stream is synchronised below.
    unsafe {
        copy_2d(
            stream,
            Place::HostMut {
                ptr: data.as_mut_ptr(),
                pitch: row_bytes,
            },
            Place::Device {
                addr: raw.planes[plane].addr,
                pitch: raw.planes[plane].pitch,
            },
            row_bytes,
            rows,
        )?;
    }
    stream.synchronize()?;
    Ok(data)
}

/// A tensor's worth of device memory of its own: for benchmarks and tests.
pub struct DeviceTensor {
    buffer: DeviceBuffer,
}

impl DeviceTensor {
    /// `bytes` new bytes on `device` (undefined until written).
    pub fn new(device: &Arc<Device>, bytes: usize) -> Result<Self, CudaError> {
        Ok(DeviceTensor {
            buffer: DeviceBuffer::new(device, bytes)?,
        })
    }

    fn raw(&self) -> RawTensor {
        RawTensor {
            addr: self.buffer.addr(),
            bytes: self.buffer.size(),
            device: self.buffer.device().ordinal(),
        }
    }

    pub fn view(&self) -> TensorView<'_> {
        TensorView::new(self.raw())
    }

    pub fn view_mut(&mut self) -> TensorViewMut<'_> {
        TensorViewMut::new(self.raw())
    }

    /// Copies `data` (exactly the tensor's size) from host memory into the tensor.
    pub fn upload(&mut self, stream: &Stream, data: &[u8]) -> Result<(), CudaError> {
        let raw = self.raw();
        check_device(raw.device, stream)?;
        if data.len() != raw.bytes {
            return Err(CudaError::Invalid(format!(
                "{} host bytes for a tensor of {} bytes",
                data.len(),
                raw.bytes
            )));
        }
        // SAFETY: both sides hold `bytes` bytes; the stream is synchronised below.
        unsafe {
            copy_2d(
                stream,
                Place::Device {
                    addr: raw.addr,
                    pitch: raw.bytes,
                },
                Place::Host {
                    ptr: data.as_ptr(),
                    pitch: raw.bytes,
                },
                raw.bytes,
                1,
            )?;
        }
        stream.synchronize()
    }

    /// The tensor's bytes copied to host memory after the work queued on `stream` so far.
    pub fn download(&self, stream: &Stream) -> Result<Vec<u8>, CudaError> {
        download_tensor(stream, &self.view())
    }
}

/// `tensor`'s bytes copied to host memory after the work queued on `stream` so far.
pub fn download_tensor(stream: &Stream, tensor: &TensorView) -> Result<Vec<u8>, CudaError> {
    let raw = tensor.raw;
    check_device(raw.device, stream)?;
    let mut data = vec![0u8; raw.bytes];
    // SAFETY: the view holds `bytes` bytes and so does `data`, which lives until the stream is
    // synchronised below.
    unsafe {
        copy_2d(
            stream,
            Place::HostMut {
                ptr: data.as_mut_ptr(),
                pitch: raw.bytes,
            },
            Place::Device {
                addr: raw.addr,
                pitch: raw.bytes,
            },
            raw.bytes,
            1,
        )?;
    }
    stream.synchronize()?;
    Ok(data)
}
