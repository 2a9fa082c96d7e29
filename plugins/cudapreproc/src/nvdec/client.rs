//! The parser's client: it sets the decoder up for each sequence, decodes pictures and hands
//! displayed ones to the output, within one call of the parser.

use cudapreproc_core::cuda::CudaError;
use cudapreproc_core::cuvid::{
    self, Decoder, DecoderConfig, Deinterlace, Display, ParserClient, Picture, Reuse, SequenceInfo,
};
use gst::prelude::*;
use gst::subclass::prelude::*;
use gst_video::prelude::*;

use super::imp::{Gpu, NvDec, CAT, MAX_DECODE_SURFACES, MAX_PICTURES, OUTPUT_SURFACES};
use super::kept::{self, with_surfaces_of};
use super::output::DecodeState;
use super::selection::Shown;
use super::DecoderSize;

/// Why a sequence could not be set up or a picture output.
pub(super) enum OutputError {
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
pub(super) struct Client<'a> {
    pub(super) imp: &'a NvDec,
    pub(super) gpu: &'a Gpu,
    pub(super) state: &'a mut DecodeState,
    /// System frame number of the packet being parsed.
    pub(super) current: Option<u32>,
    /// When that packet's picture is shown, for `frame-times`.
    pub(super) shown: Option<Shown>,
    /// Frames whose packet held only the second field of a picture: never displayed.
    pub(super) second_fields: Vec<u32>,
    /// The first failure, which ends the parse call.
    pub(super) result: Result<gst::FlowSuccess, gst::FlowError>,
}

impl Client<'_> {
    pub(super) fn fail(&mut self, error: gst::FlowError) {
        if self.result.is_ok() {
            self.result = Err(error);
        }
    }

    pub(super) fn post(&mut self, error: &CudaError) -> bool {
        self.imp.obj().post_error_message(error.to_error_message());
        self.fail(gst::FlowError::Error);
        false
    }

    /// Counts a damaged picture against `max-errors`; `false` once past the limit.
    pub(super) fn damaged(
        &mut self,
        what: &str,
        frame: Option<&gst_video::VideoCodecFrame>,
    ) -> bool {
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
        let (surface_format, video_format) = seq
            .output_formats()
            .filter(|(s, _)| caps.supports_output(*s))
            .ok_or_else(|| unsupported("no output format for it".into()))?;

        let settings = self.state.settings;
        let wanted = if settings.decode_surfaces > 0 {
            settings.decode_surfaces
        } else {
            seq.min_surfaces + settings.display_delay + 2
        };
        let surfaces = wanted.clamp(seq.min_surfaces.max(1), MAX_DECODE_SURFACES);
        let config = DecoderConfig {
            deinterlace: Deinterlace::from(settings.deinterlace),
            ..DecoderConfig::for_sequence(codec, seq, surfaces, OUTPUT_SURFACES, surface_format)
        };
        // The decoder at work, or one kept from an earlier stream, decodes this sequence as it
        // is or reconfigured where it can; otherwise a new one is made.
        let device = self.gpu.device.ordinal();
        if self.state.decoder.is_some() {
            self.state.retire_mapped(0)?;
        }
        let current = self.state.decoder.take();
        let reused = self
            .imp
            .kept_decoders
            .lock()
            .unwrap()
            .exchange(device, current, &config);
        if let Some(mut decoder) = reused {
            match decoder.reconfigure(with_surfaces_of(&config, decoder.limits())) {
                Ok(Reuse::Same) => self.state.decoder = Some(decoder),
                Ok(Reuse::Reconfigure) => {
                    gst::info!(CAT, imp = self.imp, "decoder reconfigured for {seq:?}");
                    self.state.decoder = Some(decoder);
                }
                // Only a driver without reconfiguration gets here (the decoder was chosen as
                // one that can).
                Ok(Reuse::NewDecoder(why)) => gst::info!(CAT, imp = self.imp, "new decoder: {why}"),
                // The driver refused: its state is unknown, so it goes.
                Err(e) => gst::warning!(CAT, imp = self.imp, "new decoder: {e}"),
            }
        }
        if self.state.decoder.is_none() {
            let started = std::time::Instant::now();
            let decoder = self.new_decoder(device, config, settings.decoder_size)?;
            let made_ms = started.elapsed().as_secs_f64() * 1e3;
            self.imp
                .kept_decoders
                .lock()
                .unwrap()
                .drop_superseded(device, &decoder);
            self.state.decoder = Some(decoder);
            gst::info!(
                CAT,
                imp = self.imp,
                "decoding {codec:?} {seq:?} with {config:?} (made in {made_ms:.1} ms)"
            );
        }
        self.negotiate(seq, video_format, config.deinterlace == Deinterlace::Weave)?;
        Ok(surfaces)
    }

    /// A decoder for `config` on `device`: made for it, or with `DecoderSize::Largest` made
    /// for the largest stream of its kind this process has met and reconfigured down to it
    /// (made for `config` alone where that fails).
    fn new_decoder(
        &self,
        device: i32,
        config: DecoderConfig,
        size: DecoderSize,
    ) -> Result<Decoder, CudaError> {
        let made_for = match size {
            DecoderSize::Stream => config,
            DecoderSize::Largest => kept::largest_for(device, &config),
        };
        if made_for == config {
            return Decoder::new(&self.gpu.device, config);
        }
        let grown = Decoder::new(&self.gpu.device, made_for).and_then(|mut decoder| match decoder
            .reconfigure(with_surfaces_of(&config, decoder.limits()))?
        {
            Reuse::Same | Reuse::Reconfigure => Ok(decoder),
            Reuse::NewDecoder(why) => Err(CudaError::Invalid(why.to_string())),
        });
        grown.or_else(|e| {
            gst::info!(
                CAT,
                imp = self.imp,
                "decoder for {made_for:?} not usable ({e}): made for the stream"
            );
            Decoder::new(&self.gpu.device, config)
        })
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
        // `output-every` (counted in decode order) and `frame-times`: pictures not output are
        // not decoded either, unless later pictures refer to them.
        let every = u64::from(self.state.settings.output_every.max(1));
        let hidden = !picture.is_second_field() && {
            let n = self.state.decoded;
            self.state.decoded += 1;
            let selected = self.shown.is_none_or(|s| self.state.progress.decoding(s));
            !n.is_multiple_of(every) || !selected
        };
        self.state.hidden[index as usize] = hidden;
        let referred_to = picture.is_reference() || !self.state.codec.marks_references();
        if hidden && !referred_to {
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
