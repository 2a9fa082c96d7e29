//! The front end nvdecsrc builds in front of nvdec — `urisourcebin ! parsebin`, its first video
//! stream taken, the other streams left unlinked — ending in a fakesink whose pad probe records
//! what the decoder would receive: caps, segments, and each buffer's timestamps and key flag.

use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use gst::prelude::*;

use super::frames::{self, Packet};
use super::stream;
use super::IndexError;
use crate::cuvid::PARSED_CAPS;

/// How long GStreamer may give nothing new (no buffer, no message) before the index gives up.
pub const STALL_TIMEOUT: Duration = Duration::from_secs(20);

/// How far to run the front end.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Until {
    /// Every packet (PLAYING to end of stream).
    EndOfStream,
    /// The first frame shown (PAUSED, prerolled).
    FirstFrame,
}

/// What the front end found.
pub(super) struct Found {
    /// The frames the decoder would show, in decode order.
    pub packets: Vec<Packet>,
    /// The video stream's first caps.
    pub caps: gst::Caps,
    /// The nominal frame duration of its last caps.
    pub nominal: Option<gst::ClockTime>,
    /// The typefind result where it is not the video stream itself (a container, not an
    /// elementary stream).
    pub container: Option<String>,
    /// The duration query's answer, asked at the first frame.
    pub duration: Option<gst::ClockTime>,
    /// The stream time of the start of the segment the first frame shown came in.
    pub begin: Option<gst::ClockTime>,
}

/// What the probe and parsebin's callbacks record, read by the bus loop.
#[derive(Default)]
struct Record {
    caps: Option<gst::Caps>,
    nominal: Option<gst::ClockTime>,
    segment: gst::FormattedSegment<gst::ClockTime>,
    /// The last timestamp given to a frame, for guessing missing ones as the decoder does.
    previous_pts: Option<gst::ClockTime>,
    packets: Vec<Packet>,
    begin: Option<gst::ClockTime>,
    /// Buffers seen, shown or not: progress.
    buffers: u64,
    /// Media types of the streams parsebin found.
    streams: Vec<String>,
}

impl Record {
    fn caps(&mut self, caps: &gst::Caps) {
        self.nominal = stream::read(caps).and_then(|s| s.frame_duration());
        if self.caps.is_none() {
            self.caps = Some(caps.clone());
        }
    }

    fn buffer(&mut self, buffer: &gst::BufferRef) {
        self.buffers += 1;
        // A picture only decoded (vp9parse's hidden frames, split from their superframe) is
        // never output.
        if buffer.flags().contains(gst::BufferFlags::DECODE_ONLY) {
            return;
        }
        let key = !buffer.flags().contains(gst::BufferFlags::DELTA_UNIT);
        let duration = buffer.duration();
        let pts = buffer.pts().or_else(|| {
            frames::guessed_pts(
                &self.segment,
                self.previous_pts,
                buffer.dts(),
                duration.or(self.nominal),
                key,
            )
        });
        // A frame the decoder cannot time is output untimed: no stream time to index it by.
        let Some(pts) = pts else { return };
        self.previous_pts = Some(pts);
        if let Some(packet) = frames::shown(&self.segment, pts, duration, self.nominal, key) {
            if self.packets.is_empty() {
                self.begin = self.segment.to_stream_time(self.segment.start());
            }
            self.packets.push(packet);
        }
    }
}

fn lock(record: &Mutex<Record>) -> MutexGuard<'_, Record> {
    record.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Sets the pipeline to NULL when dropped: every path out of [`run`] tears it down.
struct Stopping(gst::Pipeline);

impl Drop for Stopping {
    fn drop(&mut self) {
        let _ = self.0.set_state(gst::State::Null);
    }
}

/// Makes `element`, if it is a parser whose output the decoder takes, choose its output format
/// as in front of the decoder: its caps queries downstream are answered with `decoder_caps`.
///
/// parsebin has each parser settle its output format before exposing the stream, with a
/// capsfilter downstream whose first structure comes from the highest-ranked decoder of that
/// codec in the registry, not from what the stream will be linked to: h264parse keeps MP4's
/// `avc` where gst-libav's decoder ranks first, and parsebin's pad then refuses a decoder of
/// `byte-stream` only. nvdec (rank none) gets `byte-stream` only where a decoder that takes
/// nothing else ranks first, as NVIDIA's nvh264dec does on a GPU host.
pub fn answer_as_the_decoder(element: &gst::Element, decoder_caps: &gst::Caps) {
    let is_parser = element
        .factory()
        .is_some_and(|f| f.has_type(gst::ElementFactoryType::PARSER));
    let Some(src) = element.static_pad("src") else {
        return;
    };
    if !is_parser || !src.pad_template_caps().can_intersect(decoder_caps) {
        return;
    }
    let decoder_caps = decoder_caps.clone();
    src.add_probe(gst::PadProbeType::QUERY_DOWNSTREAM, move |_, info| {
        let Some(gst::PadProbeData::Query(query)) = &mut info.data else {
            return gst::PadProbeReturn::Ok;
        };
        let gst::QueryViewMut::Caps(q) = query.view_mut() else {
            return gst::PadProbeReturn::Ok;
        };
        let caps = match q.filter() {
            Some(filter) => {
                filter.intersect_with_mode(&decoder_caps, gst::CapsIntersectMode::First)
            }
            None => decoder_caps.clone(),
        };
        q.set_result(&caps);
        gst::PadProbeReturn::Handled
    });
}

/// Whether a parsebin stream of media type `media` is video the decoder may take.
pub fn is_video(media: &str) -> bool {
    media.starts_with("video/") || media == "image/jpeg"
}

/// The media type of what a parsebin pad carries ("video/x-h264"), empty when unknown.
pub fn pad_media(pad: &gst::Pad) -> String {
    let caps = pad.current_caps().unwrap_or_else(|| pad.query_caps(None));
    caps.structure(0)
        .map(|s| s.name().to_string())
        .unwrap_or_default()
}

/// Runs the front end on `uri` (messages name `file`) until `until`.
pub(super) fn run(uri: &str, file: &str, until: Until) -> Result<Found, IndexError> {
    let unreadable = |reason: String| IndexError::Unreadable {
        file: file.to_string(),
        reason,
    };
    gst::init().map_err(|e| unreadable(format!("GStreamer cannot start: {e}")))?;
    let make = |factory: &str| {
        gst::ElementFactory::make(factory)
            .build()
            .map_err(|_| unreadable(format!("GStreamer element {factory} is missing")))
    };
    let reader = make("urisourcebin")?;
    let parser = make("parsebin")?
        .downcast::<gst::Bin>()
        .map_err(|_| unreadable("parsebin is not a bin".into()))?;
    let filter = make("capsfilter")?;
    let sink = make("fakesink")?;
    reader.set_property("uri", uri);
    let decoder_caps: gst::Caps = PARSED_CAPS
        .parse()
        .map_err(|_| unreadable("the decoder's caps do not parse".into()))?;
    filter.set_property("caps", &decoder_caps);
    sink.set_property("sync", false);
    sink.set_property("enable-last-sample", false);

    let pipeline = gst::Pipeline::new();
    let stopping = Stopping(pipeline.clone());
    let elements = [&reader, parser.upcast_ref(), &filter, &sink];
    pipeline
        .add_many(elements)
        .and_then(|_| filter.link(&sink))
        .map_err(|e| unreadable(format!("cannot build the pipeline: {e}")))?;

    let record = Arc::new(Mutex::new(Record::default()));
    let parser_sink = parser
        .static_pad("sink")
        .ok_or_else(|| unreadable("parsebin has no sink pad".into()))?;
    reader.connect_pad_added(move |_, pad| {
        if !parser_sink.is_linked() {
            let _ = pad.link(&parser_sink);
        }
    });
    let filter_sink = filter
        .static_pad("sink")
        .ok_or_else(|| unreadable("capsfilter has no sink pad".into()))?;
    {
        let record = record.clone();
        parser.connect_pad_added(move |_, pad| {
            let media = pad_media(pad);
            // The first video stream the decoder takes goes on; the demuxer carries on with the
            // others unlinked, as in nvdecsrc.
            if is_video(&media) && !filter_sink.is_linked() {
                let _ = pad.link(&filter_sink);
            }
            lock(&record).streams.push(media);
        });
    }
    {
        let decoder_caps = decoder_caps.clone();
        parser
            .connect_element_added(move |_, element| answer_as_the_decoder(element, &decoder_caps));
    }
    let sink_pad = sink
        .static_pad("sink")
        .ok_or_else(|| unreadable("fakesink has no sink pad".into()))?;
    {
        let record = record.clone();
        sink_pad.add_probe(
            gst::PadProbeType::BUFFER
                | gst::PadProbeType::BUFFER_LIST
                | gst::PadProbeType::EVENT_DOWNSTREAM,
            move |_, info| {
                let mut record = lock(&record);
                match &info.data {
                    Some(gst::PadProbeData::Buffer(buffer)) => record.buffer(buffer),
                    Some(gst::PadProbeData::BufferList(list)) => {
                        list.iter().for_each(|b| record.buffer(b))
                    }
                    Some(gst::PadProbeData::Event(event)) => match event.view() {
                        gst::EventView::Caps(c) => record.caps(&c.caps_owned()),
                        gst::EventView::Segment(s) => {
                            if let Some(segment) = s.segment().downcast_ref::<gst::ClockTime>() {
                                record.segment = segment.clone();
                            }
                        }
                        _ => {}
                    },
                    _ => {}
                }
                gst::PadProbeReturn::Ok
            },
        );
    }

    let target = match until {
        Until::EndOfStream => gst::State::Playing,
        Until::FirstFrame => gst::State::Paused,
    };
    // A refused state change posts its reason, which the loop below reads.
    let _ = pipeline.set_state(target);
    wait(&pipeline, &record, &parser, &decoder_caps, file, until)?;

    let record = std::mem::take(&mut *lock(&record));
    let caps = record.caps.ok_or_else(|| IndexError::NoFrames {
        file: file.to_string(),
    })?;
    let duration = match until {
        Until::FirstFrame => pipeline.query_duration::<gst::ClockTime>(),
        Until::EndOfStream => None,
    };
    let found = Found {
        container: container(&pipeline, &caps),
        packets: record.packets,
        caps,
        nominal: record.nominal,
        duration,
        begin: record.begin,
    };
    drop(stopping);
    Ok(found)
}

/// Waits for the end of stream (or the preroll, for [`Until::FirstFrame`]), an error, a stream
/// collection of `parser` without a stream the decoder takes (`decoder_caps`), streaming
/// stopped without either, or a stall.
fn wait(
    pipeline: &gst::Pipeline,
    record: &Mutex<Record>,
    parser: &gst::Bin,
    decoder_caps: &gst::Caps,
    file: &str,
    until: Until,
) -> Result<(), IndexError> {
    use gst::MessageType as T;
    let bus = pipeline.bus().ok_or_else(|| IndexError::Unreadable {
        file: file.to_string(),
        reason: "the pipeline has no bus".into(),
    })?;
    let mut progress = (Instant::now(), 0);
    loop {
        let message = bus.timed_pop_filtered(
            gst::ClockTime::from_seconds(1),
            &[T::Eos, T::Error, T::AsyncDone, T::StreamCollection],
        );
        let Some(message) = message else {
            let buffers = lock(record).buffers;
            if buffers != progress.1 {
                progress = (Instant::now(), buffers);
            } else if stopped_silently([pipeline.upcast_ref::<gst::Bin>()]) {
                return Err(IndexError::Unreadable {
                    file: file.to_string(),
                    reason: "reading stopped without an error message (the file is damaged or \
                             cut short)"
                        .into(),
                });
            } else if progress.0.elapsed() > STALL_TIMEOUT {
                return Err(IndexError::Stalled {
                    file: file.to_string(),
                    seconds: STALL_TIMEOUT.as_secs(),
                });
            }
            continue;
        };
        progress.0 = Instant::now();
        match message.view() {
            gst::MessageView::Eos(_) => return Ok(()),
            gst::MessageView::AsyncDone(_) if until == Until::FirstFrame => return Ok(()),
            gst::MessageView::Error(e) => {
                let streams = std::mem::take(&mut lock(record).streams);
                return Err(error_of(&e.error(), streams, file));
            }
            // parsebin lists the streams once it has found them all (it never signals
            // no-more-pads), after linking them. Without a video stream the decoder takes, the
            // demuxer's not-linked error would say so, but under load GStreamer 1.22 can lose
            // that error and leave the pipeline waiting.
            gst::MessageView::StreamCollection(c)
                if message.src() == Some(parser.upcast_ref::<gst::Object>()) =>
            {
                let streams: Vec<String> = c
                    .stream_collection()
                    .iter()
                    .filter_map(|s| s.caps())
                    .filter_map(|caps| caps.structure(0).map(|s| s.name().to_string()))
                    .collect();
                let taken = |media: &String| decoder_caps.iter().any(|s| s.name() == media);
                if !streams.iter().any(taken) {
                    return Err(IndexError::NoVideo {
                        file: file.to_string(),
                        streams,
                    });
                }
            }
            _ => {}
        }
    }
}

/// Whether streaming in `bins` has stopped without the end of the stream or an error reaching
/// the bus: a streaming thread paused and none running (checked a second or more after the last
/// sign of progress, so either would have arrived). parsebin in GStreamer 1.22 drops an error
/// its demuxer posts while parsebin is still setting the demuxer up, which happens under load:
/// reading stops and nothing says so.
pub fn stopped_silently<'a>(bins: impl IntoIterator<Item = &'a gst::Bin>) -> bool {
    let mut paused = false;
    for bin in bins {
        for element in bin.iterate_recurse().into_iter().filter_map(Result::ok) {
            for pad in element.pads() {
                match pad.task_state() {
                    gst::TaskState::Started => return false,
                    gst::TaskState::Paused => paused = true,
                    _ => {}
                }
            }
        }
    }
    paused
}

/// What an error from inside the pipeline means for the index, given the media types of the
/// `streams` parsebin found.
fn error_of(error: &glib::Error, streams: Vec<String>, file: &str) -> IndexError {
    let file = file.to_string();
    if error.matches(gst::ResourceError::NotFound) {
        IndexError::NotFound { file }
    } else if !streams.is_empty() && !streams.iter().any(|s| is_video(s)) {
        // The demuxer stopped because nothing took its streams.
        IndexError::NoVideo { file, streams }
    } else {
        IndexError::Unreadable {
            file,
            reason: error.message().to_string(),
        }
    }
}

/// The container typefind found, where it is not the video stream itself (an elementary stream).
fn container(pipeline: &gst::Pipeline, video: &gst::Caps) -> Option<String> {
    let video = video.structure(0)?.name();
    pipeline
        .iterate_all_by_element_factory_name("typefind")
        .into_iter()
        .filter_map(Result::ok)
        .find_map(|e| e.property::<Option<gst::Caps>>("caps"))
        .and_then(|caps| caps.structure(0).map(|s| s.name().to_string()))
        .filter(|found| found != video)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_say_not_found_no_video_or_gstreamers_reason() {
        gst::init().unwrap();
        let missing = glib::Error::new(gst::ResourceError::NotFound, "No such file");
        assert_eq!(
            error_of(&missing, Vec::new(), "a.mp4"),
            IndexError::NotFound {
                file: "a.mp4".into()
            }
        );
        let stopped = glib::Error::new(gst::StreamError::Failed, "Internal data stream error.");
        assert_eq!(
            error_of(&stopped, vec!["audio/x-raw".into()], "a.wav"),
            IndexError::NoVideo {
                file: "a.wav".into(),
                streams: vec!["audio/x-raw".into()]
            }
        );
        assert_eq!(
            error_of(&stopped, vec!["video/x-h264".into()], "a.mp4"),
            IndexError::Unreadable {
                file: "a.mp4".into(),
                reason: "Internal data stream error.".into()
            }
        );
    }

    #[test]
    fn streaming_is_silent_once_a_thread_paused_and_none_runs() {
        gst::init().unwrap();
        let pipeline = gst::parse::launch("appsrc name=src format=time ! fakesink")
            .unwrap()
            .downcast::<gst::Pipeline>()
            .unwrap();
        let bins = || [pipeline.upcast_ref::<gst::Bin>()];
        assert!(!stopped_silently(bins()), "no thread yet");
        pipeline.set_state(gst::State::Playing).unwrap();
        let src = pipeline.by_name("src").unwrap();
        let task = || src.static_pad("src").unwrap().task_state();
        let deadline = Instant::now() + Duration::from_secs(5);
        while task() != gst::TaskState::Started && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(10));
        }
        assert!(
            !stopped_silently(bins()),
            "appsrc's thread runs, waiting for data"
        );
        let pushed = src.emit_by_name::<gst::FlowReturn>("end-of-stream", &[]);
        assert_eq!(pushed, gst::FlowReturn::Ok);
        let bus = pipeline.bus().unwrap();
        bus.timed_pop_filtered(gst::ClockTime::from_seconds(5), &[gst::MessageType::Eos])
            .expect("the end of the stream");
        while task() != gst::TaskState::Paused && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(10));
        }
        assert!(
            stopped_silently(bins()),
            "appsrc's thread paused after its end"
        );
        pipeline.set_state(gst::State::Null).unwrap();
        assert!(
            !stopped_silently(bins()),
            "threads stopped with the pipeline"
        );
    }

    /// A demuxer reading at the pace of a clock-synchronised sink keeps its thread started
    /// while it waits: reading that is only slow is never taken for reading that stopped.
    #[test]
    fn a_demuxer_held_back_by_its_sink_is_not_silent() {
        gst::init().unwrap();
        let clip = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../tests/media/reader/gop30.mp4"
        );
        let pipeline = gst::parse::launch(&format!(
            "filesrc location={clip} ! qtdemux ! fakesink sync=true"
        ))
        .unwrap()
        .downcast::<gst::Pipeline>()
        .unwrap();
        pipeline.set_state(gst::State::Playing).unwrap();
        let _ = pipeline.state(gst::ClockTime::from_seconds(5));
        for _ in 0..5 {
            std::thread::sleep(Duration::from_millis(100));
            assert!(!stopped_silently([pipeline.upcast_ref::<gst::Bin>()]));
        }
        pipeline.set_state(gst::State::Null).unwrap();
    }
}
