use std::sync::{Arc, LazyLock, Mutex, OnceLock};

use cudapreproc_core::index::{
    answer_as_the_decoder, is_video, pad_media, stopped_silently, VideoIndex,
};

use gst::glib;
use gst::prelude::*;
use gst::subclass::prelude::*;

use super::watchdog::{Progress, Watchdog};
use crate::property::{
    array_of, frame_indices_spec, frame_times_spec, properties_from_table, Changeable,
    PropertyTable, Spec,
};

crate::debug_category!(static CAT = "nvdecsrc", "NVDEC source bin");

/// `nvdec` properties the bin offers as its own, forwarded to the decoder.
const DECODER_PROPERTIES: &[&str] = &[
    "cuda-device-id",
    "display-delay",
    "decode-surfaces",
    "deinterlace-mode",
    "output-every",
    "keyframes-only",
    "max-errors",
    "decoder-size",
    "downstream-sync",
];

#[derive(Default)]
struct Settings {
    /// What to read, as a URI (a `location` is turned into a `file://` URI).
    uri: Option<String>,
    /// The `location` as given, for messages.
    location: Option<String>,
    /// `frame-indices`: the frames to output, by index in presentation order.
    frame_indices: Vec<u64>,
}

/// The largest frame index `frame-indices` takes: a launch line's "-1" would otherwise reach the
/// uint64 elements as 2^64 - 1.
const MAX_FRAME_INDEX: u64 = i64::MAX as u64;

impl Settings {
    /// How messages name the input.
    fn name(&self) -> String {
        self.location
            .clone()
            .or_else(|| self.uri.clone())
            .unwrap_or_else(|| "(no location)".into())
    }
}

#[derive(Default)]
pub struct NvDecSrc {
    settings: Mutex<Settings>,
    decoder: OnceLock<gst::Element>,
    /// The reading and demuxing part, made when the bin goes to PAUSED.
    source: Mutex<Option<(gst::Element, gst::Element)>>,
    /// Media types of the streams the parser found in the input, for error messages.
    streams: Mutex<Vec<String>>,
    /// What went out of the bin in this run, for the watchdog.
    progress: Arc<Progress>,
    /// Runs from PAUSED until back in READY.
    watchdog: Mutex<Option<Watchdog>>,
}

/// A copy of `spec` (same name, type, range and default) for another class to install.
fn copy_pspec(spec: &glib::ParamSpec) -> glib::ParamSpec {
    let (name, nick, blurb) = (spec.name(), spec.nick(), spec.blurb().unwrap_or_default());
    let flags = spec.flags();
    let changeable = if flags.contains(gst::PARAM_FLAG_MUTABLE_PLAYING) {
        Changeable::WhilePlaying
    } else if flags.contains(gst::PARAM_FLAG_MUTABLE_READY) {
        Changeable::UpToReady
    } else {
        Changeable::Unflagged
    };
    let copy = Spec::new(name, nick, blurb, changeable);
    if let Some(s) = spec.downcast_ref::<glib::ParamSpecInt>() {
        copy.int(s.minimum()..=s.maximum(), s.default_value())
    } else if let Some(s) = spec.downcast_ref::<glib::ParamSpecUInt>() {
        copy.uint(s.minimum()..=s.maximum(), s.default_value())
    } else if let Some(s) = spec.downcast_ref::<glib::ParamSpecBoolean>() {
        copy.boolean(s.default_value())
    } else if let Some(s) = spec.downcast_ref::<glib::ParamSpecEnum>() {
        // Each of nvdec's enum types, typed again.
        if spec.value_type() == crate::DeinterlaceMode::static_type() {
            let default: crate::DeinterlaceMode = s.default_value().expect("its own type");
            copy.enumeration(default)
        } else if spec.value_type() == crate::DecoderSize::static_type() {
            let default: crate::DecoderSize = s.default_value().expect("its own type");
            copy.enumeration(default)
        } else if spec.value_type() == crate::DownstreamSync::static_type() {
            let default: crate::DownstreamSync = s.default_value().expect("its own type");
            copy.enumeration(default)
        } else {
            unreachable!("nvdec enum property {name} of an unexpected type")
        }
    } else {
        unreachable!("nvdec property {name} of an unexpected type")
    }
}

/// Whether `uri` starts with a scheme ("file:", "https:"), as `gst_uri_is_valid` checks: a
/// file name belongs in `location`.
fn check_uri(uri: &str) -> Result<(), glib::Error> {
    let scheme = uri.split_once(':').map(|(scheme, _)| scheme);
    let valid = scheme.is_some_and(|s| {
        s.len() >= 2
            && s.starts_with(|c: char| c.is_ascii_alphabetic())
            && s.chars()
                .all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c))
    });
    if valid {
        return Ok(());
    }
    Err(glib::Error::new(
        gst::URIError::BadUri,
        &format!("\"{uri}\" is not a URI such as file:///path (a file name goes in location)"),
    ))
}

impl NvDecSrc {
    fn set_location(&self, value: &glib::Value) -> Result<(), String> {
        let location: Option<String> = value.get().expect("type checked upstream");
        if location.as_deref() == Some("") {
            return Err("an empty location names no file".into());
        }
        let uri = location.as_ref().map(|l| {
            let path = std::path::absolute(l).unwrap_or_else(|_| l.into());
            glib::filename_to_uri(&path, None)
                .map(|u| u.to_string())
                .unwrap_or_else(|_| format!("file://{}", path.display()))
        });
        let mut settings = self.settings.lock().unwrap();
        settings.location = location;
        settings.uri = uri;
        Ok(())
    }

    fn set_uri(&self, value: &glib::Value) -> Result<(), String> {
        let uri: Option<String> = value.get().expect("type checked upstream");
        if let Some(uri) = uri.as_deref() {
            check_uri(uri).map_err(|e| e.to_string())?;
        }
        let mut settings = self.settings.lock().unwrap();
        settings.location = None;
        settings.uri = uri;
        Ok(())
    }

    fn set_frame_indices(&self, value: &glib::Value) -> Result<(), String> {
        let array = value.get::<gst::Array>().expect("type checked upstream");
        let indices: Vec<u64> = array.iter().filter_map(|v| v.get().ok()).collect();
        let times_set = !self
            .decoder()
            .property::<gst::Array>("frame-times")
            .is_empty();
        if !indices.is_empty() && times_set {
            return Err("frame-times is set: give one or the other".into());
        }
        self.settings.lock().unwrap().frame_indices = indices;
        Ok(())
    }

    fn set_frame_times(&self, value: &glib::Value) -> Result<(), String> {
        let array = value.get::<gst::Array>().expect("type checked upstream");
        let indices_set = !self.settings.lock().unwrap().frame_indices.is_empty();
        if !array.is_empty() && indices_set {
            return Err("frame-indices is set: give one or the other".into());
        }
        // The decoder refuses times it cannot take, itself.
        self.decoder().set_property_from_value("frame-times", value);
        Ok(())
    }

    fn decoder(&self) -> &gst::Element {
        self.decoder.get().expect("made in constructed()")
    }

    /// Tells the decoder the stream times of the `frame-indices` (found in the video's index),
    /// or refuses indices the video does not have.
    fn select_frames(
        &self,
        uri: &str,
        name: &str,
        indices: &[u64],
    ) -> Result<(), gst::StateChangeError> {
        let index = VideoIndex::scan(uri).map_err(|e| {
            gst::element_imp_error!(
                self,
                gst::ResourceError::Read,
                ("{name}: frame-indices cannot be found: {}", e)
            );
            gst::StateChangeError
        })?;
        let frames = index.frames();
        let mut seconds = Vec::with_capacity(indices.len());
        for &i in indices {
            let Some(frame) = frames.get(i as usize) else {
                gst::element_imp_error!(
                    self,
                    gst::ResourceError::Settings,
                    (
                        "{name}: frame {i} of frame-indices does not exist: the video has {} \
                         frames",
                        frames.len()
                    )
                );
                return Err(gst::StateChangeError);
            };
            seconds.push((frame.stream_time_ns as f64 / 1e9).to_send_value());
        }
        self.decoder()
            .set_property("frame-times", gst::Array::new(seconds));
        Ok(())
    }

    /// The reading and demuxing part for the configured URI.
    fn build_source(&self) -> Result<(), gst::StateChangeError> {
        let (uri, name, indices) = {
            let settings = self.settings.lock().unwrap();
            (
                settings.uri.clone(),
                settings.name(),
                settings.frame_indices.clone(),
            )
        };
        let Some(uri) = uri else {
            gst::element_imp_error!(
                self,
                gst::ResourceError::NotFound,
                ("nvdecsrc: no location or uri set")
            );
            return Err(gst::StateChangeError);
        };
        let make = |factory: &str| {
            gst::ElementFactory::make(factory).build().map_err(|_| {
                gst::element_imp_error!(
                    self,
                    gst::CoreError::MissingPlugin,
                    ("{name}: GStreamer element {factory} is missing")
                );
                gst::StateChangeError
            })
        };
        if !indices.is_empty() {
            self.select_frames(&uri, &name, &indices)?;
        }
        let reader = make("urisourcebin")?;
        reader.set_property("uri", &uri);
        let parser = make("parsebin")?;
        // Parsers settle their output format for nvdec, not for whichever decoder ranks first.
        let decoder_caps = self
            .decoder()
            .static_pad("sink")
            .unwrap()
            .pad_template_caps();
        parser
            .downcast_ref::<gst::Bin>()
            .expect("parsebin is a bin")
            .connect_element_added(move |_, element| answer_as_the_decoder(element, &decoder_caps));
        let obj = self.obj();
        obj.add_many([&reader, &parser]).unwrap();

        let parser_sink = parser.static_pad("sink").unwrap();
        reader.connect_pad_added(move |_, pad| {
            if !parser_sink.is_linked() {
                let _ = pad.link(&parser_sink);
            }
        });
        // The first video stream goes to the decoder; the demuxer carries on with the others
        // unlinked.
        self.streams.lock().unwrap().clear();
        let decoder_sink = self.decoder().static_pad("sink").unwrap();
        let weak = obj.downgrade();
        parser.connect_pad_added(move |_, pad| {
            let media = pad_media(pad);
            if let Some(obj) = weak.upgrade() {
                obj.imp().streams.lock().unwrap().push(media.clone());
            }
            if is_video(&media) && !decoder_sink.is_linked() {
                if let Err(e) = pad.link(&decoder_sink) {
                    gst::warning!(CAT, "cannot decode {media} stream: {e:?}");
                }
            }
        });
        let weak = obj.downgrade();
        let decoder_sink = self.decoder().static_pad("sink").unwrap();
        parser.connect_no_more_pads(move |_| {
            if let Some(obj) = weak.upgrade() {
                if !decoder_sink.is_linked() {
                    let name = obj.imp().settings.lock().unwrap().name();
                    obj.imp().progress.failed();
                    gst::element_error!(
                        obj,
                        gst::StreamError::WrongType,
                        ("{name}: no video stream nvdec can decode")
                    );
                }
            }
        });
        *self.source.lock().unwrap() = Some((reader, parser));
        Ok(())
    }

    /// Starts looking for reading that stops silently (see [`Watchdog`]).
    fn start_watchdog(&self) {
        self.progress.reset();
        let weak = self.obj().downgrade();
        let stopped = move || {
            let obj = weak.upgrade()?;
            let source = obj.imp().source.lock().unwrap();
            let (reader, parser) = source.as_ref()?;
            let bins = [reader, parser].map(|e| e.downcast_ref::<gst::Bin>().expect("a bin"));
            Some(stopped_silently(bins))
        };
        let weak = self.obj().downgrade();
        let report = move || {
            if let Some(obj) = weak.upgrade() {
                let name = obj.imp().settings.lock().unwrap().name();
                gst::element_error!(
                    obj,
                    gst::StreamError::Failed,
                    ("{name}: reading stopped without an error message (the file is damaged or \
                      cut short)")
                );
            }
        };
        let watchdog = Watchdog::start(self.progress.clone(), stopped, report);
        *self.watchdog.lock().unwrap() = Some(watchdog);
    }

    fn remove_source(&self) {
        if let Some((reader, parser)) = self.source.lock().unwrap().take() {
            for element in [&reader, &parser] {
                let _ = element.set_state(gst::State::Null);
                let _ = self.obj().remove(element);
            }
        }
    }
}

#[glib::object_subclass]
impl ObjectSubclass for NvDecSrc {
    const NAME: &'static str = "GstRsNvDecSrc";
    type Type = super::NvDecSrc;
    type ParentType = gst::Bin;
    type Interfaces = (gst::URIHandler,);
}

static PROPERTIES: LazyLock<PropertyTable<NvDecSrc, Settings>> = LazyLock::new(|| {
    let table = PropertyTable::new(*CAT, |imp: &NvDecSrc| &imp.settings)
        .property(
            Spec::ready(
                "location",
                "Location",
                "File to read (MP4, Matroska/WebM, MPEG-TS, raw elementary streams...)",
            )
            .string(),
            |imp| imp.settings.lock().unwrap().location.to_value(),
            NvDecSrc::set_location,
        )
        .property(
            Spec::ready(
                "uri",
                "URI",
                "URI to read (file://, http://...), instead of a location",
            )
            .string(),
            |imp| imp.settings.lock().unwrap().uri.to_value(),
            NvDecSrc::set_uri,
        )
        .property(
            frame_indices_spec(
                "Output only these frames (counted from 0 in presentation order, found in the \
                 video's index when it starts, in their own order): the others are decoded only \
                 where referenced and never copied out, and the stream ends after the last. \
                 Instead of frame-times",
                "Frame index",
                MAX_FRAME_INDEX,
            ),
            |imp| array_of(&imp.settings.lock().unwrap().frame_indices).to_value(),
            NvDecSrc::set_frame_indices,
        )
        .property(
            frame_times_spec(
                "Output only the frames shown at these stream times (seconds), as nvdec's \
                 frame-times. Instead of frame-indices",
            ),
            |imp| imp.decoder().property_value("frame-times"),
            NvDecSrc::set_frame_times,
        );
    // The decoder's own properties, offered as they are.
    let decoder = gst::ElementFactory::make("nvdec")
        .build()
        .expect("nvdec is registered with this plugin");
    DECODER_PROPERTIES.iter().fold(table, |table, &name| {
        table.property(
            copy_pspec(&decoder.find_property(name).unwrap()),
            move |imp| imp.decoder().property_value(name),
            move |imp, value| {
                imp.decoder().set_property_from_value(name, value);
                Ok(())
            },
        )
    })
});

impl ObjectImpl for NvDecSrc {
    properties_from_table!(PROPERTIES);

    fn constructed(&self) {
        self.parent_constructed();
        let decoder = gst::ElementFactory::make("nvdec")
            .name("decoder")
            .build()
            .expect("nvdec is registered with this plugin");
        let obj = self.obj();
        obj.add(&decoder).unwrap();
        let target = decoder.static_pad("src").unwrap();
        let templ = obj.pad_template("src").unwrap();
        let src = gst::GhostPad::builder_from_template_with_target(&templ, &target)
            .unwrap()
            .name("src")
            .build();
        let progress = self.progress.clone();
        src.add_probe(
            gst::PadProbeType::DATA_DOWNSTREAM | gst::PadProbeType::EVENT_FLUSH,
            move |_, info| {
                progress.passed(info.event().map(|e| e.type_()));
                gst::PadProbeReturn::Ok
            },
        );
        obj.add_pad(&src).unwrap();
        self.decoder.set(decoder).unwrap();
    }
}

impl GstObjectImpl for NvDecSrc {}

impl ElementImpl for NvDecSrc {
    crate::element_metadata!(
        "NVDEC source",
        "Source/Video/Hardware",
        "Reads a file or URI, demuxes and parses its video and decodes it with NVDEC \
         (nvdec), into CUDA or system memory"
    );

    // nvdec's output, which the bin shows as its own.
    crate::element_pad_templates!({
        let decoder = gst::ElementFactory::find("nvdec").expect("nvdec is registered");
        let caps = decoder
            .static_pad_templates()
            .into_iter()
            .find(|t| t.direction() == gst::PadDirection::Src)
            .unwrap()
            .caps();
        vec![crate::always_pad(gst::PadDirection::Src, &caps)]
    });

    fn change_state(
        &self,
        transition: gst::StateChange,
    ) -> Result<gst::StateChangeSuccess, gst::StateChangeError> {
        // The reading and demuxing part is made for each run, so that a new location set in
        // READY is read with the decoder (and its NVDEC session) kept.
        if transition == gst::StateChange::ReadyToPaused {
            self.build_source()?;
            self.start_watchdog();
        }
        let result = self.parent_change_state(transition);
        if matches!(
            transition,
            gst::StateChange::PausedToReady | gst::StateChange::ReadyToNull
        ) || result.is_err()
        {
            // Joined before the reading part goes, outside every lock the watchdog takes.
            let watchdog = self.watchdog.lock().unwrap().take();
            drop(watchdog);
            self.remove_source();
        }
        result
    }
}

/// Why a streaming thread stopped, from a generic flow error: GST_ELEMENT_FLOW_ERROR's
/// `flow-return` detail (a GstFlowReturn value), or for elements that post the error themselves
/// (tsdemux), the reason their debug text gives.
fn flow_of(detail: Option<i32>, debug: Option<&str>) -> Option<gst::FlowReturn> {
    const REASONS: [(i32, &str, gst::FlowReturn); 3] = [
        (-1, "reason not-linked", gst::FlowReturn::NotLinked),
        (-4, "reason not-negotiated", gst::FlowReturn::NotNegotiated),
        (-5, "reason error", gst::FlowReturn::Error),
    ];
    REASONS
        .iter()
        .find(|(value, text, _)| match detail {
            Some(detail) => detail == *value,
            None => debug.is_some_and(|d| d.contains(text)),
        })
        .map(|(_, _, flow)| *flow)
}

/// The reason an element gave in the debug text of its error: GStreamer's debug text is
/// "file(line): function (): element path:" followed by the element's own words.
fn debug_reason(debug: &str) -> Option<&str> {
    debug
        .split_once('\n')
        .map(|(_, reason)| reason.trim())
        .filter(|reason| !reason.is_empty())
}

/// What a generic stream failure ("Internal data stream error" when a streaming thread stops in
/// `from`, or "general stream error") means for this input, given why the thread stopped
/// (`flow`), the element's own `reason`, the media types of the `streams` found and whether one
/// is `decoding`: which stream could not be decoded, and why.
fn explain_stream_failure(
    flow: Option<gst::FlowReturn>,
    reason: Option<&str>,
    from: &str,
    streams: &[String],
    decoding: bool,
) -> Option<String> {
    let found = if streams.is_empty() {
        "no streams found".to_string()
    } else {
        format!("streams found: {}", streams.join(", "))
    };
    match (flow, reason) {
        (Some(gst::FlowReturn::NotLinked), _) if !decoding => {
            Some(format!("no video stream nvdec can decode ({found})"))
        }
        (Some(gst::FlowReturn::NotNegotiated), _) => Some(format!(
            "the video stream cannot be decoded as its container describes it: {from} could not \
             agree on its format (damaged or unsupported codec configuration; {found})"
        )),
        (Some(gst::FlowReturn::Error | gst::FlowReturn::NotLinked), _) => Some(format!(
            "reading stopped in {from}: the stream is damaged or not what its container says \
             ({found})"
        )),
        (None, Some(reason)) => Some(format!("reading stopped in {from}: {reason} ({found})")),
        _ => None,
    }
}

impl NvDecSrc {
    /// `message` (an error or warning of an inner element) with the input's name in its text,
    /// and a generic flow error replaced by what it means here.
    fn renamed(&self, message: &gst::Message) -> Option<gst::Message> {
        let name = self.settings.lock().unwrap().name();
        let (error, debug, details, is_error) = match message.view() {
            gst::MessageView::Error(e) => (e.error(), e.debug(), e.details(), true),
            gst::MessageView::Warning(w) => (w.error(), w.debug(), w.details(), false),
            _ => return None,
        };
        if error.message().contains(&name) {
            return None;
        }
        let flow = flow_of(
            details.and_then(|d| d.get::<i32>("flow-return").ok()),
            debug.as_deref(),
        );
        // The element's kind (qtdemux), not its instance name (qtdemux12).
        let from = message
            .src()
            .map(|s| {
                s.downcast_ref::<gst::Element>()
                    .and_then(|e| e.factory())
                    .map(|f| f.name().to_string())
                    .unwrap_or_else(|| s.name().to_string())
            })
            .unwrap_or_default();
        let text = if error.matches(gst::StreamError::Failed) {
            let streams = self.streams.lock().unwrap().clone();
            let decoding = self.decoder().static_pad("sink").unwrap().is_linked();
            let reason = debug.as_deref().and_then(debug_reason);
            explain_stream_failure(flow, reason, &from, &streams, decoding)
        } else {
            None
        }
        .unwrap_or_else(|| error.message().to_string());
        let error =
            glib::Error::with_domain(error.domain(), error.code(), &format!("{name}: {text}"));
        let debug = debug.map(|d| d.to_string());
        Some(if is_error {
            let mut builder = gst::message::Error::builder_from_error(error);
            if let Some(debug) = &debug {
                builder = builder.debug(debug);
            }
            builder.src(&*self.obj()).build()
        } else {
            let mut builder = gst::message::Warning::builder_from_error(error);
            if let Some(debug) = &debug {
                builder = builder.debug(debug);
            }
            builder.src(&*self.obj()).build()
        })
    }
}

impl BinImpl for NvDecSrc {
    /// Errors and warnings of the inner elements name the input they are about.
    fn handle_message(&self, message: gst::Message) {
        if message.type_() == gst::MessageType::Error {
            self.progress.failed();
        }
        let renamed = self.renamed(&message);
        self.parent_handle_message(renamed.unwrap_or(message));
    }
}

impl URIHandlerImpl for NvDecSrc {
    const URI_TYPE: gst::URIType = gst::URIType::Src;

    fn protocols() -> &'static [&'static str] {
        &["file", "http", "https"]
    }

    fn uri(&self) -> Option<String> {
        self.settings.lock().unwrap().uri.clone()
    }

    fn set_uri(&self, uri: &str) -> Result<(), glib::Error> {
        check_uri(uri)?;
        let mut settings = self.settings.lock().unwrap();
        settings.location = None;
        settings.uri = Some(uri.to_string());
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flow_errors_are_read_from_the_detail_or_the_debug_text() {
        assert_eq!(
            flow_of(Some(-4), None),
            Some(gst::FlowReturn::NotNegotiated)
        );
        assert_eq!(
            flow_of(Some(-1), Some("streaming stopped, reason error (-5)")),
            Some(gst::FlowReturn::NotLinked)
        );
        assert_eq!(
            flow_of(None, Some("stream stopped, reason not-linked")),
            Some(gst::FlowReturn::NotLinked)
        );
        assert_eq!(flow_of(Some(-2), None), None);
        assert_eq!(flow_of(None, Some("no known streams found")), None);
        assert_eq!(flow_of(None, None), None);
    }

    #[test]
    fn stream_failures_say_what_could_not_be_decoded() {
        let audio = ["audio/mpeg".to_string()];
        let not_linked = Some(gst::FlowReturn::NotLinked);
        assert_eq!(
            explain_stream_failure(not_linked, None, "qtdemux", &audio, false).unwrap(),
            "no video stream nvdec can decode (streams found: audio/mpeg)"
        );
        let not_negotiated = Some(gst::FlowReturn::NotNegotiated);
        let text =
            explain_stream_failure(not_negotiated, None, "matroskademux", &[], true).unwrap();
        assert!(text.contains("matroskademux could not agree"), "{text}");
        assert!(text.contains("no streams found"), "{text}");
        let h264 = ["video/x-h264".to_string()];
        let text = explain_stream_failure(not_linked, None, "tsdemux", &h264, true).unwrap();
        assert!(text.starts_with("reading stopped in tsdemux"), "{text}");
        let flushing = Some(gst::FlowReturn::Flushing);
        assert_eq!(
            explain_stream_failure(flushing, None, "tsdemux", &h264, true),
            None
        );
        assert_eq!(
            explain_stream_failure(None, None, "tsdemux", &h264, true),
            None
        );
    }

    #[test]
    fn stream_failures_without_a_flow_give_the_elements_reason() {
        // As tsdemux posts it for a PAT that points at no PMT.
        let debug = "../gst/mpegtsdemux/mpegtsbase.c(1755): mpegts_base_loop (): \
                     /GstPipeline:pipeline0/GstTSDemux:tsdemux0:\nNo program activated before EOS";
        let reason = debug_reason(debug);
        assert_eq!(reason, Some("No program activated before EOS"));
        assert_eq!(
            explain_stream_failure(None, reason, "tsdemux", &[], false).unwrap(),
            "reading stopped in tsdemux: No program activated before EOS (no streams found)"
        );
        assert_eq!(
            debug_reason("gstbaseparse.c(2670): push_frame (): /vp9parse0"),
            None
        );
        assert_eq!(debug_reason("demux.c(1): loop (): /demux0:\n  "), None);
    }
}
