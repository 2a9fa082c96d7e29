//! Device memory as GstMemory: one device allocation per memory (all planes of a frame, laid out
//! as the buffer's GstVideoMeta says), with the ordering state that lets elements on different
//! streams share it without host synchronisation; and its bounded buffer pool ([`pool`]).
//!
//! - Work reads and writes it through [`crate::access`], which brackets it with
//!   `begin_read`/`end_read` and `begin_write`/`end_write`: the reader's stream waits for the
//!   last writer's event, and a writer's stream waits for every reader's event before the memory
//!   is overwritten (a pooled buffer coming back while downstream still reads it). Readers on
//!   another library's stream register with [`DeviceMemory::end_foreign_read`].
//! - `gst_memory_map()` with [`MAP_CUDA`] gives the device address to code that knows nothing of
//!   our events: it waits on the host for pending work first.
//! - A plain `gst_memory_map()` gives a host copy (downloaded on map, uploaded before the next
//!   device use after a write map), so CPU elements and applications see correct bytes.

use std::sync::{Arc, Mutex, MutexGuard, OnceLock};

use glib::subclass::prelude::*;
use glib::translate::*;
use gst::prelude::*;
use gst::subclass::prelude::*;

use crate::cuda::{
    CudaError, Device, DeviceBuffer, Event, ForeignStream, PinnedBuffer, Plane, Stream,
};

pub mod pool;

pub use pool::{decide_cuda_pool, device_layout, CudaBufferPool, PITCH_ALIGN, POISON};

/// `GST_MAP_CUDA`: map flag asking for the device address (`GST_MAP_FLAG_LAST << 1`, the value
/// upstream GStreamer's CUDA library uses).
pub const MAP_CUDA: gst::ffi::GstMapFlags = 1 << 17;

/// The memory type of our allocator's memories.
pub const MEMORY_TYPE: &str = "CudaPreprocMemory";

/// The memory type of upstream GStreamer's CUDA memory (gst-plugins-bad's libgstcuda).
pub const UPSTREAM_MEMORY_TYPE: &str = "gst.cuda.memory";

static CAT: std::sync::LazyLock<gst::DebugCategory> = std::sync::LazyLock::new(|| {
    gst::DebugCategory::new(
        "cudapreprocmemory",
        gst::DebugColorFlags::empty(),
        Some("CUDA device memory"),
    )
});

/// Which copy of the bytes is current.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Valid {
    Device,
    Host,
    Both,
}

struct SyncState {
    valid: Valid,
    host: Option<PinnedBuffer>,
    /// Records the last write to the device copy.
    write_event: Event,
    /// One event per stream that has read the device copy since, recorded after its last read.
    reads: Vec<(usize, Event)>,
    /// The device address was handed out by a `MAP_CUDA` map, to code that records no events.
    mapped_for_device: bool,
}

/// The state behind one of our GstMemories.
pub struct DeviceMemory {
    buffer: DeviceBuffer,
    /// Stream for host transfers made by map/unmap and copies (the allocating element's).
    transfer: Arc<Stream>,
    sync: Mutex<SyncState>,
}

impl DeviceMemory {
    fn new(transfer: &Arc<Stream>, size: usize) -> Result<Self, CudaError> {
        let buffer = DeviceBuffer::on_stream(transfer, size)?;
        // Every use, on any stream, waits for the write event: recorded here, it orders them
        // after the allocation.
        let write_event = transfer.device().new_event()?;
        transfer.record(&write_event)?;
        Ok(DeviceMemory::written(buffer, transfer, write_event))
    }

    /// `buffer`, its content written by the work `write_event` records.
    fn written(buffer: DeviceBuffer, transfer: &Arc<Stream>, write_event: Event) -> Self {
        DeviceMemory {
            buffer,
            transfer: transfer.clone(),
            sync: Mutex::new(SyncState {
                valid: Valid::Device,
                host: None,
                write_event,
                reads: Vec::new(),
                mapped_for_device: false,
            }),
        }
    }

    /// Another library's `size` bytes at `addr` on the transfer stream's device, written by
    /// the work queued so far on `producer` (its readers here wait for that work), handed back
    /// with `release` once every use queued here has run.
    fn foreign(
        transfer: &Arc<Stream>,
        addr: u64,
        size: usize,
        producer: &ForeignStream,
        release: Box<dyn FnOnce() + Send>,
    ) -> Result<Self, CudaError> {
        // Made first, so that a failure below hands the memory back too.
        let buffer = DeviceBuffer::foreign(transfer.device(), addr, size, release);
        let write_event = transfer.device().new_event()?;
        write_event.record_foreign(producer)?;
        Ok(DeviceMemory::written(buffer, transfer, write_event))
    }

    pub fn device(&self) -> &Arc<Device> {
        self.buffer.device()
    }

    pub fn size(&self) -> usize {
        self.buffer.size()
    }

    /// The whole allocation as one row.
    fn whole(&self) -> Plane {
        Plane {
            addr: self.buffer.addr(),
            pitch: self.size(),
        }
    }

    fn lock(&self) -> MutexGuard<'_, SyncState> {
        self.sync.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Makes the device copy current on `stream` (uploading a host write, ordered after every
    /// device reader), under the lock.
    fn upload_if_needed(&self, state: &mut SyncState, stream: &Stream) -> Result<(), CudaError> {
        if state.valid != Valid::Host {
            return Ok(());
        }
        for (_, event) in &state.reads {
            stream.wait(event)?;
        }
        let host = state
            .host
            .as_ref()
            .expect("host-valid memory has a host copy");
        // SAFETY: both sides hold `size` bytes and outlive the copy: the host copy is only
        // written again after a host map, which waits for `write_event` recorded below.
        unsafe { stream.upload(self.whole(), host.as_slice(), self.size(), (self.size(), 1))? };
        stream.record(&state.write_event)?;
        state.valid = Valid::Both;
        Ok(())
    }

    /// Orders `stream` after the last write and returns the device address to read from. Call
    /// [`Self::end_read`] with the same stream once the reading work is queued.
    pub(crate) fn begin_read(&self, stream: &Stream) -> Result<u64, CudaError> {
        let mut state = self.lock();
        self.upload_if_needed(&mut state, stream)?;
        stream.wait(&state.write_event)?;
        Ok(self.buffer.addr())
    }

    /// Records that `stream` has queued its reads, so that a later writer waits for them.
    pub(crate) fn end_read(&self, stream: &Stream) -> Result<(), CudaError> {
        let mut state = self.lock();
        let id = stream.raw() as usize;
        if let Some((_, event)) = state.reads.iter().find(|(s, _)| *s == id) {
            return stream.record(event);
        }
        let event = stream.device().new_event()?;
        stream.record(&event)?;
        state.reads.push((id, event));
        Ok(())
    }

    /// Records that another library's stream `stream` has queued its reads, so that a later
    /// writer waits for them: called when an application releases memory it read on its own
    /// stream.
    pub fn end_foreign_read(&self, stream: &ForeignStream) -> Result<(), CudaError> {
        let mut state = self.lock();
        let id = stream.handle() as usize;
        if let Some((_, event)) = state.reads.iter().find(|(s, _)| *s == id) {
            return event.record_foreign(stream);
        }
        let event = self.device().new_event()?;
        event.record_foreign(stream)?;
        state.reads.push((id, event));
        Ok(())
    }

    /// Orders `stream` after every earlier read and write and returns the device address to
    /// write the whole memory to. Call [`Self::end_write`] once the writing work is queued.
    pub(crate) fn begin_write(&self, stream: &Stream) -> Result<u64, CudaError> {
        let mut state = self.lock();
        for (_, event) in &state.reads {
            stream.wait(event)?;
        }
        stream.wait(&state.write_event)?;
        state.valid = Valid::Device;
        Ok(self.buffer.addr())
    }

    /// Records the write just queued on `stream`; readers will wait for it.
    pub(crate) fn end_write(&self, stream: &Stream) -> Result<(), CudaError> {
        let state = self.lock();
        stream.record(&state.write_event)
    }

    /// Host view for `gst_memory_map()` without [`MAP_CUDA`].
    fn map_host(&self, write: bool) -> Result<*mut u8, CudaError> {
        let mut state = self.lock();
        if state.host.is_none() {
            state.host = Some(PinnedBuffer::new(self.device(), self.size())?);
        }
        if state.valid == Valid::Device {
            self.transfer.wait(&state.write_event)?;
            let host = state.host.as_mut().unwrap().as_mut_slice();
            let size = self.size();
            // SAFETY: both sides hold `size` bytes; the transfer stream is synchronised below.
            unsafe {
                self.transfer
                    .download(host, size, self.whole(), (size, 1))?
            };
            self.transfer.synchronize()?;
            state.valid = Valid::Both;
        } else if write {
            // An upload of the previous host write may still be reading the host copy.
            state.write_event.synchronize()?;
        }
        Ok(state.host.as_ref().unwrap().as_ptr())
    }

    fn unmap_host(&self, write: bool) {
        if write {
            self.lock().valid = Valid::Host;
        }
    }

    /// Device address for `gst_memory_map()` with [`MAP_CUDA`]: the caller may use it at once.
    fn map_device(&self, write: bool) -> Result<u64, CudaError> {
        let mut state = self.lock();
        state.mapped_for_device = true;
        self.upload_if_needed(&mut state, &self.transfer)?;
        state.write_event.synchronize()?;
        if write {
            for (_, event) in &state.reads {
                event.synchronize()?;
            }
        }
        Ok(self.buffer.addr())
    }

    fn unmap_device(&self, write: bool) {
        if write {
            self.lock().valid = Valid::Device;
        }
    }

    /// Copies `size` bytes from `offset` into a new memory of the same allocator.
    fn copy_range(
        &self,
        allocator: &CudaAllocator,
        offset: usize,
        size: usize,
    ) -> Result<gst::Memory, CudaError> {
        let copy = allocator.alloc_device(size)?;
        let target = device_memory(&copy).expect("our allocator makes our memory");
        let stream = &self.transfer;
        let src = self.begin_read(stream)?;
        let dst = target.begin_write(stream)?;
        // SAFETY: both ranges lie inside live allocations kept alive until the copy has run
        // (the events recorded below order any later use).
        unsafe { stream.copy_bytes(dst, src + offset as u64, size)? };
        target.end_write(stream)?;
        self.end_read(stream)?;
        Ok(copy)
    }
}

/// A `gst_memory_map()` of any CUDA memory (ours or upstream's) with [`MAP_CUDA`], unmapped
/// on drop.
pub struct CudaMapping<'a> {
    memory: &'a gst::MemoryRef,
    info: gst::ffi::GstMapInfo,
}

impl<'a> CudaMapping<'a> {
    pub fn new(memory: &'a gst::MemoryRef, write: bool) -> Result<Self, CudaError> {
        let flags =
            MAP_CUDA | gst::ffi::GST_MAP_READ | if write { gst::ffi::GST_MAP_WRITE } else { 0 };
        // SAFETY: an all-zero GstMapInfo is filled by gst_memory_map.
        let mut info: gst::ffi::GstMapInfo = unsafe { std::mem::zeroed() };
        // SAFETY: `memory` is a valid memory; a successful map is undone in Drop.
        let mapped = unsafe { gst::ffi::gst_memory_map(memory.as_mut_ptr(), &mut info, flags) };
        if mapped == glib::ffi::GFALSE {
            return Err(CudaError::Invalid(
                "gst_memory_map(GST_MAP_CUDA) failed: not CUDA memory, or its owner failed".into(),
            ));
        }
        Ok(CudaMapping { memory, info })
    }

    /// The device address of the mapped bytes, for code outside Rust (printing it, handing it
    /// to another library).
    pub fn addr(&self) -> u64 {
        self.info.data as u64
    }
}

impl Drop for DeviceMemory {
    /// The allocation is freed on the transfer stream once that stream has waited for the last
    /// write and every read recorded, so no host thread waits. Code that used a `MAP_CUDA` map
    /// recorded nothing: then the whole device is waited for first, as `cuMemFree` would.
    fn drop(&mut self) {
        let state = self.sync.get_mut().unwrap_or_else(|e| e.into_inner());
        let ordered = std::iter::once(&state.write_event)
            .chain(state.reads.iter().map(|(_, event)| event))
            .try_for_each(|event| self.transfer.wait(event));
        if state.mapped_for_device || ordered.is_err() {
            let _ = self.buffer.device().synchronize();
        }
        // Another library may reuse its memory at once: it goes back only after every use.
        if self.buffer.is_foreign() {
            let _ = self.transfer.synchronize();
        }
    }
}

impl Drop for CudaMapping<'_> {
    fn drop(&mut self) {
        // SAFETY: unmaps the successful map made in `new`.
        unsafe { gst::ffi::gst_memory_unmap(self.memory.as_mut_ptr(), &mut self.info) };
    }
}

#[repr(C)]
struct RawMemory {
    mem: gst::ffi::GstMemory,
    state: *mut DeviceMemory,
}

/// The device ordinal of CUDA memory (ours or upstream's), `None` for other memory.
pub fn memory_device(memory: &gst::MemoryRef) -> Option<i32> {
    if let Some(ours) = device_memory(memory) {
        return Some(ours.device().ordinal());
    }
    if memory.is_type(UPSTREAM_MEMORY_TYPE) {
        let mapping = CudaMapping::new(memory, false).ok()?;
        return Device::ordinal_of(mapping.addr()).ok();
    }
    None
}

/// The device address of `memory` when it is upstream GStreamer's CUDA memory in `device`'s
/// primary context (its element took our context, see [`crate::upstream`]): usable in place.
pub(crate) fn upstream_in_place(
    memory: &gst::MemoryRef,
    device: &Device,
    write: bool,
) -> Result<Option<u64>, CudaError> {
    if !memory.is_type(UPSTREAM_MEMORY_TYPE) {
        return Ok(None);
    }
    // Upstream's 1.22 memory keeps no stream and its elements finish their writes before a
    // buffer is pushed: the address stays valid for as long as the buffer is held, mapped or
    // not.
    let map = CudaMapping::new(memory, write)?;
    Ok(device.owns(map.addr())?.then(|| map.addr()))
}

/// Whether `memory` is CUDA device memory, ours or upstream's.
pub fn is_cuda_memory(memory: &gst::MemoryRef) -> bool {
    memory.is_type(MEMORY_TYPE) || memory.is_type(UPSTREAM_MEMORY_TYPE)
}

/// Our device memory behind `memory`, or `None` for any other kind of memory.
pub fn device_memory(memory: &gst::MemoryRef) -> Option<&DeviceMemory> {
    if !memory.is_type(MEMORY_TYPE) {
        return None;
    }
    // SAFETY: memories of MEMORY_TYPE are only made by `CudaAllocator`, as a RawMemory whose
    // state lives as long as the memory.
    unsafe {
        let raw = memory.as_ptr() as *const RawMemory;
        Some(&*(*raw).state)
    }
}

mod imp {
    use super::*;

    #[derive(Default)]
    pub struct CudaAllocator {
        pub(super) target: OnceLock<(Arc<Device>, Arc<Stream>)>,
    }

    #[glib::object_subclass]
    impl ObjectSubclass for CudaAllocator {
        const NAME: &'static str = "GstCudaPreprocAllocator";
        type Type = super::CudaAllocator;
        type ParentType = gst::Allocator;

        fn instance_init(obj: &glib::subclass::InitializingObject<Self>) {
            static MEM_TYPE: &[u8] = b"CudaPreprocMemory\0";
            // SAFETY: filling the vfuncs of our own GstAllocator instance before anyone uses it.
            unsafe {
                let allocator = obj.as_ptr() as *mut gst::ffi::GstAllocator;
                (*allocator).mem_type = MEM_TYPE.as_ptr().cast();
                (*allocator).mem_map_full = Some(mem_map_full);
                (*allocator).mem_unmap_full = Some(mem_unmap_full);
                (*allocator).mem_copy = Some(mem_copy);
                (*allocator).mem_share = Some(mem_share);
            }
        }
    }

    impl ObjectImpl for CudaAllocator {}
    impl GstObjectImpl for CudaAllocator {}

    unsafe impl AllocatorImpl for CudaAllocator {
        unsafe fn alloc(
            &self,
            size: usize,
            _params: &gst::AllocationParams,
        ) -> *mut gst::ffi::GstMemory {
            match self.obj().alloc_device(size) {
                Ok(memory) => memory.into_glib_ptr(),
                Err(e) => {
                    gst::error!(CAT, imp = self, "allocating {size} bytes: {e}");
                    std::ptr::null_mut()
                }
            }
        }

        unsafe fn free(&self, memory: *mut gst::ffi::GstMemory) {
            // SAFETY: `memory` is a RawMemory made by `alloc_device` and freed once.
            unsafe {
                let raw = memory as *mut RawMemory;
                drop(Box::from_raw((*raw).state));
                drop(Box::from_raw(raw));
            }
        }
    }

    fn state<'a>(mem: *mut gst::ffi::GstMemory) -> &'a DeviceMemory {
        // SAFETY: only called on memories of our allocator (the vfuncs are ours).
        unsafe {
            let raw = mem as *mut RawMemory;
            let raw = if (*raw).mem.parent.is_null() {
                raw
            } else {
                (*raw).mem.parent as *mut RawMemory
            };
            &*(*raw).state
        }
    }

    unsafe extern "C" fn mem_map_full(
        mem: *mut gst::ffi::GstMemory,
        info: *mut gst::ffi::GstMapInfo,
        _maxsize: usize,
    ) -> glib::ffi::gpointer {
        // SAFETY: GStreamer passes a valid map info for a memory of ours.
        let flags = unsafe { (*info).flags };
        let write = flags & gst::ffi::GST_MAP_WRITE != 0;
        let state = state(mem);
        let result = if flags & MAP_CUDA != 0 {
            state
                .map_device(write)
                .map(|addr| addr as glib::ffi::gpointer)
        } else {
            state.map_host(write).map(|ptr| ptr as glib::ffi::gpointer)
        };
        match result {
            Ok(ptr) => ptr,
            Err(e) => {
                gst::error!(CAT, "mapping CUDA memory failed: {e}");
                std::ptr::null_mut()
            }
        }
    }

    unsafe extern "C" fn mem_unmap_full(
        mem: *mut gst::ffi::GstMemory,
        info: *mut gst::ffi::GstMapInfo,
    ) {
        // SAFETY: GStreamer passes the map info it filled in `mem_map_full`.
        let flags = unsafe { (*info).flags };
        let write = flags & gst::ffi::GST_MAP_WRITE != 0;
        if flags & MAP_CUDA != 0 {
            state(mem).unmap_device(write);
        } else {
            state(mem).unmap_host(write);
        }
    }

    unsafe extern "C" fn mem_copy(
        mem: *mut gst::ffi::GstMemory,
        offset: isize,
        size: isize,
    ) -> *mut gst::ffi::GstMemory {
        // SAFETY: `mem` is a valid memory of ours; its allocator is a CudaAllocator.
        unsafe {
            let allocator: Borrowed<gst::Allocator> = from_glib_borrow((*mem).allocator);
            let allocator = allocator.downcast_ref::<super::CudaAllocator>().unwrap();
            let mem_offset = (*mem).offset;
            let mem_size = (*mem).size;
            let offset = offset.max(0) as usize;
            let size = if size < 0 {
                mem_size.saturating_sub(offset)
            } else {
                size as usize
            };
            match state(mem).copy_range(allocator, mem_offset + offset, size) {
                Ok(copy) => copy.into_glib_ptr(),
                Err(e) => {
                    gst::error!(CAT, "copying CUDA memory failed: {e}");
                    std::ptr::null_mut()
                }
            }
        }
    }

    unsafe extern "C" fn mem_share(
        _mem: *mut gst::ffi::GstMemory,
        _offset: isize,
        _size: isize,
    ) -> *mut gst::ffi::GstMemory {
        // Sub-memories of device memory are not supported; memories carry NO_SHARE so
        // GStreamer copies instead of sharing.
        std::ptr::null_mut()
    }
}

glib::wrapper! {
    /// Allocates [`DeviceMemory`] on one device; host transfers for map/unmap run on `stream`.
    pub struct CudaAllocator(ObjectSubclass<imp::CudaAllocator>)
        @extends gst::Allocator, gst::Object;
}

impl CudaAllocator {
    pub fn new(device: &Arc<Device>, stream: &Arc<Stream>) -> Self {
        let allocator: Self = glib::Object::new();
        allocator
            .imp()
            .target
            .set((device.clone(), stream.clone()))
            .unwrap_or_else(|_| unreachable!("a new allocator has no target yet"));
        allocator
    }

    pub fn device(&self) -> &Arc<Device> {
        &self.imp().target.get().expect("allocator made by new()").0
    }

    /// A new memory of `size` bytes of device memory.
    pub fn alloc_device(&self, size: usize) -> Result<gst::Memory, CudaError> {
        let state = DeviceMemory::new(self.stream()?, size)?;
        Ok(self.memory_of(state, size))
    }

    /// Another library's device memory (`size` bytes at `addr`, on this allocator's device) as
    /// a memory of ours, without a copy: readers wait for the work queued so far on `producer`
    /// (the stream that wrote it), and `release` hands it back once the last reference is gone
    /// and every use queued by then has run, or at once on failure.
    ///
    /// # Safety
    /// `addr` must stay valid for `size` bytes on this device until `release` is called, and
    /// `producer` must be a live stream of this device's context (or a default stream).
    pub unsafe fn wrap_foreign(
        &self,
        addr: u64,
        size: usize,
        producer: &ForeignStream,
        release: Box<dyn FnOnce() + Send>,
    ) -> Result<gst::Memory, CudaError> {
        let stream = match self.stream() {
            Ok(stream) => stream,
            Err(e) => {
                release();
                return Err(e);
            }
        };
        // On failure `release` has run (the buffer holding it was dropped).
        let state = DeviceMemory::foreign(stream, addr, size, producer, release)?;
        Ok(self.memory_of(state, size))
    }

    fn stream(&self) -> Result<&Arc<Stream>, CudaError> {
        self.imp()
            .target
            .get()
            .map(|(_, stream)| stream)
            .ok_or_else(|| CudaError::Invalid("CUDA allocator used without a device".into()))
    }

    /// `state` as a GstMemory of this allocator.
    fn memory_of(&self, state: DeviceMemory, size: usize) -> gst::Memory {
        let raw = Box::into_raw(Box::new(RawMemory {
            // SAFETY: an all-zero GstMemory is what gst_memory_init expects to fill in.
            mem: unsafe { std::mem::zeroed() },
            state: Box::into_raw(Box::new(state)),
        }));
        // SAFETY: `raw` is a fresh RawMemory; gst_memory_init fills its GstMemory header and
        // takes a reference to the allocator.
        unsafe {
            gst::ffi::gst_memory_init(
                raw as *mut gst::ffi::GstMemory,
                gst::ffi::GST_MEMORY_FLAG_NO_SHARE,
                self.upcast_ref::<gst::Allocator>().to_glib_none().0,
                std::ptr::null_mut(),
                size,
                255,
                0,
                size,
            );
            from_glib_full(raw as *mut gst::ffi::GstMemory)
        }
    }
}

// SAFETY: the allocator's state is immutable after `new()` and its memories synchronise
// internally.
unsafe impl Send for CudaAllocator {}
unsafe impl Sync for CudaAllocator {}
