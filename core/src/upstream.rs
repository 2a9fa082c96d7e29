//! Our elements beside GStreamer's own CUDA elements (gst-plugins-bad's `nvcodec`: `nvh264dec`,
//! `cudaupload`, `cudaconvertscale`, `nvh264enc`...) in one pipeline, without copies between them.
//!
//! Upstream's elements look for a CUDA context with the `gst.cuda.context` context query before
//! making one of their own. Ours answer it with a context that wraps the primary context of the
//! device, the one our memory lives in, so that upstream's memory is in our context too: read in
//! place by our kernels ([`crate::access`]), and written in place when an upstream element
//! downstream of ours offers its buffer pool. Their CUDA library (`libgstcuda-1.0`, public since
//! GStreamer 1.22) is loaded at run time, never linked: without it, or without a driver, no
//! context is given, and upstream's memory from a context of its own is copied as before.

use std::collections::HashMap;
use std::sync::{Arc, LazyLock, Mutex};

use cudarc::driver::{sys, CudaContext};
use glib::translate::*;

use crate::cuda::{driver_available, Check};

/// The context type upstream's CUDA elements ask for (`GST_CUDA_CONTEXT_TYPE`).
pub const CONTEXT_TYPE: &str = "gst.cuda.context";

/// The type name of upstream's CUDA buffer pool, which an upstream element downstream of ours
/// offers in its allocation query.
pub const POOL_TYPE: &str = "GstCudaBufferPool";

const LIBRARY: &str = "libgstcuda-1.0.so.0";

static CAT: LazyLock<gst::DebugCategory> = LazyLock::new(|| {
    gst::DebugCategory::new(
        "cudapreprocupstream",
        gst::DebugColorFlags::empty(),
        Some("CUDA context shared with GStreamer's own CUDA elements"),
    )
});

type ContextNewWrapped =
    unsafe extern "C" fn(sys::CUcontext, sys::CUdevice) -> *mut gst::ffi::GstObject;
type ContextNew = unsafe extern "C" fn(u32) -> *mut gst::ffi::GstObject;
type ContextNewCudaContext =
    unsafe extern "C" fn(*mut gst::ffi::GstObject) -> *mut gst::ffi::GstContext;

/// The three calls of upstream's CUDA library this module makes.
struct GstCuda {
    _lib: libloading::Library,
    /// `gst_cuda_context_new_wrapped`: a GstCudaContext around a context it does not own.
    context_new_wrapped: ContextNewWrapped,
    /// `gst_cuda_context_new`: a GstCudaContext with a new context of its own.
    context_new: ContextNew,
    /// `gst_context_new_cuda_context`: the GstContext carrying a GstCudaContext.
    new_cuda_context: ContextNewCudaContext,
}

impl GstCuda {
    fn load() -> Result<GstCuda, String> {
        // SAFETY: loading GStreamer's CUDA library runs only GLib type registration; the symbols
        // are looked up with the signatures of its 1.22 headers (gstcudacontext.h,
        // gstcudautils.h).
        unsafe {
            let lib = libloading::Library::new(LIBRARY).map_err(|e| format!("{LIBRARY}: {e}"))?;
            let symbol = |name: &[u8]| -> Result<*const (), String> {
                lib.get::<*const ()>(name)
                    .map(|s| *s)
                    .map_err(|e| format!("{LIBRARY}: {}: {e}", String::from_utf8_lossy(name)))
            };
            let context_new_wrapped = std::mem::transmute::<*const (), ContextNewWrapped>(symbol(
                b"gst_cuda_context_new_wrapped\0",
            )?);
            let context_new =
                std::mem::transmute::<*const (), ContextNew>(symbol(b"gst_cuda_context_new\0")?);
            let new_cuda_context = std::mem::transmute::<*const (), ContextNewCudaContext>(symbol(
                b"gst_context_new_cuda_context\0",
            )?);
            Ok(GstCuda {
                _lib: lib,
                context_new_wrapped,
                context_new,
                new_cuda_context,
            })
        }
    }

    /// The GstContext carrying the GstCudaContext `object` (transfer full), or an error naming
    /// `call` when the library gave none.
    fn context_of(
        &self,
        object: *mut gst::ffi::GstObject,
        call: &str,
    ) -> Result<gst::Context, String> {
        if object.is_null() {
            return Err(format!(
                "{call} failed (see the cudacontext debug category)"
            ));
        }
        // SAFETY: `object` is a GstCudaContext we own a reference to; the GstContext takes its
        // own, so ours is dropped after.
        unsafe {
            let context = (self.new_cuda_context)(object);
            gst::ffi::gst_object_unref(object.cast());
            if context.is_null() {
                return Err("gst_context_new_cuda_context failed".into());
            }
            Ok(from_glib_full(context))
        }
    }
}

static GST_CUDA: LazyLock<Result<GstCuda, String>> = LazyLock::new(GstCuda::load);

/// A device's shared context: the GstContext, and our own retain of the primary context it
/// wraps, which keeps that context alive for as long as the GstContext may be used (the process).
struct Shared {
    context: gst::Context,
    _primary: Arc<CudaContext>,
}

static SHARED: LazyLock<Mutex<HashMap<i32, Shared>>> = LazyLock::new(|| Mutex::new(HashMap::new()));

/// The `gst.cuda.context` wrapping the primary context of device `ordinal`, made once per
/// process and device.
pub fn shared_context(ordinal: i32) -> Result<gst::Context, String> {
    let mut shared = SHARED.lock().unwrap();
    if let Some(entry) = shared.get(&ordinal) {
        return Ok(entry.context.clone());
    }
    let gst_cuda = GST_CUDA.as_ref().map_err(Clone::clone)?;
    driver_available().map_err(|e| e.to_string())?;
    let index = usize::try_from(ordinal).map_err(|_| format!("no CUDA device {ordinal}"))?;
    let primary = CudaContext::new(index)
        .check("cuDevicePrimaryCtxRetain")
        .map_err(|e| e.to_string())?;
    // SAFETY: the wrapped context is retained by `primary`, kept with the GstContext for good.
    let object = unsafe { (gst_cuda.context_new_wrapped)(primary.cu_ctx(), primary.cu_device()) };
    let context = gst_cuda.context_of(object, "gst_cuda_context_new_wrapped")?;
    gst::info!(CAT, "sharing the primary context of CUDA device {ordinal}");
    shared.insert(
        ordinal,
        Shared {
            context: context.clone(),
            _primary: primary,
        },
    );
    Ok(context)
}

/// A `gst.cuda.context` with a new CUDA context of its own on device `ordinal`, as upstream's
/// elements make when nobody gives them one: for tests and benchmarks of the copy path.
pub fn separate_context(ordinal: i32) -> Result<gst::Context, String> {
    let gst_cuda = GST_CUDA.as_ref().map_err(Clone::clone)?;
    let device = u32::try_from(ordinal).map_err(|_| format!("no CUDA device {ordinal}"))?;
    // SAFETY: plain constructor; the result is checked for NULL.
    let object = unsafe { (gst_cuda.context_new)(device) };
    gst_cuda.context_of(object, "gst_cuda_context_new")
}

/// Answers `query` when it is upstream's `gst.cuda.context` query, with the shared context of
/// device `ordinal`; `false` for any other query, or when there is no context to give (no
/// upstream CUDA library, no driver: the asking element then makes its own).
pub fn answer_context_query(query: &mut gst::QueryRef, ordinal: i32) -> bool {
    let gst::QueryViewMut::Context(query) = query.view_mut() else {
        return false;
    };
    if query.context_type() != CONTEXT_TYPE {
        return false;
    }
    match shared_context(ordinal) {
        Ok(context) => {
            query.set_context(&context);
            true
        }
        Err(e) => {
            gst::debug!(CAT, "no CUDA context to share: {e}");
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_cuda_context_query_is_answered() {
        gst::init().unwrap();
        let mut query = gst::query::Context::new("gst.gl.GLDisplay");
        assert!(!answer_context_query(&mut query, 0));
        assert!(query.context().is_none());
    }
}
