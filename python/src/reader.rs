//! C ABI of [`VideoReader`]: open, metadata, the frame index, and the four ways of asking for
//! frames, each giving a [`Batch`] the caller reads and frees.

use std::ffi::{c_char, c_int, CStr};
use std::fmt::Write as _;

use cudapreproc::reader::{
    normalize_preset, ColorOrder, Crop, DType, Fit, Layout, Normalize, ReaderOptions, SeekMode,
    VideoReader,
};
use cudapreproc::Error;

use crate::batch::{deliver, Batch};
use crate::layout::c_struct;
use crate::{free_boxed, into_raw_or_null, result_code, slice_of, string_for_caller, write_all};

c_struct! {
    /// [`ReaderOptions`] as C sees them; names are mapped to numbers by the caller.
    pub struct ReaderOptionsC {
        pub device: i32,
        /// 0 exact, 1 approximate.
        pub seek_mode: i32,
        /// 0 x 0: the decoded size.
        pub width: u32,
        pub height: u32,
        /// 0 stretch, 1 letterbox, 2 fill.
        pub fit: i32,
        /// x, y, width, height; a width of 0: no crop.
        pub crop: [u32; 4],
        /// 0 uint8, 1 float16, 2 bfloat16, 3 float32.
        pub dtype: i32,
        pub form: TensorFormC,
    }
}

c_struct! {
    /// How a tensor holds frames, as the reader gives them and the writer takes them.
    pub struct TensorFormC {
        /// 0 NCHW, 1 NHWC.
        pub layout: i32,
        /// 0 RGB, 1 BGR.
        pub color_order: i32,
        pub scale: f64,
        pub mean: [f64; 3],
        pub std: [f64; 3],
    }
}

/// The `value`-th of `choices`, the number a caller gave for the option `what`.
pub(crate) fn choose<T: Copy>(what: &str, value: i32, choices: &[T]) -> Result<T, Error> {
    usize::try_from(value)
        .ok()
        .and_then(|i| choices.get(i).copied())
        .ok_or_else(|| Error::InvalidArgument(format!("{what} {value} is not one of the choices")))
}

impl TensorFormC {
    /// The layout, colour order and normalisation.
    pub(crate) fn parts(&self) -> Result<(Layout, ColorOrder, Normalize), Error> {
        Ok((
            choose("layout", self.layout, &[Layout::Nchw, Layout::Nhwc])?,
            choose(
                "colour order",
                self.color_order,
                &[ColorOrder::Rgb, ColorOrder::Bgr],
            )?,
            Normalize {
                scale: self.scale,
                mean: self.mean,
                std: self.std,
            },
        ))
    }
}

/// Sets `form`'s scale, mean and std to those of the normalisation preset `name` ("none",
/// "unit", "symmetric" or "imagenet"): 0, or the error's code with `*error` set.
///
/// # Safety
/// `form` is writable; `name` NUL-terminated; `error` null or writable.
#[no_mangle]
pub unsafe extern "C" fn cudapreproc_tensor_form_preset(
    form: *mut TensorFormC,
    name: *const c_char,
    error: *mut *mut c_char,
) -> c_int {
    // SAFETY: per this function's contract.
    let (form, name) = unsafe { (&mut *form, CStr::from_ptr(name).to_string_lossy()) };
    let result = normalize_preset(&name).map(|preset| {
        form.scale = preset.scale;
        form.mean = preset.mean;
        form.std = preset.std;
    });
    // SAFETY: per this function's contract.
    unsafe { result_code(result, error) }
}

impl ReaderOptionsC {
    pub(crate) fn options(&self) -> Result<ReaderOptions, Error> {
        let (layout, color_order, normalize) = self.form.parts()?;
        Ok(ReaderOptions {
            device: self.device,
            seek_mode: choose(
                "seek mode",
                self.seek_mode,
                &[SeekMode::Exact, SeekMode::Approximate],
            )?,
            size: (self.width > 0 || self.height > 0).then_some((self.width, self.height)),
            fit: choose("fit", self.fit, &[Fit::Stretch, Fit::Letterbox, Fit::Fill])?,
            crop: (self.crop[2] > 0 || self.crop[3] > 0).then_some(Crop {
                x: self.crop[0],
                y: self.crop[1],
                width: self.crop[2],
                height: self.crop[3],
            }),
            color_order,
            dtype: choose(
                "dtype",
                self.dtype,
                &[
                    DType::Uint8,
                    DType::Float16,
                    DType::Bfloat16,
                    DType::Float32,
                ],
            )?,
            layout,
            normalize,
        })
    }
}

/// Opens a video. Null on failure, with `*error` set and `*code` the kind of error (see
/// `fail`).
///
/// # Safety
/// `source` is a NUL-terminated string, `options` readable, `code` writable, `error` null or
/// writable.
#[no_mangle]
pub unsafe extern "C" fn cudapreproc_reader_open(
    source: *const c_char,
    options: *const ReaderOptionsC,
    code: *mut c_int,
    error: *mut *mut c_char,
) -> *mut VideoReader {
    // SAFETY: per this function's contract.
    let (source, options) = unsafe { (CStr::from_ptr(source).to_string_lossy(), &*options) };
    let opened = options
        .options()
        .and_then(|o| VideoReader::open(&source, o));
    // SAFETY: per this function's contract.
    unsafe { into_raw_or_null(opened, code, error) }
}

/// Moves the reader to another video; on failure it stays on the current one.
///
/// # Safety
/// `reader` is live; `source` NUL-terminated; `error` null or writable.
#[no_mangle]
pub unsafe extern "C" fn cudapreproc_reader_reopen(
    reader: *mut VideoReader,
    source: *const c_char,
    error: *mut *mut c_char,
) -> c_int {
    // SAFETY: per this function's contract.
    let (reader, source) = unsafe { (&mut *reader, CStr::from_ptr(source).to_string_lossy()) };
    // SAFETY: per this function's contract.
    unsafe { result_code(reader.reopen(&source), error) }
}

/// The video's metadata as lines of `key<TAB>value` (absent values are empty), freed with
/// `cudapreproc_string_free`.
///
/// # Safety
/// `reader` is live.
#[no_mangle]
pub unsafe extern "C" fn cudapreproc_reader_metadata(reader: *const VideoReader) -> *mut c_char {
    // SAFETY: per this function's contract.
    let reader = unsafe { &*reader };
    let m = reader.metadata();
    let mut text = String::new();
    let mut line = |key: &str, value: String| {
        let _ = writeln!(text, "{key}\t{}", value.replace(['\t', '\n'], " "));
    };
    line("codec", m.codec.clone());
    line("container", m.container.clone().unwrap_or_default());
    line("width", m.width.to_string());
    line("height", m.height.to_string());
    line(
        "bit_depth",
        m.bit_depth.map(|b| b.to_string()).unwrap_or_default(),
    );
    line("colorimetry", m.colorimetry.clone().unwrap_or_default());
    line(
        "framerate",
        m.framerate
            .map(|(n, d)| format!("{n}/{d}"))
            .unwrap_or_default(),
    );
    line("duration_seconds", m.duration_seconds.to_string());
    line("begin_stream_seconds", m.begin_stream_seconds.to_string());
    line("end_stream_seconds", m.end_stream_seconds.to_string());
    line("average_fps", m.average_fps.to_string());
    line("num_frames", reader.len().to_string());
    line("seekable", m.seekable.to_string());
    line("exact", reader.index().exact().to_string());
    string_for_caller(text)
}

/// Copies at most `capacity` frames' stream times and durations (nanoseconds) and key flags
/// (1 or 0), in presentation order; returns the number of frames.
///
/// # Safety
/// `reader` is live; each array is null or holds `capacity` elements.
#[no_mangle]
pub unsafe extern "C" fn cudapreproc_reader_frames(
    reader: *const VideoReader,
    stream_times_ns: *mut u64,
    durations_ns: *mut u64,
    key: *mut u8,
    capacity: u64,
) -> u64 {
    // SAFETY: per this function's contract.
    let frames = unsafe { &*reader }.index().frames();
    let copied = &frames[..frames.len().min(capacity as usize)];
    // SAFETY: per this function's contract, each array is null or holds `capacity` elements.
    unsafe {
        write_all(stream_times_ns, copied.iter().map(|f| f.stream_time_ns));
        write_all(durations_ns, copied.iter().map(|f| f.duration_ns));
        write_all(key, copied.iter().map(|f| u8::from(f.key)));
    }
    frames.len() as u64
}

/// The frames at `indices` (negative from the end), in that order.
///
/// # Safety
/// `reader` is live; `indices` holds `n` values; `batch` writable; `error` null or writable.
#[no_mangle]
pub unsafe extern "C" fn cudapreproc_reader_get_frames_at(
    reader: *mut VideoReader,
    indices: *const i64,
    n: u64,
    batch: *mut *mut Batch,
    error: *mut *mut c_char,
) -> c_int {
    // SAFETY: per this function's contract.
    let (reader, indices) = unsafe { (&mut *reader, slice_of(indices, n)) };
    // SAFETY: per this function's contract.
    unsafe { deliver(reader.get_frames_at(indices), batch, error) }
}

/// Frames `start`, `start + step`, ... before `stop`.
///
/// # Safety
/// `reader` is live; `batch` writable; `error` null or writable.
#[no_mangle]
pub unsafe extern "C" fn cudapreproc_reader_get_frames_in_range(
    reader: *mut VideoReader,
    start: u64,
    stop: u64,
    step: u64,
    batch: *mut *mut Batch,
    error: *mut *mut c_char,
) -> c_int {
    // SAFETY: per this function's contract.
    let reader = unsafe { &mut *reader };
    let result = reader.get_frames_in_range(start as usize, stop as usize, step as usize);
    // SAFETY: per this function's contract.
    unsafe { deliver(result, batch, error) }
}

/// The frames played at `seconds` (`n` times), in that order.
///
/// # Safety
/// `reader` is live; `seconds` holds `n` values; `batch` writable; `error` null or writable.
#[no_mangle]
pub unsafe extern "C" fn cudapreproc_reader_get_frames_played_at(
    reader: *mut VideoReader,
    seconds: *const f64,
    n: u64,
    batch: *mut *mut Batch,
    error: *mut *mut c_char,
) -> c_int {
    // SAFETY: per this function's contract.
    let (reader, seconds) = unsafe { (&mut *reader, slice_of(seconds, n)) };
    // SAFETY: per this function's contract.
    unsafe { deliver(reader.get_frames_played_at(seconds), batch, error) }
}

/// The frames played from `start_seconds` until `stop_seconds`.
///
/// # Safety
/// `reader` is live; `batch` writable; `error` null or writable.
#[no_mangle]
pub unsafe extern "C" fn cudapreproc_reader_get_frames_played_in_range(
    reader: *mut VideoReader,
    start_seconds: f64,
    stop_seconds: f64,
    batch: *mut *mut Batch,
    error: *mut *mut c_char,
) -> c_int {
    // SAFETY: per this function's contract.
    let reader = unsafe { &mut *reader };
    let result = reader.get_frames_played_in_range(start_seconds, stop_seconds);
    // SAFETY: per this function's contract.
    unsafe { deliver(result, batch, error) }
}

/// Frees a reader (its pipeline stops; batches taken from it stay valid).
///
/// # Safety
/// `reader` came from [`cudapreproc_reader_open`] and is freed once.
#[no_mangle]
pub unsafe extern "C" fn cudapreproc_reader_free(reader: *mut VideoReader) {
    // SAFETY: per this function's contract.
    unsafe { free_boxed(reader) }
}
