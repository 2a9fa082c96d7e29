//! C ABI of the `cudapreproc` library, for the Python module in `python/cudapreproc`, which loads
//! this library with ctypes (no compiler, no Python headers, no PyGObject needed).
//!
//! Ownership: `cudapreproc_pipeline_launch` and `cudapreproc_pipeline_pull` hand out boxed
//! objects that the caller frees with the matching `*_free`. A DLPack export owns its own
//! reference to the tensor's sample, so it outlives the `CudaTensor` it came from; its deleter
//! (called by the consumer, or by the capsule destructor when nobody consumed it) gives the
//! memory back to the pipeline's pool. Errors are returned as strings the caller frees with
//! `cudapreproc_string_free`.

use std::ffi::{c_char, c_int, c_void, CStr, CString};
use std::sync::OnceLock;
use std::time::Duration;

use cudapreproc::dlpack::{self, DLManagedTensor};
use cudapreproc::{CudaTensor, DType, Device, Error, ForeignStream, Pulled, TensorPipeline};

mod batch;
mod dataset;
mod layout;
mod reader;
mod writer;

use layout::c_struct;

/// Most dimensions a [`TensorDescription`] carries (tensorsink delivers 4).
pub const MAX_DIMS: usize = 8;

/// The capsule name DLPack consumers look for; a consumer that takes the tensor renames the
/// capsule ("used_dltensor") and calls the deleter itself.
const DLTENSOR: &CStr = c"dltensor";

c_struct! {
    /// What Python reads about a tensor in one call.
    pub struct TensorDescription {
        pub data_ptr: u64,
        /// DLPack's device type: 1 for system memory, 2 for CUDA.
        pub device_type: i32,
        pub device_id: i32,
        /// "uint8", "float16", "bfloat16" or "float32"; a static string.
        pub dtype: *const c_char,
        pub ndim: i32,
        pub shape: [i64; MAX_DIMS],
        /// In elements.
        pub strides: [i64; MAX_DIMS],
        /// Nanoseconds; -1 when the tensor has none.
        pub pts: i64,
        /// The `CUevent` after which the data is ready, 0 for system memory.
        pub ready_event: u64,
        pub n_frames: u64,
        /// `n_frames` frame numbers, valid while the tensor lives.
        pub frame_numbers: *const u64,
    }
}

fn dtype_name(dtype: DType) -> &'static CStr {
    match dtype {
        DType::Uint8 => c"uint8",
        DType::Float16 => c"float16",
        DType::Bfloat16 => c"bfloat16",
        DType::Float32 => c"float32",
    }
}

/// `text` as a NUL-terminated string the caller frees with `cudapreproc_string_free` (a NUL
/// inside it, which C could not see past, becomes a space).
fn string_for_caller(text: String) -> *mut c_char {
    CString::new(text.replace('\0', " "))
        .unwrap_or_default()
        .into_raw()
}

/// Stores `message` in `*error` (when the caller gave a place for it).
///
/// # Safety
/// `error` is null or points to writable storage for a pointer.
unsafe fn report(error: *mut *mut c_char, message: String) {
    if error.is_null() {
        return;
    }
    // SAFETY: per this function's contract.
    unsafe { *error = string_for_caller(message) };
}

/// Error codes the C functions return, by kind, so the caller raises the right exception.
pub const ERROR_GENERAL: c_int = -1;
/// A frame or time outside the video (Python's `IndexError`).
pub const ERROR_OUT_OF_RANGE: c_int = -2;
/// An argument no video could satisfy (Python's `ValueError`).
pub const ERROR_INVALID_ARGUMENT: c_int = -3;
/// A video that cannot be opened or read.
pub const ERROR_SOURCE: c_int = -4;

/// Reports `e` in `*error` and returns its code.
///
/// # Safety
/// As [`report`].
unsafe fn fail(e: Error, error: *mut *mut c_char) -> c_int {
    let code = match e {
        Error::OutOfRange(_) => ERROR_OUT_OF_RANGE,
        Error::InvalidArgument(_) => ERROR_INVALID_ARGUMENT,
        Error::Source(_) => ERROR_SOURCE,
        _ => ERROR_GENERAL,
    };
    // SAFETY: per this function's contract.
    unsafe { report(error, e.to_string()) };
    code
}

/// 0 for success, or the error's code (see [`fail`]) with `*error` set.
///
/// # Safety
/// As [`report`].
unsafe fn result_code(result: Result<(), Error>, error: *mut *mut c_char) -> c_int {
    match result {
        Ok(()) => 0,
        // SAFETY: per this function's contract.
        Err(e) => unsafe { fail(e, error) },
    }
}

/// `result`'s value moved to the heap for the caller (who frees it with the matching `_free`
/// function), or null with `*error` set and, where `code` is not null, `*code` its kind.
///
/// # Safety
/// `code` is null or writable; `error` as in [`report`].
unsafe fn into_raw_or_null<T>(
    result: Result<T, Error>,
    code: *mut c_int,
    error: *mut *mut c_char,
) -> *mut T {
    match result {
        Ok(value) => Box::into_raw(Box::new(value)),
        Err(e) => {
            // SAFETY: per this function's contract.
            let kind = unsafe { fail(e, error) };
            if !code.is_null() {
                // SAFETY: per this function's contract.
                unsafe { code.write(kind) };
            }
            std::ptr::null_mut()
        }
    }
}

/// Frees what [`into_raw_or_null`] (or `Box::into_raw`) handed out; null is ignored.
///
/// # Safety
/// `value` came from `Box::into_raw` and is freed once.
unsafe fn free_boxed<T>(value: *mut T) {
    if !value.is_null() {
        // SAFETY: per this function's contract.
        drop(unsafe { Box::from_raw(value) });
    }
}

/// The `n` values at `values` (which may be null when `n` is 0).
///
/// # Safety
/// `values` points to `n` initialised values that outlive the slice.
unsafe fn slice_of<'a, T>(values: *const T, n: u64) -> &'a [T] {
    if n == 0 {
        &[]
    } else {
        // SAFETY: per this function's contract.
        unsafe { std::slice::from_raw_parts(values, n as usize) }
    }
}

/// Writes `values` one after another from `out`, unless `out` is null (the caller did not ask
/// for them).
///
/// # Safety
/// `out` is null or has room for every value `values` yields.
unsafe fn write_all<T>(out: *mut T, values: impl IntoIterator<Item = T>) {
    if out.is_null() {
        return;
    }
    for (i, value) in values.into_iter().enumerate() {
        // SAFETY: per this function's contract, `out` has room for the `i`-th value.
        unsafe { out.add(i).write(value) };
    }
}

/// Turns a result into 0 or -1 and an error message.
///
/// # Safety
/// As [`report`].
unsafe fn status(result: Result<(), Error>, error: *mut *mut c_char) -> c_int {
    match result {
        Ok(()) => 0,
        Err(e) => {
            // SAFETY: per this function's contract.
            unsafe { report(error, e.to_string()) };
            -1
        }
    }
}

/// Initialises GStreamer and registers the elements now (they are otherwise registered at the
/// first pipeline or reader): 0, or -1 with `*error` set. GStreamer reads its environment here,
/// so a caller that sets it for this library alone (the wheel's bundled GStreamer) may restore it
/// afterwards.
///
/// # Safety
/// `error` is null or writable.
#[no_mangle]
pub unsafe extern "C" fn cudapreproc_init(error: *mut *mut c_char) -> c_int {
    // SAFETY: per this function's contract.
    unsafe { status(cudapreproc::register_elements(), error) }
}

/// Parses and starts a pipeline ending in a `tensorsink`. Null on failure, with `*error` set.
///
/// # Safety
/// `description` is a NUL-terminated string; `error` is null or writable.
#[no_mangle]
pub unsafe extern "C" fn cudapreproc_pipeline_launch(
    description: *const c_char,
    error: *mut *mut c_char,
) -> *mut TensorPipeline {
    // SAFETY: per this function's contract.
    let description = unsafe { CStr::from_ptr(description) }.to_string_lossy();
    // SAFETY: per this function's contract.
    unsafe {
        into_raw_or_null(
            TensorPipeline::launch(&description),
            std::ptr::null_mut(),
            error,
        )
    }
}

/// [`cudapreproc_pipeline_pull`]: a tensor came (or the stream ended, `*tensor` null).
pub const PULLED: c_int = 0;
/// [`cudapreproc_pipeline_pull`]: nothing yet; call again.
pub const WAITING: c_int = 1;
/// [`cudapreproc_pipeline_pull`]: the pipeline failed (`*error` set).
pub const FAILED: c_int = -1;

/// Waits at most `timeout_ms` for the next tensor: [`PULLED`] with `*tensor` set, or null at
/// the end of the stream; [`WAITING`] when nothing came in time; [`FAILED`] with `*error` set on
/// a pipeline error. Short waits let the caller handle signals (Python's Ctrl-C) between them.
///
/// # Safety
/// `pipeline` came from [`cudapreproc_pipeline_launch`] and is not freed; `tensor` is
/// writable; `error` is null or writable.
#[no_mangle]
pub unsafe extern "C" fn cudapreproc_pipeline_pull(
    pipeline: *const TensorPipeline,
    timeout_ms: u32,
    tensor: *mut *mut CudaTensor,
    error: *mut *mut c_char,
) -> c_int {
    // SAFETY: per this function's contract.
    let pipeline = unsafe { &*pipeline };
    let pulled = pipeline.pull(Duration::from_millis(timeout_ms.into()));
    // SAFETY: per this function's contract.
    unsafe { tensor.write(std::ptr::null_mut()) };
    match pulled {
        Ok(Pulled::Tensor(pulled)) => {
            // SAFETY: per this function's contract.
            unsafe { tensor.write(Box::into_raw(Box::new(pulled))) };
            PULLED
        }
        Ok(Pulled::End) => PULLED,
        Ok(Pulled::Waiting) => WAITING,
        Err(e) => {
            // SAFETY: per this function's contract.
            unsafe { report(error, e.to_string()) };
            FAILED
        }
    }
}

/// Stops the pipeline (to NULL) and frees it. Tensors and DLPack exports taken from it stay
/// valid.
///
/// # Safety
/// `pipeline` came from [`cudapreproc_pipeline_launch`] and is freed once.
#[no_mangle]
pub unsafe extern "C" fn cudapreproc_pipeline_free(pipeline: *mut TensorPipeline) {
    // SAFETY: per this function's contract.
    unsafe { free_boxed(pipeline) }
}

/// Fills `out` with the tensor's description. -1 (with `*error` set) if it has more than
/// [`MAX_DIMS`] dimensions.
///
/// # Safety
/// `tensor` came from [`cudapreproc_pipeline_pull`] and is not freed; `out` is writable;
/// `error` is null or writable.
#[no_mangle]
pub unsafe extern "C" fn cudapreproc_tensor_describe(
    tensor: *const CudaTensor,
    out: *mut TensorDescription,
    error: *mut *mut c_char,
) -> c_int {
    // SAFETY: per this function's contract.
    let tensor = unsafe { &*tensor };
    let ndim = tensor.shape().len();
    if ndim > MAX_DIMS {
        // SAFETY: per this function's contract.
        unsafe {
            report(
                error,
                format!("{ndim} dimensions, at most {MAX_DIMS} supported"),
            )
        };
        return -1;
    }
    let (device_type, device_id) = match tensor.device() {
        Device::Cuda(id) => (dlpack::DL_CUDA, id),
        Device::Cpu => (dlpack::DL_CPU, 0),
    };
    let mut shape = [0i64; MAX_DIMS];
    let mut strides = [0i64; MAX_DIMS];
    shape[..ndim].copy_from_slice(tensor.shape());
    strides[..ndim].copy_from_slice(tensor.strides());
    let description = TensorDescription {
        data_ptr: tensor.data_ptr(),
        device_type,
        device_id,
        dtype: dtype_name(tensor.dtype()).as_ptr(),
        ndim: ndim as i32,
        shape,
        strides,
        pts: tensor.pts().map_or(-1, |t| t.nseconds() as i64),
        ready_event: tensor.ready_event(),
        n_frames: tensor.frame_numbers().len() as u64,
        frame_numbers: tensor.frame_numbers().as_ptr(),
    };
    // SAFETY: per this function's contract.
    unsafe { out.write(description) };
    0
}

/// Makes `stream` wait (on the GPU) until the tensor is ready; see `CudaTensor::wait_on_stream`.
///
/// # Safety
/// `tensor` is live; `stream` is 0/1/2 or a `CUstream` that stays alive while the tensor is
/// held; `error` is null or writable.
#[no_mangle]
pub unsafe extern "C" fn cudapreproc_tensor_wait_on_stream(
    tensor: *const CudaTensor,
    stream: u64,
    error: *mut *mut c_char,
) -> c_int {
    // SAFETY: per this function's contract (the stream stays alive while the tensor is held,
    // as `ForeignStream::from_raw` requires).
    unsafe {
        status(
            (*tensor).wait_on_stream(ForeignStream::from_raw(stream)),
            error,
        )
    }
}

/// Blocks until the tensor is ready.
///
/// # Safety
/// `tensor` is live; `error` is null or writable.
#[no_mangle]
pub unsafe extern "C" fn cudapreproc_tensor_synchronize(
    tensor: *const CudaTensor,
    error: *mut *mut c_char,
) -> c_int {
    // SAFETY: per this function's contract.
    unsafe { status((*tensor).synchronize(), error) }
}

/// A DLPack tensor owning its own reference to the data (see the module's notes), made ready
/// for the consumer's CUDA stream `stream` (0/1/2 for the default streams), which is also made
/// a reader of the memory until the deleter runs; -1 for no stream ordering (system memory, or
/// a consumer that synchronises itself). Null with `*error` set if the stream wait fails.
///
/// # Safety
/// `tensor` is live; `stream` is -1, 0, 1, 2 or a `CUstream` that stays alive while the export
/// lives; `error` is null or writable.
#[no_mangle]
pub unsafe extern "C" fn cudapreproc_tensor_to_dlpack(
    tensor: *const CudaTensor,
    stream: i64,
    error: *mut *mut c_char,
) -> *mut DLManagedTensor {
    // SAFETY: per this function's contract.
    let tensor = unsafe { &*tensor };
    if stream < 0 {
        return tensor.to_dlpack();
    }
    // SAFETY: per this function's contract (the stream stays alive while the export lives, as
    // `ForeignStream::from_raw` requires).
    match tensor.to_dlpack_for_stream(unsafe { ForeignStream::from_raw(stream as u64) }) {
        Ok(managed) => managed,
        Err(e) => {
            // SAFETY: per this function's contract.
            unsafe { report(error, e.to_string()) };
            std::ptr::null_mut()
        }
    }
}

/// Frees a tensor from [`cudapreproc_pipeline_pull`].
///
/// # Safety
/// `tensor` is freed once.
#[no_mangle]
pub unsafe extern "C" fn cudapreproc_tensor_free(tensor: *mut CudaTensor) {
    // SAFETY: per this function's contract.
    unsafe { free_boxed(tensor) }
}

/// The library's version (the workspace's), NUL-terminated, static.
#[no_mangle]
pub extern "C" fn cudapreproc_version() -> *const std::ffi::c_char {
    concat!(env!("CARGO_PKG_VERSION"), "\0").as_ptr().cast()
}

/// The layout of the `#[repr(C)]` struct called `name` (its Rust name), from which the Python
/// module builds its ctypes Structure: `SIZE;field:TYPE:OFFSET;...` (see `layout.rs`), a
/// string the caller frees with `cudapreproc_string_free`; null for a name this library does not
/// have (one built from other sources than the module).
///
/// # Safety
/// `name` is a NUL-terminated string.
#[no_mangle]
pub unsafe extern "C" fn cudapreproc_struct_layout(name: *const c_char) -> *mut c_char {
    // SAFETY: per this function's contract.
    let name = unsafe { CStr::from_ptr(name) };
    layout::layout_of(name.to_bytes()).map_or(std::ptr::null_mut(), string_for_caller)
}

/// Gives the driver back the GPU memory kept for reuse on `device` ([`cudapreproc::empty_cache`]):
/// 0, or -1 with `*error` set.
///
/// # Safety
/// `error` is null or writable.
#[no_mangle]
pub unsafe extern "C" fn cudapreproc_empty_cache(device: i32, error: *mut *mut c_char) -> c_int {
    // SAFETY: per this function's contract.
    unsafe { status(cudapreproc::empty_cache(device), error) }
}

/// DLPack exports not yet released by their consumers, in this process.
#[no_mangle]
pub extern "C" fn cudapreproc_live_dlpack_exports() -> u64 {
    dlpack::live_exports() as u64
}

/// Frees an error string.
///
/// # Safety
/// `text` came from this library and is freed once.
#[no_mangle]
pub unsafe extern "C" fn cudapreproc_string_free(text: *mut c_char) {
    if !text.is_null() {
        // SAFETY: per this function's contract.
        drop(unsafe { CString::from_raw(text) });
    }
}

type CapsuleIsValid = unsafe extern "C" fn(*mut c_void, *const c_char) -> c_int;
type CapsuleGetPointer = unsafe extern "C" fn(*mut c_void, *const c_char) -> *mut c_void;

/// The two CPython functions the capsule destructor needs, found in the running interpreter
/// (this library is only loaded into one), so nothing links against a particular libpython.
struct CapsuleApi {
    is_valid: CapsuleIsValid,
    get_pointer: CapsuleGetPointer,
}

fn capsule_api() -> Option<&'static CapsuleApi> {
    static API: OnceLock<Option<CapsuleApi>> = OnceLock::new();
    API.get_or_init(|| {
        let program = libloading::os::unix::Library::this();
        // SAFETY: the symbols are CPython's, with these signatures since Python 3.1.
        let api = unsafe {
            CapsuleApi {
                is_valid: *program.get::<CapsuleIsValid>(b"PyCapsule_IsValid").ok()?,
                get_pointer: *program
                    .get::<CapsuleGetPointer>(b"PyCapsule_GetPointer")
                    .ok()?,
            }
        };
        // The handle of the running program is never closed; the pointers stay valid.
        std::mem::forget(program);
        Some(api)
    })
    .as_ref()
}

/// Destructor of the "dltensor" capsules the Python module makes: releases the export unless a
/// consumer took it (and so renamed the capsule).
///
/// # Safety
/// Called by CPython, with the GIL held, on a capsule whose pointer is a `DLManagedTensor` from
/// [`cudapreproc_tensor_to_dlpack`].
#[no_mangle]
pub unsafe extern "C" fn cudapreproc_dlpack_capsule_destructor(capsule: *mut c_void) {
    let Some(api) = capsule_api() else {
        return;
    };
    // SAFETY: per this function's contract; the name check comes first, so GetPointer (which
    // would set a Python error on a renamed capsule) is only called on an unconsumed one.
    unsafe {
        if (api.is_valid)(capsule, DLTENSOR.as_ptr()) == 0 {
            return;
        }
        let managed = (api.get_pointer)(capsule, DLTENSOR.as_ptr()).cast::<DLManagedTensor>();
        if let Some(deleter) = managed.as_ref().and_then(|m| m.deleter) {
            deleter(managed);
        }
    }
}
