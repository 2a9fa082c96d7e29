//! A bounded buffer pool of device memory: for video, each buffer is one [`CudaAllocator`]
//! memory holding every plane, rows pitched to 256 bytes, described by a GstVideoMeta; for other
//! caps (tensors), one memory of the configured size. Buffers are reused, so a running pipeline
//! allocates nothing per frame.

use std::sync::{Arc, Mutex, OnceLock};

use glib::subclass::prelude::*;
use gst::subclass::prelude::*;

use gst::prelude::*;

use super::{device_memory, CudaAllocator};
use crate::cuda::{Device, Stream};

/// Row pitch alignment of device frames, in bytes: coalesced access and vector loads and stores.
pub const PITCH_ALIGN: u32 = 256;

/// Buffers an element's output pool may hold beyond what downstream asked for: enough to keep
/// the GPU ahead of a queue, few enough that memory stays bounded.
const POOL_HEADROOM: u32 = 6;

/// Byte every fresh pool buffer is filled with, so output a kernel failed to write is visible
/// instead of looking like plausible old data.
pub const POISON: u8 = 0xa5;

static CAT: std::sync::LazyLock<gst::DebugCategory> = std::sync::LazyLock::new(|| {
    gst::DebugCategory::new(
        "cudapreprocpool",
        gst::DebugColorFlags::empty(),
        Some("CUDA buffer pool"),
    )
});

/// The layout of a frame of `info` in device memory: planes one after another in one allocation,
/// each row pitched to [`PITCH_ALIGN`] bytes.
pub fn device_layout(info: &gst_video::VideoInfo) -> Result<gst_video::VideoInfo, glib::BoolError> {
    let mut layout = info.clone();
    let mut align =
        gst_video::VideoAlignment::new(0, 0, 0, 0, &[PITCH_ALIGN - 1; gst_video::VIDEO_MAX_PLANES]);
    layout.align(&mut align)?;
    Ok(layout)
}

mod imp {
    use super::*;

    #[derive(Default)]
    pub struct CudaBufferPool {
        pub(super) target: OnceLock<(Arc<Device>, Arc<Stream>, CudaAllocator)>,
        pub(super) layout: Mutex<Option<Layout>>,
    }

    /// What each buffer of the pool holds.
    #[derive(Clone, Debug)]
    pub(super) enum Layout {
        Video(gst_video::VideoInfo),
        /// Plain bytes (tensors), no video meta.
        Flat(usize),
    }

    impl Layout {
        pub(super) fn size(&self) -> usize {
            match self {
                Layout::Video(info) => info.size(),
                Layout::Flat(size) => *size,
            }
        }
    }

    #[glib::object_subclass]
    impl ObjectSubclass for CudaBufferPool {
        const NAME: &'static str = "GstCudaPreprocBufferPool";
        type Type = super::CudaBufferPool;
        type ParentType = gst::BufferPool;
    }

    impl ObjectImpl for CudaBufferPool {}
    impl GstObjectImpl for CudaBufferPool {}

    impl BufferPoolImpl for CudaBufferPool {
        fn options() -> &'static [&'static str] {
            &["GstBufferPoolOptionVideoMeta"]
        }

        fn set_config(&self, config: &mut gst::BufferPoolConfigRef) -> bool {
            let Some((Some(caps), size, min, max)) = config.params() else {
                gst::error!(CAT, imp = self, "pool config without caps");
                return false;
            };
            let layout = if caps.structure(0).is_some_and(|s| s.name() == "video/x-raw") {
                let info = match gst_video::VideoInfo::from_caps(&caps) {
                    Ok(info) => info,
                    Err(e) => {
                        gst::error!(CAT, imp = self, "invalid video caps {caps}: {e}");
                        return false;
                    }
                };
                match device_layout(&info) {
                    Ok(layout) => Layout::Video(layout),
                    Err(e) => {
                        gst::error!(CAT, imp = self, "no device layout for {caps}: {e}");
                        return false;
                    }
                }
            } else if size > 0 {
                Layout::Flat(size as usize)
            } else {
                gst::error!(CAT, imp = self, "pool for {caps} configured without a size");
                return false;
            };
            config.set_params(Some(&caps), layout.size() as u32, min, max);
            *self.layout.lock().unwrap() = Some(layout);
            self.parent_set_config(config)
        }

        fn alloc_buffer(
            &self,
            _params: Option<&gst::BufferPoolAcquireParams>,
        ) -> Result<gst::Buffer, gst::FlowError> {
            let layout = self.layout.lock().unwrap().clone().ok_or_else(|| {
                gst::error!(CAT, imp = self, "pool not configured");
                gst::FlowError::NotNegotiated
            })?;
            let (_, stream, allocator) = self.target.get().ok_or(gst::FlowError::Error)?;
            let memory = allocator.alloc_device(layout.size()).map_err(|e| {
                gst::error!(CAT, imp = self, "{e}");
                gst::FlowError::Error
            })?;
            let poisoned = (|| {
                let state = device_memory(&memory).expect("our allocator makes our memory");
                let addr = state.begin_write(stream)?;
                // SAFETY: `addr` is the start of this memory's `size()` bytes.
                unsafe { stream.fill(addr, POISON, state.size())? };
                state.end_write(stream)
            })();
            if let Err(e) = poisoned {
                gst::error!(CAT, imp = self, "{e}");
                return Err(gst::FlowError::Error);
            }

            let mut buffer = gst::Buffer::new();
            buffer.get_mut().unwrap().append_memory(memory);
            if let Layout::Video(layout) = layout {
                gst_video::VideoMeta::add_full(
                    buffer.get_mut().unwrap(),
                    gst_video::VideoFrameFlags::empty(),
                    layout.format(),
                    layout.width(),
                    layout.height(),
                    layout.offset(),
                    layout.stride(),
                )
                .map_err(|e| {
                    gst::error!(CAT, imp = self, "{e}");
                    gst::FlowError::Error
                })?;
            }
            Ok(buffer)
        }
    }
}

glib::wrapper! {
    pub struct CudaBufferPool(ObjectSubclass<imp::CudaBufferPool>)
        @extends gst::BufferPool, gst::Object;
}

// SAFETY: the pool's own state is immutable after `new()` or behind a mutex.
unsafe impl Send for CudaBufferPool {}
unsafe impl Sync for CudaBufferPool {}

impl CudaBufferPool {
    /// A pool of frames on `device`; host transfers of its memories run on `stream`.
    pub fn new(device: &Arc<Device>, stream: &Arc<Stream>) -> Self {
        let pool: Self = glib::Object::new();
        let allocator = CudaAllocator::new(device, stream);
        pool.imp()
            .target
            .set((device.clone(), stream.clone(), allocator))
            .unwrap_or_else(|_| unreachable!("a new pool has no target yet"));
        pool
    }

    pub fn device(&self) -> &Arc<Device> {
        &self.imp().target.get().expect("pool made by new()").0
    }

    /// The layout of the pool's video frames, once configured for video.
    pub fn layout(&self) -> Option<gst_video::VideoInfo> {
        match self.imp().layout.lock().unwrap().clone()? {
            imp::Layout::Video(info) => Some(info),
            imp::Layout::Flat(_) => None,
        }
    }

    /// Bytes per buffer, once configured.
    pub fn buffer_size(&self) -> Option<usize> {
        self.imp().layout.lock().unwrap().as_ref().map(|l| l.size())
    }
}

/// Replaces the pools of an allocation query for CUDA output with a bounded pool of our device
/// memory on `device`, whose host transfers run on `stream`, or, for video, with the pool an
/// upstream GStreamer CUDA element downstream offers (see [`upstream_pool`]). Video caps size the
/// buffers from the frame layout; other caps (tensors) need `flat_size`, the bytes of one buffer.
pub fn decide_cuda_pool(
    query: &mut gst::query::Allocation,
    device: &Arc<Device>,
    stream: &Arc<Stream>,
    flat_size: Option<usize>,
) -> Result<(), gst::LoggableError> {
    let (caps, _) = query.get_owned();
    let caps =
        caps.ok_or_else(|| gst::loggable_error!(gst::CAT_RUST, "allocation without caps"))?;
    if flat_size.is_none() {
        if let Some((pool, size, min, max)) = upstream_pool(query, &caps) {
            gst::debug!(CAT, "writing into downstream's {pool:?}");
            use_only_pool(query, &pool, size, min, max);
            return Ok(());
        }
    }
    let min = query
        .allocation_pools()
        .map(|(_, _, min, _)| min)
        .max()
        .unwrap_or(0)
        .max(2);
    let pool = CudaBufferPool::new(device, stream);
    let mut config = pool.config();
    config.set_params(
        Some(&caps),
        flat_size.unwrap_or(0) as u32,
        min,
        min + POOL_HEADROOM,
    );
    if flat_size.is_none() {
        config.add_option(gst_video::BUFFER_POOL_OPTION_VIDEO_META);
    }
    pool.set_config(config)
        .map_err(|e| gst::loggable_error!(gst::CAT_RUST, "CUDA pool config: {e}"))?;
    let size = pool.buffer_size().unwrap_or_default() as u32;
    use_only_pool(query, pool.upcast_ref(), size, min, min + POOL_HEADROOM);
    Ok(())
}

/// Leaves `pool` the query's only pool.
fn use_only_pool(
    query: &mut gst::query::Allocation,
    pool: &gst::BufferPool,
    size: u32,
    min: u32,
    max: u32,
) {
    while query.allocation_pools().count() > 1 {
        query.remove_nth_allocation_pool(1);
    }
    if query.allocation_pools().next().is_none() {
        query.add_allocation_pool(Some(pool), size, min, max);
    } else {
        query.set_nth_allocation_pool(0, Some(pool), size, min, max);
    }
}

/// The pool an upstream GStreamer CUDA element downstream offers in `query`, configured for
/// `caps`: we write into its buffers, in place when its memory is in our context (the element
/// took our context, see [`crate::upstream`]) and through a copy when not, since upstream's
/// elements other than its download cannot read our memory.
fn upstream_pool(
    query: &gst::query::Allocation,
    caps: &gst::Caps,
) -> Option<(gst::BufferPool, u32, u32, u32)> {
    let (pool, size, min, max) = query.allocation_pools().next()?;
    let pool = pool.filter(|pool| pool.type_().name() == crate::upstream::POOL_TYPE)?;
    let mut config = pool.config();
    config.set_params(Some(caps), size, min, max);
    config.add_option(gst_video::BUFFER_POOL_OPTION_VIDEO_META);
    pool.set_config(config).ok()?;
    Some((pool, size, min, max))
}
