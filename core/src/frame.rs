//! Frames and tensors in device memory as the kernels see them.
//!
//! A [`View`] of a [`Frame`] describes one frame: format, size, device, and the address and row
//! pitch of each plane; a view of a [`Tensor`] describes a tensor's bytes. [`FrameView`] and
//! [`TensorView`] read, [`FrameViewMut`] and [`TensorViewMut`] write. Views borrow whatever
//! holds the memory (a buffer mapped through
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
pub(crate) use crate::cuda::Plane;
use crate::cuda::{describe_address, CudaError, CudaResult, Device, DeviceBuffer, Stream};
use crate::memory::device_layout;

/// What a frame view describes. Made only by this crate, for memory that holds the whole frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Frame {
    pub(crate) format: VideoFormat,
    pub(crate) width: u32,
    pub(crate) height: u32,
    pub(crate) planes: [Plane; gst_video::VIDEO_MAX_PLANES],
    pub(crate) device: i32,
}

impl Frame {
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
        Frame {
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

    /// (row bytes, rows) of plane `plane`, refusing a plane the format does not have.
    pub(crate) fn checked_plane(&self, plane: usize) -> Result<(usize, usize), CudaError> {
        if plane >= self.n_planes() {
            return Err(CudaError::Invalid(format!(
                "{} has no plane {plane}",
                self.format.to_str()
            )));
        }
        Ok(self.plane_extent(plane))
    }

    /// Whether every plane's address and pitch is a multiple of `align` bytes.
    pub(crate) fn aligned_to(&self, align: u64) -> bool {
        self.planes[..self.n_planes()]
            .iter()
            .all(|p| p.addr.is_multiple_of(align) && (p.pitch as u64).is_multiple_of(align))
    }
}

/// Refuses work on `stream` with memory of other GPUs than its own.
pub(crate) fn on_stream<const N: usize>(stream: &Stream, devices: [i32; N]) -> CudaResult<()> {
    let ordinal = stream.device().ordinal();
    match devices.into_iter().find(|&device| device != ordinal) {
        Some(device) => Err(CudaError::Invalid(format!(
            "memory of GPU {device} used by work on GPU {ordinal}"
        ))),
        None => Ok(()),
    }
}

/// What a tensor view describes: `bytes` bytes from `addr` on `device`. Made only by this crate.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Tensor {
    pub(crate) addr: u64,
    pub(crate) bytes: usize,
    pub(crate) device: i32,
}

impl Tensor {
    /// The bytes as one row.
    pub(crate) fn whole(&self) -> Plane {
        Plane {
            addr: self.addr,
            pitch: self.bytes,
        }
    }
}

/// Read access: a view that may be copied.
#[derive(Clone, Copy, Debug)]
pub struct Read;

/// Write access.
#[derive(Debug)]
pub struct Write;

/// Device memory described by `D` (a [`Frame`] or a [`Tensor`]) that work queued on a stream
/// may read or write (`A`), for as long as the memory is borrowed (`'a`).
#[derive(Debug)]
pub struct View<'a, D, A> {
    pub(crate) raw: D,
    _memory: PhantomData<(&'a (), A)>,
}

/// A frame work may read.
pub type FrameView<'a> = View<'a, Frame, Read>;
/// A frame work may write.
pub type FrameViewMut<'a> = View<'a, Frame, Write>;
/// A tensor's bytes work may read.
pub type TensorView<'a> = View<'a, Tensor, Read>;
/// A tensor's bytes work may write.
pub type TensorViewMut<'a> = View<'a, Tensor, Write>;

impl<D: Copy> Clone for View<'_, D, Read> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<D: Copy> Copy for View<'_, D, Read> {}

impl<D: Copy, A> View<'_, D, A> {
    pub(crate) fn new(raw: D) -> Self {
        View {
            raw,
            _memory: PhantomData,
        }
    }

    /// The same memory, for reading what was written to it.
    pub fn as_view(&self) -> View<'_, D, Read> {
        View::new(self.raw)
    }
}

impl<A> View<'_, Frame, A> {
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
}

impl<A> View<'_, Tensor, A> {
    pub fn bytes(&self) -> usize {
        self.raw.bytes
    }

    /// The ordinal of the GPU holding the tensor.
    pub fn device(&self) -> i32 {
        self.raw.device
    }
}

impl<A> View<'_, Tensor, A> {
    /// Slot `index` of a batch of `bytes`-byte tensors laid end to end in this tensor.
    pub fn slot(&mut self, index: usize, bytes: usize) -> Result<View<'_, Tensor, A>, CudaError> {
        self.slots(index, 1, bytes)
    }

    /// Slots `first` to `first + count` (excluded) of a batch of `bytes`-byte tensors laid end
    /// to end in this tensor, as one tensor.
    pub fn slots(
        &mut self,
        first: usize,
        count: usize,
        bytes: usize,
    ) -> Result<View<'_, Tensor, A>, CudaError> {
        let start = first.checked_mul(bytes);
        let end = first
            .checked_add(count)
            .and_then(|n| n.checked_mul(bytes))
            .filter(|&end| end <= self.raw.bytes);
        let (Some(start), Some(end)) = (start, end) else {
            return Err(CudaError::Invalid(format!(
                "slots {first} to {} of {bytes} bytes are outside a tensor of {} bytes",
                first.saturating_add(count),
                self.raw.bytes
            )));
        };
        Ok(View::new(Tensor {
            addr: self.raw.addr + start as u64,
            bytes: end - start,
            device: self.raw.device,
        }))
    }
}

impl TensorViewMut<'_> {
    /// Queues a copy of `src`, which must be as large, on `stream`.
    pub fn copy_from(&mut self, stream: &Stream, src: &TensorView) -> CudaResult<()> {
        on_stream(stream, [self.raw.device, src.raw.device])?;
        if src.raw.bytes != self.raw.bytes {
            return Err(CudaError::Invalid(format!(
                "copy of a {}-byte tensor into {} bytes",
                src.raw.bytes, self.raw.bytes
            )));
        }
        // SAFETY: both views describe live device memory of `bytes` bytes on the stream's
        // device, kept alive and ordered by their owners' events until the copy has run.
        unsafe { stream.copy_bytes(self.raw.addr, src.raw.addr, src.raw.bytes) }
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
pub fn copy_frame(stream: &Stream, src: &FrameView, dst: &mut FrameViewMut) -> CudaResult<()> {
    let (s, d) = (&src.raw, &dst.raw);
    on_stream(stream, [s.device, d.device])?;
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
        // SAFETY: both frames are live device memory of this format and size (the views'
        // guarantee), kept alive and ordered by their owners' events until the copy has run.
        let copied =
            unsafe { stream.copy_rows(d.planes[plane], s.planes[plane], s.plane_extent(plane)) };
        if let Err(e) = copied {
            // Which side the driver refused is what tells a stale mapping from a freed buffer.
            return Err(CudaError::Invalid(format!(
                "{e}: plane {plane} of a {}x{} {} frame, from {} (pitch {}) to {} (pitch {})",
                s.width,
                s.height,
                s.format.to_str(),
                describe_address(s.planes[plane].addr),
                s.planes[plane].pitch,
                describe_address(d.planes[plane].addr),
                d.planes[plane].pitch,
            )));
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

    fn raw(&self) -> Frame {
        Frame::new(
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
    /// on `stream`, and waits for it.
    pub fn upload_plane(
        &mut self,
        stream: &Stream,
        plane: usize,
        data: &[u8],
        pitch: usize,
    ) -> Result<(), CudaError> {
        let raw = self.raw();
        on_stream(stream, [raw.device])?;
        let extent = raw.checked_plane(plane)?;
        // SAFETY: the frame's plane holds the extent (its layout) until the stream is
        // synchronised below; `upload` checks the host side.
        unsafe { stream.upload(raw.planes[plane], data, pitch, extent)? };
        stream.synchronize()
    }

    /// Plane `plane` copied to host memory, rows packed without padding, once the work queued on
    /// `stream` so far (which must order it after whatever wrote the frame) has run.
    pub fn download_plane(&self, stream: &Stream, plane: usize) -> Result<Vec<u8>, CudaError> {
        download_plane(stream, &self.view(), plane)
    }
}

/// Plane `plane` of `frame` copied to host memory, rows packed, after the work queued on
/// `stream` so far.
pub fn download_plane(
    stream: &Stream,
    frame: &FrameView,
    plane: usize,
) -> Result<Vec<u8>, CudaError> {
    let raw = frame.raw;
    on_stream(stream, [raw.device])?;
    let (row_bytes, rows) = raw.checked_plane(plane)?;
    let mut data = vec![0u8; row_bytes * rows];
    // SAFETY: the plane holds the extent (the view's guarantee) and `data` lives until the
    // stream is synchronised below.
    unsafe { stream.download(&mut data, row_bytes, raw.planes[plane], (row_bytes, rows))? };
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

    fn raw(&self) -> Tensor {
        Tensor {
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

    /// Copies `data` (exactly the tensor's size) from host memory into the tensor and waits for
    /// it.
    pub fn upload(&mut self, stream: &Stream, data: &[u8]) -> Result<(), CudaError> {
        let raw = self.raw();
        on_stream(stream, [raw.device])?;
        if data.len() != raw.bytes {
            return Err(CudaError::Invalid(format!(
                "{} host bytes for a tensor of {} bytes",
                data.len(),
                raw.bytes
            )));
        }
        // SAFETY: the tensor holds `bytes` bytes until the stream is synchronised below.
        unsafe { stream.upload(raw.whole(), data, raw.bytes, (raw.bytes, 1))? };
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
    on_stream(stream, [raw.device])?;
    let mut data = vec![0u8; raw.bytes];
    // SAFETY: the view holds `bytes` bytes and `data` lives until the stream is synchronised
    // below.
    unsafe { stream.download(&mut data, raw.bytes, raw.whole(), (raw.bytes, 1))? };
    stream.synchronize()?;
    Ok(data)
}
