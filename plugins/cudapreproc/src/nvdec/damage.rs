//! Damage accounting: every damaged or lost picture is a warning naming its position, and
//! counts against `max-errors` as GstVideoDecoder counts errors.

use cudapreproc_core::cuvid::Codec;
use gst::prelude::*;
use gst::subclass::prelude::*;
use gst_video::prelude::*;

use super::client::Client;
use super::imp::NvDec;

impl NvDec {
    /// Counts a damaged picture against `max-errors`: a warning naming the stream position, and
    /// an error once past the limit.
    pub(super) fn count_damage(
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

    /// Releases a frame in which the parser found no picture, counting it as damage.
    pub(super) fn release_lost_frame(
        &self,
        frame: gst_video::VideoCodecFrame,
    ) -> Result<gst::FlowSuccess, gst::FlowError> {
        let counted = self.count_damage("no picture decoded from this frame", Some(&frame));
        self.obj().release_frame(frame);
        counted
    }
}

impl Client<'_> {
    /// H.264 and HEVC pictures are displayed in presentation order, one per access unit (bar
    /// second fields): a pending frame presented before `displayed` that has not been displayed
    /// by now never will be. The parser found no picture in its data (damaged), so it is counted
    /// against `max-errors` with its position and dropped now, not held until the end of the
    /// stream. `false` once past the limit.
    pub(super) fn drop_skipped_frames(&mut self, displayed: &gst_video::VideoCodecFrame) -> bool {
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
