//! C ABI of the clip samplers (on one reader) and of [`VideoDataset`]: build it, shard it,
//! iterate over an epoch in short waits, each batch of clips a [`Batch`](crate::batch::Batch).

use std::ffi::{c_char, c_int, CStr};
use std::fmt::Write as _;
use std::time::Duration;

use cudapreproc::dataset::{DatasetIter, DatasetOptions, Next, OnError, VideoDataset};
use cudapreproc::reader::VideoReader;
use cudapreproc::sampler::{
    ClipSampler, IndexSampling, Policy, RandomTimestampSampling, RegularTimestampSampling,
    SampleRng, TimestampClips,
};
use cudapreproc::Error;

use crate::batch::{deliver, Batch};
use crate::layout::c_struct;
use crate::reader::{choose, ReaderOptionsC};
use crate::{fail, free_boxed, into_raw_or_null, string_for_caller, FAILED, PULLED, WAITING};

c_struct! {
    /// A [`ClipSampler`] as C sees it: every sampler's parameters, the kind saying which apply.
    /// Optional numbers are NaN (floats) or flagged (`has_sampling_range_end`) when absent.
    pub struct SamplerC {
        /// 0 random indices, 1 regular indices, 2 random timestamps, 3 regular timestamps.
        pub kind: i32,
        pub num_clips: u64,
        pub num_frames_per_clip: u64,
        pub num_indices_between_frames: u64,
        pub sampling_range_start: i64,
        pub has_sampling_range_end: i32,
        pub sampling_range_end: i64,
        pub seconds_between_frames: f64,
        pub seconds_range_start: f64,
        pub seconds_range_end: f64,
        pub seconds_between_clip_starts: f64,
        /// 0 repeat_last, 1 wrap, 2 error.
        pub policy: i32,
    }
}

fn optional(seconds: f64) -> Option<f64> {
    (!seconds.is_nan()).then_some(seconds)
}

impl SamplerC {
    fn sampler(&self) -> Result<ClipSampler, Error> {
        let policy = choose(
            "policy",
            self.policy,
            &[Policy::RepeatLast, Policy::Wrap, Policy::Error],
        )?;
        let indices = IndexSampling {
            num_clips: self.num_clips as usize,
            num_frames_per_clip: self.num_frames_per_clip as usize,
            num_indices_between_frames: self.num_indices_between_frames as usize,
            sampling_range_start: self.sampling_range_start,
            sampling_range_end: (self.has_sampling_range_end != 0)
                .then_some(self.sampling_range_end),
            policy,
        };
        let timestamp_clips = TimestampClips {
            num_frames_per_clip: self.num_frames_per_clip as usize,
            seconds_between_frames: optional(self.seconds_between_frames),
            sampling_range_start: optional(self.seconds_range_start),
            sampling_range_end: optional(self.seconds_range_end),
            policy,
        };
        Ok(match self.kind {
            0 => ClipSampler::RandomIndices(indices),
            1 => ClipSampler::RegularIndices(indices),
            2 => ClipSampler::RandomTimestamps(RandomTimestampSampling {
                num_clips: self.num_clips as usize,
                clips: timestamp_clips,
            }),
            3 => ClipSampler::RegularTimestamps(RegularTimestampSampling {
                seconds_between_clip_starts: self.seconds_between_clip_starts,
                clips: timestamp_clips,
            }),
            other => {
                return Err(Error::InvalidArgument(format!(
                    "sampler kind {other} is not one of the choices"
                )))
            }
        })
    }
}

/// The clips `sampler` picks from the reader's video (random ones drawn with `seed`), decoded:
/// a batch whose data is `[clips, frames per clip, ...]`.
///
/// # Safety
/// `reader` is live, `sampler` readable, `batch` writable, `error` null or writable.
#[no_mangle]
pub unsafe extern "C" fn cudapreproc_reader_sample_clips(
    reader: *mut VideoReader,
    sampler: *const SamplerC,
    seed: u64,
    batch: *mut *mut Batch,
    error: *mut *mut c_char,
) -> c_int {
    // SAFETY: per this function's contract.
    let (reader, sampler) = unsafe { (&mut *reader, &*sampler) };
    let result = sampler
        .sampler()
        .and_then(|s| reader.sample_clips(&s, &mut SampleRng::new(seed)));
    // SAFETY: per this function's contract.
    unsafe { deliver(result, batch, error) }
}

c_struct! {
    /// How a dataset batches, besides its sampler and reader options.
    pub struct DatasetOptionsC {
        pub batch_size: u64,
        pub shuffle: i32,
        pub seed: u64,
        /// 0 raise, 1 skip.
        pub on_error: i32,
        pub decoders: u64,
        pub drop_last: i32,
    }
}

/// Makes a dataset over `n` files. Null on failure, with `*code` and `*error` set.
///
/// # Safety
/// `files` holds `n` NUL-terminated strings; the option structs are readable; `code` writable;
/// `error` null or writable.
#[no_mangle]
pub unsafe extern "C" fn cudapreproc_dataset_new(
    files: *const *const c_char,
    n: u64,
    sampler: *const SamplerC,
    reader: *const ReaderOptionsC,
    options: *const DatasetOptionsC,
    code: *mut c_int,
    error: *mut *mut c_char,
) -> *mut VideoDataset {
    let made = (|| {
        // SAFETY: per this function's contract.
        let (sampler, reader, options) = unsafe { (&*sampler, &*reader, &*options) };
        let files = (0..n as usize)
            // SAFETY: per this function's contract, each of the `n` pointers is a string.
            .map(|i| {
                unsafe { CStr::from_ptr(*files.add(i)) }
                    .to_string_lossy()
                    .into_owned()
            })
            .collect();
        let on_error = choose(
            "on_error",
            options.on_error,
            &[OnError::Raise, OnError::Skip],
        )?;
        VideoDataset::new(
            files,
            DatasetOptions {
                sampler: sampler.sampler()?,
                reader: reader.options()?,
                batch_size: options.batch_size as usize,
                shuffle: options.shuffle != 0,
                seed: options.seed,
                on_error,
                decoders: options.decoders as usize,
                drop_last: options.drop_last != 0,
            },
        )
    })();
    // SAFETY: per this function's contract.
    unsafe { into_raw_or_null(made, code, error) }
}

/// The shard `rank` of `world` of a dataset (a new dataset, freed separately). Null on failure.
///
/// # Safety
/// `dataset` is live; `error` null or writable.
#[no_mangle]
pub unsafe extern "C" fn cudapreproc_dataset_shard(
    dataset: *const VideoDataset,
    rank: u64,
    world: u64,
    error: *mut *mut c_char,
) -> *mut VideoDataset {
    // SAFETY: per this function's contract.
    let shard = unsafe { &*dataset }.shard(rank as usize, world as usize);
    // SAFETY: per this function's contract.
    unsafe { into_raw_or_null(shard, std::ptr::null_mut(), error) }
}

/// Batches per epoch, or -1 when the sampler does not fix the clips per file.
///
/// # Safety
/// `dataset` is live.
#[no_mangle]
pub unsafe extern "C" fn cudapreproc_dataset_len(dataset: *const VideoDataset) -> i64 {
    // SAFETY: per this function's contract.
    unsafe { &*dataset }.len().map_or(-1, |n| n as i64)
}

/// The number of files this shard reads each epoch.
///
/// # Safety
/// `dataset` is live.
#[no_mangle]
pub unsafe extern "C" fn cudapreproc_dataset_shard_len(dataset: *const VideoDataset) -> u64 {
    // SAFETY: per this function's contract.
    unsafe { &*dataset }.shard_len() as u64
}

/// Files skipped so far, as lines of `file_index<TAB>path<TAB>reason`, freed with
/// `cudapreproc_string_free`.
///
/// # Safety
/// `dataset` is live.
#[no_mangle]
pub unsafe extern "C" fn cudapreproc_dataset_skipped(dataset: *const VideoDataset) -> *mut c_char {
    // SAFETY: per this function's contract.
    let skipped = unsafe { &*dataset }.skipped();
    let mut text = String::new();
    for s in skipped {
        let clean = |t: &str| t.replace(['\t', '\n'], " ");
        let _ = writeln!(
            text,
            "{}\t{}\t{}",
            s.file_index,
            clean(&s.path),
            clean(&s.reason)
        );
    }
    string_for_caller(text)
}

/// Starts an epoch: decoding begins in background threads.
///
/// # Safety
/// `dataset` is live (and outlives nothing: the iterator holds what it needs).
#[no_mangle]
pub unsafe extern "C" fn cudapreproc_dataset_iter(
    dataset: *const VideoDataset,
    epoch: u64,
) -> *mut DatasetIter {
    // SAFETY: per this function's contract.
    Box::into_raw(Box::new(unsafe { &*dataset }.iter(epoch)))
}

/// Waits at most `timeout_ms` for the next batch: [`PULLED`] with `*batch` set, or null at the
/// end of the epoch; [`WAITING`]; or [`FAILED`] with `*code` and `*error` set.
///
/// # Safety
/// `iter` is live; `batch` and `code` writable; `error` null or writable.
#[no_mangle]
pub unsafe extern "C" fn cudapreproc_dataset_next(
    iter: *mut DatasetIter,
    timeout_ms: u32,
    batch: *mut *mut Batch,
    code: *mut c_int,
    error: *mut *mut c_char,
) -> c_int {
    // SAFETY: per this function's contract.
    let iter = unsafe { &mut *iter };
    // SAFETY: per this function's contract.
    unsafe { batch.write(std::ptr::null_mut()) };
    match iter.next_batch(Duration::from_millis(timeout_ms.into())) {
        Ok(Next::Batch(b)) => {
            // SAFETY: per this function's contract.
            unsafe { batch.write(Box::into_raw(Box::new(Batch::Clips(*b)))) };
            PULLED
        }
        Ok(Next::End) => PULLED,
        Ok(Next::Waiting) => WAITING,
        Err(e) => {
            // SAFETY: per this function's contract.
            unsafe { code.write(fail(e, error)) };
            FAILED
        }
    }
}

/// Stops an epoch's threads and frees the iterator.
///
/// # Safety
/// `iter` came from [`cudapreproc_dataset_iter`] and is freed once.
#[no_mangle]
pub unsafe extern "C" fn cudapreproc_dataset_iter_free(iter: *mut DatasetIter) {
    // SAFETY: per this function's contract.
    unsafe { free_boxed(iter) }
}

/// Frees a dataset (its idle readers with it).
///
/// # Safety
/// `dataset` came from this library and is freed once.
#[no_mangle]
pub unsafe extern "C" fn cudapreproc_dataset_free(dataset: *mut VideoDataset) {
    // SAFETY: per this function's contract.
    unsafe { free_boxed(dataset) }
}
