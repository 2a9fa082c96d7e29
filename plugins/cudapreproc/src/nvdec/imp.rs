use std::collections::VecDeque;
use std::sync::{Arc, LazyLock, Mutex};

use cudapreproc_core::access::Staging;
use cudapreproc_core::caps::{self, is_cuda_caps};
use cudapreproc_core::cuda::{CudaError, Device, Stream};
use cudapreproc_core::cuvid::{self, ChromaFormat, Codec, Parser};
use cudapreproc_core::memory::decide_cuda_pool;
use cudapreproc_core::upstream::answer_context_query;
use gst::glib;
use gst::prelude::*;
use gst::subclass::prelude::*;
use gst_video::prelude::*;
use gst_video::subclass::prelude::*;

use super::caps::{codec_of, OUTPUT_FORMATS};
use super::client::Client;
use super::kept::KeptDecoders;
use super::leading::LeadingPictures;
use super::output::DecodeState;
use super::selection::{FrameSelection, SelectionProgress, Shown};
use super::{DecoderSize, DeinterlaceMode};
use crate::property::{
    array_of, cuda_device_id_spec, downstream_sync_spec, frame_times_spec, properties_from_table,
    DownstreamSync, PropertyTable, Spec,
};

crate::debug_category!(pub(super) static CAT = "nvdec", "NVDEC video decoder");

pub(super) const DEFAULT_DEVICE_ID: i32 = 0;
pub(super) const DEFAULT_DISPLAY_DELAY: u32 = 4;
pub(super) const DEFAULT_DECODE_SURFACES: u32 = 0;
pub(super) const DEFAULT_DEINTERLACE: DeinterlaceMode = DeinterlaceMode::Weave;
pub(super) const DEFAULT_OUTPUT_EVERY: u32 = 1;
pub(super) const DEFAULT_KEYFRAMES_ONLY: bool = false;
pub(super) const DEFAULT_DECODER_SIZE: DecoderSize = DecoderSize::Stream;
pub(super) const DEFAULT_DOWNSTREAM_SYNC: DownstreamSync = DownstreamSync::LegacyStream;

/// Decoded frames that may be mapped at once: one being copied, the rest waiting for their
/// copies to finish before being unmapped.
pub(super) const OUTPUT_SURFACES: u32 = 4;
/// The decoder's limit on decode surfaces.
pub(super) const MAX_DECODE_SURFACES: u32 = 32;
/// Highest picture index a parser uses (decode surfaces are indexed from 0).
pub(super) const MAX_PICTURES: usize = 64;

#[derive(Debug, Clone, Copy)]
pub(super) struct Settings {
    pub(super) device_id: i32,
    pub(super) display_delay: u32,
    pub(super) decode_surfaces: u32,
    pub(super) deinterlace: DeinterlaceMode,
    pub(super) output_every: u32,
    pub(super) keyframes_only: bool,
    pub(super) decoder_size: DecoderSize,
    pub(super) downstream_sync: DownstreamSync,
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
            decoder_size: DEFAULT_DECODER_SIZE,
            downstream_sync: DEFAULT_DOWNSTREAM_SYNC,
        }
    }
}

/// The GPU the decoder runs on; also needed by allocation queries, outside the stream lock.
#[derive(Clone)]
pub(super) struct Gpu {
    pub(super) device: Arc<Device>,
    pub(super) stream: Arc<Stream>,
}

pub(super) struct Session {
    parser: Parser,
    /// Codec configuration from the caps (`codec_data`), fed before the first frame.
    codec_data: Option<gst::Buffer>,
    codec_data_sent: bool,
    /// HEVC: the leading pictures to drop where decoding starts.
    leading: Option<LeadingPictures>,
    state: DecodeState,
}

#[derive(Default)]
pub struct NvDec {
    pub(super) settings: Mutex<Settings>,
    gpu: Mutex<Option<Gpu>>,
    /// Taken out while the parser runs (its callbacks negotiate and push downstream, which may
    /// call back into this element).
    session: Mutex<Option<Session>>,
    /// `frame-times`; replaced whole when set, so a session notices a new value.
    selection: Mutex<Arc<FrameSelection>>,
    /// Decoders of earlier streams (and sequences), from stop to start and across caps
    /// changes: a stream takes one that can decode it, reconfigured where needed
    /// ([`KeptDecoders::exchange`]). Dropped when the element closes.
    pub(super) kept_decoders: Mutex<KeptDecoders>,
}

impl NvDec {
    pub(super) fn gpu(&self) -> Result<Gpu, gst::FlowError> {
        self.gpu
            .lock()
            .unwrap()
            .clone()
            .ok_or(gst::FlowError::Flushing)
    }

    /// Runs `f` with the session taken out of its mutex and a parser client over it.
    fn with_session(
        &self,
        current: Option<(u32, Shown)>,
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
            current: current.map(|(number, _)| number),
            shown: current.map(|(_, shown)| shown),
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
            let frame = current.and_then(|(n, _)| obj.frame(n as i32));
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

    /// Keeps the decoder of a session that ends, once no picture of it is mapped.
    fn keep_decoder(&self, session: Option<Session>) {
        let Some(mut session) = session else {
            return;
        };
        let state = &mut session.state;
        if let Err(e) = state.retire_mapped(0) {
            gst::warning!(CAT, imp = self, "releasing decoded frames: {e}");
            return;
        }
        let device = self
            .gpu
            .lock()
            .unwrap()
            .as_ref()
            .map(|g| g.device.ordinal());
        if let (Some(decoder), Some(device)) = (state.decoder.take(), device) {
            self.kept_decoders.lock().unwrap().keep(device, decoder);
        }
    }

    /// When `frame` is shown, in stream time, and for how long: its duration, else one frame
    /// at the input's frame rate.
    fn shown(&self, frame: &gst_video::VideoCodecFrame) -> Shown {
        let segment = self.obj().input_segment();
        let stream_time = segment
            .downcast_ref::<gst::ClockTime>()
            .zip(frame.pts())
            .and_then(|(segment, pts)| segment.to_stream_time(pts))
            .map(|t| t.nseconds());
        let frame_rate = self
            .session
            .lock()
            .unwrap()
            .as_ref()
            .and_then(|s| s.state.input_fps);
        let duration = frame.duration().map(|d| d.nseconds()).or_else(|| {
            frame_rate.and_then(|fps| {
                gst::ClockTime::SECOND
                    .mul_div_floor(fps.denom() as u64, fps.numer() as u64)
                    .map(|d| d.nseconds())
            })
        });
        Shown {
            stream_time,
            duration,
        }
    }

    /// Feeds everything queued in the parser out and releases frames that will never be shown.
    fn drain_session(&self) -> Result<gst::FlowSuccess, gst::FlowError> {
        if self.session.lock().unwrap().is_none() {
            return Ok(gst::FlowSuccess::Ok);
        }
        let result = self.with_session(None, |parser, client| {
            parser.end_of_stream(client)?;
            client.state.retire_mapped(0)
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
}

#[glib::object_subclass]
impl ObjectSubclass for NvDec {
    const NAME: &'static str = "GstRsNvDec";
    type Type = super::NvDec;
    type ParentType = gst_video::VideoDecoder;
}

static PROPERTIES: LazyLock<PropertyTable<NvDec, Settings>> = LazyLock::new(|| {
    PropertyTable::new(*CAT, |imp: &NvDec| &imp.settings)
        .field(
            cuda_device_id_spec(0, DEFAULT_DEVICE_ID, "GPU to decode on"),
            |s| &mut s.device_id,
        )
        .field(
            Spec::ready(
                "display-delay",
                "Display delay",
                "Decoded pictures queued before output: higher keeps the decode engine busier \
                 (throughput), 0 outputs each picture as soon as possible (latency)",
            )
            .uint(0..=16, DEFAULT_DISPLAY_DELAY),
            |s| &mut s.display_delay,
        )
        .field(
            Spec::ready(
                "decode-surfaces",
                "Decode surfaces",
                "Decoder surfaces to allocate; 0: the stream's minimum plus the display delay \
                 plus 2",
            )
            .uint(0..=MAX_DECODE_SURFACES, DEFAULT_DECODE_SURFACES),
            |s| &mut s.decode_surfaces,
        )
        .field(
            Spec::ready(
                "deinterlace-mode",
                "Deinterlace mode",
                "What to do with interlaced pictures",
            )
            .enumeration(DEFAULT_DEINTERLACE),
            |s| &mut s.deinterlace,
        )
        .field(
            Spec::ready(
                "output-every",
                "Output every Nth picture",
                "Output one picture in N, counted in decode order; pictures not output are not \
                 decoded either unless others refer to them",
            )
            // A launch line's "-1" would otherwise reach it as 2^32 - 1, silently.
            .uint(1..=i32::MAX as u32, DEFAULT_OUTPUT_EVERY),
            |s| &mut s.output_every,
        )
        .field(
            Spec::ready(
                "keyframes-only",
                "Key frames only",
                "Decode only key frames; other frames are dropped before parsing",
            )
            .boolean(DEFAULT_KEYFRAMES_ONLY),
            |s| &mut s.keyframes_only,
        )
        .field(
            Spec::ready(
                "decoder-size",
                "Decoder size",
                "The size new decoders are made for: the stream's, or the largest of its codec \
                 made in this process (for moving between files of mixed sizes)",
            )
            .enumeration(DEFAULT_DECODER_SIZE),
            |s| &mut s.decoder_size,
        )
        .field(downstream_sync_spec(), |s| &mut s.downstream_sync)
        .property(
            frame_times_spec(
                "Output only the frames shown at these stream times (seconds; a time in the last \
                 millisecond of a frame is the next frame's); the others are decoded only where \
                 later pictures refer to them and never copied out, and the stream ends once \
                 every listed frame is decoded. Empty: every frame",
            ),
            |imp| array_of(&imp.selection.lock().unwrap().seconds()).to_value(),
            |imp, value| {
                let array = value.get::<gst::Array>().expect("type checked upstream");
                let seconds: Vec<f64> = array.iter().filter_map(|v| v.get().ok()).collect();
                *imp.selection.lock().unwrap() = Arc::new(FrameSelection::from_seconds(&seconds)?);
                Ok(())
            },
        )
});

impl ObjectImpl for NvDec {
    properties_from_table!(PROPERTIES);
}

impl GstObjectImpl for NvDec {}

impl ElementImpl for NvDec {
    crate::element_metadata!(
        "NVDEC video decoder",
        "Codec/Decoder/Video/Hardware",
        "Decodes H.264, HEVC, VP8, VP9, MPEG-1/2/4, JPEG and AV1 (where the GPU has it) \
         with NVIDIA's hardware decoder, into CUDA or system memory"
    );

    crate::element_pad_templates!(vec![
        crate::always_pad(
            gst::PadDirection::Sink,
            &cuvid::PARSED_CAPS.parse::<gst::Caps>().expect("valid caps"),
        ),
        crate::always_pad(gst::PadDirection::Src, &caps::video_caps(OUTPUT_FORMATS)),
    ]);
}

impl VideoDecoderImpl for NvDec {
    /// Upstream's CUDA elements downstream get our device's primary context, so that we write
    /// into their buffers in place.
    fn src_query(&self, query: &mut gst::QueryRef) -> bool {
        let device_id = self.settings.lock().unwrap().device_id;
        answer_context_query(query, device_id) || self.parent_src_query(query)
    }

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
        let session = self.session.lock().unwrap().take();
        self.keep_decoder(session);
        *self.gpu.lock().unwrap() = None;
        Ok(())
    }

    fn close(&self) -> Result<(), gst::ErrorMessage> {
        self.kept_decoders.lock().unwrap().clear();
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
        let old_session = self.session.lock().unwrap().take();
        self.keep_decoder(old_session);

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
            leading: (codec == Codec::Hevc).then(LeadingPictures::start),
            state: DecodeState {
                codec,
                settings,
                input_fps,
                input_par,
                decoder: None,
                output: None,
                staging: Staging::with_downstream_sync(settings.downstream_sync.into()),
                mapped: VecDeque::new(),
                hidden: [false; MAX_PICTURES],
                decoded: 0,
                progress: SelectionProgress::new(self.selection.lock().unwrap().clone()),
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
        let map = input.map_readable().map_err(|_| gst::FlowError::Error)?;
        let undecodable = self
            .session
            .lock()
            .unwrap()
            .as_mut()
            .and_then(|s| s.leading.as_mut())
            .is_some_and(|leading| leading.undecodable(&map));
        if undecodable {
            gst::log!(
                CAT,
                imp = self,
                "frame {number}: a leading picture of the random access point decoding starts \
                 at, never output: dropped"
            );
            self.obj().release_frame(frame);
            return Ok(gst::FlowSuccess::Ok);
        }
        let pts = frame.pts();
        let shown = self.shown(&frame);
        // The frame is looked up again when the parser displays its picture.
        drop(frame);

        let selection = self.selection.lock().unwrap().clone();
        let codec_data = {
            let mut session = self.session.lock().unwrap();
            let session = session.as_mut().ok_or(gst::FlowError::NotNegotiated)?;
            session.state.progress.follow(&selection);
            if session.codec_data_sent {
                None
            } else {
                session.codec_data_sent = true;
                session.codec_data.clone()
            }
        };
        let timestamp = pts.map(|p| p.nseconds() as i64);
        let parsed = self.with_session(Some((number, shown)), |parser, client| {
            if let Some(config) = &codec_data {
                let config = config
                    .map_readable()
                    .map_err(|_| CudaError::Invalid("codec_data cannot be read".into()))?;
                parser.parse(&config, None, false, client)?;
            }
            parser.parse(&map, timestamp, true, client)
        })?;
        let complete = self
            .session
            .lock()
            .unwrap()
            .as_ref()
            .is_some_and(|s| s.state.progress.complete());
        if complete {
            // Upstream stops reading and sends EOS; draining outputs the selected frames still
            // waiting for display.
            gst::debug!(CAT, imp = self, "every frame of frame-times decoded: end");
            return Err(gst::FlowError::Eos);
        }
        Ok(parsed)
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
        // Start afresh: a new parser forgets the old stream position. The decoder stays: the
        // new parser's sequence header finds it configured as it needs (a seek costs no new
        // decoder). Mapped frames are released once their copies are done.
        let state = &mut session.state;
        if let Err(e) = state.retire_mapped(0) {
            gst::warning!(CAT, imp = self, "releasing decoded frames: {e}");
        }
        state.hidden = [false; MAX_PICTURES];
        state.progress.restart();
        match Parser::new(state.codec, state.settings.display_delay) {
            Ok(parser) => session.parser = parser,
            Err(e) => {
                self.obj().post_error_message(e.to_error_message());
                return false;
            }
        }
        session.codec_data_sent = false;
        if session.leading.is_some() {
            session.leading = Some(LeadingPictures::start());
        }
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
        if caps.as_ref().is_some_and(|c| is_cuda_caps(c)) {
            let gpu = self
                .gpu()
                .map_err(|_| gst::loggable_error!(CAT, "allocation while stopped"))?;
            return decide_cuda_pool(query, &gpu.device, &gpu.stream, None);
        }
        self.parent_decide_allocation(query)
    }
}
