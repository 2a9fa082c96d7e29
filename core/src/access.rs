//! A GstBuffer's frame or tensor on the device, whatever memory it arrives in: our own device
//! memory (used in place, ordered by its events), upstream GStreamer's CUDA memory in our context
//! (used in place, see [`crate::upstream`]), another context's CUDA memory (copied into a staging
//! frame), or system memory (uploaded into, or downloaded from, a staging frame).
//!
//! An element brackets its GPU work with [`Input::begin`] and [`Output::begin`], queues kernels
//! on the views they give, then calls `end` on both. [`ready_for_reading`] hands a buffer to an
//! application instead.

use std::collections::VecDeque;
use std::sync::Arc;

use gst_video::prelude::*;

use crate::cuda::{
    CudaError, Device, DeviceBuffer, Event, ForeignStream, Plane, ReadyEvent, Stream,
};
use crate::frame::{
    check_extent, Frame, FrameView, FrameViewMut, Tensor, TensorView, TensorViewMut,
};
use crate::memory::{
    device_layout, device_memory, upstream_in_place, CudaMapping, DeviceMemory,
    UPSTREAM_MEMORY_TYPE,
};
use crate::tensor::TensorInfo;

/// What a pad carries: video frames or tensors.
#[derive(Clone, Debug, PartialEq)]
pub enum Media {
    Video(gst_video::VideoInfo),
    Tensor(TensorInfo),
}

impl Media {
    /// `video/x-raw` caps as video, `other/tensors` caps as a tensor.
    pub fn from_caps(caps: &gst::CapsRef) -> Result<Media, String> {
        let s = caps.structure(0).ok_or("empty caps")?;
        if s.name() == crate::tensor::TENSORS {
            return TensorInfo::from_caps(caps).map(Media::Tensor);
        }
        gst_video::VideoInfo::from_caps(caps)
            .map(Media::Video)
            .map_err(|_| format!("invalid video caps {caps}"))
    }

    /// Bytes of one unit laid out tightly: a system-memory frame, or the tensor.
    pub fn size(&self) -> usize {
        match self {
            Media::Video(info) => info.size(),
            Media::Tensor(tensor) => tensor.bytes,
        }
    }

    /// The video info, for video.
    pub fn video_info(&self) -> Option<&gst_video::VideoInfo> {
        match self {
            Media::Video(info) => Some(info),
            Media::Tensor(_) => None,
        }
    }
}

/// How an element finishes its writes into a downstream element's CUDA buffer (GStreamer's
/// memory in our context) before pushing it. The memory carries no stream or event in GStreamer
/// 1.22, so its reader cannot wait for ours itself.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum DownstreamSync {
    /// The legacy default stream waits for the writes, on the GPU. GStreamer's CUDA elements
    /// (1.22 and 1.24) read on blocking streams or with synchronous copies, which the driver
    /// orders after work queued on the legacy stream: no host wait.
    #[default]
    LegacyStream,
    /// The CPU waits for the writes: for readers on non-blocking streams, which nothing orders.
    Host,
}

/// Upstream buffers read in place that an element may hold before it waits for the oldest: each
/// is normally let go at the next buffer, its reads long done.
const MAX_HELD: usize = 4;

/// Device memory an element keeps for data not already in its device's memory: a frame laid
/// out as the pool lays frames out, and a tensor's bytes. Reallocated only when what it must
/// hold grows or the device changes. Also the upstream buffers read in place and not yet let go.
#[derive(Default)]
pub struct Staging {
    frame: Option<(DeviceBuffer, gst_video::VideoInfo)>,
    flat: Option<DeviceBuffer>,
    /// Upstream buffers read in place, each with the event recorded after the reads queued on
    /// it: their owner knows nothing of our streams and would reuse them once let go.
    held: VecDeque<(Event, gst::Buffer)>,
    /// Events of buffers let go, for the next ones.
    spare_events: Vec<Event>,
    /// How writes into a downstream element's buffers are finished.
    downstream_sync: DownstreamSync,
}

impl Drop for Staging {
    fn drop(&mut self) {
        for (event, buffer) in self.held.drain(..) {
            // Stopping: the reads must have run before the buffer goes back to its owner.
            if let Err(e) = event.synchronize() {
                gst::warning!(gst::CAT_RUST, "letting go of an upstream buffer: {e}");
            }
            drop(buffer);
        }
    }
}

impl Staging {
    /// Staging whose writes into a downstream element's buffers are finished as `sync` says.
    pub fn with_downstream_sync(sync: DownstreamSync) -> Self {
        let mut staging = Staging::default();
        staging.downstream_sync = sync;
        staging
    }

    /// Finishes the writes queued on `stream` into a downstream element's buffer, as
    /// `downstream_sync` says.
    fn finish_downstream_write(&mut self, stream: &Stream) -> Result<(), CudaError> {
        match self.downstream_sync {
            DownstreamSync::Host => stream.synchronize(),
            DownstreamSync::LegacyStream => {
                let event = self.spare_event(stream)?;
                stream.record(&event)?;
                // The wait takes the event's state now, so the event is free to record again.
                event.make_wait(&ForeignStream::LEGACY_DEFAULT)?;
                self.spare_events.push(event);
                Ok(())
            }
        }
    }

    /// An event of `stream`'s device: a spare one, or a new one.
    fn spare_event(&mut self, stream: &Stream) -> Result<Event, CudaError> {
        match self.spare_events.pop() {
            Some(event) if Arc::ptr_eq(event.device(), stream.device()) => Ok(event),
            _ => stream.device().new_event(),
        }
    }

    /// Keeps `buffer` until the work queued on `stream` so far has run.
    fn hold(&mut self, stream: &Stream, buffer: gst::Buffer) -> Result<(), CudaError> {
        let event = self.spare_event(stream)?;
        stream.record(&event)?;
        self.held.push_back((event, buffer));
        Ok(())
    }

    /// Lets go of the held buffers whose reads have run, waiting for the oldest only while more
    /// than [`MAX_HELD`] are held (an owner's pool may have no more to give).
    fn let_go_read(&mut self) -> Result<(), CudaError> {
        while let Some((event, _)) = self.held.front() {
            if self.held.len() > MAX_HELD {
                event.synchronize()?;
            } else if !event.is_done()? {
                break;
            }
            let (event, buffer) = self.held.pop_front().expect("front checked");
            drop(buffer);
            self.spare_events.push(event);
        }
        Ok(())
    }

    /// The staging frame for `info` (at least `min_size` bytes) on `device`: its first byte,
    /// and the frame laid out there as the pool lays frames out.
    fn frame(
        &mut self,
        device: &Arc<Device>,
        info: &gst_video::VideoInfo,
        min_size: usize,
    ) -> Result<(u64, Frame), CudaError> {
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
        let (offsets, strides) = (layout.offset(), layout.stride());
        let frame = Frame::new(info, buffer.addr(), offsets, strides, device.ordinal());
        Ok((buffer.addr(), frame))
    }

    /// `bytes` bytes of staging on `device`.
    fn flat(&mut self, device: &Arc<Device>, bytes: usize) -> Result<&DeviceBuffer, CudaError> {
        let reuse = matches!(&self.flat, Some(b)
            if b.size() >= bytes && Arc::ptr_eq(b.device(), device));
        if !reuse {
            self.flat = Some(DeviceBuffer::new(device, bytes)?);
        }
        Ok(self.flat.as_ref().unwrap())
    }
}

/// What a buffer holds on the device once begun.
#[derive(Clone, Copy, Debug)]
enum Data {
    Video(Frame),
    Tensor(Tensor),
}

impl Data {
    fn video(&self) -> Result<Frame, CudaError> {
        match self {
            Data::Video(raw) => Ok(*raw),
            Data::Tensor(_) => Err(CudaError::Invalid(
                "a tensor where video was expected".into(),
            )),
        }
    }

    fn tensor(&self) -> Result<Tensor, CudaError> {
        match self {
            Data::Tensor(raw) => Ok(*raw),
            Data::Video(_) => Err(CudaError::Invalid(
                "video where a tensor was expected".into(),
            )),
        }
    }
}

/// Plane offsets and strides of `buffer`: its GstVideoMeta's, or `info`'s when it has none.
fn buffer_layout(buffer: &gst::BufferRef, info: &gst_video::VideoInfo) -> (Vec<usize>, Vec<i32>) {
    match buffer.meta::<gst_video::VideoMeta>() {
        Some(meta) => (meta.offset().to_vec(), meta.stride().to_vec()),
        None => (info.offset().to_vec(), info.stride().to_vec()),
    }
}

/// Refuses a buffer smaller than a tensor of `bytes`.
fn check_tensor_size(buffer: &gst::BufferRef, bytes: usize) -> Result<(), CudaError> {
    if buffer.size() < bytes {
        return Err(CudaError::Invalid(format!(
            "buffer of {} bytes does not hold a tensor of {bytes} bytes",
            buffer.size()
        )));
    }
    Ok(())
}

/// Our device memory of `buffer`, when it is its only memory.
fn our_memory(buffer: &gst::BufferRef) -> Option<&DeviceMemory> {
    (buffer.n_memory() == 1)
        .then(|| device_memory(buffer.peek_memory(0)))
        .flatten()
}

/// Whether `memory` is CUDA memory of a context or device other than `device`'s primary one.
fn other_cuda_memory(memory: &gst::MemoryRef, device: &Device) -> bool {
    match device_memory(memory) {
        Some(ours) => ours.device().ordinal() != device.ordinal(),
        None => memory.is_type(UPSTREAM_MEMORY_TYPE),
    }
}

/// How an input is read, for `end`.
enum Source<'a> {
    /// Our memory in place, which `end` marks as read.
    Ours(&'a DeviceMemory),
    /// Upstream's memory in place, which `end` holds until the reads have run.
    Upstream,
    /// A staging copy.
    Staged,
}

/// An element's input on the device, readable by work queued on its stream.
pub struct Input<'a> {
    buffer: &'a gst::Buffer,
    data: Data,
    source: Source<'a>,
    staging: &'a mut Staging,
}

impl<'a> Input<'a> {
    /// Makes `buffer` (a unit of `media`) readable by work queued on `stream` next.
    pub fn begin(
        stream: &Stream,
        buffer: &'a gst::Buffer,
        media: &Media,
        staging: &'a mut Staging,
    ) -> Result<Self, CudaError> {
        let device = stream.device();
        let ordinal = device.ordinal();
        staging.let_go_read()?;
        let (data, source) = match media {
            Media::Video(info) => {
                let (offsets, strides) = buffer_layout(buffer, info);
                Self::begin_video(stream, buffer, info, &offsets, &strides, staging)?
            }
            Media::Tensor(tensor) => {
                let bytes = tensor.bytes;
                check_tensor_size(buffer, bytes)?;
                let memory = buffer.peek_memory(0);
                let single = buffer.n_memory() == 1 && memory.size() >= bytes;
                if let Some(ours) =
                    our_memory(buffer).filter(|m| single && m.device().ordinal() == ordinal)
                {
                    let addr = ours.begin_read(stream)? + memory.offset() as u64;
                    let raw = Tensor {
                        addr,
                        bytes,
                        device: ordinal,
                    };
                    (Data::Tensor(raw), Source::Ours(ours))
                } else if let Some(addr) = single
                    .then(|| upstream_in_place(memory, device, false))
                    .transpose()?
                    .flatten()
                {
                    let raw = Tensor {
                        addr,
                        bytes,
                        device: ordinal,
                    };
                    (Data::Tensor(raw), Source::Upstream)
                } else if single && other_cuda_memory(memory, device) {
                    let map = CudaMapping::new(memory, false)?;
                    let dst = staging.flat(device, bytes)?.addr();
                    // SAFETY: the mapping holds at least `bytes` bytes and stays mapped until
                    // the copy is waited for; the staging buffer holds `bytes`.
                    unsafe { stream.copy_peer(dst, map.addr(), bytes)? };
                    stream.synchronize()?;
                    let raw = Tensor {
                        addr: dst,
                        bytes,
                        device: ordinal,
                    };
                    (Data::Tensor(raw), Source::Staged)
                } else {
                    let map = buffer
                        .map_readable()
                        .map_err(|e| CudaError::Invalid(format!("cannot map input tensor: {e}")))?;
                    let dst = staging.flat(device, bytes)?.addr();
                    let whole = Plane {
                        addr: dst,
                        pitch: bytes,
                    };
                    // SAFETY: the staging buffer holds `bytes`; a pageable source is staged by
                    // the driver before the call returns.
                    unsafe { stream.upload(whole, &map, bytes, (bytes, 1))? };
                    let raw = Tensor {
                        addr: dst,
                        bytes,
                        device: ordinal,
                    };
                    (Data::Tensor(raw), Source::Staged)
                }
            }
        };
        Ok(Input {
            buffer,
            data,
            source,
            staging,
        })
    }

    fn begin_video(
        stream: &Stream,
        buffer: &'a gst::BufferRef,
        info: &gst_video::VideoInfo,
        offsets: &[usize],
        strides: &[i32],
        staging: &mut Staging,
    ) -> Result<(Data, Source<'a>), CudaError> {
        let device = stream.device();
        let ordinal = device.ordinal();
        if buffer.n_memory() == 1 {
            let memory = buffer.peek_memory(0);
            if let Some(ours) = device_memory(memory).filter(|m| m.device().ordinal() == ordinal) {
                check_extent(info, offsets, strides, memory.size())?;
                let base = ours.begin_read(stream)? + memory.offset() as u64;
                let raw = Frame::new(info, base, offsets, strides, ordinal);
                return Ok((Data::Video(raw), Source::Ours(ours)));
            }
            if let Some(base) = upstream_in_place(memory, device, false)? {
                check_extent(info, offsets, strides, memory.size())?;
                let raw = Frame::new(info, base, offsets, strides, ordinal);
                return Ok((Data::Video(raw), Source::Upstream));
            }
            if other_cuda_memory(memory, device) {
                // Copied whole into the staging frame, keeping its layout, and waited for:
                // its owner knows nothing of our stream.
                let size = memory.size();
                check_extent(info, offsets, strides, size)?;
                let map = CudaMapping::new(memory, false)?;
                let (dst, _) = staging.frame(device, info, size)?;
                // SAFETY: `map` is the mapped range of `size` bytes, kept mapped until the
                // copy is done; the staging frame holds at least `size` bytes.
                unsafe { stream.copy_peer(dst, map.addr(), size)? };
                stream.synchronize()?;
                drop(map);
                let raw = Frame::new(info, dst, offsets, strides, ordinal);
                return Ok((Data::Video(raw), Source::Staged));
            }
        }

        // System memory: each plane uploaded into the staging frame. A short buffer is refused
        // with its sizes (mapping it would only say that it failed).
        check_extent(info, offsets, strides, buffer.size())?;
        let frame = gst_video::VideoFrameRef::from_buffer_ref_readable(buffer, info)
            .map_err(|e| CudaError::Invalid(format!("cannot map input frame: {e}")))?;
        let (_, raw) = staging.frame(device, info, 0)?;
        for plane in 0..info.n_planes() as usize {
            let data = frame
                .plane_data(plane as u32)
                .map_err(|e| CudaError::Invalid(format!("input plane {plane}: {e}")))?;
            let pitch = frame.plane_stride()[plane] as usize;
            // SAFETY: the staging frame is laid out for the extent; pageable sources are staged
            // by the driver before the call returns, so the mapping may end afterwards.
            unsafe { stream.upload(raw.planes[plane], data, pitch, raw.plane_extent(plane))? };
        }
        Ok((Data::Video(raw), Source::Staged))
    }

    /// The buffer itself (for its metas and flags).
    pub fn buffer(&self) -> &'a gst::BufferRef {
        self.buffer
    }

    /// The frame, for input of video.
    pub fn video(&self) -> Result<FrameView<'_>, CudaError> {
        self.data.video().map(FrameView::new)
    }

    /// The tensor, for input of tensors.
    pub fn tensor(&self) -> Result<TensorView<'_>, CudaError> {
        self.data.tensor().map(TensorView::new)
    }

    /// Records that the work reading the input has been queued on `stream`.
    pub fn end(self, stream: &Stream) -> Result<(), CudaError> {
        match self.source {
            Source::Ours(memory) => memory.end_read(stream),
            // The buffer itself (a reference, not a copy): its pool gets it back as it was.
            Source::Upstream => self.staging.hold(stream, self.buffer.clone()),
            Source::Staged => Ok(()),
        }
    }
}

/// Where an output's data goes at `end`.
enum Target {
    /// Our device memory, written in place.
    InPlace,
    /// Upstream's CUDA memory in our context (from the pool of an upstream element downstream),
    /// written in place; finished as [`DownstreamSync`] says, as its reader knows nothing of our
    /// stream.
    Upstream,
    /// Upstream's CUDA memory of another context: the frame is written to the staging frame
    /// starting at this address, laid out as the memory is, and copied over whole at `end`.
    UpstreamCopy(u64),
    /// System memory: the frame downloaded from the staging frame.
    SystemFrame,
    /// System memory: the tensor downloaded from the staging buffer.
    SystemTensor,
}

/// An element's output on the device, writable by work queued on its stream.
pub struct Output<'a> {
    buffer: &'a mut gst::BufferRef,
    media: Media,
    data: Data,
    target: Target,
    staging: &'a mut Staging,
}

impl<'a> Output<'a> {
    /// Makes `buffer` (a unit of `media`) writable by work queued on `stream` next.
    pub fn begin(
        stream: &Stream,
        buffer: &'a mut gst::BufferRef,
        media: &Media,
        staging: &'a mut Staging,
    ) -> Result<Self, CudaError> {
        let device = stream.device();
        let ordinal = device.ordinal();
        let (data, target) = match media {
            Media::Video(info) => match our_memory(buffer) {
                Some(ours) => {
                    let memory = buffer.peek_memory(0);
                    let (offsets, strides) = buffer_layout(buffer, info);
                    check_extent(info, &offsets, &strides, memory.size())?;
                    let base = ours.begin_write(stream)? + memory.offset() as u64;
                    let device = ours.device().ordinal();
                    let raw = Frame::new(info, base, &offsets, &strides, device);
                    (Data::Video(raw), Target::InPlace)
                }
                None if buffer.n_memory() == 1
                    && buffer.peek_memory(0).is_type(UPSTREAM_MEMORY_TYPE) =>
                {
                    let memory = buffer.peek_memory(0);
                    let (offsets, strides) = buffer_layout(buffer, info);
                    check_extent(info, &offsets, &strides, memory.size())?;
                    match upstream_in_place(memory, device, true)? {
                        Some(base) => {
                            let raw = Frame::new(info, base, &offsets, &strides, ordinal);
                            (Data::Video(raw), Target::Upstream)
                        }
                        None => {
                            let (base, _) = staging.frame(device, info, memory.size())?;
                            let raw = Frame::new(info, base, &offsets, &strides, ordinal);
                            (Data::Video(raw), Target::UpstreamCopy(base))
                        }
                    }
                }
                None => {
                    let (_, raw) = staging.frame(device, info, 0)?;
                    (Data::Video(raw), Target::SystemFrame)
                }
            },
            Media::Tensor(tensor) => {
                let bytes = tensor.bytes;
                check_tensor_size(buffer, bytes)?;
                let in_place = our_memory(buffer).filter(|_| buffer.peek_memory(0).size() >= bytes);
                match in_place {
                    Some(ours) => {
                        let addr =
                            ours.begin_write(stream)? + buffer.peek_memory(0).offset() as u64;
                        let device = ours.device().ordinal();
                        let raw = Tensor {
                            addr,
                            bytes,
                            device,
                        };
                        (Data::Tensor(raw), Target::InPlace)
                    }
                    None => {
                        let raw = Tensor {
                            addr: staging.flat(device, bytes)?.addr(),
                            bytes,
                            device: ordinal,
                        };
                        (Data::Tensor(raw), Target::SystemTensor)
                    }
                }
            }
        };
        Ok(Output {
            buffer,
            media: media.clone(),
            data,
            target,
            staging,
        })
    }

    /// What the buffer carries.
    pub fn media(&self) -> &Media {
        &self.media
    }

    /// The frame, for output of video.
    pub fn video(&mut self) -> Result<FrameViewMut<'_>, CudaError> {
        self.data.video().map(FrameViewMut::new)
    }

    /// The tensor, for output of tensors.
    pub fn tensor(&mut self) -> Result<TensorViewMut<'_>, CudaError> {
        self.data.tensor().map(TensorViewMut::new)
    }

    /// Records the writes queued on `stream`; for system memory, downloads the data (the one
    /// place an element waits on the host: the CPU needs the bytes).
    pub fn end(self, stream: &Stream) -> Result<(), CudaError> {
        match self.target {
            Target::InPlace => {
                let memory = our_memory(self.buffer).expect("checked in begin");
                memory.end_write(stream)
            }
            Target::Upstream => self.staging.finish_downstream_write(stream),
            Target::UpstreamCopy(staged) => {
                let memory = self.buffer.peek_memory(0);
                let map = CudaMapping::new(memory, true)?;
                // SAFETY: the staging frame and the mapped memory both hold `size` bytes, laid
                // out alike; the map lasts until the copy is waited for.
                unsafe { stream.copy_peer(map.addr(), staged, memory.size())? };
                stream.synchronize()
            }
            Target::SystemFrame => {
                let info = self.media.video_info().expect("video output");
                let Data::Video(raw) = self.data else {
                    unreachable!("video output");
                };
                let mut frame =
                    gst_video::VideoFrameRef::from_buffer_ref_writable(self.buffer, info)
                        .map_err(|e| CudaError::Invalid(format!("cannot map output frame: {e}")))?;
                for plane in 0..info.n_planes() as usize {
                    let pitch = frame.plane_stride()[plane] as usize;
                    let data = frame
                        .plane_data_mut(plane as u32)
                        .map_err(|e| CudaError::Invalid(format!("output plane {plane}: {e}")))?;
                    let extent = raw.plane_extent(plane);
                    // SAFETY: the staging frame holds the extent; the mapped plane stays mapped
                    // until the stream is synchronised below.
                    unsafe { stream.download(data, pitch, raw.planes[plane], extent)? };
                }
                stream.synchronize()
            }
            Target::SystemTensor => {
                let Data::Tensor(raw) = self.data else {
                    unreachable!("tensor output");
                };
                let mut map = self
                    .buffer
                    .map_writable()
                    .map_err(|e| CudaError::Invalid(format!("cannot map output tensor: {e}")))?;
                let extent = (raw.bytes, 1);
                // SAFETY: the staging buffer holds `bytes` bytes; the map stays mapped until the
                // stream is synchronised below.
                unsafe { stream.download(&mut map, raw.bytes, raw.whole(), extent)? };
                stream.synchronize()
            }
        }
    }
}

/// A buffer in our device memory handed to an application: where its data is and the event
/// after which it is ready.
pub struct ReadyData {
    /// The device address of its first byte.
    pub address: u64,
    /// The GPU holding it.
    pub device: i32,
    /// Completes once everything written to it so far has run.
    pub event: ReadyEvent,
}

/// For a buffer in our device memory: its address and a ready event recorded on `stream` (which
/// also counts as a reader, so a later writer waits for what is queued before the event).
/// `None` for any other memory.
pub fn ready_for_reading(
    stream: &Stream,
    buffer: &gst::BufferRef,
) -> Result<Option<ReadyData>, CudaError> {
    let Some(memory) = our_memory(buffer) else {
        return Ok(None);
    };
    let address = memory.begin_read(stream)? + buffer.peek_memory(0).offset() as u64;
    let event = memory.device().new_event()?;
    stream.record(&event)?;
    memory.end_read(stream)?;
    Ok(Some(ReadyData {
        address,
        device: memory.device().ordinal(),
        event: ReadyEvent::new(event),
    }))
}
