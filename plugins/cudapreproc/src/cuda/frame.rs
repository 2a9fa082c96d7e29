//! Getting a filter's input and output frames onto the device, whatever memory they arrive in:
//! our own device memory (used in place, ordered by events), another library's CUDA memory
//! (copied into a staging frame), or system memory (uploaded into, or downloaded from, a staging
//! frame). Elements call [`Input::begin`] / [`Output::begin`], queue their kernels on the
//! surfaces these give, then `end` both.

use std::sync::Arc;

use gst_video::prelude::*;

use super::device::{copy_2d, copy_from_context, Device, DeviceBuffer, Place, Stream};
use super::error::CudaError;
use super::kernels::Surface;
use super::memory::{device_memory, CudaMapping, DeviceMemory};
use super::pool::device_layout;
use crate::colorspace::PixelFormat;

/// Where the planes of one frame are in device memory: address and row pitch of each.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Planes {
    pub addr: [u64; gst_video::VIDEO_MAX_PLANES],
    pub stride: [usize; gst_video::VIDEO_MAX_PLANES],
}

impl Planes {
    /// The planes of a frame laid out by `offsets` and `strides` from `base`.
    pub fn new(base: u64, offsets: &[usize], strides: &[i32]) -> Self {
        let mut planes = Planes::default();
        for (i, (offset, stride)) in offsets.iter().zip(strides).enumerate() {
            planes.addr[i] = base + *offset as u64;
            planes.stride[i] = *stride as usize;
        }
        planes
    }

    /// These planes as a kernel surface for a frame of `info`.
    pub fn surface(&self, info: &gst_video::VideoInfo) -> Result<Surface, CudaError> {
        let format = pixel_format(info)?;
        let (mut plane, mut stride) = ([0u64; 3], [0i32; 3]);
        for i in 0..format.n_planes() {
            plane[i] = self.addr[i];
            stride[i] = self.stride[i] as i32;
        }
        Ok(Surface {
            plane,
            stride,
            width: info.width() as i32,
            height: info.height() as i32,
            format: format as i32,
        })
    }
}

/// (row bytes, rows) of plane `plane` of a frame of `info`.
pub fn plane_extent(info: &gst_video::VideoInfo, plane: usize) -> (usize, usize) {
    let finfo = info.format_info();
    let component = (0..finfo.n_components() as usize)
        .find(|&c| finfo.plane()[c] as usize == plane)
        .expect("every plane holds a component");
    let width = finfo.scale_width(component as u8, info.width()) as usize;
    let rows = finfo.scale_height(component as u8, info.height()) as usize;
    (width * finfo.pixel_stride()[component] as usize, rows)
}

/// Plane offsets and strides of `buffer`: its GstVideoMeta's, or `info`'s when it has none.
fn buffer_layout(buffer: &gst::BufferRef, info: &gst_video::VideoInfo) -> (Vec<usize>, Vec<i32>) {
    match buffer.meta::<gst_video::VideoMeta>() {
        Some(meta) => (meta.offset().to_vec(), meta.stride().to_vec()),
        None => (info.offset().to_vec(), info.stride().to_vec()),
    }
}

/// Refuses a layout whose planes do not fit in `size` bytes, so kernels never read or write
/// past the memory.
pub(crate) fn check_extent(
    info: &gst_video::VideoInfo,
    offsets: &[usize],
    strides: &[i32],
    size: usize,
) -> Result<(), CudaError> {
    for plane in 0..info.n_planes() as usize {
        let (row_bytes, rows) = plane_extent(info, plane);
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

/// The pixel format of `info`, if the kernels know it.
pub fn pixel_format(info: &gst_video::VideoInfo) -> Result<PixelFormat, CudaError> {
    PixelFormat::from_video_format(info.format())
        .ok_or_else(|| CudaError::Invalid(format!("unsupported format {}", info.format().to_str())))
}

/// A device frame an element keeps to stage data that is not already in its device's memory.
#[derive(Default)]
pub struct Staging {
    frame: Option<(DeviceBuffer, gst_video::VideoInfo)>,
}

impl Staging {
    /// The staging frame for `info` (laid out as our pool lays out frames, or as `size` bytes
    /// at least), reallocated only when the size grows or the device changes.
    fn get(
        &mut self,
        device: &Arc<Device>,
        info: &gst_video::VideoInfo,
        min_size: usize,
    ) -> Result<(&DeviceBuffer, &gst_video::VideoInfo), CudaError> {
        let layout = device_layout(info)
            .map_err(|e| CudaError::Invalid(format!("no device layout for {info:?}: {e}")))?;
        let size = layout.size().max(min_size);
        let reuse = matches!(&self.frame, Some((buffer, _))
            if buffer.size() >= size && Arc::ptr_eq(buffer.device(), device));
        if reuse {
            self.frame.as_mut().unwrap().1 = layout;
        } else {
            self.frame = Some((DeviceBuffer::new(device, size)?, layout));
        }
        let (buffer, layout) = self.frame.as_ref().unwrap();
        Ok((buffer, layout))
    }

    pub fn clear(&mut self) {
        self.frame = None;
    }
}

/// A filter's input frame, readable on the filter's stream.
pub struct Input<'a> {
    pub planes: Planes,
    memory: Option<&'a DeviceMemory>,
}

impl<'a> Input<'a> {
    /// Makes `buffer` (a frame of `info`) readable by work queued on `stream` next.
    pub fn begin(
        stream: &Stream,
        buffer: &'a gst::BufferRef,
        info: &gst_video::VideoInfo,
        staging: &mut Staging,
    ) -> Result<Self, CudaError> {
        let device = stream.device();
        let (offsets, strides) = buffer_layout(buffer, info);

        if buffer.n_memory() == 1 {
            let memory = buffer.peek_memory(0);
            if let Some(ours) = device_memory(memory) {
                check_extent(info, &offsets, &strides, memory.size())?;
                if ours.device().ordinal() == device.ordinal() {
                    let base = ours.begin_read(stream)? + memory.offset() as u64;
                    return Ok(Input {
                        planes: Planes::new(base, &offsets, &strides),
                        memory: Some(ours),
                    });
                }
            }
            if memory.is_type(super::memory::UPSTREAM_MEMORY_TYPE)
                || device_memory(memory).is_some()
            {
                return Self::from_other_context(stream, memory, info, &offsets, &strides, staging);
            }
        }

        // System memory: upload each plane into the staging frame. A short buffer is refused
        // with its sizes (mapping it would only say that it failed).
        check_extent(info, &offsets, &strides, buffer.size())?;
        let frame = gst_video::VideoFrameRef::from_buffer_ref_readable(buffer, info)
            .map_err(|e| CudaError::Invalid(format!("cannot map input frame: {e}")))?;
        let (staged, layout) = staging.get(device, info, 0)?;
        for plane in 0..info.n_planes() {
            let (row_bytes, rows) = plane_extent(info, plane as usize);
            let data = frame
                .plane_data(plane)
                .map_err(|e| CudaError::Invalid(format!("input plane {plane}: {e}")))?;
            let src_stride = frame.plane_stride()[plane as usize] as usize;
            let dst_stride = layout.stride()[plane as usize] as usize;
            // SAFETY: the mapped plane holds `rows` rows of `src_stride` bytes; the staging
            // frame is laid out by `layout`. Pageable sources are staged by the driver before
            // the call returns, so the mapping may end afterwards.
            unsafe {
                copy_2d(
                    stream,
                    Place::Device {
                        addr: staged.addr() + layout.offset()[plane as usize] as u64,
                        pitch: dst_stride,
                    },
                    Place::Host {
                        ptr: data.as_ptr(),
                        pitch: src_stride,
                    },
                    row_bytes,
                    rows,
                )?;
            }
        }
        Ok(Input {
            planes: Planes::new(staged.addr(), layout.offset(), layout.stride()),
            memory: None,
        })
    }

    /// CUDA memory of another context or device: map it for its device address and copy the
    /// whole memory into the staging frame, keeping its layout. The copy is waited for here,
    /// since its owner knows nothing of our stream.
    fn from_other_context(
        stream: &Stream,
        memory: &gst::MemoryRef,
        info: &gst_video::VideoInfo,
        offsets: &[usize],
        strides: &[i32],
        staging: &mut Staging,
    ) -> Result<Self, CudaError> {
        let size = memory.size();
        check_extent(info, offsets, strides, size)?;
        let map = CudaMapping::new(memory, false)?;
        let src = map.addr();
        let (staged, _) = staging.get(stream.device(), info, size)?;
        let dst = staged.addr();
        // SAFETY: `src` is the mapped range of `size` bytes, kept mapped until the copy is done;
        // the staging frame holds at least `size` bytes.
        unsafe { copy_from_context(stream, dst, src, size)? };
        stream.synchronize()?;
        drop(map);
        Ok(Input {
            planes: Planes::new(dst, offsets, strides),
            memory: None,
        })
    }

    /// Records that the work reading this frame has been queued on `stream`.
    pub fn end(self, stream: &Stream) -> Result<(), CudaError> {
        match self.memory {
            Some(memory) => memory.end_read(stream),
            None => Ok(()),
        }
    }
}

/// A filter's output frame, writable by work queued on the filter's stream.
pub struct Output {
    pub planes: Planes,
    target: OutputTarget,
}

enum OutputTarget {
    /// Our device memory, written in place.
    Device,
    /// System memory, downloaded from the staging frame at `end`.
    System {
        staged: u64,
        layout: gst_video::VideoInfo,
    },
}

impl Output {
    /// Makes `buffer` (a frame of `info`) writable by work queued on `stream` next.
    pub fn begin(
        stream: &Stream,
        buffer: &gst::BufferRef,
        info: &gst_video::VideoInfo,
        staging: &mut Staging,
    ) -> Result<Self, CudaError> {
        if buffer.n_memory() == 1 {
            let memory = buffer.peek_memory(0);
            if let Some(ours) = device_memory(memory) {
                let (offsets, strides) = buffer_layout(buffer, info);
                check_extent(info, &offsets, &strides, memory.size())?;
                let base = ours.begin_write(stream)? + memory.offset() as u64;
                return Ok(Output {
                    planes: Planes::new(base, &offsets, &strides),
                    target: OutputTarget::Device,
                });
            }
        }
        let (staged, layout) = staging.get(stream.device(), info, 0)?;
        Ok(Output {
            planes: Planes::new(staged.addr(), layout.offset(), layout.stride()),
            target: OutputTarget::System {
                staged: staged.addr(),
                layout: layout.clone(),
            },
        })
    }

    /// Records the writes queued on `stream`; for system memory, downloads the frame (the one
    /// place a filter waits on the host: the CPU needs the bytes).
    pub fn end(
        self,
        stream: &Stream,
        buffer: &mut gst::BufferRef,
        info: &gst_video::VideoInfo,
    ) -> Result<(), CudaError> {
        match self.target {
            OutputTarget::Device => {
                let memory = device_memory(buffer.peek_memory(0)).expect("checked in begin");
                memory.end_write(stream)
            }
            OutputTarget::System { staged, layout } => {
                let mut frame = gst_video::VideoFrameRef::from_buffer_ref_writable(buffer, info)
                    .map_err(|e| CudaError::Invalid(format!("cannot map output frame: {e}")))?;
                for plane in 0..info.n_planes() {
                    let (row_bytes, rows) = plane_extent(info, plane as usize);
                    let dst_stride = frame.plane_stride()[plane as usize] as usize;
                    let data = frame
                        .plane_data_mut(plane)
                        .map_err(|e| CudaError::Invalid(format!("output plane {plane}: {e}")))?;
                    // SAFETY: the mapped plane holds `rows` rows of `dst_stride` bytes and
                    // stays mapped until the stream is synchronised below.
                    unsafe {
                        copy_2d(
                            stream,
                            Place::HostMut {
                                ptr: data.as_mut_ptr(),
                                pitch: dst_stride,
                            },
                            Place::Device {
                                addr: staged + layout.offset()[plane as usize] as u64,
                                pitch: layout.stride()[plane as usize] as usize,
                            },
                            row_bytes,
                            rows,
                        )?;
                    }
                }
                stream.synchronize()
            }
        }
    }
}

/// Queues a plane-by-plane copy of `src` into `dst` (frames of `info`) on `stream`.
pub fn copy_frame(
    stream: &Stream,
    src: &Planes,
    dst: &Planes,
    info: &gst_video::VideoInfo,
) -> Result<(), CudaError> {
    for plane in 0..info.n_planes() as usize {
        let (row_bytes, rows) = plane_extent(info, plane);
        // SAFETY: both plane sets describe live frames of `info` whose memory is kept alive
        // and ordered by their events.
        unsafe {
            copy_2d(
                stream,
                Place::Device {
                    addr: dst.addr[plane],
                    pitch: dst.stride[plane],
                },
                Place::Device {
                    addr: src.addr[plane],
                    pitch: src.stride[plane],
                },
                row_bytes,
                rows,
            )?;
        }
    }
    Ok(())
}

/// A tensor's bytes in device memory, for the work a filter queues on its stream: our memory in
/// place, other CUDA memory or system memory through a staging buffer.
pub struct FlatInput<'a> {
    pub addr: u64,
    memory: Option<&'a DeviceMemory>,
}

/// The staging buffer an element keeps for tensors not already in its device's memory.
#[derive(Default)]
pub struct FlatStaging {
    buffer: Option<DeviceBuffer>,
}

impl FlatStaging {
    fn get(&mut self, device: &Arc<Device>, bytes: usize) -> Result<u64, CudaError> {
        let reuse = matches!(&self.buffer, Some(b)
            if b.size() >= bytes && Arc::ptr_eq(b.device(), device));
        if !reuse {
            self.buffer = Some(DeviceBuffer::new(device, bytes)?);
        }
        Ok(self.buffer.as_ref().unwrap().addr())
    }
}

fn single_memory(buffer: &gst::BufferRef, bytes: usize) -> Result<&gst::MemoryRef, CudaError> {
    if buffer.size() < bytes {
        return Err(CudaError::Invalid(format!(
            "buffer of {} bytes does not hold a tensor of {bytes} bytes",
            buffer.size()
        )));
    }
    Ok(buffer.peek_memory(0))
}

impl<'a> FlatInput<'a> {
    /// Makes the first `bytes` bytes of `buffer` readable by work queued on `stream` next.
    pub fn begin(
        stream: &Stream,
        buffer: &'a gst::BufferRef,
        bytes: usize,
        staging: &mut FlatStaging,
    ) -> Result<Self, CudaError> {
        let device = stream.device();
        let memory = single_memory(buffer, bytes)?;
        if buffer.n_memory() == 1 && memory.size() >= bytes {
            if let Some(ours) = device_memory(memory) {
                if ours.device().ordinal() == device.ordinal() {
                    let addr = ours.begin_read(stream)? + memory.offset() as u64;
                    return Ok(FlatInput {
                        addr,
                        memory: Some(ours),
                    });
                }
            }
            if memory.is_type(super::memory::UPSTREAM_MEMORY_TYPE)
                || device_memory(memory).is_some()
            {
                let map = CudaMapping::new(memory, false)?;
                let dst = staging.get(device, bytes)?;
                // SAFETY: the mapping holds at least `bytes` bytes and stays mapped until the
                // copy is waited for; the staging buffer holds `bytes`.
                unsafe { copy_from_context(stream, dst, map.addr(), bytes)? };
                stream.synchronize()?;
                return Ok(FlatInput {
                    addr: dst,
                    memory: None,
                });
            }
        }
        let map = buffer
            .map_readable()
            .map_err(|e| CudaError::Invalid(format!("cannot map input tensor: {e}")))?;
        let dst = staging.get(device, bytes)?;
        // SAFETY: the map holds at least `bytes` bytes; a pageable source is staged by the
        // driver before the call returns.
        unsafe {
            copy_2d(
                stream,
                Place::Device {
                    addr: dst,
                    pitch: bytes,
                },
                Place::Host {
                    ptr: map.as_ptr(),
                    pitch: bytes,
                },
                bytes,
                1,
            )?;
        }
        Ok(FlatInput {
            addr: dst,
            memory: None,
        })
    }

    /// Records that the work reading the tensor has been queued on `stream`.
    pub fn end(self, stream: &Stream) -> Result<(), CudaError> {
        match self.memory {
            Some(memory) => memory.end_read(stream),
            None => Ok(()),
        }
    }
}

/// A tensor output buffer, writable by work queued on the filter's stream.
pub struct FlatOutput {
    pub addr: u64,
    in_place: bool,
    bytes: usize,
}

impl FlatOutput {
    /// Makes the first `bytes` bytes of `buffer` writable by work queued on `stream` next.
    pub fn begin(
        stream: &Stream,
        buffer: &gst::BufferRef,
        bytes: usize,
        staging: &mut FlatStaging,
    ) -> Result<Self, CudaError> {
        let memory = single_memory(buffer, bytes)?;
        if buffer.n_memory() == 1 && memory.size() >= bytes {
            if let Some(ours) = device_memory(memory) {
                let addr = ours.begin_write(stream)? + memory.offset() as u64;
                return Ok(FlatOutput {
                    addr,
                    in_place: true,
                    bytes,
                });
            }
        }
        Ok(FlatOutput {
            addr: staging.get(stream.device(), bytes)?,
            in_place: false,
            bytes,
        })
    }

    /// Records the writes; for system memory, downloads the tensor and waits for it.
    pub fn end(self, stream: &Stream, buffer: &mut gst::BufferRef) -> Result<(), CudaError> {
        if self.in_place {
            let memory = device_memory(buffer.peek_memory(0)).expect("checked in begin");
            return memory.end_write(stream);
        }
        let mut map = buffer
            .map_writable()
            .map_err(|e| CudaError::Invalid(format!("cannot map output tensor: {e}")))?;
        // SAFETY: the map holds at least `bytes` bytes (checked in begin) and stays mapped
        // until the stream is synchronised below.
        unsafe {
            copy_2d(
                stream,
                Place::HostMut {
                    ptr: map.as_mut_ptr(),
                    pitch: self.bytes,
                },
                Place::Device {
                    addr: self.addr,
                    pitch: self.bytes,
                },
                self.bytes,
                1,
            )?;
        }
        stream.synchronize()
    }
}
