//! From decoded pictures to output buffers: each displayed picture is mapped, copied into the
//! frame's output buffer and finished, and stays mapped until the copy has run.

use std::collections::VecDeque;

use cudapreproc_core::access::{Media, Output, Staging};
use cudapreproc_core::cuda::CudaError;
use cudapreproc_core::cuvid::{Codec, DecodeStatus, Decoder, Display, MappedPicture};
use cudapreproc_core::frame::copy_frame;
use gst::subclass::prelude::*;
use gst_video::prelude::*;

use super::client::{Client, OutputError};
use super::imp::{Settings, CAT, MAX_PICTURES, OUTPUT_SURFACES};
use super::selection::SelectionProgress;

/// The negotiated output.
pub(super) struct OutputFormat {
    /// Video frames of this info.
    pub(super) media: Media,
    /// Interlaced frames are output woven, flagged per buffer.
    pub(super) woven: bool,
    /// What is decoded, for messages: "8-bit 4:2:0 H.264".
    pub(super) stream: String,
}

impl OutputFormat {
    pub(super) fn info(&self) -> &gst_video::VideoInfo {
        self.media.video_info().expect("nvdec outputs video")
    }
}

/// Everything the parser's callbacks work on.
pub(super) struct DecodeState {
    pub(super) codec: Codec,
    pub(super) settings: Settings,
    /// Framerate and pixel aspect ratio from the input caps, preferred to the bitstream's.
    pub(super) input_fps: Option<gst::Fraction>,
    pub(super) input_par: Option<gst::Fraction>,
    pub(super) decoder: Option<Decoder>,
    pub(super) output: Option<OutputFormat>,
    pub(super) staging: Staging,
    /// Mapped pictures whose copies are queued, oldest first.
    pub(super) mapped: VecDeque<MappedPicture>,
    /// Pictures (by index) decoded or skipped but not to be output (`output-every`).
    pub(super) hidden: [bool; MAX_PICTURES],
    /// Pictures seen in decode order since the start (for `output-every`).
    pub(super) decoded: u64,
    /// How far decoding has got through `frame-times`.
    pub(super) progress: SelectionProgress,
}

impl DecodeState {
    /// Unmaps pictures whose copies have run until at most `keep` stay mapped (waiting on the
    /// host only when the oldest copy is still running).
    pub(super) fn retire_mapped(&mut self, keep: usize) -> Result<(), CudaError> {
        while self.mapped.len() > keep {
            self.mapped.pop_front().unwrap().release()?;
        }
        Ok(())
    }
}

impl Drop for DecodeState {
    /// Pictures still mapped (a stop or new format without a drain) are unmapped once the
    /// copies reading them have run.
    fn drop(&mut self) {
        if let Err(e) = self.retire_mapped(0) {
            gst::warning!(CAT, "unmapping decoded frames: {e}");
        }
    }
}

impl Client<'_> {
    /// Copies the displayed picture into the frame's output buffer and finishes the frame; a
    /// frame that cannot be finished is dropped, so it never lingers with its buffer allocated.
    pub(super) fn output(
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
                    self.post_refusal(output.info(), &output.stream, false);
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
        let mut picture = decoder.map(display, stream)?;
        // Mapping waits for the decode, so its outcome is known now.
        let unusable = match decoder.status(display.index)? {
            DecodeStatus::Failed => Some("picture decoded with errors"),
            DecodeStatus::Concealed => {
                let counted = self
                    .imp
                    .count_damage("damaged picture, errors concealed", Some(frame));
                if let Err(flow) = counted {
                    picture.release()?;
                    return Ok(Some(Err(flow)));
                }
                None
            }
            DecodeStatus::Ok => None,
        };
        if let Some(what) = unusable {
            picture.release()?;
            return Ok(Some(self.imp.count_damage(what, Some(frame))));
        }
        let buffer = frame.output_buffer_mut().expect("allocated by output()");
        let copied = (|| {
            let mut out = Output::begin(stream, buffer, &output.media, &mut self.state.staging)?;
            let src = picture.view(output.info().format())?;
            copy_frame(stream, &src, &mut out.video()?)?;
            out.end(stream)
        })();
        if let Err(e) = &copied {
            gst::error!(
                CAT,
                imp = self.imp,
                "copying picture {} ({picture:?}) into a {}x{} output buffer ({:?}): {e}",
                display.index,
                output.info().width(),
                output.info().height(),
                buffer.meta::<gst_video::VideoMeta>().map(|m| (
                    m.width(),
                    m.height(),
                    m.stride().to_vec()
                )),
            );
        }
        // The picture is unmapped once the copy has run (see `retire_mapped`).
        picture.end_read(stream)?;
        self.state.mapped.push_back(picture);
        copied?;
        if output.woven && !display.progressive {
            let mut flags = gst_video::VideoBufferFlags::INTERLACED;
            if display.top_field_first {
                flags |= gst_video::VideoBufferFlags::TFF;
            }
            buffer.set_flags(gst::BufferFlags::from_bits_retain(flags.bits()));
        }
        self.state.retire_mapped(OUTPUT_SURFACES as usize - 1)?;
        Ok(None)
    }
}
