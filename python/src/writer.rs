//! C ABI of [`VideoWriter`]: create, write DLPack tensors (taken over without a copy), close.

use std::ffi::{c_char, c_int, CStr};

use cudapreproc::dlpack::DLManagedTensor;
use cudapreproc::writer::{Chroma, Codec, VideoWriter, WriterOptions};
use cudapreproc::{CudaTensor, Error, ForeignStream};

use crate::layout::c_struct;
use crate::reader::{choose, TensorFormC};
use crate::{fail, free_boxed, into_raw_or_null, result_code, status, string_for_caller};

c_struct! {
    /// [`WriterOptions`] as C sees them; names are mapped to numbers by the caller.
    pub struct WriterOptionsC {
        pub fps_num: i32,
        pub fps_den: i32,
        /// 0 H.264, 1 H.265.
        pub codec: i32,
        /// An encoder factory, or null for the writer's choice.
        pub encoder: *const c_char,
        pub bitrate_kbps: u32,
        /// 0 4:2:0, 1 4:4:4.
        pub chroma: i32,
        /// Non-zero: encode without loss.
        pub lossless: u8,
        pub form: TensorFormC,
        /// The pipeline after the colour converter, or null for encoder, muxer and file.
        pub tail: *const c_char,
    }
}

/// A NUL-terminated string or nothing.
///
/// # Safety
/// `text` is null or NUL-terminated.
unsafe fn optional(text: *const c_char) -> Option<String> {
    // SAFETY: per this function's contract.
    (!text.is_null()).then(|| {
        unsafe { CStr::from_ptr(text) }
            .to_string_lossy()
            .into_owned()
    })
}

impl WriterOptionsC {
    /// # Safety
    /// `encoder` and `tail` are null or NUL-terminated.
    unsafe fn options(&self) -> Result<WriterOptions, Error> {
        let (layout, color_order, normalize) = self.form.parts()?;
        Ok(WriterOptions {
            fps: (self.fps_num, self.fps_den),
            codec: choose("codec", self.codec, &[Codec::H264, Codec::H265])?,
            // SAFETY: per this function's contract.
            encoder: unsafe { optional(self.encoder) },
            bitrate_kbps: self.bitrate_kbps,
            chroma: choose("chroma", self.chroma, &[Chroma::Yuv420, Chroma::Yuv444])?,
            lossless: self.lossless != 0,
            layout,
            color_order,
            normalize,
            // SAFETY: per this function's contract.
            tail: unsafe { optional(self.tail) },
        })
    }
}

/// A writer for `destination`. Null on failure, with `*error` set and `*code` the kind.
///
/// # Safety
/// `destination` is NUL-terminated; `options` readable (its strings null or NUL-terminated);
/// `code` writable; `error` null or writable.
#[no_mangle]
pub unsafe extern "C" fn cudapreproc_writer_create(
    destination: *const c_char,
    options: *const WriterOptionsC,
    code: *mut c_int,
    error: *mut *mut c_char,
) -> *mut VideoWriter {
    // SAFETY: per this function's contract.
    let (destination, options) =
        unsafe { (CStr::from_ptr(destination).to_string_lossy(), &*options) };
    // SAFETY: per this function's contract.
    let created = unsafe { options.options() }.and_then(|o| VideoWriter::create(&destination, o));
    // SAFETY: per this function's contract.
    unsafe { into_raw_or_null(created, code, error) }
}

/// The encoder's factory name (null with a tail of the caller's), freed with
/// `cudapreproc_string_free`.
///
/// # Safety
/// `writer` is live.
#[no_mangle]
pub unsafe extern "C" fn cudapreproc_writer_encoder(writer: *const VideoWriter) -> *mut c_char {
    // SAFETY: per this function's contract.
    unsafe { &*writer }
        .encoder()
        .map_or(std::ptr::null_mut(), |name| string_for_caller(name.into()))
}

/// Frames written so far.
///
/// # Safety
/// `writer` is live.
#[no_mangle]
pub unsafe extern "C" fn cudapreproc_writer_frames(writer: *const VideoWriter) -> u64 {
    // SAFETY: per this function's contract.
    unsafe { &*writer }.frames_written()
}

/// The stream to give a DLPack producer as the consumer stream for tensors written on GPU
/// `device` (see `cudapreproc::import_stream`); 0 with `*error` set on failure.
///
/// # Safety
/// `error` is null or writable.
#[no_mangle]
pub unsafe extern "C" fn cudapreproc_import_stream(device: i32, error: *mut *mut c_char) -> u64 {
    match cudapreproc::import_stream(device) {
        Ok(stream) => stream,
        Err(e) => {
            // SAFETY: per this function's contract.
            unsafe { fail(e, error) };
            0
        }
    }
}

/// Writes the frames of a DLPack tensor, which this call takes over (its deleter runs once the
/// pipeline is done with it, or at once on failure): 0, or an error code with `*error` set.
/// `stream` is the stream the producer ordered its work before (`cudapreproc_import_stream`).
///
/// # Safety
/// `writer` is live; `managed` a DLManagedTensor handed over; `stream` as
/// `ForeignStream::from_raw` requires; `error` null or writable.
#[no_mangle]
pub unsafe extern "C" fn cudapreproc_writer_write_dlpack(
    writer: *mut VideoWriter,
    managed: *mut DLManagedTensor,
    stream: u64,
    error: *mut *mut c_char,
) -> c_int {
    // SAFETY: per this function's contract.
    let written = unsafe { CudaTensor::from_dlpack(managed, ForeignStream::from_raw(stream)) }
        .and_then(|tensor| unsafe { &mut *writer }.write(&tensor));
    // SAFETY: per this function's contract.
    unsafe { result_code(written, error) }
}

/// Finishes the file and frees the writer: 0, or -1 with `*error` set (the writer is freed
/// either way).
///
/// # Safety
/// `writer` is live and not used afterwards; `error` null or writable.
#[no_mangle]
pub unsafe extern "C" fn cudapreproc_writer_close(
    writer: *mut VideoWriter,
    error: *mut *mut c_char,
) -> c_int {
    // SAFETY: per this function's contract.
    let writer = unsafe { Box::from_raw(writer) };
    // SAFETY: per this function's contract.
    unsafe { status(writer.close(), error) }
}

/// Frees a writer without closing it first (it finishes its file as it goes).
///
/// # Safety
/// `writer` is null or live, and not used afterwards.
#[no_mangle]
pub unsafe extern "C" fn cudapreproc_writer_free(writer: *mut VideoWriter) {
    // SAFETY: per this function's contract.
    unsafe { free_boxed(writer) }
}
