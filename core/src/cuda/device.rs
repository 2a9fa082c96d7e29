//! Devices (the primary context of each GPU, shared process-wide), streams, events and raw
//! device/host allocations, as safe types. Every driver call is checked and named.

use std::collections::HashMap;
use std::sync::{Arc, LazyLock, Mutex, OnceLock, Weak};

use cudarc::driver::{
    result, sys, CudaContext, CudaEvent, CudaFunction, CudaModule, CudaStream, DeviceRepr,
    LaunchConfig, PushKernelArg,
};

use super::error::{Check, CudaError, CudaResult};
use super::live::{Resource, Tracked};
use super::traffic::{count_copy, count_host_wait};
use crate::kernels;

/// Whether `libcuda.so.1` can be loaded. cudarc panics on first use when it cannot, so this is
/// checked before any other driver call.
pub fn driver_available() -> Result<(), CudaError> {
    static PRESENT: OnceLock<bool> = OnceLock::new();
    // SAFETY: only tries to dlopen the driver library.
    if !*PRESENT.get_or_init(|| unsafe { sys::is_culib_present() }) {
        return Err(CudaError::NoDriver);
    }
    result::init().check("cuInit")
}

/// Number of CUDA devices the driver sees.
pub fn device_count() -> Result<i32, CudaError> {
    driver_available()?;
    result::device::get_count().check("cuDeviceGetCount")
}

/// One GPU, through its primary context: the context PyTorch, CuPy and CV-CUDA use too, so
/// device pointers handed to them need no context switch.
pub struct Device {
    ctx: Arc<CudaContext>,
    name: String,
    /// Where stream-ordered allocations come from; `None` where the device has no memory pools.
    pool: Option<MemoryPool>,
    modules: Mutex<HashMap<&'static str, Arc<CudaModule>>>,
    functions: Mutex<HashMap<&'static str, CudaFunction>>,
    _live: Tracked,
}

static DEVICES: LazyLock<Mutex<HashMap<usize, Weak<Device>>>> =
    LazyLock::new(|| Mutex::new(HashMap::new()));

impl Device {
    /// The device with ordinal `id`, shared with every other user of it in the process.
    pub fn open(id: i32) -> Result<Arc<Device>, CudaError> {
        let count = device_count()?;
        if id < 0 || id >= count {
            return Err(CudaError::NoDevice { id, count });
        }
        let mut devices = DEVICES.lock().unwrap();
        if let Some(device) = devices.get(&(id as usize)).and_then(Weak::upgrade) {
            return Ok(device);
        }
        let ctx = CudaContext::new(id as usize).check("cuDevicePrimaryCtxRetain")?;
        // SAFETY: this crate never uses cudarc's CudaSlice, whose bookkeeping this turns off;
        // ordering is done with our own events.
        unsafe { ctx.disable_event_tracking() };
        let name = ctx.name().check("cuDeviceGetName")?;
        let pool = MemoryPool::new(&ctx, count)?;
        let device = Arc::new(Device {
            ctx,
            name,
            pool,
            modules: Mutex::new(HashMap::new()),
            functions: Mutex::new(HashMap::new()),
            _live: Tracked::new(Resource::Device, 0),
        });
        devices.insert(id as usize, Arc::downgrade(&device));
        Ok(device)
    }

    /// The device that owns the allocation `addr` points into.
    pub fn ordinal_of(addr: u64) -> Result<i32, CudaError> {
        driver_available()?;
        // SAFETY: DEVICE_ORDINAL is an int.
        unsafe {
            pointer_attribute(
                addr,
                sys::CUpointer_attribute::CU_POINTER_ATTRIBUTE_DEVICE_ORDINAL,
                "cuPointerGetAttribute(DEVICE_ORDINAL)",
            )
        }
    }

    /// Whether the allocation `addr` points into was made in this device's primary context (by
    /// us, or by another library that was given it), so that our kernels may use it in place.
    pub fn owns(&self, addr: u64) -> Result<bool, CudaError> {
        Ok(context_of(addr)? == self.ctx.cu_ctx())
    }

    pub fn ordinal(&self) -> i32 {
        self.ctx.ordinal() as i32
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// Makes the primary context current on the calling thread (GStreamer calls us from many).
    pub fn bind(&self) -> Result<(), CudaError> {
        self.ctx.bind_to_thread().check("cuCtxSetCurrent")
    }

    /// Runs `f` with the primary context current on the calling thread, then restores the
    /// thread's context, so that default-stream handles (0, 1, 2) in `f` name this device's
    /// streams whatever the caller had current.
    fn in_context<T>(&self, f: impl FnOnce() -> Result<T, CudaError>) -> Result<T, CudaError> {
        // SAFETY: the context is retained by `self`; the push is undone whatever `f` returns.
        unsafe { sys::cuCtxPushCurrent_v2(self.ctx.cu_ctx()) }.check("cuCtxPushCurrent")?;
        let result = f();
        let mut popped = std::ptr::null_mut();
        // SAFETY: pops what was pushed above.
        let restored = unsafe { sys::cuCtxPopCurrent_v2(&mut popped) }.check("cuCtxPopCurrent");
        result.and_then(|value| restored.map(|()| value))
    }

    /// Blocks until all work on the device's primary context has finished.
    pub fn synchronize(&self) -> Result<(), CudaError> {
        count_host_wait();
        self.ctx.synchronize().check("cuCtxSynchronize")
    }

    /// (free, total) device memory in bytes, as the driver reports it.
    pub fn memory_info(&self) -> Result<(usize, usize), CudaError> {
        self.bind()?;
        result::mem_get_info().check("cuMemGetInfo")
    }

    /// What the device's pool of stream-ordered memory holds: `None` where the device has no
    /// pool (every allocation then goes back to the driver when freed).
    pub fn pool_memory(&self) -> Result<Option<PoolMemory>, CudaError> {
        let Some(pool) = &self.pool else {
            return Ok(None);
        };
        let attribute = |attribute, name| {
            let mut value = 0u64;
            // SAFETY: the reserved and used memory attributes are u64s.
            unsafe {
                sys::cuMemPoolGetAttribute(pool.0, attribute, (&mut value as *mut u64).cast())
            }
            .check(name)
            .map(|()| value)
        };
        use sys::CUmemPool_attribute::*;
        Ok(Some(PoolMemory {
            reserved: attribute(
                CU_MEMPOOL_ATTR_RESERVED_MEM_CURRENT,
                "cuMemPoolGetAttribute(RESERVED_MEM_CURRENT)",
            )?,
            used: attribute(
                CU_MEMPOOL_ATTR_USED_MEM_CURRENT,
                "cuMemPoolGetAttribute(USED_MEM_CURRENT)",
            )?,
        }))
    }

    /// Waits for the work queued on the device, then gives the driver back the memory the pool
    /// keeps for reuse (memory in use stays): for applications that need it elsewhere, as
    /// `torch.cuda.empty_cache()` does for PyTorch's cache.
    pub fn release_cached_memory(&self) -> Result<(), CudaError> {
        let Some(pool) = &self.pool else {
            return Ok(());
        };
        // Frees still queued behind other work keep their memory until they have run.
        self.synchronize()?;
        // SAFETY: a pool of this device; keeping 0 bytes releases all it can.
        unsafe { sys::cuMemPoolTrimTo(pool.0, 0) }.check("cuMemPoolTrimTo")
    }

    pub fn new_stream(self: &Arc<Self>) -> Result<Stream, CudaError> {
        let inner = self.ctx.new_stream().check("cuStreamCreate")?;
        Ok(Stream {
            inner,
            device: self.clone(),
            _live: Tracked::new(Resource::Stream, 0),
        })
    }

    pub fn new_event(self: &Arc<Self>) -> Result<Event, CudaError> {
        let inner = self.ctx.new_event(None).check("cuEventCreate")?;
        Ok(Event {
            inner,
            device: self.clone(),
            _live: Tracked::new(Resource::Event, 0),
        })
    }

    /// A kernel entry point, loading its module on first use.
    pub(crate) fn function(
        &self,
        module: &'static str,
        entry: &'static str,
    ) -> Result<CudaFunction, CudaError> {
        if let Some(f) = self.functions.lock().unwrap().get(entry) {
            return Ok(f.clone());
        }
        let module = {
            let mut modules = self.modules.lock().unwrap();
            match modules.get(module) {
                Some(m) => m.clone(),
                None => {
                    let loaded = kernels::load_module(&self.ctx, module)?;
                    modules.insert(module, loaded.clone());
                    loaded
                }
            }
        };
        let f = module
            .load_function(entry)
            .check("cuModuleGetFunction")
            .map_err(|e| CudaError::Kernel(format!("kernel {entry}: {e}")))?;
        self.functions.lock().unwrap().insert(entry, f.clone());
        Ok(f)
    }
}

impl std::fmt::Debug for Device {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "CUDA device {} ({})", self.ordinal(), self.name)
    }
}

/// A non-blocking CUDA stream. Each element owns one; work on it is ordered with other
/// elements' streams through [`Event`]s, never through host synchronisation.
pub struct Stream {
    inner: Arc<CudaStream>,
    device: Arc<Device>,
    _live: Tracked,
}

impl Stream {
    pub fn device(&self) -> &Arc<Device> {
        &self.device
    }

    /// The driver handle (a `CUstream`), for another library to order its work with ours,
    /// as DLPack's consumer stream for instance.
    pub fn handle(&self) -> u64 {
        self.raw() as u64
    }

    pub(crate) fn raw(&self) -> sys::CUstream {
        self.inner.cu_stream()
    }

    /// Blocks the calling thread until all work queued so far has finished.
    pub fn synchronize(&self) -> Result<(), CudaError> {
        // SAFETY: the stream is live; the query only reads its state.
        match unsafe { sys::cuStreamQuery(self.raw()) } {
            sys::CUresult::CUDA_SUCCESS => return Ok(()),
            sys::CUresult::CUDA_ERROR_NOT_READY => count_host_wait(),
            error => return error.check("cuStreamQuery"),
        }
        self.inner.synchronize().check("cuStreamSynchronize")
    }

    /// Makes later work on this stream wait for what `event` recorded.
    pub fn wait(&self, event: &Event) -> Result<(), CudaError> {
        self.inner.wait(&event.inner).check("cuStreamWaitEvent")
    }

    /// Records in `event` the work queued on this stream so far.
    pub fn record(&self, event: &Event) -> Result<(), CudaError> {
        event.inner.record(&self.inner).check("cuEventRecord")
    }

    /// Launches `entry` of kernel module `module` with the kernel arguments `(a, b, c)`, passed
    /// by value.
    ///
    /// # Safety
    /// The argument types must match the kernel's parameters, and any device addresses they
    /// carry must stay valid until the kernel has run.
    pub(crate) unsafe fn launch<A: DeviceRepr, B: DeviceRepr, C: DeviceRepr>(
        &self,
        module: &'static str,
        entry: &'static str,
        config: LaunchConfig,
        (a, b, c): (&A, &B, &C),
    ) -> Result<(), CudaError> {
        let function = self.device.function(module, entry)?;
        let mut builder = self.inner.launch_builder(&function);
        builder.arg(a).arg(b).arg(c);
        // SAFETY: per this function's contract.
        unsafe { builder.launch(config) }
            .map(|_| ())
            .check("cuLaunchKernel")
            .map_err(|e| CudaError::Kernel(format!("{entry}: {e}")))
    }
}

impl std::fmt::Debug for Stream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Stream({:?} on {:?})", self.raw(), self.device)
    }
}

/// A CUDA event without timing, for ordering streams.
pub struct Event {
    inner: CudaEvent,
    device: Arc<Device>,
    _live: Tracked,
}

impl Event {
    pub fn device(&self) -> &Arc<Device> {
        &self.device
    }

    /// Blocks the calling thread until the work recorded in this event has run.
    pub fn synchronize(&self) -> Result<(), CudaError> {
        if self.is_done()? {
            return Ok(());
        }
        count_host_wait();
        self.inner.synchronize().check("cuEventSynchronize")
    }

    /// Whether the work recorded in this event has run, without waiting for it.
    pub fn is_done(&self) -> Result<bool, CudaError> {
        self.inner.try_is_complete().check("cuEventQuery")
    }

    /// The driver's `CUevent` handle, for applications (`cuStreamWaitEvent`,
    /// `torch.cuda.ExternalEvent`...); valid while this event lives.
    pub fn handle(&self) -> u64 {
        self.inner.cu_event() as u64
    }

    /// Makes later work on another library's stream `stream` wait (on the GPU) for the work
    /// this event recorded.
    pub fn make_wait(&self, stream: &ForeignStream) -> Result<(), CudaError> {
        self.device.in_context(|| {
            // SAFETY: the stream is live (ForeignStream's contract); the event is ours.
            unsafe { sys::cuStreamWaitEvent(stream.raw(), self.inner.cu_event(), 0) }
                .check("cuStreamWaitEvent")
        })
    }

    /// Records in this event the work queued on another library's stream `stream` so far.
    pub(crate) fn record_foreign(&self, stream: &ForeignStream) -> Result<(), CudaError> {
        self.device.in_context(|| {
            // SAFETY: the stream is live (ForeignStream's contract); the event is ours.
            unsafe { sys::cuEventRecord(self.inner.cu_event(), stream.raw()) }
                .check("cuEventRecord")
        })
    }
}

/// A CUDA stream of another library in this process (PyTorch's, CuPy's...), or one of the
/// default streams of whichever device it is used with. Work of ours is ordered with it through
/// [`Event`]s: [`Event::make_wait`], and memory reads registered with
/// [`crate::memory::DeviceMemory::end_foreign_read`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ForeignStream(u64);

impl ForeignStream {
    /// The legacy default stream (`CU_STREAM_LEGACY`).
    pub const LEGACY_DEFAULT: ForeignStream = ForeignStream(1);
    /// The calling thread's default stream (`CU_STREAM_PER_THREAD`).
    pub const PER_THREAD_DEFAULT: ForeignStream = ForeignStream(2);

    /// The stream with driver handle `handle` (a `CUstream`; 0 or 1: the legacy default stream,
    /// 2: the per-thread default stream, as DLPack and `__cuda_array_interface__` number them).
    ///
    /// # Safety
    /// A handle other than 0, 1 and 2 must be a live stream of this process, and stay live for
    /// as long as this value or a copy of it is used: also after the call it is given to, where
    /// that call registers a read that a later writer waits for.
    pub unsafe fn from_raw(handle: u64) -> Self {
        ForeignStream(handle)
    }

    /// The driver handle.
    pub fn handle(self) -> u64 {
        self.0
    }

    fn raw(&self) -> sys::CUstream {
        self.0 as sys::CUstream
    }
}

/// A timing event pair, for benchmarks.
pub struct Timer {
    start: CudaEvent,
    end: CudaEvent,
}

impl Timer {
    pub fn new(device: &Device) -> Result<Self, CudaError> {
        let flags = Some(sys::CUevent_flags::CU_EVENT_DEFAULT);
        Ok(Timer {
            start: device.ctx.new_event(flags).check("cuEventCreate")?,
            end: device.ctx.new_event(flags).check("cuEventCreate")?,
        })
    }

    pub fn start(&self, stream: &Stream) -> Result<(), CudaError> {
        self.start.record(&stream.inner).check("cuEventRecord")
    }

    pub fn stop(&self, stream: &Stream) -> Result<(), CudaError> {
        self.end.record(&stream.inner).check("cuEventRecord")
    }

    /// Milliseconds between `start` and `stop`, waiting for `stop` to complete.
    pub fn elapsed_ms(&self) -> Result<f32, CudaError> {
        self.end.synchronize().check("cuEventSynchronize")?;
        self.start.elapsed_ms(&self.end).check("cuEventElapsedTime")
    }
}

/// Bytes in a device's pool of stream-ordered memory ([`Device::pool_memory`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PoolMemory {
    /// Taken from the driver: in use, or kept for reuse.
    pub reserved: u64,
    /// In use.
    pub used: u64,
}

/// The device's own pool for stream-ordered allocations. Freeing with `cuMemFree` waits for all
/// work of every stream on the device (several readers' decoding included); a pool allocation is
/// freed in stream order instead, and its memory kept for the next allocation of any stream.
struct MemoryPool(sys::CUmemoryPool);

// SAFETY: a pool handle may be used from any thread; the driver synchronises its use.
unsafe impl Send for MemoryPool {}
unsafe impl Sync for MemoryPool {}

impl MemoryPool {
    /// A pool on `ctx`'s device that keeps freed memory for reuse (no release threshold) and that
    /// peers able to reach the device may read and write, as they may plain allocations.
    /// `None` where the device or driver has no memory pools.
    fn new(ctx: &CudaContext, devices: i32) -> Result<Option<MemoryPool>, CudaError> {
        let supported = ctx
            .attribute(sys::CUdevice_attribute::CU_DEVICE_ATTRIBUTE_MEMORY_POOLS_SUPPORTED)
            .check("cuDeviceGetAttribute(MEMORY_POOLS_SUPPORTED)")?;
        if supported == 0 {
            return Ok(None);
        }
        let ordinal = ctx.ordinal() as i32;
        let location = |id| sys::CUmemLocation {
            type_: sys::CUmemLocationType::CU_MEM_LOCATION_TYPE_DEVICE,
            id,
        };
        // SAFETY: all-zero pool properties are valid (no handle types, no security attributes).
        let mut props: sys::CUmemPoolProps = unsafe { std::mem::zeroed() };
        props.allocType = sys::CUmemAllocationType::CU_MEM_ALLOCATION_TYPE_PINNED;
        props.location = location(ordinal);
        let mut handle = std::ptr::null_mut();
        // SAFETY: `props` is filled in above; `handle` receives the new pool.
        unsafe { sys::cuMemPoolCreate(&mut handle, &props) }.check("cuMemPoolCreate")?;
        let pool = MemoryPool(handle);
        let mut keep_all = u64::MAX;
        // SAFETY: RELEASE_THRESHOLD takes a u64.
        unsafe {
            sys::cuMemPoolSetAttribute(
                pool.0,
                sys::CUmemPool_attribute::CU_MEMPOOL_ATTR_RELEASE_THRESHOLD,
                (&mut keep_all as *mut u64).cast(),
            )
        }
        .check("cuMemPoolSetAttribute(RELEASE_THRESHOLD)")?;
        for peer in (0..devices).filter(|&d| d != ordinal) {
            let mut reachable = 0;
            // SAFETY: both ordinals are below the device count.
            unsafe { sys::cuDeviceCanAccessPeer(&mut reachable, peer, ordinal) }
                .check("cuDeviceCanAccessPeer")?;
            if reachable != 0 {
                let access = sys::CUmemAccessDesc {
                    location: location(peer),
                    flags: sys::CUmemAccess_flags::CU_MEM_ACCESS_FLAGS_PROT_READWRITE,
                };
                // SAFETY: one access descriptor for a peer device.
                unsafe { sys::cuMemPoolSetAccess(pool.0, &access, 1) }
                    .check("cuMemPoolSetAccess")?;
            }
        }
        Ok(Some(pool))
    }
}

impl Drop for MemoryPool {
    fn drop(&mut self) {
        // Memory still allocated from the pool keeps it alive until freed (the driver's rule).
        // SAFETY: the pool was created by `new` and is destroyed once.
        let _ = unsafe { sys::cuMemPoolDestroy(self.0) };
    }
}

/// Who gives a [`DeviceBuffer`]'s memory back, and how.
enum Owner {
    /// The device's pool: freed in order on this stream, the allocation's.
    Pool(Arc<Stream>),
    /// `cuMemAlloc`: freed with `cuMemFree`, which waits for all work on the device.
    Driver,
    /// Another library: handed back by calling this, once every use has run.
    Foreign(Option<Box<dyn FnOnce() + Send>>),
}

/// One device allocation, freed on drop: in stream order when it came from the device's pool
/// ([`DeviceBuffer::on_stream`]), else with `cuMemFree`, which waits for all work on the device;
/// another library's memory ([`DeviceBuffer::foreign`]) goes back to it instead.
pub(crate) struct DeviceBuffer {
    device: Arc<Device>,
    addr: sys::CUdeviceptr,
    size: usize,
    owner: Owner,
    _live: Tracked,
}

impl DeviceBuffer {
    pub fn new(device: &Arc<Device>, size: usize) -> Result<Self, CudaError> {
        device.bind()?;
        // SAFETY: plain allocation of `size` bytes (at least 256-byte aligned) in the bound context.
        let addr = unsafe { result::malloc_sync(size.max(1)) }.check("cuMemAlloc")?;
        Ok(DeviceBuffer {
            device: device.clone(),
            addr,
            size,
            owner: Owner::Driver,
            _live: Tracked::new(Resource::DeviceBuffer, size),
        })
    }

    /// `size` bytes at `addr` on `device`, owned by another library: `release` hands them back
    /// when this is dropped. The owner of this buffer must have made sure, by then, that no
    /// queued work still uses them (see `DeviceMemory`'s drop).
    pub fn foreign(
        device: &Arc<Device>,
        addr: u64,
        size: usize,
        release: Box<dyn FnOnce() + Send>,
    ) -> Self {
        DeviceBuffer {
            device: device.clone(),
            addr,
            size,
            owner: Owner::Foreign(Some(release)),
            _live: Tracked::new(Resource::DeviceBuffer, size),
        }
    }

    /// Memory of another library, which must not be reused before every use has run.
    pub fn is_foreign(&self) -> bool {
        matches!(self.owner, Owner::Foreign(_))
    }

    /// `size` bytes from the device's pool, usable by work queued on `stream` from now on (other
    /// streams must wait for an event recorded on `stream` after this call), and freed on
    /// `stream` when dropped: whoever drops it first makes `stream` wait for every other stream
    /// still using it. A plain allocation where the device has no pool.
    pub fn on_stream(stream: &Arc<Stream>, size: usize) -> Result<Self, CudaError> {
        let device = stream.device();
        let Some(pool) = &device.pool else {
            return DeviceBuffer::new(device, size);
        };
        device.bind()?;
        let mut addr = 0;
        // SAFETY: the pool and stream belong to `device`, whose context is bound.
        unsafe { sys::cuMemAllocFromPoolAsync(&mut addr, size.max(1), pool.0, stream.raw()) }
            .check("cuMemAllocFromPoolAsync")?;
        Ok(DeviceBuffer {
            device: device.clone(),
            addr,
            size,
            owner: Owner::Pool(stream.clone()),
            _live: Tracked::new(Resource::DeviceBuffer, size),
        })
    }

    pub fn device(&self) -> &Arc<Device> {
        &self.device
    }

    /// The device address of the first byte.
    pub fn addr(&self) -> u64 {
        self.addr
    }

    pub fn size(&self) -> usize {
        self.size
    }
}

impl Drop for DeviceBuffer {
    fn drop(&mut self) {
        if let Owner::Foreign(release) = &mut self.owner {
            if let Some(release) = release.take() {
                release();
            }
            return;
        }
        // A failure here cannot be reported to anyone; the driver keeps the context's error.
        if self.device.bind().is_err() {
            return;
        }
        match &self.owner {
            // SAFETY: `addr` came from the pool on this stream's device and is freed once; the
            // owner ordered the stream after every use (see `on_stream`).
            Owner::Pool(stream) => {
                let _ = unsafe { result::free_async(self.addr, stream.raw()) };
            }
            // SAFETY: `addr` came from cuMemAlloc and is freed once.
            Owner::Driver => {
                let _ = unsafe { result::free_sync(self.addr) };
            }
            Owner::Foreign(_) => unreachable!("handed back above"),
        }
    }
}

impl std::fmt::Debug for DeviceBuffer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "DeviceBuffer({:#x}, {} bytes)", self.addr, self.size)
    }
}

/// Page-locked host memory, so transfers run asynchronously at full bus speed.
pub(crate) struct PinnedBuffer {
    device: Arc<Device>,
    ptr: *mut u8,
    size: usize,
    _live: Tracked,
}

// SAFETY: the buffer is plain bytes owned by this value; access goes through &/&mut self.
unsafe impl Send for PinnedBuffer {}
unsafe impl Sync for PinnedBuffer {}

impl PinnedBuffer {
    pub fn new(device: &Arc<Device>, size: usize) -> Result<Self, CudaError> {
        device.bind()?;
        // SAFETY: plain page-locked allocation of `size` bytes.
        let ptr = unsafe { result::malloc_host(size.max(1), 0) }.check("cuMemHostAlloc")?;
        Ok(PinnedBuffer {
            device: device.clone(),
            ptr: ptr.cast(),
            size,
            _live: Tracked::new(Resource::PinnedBuffer, size),
        })
    }

    /// The address handed to `gst_memory_map()` callers.
    pub fn as_ptr(&self) -> *mut u8 {
        self.ptr
    }

    pub fn as_slice(&self) -> &[u8] {
        // SAFETY: `ptr` is this value's own allocation of `size` bytes.
        unsafe { std::slice::from_raw_parts(self.ptr, self.size) }
    }

    pub fn as_mut_slice(&mut self) -> &mut [u8] {
        // SAFETY: as above, borrowed mutably through `self`.
        unsafe { std::slice::from_raw_parts_mut(self.ptr, self.size) }
    }
}

impl Drop for PinnedBuffer {
    fn drop(&mut self) {
        if self.device.bind().is_ok() {
            // SAFETY: `ptr` came from cuMemHostAlloc and is freed once.
            let _ = unsafe { result::free_host(self.ptr.cast()) };
        }
    }
}

/// Rows of bytes in device memory: the address of the first, and the pitch between them.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Plane {
    pub(crate) addr: u64,
    pub(crate) pitch: usize,
}

/// `rows` rows of `row_bytes` bytes each: what a 2D copy moves.
pub(crate) type Extent = (usize, usize);

/// Refuses a host slice of `len` bytes that cannot hold `extent` with rows `pitch` apart.
fn check_host(len: usize, pitch: usize, (row_bytes, rows): Extent) -> Result<(), CudaError> {
    let needed = pitch
        .checked_mul(rows.saturating_sub(1))
        .and_then(|n| n.checked_add(row_bytes));
    if rows > 0 && (pitch < row_bytes || needed.is_none_or(|n| n > len)) {
        return Err(CudaError::Invalid(format!(
            "{len} host bytes with rows {pitch} bytes apart do not hold {rows} rows of \
             {row_bytes} bytes"
        )));
    }
    Ok(())
}

/// One side of a 2D copy.
#[derive(Clone, Copy)]
enum Side {
    Device(Plane),
    Host(*const u8, usize),
}

impl Stream {
    /// Queues a copy of `extent` from `src` to `dst`. A pageable host side is staged by the
    /// driver before this returns; page-locked memory is read or written when the copy runs.
    ///
    /// # Safety
    /// Both sides must be valid for the whole extent until the copy has run.
    unsafe fn copy_2d(
        &self,
        dst: Side,
        src: Side,
        (row_bytes, rows): Extent,
    ) -> Result<(), CudaError> {
        self.device.bind()?;
        /// (memory type, host pointer, device address, pitch) of one side.
        fn side(side: Side) -> (sys::CUmemorytype, *const std::ffi::c_void, u64, usize) {
            match side {
                Side::Device(plane) => (
                    sys::CUmemorytype::CU_MEMORYTYPE_DEVICE,
                    std::ptr::null(),
                    plane.addr,
                    plane.pitch,
                ),
                Side::Host(ptr, pitch) => {
                    (sys::CUmemorytype::CU_MEMORYTYPE_HOST, ptr.cast(), 0, pitch)
                }
            }
        }
        let (src_type, src_host, src_device, src_pitch) = side(src);
        let (dst_type, dst_host, dst_device, dst_pitch) = side(dst);
        let copy = sys::CUDA_MEMCPY2D {
            srcXInBytes: 0,
            srcY: 0,
            srcMemoryType: src_type,
            srcHost: src_host,
            srcDevice: src_device,
            srcArray: std::ptr::null_mut(),
            srcPitch: src_pitch,
            dstXInBytes: 0,
            dstY: 0,
            dstMemoryType: dst_type,
            dstHost: dst_host.cast_mut(),
            dstDevice: dst_device,
            dstArray: std::ptr::null_mut(),
            dstPitch: dst_pitch,
            WidthInBytes: row_bytes,
            Height: rows,
        };
        // SAFETY: the descriptor is fully initialised; validity of the sides is the caller's.
        unsafe { sys::cuMemcpy2DAsync_v2(&copy, self.raw()) }.check("cuMemcpy2DAsync")
    }

    /// Queues a copy of `extent` from host memory `src` (rows `src_pitch` apart) to `dst`.
    ///
    /// # Safety
    /// `dst` must hold the extent until the copy has run; page-locked `src` must not change
    /// until then either (pageable memory is staged before this returns).
    pub(crate) unsafe fn upload(
        &self,
        dst: Plane,
        src: &[u8],
        src_pitch: usize,
        extent: Extent,
    ) -> Result<(), CudaError> {
        check_host(src.len(), src_pitch, extent)?;
        count_copy();
        // SAFETY: the host side holds the extent (checked); the rest is the caller's.
        unsafe {
            self.copy_2d(
                Side::Device(dst),
                Side::Host(src.as_ptr(), src_pitch),
                extent,
            )
        }
    }

    /// Queues a copy of `extent` from `src` to host memory `dst` (rows `dst_pitch` apart),
    /// written when the copy runs: synchronise before reading it.
    ///
    /// # Safety
    /// `src` must hold the extent, and `dst` stay allocated and unread, until the copy has run.
    pub(crate) unsafe fn download(
        &self,
        dst: &mut [u8],
        dst_pitch: usize,
        src: Plane,
        extent: Extent,
    ) -> Result<(), CudaError> {
        check_host(dst.len(), dst_pitch, extent)?;
        count_copy();
        let dst = Side::Host(dst.as_mut_ptr().cast_const(), dst_pitch);
        // SAFETY: the host side holds the extent (checked); the rest is the caller's.
        unsafe { self.copy_2d(dst, Side::Device(src), extent) }
    }

    /// Queues a copy of `extent` between device memory.
    ///
    /// # Safety
    /// Both sides must hold the extent until the copy has run.
    pub(crate) unsafe fn copy_rows(
        &self,
        dst: Plane,
        src: Plane,
        extent: Extent,
    ) -> CudaResult<()> {
        // SAFETY: per this function's contract.
        unsafe { self.copy_2d(Side::Device(dst), Side::Device(src), extent) }
    }

    /// Queues a copy of `len` bytes between two allocations of any contexts (peer copy when
    /// they differ).
    ///
    /// # Safety
    /// Both ranges must be valid device memory until the copy has run.
    pub(crate) unsafe fn copy_bytes(&self, dst: u64, src: u64, len: usize) -> CudaResult<()> {
        self.device.bind()?;
        // SAFETY: with unified addressing the driver infers each side's context from the address.
        unsafe { result::memcpy_dtod_async(dst, src, len, self.raw()) }.check("cuMemcpyDtoDAsync")
    }

    /// Queues a copy between device allocations of different contexts (e.g. upstream
    /// GStreamer's CUDA memory in a context of its own, and ours), either way.
    ///
    /// # Safety
    /// Both ranges must be valid until the copy has run.
    pub(crate) unsafe fn copy_peer(&self, dst: u64, src: u64, len: usize) -> CudaResult<()> {
        self.device.bind()?;
        let (src_ctx, ctx) = (context_of(src)?, context_of(dst)?);
        count_copy();
        // SAFETY: contexts and ranges are valid per the caller.
        unsafe { sys::cuMemcpyPeerAsync(dst, ctx, src, src_ctx, len, self.raw()) }
            .check("cuMemcpyPeerAsync")
    }

    /// Queues filling `len` bytes at `addr` with `value`.
    ///
    /// # Safety
    /// The range must be valid device memory until the fill has run.
    pub(crate) unsafe fn fill(&self, addr: u64, value: u8, len: usize) -> CudaResult<()> {
        self.device.bind()?;
        // SAFETY: validity of the range is the caller's.
        unsafe { sys::cuMemsetD8Async(addr, value, len, self.raw()) }.check("cuMemsetD8Async")
    }
}

/// Attribute `attribute` of the allocation `addr` points into.
///
/// # Safety
/// `T` must be the type the driver writes for `attribute`.
unsafe fn pointer_attribute<T: Default>(
    addr: u64,
    attribute: sys::CUpointer_attribute,
    call: &'static str,
) -> Result<T, CudaError> {
    let mut value = T::default();
    // SAFETY: `value` is a T, which the caller guarantees is what the driver writes.
    unsafe { sys::cuPointerGetAttribute((&mut value as *mut T).cast(), attribute, addr) }
        .check(call)?;
    Ok(value)
}

/// The context the allocation `addr` points into was made in.
fn context_of(addr: u64) -> Result<sys::CUcontext, CudaError> {
    // SAFETY: CONTEXT is a CUcontext.
    unsafe {
        pointer_attribute(
            addr,
            sys::CUpointer_attribute::CU_POINTER_ATTRIBUTE_CONTEXT,
            "cuPointerGetAttribute(CONTEXT)",
        )
    }
}

/// What the driver knows of the memory at `addr`, for error messages: the allocation it lies
/// in, or the driver's reason for not knowing it (memory freed, unmapped, or never allocated).
pub(crate) fn describe_address(addr: u64) -> String {
    // SAFETY: RANGE_START_ADDR is a CUdeviceptr, RANGE_SIZE a size_t.
    let range = unsafe {
        pointer_attribute::<u64>(
            addr,
            sys::CUpointer_attribute::CU_POINTER_ATTRIBUTE_RANGE_START_ADDR,
            "cuPointerGetAttribute(RANGE_START_ADDR)",
        )
        .and_then(|start| {
            pointer_attribute::<usize>(
                addr,
                sys::CUpointer_attribute::CU_POINTER_ATTRIBUTE_RANGE_SIZE,
                "cuPointerGetAttribute(RANGE_SIZE)",
            )
            .map(|size| (start, size))
        })
    };
    match range {
        Ok((start, size)) => format!(
            "{addr:#x}, {} bytes into a {size}-byte allocation",
            addr - start
        ),
        Err(e) => format!("{addr:#x}, not memory the driver knows ({e})"),
    }
}

/// Launch geometry covering `width` x `height` work items with 2D blocks of `block` threads.
pub(crate) fn grid_2d(width: u32, height: u32, block: (u32, u32)) -> LaunchConfig {
    LaunchConfig {
        grid_dim: (
            width.div_ceil(block.0).max(1),
            height.div_ceil(block.1).max(1),
            1,
        ),
        block_dim: (block.0, block.1, 1),
        shared_mem_bytes: 0,
    }
}
