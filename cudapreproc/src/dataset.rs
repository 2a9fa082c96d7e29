//! Clips from many videos for training: a sampler picks each video's clips, several readers
//! decode videos at once (NVDEC has several engines; threads here, not processes), and batches
//! of clips come out on the GPU in a deterministic order.
//!
//! ```no_run
//! use cudapreproc::dataset::{DatasetOptions, VideoDataset};
//! use cudapreproc::sampler::{ClipSampler, IndexSampling};
//!
//! let files = vec!["a.mp4".to_string(), "b.mp4".to_string()];
//! let options = DatasetOptions {
//!     sampler: ClipSampler::RandomIndices(IndexSampling {
//!         num_clips: 2,
//!         num_frames_per_clip: 8,
//!         ..Default::default()
//!     }),
//!     batch_size: 4,
//!     ..DatasetOptions::default()
//! };
//! let dataset = VideoDataset::new(files, options)?;
//! for batch in dataset.iter(0) {
//!     let batch = batch?; // [4, 8, 3, H, W] uint8 on the GPU
//!     println!("{:?} from files {:?}", batch.data.shape(), batch.file_indices);
//! }
//! # Ok::<(), cudapreproc::Error>(())
//! ```
//!
//! Each epoch visits the files of its shard in an order the seed and the epoch fix (shuffled or
//! not); each video's clips are drawn with a generator seeded by the seed, the epoch and the
//! file, so a run repeats exactly whatever the threads do. The first files are handed to the
//! readers in that order, and finished files wait until the ones before them are out, at most
//! a few files ahead of the consumer, so memory stays bounded.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Condvar, LazyLock, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::choice::named_choice;
use crate::reader::batch::{tensor_info, BatchBuilder, Gpu};
use crate::reader::{FrameBatch, ReaderOptions, VideoReader};
use crate::sampler::{ClipSampler, IndexSampling, SampleRng};
use crate::{CudaTensor, Error};

static CAT: LazyLock<gst::DebugCategory> = LazyLock::new(|| {
    gst::DebugCategory::new(
        "videodataset",
        gst::DebugColorFlags::empty(),
        Some("Datasets of many videos: files, readers and their timings"),
    )
});

named_choice! {
    /// What happens when a video cannot be read.
    pub enum OnError("on_error") {
        /// The iteration ends with an error naming the file.
        #[default]
        Raise = "raise",
        /// The file is left out and recorded ([`VideoDataset::skipped`]); the iteration goes on.
        Skip = "skip",
    }
}

/// How a dataset samples, decodes and batches.
#[derive(Clone, Debug)]
pub struct DatasetOptions {
    pub sampler: ClipSampler,
    /// What each frame becomes (size, dtype, normalisation...) and on which GPU.
    pub reader: ReaderOptions,
    /// Clips per batch.
    pub batch_size: usize,
    /// Visit the files in a new random order each epoch.
    pub shuffle: bool,
    pub seed: u64,
    pub on_error: OnError,
    /// Videos decoded at once, each by its own reader (thread and decoder).
    pub decoders: usize,
    /// Leave out the last batch of an epoch when it has fewer than `batch_size` clips.
    pub drop_last: bool,
}

impl Default for DatasetOptions {
    fn default() -> Self {
        DatasetOptions {
            sampler: ClipSampler::RandomIndices(IndexSampling::default()),
            reader: ReaderOptions::default(),
            batch_size: 1,
            shuffle: false,
            seed: 0,
            on_error: OnError::Raise,
            decoders: 4,
            drop_last: false,
        }
    }
}

/// A video left out of an epoch, and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SkippedFile {
    /// Its index in the dataset's list of files (all shards).
    pub file_index: usize,
    pub path: String,
    pub reason: String,
}

/// Clips stacked into one tensor, with where each comes from.
#[derive(Debug)]
pub struct ClipBatch {
    /// `[B, F, C, H, W]` (or `[B, F, H, W, C]`): B clips of F frames.
    pub data: CudaTensor,
    /// For each clip, the index of its video in the dataset's list of files.
    pub file_indices: Vec<usize>,
    /// For each clip, its position among its video's clips.
    pub clip_indices: Vec<usize>,
    /// `B * F` frame indices within their videos, clip after clip.
    pub frame_indices: Vec<usize>,
    pub pts_seconds: Vec<f64>,
    pub duration_seconds: Vec<f64>,
}

/// Many videos read as clips; see the module's documentation.
pub struct VideoDataset {
    files: Arc<Vec<String>>,
    options: DatasetOptions,
    /// This dataset reads the files at positions `rank`, `rank + world`, ... of each epoch's
    /// order.
    rank: usize,
    world: usize,
    skipped: Arc<Mutex<Vec<SkippedFile>>>,
    /// Readers between iterations, so their pipelines and decoders are made once.
    readers: Arc<Mutex<Vec<VideoReader>>>,
}

impl VideoDataset {
    pub fn new(files: Vec<String>, options: DatasetOptions) -> Result<VideoDataset, Error> {
        if files.is_empty() {
            return Err(Error::InvalidArgument(
                "a dataset needs at least one file".into(),
            ));
        }
        if options.batch_size == 0 {
            return Err(Error::InvalidArgument(
                "batch_size must be at least 1".into(),
            ));
        }
        if options.decoders == 0 {
            return Err(Error::InvalidArgument("decoders must be at least 1".into()));
        }
        options.reader.check()?;
        Ok(VideoDataset {
            files: Arc::new(files),
            options,
            rank: 0,
            world: 1,
            skipped: Arc::default(),
            readers: Arc::default(),
        })
    }

    /// The part of this dataset one of `world` processes reads (`torchrun`'s rank and world
    /// size): every epoch's file order is the same in each process, and each takes every
    /// `world`-th file of it, starting at `rank`.
    pub fn shard(&self, rank: usize, world: usize) -> Result<VideoDataset, Error> {
        if world == 0 || rank >= world {
            return Err(Error::InvalidArgument(format!(
                "rank {rank} of a world of {world}: the rank must be below the world size"
            )));
        }
        Ok(VideoDataset {
            files: self.files.clone(),
            options: self.options.clone(),
            rank,
            world,
            skipped: Arc::default(),
            readers: Arc::default(),
        })
    }

    /// Every file of the dataset, all shards.
    pub fn files(&self) -> &[String] {
        &self.files
    }

    pub fn options(&self) -> &DatasetOptions {
        &self.options
    }

    /// The number of files this shard reads each epoch.
    pub fn shard_len(&self) -> usize {
        (self.files.len() + self.world - 1 - self.rank) / self.world
    }

    /// Clips each video gives, when the sampler fixes it (all but regular timestamps, whose
    /// count depends on each video's duration).
    pub fn clips_per_file(&self) -> Option<usize> {
        match &self.options.sampler {
            ClipSampler::RandomIndices(p) | ClipSampler::RegularIndices(p) => Some(p.num_clips),
            ClipSampler::RandomTimestamps(p) => Some(p.num_clips),
            ClipSampler::RegularTimestamps(_) => None,
        }
    }

    /// Batches per epoch, when the clips per file are fixed and no file is skipped.
    pub fn len(&self) -> Option<usize> {
        let clips = self.clips_per_file()? * self.shard_len();
        let b = self.options.batch_size;
        Some(if self.options.drop_last {
            clips / b
        } else {
            clips.div_ceil(b)
        })
    }

    pub fn is_empty(&self) -> bool {
        self.len() == Some(0)
    }

    /// Files left out so far (with `OnError::Skip`), in the order they were met.
    pub fn skipped(&self) -> Vec<SkippedFile> {
        self.skipped.lock().unwrap().clone()
    }

    /// The files of this shard for `epoch`, as indices into [`Self::files`], in visiting order.
    pub fn epoch_files(&self, epoch: u64) -> Vec<usize> {
        let mut order: Vec<usize> = (0..self.files.len()).collect();
        if self.options.shuffle {
            // Fisher-Yates with the dataset's generator: the same permutation in every process.
            let mut rng = SampleRng::new(mix(self.options.seed, epoch, u64::MAX));
            for i in (1..order.len()).rev() {
                let bound = std::num::NonZeroU64::new(i as u64 + 1).expect("i + 1 > 0");
                order.swap(i, rng.below(bound) as usize);
            }
        }
        order
            .into_iter()
            .skip(self.rank)
            .step_by(self.world)
            .collect()
    }

    /// The batches of `epoch`. Decoding starts at once, in background threads.
    pub fn iter(&self, epoch: u64) -> DatasetIter {
        DatasetIter::start(self, epoch)
    }
}

/// A generator seed from the dataset's seed, the epoch and a file (SplitMix64's mixing, so
/// nearby inputs give unrelated seeds).
fn mix(seed: u64, epoch: u64, file: u64) -> u64 {
    let mut rng = SampleRng::new(seed ^ epoch.wrapping_mul(0x9e37_79b9_7f4a_7c15));
    let a = rng.next_u64();
    SampleRng::new(a ^ file.wrapping_mul(0xbf58_476d_1ce4_e5b9)).next_u64()
}

/// One video's clips, decoded.
struct FileClips {
    file_index: usize,
    frames: FrameBatch,
    clips: usize,
    frames_per_clip: usize,
}

/// What a reader thread hands back for the file at one position of the epoch.
type Outcome = Result<FileClips, String>;

/// The positions the threads may take: not more than `window` ahead of the consumer.
struct Schedule {
    next: usize,
    consumed: usize,
}

struct Shared {
    schedule: Mutex<Schedule>,
    changed: Condvar,
    stop: AtomicBool,
    window: usize,
}

/// The batches of one epoch, in order; stops its threads when dropped.
pub struct DatasetIter {
    shared: Arc<Shared>,
    results: mpsc::Receiver<(usize, Outcome)>,
    threads: Vec<JoinHandle<()>>,
    pending: BTreeMap<usize, Outcome>,
    order: Vec<usize>,
    position: usize,
    files: Arc<Vec<String>>,
    options: DatasetOptions,
    skipped: Arc<Mutex<Vec<SkippedFile>>>,
    gpu: Option<Gpu>,
    /// Clips decoded and not yet batched, oldest first: (file clips, next clip).
    queue: Vec<(FileClips, usize)>,
    queued_clips: usize,
    finished: bool,
}

impl DatasetIter {
    fn start(dataset: &VideoDataset, epoch: u64) -> DatasetIter {
        let order = dataset.epoch_files(epoch);
        let threads_wanted = dataset.options.decoders.min(order.len()).max(1);
        let shared = Arc::new(Shared {
            schedule: Mutex::new(Schedule {
                next: 0,
                consumed: 0,
            }),
            changed: Condvar::new(),
            stop: AtomicBool::new(false),
            window: 2 * threads_wanted,
        });
        let (sender, results) = mpsc::channel();
        let order_shared = Arc::new(order.clone());
        let threads = (0..threads_wanted)
            .map(|_| {
                let worker = Worker {
                    shared: shared.clone(),
                    order: order_shared.clone(),
                    files: dataset.files.clone(),
                    options: dataset.options.clone(),
                    readers: dataset.readers.clone(),
                    epoch,
                    sender: sender.clone(),
                };
                std::thread::Builder::new()
                    .name("cudapreproc-dataset".into())
                    .spawn(move || worker.run())
                    .expect("a thread can be started")
            })
            .collect();
        DatasetIter {
            shared,
            results,
            threads,
            pending: BTreeMap::new(),
            order,
            position: 0,
            files: dataset.files.clone(),
            options: dataset.options.clone(),
            skipped: dataset.skipped.clone(),
            gpu: None,
            queue: Vec::new(),
            queued_clips: 0,
            finished: false,
        }
    }

    /// The outcome for the next file position, waiting at most `timeout`; `None` on timeout.
    fn next_outcome(&mut self, timeout: Duration) -> Option<Outcome> {
        loop {
            if let Some(outcome) = self.pending.remove(&self.position) {
                self.position += 1;
                let mut schedule = self.shared.schedule.lock().unwrap();
                schedule.consumed = self.position;
                self.shared.changed.notify_all();
                return Some(outcome);
            }
            match self.results.recv_timeout(timeout) {
                Ok((position, outcome)) => {
                    self.pending.insert(position, outcome);
                }
                Err(_) => return None,
            }
        }
    }

    /// The next batch, waiting at most `timeout` for decoding: `Ok(None)` at the end of the
    /// epoch; `Err` for a file that cannot be read (with `OnError::Raise`) or a failed copy.
    pub fn next_batch(&mut self, timeout: Duration) -> Result<Next, Error> {
        let batch_size = self.options.batch_size;
        while !self.finished && self.queued_clips < batch_size {
            if self.position == self.order.len() {
                self.finished = true;
                break;
            }
            let Some(outcome) = self.next_outcome(timeout) else {
                return Ok(Next::Waiting);
            };
            let file_index = self.order[self.position - 1];
            match outcome {
                Ok(clips) if clips.clips == 0 => {}
                Ok(clips) => {
                    self.queued_clips += clips.clips;
                    self.queue.push((clips, 0));
                }
                Err(reason) => {
                    let path = self.files[file_index].clone();
                    if self.options.on_error == OnError::Raise {
                        self.finished = true;
                        self.queue.clear();
                        return Err(Error::Source(reason));
                    }
                    self.skipped.lock().unwrap().push(SkippedFile {
                        file_index,
                        path,
                        reason,
                    });
                }
            }
        }
        let take = self.queued_clips.min(batch_size);
        if take == 0 || (take < batch_size && self.options.drop_last) {
            self.queue.clear();
            self.queued_clips = 0;
            return Ok(Next::End);
        }
        self.assemble(take).map(|b| Next::Batch(Box::new(b)))
    }

    /// Stacks the next `take` queued clips into one batch.
    fn assemble(&mut self, take: usize) -> Result<ClipBatch, Error> {
        if matches!(self.queue.first(), Some((clips, 0)) if clips.clips == take) {
            // Exactly one video's clips: its tensor as the reader decoded it, not a copy.
            let (clips, _) = self.queue.remove(0);
            self.queued_clips -= take;
            let FrameBatch {
                data,
                indices,
                pts_seconds,
                duration_seconds,
            } = clips.frames;
            return Ok(ClipBatch {
                data,
                file_indices: vec![clips.file_index; take],
                clip_indices: (0..take).collect(),
                frame_indices: indices,
                pts_seconds,
                duration_seconds,
            });
        }
        if self.gpu.is_none() {
            self.gpu = Some(Gpu::open(self.options.reader.device)?);
        }
        let gpu = self.gpu.as_mut().expect("opened above");
        let (first, _) = self.queue.first().expect("clips are queued");
        let (first_file, frames_per_clip) = (first.file_index, first.frames_per_clip);
        let frame_info = frame_shape(&first.frames.data)?;
        let mut builder = BatchBuilder::new(gpu, frame_info, take * frames_per_clip)?;
        let mut batch = ClipBatch {
            data: first.frames.data.clone(),
            file_indices: Vec::with_capacity(take),
            clip_indices: Vec::with_capacity(take),
            frame_indices: Vec::with_capacity(take * frames_per_clip),
            pts_seconds: Vec::with_capacity(take * frames_per_clip),
            duration_seconds: Vec::with_capacity(take * frames_per_clip),
        };
        for slot in 0..take {
            let (clips, next) = self.queue.first_mut().expect("enough clips are queued");
            if clips.frames_per_clip != frames_per_clip
                || frame_shape(&clips.frames.data)?.dims != builder.frame().dims
            {
                return Err(Error::InvalidArgument(format!(
                    "{} and {} give clips of different shapes, which cannot share a batch: \
                     give the reader a size (width and height) or use batch_size 1",
                    self.files[first_file], self.files[clips.file_index]
                )));
            }
            let from = *next * frames_per_clip;
            builder.copy(
                gpu,
                &clips.frames.data,
                from,
                slot * frames_per_clip,
                frames_per_clip,
            )?;
            let frames = from..from + frames_per_clip;
            batch.file_indices.push(clips.file_index);
            batch.clip_indices.push(*next);
            batch
                .frame_indices
                .extend_from_slice(&clips.frames.indices[frames.clone()]);
            batch
                .pts_seconds
                .extend_from_slice(&clips.frames.pts_seconds[frames.clone()]);
            batch
                .duration_seconds
                .extend_from_slice(&clips.frames.duration_seconds[frames]);
            *next += 1;
            if *next == clips.clips {
                self.queue.remove(0);
            }
        }
        self.queued_clips -= take;
        let mut dims = vec![take as u64, frames_per_clip as u64];
        dims.extend_from_slice(&builder.frame().dims[1..]);
        let numbers: Vec<u64> = batch.frame_indices.iter().map(|&f| f as u64).collect();
        batch.data = builder.finish(gpu, &numbers, Some(dims))?;
        Ok(batch)
    }
}

/// What waiting for a batch gave.
#[derive(Debug)]
pub enum Next {
    Batch(Box<ClipBatch>),
    /// The epoch is over.
    End,
    /// Nothing yet within the time given.
    Waiting,
}

impl Iterator for DatasetIter {
    type Item = Result<ClipBatch, Error>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            match self.next_batch(Duration::from_millis(100)) {
                Ok(Next::Batch(batch)) => return Some(Ok(*batch)),
                Ok(Next::End) => return None,
                Ok(Next::Waiting) => {}
                Err(e) => return Some(Err(e)),
            }
        }
    }
}

impl Drop for DatasetIter {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        self.shared.changed.notify_all();
        for thread in self.threads.drain(..) {
            let _ = thread.join();
        }
    }
}

/// The shape of one frame of a batch of frames (`[N, ...frame]`), as a one-frame tensor.
fn frame_shape(data: &CudaTensor) -> Result<cudapreproc_core::tensor::TensorInfo, Error> {
    let info = tensor_info(data)?;
    info.unbatched()
        .ok_or_else(|| Error::NotATensor(format!("a batch of shape {:?}", info.dims)))
}

/// One reader thread: takes the next file position within the window, decodes its clips, and
/// hands them back.
struct Worker {
    shared: Arc<Shared>,
    order: Arc<Vec<usize>>,
    files: Arc<Vec<String>>,
    options: DatasetOptions,
    readers: Arc<Mutex<Vec<VideoReader>>>,
    epoch: u64,
    sender: mpsc::Sender<(usize, Outcome)>,
}

impl Worker {
    /// The next position to decode, waiting while the consumer is a window behind; `None` when
    /// the epoch's files are all taken or the iteration stopped.
    fn take(&self) -> Option<usize> {
        let mut schedule = self.shared.schedule.lock().unwrap();
        loop {
            if self.shared.stop.load(Ordering::SeqCst) || schedule.next >= self.order.len() {
                return None;
            }
            if schedule.next < schedule.consumed + self.shared.window {
                schedule.next += 1;
                return Some(schedule.next - 1);
            }
            schedule = self.shared.changed.wait(schedule).unwrap();
        }
    }

    fn run(self) {
        let mut reader = self.readers.lock().unwrap().pop();
        while let Some(position) = self.take() {
            let file_index = self.order[position];
            let outcome = self.decode(&mut reader, file_index);
            if self.sender.send((position, outcome)).is_err() {
                break;
            }
        }
        if let Some(reader) = reader {
            self.readers.lock().unwrap().push(reader);
        }
    }

    /// Opens (or moves `reader` to) the file and decodes its clips; the error names the file.
    fn decode(&self, reader: &mut Option<VideoReader>, file_index: usize) -> Outcome {
        let path = &self.files[file_index];
        let named = |e: Error| {
            let text = e.to_string();
            if text.contains(path.as_str()) {
                text
            } else {
                format!("{path}: {text}")
            }
        };
        let started = Instant::now();
        match reader {
            Some(r) => r.reopen(path).map_err(named)?,
            None => {
                *reader = Some(VideoReader::open(path, self.options.reader.clone()).map_err(named)?)
            }
        }
        let opened = started.elapsed();
        let reader = reader.as_mut().expect("opened above");
        let mut rng = SampleRng::new(mix(self.options.seed, self.epoch, file_index as u64));
        let frames = reader
            .sample_clips(&self.options.sampler, &mut rng)
            .map_err(named)?;
        gst::debug!(
            CAT,
            "{path}: opened in {:.1} ms, {} frames decoded in {:.1} ms",
            opened.as_secs_f64() * 1e3,
            frames.indices.len(),
            (started.elapsed() - opened).as_secs_f64() * 1e3
        );
        let (clips, frames_per_clip) = match frames.data.shape() {
            [clips, per_clip, ..] => (*clips as usize, *per_clip as usize),
            _ => (0, 0),
        };
        Ok(FileClips {
            file_index,
            frames,
            clips,
            frames_per_clip,
        })
    }
}
