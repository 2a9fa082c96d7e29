//! Safe wrappers over NVCUVID: NVIDIA's bitstream parser, the NVDEC hardware decoder and its
//! capabilities. The parser calls back into a [`ParserClient`] from inside [`Parser::parse`];
//! the client decodes and displays pictures through a [`Decoder`], which the next stream may
//! reuse (see [`reusable`]).

pub mod ffi;
mod reuse;
mod sequence;
mod timing;

use std::cell::Cell;
use std::collections::HashMap;
use std::ffi::{c_int, c_void};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, LazyLock, Mutex};
use std::time::{Duration, Instant};

use cudarc::driver::sys::{CUresult, CUstream};

use crate::cuda::{CudaError, Device, Event, Resource, Stream, Tracked};
use crate::frame::{plane_extent, Frame, FrameView, Plane};
use ffi::Nvcuvid;
pub use reuse::{reusable, same_kind, supersedes, DecoderLimits, NewDecoderReason, Reuse};
use sequence::extent;
pub use sequence::SequenceInfo;
use timing::timed;
pub use timing::{nvcuvid_times, reset_nvcuvid_times, CallTime};

/// The parsed streams NVDEC decodes, as caps: the sink pad of `nvdec`, and what the parsers in
/// front of it (and in front of the video index, which must see the same buffers) output.
pub const PARSED_CAPS: &str =
    "video/x-h264, stream-format=(string)byte-stream, alignment=(string)au; \
    video/x-h265, stream-format=(string)byte-stream, alignment=(string)au; \
    video/x-vp8; \
    video/x-vp9; \
    video/mpeg, mpegversion=(int){ 1, 2 }, systemstream=(boolean)false, parsed=(boolean)true; \
    video/mpeg, mpegversion=(int)4, systemstream=(boolean)false, parsed=(boolean)true; \
    image/jpeg, parsed=(boolean)true; \
    video/x-av1, stream-format=(string)obu-stream, alignment=(string){ tu, frame }";

fn library() -> Result<&'static Nvcuvid, CudaError> {
    Nvcuvid::get().map_err(|e| {
        CudaError::Library(format!(
            "NVIDIA video decoder library {} not available ({e}); it ships with the NVIDIA \
             driver (in containers, enable the driver's video capability)",
            ffi::LIBRARY
        ))
    })
}

/// Runs the NVCUVID call `call`, timed ([`nvcuvid_times`]), and checks what it returned.
fn nvcuvid(call: &'static str, f: impl FnOnce() -> CUresult) -> Result<(), CudaError> {
    check(call, timed(call, f))
}

fn check(call: &'static str, result: CUresult) -> Result<(), CudaError> {
    if result == CUresult::CUDA_SUCCESS {
        Ok(())
    } else {
        Err(CudaError::Driver { call, code: result })
    }
}

/// A compression format NVDEC may decode.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Codec {
    Mpeg1,
    Mpeg2,
    Mpeg4,
    H264,
    Hevc,
    Vp8,
    Vp9,
    Jpeg,
    Av1,
}

impl Codec {
    /// Whether the parser's `ref_pic_flag` says which pictures later ones predict from: H.264
    /// (`nal_ref_idc`) and HEVC mark them. VP8, VP9 and AV1 keep their references in slots each
    /// frame may refresh, which the flag does not carry (a VP9 frame left undecoded for it
    /// garbled every frame after it), and the others are untried: for those every picture
    /// counts as a reference.
    pub fn marks_references(self) -> bool {
        matches!(self, Codec::H264 | Codec::Hevc)
    }

    fn raw(self) -> u32 {
        match self {
            Codec::Mpeg1 => ffi::codec::MPEG1,
            Codec::Mpeg2 => ffi::codec::MPEG2,
            Codec::Mpeg4 => ffi::codec::MPEG4,
            Codec::H264 => ffi::codec::H264,
            Codec::Hevc => ffi::codec::HEVC,
            Codec::Vp8 => ffi::codec::VP8,
            Codec::Vp9 => ffi::codec::VP9,
            Codec::Jpeg => ffi::codec::JPEG,
            Codec::Av1 => ffi::codec::AV1,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Codec::Mpeg1 => "MPEG-1",
            Codec::Mpeg2 => "MPEG-2",
            Codec::Mpeg4 => "MPEG-4 Part 2",
            Codec::H264 => "H.264",
            Codec::Hevc => "HEVC",
            Codec::Vp8 => "VP8",
            Codec::Vp9 => "VP9",
            Codec::Jpeg => "JPEG",
            Codec::Av1 => "AV1",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ChromaFormat {
    Monochrome,
    Yuv420,
    Yuv422,
    Yuv444,
}

impl ChromaFormat {
    fn from_raw(raw: u32) -> Self {
        match raw {
            ffi::chroma::MONOCHROME => ChromaFormat::Monochrome,
            ffi::chroma::YUV422 => ChromaFormat::Yuv422,
            ffi::chroma::YUV444 => ChromaFormat::Yuv444,
            _ => ChromaFormat::Yuv420,
        }
    }

    fn raw(self) -> u32 {
        match self {
            ChromaFormat::Monochrome => ffi::chroma::MONOCHROME,
            ChromaFormat::Yuv420 => ffi::chroma::YUV420,
            ChromaFormat::Yuv422 => ffi::chroma::YUV422,
            ChromaFormat::Yuv444 => ffi::chroma::YUV444,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            ChromaFormat::Monochrome => "4:0:0",
            ChromaFormat::Yuv420 => "4:2:0",
            ChromaFormat::Yuv422 => "4:2:2",
            ChromaFormat::Yuv444 => "4:4:4",
        }
    }
}

/// The layout the decoder writes its output surfaces in.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SurfaceFormat {
    /// 8-bit 4:2:0, Y plane then interleaved UV.
    Nv12,
    /// 16-bit 4:2:0 with the significant bits at the top (10-bit: P010 layout).
    P016,
    /// 8-bit 4:4:4, three planes.
    Yuv444,
    /// 16-bit 4:4:4, three planes, significant bits at the top.
    Yuv444_16,
}

impl SurfaceFormat {
    fn raw(self) -> u32 {
        match self {
            SurfaceFormat::Nv12 => ffi::surface::NV12,
            SurfaceFormat::P016 => ffi::surface::P016,
            SurfaceFormat::Yuv444 => ffi::surface::YUV444,
            SurfaceFormat::Yuv444_16 => ffi::surface::YUV444_16BIT,
        }
    }

    fn mask_bit(self) -> u16 {
        1 << self.raw()
    }
}

/// What the decoder does with interlaced pictures.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Deinterlace {
    /// Both fields in one frame, as coded.
    Weave,
    /// One field, line-doubled.
    Bob,
    /// Motion-adaptive deinterlacing.
    Adaptive,
}

impl Deinterlace {
    fn raw(self) -> u32 {
        match self {
            Deinterlace::Weave => ffi::deinterlace::WEAVE,
            Deinterlace::Bob => ffi::deinterlace::BOB,
            Deinterlace::Adaptive => ffi::deinterlace::ADAPTIVE,
        }
    }
}

/// What NVDEC on this device can do for one codec, chroma format and bit depth.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DecoderCaps {
    pub supported: bool,
    pub engines: u32,
    pub min_width: u32,
    pub min_height: u32,
    pub max_width: u32,
    pub max_height: u32,
    pub max_macroblocks: u32,
    output_formats: u16,
}

impl DecoderCaps {
    pub fn supports_output(&self, format: SurfaceFormat) -> bool {
        self.output_formats & format.mask_bit() != 0
    }

    /// Why `width` x `height` cannot be decoded, if it cannot.
    pub fn size_problem(&self, width: u32, height: u32) -> Option<String> {
        // In 64 bits: 2^20 x 2^20 (which H.264's syntax allows) overflows 32.
        let macroblocks = u64::from(width.div_ceil(16)) * u64::from(height.div_ceil(16));
        if width < self.min_width || height < self.min_height {
            Some(format!(
                "{width}x{height} is below the minimum {}x{}",
                self.min_width, self.min_height
            ))
        } else if width > self.max_width || height > self.max_height {
            Some(format!(
                "{width}x{height} is above the maximum {}x{}",
                self.max_width, self.max_height
            ))
        } else if macroblocks > u64::from(self.max_macroblocks) {
            Some(format!(
                "{width}x{height} has {macroblocks} macroblocks, above the maximum {}",
                self.max_macroblocks
            ))
        } else {
            None
        }
    }
}

/// What NVDEC on a device supports, by (device ordinal, codec, chroma format, bit depth), as
/// the driver answered it once in this process.
type CapsKey = (i32, Codec, ChromaFormat, u32);
static DECODER_CAPS: LazyLock<Mutex<HashMap<CapsKey, DecoderCaps>>> =
    LazyLock::new(Default::default);

/// What NVDEC on `device` supports. The driver is asked once per process and key: its answer
/// never changes, and `cuvidGetDecoderCaps` takes milliseconds and serializes across threads
/// (7 ms alone, 40 ms each with seven readers opening files), which a reader moving from file
/// to file would otherwise pay twice per file.
pub fn decoder_caps(
    device: &Device,
    codec: Codec,
    chroma: ChromaFormat,
    bit_depth: u32,
) -> Result<DecoderCaps, CudaError> {
    let key = (device.ordinal(), codec, chroma, bit_depth);
    if let Some(caps) = DECODER_CAPS.lock().unwrap().get(&key) {
        return Ok(*caps);
    }
    // Asked without the lock held: two threads may both ask once, but none waits on another's
    // driver call.
    let caps = query_decoder_caps(device, codec, chroma, bit_depth)?;
    DECODER_CAPS.lock().unwrap().insert(key, caps);
    Ok(caps)
}

fn query_decoder_caps(
    device: &Device,
    codec: Codec,
    chroma: ChromaFormat,
    bit_depth: u32,
) -> Result<DecoderCaps, CudaError> {
    let lib = library()?;
    device.bind()?;
    let mut caps = ffi::CUVIDDECODECAPS {
        eCodecType: codec.raw(),
        eChromaFormat: chroma.raw(),
        nBitDepthMinus8: bit_depth.saturating_sub(8),
        ..Default::default()
    };
    // SAFETY: `caps` is a valid CUVIDDECODECAPS with its IN fields set.
    nvcuvid("cuvidGetDecoderCaps", || unsafe {
        (lib.cuvidGetDecoderCaps)(&mut caps)
    })?;
    Ok(DecoderCaps {
        supported: caps.bIsSupported != 0,
        engines: u32::from(caps.nNumNVDECs),
        min_width: u32::from(caps.nMinWidth),
        min_height: u32::from(caps.nMinHeight),
        max_width: caps.nMaxWidth,
        max_height: caps.nMaxHeight,
        max_macroblocks: caps.nMaxMBCount,
        output_formats: caps.nOutputFormatMask,
    })
}

/// A picture the parser hands over for decoding.
pub struct Picture<'a>(&'a mut ffi::CUVIDPICPARAMS_HEAD);

impl Picture<'_> {
    /// Decode surface the picture goes to.
    pub fn index(&self) -> i32 {
        self.0.CurrPicIdx
    }

    /// Whether later pictures predict from this one, for the codecs whose parser says so
    /// ([`Codec::marks_references`]).
    pub fn is_reference(&self) -> bool {
        self.0.ref_pic_flag != 0
    }

    /// The second field of a field pair (its frame was already started by the first field).
    pub fn is_second_field(&self) -> bool {
        self.0.field_pic_flag != 0 && self.0.second_field != 0
    }
}

/// A picture ready for display, in display order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Display {
    pub index: i32,
    pub progressive: bool,
    pub top_field_first: bool,
    /// A timestamp given with the packets (see [`Parser::parse`]).
    pub timestamp: i64,
}

/// Receives the parser's callbacks during [`Parser::parse`].
pub trait ParserClient {
    /// A new or changed sequence: the number of decode surfaces to use (at least
    /// `info.min_surfaces`), or `None` to stop.
    fn sequence(&mut self, info: &SequenceInfo) -> Option<u32>;
    /// A picture to decode, in decode order; `false` stops.
    fn decode(&mut self, picture: Picture<'_>) -> bool;
    /// A decoded picture to output, in display order; `false` stops.
    fn display(&mut self, display: &Display) -> bool;
}

/// Where the parser's callbacks find the client of the `parse` call in progress.
#[derive(Default)]
struct ClientSlot {
    client: Cell<Option<*mut (dyn ParserClient + 'static)>>,
    panicked: Cell<bool>,
}

impl ClientSlot {
    /// Runs `f` on the client, catching panics (they must not unwind into the C library).
    ///
    /// # Safety
    /// `user` must be the `ClientSlot` registered with the parser.
    unsafe fn with<R>(user: *mut c_void, fail: R, f: impl FnOnce(&mut dyn ParserClient) -> R) -> R {
        // SAFETY: per this function's contract.
        let slot = unsafe { &*(user as *const ClientSlot) };
        let Some(client) = slot.client.get() else {
            return fail;
        };
        // SAFETY: the client pointer is set only for the duration of `Parser::parse`, whose
        // caller holds the exclusive borrow it came from.
        let client = unsafe { &mut *client };
        match catch_unwind(AssertUnwindSafe(|| f(client))) {
            Ok(r) => r,
            Err(_) => {
                slot.panicked.set(true);
                fail
            }
        }
    }
}

thread_local! {
    /// Whether this thread is inside a parser's sequence callback, the one place the driver
    /// lets a decoder be reconfigured.
    static IN_SEQUENCE: Cell<bool> = const { Cell::new(false) };
}

unsafe extern "C" fn on_sequence(user: *mut c_void, format: *mut ffi::CUVIDEOFORMAT) -> c_int {
    // SAFETY: NVCUVID passes the user data registered at creation and a valid format.
    let info = unsafe { SequenceInfo::from_raw(&*format) };
    // Restored after, not cleared: a client may parse another stream from inside this one.
    let outer = IN_SEQUENCE.replace(true);
    // SAFETY: as above; `with` catches the client's panics, so the flag is always restored.
    let surfaces =
        unsafe { ClientSlot::with(user, 0, |c| c.sequence(&info).map_or(0, |n| n as c_int)) };
    IN_SEQUENCE.set(outer);
    surfaces
}

unsafe extern "C" fn on_decode(user: *mut c_void, picture: *mut ffi::CUVIDPICPARAMS_HEAD) -> c_int {
    // SAFETY: NVCUVID passes the user data registered at creation and valid picture parameters.
    unsafe { ClientSlot::with(user, 0, |c| c_int::from(c.decode(Picture(&mut *picture)))) }
}

unsafe extern "C" fn on_display(user: *mut c_void, info: *mut ffi::CUVIDPARSERDISPINFO) -> c_int {
    // A null info marks the end of the stream (CUVID_PKT_NOTIFY_EOS, which we do not use).
    if info.is_null() {
        return 1;
    }
    // SAFETY: NVCUVID passes the user data registered at creation and a valid display info.
    unsafe {
        let info = &*info;
        let display = Display {
            index: info.picture_index,
            progressive: info.progressive_frame != 0,
            top_field_first: info.top_field_first != 0,
            timestamp: info.timestamp,
        };
        ClientSlot::with(user, 0, |c| c_int::from(c.display(&display)))
    }
}

/// NVIDIA's bitstream parser for one stream.
pub struct Parser {
    handle: ffi::CUvideoparser,
    slot: Box<ClientSlot>,
    _live: Tracked,
}

// SAFETY: the parser is used by one thread at a time (&mut self); its slot is only read from
// callbacks running inside `parse` on that thread.
unsafe impl Send for Parser {}

impl Parser {
    /// A parser for `codec` that keeps up to `display_delay` decoded pictures queued before
    /// display (throughput against latency).
    pub fn new(codec: Codec, display_delay: u32) -> Result<Self, CudaError> {
        let lib = library()?;
        let slot = Box::<ClientSlot>::default();
        let mut params = ffi::CUVIDPARSERPARAMS {
            CodecType: codec.raw(),
            // Raised by the sequence callback's return value once the stream's needs are known.
            ulMaxNumDecodeSurfaces: 1,
            ulClockRate: 0,
            // Decode pictures even when their bitstream is damaged: errors are concealed and
            // counted, not fatal.
            ulErrorThreshold: 100,
            ulMaxDisplayDelay: display_delay,
            flags: 0,
            uReserved1: [0; 4],
            pUserData: &*slot as *const ClientSlot as *mut c_void,
            pfnSequenceCallback: Some(on_sequence),
            pfnDecodePicture: Some(on_decode),
            pfnDisplayPicture: Some(on_display),
            pfnGetOperatingPoint: std::ptr::null_mut(),
            pfnGetSEIMsg: std::ptr::null_mut(),
            pvReserved2: [std::ptr::null_mut(); 5],
            pExtVideoInfo: std::ptr::null_mut(),
        };
        let mut handle = std::ptr::null_mut();
        // SAFETY: `params` is fully initialised; the slot outlives the parser (both owned here).
        nvcuvid("cuvidCreateVideoParser", || unsafe {
            (lib.cuvidCreateVideoParser)(&mut handle, &mut params)
        })?;
        Ok(Parser {
            handle,
            slot,
            _live: Tracked::new(Resource::Parser, 0),
        })
    }

    fn feed(
        &mut self,
        packet: &mut ffi::CUVIDSOURCEDATAPACKET,
        client: &mut dyn ParserClient,
    ) -> Result<(), CudaError> {
        let lib = library()?;
        // SAFETY: the client lives for this call; the slot forgets it before returning, so the
        // erased lifetime is never observed past the borrow.
        let client: *mut (dyn ParserClient + 'static) =
            unsafe { std::mem::transmute(client as *mut dyn ParserClient) };
        self.slot.client.set(Some(client));
        self.slot.panicked.set(false);
        // SAFETY: a valid parser and packet; callbacks run on this thread, inside this call.
        let result = timed("cuvidParseVideoData", || unsafe {
            (lib.cuvidParseVideoData)(self.handle, packet)
        });
        self.slot.client.set(None);
        if self.slot.panicked.get() {
            return Err(CudaError::Invalid(
                "a decoder callback panicked; see the log".into(),
            ));
        }
        check("cuvidParseVideoData", result)
    }

    /// Parses `data` (one access unit / frame when `end_of_picture`), calling `client` for
    /// every sequence, picture to decode and picture to display.
    ///
    /// The parser hands the timestamps it was given to displayed pictures in increasing order
    /// (it does not keep each picture's own): with presentation timestamps, each displayed
    /// picture gets its own.
    pub fn parse(
        &mut self,
        data: &[u8],
        timestamp: Option<i64>,
        end_of_picture: bool,
        client: &mut dyn ParserClient,
    ) -> Result<(), CudaError> {
        let mut flags = 0;
        if timestamp.is_some() {
            flags |= ffi::CUVID_PKT_TIMESTAMP;
        }
        if end_of_picture {
            flags |= ffi::CUVID_PKT_ENDOFPICTURE;
        }
        let mut packet = ffi::CUVIDSOURCEDATAPACKET {
            flags,
            payload_size: data.len() as _,
            payload: data.as_ptr(),
            timestamp: timestamp.unwrap_or(0),
        };
        self.feed(&mut packet, client)
    }

    /// Ends the stream: every picture still queued is displayed through `client`, and the
    /// parser starts afresh (waiting for a sequence header) with the next data.
    pub fn end_of_stream(&mut self, client: &mut dyn ParserClient) -> Result<(), CudaError> {
        let mut packet = ffi::CUVIDSOURCEDATAPACKET {
            flags: ffi::CUVID_PKT_ENDOFSTREAM,
            payload_size: 0,
            payload: std::ptr::null(),
            timestamp: 0,
        };
        self.feed(&mut packet, client)
    }
}

impl Drop for Parser {
    fn drop(&mut self) {
        if let Ok(lib) = library() {
            // SAFETY: the handle came from cuvidCreateVideoParser and is destroyed once.
            timed("cuvidDestroyVideoParser", || unsafe {
                (lib.cuvidDestroyVideoParser)(self.handle)
            });
        }
    }
}

/// How to create a [`Decoder`], or what to reconfigure one to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DecoderConfig {
    pub codec: Codec,
    pub chroma: ChromaFormat,
    pub bit_depth: u32,
    pub coded_width: u32,
    pub coded_height: u32,
    /// Visible rectangle to output: left, top, right, bottom.
    pub display_area: (i32, i32, i32, i32),
    pub surfaces: u32,
    /// Frames that may be mapped at once.
    pub output_surfaces: u32,
    pub output_format: SurfaceFormat,
    pub deinterlace: Deinterlace,
    /// The largest coded size the decoder may later be reconfigured to; `None` for the coded
    /// size, as is any side below it. The decode surfaces are allocated for it. A [`Decoder`]'s
    /// configuration keeps the one it was created with.
    pub max_coded_size: Option<(u32, u32)>,
}

impl DecoderConfig {
    /// The configuration that decodes `seq` as its header announced it (chroma, depth, coded
    /// size, visible rectangle) into `surfaces` decode surfaces, `output_surfaces` of which may
    /// be mapped at once, as `output_format`; weaving fields, with no room to grow.
    pub fn for_sequence(
        codec: Codec,
        seq: &SequenceInfo,
        surfaces: u32,
        output_surfaces: u32,
        output_format: SurfaceFormat,
    ) -> Self {
        DecoderConfig {
            codec,
            chroma: seq.chroma,
            bit_depth: seq.bit_depth,
            coded_width: seq.coded_width,
            coded_height: seq.coded_height,
            display_area: seq.display_area,
            surfaces,
            output_surfaces,
            output_format,
            deinterlace: Deinterlace::Weave,
            max_coded_size: None,
        }
    }

    /// Size of the output surfaces (the visible rectangle; 0 for an inverted one).
    pub fn output_size(&self) -> (u32, u32) {
        extent(self.display_area)
    }

    /// The maximum coded size a decoder created with this configuration gets: `max_coded_size`,
    /// at least the coded size.
    pub fn max_size(&self) -> (u32, u32) {
        let (width, height) = self.max_coded_size.unwrap_or_default();
        (width.max(self.coded_width), height.max(self.coded_height))
    }
}

/// The decoder's visible rectangle in the driver's 16-bit form.
fn rect16((left, top, right, bottom): (i32, i32, i32, i32)) -> ffi::Rect16 {
    ffi::Rect16 {
        left: left as i16,
        top: top as i16,
        right: right as i16,
        bottom: bottom as i16,
    }
}

/// Outcome of decoding one picture, when the driver can tell.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DecodeStatus {
    Ok,
    /// The bitstream was damaged and the errors were concealed.
    Concealed,
    /// The bitstream was damaged and the picture is not usable.
    Failed,
}

/// The driver's decoder, shared by the [`Decoder`] and its mapped pictures, so that it is
/// destroyed only once none is mapped any more.
struct Session {
    handle: ffi::CUvideodecoder,
    device: Arc<Device>,
    /// Decode surfaces (a bit per index) whose decode was queued and not yet seen to finish.
    queued: AtomicU64,
    /// Events of unmapped pictures, for the next ones.
    spare_events: Mutex<Vec<Event>>,
    _live: Tracked,
}

// SAFETY: the decoder handle may be used from any thread with its context bound (done before
// every call); the element serialises decoding, and unmapping takes no other state.
unsafe impl Send for Session {}
unsafe impl Sync for Session {}

impl Drop for Session {
    fn drop(&mut self) {
        if let (Ok(lib), Ok(())) = (library(), self.device.bind()) {
            // SAFETY: the handle came from cuvidCreateDecoder and is destroyed once.
            timed("cuvidDestroyDecoder", || unsafe {
                (lib.cuvidDestroyDecoder)(self.handle)
            });
        }
    }
}

/// The bit of decode surface `index` in [`Session::queued`].
fn surface_bit(index: i32) -> Option<u64> {
    (0..64).contains(&index).then(|| 1u64 << index)
}

/// One NVDEC decoder session.
pub struct Decoder {
    session: Arc<Session>,
    config: DecoderConfig,
    limits: DecoderLimits,
}

impl Decoder {
    pub fn new(device: &Arc<Device>, config: DecoderConfig) -> Result<Self, CudaError> {
        let lib = library()?;
        device.bind()?;
        let limits = DecoderLimits::of(&config);
        let (max_width, max_height) = limits.max_coded_size;
        let (width, height) = config.output_size();
        let mut info = ffi::CUVIDDECODECREATEINFO {
            ulWidth: config.coded_width.into(),
            ulHeight: config.coded_height.into(),
            ulNumDecodeSurfaces: config.surfaces.into(),
            CodecType: config.codec.raw(),
            ChromaFormat: config.chroma.raw(),
            // cudaVideoCreate_PreferCUVID: the dedicated decode engines.
            ulCreationFlags: 0x04,
            bitDepthMinus8: (config.bit_depth - 8).into(),
            ulIntraDecodeOnly: 0,
            ulMaxWidth: max_width.into(),
            ulMaxHeight: max_height.into(),
            Reserved1: 0,
            display_area: rect16(config.display_area),
            OutputFormat: config.output_format.raw(),
            DeinterlaceMode: config.deinterlace.raw(),
            ulTargetWidth: width.into(),
            ulTargetHeight: height.into(),
            ulNumOutputSurfaces: config.output_surfaces.into(),
            vidLock: std::ptr::null_mut(),
            target_rect: ffi::Rect16::default(),
            enableHistogram: 0,
            Reserved2: [0; 4],
        };
        let mut handle = std::ptr::null_mut();
        // SAFETY: `info` is fully initialised; the device's context is current.
        nvcuvid("cuvidCreateDecoder", || unsafe {
            (lib.cuvidCreateDecoder)(&mut handle, &mut info)
        })?;
        Ok(Decoder {
            session: Arc::new(Session {
                handle,
                device: device.clone(),
                queued: AtomicU64::new(0),
                spare_events: Mutex::new(Vec::new()),
                _live: Tracked::new(Resource::Decoder, 0),
            }),
            config,
            limits,
        })
    }

    /// The configuration being decoded: the one the decoder was created with, or the last one
    /// it was reconfigured to (with the creation's `max_coded_size`).
    pub fn config(&self) -> &DecoderConfig {
        &self.config
    }

    /// What the decoder was created with, which reconfiguring it cannot go beyond.
    pub fn limits(&self) -> DecoderLimits {
        self.limits
    }

    /// Takes the decoder to `config` where [`reusable`] allows it, instead of creating a new
    /// one: [`Reuse::Same`] (nothing to do), [`Reuse::Reconfigure`] (done), or
    /// [`Reuse::NewDecoder`], leaving the decoder as it was.
    ///
    /// The driver takes a reconfiguration only from the parser's sequence callback, where the
    /// parser learns the new number of decode surfaces: call it from
    /// [`ParserClient::sequence`], once every picture of this decoder has been released (a
    /// mapped picture was laid out for the old configuration). Both are checked, and refused
    /// with an error. After the driver's own error the decoder's state is unknown: drop it.
    pub fn reconfigure(&mut self, config: DecoderConfig) -> Result<Reuse, CudaError> {
        let reuse = reusable(&self.config, self.limits, &config);
        if reuse != Reuse::Reconfigure {
            return Ok(reuse);
        }
        let lib = library()?;
        let Some(reconfigure) = lib.cuvidReconfigureDecoder else {
            return Ok(Reuse::NewDecoder(NewDecoderReason::NoReconfigure));
        };
        if !IN_SEQUENCE.get() {
            return Err(CudaError::Invalid(
                "a decoder can only be reconfigured from the parser's sequence callback \
                 (ParserClient::sequence)"
                    .into(),
            ));
        }
        // Every mapped picture holds the session, and only `map` (which `&mut self` excludes
        // now) adds holders: a count of one stays one until this returns.
        let mapped = Arc::strong_count(&self.session) - 1;
        if mapped > 0 {
            return Err(CudaError::Invalid(format!(
                "a decoder cannot be reconfigured with {mapped} of its pictures still mapped; \
                 release them first"
            )));
        }
        self.session.device.bind()?;
        // The old stream's pictures nobody displayed may still be decoding into the surfaces
        // about to change.
        self.finish_queued()?;
        let (width, height) = config.output_size();
        let mut info = ffi::CUVIDRECONFIGUREDECODERINFO {
            ulWidth: config.coded_width,
            ulHeight: config.coded_height,
            ulTargetWidth: width,
            ulTargetHeight: height,
            ulNumDecodeSurfaces: config.surfaces,
            display_area: rect16(config.display_area),
            ..Default::default()
        };
        // SAFETY: a valid decoder with no picture mapped or decoding, its context current,
        // inside the parser's sequence callback; `info` is fully initialised, its reserved
        // fields zero.
        nvcuvid("cuvidReconfigureDecoder", || unsafe {
            reconfigure(self.session.handle, &mut info)
        })?;
        self.config = DecoderConfig {
            max_coded_size: self.config.max_coded_size,
            ..config
        };
        Ok(Reuse::Reconfigure)
    }

    /// Starts decoding `picture` (asynchronous, on the decode engine).
    pub fn decode(&self, picture: &mut Picture<'_>) -> Result<(), CudaError> {
        let lib = library()?;
        self.session.device.bind()?;
        // SAFETY: the picture parameters come from the parser, for this stream.
        nvcuvid("cuvidDecodePicture", || unsafe {
            (lib.cuvidDecodePicture)(self.session.handle, picture.0)
        })?;
        if let Some(bit) = surface_bit(picture.index()) {
            self.session.queued.fetch_or(bit, Ordering::Relaxed);
        }
        Ok(())
    }

    /// Waits until every decode queued has finished: the surfaces are then the decoder's own
    /// to change.
    fn finish_queued(&self) -> Result<(), CudaError> {
        let queued = self.session.queued.swap(0, Ordering::Relaxed);
        for index in (0..64).filter(|i| queued & (1u64 << i) != 0) {
            self.wait_decoded(index)?;
        }
        Ok(())
    }

    /// Waits until the decode of picture `index` has finished, polling its status where the
    /// driver reports one, else mapping it (a map waits for the decode).
    fn wait_decoded(&self, index: i32) -> Result<(), CudaError> {
        const LIMIT: Duration = Duration::from_secs(10);
        let started = Instant::now();
        loop {
            match self.raw_status(index)? {
                None => {
                    let display = Display {
                        index,
                        progressive: true,
                        top_field_first: false,
                        timestamp: 0,
                    };
                    return self.map_on(&display, std::ptr::null_mut())?.release();
                }
                Some(ffi::decode_status::IN_PROGRESS) if started.elapsed() < LIMIT => {
                    std::thread::sleep(Duration::from_micros(100));
                }
                Some(ffi::decode_status::IN_PROGRESS) => {
                    return Err(CudaError::Invalid(format!(
                        "picture {index} still decoding after {} s",
                        LIMIT.as_secs()
                    )));
                }
                Some(_) => return Ok(()),
            }
        }
    }

    /// The driver's decode status of picture `index`; `None` where it keeps none (codecs
    /// other than H.264, HEVC and JPEG on some drivers).
    fn raw_status(&self, index: i32) -> Result<Option<u32>, CudaError> {
        let lib = library()?;
        self.session.device.bind()?;
        // SAFETY: an all-zero status struct is a valid out-parameter.
        let mut status: ffi::CUVIDGETDECODESTATUS = unsafe { std::mem::zeroed() };
        // SAFETY: valid decoder and out-parameter.
        let result = timed("cuvidGetDecodeStatus", || unsafe {
            (lib.cuvidGetDecodeStatus)(self.session.handle, index, &mut status)
        });
        if result == CUresult::CUDA_ERROR_NOT_SUPPORTED {
            return Ok(None);
        }
        check("cuvidGetDecodeStatus", result)?;
        Ok(Some(status.decodeStatus))
    }

    /// Whether decoding picture `index` went wrong, where the driver can say (H.264, HEVC,
    /// JPEG); `Ok` where it cannot.
    pub fn status(&self, index: i32) -> Result<DecodeStatus, CudaError> {
        Ok(match self.raw_status(index)? {
            Some(ffi::decode_status::ERROR) => DecodeStatus::Failed,
            Some(ffi::decode_status::ERROR_CONCEALED) => DecodeStatus::Concealed,
            _ => DecodeStatus::Ok,
        })
    }

    /// Maps the decoded picture of `display` for reading; post-processing (cropping, format
    /// conversion, deinterlacing) runs on `stream`, so work queued after on `stream` sees the
    /// frame.
    pub fn map(&self, display: &Display, stream: &Stream) -> Result<MappedPicture, CudaError> {
        self.map_on(display, stream.raw())
    }

    /// [`Self::map`] with post-processing on `stream` (null: the context's default stream).
    fn map_on(&self, display: &Display, stream: CUstream) -> Result<MappedPicture, CudaError> {
        let lib = library()?;
        self.session.device.bind()?;
        // SAFETY: an all-zero CUVIDPROCPARAMS is the documented default.
        let mut params: ffi::CUVIDPROCPARAMS = unsafe { std::mem::zeroed() };
        params.progressive_frame = c_int::from(display.progressive);
        params.top_field_first = c_int::from(display.top_field_first);
        params.output_stream = stream;
        let (mut addr, mut pitch) = (0u64, 0u32);
        // SAFETY: valid decoder, picture index from the parser, valid out-parameters.
        nvcuvid("cuvidMapVideoFrame", || unsafe {
            (lib.cuvidMapVideoFrame64)(
                self.session.handle,
                display.index,
                &mut addr,
                &mut pitch,
                &mut params,
            )
        })?;
        // Mapping waits for the decode.
        if let Some(bit) = surface_bit(display.index) {
            self.session.queued.fetch_and(!bit, Ordering::Relaxed);
        }
        Resource::MappedFrame.acquired(0);
        let (width, height) = self.config.output_size();
        Ok(MappedPicture {
            session: self.session.clone(),
            addr,
            pitch: pitch as usize,
            // Planes follow each other at an even row count.
            plane_rows: ((height + 1) & !1) as usize,
            size: (width, height),
            read: None,
            mapped: true,
        })
    }
}

/// A decoded picture mapped for reading: its planes follow one another from one address, each
/// row `pitch` bytes, each plane starting `plane_rows` rows after the one before. Unmapped when
/// released or dropped, once the reads recorded with [`Self::end_read`] have run; the decoder
/// lives on until then.
pub struct MappedPicture {
    session: Arc<Session>,
    addr: u64,
    pitch: usize,
    plane_rows: usize,
    size: (u32, u32),
    /// Completes once the work reading the picture has run.
    read: Option<Event>,
    mapped: bool,
}

impl std::fmt::Debug for MappedPicture {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MappedPicture")
            .field("size", &self.size)
            .field("pitch", &self.pitch)
            .field("plane_rows", &self.plane_rows)
            .finish()
    }
}

impl MappedPicture {
    /// The picture as a frame of `format`, the video format the decoder's output surface
    /// format holds (NV12 for its NV12, P010_10LE or P016_LE for P016...).
    pub fn view(&self, format: gst_video::VideoFormat) -> Result<FrameView<'_>, CudaError> {
        let (width, height) = self.size;
        let n_planes = gst_video::VideoFormatInfo::from_format(format).n_planes() as usize;
        let mut planes = [Plane::default(); gst_video::VIDEO_MAX_PLANES];
        for (index, plane) in planes.iter_mut().enumerate().take(n_planes) {
            let (row_bytes, rows) = plane_extent(format, width, height, index);
            if n_planes > 3 || row_bytes > self.pitch || rows > self.plane_rows {
                return Err(CudaError::Invalid(format!(
                    "a {width}x{height} {} frame does not fit the decoder's surface ({} bytes \
                     a row, {} rows a plane)",
                    format.to_str(),
                    self.pitch,
                    self.plane_rows
                )));
            }
            *plane = Plane {
                addr: self.addr + (index * self.plane_rows * self.pitch) as u64,
                pitch: self.pitch,
            };
        }
        Ok(FrameView::new(Frame {
            format,
            width,
            height,
            planes,
            device: self.session.device.ordinal(),
        }))
    }

    /// Records that the work reading the picture has been queued on `stream`.
    pub fn end_read(&mut self, stream: &Stream) -> Result<(), CudaError> {
        let event = match self.read.take() {
            Some(event) => event,
            None => match self.session.spare_events.lock().unwrap().pop() {
                Some(event) => event,
                None => self.session.device.new_event()?,
            },
        };
        stream.record(&event)?;
        self.read = Some(event);
        Ok(())
    }

    /// Unmaps the picture once the reads recorded have run (waiting on the host for them if
    /// need be).
    pub fn release(mut self) -> Result<(), CudaError> {
        self.unmap()
    }

    fn unmap(&mut self) -> Result<(), CudaError> {
        if !self.mapped {
            return Ok(());
        }
        self.mapped = false;
        if let Some(event) = self.read.take() {
            let waited = event.synchronize();
            self.session.spare_events.lock().unwrap().push(event);
            waited?;
        }
        let lib = library()?;
        self.session.device.bind()?;
        // SAFETY: the address came from cuvidMapVideoFrame64 on this decoder, which the session
        // keeps alive, and the reads of it have run.
        nvcuvid("cuvidUnmapVideoFrame", || unsafe {
            (lib.cuvidUnmapVideoFrame64)(self.session.handle, self.addr)
        })?;
        Resource::MappedFrame.released(0);
        Ok(())
    }
}

impl Drop for MappedPicture {
    fn drop(&mut self) {
        // Nobody to report a failure to here; `release` reports it.
        let _ = self.unmap();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_h264_and_hevc_pictures_may_be_left_undecoded() {
        let skippable: Vec<Codec> = [
            Codec::Mpeg1,
            Codec::Mpeg2,
            Codec::Mpeg4,
            Codec::H264,
            Codec::Hevc,
            Codec::Vp8,
            Codec::Vp9,
            Codec::Jpeg,
            Codec::Av1,
        ]
        .into_iter()
        .filter(|c| c.marks_references())
        .collect();
        assert_eq!(skippable, [Codec::H264, Codec::Hevc]);
    }

    #[test]
    fn sizes_from_the_bitstream_do_not_overflow() {
        // Found by fuzzing (nvdec_sequence): an inverted display rectangle gave a decoder
        // output size of 2^32 - n rows, and a rectangle over 2^31 wide overflowed i32.
        let seq = |display_area| SequenceInfo {
            coded_width: 1920,
            coded_height: 1088,
            display_area,
            bit_depth: 8,
            chroma: ChromaFormat::Yuv420,
            min_surfaces: 4,
            progressive: true,
            frame_rate: (30, 1),
            aspect_ratio: (16, 9),
            full_range: false,
            color_primaries: 1,
            transfer_characteristics: 1,
            matrix_coefficients: 1,
        };
        for (area, size) in [
            ((0, 0, 1920, 1080), (1920, 1080)),
            ((0, 2555904, 12032, 4), (12032, 0)),
            ((i32::MIN, i32::MIN, i32::MAX, 0), (u32::MAX, 1 << 31)),
        ] {
            let seq = seq(area);
            assert_eq!(seq.display_size(), size, "{area:?}");
            let config = DecoderConfig::for_sequence(Codec::H264, &seq, 8, 4, SurfaceFormat::Nv12);
            assert_eq!(config.output_size(), size, "{area:?}");
        }
        // 2^20 x 2^20 (H.264's syntax allows it) has 2^32 macroblocks.
        let caps = DecoderCaps {
            supported: true,
            engines: 1,
            min_width: 48,
            min_height: 16,
            max_width: u32::MAX,
            max_height: u32::MAX,
            max_macroblocks: 262144,
            output_formats: 1,
        };
        assert!(caps
            .size_problem(1 << 20, 1 << 20)
            .unwrap()
            .contains("4294967296 macroblocks"));
        assert_eq!(caps.size_problem(4096, 2304), None);
    }

    /// Records whether its sequence callback ran where a decoder may be reconfigured.
    struct SequenceRecorder {
        in_sequence: Option<bool>,
        panic: bool,
    }

    impl ParserClient for SequenceRecorder {
        fn sequence(&mut self, _: &SequenceInfo) -> Option<u32> {
            self.in_sequence = Some(IN_SEQUENCE.get());
            assert!(!self.panic, "the client fails");
            Some(3)
        }

        fn decode(&mut self, _: Picture<'_>) -> bool {
            false
        }

        fn display(&mut self, _: &Display) -> bool {
            false
        }
    }

    #[test]
    fn reconfiguring_is_allowed_only_inside_the_sequence_callback() {
        for panic in [false, true] {
            let mut client = SequenceRecorder {
                in_sequence: None,
                panic,
            };
            let slot = ClientSlot::default();
            let pointer: *mut (dyn ParserClient + 'static) = &mut client;
            slot.client.set(Some(pointer));
            let mut format = ffi::CUVIDEOFORMAT::default();
            assert!(!IN_SEQUENCE.get());
            // SAFETY: the slot holds a live client; the format is a valid CUVIDEOFORMAT.
            let surfaces =
                unsafe { on_sequence(&slot as *const ClientSlot as *mut c_void, &mut format) };
            assert_eq!(surfaces, if panic { 0 } else { 3 });
            assert_eq!(slot.panicked.get(), panic);
            assert_eq!(client.in_sequence, Some(true));
            // Cleared after, even when the client panicked.
            assert!(!IN_SEQUENCE.get());
        }
    }
}
