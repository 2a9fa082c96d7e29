//! C ABI of the batches the reader and the dataset hand out. Both are one opaque [`Batch`],
//! read the same way: its counts, its per-clip and per-frame values, its tensor; then freed.

use std::ffi::{c_char, c_int};

use cudapreproc::dataset::ClipBatch;
use cudapreproc::reader::FrameBatch;
use cudapreproc::{CudaTensor, Error};

use crate::{fail, free_boxed, write_all};

/// What a reader request or a dataset epoch gives the caller.
pub enum Batch {
    /// A reader's frames: per-frame values only.
    Frames(FrameBatch),
    /// A dataset's clips: also the file and position of each clip.
    Clips(ClipBatch),
}

impl Batch {
    fn data(&self) -> &CudaTensor {
        match self {
            Batch::Frames(b) => &b.data,
            Batch::Clips(b) => &b.data,
        }
    }

    /// The frame indices, one per frame: their number is the batch's number of frames.
    fn frame_indices(&self) -> &[usize] {
        match self {
            Batch::Frames(b) => &b.indices,
            Batch::Clips(b) => &b.frame_indices,
        }
    }

    /// The file and clip index of each clip; none for a reader's frames.
    fn clips(&self) -> (&[usize], &[usize]) {
        match self {
            Batch::Frames(_) => (&[], &[]),
            Batch::Clips(b) => (&b.file_indices, &b.clip_indices),
        }
    }

    /// Each frame's stream time and duration in seconds.
    fn times(&self) -> (&[f64], &[f64]) {
        match self {
            Batch::Frames(b) => (&b.pts_seconds, &b.duration_seconds),
            Batch::Clips(b) => (&b.pts_seconds, &b.duration_seconds),
        }
    }
}

fn as_u64(values: &[usize]) -> impl Iterator<Item = u64> + '_ {
    values.iter().map(|&i| i as u64)
}

/// Hands a reader request's result to the caller: 0 and `*batch`, or the error's code.
///
/// # Safety
/// `batch` is writable, `error` null or writable.
pub(crate) unsafe fn deliver(
    result: Result<FrameBatch, Error>,
    batch: *mut *mut Batch,
    error: *mut *mut c_char,
) -> c_int {
    match result {
        Ok(b) => {
            // SAFETY: per this function's contract.
            unsafe { batch.write(Box::into_raw(Box::new(Batch::Frames(b)))) };
            0
        }
        // SAFETY: per this function's contract.
        Err(e) => unsafe { fail(e, error) },
    }
}

/// The number of frames in a batch, and in `*clips` the number of clips (0 for a reader's
/// frames).
///
/// # Safety
/// `batch` is live; `clips` writable.
#[no_mangle]
pub unsafe extern "C" fn cudapreproc_batch_len(batch: *const Batch, clips: *mut u64) -> u64 {
    // SAFETY: per this function's contract.
    let batch = unsafe { &*batch };
    // SAFETY: per this function's contract.
    unsafe { clips.write(batch.clips().0.len() as u64) };
    batch.frame_indices().len() as u64
}

/// Copies a batch's file and clip indices (one per clip) and frame indices, stream times and
/// durations in seconds (one per frame) into arrays of the lengths `cudapreproc_batch_len`
/// gives (each may be null).
///
/// # Safety
/// `batch` is live; each array is null or as long as its values.
#[no_mangle]
pub unsafe extern "C" fn cudapreproc_batch_info(
    batch: *const Batch,
    file_indices: *mut u64,
    clip_indices: *mut u64,
    frame_indices: *mut u64,
    pts_seconds: *mut f64,
    duration_seconds: *mut f64,
) {
    // SAFETY: per this function's contract.
    let batch = unsafe { &*batch };
    let (files, clips) = batch.clips();
    let frames = batch.frame_indices();
    let (pts, durations) = batch.times();
    // SAFETY: per this function's contract, each array is null or as long as its values; no
    // more than the number of frames is written to a per-frame array.
    unsafe {
        write_all(file_indices, as_u64(files));
        write_all(clip_indices, as_u64(clips));
        write_all(frame_indices, as_u64(frames));
        write_all(pts_seconds, pts.iter().take(frames.len()).copied());
        write_all(
            duration_seconds,
            durations.iter().take(frames.len()).copied(),
        );
    }
}

/// The batch's data as a tensor of its own, freed with `cudapreproc_tensor_free` (the memory
/// lives until both it and every export of it are gone).
///
/// # Safety
/// `batch` is live.
#[no_mangle]
pub unsafe extern "C" fn cudapreproc_batch_tensor(batch: *const Batch) -> *mut CudaTensor {
    // SAFETY: per this function's contract.
    Box::into_raw(Box::new(unsafe { &*batch }.data().clone()))
}

/// Frees a batch.
///
/// # Safety
/// `batch` came from a `cudapreproc_reader_*` call or `cudapreproc_dataset_next` and is freed
/// once.
#[no_mangle]
pub unsafe extern "C" fn cudapreproc_batch_free(batch: *mut Batch) {
    // SAFETY: per this function's contract.
    unsafe { free_boxed(batch) }
}
