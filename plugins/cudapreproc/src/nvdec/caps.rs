//! nvdec's caps: what it decodes, the output caps a sequence header gives, and what to say when
//! downstream refuses them.

use cudapreproc_core::access::Media;
use cudapreproc_core::caps::cuda_features;
use cudapreproc_core::cuda::CudaError;
use cudapreproc_core::cuvid::{Codec, SequenceInfo};
use cudapreproc_core::negotiation::{self, Downstream};
use gst::prelude::*;
use gst::subclass::prelude::*;
use gst_video::prelude::*;

use super::client::{Client, OutputError};
use super::imp::CAT;
use super::output::OutputFormat;
use crate::property::factory_name;

pub(super) const OUTPUT_FORMATS: &[&str] = &["NV12", "P010_10LE", "P016_LE", "Y444", "Y444_16LE"];

pub(super) fn codec_of(caps: &gst::CapsRef) -> Option<Codec> {
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

impl Client<'_> {
    /// Sets the output caps for a sequence. Downstream refusing them is posted here, with what
    /// nvdec offered and what downstream accepts.
    pub(super) fn negotiate(
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
        let fps = self.state.input_fps.unwrap_or_else(|| seq.fps());
        let par = self
            .state
            .input_par
            .unwrap_or_else(|| seq.pixel_aspect_ratio(width, height));
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
            .colorimetry(&seq.colorimetry(&default.colorimetry()))
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
        let same = self
            .state
            .output
            .as_ref()
            .is_some_and(|o| o.info() == &info)
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
            media: Media::Video(info),
            woven,
            stream,
        });
        Ok(())
    }

    /// Posts why downstream refuses the caps nvdec offers for frames of `info` (in either
    /// memory). Unless `always`, only when they conflict with what the peer accepts: otherwise
    /// an element further down refused its own caps, and says so.
    pub(super) fn post_refusal(&self, info: &gst_video::VideoInfo, stream: &str, always: bool) {
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
}
