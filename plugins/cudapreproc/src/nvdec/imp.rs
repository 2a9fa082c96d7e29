use std::collections::VecDeque;
use std::sync::{Arc, LazyLock, Mutex};

use gst::glib;
use gst::prelude::*;
use gst::subclass::prelude::*;
use gst_video::prelude::*;
use gst_video::subclass::prelude::*;

use super::DeinterlaceMode;
use crate::cuda::filter::{self, cuda_features};
use crate::cuda::frame::{self, Output, Planes, Staging};
use crate::cuda::{CudaError, Device, Event, Stream};
use crate::cuvid::{
    self, ChromaFormat, Codec, DecodeStatus, Decoder, DecoderConfig, Deinterlace, Display,
    MappedFrame, Parser, ParserClient, Picture, SequenceInfo, SurfaceFormat,
};
use crate::negotiation::{self, Downstream};
use crate::property::factory_name;

static CAT: LazyLock<gst::DebugCategory> = LazyLock::new(|| {
    gst::DebugCategory::new(
        "nvdec",
        gst::DebugColorFlags::empty(),
        Some("NVDEC video decoder"),
    )
});

const DEFAULT_DEVICE_ID: i32 = 0;
const DEFAULT_DISPLAY_DELAY: u32 = 4;
const DEFAULT_DECODE_SURFACES: u32 = 0;
const DEFAULT_DEINTERLACE: DeinterlaceMode = DeinterlaceMode::Weave;
const DEFAULT_OUTPUT_EVERY: u32 = 1;
const DEFAULT_KEYFRAMES_ONLY: bool = false;

/// Decoded frames that may be mapped at once: one being copied, the rest waiting for their
/// copies to finish before being unmapped.
const OUTPUT_SURFACES: u32 = 4;
/// The decoder's limit on decode surfaces.
const MAX_DECODE_SURFACES: u32 = 32;
/// Highest picture index a parser uses (decode surfaces are indexed from 0).
const MAX_PICTURES: usize = 64;

const SINK_CAPS: &str = "video/x-h264, stream-format=(string)byte-stream, alignment=(string)au; \
    video/x-h265, stream-format=(string)byte-stream, alignment=(string)au; \
    video/x-vp8; \
    video/x-vp9; \
    video/mpeg, mpegversion=(int){ 1, 2 }, systemstream=(boolean)false, parsed=(boolean)true; \
    video/mpeg, mpegversion=(int)4, systemstream=(boolean)false, parsed=(boolean)true; \
    image/jpeg, parsed=(boolean)true; \
    video/x-av1, stream-format=(string)obu-stream, alignment=(string){ tu, frame }";

const OUTPUT_FORMATS: &[&str] = &["NV12", "P010_10LE", "P016_LE", "Y444", "Y444_16LE"];

#[derive(Debug, Clone, Copy)]
struct Settings {
    device_id: i32,
    display_delay: u32,
    decode_surfaces: u32,
    deinterlace: DeinterlaceMode,
    output_every: u32,
    keyframes_only: bool,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            device_id: DEFAULT_DEVICE_ID,
            display_delay: DEFAULT_DISPLAY_DELAY,
            decode_surfaces: DEFAULT_DECODE_SURFACES,
            deinterlace: DEFAULT_DEINTERLACE,
            output_every: DEFAULT_OUTPUT_EVERY,
            keyframes_only: DEFAULT_KEYFRAMES_ONLY,
        }
    }
}

/// The GPU the decoder runs on; also needed by allocation queries, outside the stream lock.
#[derive(Clone)]
struct Gpu {
    device: Arc<Device>,
    stream: Arc<Stream>,
}

/// The negotiated output.
struct OutputFormat {
    info: gst_video::VideoInfo,
    /// Interlaced frames are output woven, flagged per buffer.
    woven: bool,
    /// What is decoded, for messages: "8-bit 4:2:0 H.264".
    stream: String,
}

/// Everything the parser's callbacks work on.
struct DecodeState {
    codec: Codec,
    settings: Settings,
    /// Framerate and pixel aspect ratio from the input caps, preferred to the bitstream's.
    input_fps: Option<gst::Fraction>,
    input_par: Option<gst::Fraction>,
    decoder: Option<Decoder>,
    output: Option<OutputFormat>,
    staging: Staging,
    /// Mapped frames whose copies are queued, with the event that marks each copy done.
    mapped: VecDeque<(MappedFrame, Event)>,
    spare_events: Vec<Event>,
    /// Pictures (by index) decoded or skipped but not to be output (`output-every`).
    hidden: [bool; MAX_PICTURES],
    /// Pictures seen in decode order since the start (for `output-every`).
    decoded: u64,
}

impl DecodeState {
    /// Unmaps frames whose copies have run until at most `keep` stay mapped (waiting on the
    /// host only when the oldest copy is still running).
    fn retire_mapped(&mut self, keep: usize) -> Result<(), CudaError> {
        while self.mapped.len() > keep {
            let (mapped, event) = self.mapped.pop_front().unwrap();
            event.synchronize()?;
            if let Some(decoder) = &self.decoder {
                decoder.unmap(mapped)?;
            }
            self.spare_events.push(event);
        }
        Ok(())
    }
}

impl Drop for DecodeState {
    /// Frames still mapped (a stop or new format without a drain) are unmapped while their
    /// decoder exists, once the copies reading them have run.
    fn drop(&mut self) {
        if let Err(e) = self.retire_mapped(0) {
            gst::warning!(CAT, "unmapping decoded frames: {e}");
        }
    }
}

struct Session {
    parser: Parser,
    /// Codec configuration from the caps (`codec_data`), fed before the first frame.
    codec_data: Option<gst::Buffer>,
    codec_data_sent: bool,
    state: DecodeState,
}

#[derive(Default)]
pub struct NvDec {
    settings: Mutex<Settings>,
    gpu: Mutex<Option<Gpu>>,
    /// Taken out while the parser runs (its callbacks negotiate and push downstream, which may
    /// call back into this element).
    session: Mutex<Option<Session>>,
}

fn codec_of(caps: &gst::CapsRef) -> Option<Codec> {
    let s = caps.structure(0)?;
    match s.name().as_str() {
        "video/x-h264" => Some(Codec::H264),
        "video/x-h265" => Some(Codec::Hevc),
        "video/x-vp8" => Some(Codec::Vp8),
        "video/x-vp9" => Some(Codec::Vp9),
        "image/jpeg" => Some(Codec::Jpeg),
        "video/x-av1" => Some(Codec::Av1),
        "video/mpeg" => match s.get::<i32>("mpegversion").ok()? {
            1 => Some(Codec::Mpeg1),
            2 => Some(Codec::Mpeg2),
            4 => Some(Codec::Mpeg4),
            _ => None,
        },
        _ => None,
    }
}

/// The surface format and GStreamer format the decoder outputs for a sequence.
pub(crate) fn output_formats(
    chroma: ChromaFormat,
    bit_depth: u32,
) -> Option<(SurfaceFormat, gst_video::VideoFormat)> {
    use gst_video::VideoFormat as F;
    match (chroma, bit_depth) {
        (ChromaFormat::Monochrome | ChromaFormat::Yuv420, 8) => {
            Some((SurfaceFormat::Nv12, F::Nv12))
        }
        (ChromaFormat::Monochrome | ChromaFormat::Yuv420, 10) => {
            Some((SurfaceFormat::P016, F::P01010le))
        }
        (ChromaFormat::Monochrome | ChromaFormat::Yuv420, 12) => {
            Some((SurfaceFormat::P016, F::P016Le))
        }
        (ChromaFormat::Yuv444, 8) => Some((SurfaceFormat::Yuv444, F::Y444)),
        (ChromaFormat::Yuv444, 10 | 12) => Some((SurfaceFormat::Yuv444_16, F::Y44416le)),
        _ => None,
    }
}

/// `num / den` (both positive) as a GStreamer fraction: reduced, approximated when it does
/// not fit 32 bits, `None` when even that fails. The values come from the bitstream (an H.264
/// time_scale is any u32): cast to i32 they could be negative, and their products overflow.
fn fraction(num: u64, den: u64) -> Option<gst::Fraction> {
    let (mut a, mut b) = (num, den);
    while b != 0 {
        (a, b) = (b, a % b);
    }
    let (num, den) = (num / a, den / a);
    match (i32::try_from(num), i32::try_from(den)) {
        (Ok(num), Ok(den)) => Some(gst::Fraction::new(num, den)),
        _ => gst::Fraction::approximate_f64(num as f64 / den as f64)
            .filter(|f| f.numer() > 0 && f.denom() > 0),
    }
}

/// The framerate a sequence header announces; 0/1 when unknown.
pub(crate) fn sequence_fps(seq: &SequenceInfo) -> gst::Fraction {
    match seq.frame_rate {
        (n, d) if n > 0 && d > 0 => fraction(n.into(), d.into()),
        _ => None,
    }
    .unwrap_or(gst::Fraction::new(0, 1))
}

/// The pixel aspect ratio of a `width` x `height` picture shown at the display aspect ratio a
/// sequence header announces; 1/1 when unknown.
pub(crate) fn sequence_par(seq: &SequenceInfo, width: u32, height: u32) -> gst::Fraction {
    match seq.aspect_ratio {
        (x, y) if x > 0 && y > 0 && width > 0 && height > 0 => {
            fraction(x as u64 * u64::from(height), y as u64 * u64::from(width))
        }
        _ => None,
    }
    .unwrap_or(gst::Fraction::new(1, 1))
}

/// Colorimetry from the bitstream's signal description; GStreamer's default for the size when
/// the stream leaves the matrix unspecified.
pub(crate) fn colorimetry(
    seq: &SequenceInfo,
    default: &gst_video::VideoColorimetry,
) -> gst_video::VideoColorimetry {
    const UNSPECIFIED: u8 = 2;
    let range = if seq.full_range {
        gst_video::VideoColorRange::Range0_255
    } else {
        gst_video::VideoColorRange::Range16_235
    };
    let pick = |code: u8, from_iso: gst_video::VideoColorMatrix, fallback| {
        if code == UNSPECIFIED || from_iso == gst_video::VideoColorMatrix::Unknown {
            fallback
        } else {
            from_iso
        }
    };
    let matrix = pick(
        seq.matrix_coefficients,
        gst_video::VideoColorMatrix::from_iso(u32::from(seq.matrix_coefficients)),
        default.matrix(),
    );
    let transfer =
        match gst_video::VideoTransferFunction::from_iso(u32::from(seq.transfer_characteristics)) {
            gst_video::VideoTransferFunction::Unknown => default.transfer(),
            t if seq.transfer_characteristics == UNSPECIFIED => {
                let _ = t;
                default.transfer()
            }
            t => t,
        };
    let primaries = match gst_video::VideoColorPrimaries::from_iso(u32::from(seq.color_primaries)) {
        gst_video::VideoColorPrimaries::Unknown => default.primaries(),
        _ if seq.color_primaries == UNSPECIFIED => default.primaries(),
        p => p,
    };
    gst_video::VideoColorimetry::new(range, matrix, transfer, primaries)
}

/// Why downstream takes none of the caps `name` offers (`offered`) for a `stream` ("8-bit
/// 4:2:0 H.264").
fn refusal(name: &str, stream: &str, offered: &gst::Caps, downstream: &Downstream) -> String {
    negotiation::explain(name, offered, downstream, |field| match field {
        "format" => Some(format!(
            "what NVDEC outputs for this {stream} stream; cudacvtcolor after {name} converts"
        )),
        "width" | "height" => Some(format!(
            "the stream's picture size; cudawarpaffine after {name} resizes"
        )),
        "interlace-mode" => {
            Some("deinterlace-mode=bob or adaptive outputs progressive frames".into())
        }
        _ => Some("the stream's".into()),
    })
}

/// Why a sequence could not be set up or a picture output.
enum OutputError {
    Cuda(CudaError),
    /// Downstream or the base class stopped the flow (or a refusal was posted already).
    Flow(gst::FlowError),
}

impl From<CudaError> for OutputError {
    fn from(e: CudaError) -> Self {
        OutputError::Cuda(e)
    }
}

/// The parser's client for one `parse` call: decodes, and outputs displayed pictures through
/// the element.
struct Client<'a> {
    imp: &'a NvDec,
    gpu: &'a Gpu,
    state: &'a mut DecodeState,
    /// System frame number of the packet being parsed.
    current: Option<u32>,
    /// Frames whose packet held only the second field of a picture: never displayed.
    second_fields: Vec<u32>,
    /// The first failure, which ends the parse call.
    result: Result<gst::FlowSuccess, gst::FlowError>,
}

impl Client<'_> {
    fn fail(&mut self, error: gst::FlowError) {
        if self.result.is_ok() {
            self.result = Err(error);
        }
    }

    fn post(&mut self, error: &CudaError) -> bool {
        self.imp.obj().post_error_message(error.to_error_message());
        self.fail(gst::FlowError::Error);
        false
    }

    /// Counts a damaged picture against `max-errors`; `false` once past the limit.
    fn damaged(&mut self, what: &str, frame: Option<&gst_video::VideoCodecFrame>) -> bool {
        match self.imp.count_damage(what, frame) {
            Ok(_) => true,
            Err(e) => {
                self.fail(e);
                false
            }
        }
    }

    fn sequence_result(&mut self, seq: &SequenceInfo) -> Result<u32, OutputError> {
        let codec = self.state.codec;
        let caps = cuvid::decoder_caps(&self.gpu.device, codec, seq.chroma, seq.bit_depth)?;
        let unsupported = |why: String| {
            CudaError::Invalid(format!(
                "NVDEC on {} cannot decode this {} stream ({} {}-bit, {}x{}): {why}",
                self.gpu.device.name(),
                codec.name(),
                seq.chroma.name(),
                seq.bit_depth,
                seq.coded_width,
                seq.coded_height
            ))
        };
        if !caps.supported {
            return Err(unsupported("not supported by this GPU".into()).into());
        }
        if let Some(problem) = caps.size_problem(seq.coded_width, seq.coded_height) {
            return Err(unsupported(problem).into());
        }
        let (surface_format, video_format) = output_formats(seq.chroma, seq.bit_depth)
            .filter(|(s, _)| caps.supports_output(*s))
            .ok_or_else(|| unsupported("no output format for it".into()))?;

        let settings = self.state.settings;
        let wanted = if settings.decode_surfaces > 0 {
            settings.decode_surfaces
        } else {
            seq.min_surfaces + settings.display_delay + 2
        };
        let surfaces = wanted.clamp(seq.min_surfaces.max(1), MAX_DECODE_SURFACES);
        let deinterlace = match settings.deinterlace {
            DeinterlaceMode::Weave => Deinterlace::Weave,
            DeinterlaceMode::Bob => Deinterlace::Bob,
            DeinterlaceMode::Adaptive => Deinterlace::Adaptive,
        };
        let config = DecoderConfig {
            codec,
            chroma: seq.chroma,
            bit_depth: seq.bit_depth,
            coded_width: seq.coded_width,
            coded_height: seq.coded_height,
            display_area: seq.display_area,
            surfaces,
            output_surfaces: OUTPUT_SURFACES,
            output_format: surface_format,
            deinterlace,
        };
        if self.state.decoder.as_ref().map(|d| *d.config()) != Some(config) {
            self.unmap_all()?;
            self.state.decoder = None;
            self.state.decoder = Some(Decoder::new(&self.gpu.device, config)?);
            gst::info!(
                CAT,
                imp = self.imp,
                "decoding {codec:?} {seq:?} with {config:?}"
            );
        }
        self.negotiate(seq, video_format, deinterlace == Deinterlace::Weave)?;
        Ok(surfaces)
    }

    /// Sets the output caps for a sequence. Downstream refusing them is posted here, with what
    /// nvdec offered and what downstream accepts.
    fn negotiate(
        &mut self,
        seq: &SequenceInfo,
        format: gst_video::VideoFormat,
        weave: bool,
    ) -> Result<(), OutputError> {
        let obj = self.imp.obj();
        let (width, height) = seq.display_size();
        let woven = weave && !seq.progressive;
        let mode = if woven {
            gst_video::VideoInterlaceMode::Mixed
        } else {
            gst_video::VideoInterlaceMode::Progressive
        };
        let fps = self.state.input_fps.unwrap_or_else(|| sequence_fps(seq));
        let par = self
            .state
            .input_par
            .unwrap_or_else(|| sequence_par(seq, width, height));
        let no_info = |e: glib::BoolError| {
            CudaError::Invalid(format!(
                "no video info for a {width}x{height} {format}: {e}"
            ))
        };
        let default = gst_video::VideoInfo::builder(format, width, height)
            .build()
            .map_err(no_info)?;
        let info = gst_video::VideoInfo::builder(format, width, height)
            .interlace_mode(mode)
            .fps(fps)
            .par(par)
            .colorimetry(&colorimetry(seq, &default.colorimetry()))
            .build()
            .map_err(no_info)?;

        let system_caps = info.to_caps().map_err(no_info)?;
        let mut cuda_caps = system_caps.copy();
        cuda_caps
            .make_mut()
            .set_features_simple(Some(cuda_features()));
        let caps = if obj.src_pad().peer_query_accept_caps(&cuda_caps) {
            cuda_caps.clone()
        } else {
            system_caps.clone()
        };
        let same = self.state.output.as_ref().is_some_and(|o| o.info == info)
            && obj
                .src_pad()
                .current_caps()
                .is_some_and(|current| current == caps);
        if same {
            return Ok(());
        }
        let negotiated = obj
            .set_interlaced_output_state(format, mode, width, height, None)
            .and_then(|mut state| {
                state.set_info(info.clone());
                state.set_caps(&caps);
                obj.negotiate(state)
            });
        let stream = format!(
            "{}-bit {} {}",
            seq.bit_depth,
            seq.chroma.name(),
            self.state.codec.name()
        );
        if let Err(flow) = negotiated {
            if obj.src_pad().pad_flags().contains(gst::PadFlags::FLUSHING) {
                return Err(OutputError::Flow(gst::FlowError::Flushing));
            }
            self.post_refusal(&info, &stream, true);
            return Err(OutputError::Flow(flow));
        }
        gst::info!(CAT, imp = self.imp, "output {caps}");

        if fps.numer() > 0 {
            let frame = gst::ClockTime::SECOND
                .mul_div_floor(fps.denom() as u64, fps.numer() as u64)
                .unwrap_or(gst::ClockTime::ZERO);
            let latency = frame * u64::from(self.state.settings.display_delay);
            obj.set_latency(latency, latency);
        }
        self.state.output = Some(OutputFormat {
            info,
            woven,
            stream,
        });
        Ok(())
    }

    /// Posts why downstream refuses the caps nvdec offers for frames of `info` (in either
    /// memory). Unless `always`, only when they conflict with what the peer accepts: otherwise
    /// an element further down refused its own caps, and says so.
    fn post_refusal(&self, info: &gst_video::VideoInfo, stream: &str, always: bool) {
        let obj = self.imp.obj();
        let Ok(system) = info.to_caps() else {
            return;
        };
        let mut offered = system.copy();
        offered
            .make_mut()
            .set_features_simple(Some(cuda_features()));
        offered.make_mut().append(system);
        let downstream = Downstream::of(obj.src_pad());
        if always || negotiation::conflict(&offered, &downstream.accepted).is_some() {
            let why = refusal(&factory_name(&*obj), stream, &offered, &downstream);
            negotiation::post_refusal(obj.upcast_ref(), *CAT, &why);
        }
    }

    /// Copies the displayed picture into the frame's output buffer and finishes the frame; a
    /// frame that cannot be finished is dropped, so it never lingers with its buffer allocated.
    fn output(
        &mut self,
        display: &Display,
        mut frame: gst_video::VideoCodecFrame<'_>,
    ) -> Result<gst::FlowSuccess, OutputError> {
        let obj = self.imp.obj();
        if self.state.decoder.is_none() || self.state.output.is_none() {
            let _ = obj.drop_frame(frame);
            return Err(CudaError::Invalid("picture displayed before its sequence".into()).into());
        }
        if let Err(flow) = obj.allocate_output_frame(&mut frame, None) {
            let _ = obj.drop_frame(frame);
            return Err(OutputError::Flow(flow));
        }
        match self.fill(display, &mut frame) {
            Ok(None) => {
                // Downstream's refusal of the caps shows only now: pushing the caps event
                // ignored it.
                let finished = obj.finish_frame(frame);
                if let (Err(gst::FlowError::NotNegotiated), Some(output)) =
                    (finished, &self.state.output)
                {
                    self.post_refusal(&output.info, &output.stream, false);
                }
                finished.map_err(OutputError::Flow)
            }
            Ok(Some(counted)) => {
                let _ = obj.drop_frame(frame);
                counted.map_err(OutputError::Flow)
            }
            Err(e) => {
                let _ = obj.drop_frame(frame);
                Err(e)
            }
        }
    }

    /// Copies the displayed picture into `frame`'s output buffer. `Some` when the picture is
    /// unusable (decoded with errors): what counting it against `max-errors` gave.
    fn fill(
        &mut self,
        display: &Display,
        frame: &mut gst_video::VideoCodecFrame<'_>,
    ) -> Result<Option<Result<gst::FlowSuccess, gst::FlowError>>, OutputError> {
        let (Some(decoder), Some(output)) = (&self.state.decoder, &self.state.output) else {
            return Err(CudaError::Invalid("picture displayed before its sequence".into()).into());
        };
        let stream = &self.gpu.stream;
        let mapped = decoder.map(display, stream)?;
        // Mapping waits for the decode, so its outcome is known now.
        let status = decoder.status(display.index);
        let unusable = match status {
            Ok(DecodeStatus::Failed) => Some("picture decoded with errors"),
            Ok(DecodeStatus::Concealed) => {
                if let Err(flow) = self
                    .imp
                    .count_damage("damaged picture, errors concealed", Some(frame))
                {
                    decoder.unmap(mapped)?;
                    return Ok(Some(Err(flow)));
                }
                None
            }
            Ok(DecodeStatus::Ok) => None,
            Err(e) => {
                decoder.unmap(mapped)?;
                return Err(e.into());
            }
        };
        if let Some(what) = unusable {
            decoder.unmap(mapped)?;
            return Ok(Some(self.imp.count_damage(what, Some(frame))));
        }
        let row = u64::from(mapped.pitch) * u64::from(mapped.plane_rows);
        let pitch = mapped.pitch as usize;
        let src = Planes {
            addr: [mapped.addr, mapped.addr + row, mapped.addr + 2 * row, 0],
            stride: [pitch, pitch, pitch, 0],
        };
        let buffer = frame.output_buffer_mut().expect("allocated by output()");
        let copied = (|| {
            let out = Output::begin(stream, buffer, &output.info, &mut self.state.staging)?;
            frame::copy_frame(stream, &src, &out.planes, &output.info)?;
            out.end(stream, buffer, &output.info)
        })();
        // The mapping is released once the copy has run (see `retire_mapped`).
        let event = match self.state.spare_events.pop() {
            Some(event) => event,
            None => self.gpu.device.new_event()?,
        };
        stream.record(&event)?;
        self.state.mapped.push_back((mapped, event));
        copied?;
        if output.woven && !display.progressive {
            let mut flags = gst_video::VideoBufferFlags::INTERLACED;
            if display.top_field_first {
                flags |= gst_video::VideoBufferFlags::TFF;
            }
            buffer.set_flags(gst::BufferFlags::from_bits_retain(flags.bits()));
        }
        self.retire_mapped(OUTPUT_SURFACES as usize - 1)?;
        Ok(None)
    }

    /// Unmaps frames whose copies have run until at most `keep` stay mapped.
    fn retire_mapped(&mut self, keep: usize) -> Result<(), CudaError> {
        self.state.retire_mapped(keep)
    }

    fn unmap_all(&mut self) -> Result<(), CudaError> {
        self.retire_mapped(0)
    }
}

impl Client<'_> {
    /// H.264 and HEVC pictures are displayed in presentation order, one per access unit (bar
    /// second fields): a pending frame presented before `displayed` that has not been displayed
    /// by now never will be. The parser found no picture in its data (damaged), so it is counted
    /// against `max-errors` with its position and dropped now, not held until the end of the
    /// stream. `false` once past the limit.
    fn drop_skipped_frames(&mut self, displayed: &gst_video::VideoCodecFrame) -> bool {
        if !matches!(self.state.codec, Codec::H264 | Codec::Hevc) {
            return true;
        }
        let Some(pts) = displayed.pts() else {
            return true;
        };
        let obj = self.imp.obj();
        for frame in obj.frames() {
            let number = frame.system_frame_number();
            if number == displayed.system_frame_number()
                || self.second_fields.contains(&number)
                || frame.pts().is_none_or(|p| p >= pts)
            {
                continue;
            }
            if let Err(flow) = self.imp.release_lost_frame(frame) {
                self.fail(flow);
                return false;
            }
        }
        true
    }
}

impl ParserClient for Client<'_> {
    fn sequence(&mut self, seq: &SequenceInfo) -> Option<u32> {
        gst::debug!(CAT, imp = self.imp, "sequence {seq:?}");
        match self.sequence_result(seq) {
            Ok(surfaces) => Some(surfaces),
            Err(OutputError::Cuda(e)) => {
                self.post(&e);
                None
            }
            Err(OutputError::Flow(flow)) => {
                self.fail(flow);
                None
            }
        }
    }

    fn decode(&mut self, mut picture: Picture<'_>) -> bool {
        let index = picture.index();
        if !(0..MAX_PICTURES as i32).contains(&index) {
            return self.damaged("picture index out of range", None);
        }
        if picture.is_second_field() {
            if let Some(current) = self.current {
                self.second_fields.push(current);
            }
        }
        // `output-every`: count pictures in decode order; those not output are not decoded
        // either, unless later pictures refer to them.
        let every = u64::from(self.state.settings.output_every.max(1));
        let hidden = !picture.is_second_field() && {
            let n = self.state.decoded;
            self.state.decoded += 1;
            !n.is_multiple_of(every)
        };
        self.state.hidden[index as usize] = hidden;
        if hidden && !picture.is_reference() {
            return true;
        }
        let Some(decoder) = &self.state.decoder else {
            return self.damaged("picture before any sequence header", None);
        };
        gst::trace!(
            CAT,
            imp = self.imp,
            "decode picture {index} (reference {})",
            picture.is_reference()
        );
        match decoder.decode(&mut picture) {
            Ok(()) => true,
            Err(e) => {
                let obj = self.imp.obj();
                let frame = self.current.and_then(|n| obj.frame(n as i32));
                self.damaged(&format!("undecodable picture ({e})"), frame.as_ref())
            }
        }
    }

    fn display(&mut self, display: &Display) -> bool {
        let obj = self.imp.obj();
        // The displayed picture carries a presentation timestamp of the packets fed (see
        // `Parser::parse`): its frame is the pending frame with that PTS, or the oldest when
        // the input has no timestamps.
        let frame = obj
            .frames()
            .into_iter()
            .find(|f| f.pts().map(|p| p.nseconds() as i64) == Some(display.timestamp))
            .or_else(|| obj.oldest_frame());
        let Some(frame) = frame else {
            // Its frame is gone (flushed): nothing to output.
            return true;
        };
        if !self.drop_skipped_frames(&frame) {
            return false;
        }
        gst::log!(
            CAT,
            imp = self.imp,
            "display picture {} of frame {} (pts {})",
            display.index,
            frame.system_frame_number(),
            frame.pts().display()
        );
        let index = display.index as usize;
        if self.state.hidden.get(index).copied().unwrap_or(false) {
            obj.release_frame(frame);
            return true;
        }
        match self.output(display, frame) {
            Ok(_) => true,
            Err(OutputError::Flow(flow)) => {
                // Flushing, EOS, not linked downstream or past max-errors: stop, and report it
                // from handle_frame.
                self.fail(flow);
                false
            }
            Err(OutputError::Cuda(e)) => self.post(&e),
        }
    }
}

impl NvDec {
    fn gpu(&self) -> Result<Gpu, gst::FlowError> {
        self.gpu
            .lock()
            .unwrap()
            .clone()
            .ok_or(gst::FlowError::Flushing)
    }

    /// Counts a damaged picture against `max-errors`: a warning naming the stream position, and
    /// an error once past the limit.
    fn count_damage(
        &self,
        what: &str,
        frame: Option<&gst_video::VideoCodecFrame>,
    ) -> Result<gst::FlowSuccess, gst::FlowError> {
        let position = match frame {
            Some(f) => format!(
                "frame {} (pts {}, byte offset {})",
                f.system_frame_number(),
                f.pts().display(),
                f.input_buffer()
                    .map(|b| b.offset())
                    .filter(|o| *o != u64::MAX)
                    .map_or("unknown".into(), |o| o.to_string())
            ),
            None => "an unknown position".into(),
        };
        // GstVideoDecoder's error counting only posts the error past the limit; below it the
        // application would hear nothing, so every damaged picture is also a warning.
        gst::element_imp_warning!(self, gst::StreamError::Decode, ("{what} at {position}"));
        gst_video::video_decoder_error!(
            self.obj(),
            1,
            gst::StreamError::Decode,
            ("{what} at {position}")
        )
    }

    /// Runs `f` with the session taken out of its mutex and a parser client over it.
    fn with_session(
        &self,
        current: Option<u32>,
        f: impl FnOnce(&mut Parser, &mut Client<'_>) -> Result<(), CudaError>,
    ) -> Result<gst::FlowSuccess, gst::FlowError> {
        let gpu = self.gpu()?;
        let mut session = self
            .session
            .lock()
            .unwrap()
            .take()
            .ok_or(gst::FlowError::NotNegotiated)?;
        let mut client = Client {
            imp: self,
            gpu: &gpu,
            state: &mut session.state,
            current,
            second_fields: Vec::new(),
            result: Ok(gst::FlowSuccess::Ok),
        };
        let parsed = gpu
            .device
            .bind()
            .and_then(|()| f(&mut session.parser, &mut client));
        let Client {
            mut result,
            second_fields,
            ..
        } = client;
        if let (Err(e), Ok(_)) = (&parsed, &result) {
            // The parser refused the data itself: a damaged bitstream.
            let obj = self.obj();
            let frame = current.and_then(|n| obj.frame(n as i32));
            result = self.count_damage(&format!("unparsable data ({e})"), frame.as_ref());
        }
        for number in second_fields {
            if let Some(frame) = self.obj().frame(number as i32) {
                self.obj().release_frame(frame);
            }
        }
        *self.session.lock().unwrap() = Some(session);
        result
    }

    /// Feeds everything queued in the parser out and releases frames that will never be shown.
    fn drain_session(&self) -> Result<gst::FlowSuccess, gst::FlowError> {
        if self.session.lock().unwrap().is_none() {
            return Ok(gst::FlowSuccess::Ok);
        }
        let result = self.with_session(None, |parser, client| {
            parser.end_of_stream(client)?;
            client.unmap_all()
        });
        // Frames that never produced a picture: their data was damaged or cut short.
        let mut result = result;
        for frame in self.obj().frames() {
            if result.is_ok() {
                result = self.release_lost_frame(frame);
            } else {
                self.obj().release_frame(frame);
            }
        }
        result
    }

    /// Releases a frame in which the parser found no picture, counting it as damage.
    fn release_lost_frame(
        &self,
        frame: gst_video::VideoCodecFrame,
    ) -> Result<gst::FlowSuccess, gst::FlowError> {
        let counted = self.count_damage("no picture decoded from this frame", Some(&frame));
        self.obj().release_frame(frame);
        counted
    }
}

#[glib::object_subclass]
impl ObjectSubclass for NvDec {
    const NAME: &'static str = "GstRsNvDec";
    type Type = super::NvDec;
    type ParentType = gst_video::VideoDecoder;
}

impl ObjectImpl for NvDec {
    fn properties() -> &'static [glib::ParamSpec] {
        static PROPERTIES: LazyLock<Vec<glib::ParamSpec>> = LazyLock::new(|| {
            vec![
                glib::ParamSpecInt::builder("cuda-device-id")
                    .nick("CUDA device ID")
                    .blurb("GPU to decode on")
                    .minimum(0)
                    .default_value(DEFAULT_DEVICE_ID)
                    .mutable_ready()
                    .build(),
                glib::ParamSpecUInt::builder("display-delay")
                    .nick("Display delay")
                    .blurb(
                        "Decoded pictures queued before output: higher keeps the decode engine \
                         busier (throughput), 0 outputs each picture as soon as possible \
                         (latency)",
                    )
                    .maximum(16)
                    .default_value(DEFAULT_DISPLAY_DELAY)
                    .mutable_ready()
                    .build(),
                glib::ParamSpecUInt::builder("decode-surfaces")
                    .nick("Decode surfaces")
                    .blurb(
                        "Decoder surfaces to allocate; 0: the stream's minimum plus the display \
                         delay plus 2",
                    )
                    .maximum(MAX_DECODE_SURFACES)
                    .default_value(DEFAULT_DECODE_SURFACES)
                    .mutable_ready()
                    .build(),
                glib::ParamSpecEnum::builder_with_default("deinterlace-mode", DEFAULT_DEINTERLACE)
                    .nick("Deinterlace mode")
                    .blurb("What to do with interlaced pictures")
                    .mutable_ready()
                    .build(),
                glib::ParamSpecUInt::builder("output-every")
                    .nick("Output every Nth picture")
                    .blurb(
                        "Output one picture in N, counted in decode order; pictures not output \
                         are not decoded either unless others refer to them",
                    )
                    .minimum(1)
                    // A launch line's "-1" would otherwise reach it as 2^32 - 1, silently.
                    .maximum(i32::MAX as u32)
                    .default_value(DEFAULT_OUTPUT_EVERY)
                    .mutable_ready()
                    .build(),
                glib::ParamSpecBoolean::builder("keyframes-only")
                    .nick("Key frames only")
                    .blurb("Decode only key frames; other frames are dropped before parsing")
                    .default_value(DEFAULT_KEYFRAMES_ONLY)
                    .mutable_ready()
                    .build(),
            ]
        });
        PROPERTIES.as_ref()
    }

    fn set_property(&self, _id: usize, value: &glib::Value, pspec: &glib::ParamSpec) {
        let mut settings = self.settings.lock().unwrap();
        match pspec.name() {
            "cuda-device-id" => settings.device_id = value.get().expect("type checked upstream"),
            "display-delay" => settings.display_delay = value.get().expect("type checked upstream"),
            "decode-surfaces" => {
                settings.decode_surfaces = value.get().expect("type checked upstream")
            }
            "deinterlace-mode" => {
                settings.deinterlace = value.get().expect("type checked upstream")
            }
            "output-every" => settings.output_every = value.get().expect("type checked upstream"),
            "keyframes-only" => {
                settings.keyframes_only = value.get().expect("type checked upstream")
            }
            _ => unimplemented!(),
        }
    }

    fn property(&self, _id: usize, pspec: &glib::ParamSpec) -> glib::Value {
        let settings = self.settings.lock().unwrap();
        match pspec.name() {
            "cuda-device-id" => settings.device_id.to_value(),
            "display-delay" => settings.display_delay.to_value(),
            "decode-surfaces" => settings.decode_surfaces.to_value(),
            "deinterlace-mode" => settings.deinterlace.to_value(),
            "output-every" => settings.output_every.to_value(),
            "keyframes-only" => settings.keyframes_only.to_value(),
            _ => unimplemented!(),
        }
    }
}

impl GstObjectImpl for NvDec {}

impl ElementImpl for NvDec {
    fn metadata() -> Option<&'static gst::subclass::ElementMetadata> {
        static ELEMENT_METADATA: LazyLock<gst::subclass::ElementMetadata> = LazyLock::new(|| {
            gst::subclass::ElementMetadata::new(
                "NVDEC video decoder",
                "Codec/Decoder/Video/Hardware",
                "Decodes H.264, HEVC, VP8, VP9, MPEG-1/2/4, JPEG and AV1 (where the GPU has it) \
                 with NVIDIA's hardware decoder, into CUDA or system memory",
                "The gst-cudapreproc authors",
            )
        });
        Some(&*ELEMENT_METADATA)
    }

    fn pad_templates() -> &'static [gst::PadTemplate] {
        static PAD_TEMPLATES: LazyLock<Vec<gst::PadTemplate>> = LazyLock::new(|| {
            let sink_caps = SINK_CAPS.parse::<gst::Caps>().expect("valid caps");
            vec![
                gst::PadTemplate::new(
                    "sink",
                    gst::PadDirection::Sink,
                    gst::PadPresence::Always,
                    &sink_caps,
                )
                .unwrap(),
                gst::PadTemplate::new(
                    "src",
                    gst::PadDirection::Src,
                    gst::PadPresence::Always,
                    &filter::video_caps(OUTPUT_FORMATS),
                )
                .unwrap(),
            ]
        });
        PAD_TEMPLATES.as_ref()
    }
}

impl VideoDecoderImpl for NvDec {
    fn start(&self) -> Result<(), gst::ErrorMessage> {
        let device_id = self.settings.lock().unwrap().device_id;
        let gpu = (|| {
            let device = Device::open(device_id)?;
            let stream = Arc::new(device.new_stream()?);
            Ok::<_, CudaError>(Gpu { device, stream })
        })()
        .map_err(|e| e.to_error_message())?;
        gst::info!(CAT, imp = self, "decoding on {:?}", gpu.device);
        *self.gpu.lock().unwrap() = Some(gpu);
        // Frames come in parsed (one picture per buffer).
        self.obj().set_packetized(true);
        Ok(())
    }

    fn stop(&self) -> Result<(), gst::ErrorMessage> {
        *self.session.lock().unwrap() = None;
        *self.gpu.lock().unwrap() = None;
        Ok(())
    }

    fn set_format(
        &self,
        input: &gst_video::VideoCodecState<'static, gst_video::video_codec_state::Readable>,
    ) -> Result<(), gst::LoggableError> {
        let caps = input
            .caps()
            .ok_or_else(|| gst::loggable_error!(CAT, "input state without caps"))?;
        let codec = codec_of(caps)
            .ok_or_else(|| gst::loggable_error!(CAT, "unsupported input caps {caps}"))?;
        // A new format mid-stream: finish the pictures of the old one first.
        let _ = self.drain_session();

        let gpu = self
            .gpu()
            .map_err(|_| gst::loggable_error!(CAT, "caps before start"))?;
        let settings = *self.settings.lock().unwrap();
        let supported = cuvid::decoder_caps(&gpu.device, codec, ChromaFormat::Yuv420, 8)
            .map(|c| c.supported || codec == Codec::Jpeg);
        match supported {
            Ok(true) => {}
            Ok(false) => {
                gst::element_imp_error!(
                    self,
                    gst::StreamError::CodecNotFound,
                    (
                        "NVDEC on {} does not decode {}",
                        gpu.device.name(),
                        codec.name()
                    )
                );
                return Err(gst::loggable_error!(CAT, "codec not supported"));
            }
            Err(e) => {
                self.obj().post_error_message(e.to_error_message());
                return Err(gst::loggable_error!(CAT, "{e}"));
            }
        }
        let parser = Parser::new(codec, settings.display_delay).map_err(|e| {
            self.obj().post_error_message(e.to_error_message());
            gst::loggable_error!(CAT, "{e}")
        })?;
        let s = caps.structure(0).unwrap();
        let input_fps = s
            .get::<gst::Fraction>("framerate")
            .ok()
            .filter(|f| f.numer() > 0);
        let input_par = s.get::<gst::Fraction>("pixel-aspect-ratio").ok();
        *self.session.lock().unwrap() = Some(Session {
            parser,
            codec_data: input.codec_data_owned(),
            codec_data_sent: false,
            state: DecodeState {
                codec,
                settings,
                input_fps,
                input_par,
                decoder: None,
                output: None,
                staging: Staging::default(),
                mapped: VecDeque::new(),
                spare_events: Vec::new(),
                hidden: [false; MAX_PICTURES],
                decoded: 0,
            },
        });
        gst::info!(CAT, imp = self, "input {caps}");
        Ok(())
    }

    fn handle_frame(
        &self,
        frame: gst_video::VideoCodecFrame,
    ) -> Result<gst::FlowSuccess, gst::FlowError> {
        let number = frame.system_frame_number();
        let input = frame.input_buffer_owned().ok_or(gst::FlowError::Error)?;
        let keyframes_only = self.settings.lock().unwrap().keyframes_only;
        if keyframes_only && input.flags().contains(gst::BufferFlags::DELTA_UNIT) {
            self.obj().release_frame(frame);
            return Ok(gst::FlowSuccess::Ok);
        }
        gst::log!(
            CAT,
            imp = self,
            "frame {number}: pts {} dts {}, {} bytes",
            frame.pts().display(),
            frame.dts().display(),
            input.size()
        );
        let pts = frame.pts();
        // The frame is looked up again when the parser displays its picture.
        drop(frame);

        let codec_data = {
            let mut session = self.session.lock().unwrap();
            let session = session.as_mut().ok_or(gst::FlowError::NotNegotiated)?;
            if session.codec_data_sent {
                None
            } else {
                session.codec_data_sent = true;
                session.codec_data.clone()
            }
        };
        let map = input.map_readable().map_err(|_| gst::FlowError::Error)?;
        let timestamp = pts.map(|p| p.nseconds() as i64);
        self.with_session(Some(number), |parser, client| {
            if let Some(config) = &codec_data {
                let config = config
                    .map_readable()
                    .map_err(|_| CudaError::Invalid("codec_data cannot be read".into()))?;
                parser.parse(&config, None, false, client)?;
            }
            parser.parse(&map, timestamp, true, client)
        })
    }

    fn drain(&self) -> Result<gst::FlowSuccess, gst::FlowError> {
        self.drain_session()
    }

    fn finish(&self) -> Result<gst::FlowSuccess, gst::FlowError> {
        self.drain_session()
    }

    fn flush(&self) -> bool {
        let mut guard = self.session.lock().unwrap();
        let Some(session) = guard.as_mut() else {
            return true;
        };
        // Start afresh: a new parser forgets the old stream position, and the decoder (whose
        // surfaces the old parser managed) is made again at the next sequence header.
        // Mapped frames are released once their copies are done.
        let state = &mut session.state;
        if let Err(e) = state.retire_mapped(0) {
            gst::warning!(CAT, imp = self, "releasing decoded frames: {e}");
            state.mapped.clear();
        }
        state.decoder = None;
        state.hidden = [false; MAX_PICTURES];
        match Parser::new(state.codec, state.settings.display_delay) {
            Ok(parser) => session.parser = parser,
            Err(e) => {
                self.obj().post_error_message(e.to_error_message());
                return false;
            }
        }
        session.codec_data_sent = false;
        true
    }

    /// The template, not the base class's proxy of downstream's size, rate and aspect ratio
    /// into these caps: the stream decides those, and a mismatch reaches `negotiate`, which
    /// says what the stream has and downstream wants, instead of failing upstream's linking or
    /// negotiation without a reason.
    fn caps(&self, filter: Option<&gst::Caps>) -> gst::Caps {
        let template = self.obj().sink_pad().pad_template_caps();
        match filter {
            Some(filter) => filter.intersect_with_mode(&template, gst::CapsIntersectMode::First),
            None => template,
        }
    }

    fn decide_allocation(
        &self,
        query: &mut gst::query::Allocation,
    ) -> Result<(), gst::LoggableError> {
        let (caps, _) = query.get_owned();
        if caps.as_ref().is_some_and(|c| filter::is_cuda_caps(c)) {
            let gpu = self
                .gpu()
                .map_err(|_| gst::loggable_error!(CAT, "allocation while stopped"))?;
            return filter::decide_cuda_pool(query, &gpu.device, &gpu.stream, None);
        }
        self.parent_decide_allocation(query)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refusal_says_what_the_stream_decides() {
        gst::init().unwrap();
        let offered: gst::Caps = "video/x-raw(memory:CUDAMemory), format=NV12, width=1920, \
                                  height=1080, interlace-mode=progressive; video/x-raw, \
                                  format=NV12, width=1920, height=1080, \
                                  interlace-mode=progressive"
            .parse()
            .unwrap();
        let refused = |accepted: &str| {
            refusal(
                "nvdec",
                "8-bit 4:2:0 H.264",
                &offered,
                &Downstream {
                    accepted: accepted.parse().unwrap(),
                    next: "sink".into(),
                },
            )
        };
        assert_eq!(
            refused("video/x-raw, format=P010_10LE"),
            "nvdec produces format NV12 (what NVDEC outputs for this 8-bit 4:2:0 H.264 stream; \
             cudacvtcolor after nvdec converts), downstream accepts format P010_10LE"
        );
        assert_eq!(
            refused("video/x-raw, width=640"),
            "nvdec produces width 1920 (the stream's picture size; cudawarpaffine after nvdec \
             resizes), downstream accepts width 640"
        );
        assert_eq!(
            refused("video/x-raw(memory:NVMM)"),
            "nvdec produces frames in memory:CUDAMemory or system memory, downstream accepts \
             memory:NVMM"
        );
    }

    #[test]
    fn sequence_rates_are_valid_fractions() {
        gst::init().unwrap();
        // Found by fuzzing (nvdec_sequence): rates over i32::MAX were cast to negative
        // fractions (a panic for a denominator of 2^31), and the aspect ratio's products
        // overflowed i32.
        let seq = |frame_rate, aspect_ratio| SequenceInfo {
            coded_width: 1920,
            coded_height: 1088,
            display_area: (0, 0, 1920, 1080),
            bit_depth: 8,
            chroma: ChromaFormat::Yuv420,
            min_surfaces: 4,
            progressive: true,
            frame_rate,
            aspect_ratio,
            full_range: false,
            color_primaries: 1,
            transfer_characteristics: 1,
            matrix_coefficients: 1,
        };
        let fps = |n, d| sequence_fps(&seq((n, d), (0, 0)));
        assert_eq!(fps(60000, 1001), gst::Fraction::new(60000, 1001));
        assert_eq!(fps(0, 1), gst::Fraction::new(0, 1));
        // Reduced to fit, approximated, or unknown when GStreamer cannot hold it.
        assert_eq!(fps(1 << 31, 1 << 31), gst::Fraction::new(1, 1));
        assert_eq!(fps(30, 1 << 31), gst::Fraction::new(15, 1 << 30));
        let near = fps(u32::MAX - 1, 3);
        assert!(near.numer() > 0 && near.denom() > 0);
        let exact = f64::from(u32::MAX - 1) / 3.0;
        assert!((f64::from(near.numer()) / f64::from(near.denom()) - exact).abs() < 1.0);
        assert_eq!(fps(u32::MAX, 1), gst::Fraction::new(0, 1));
        let par = |x, y| sequence_par(&seq((30, 1), (x, y)), 1920, 1080);
        assert_eq!(par(16, 9), gst::Fraction::new(1, 1));
        assert_eq!(par(4, 3), gst::Fraction::new(3, 4));
        let wide = par(i32::MAX, 1);
        let exact = f64::from(i32::MAX) * 9.0 / 16.0;
        assert!((f64::from(wide.numer()) / f64::from(wide.denom()) - exact).abs() < 1.0);
        assert_eq!(par(0, 3), gst::Fraction::new(1, 1));
    }
}
