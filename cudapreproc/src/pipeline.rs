//! A running pipeline ending in `tensorsink`, and the tensors pulled from it.

use std::sync::LazyLock;
use std::time::Duration;

use gst::prelude::*;
use gstcudapreproc::TensorSink;

use crate::{properties, register_elements, CudaTensor, Error};

static CAT: LazyLock<gst::DebugCategory> = LazyLock::new(|| {
    gst::DebugCategory::new(
        "tensorpipeline",
        gst::DebugColorFlags::empty(),
        Some("Application pipelines ending in tensorsink"),
    )
});

/// What waiting for the next tensor gave.
#[derive(Debug)]
pub enum Pulled {
    Tensor(CudaTensor),
    /// The end of the stream: every tensor has been pulled.
    End,
    /// Nothing yet within the time given.
    Waiting,
}

/// A running pipeline ending in a `tensorsink`; set to NULL when dropped.
pub struct TensorPipeline {
    pipeline: gst::Pipeline,
    sink: TensorSink,
}

/// The text users get for an element's error: its message, and the details of its debug text.
/// GStreamer's debug text starts with the source location, function and element path that
/// posted it ("file.c(12): func (): /GstPipeline:...") on a line of its own; that line goes to
/// the debug log only.
fn stream_error(message: &str, debug: Option<&str>) -> Error {
    let details = debug
        .and_then(|d| d.split_once('\n'))
        .map(|(_, details)| details.trim())
        .filter(|details| !details.is_empty());
    Error::Stream(match details {
        Some(details) => format!("{message} ({details})"),
        None => message.to_string(),
    })
}

impl TensorPipeline {
    /// Parses a `gst-launch-1.0` style description with one `tensorsink` and starts it.
    /// GStreamer is initialised, and this build's elements registered, on first use
    /// ([`register_elements`]).
    pub fn launch(description: &str) -> Result<TensorPipeline, Error> {
        let this = TensorPipeline::parse(description)?;
        this.set_state(gst::State::Playing)?;
        Ok(this)
    }

    /// Parses a description as [`Self::launch`] does, without starting it: for applications
    /// that preroll first ([`Self::set_state`] to `Paused`) and start several pipelines together.
    /// A property value GLib or the element refuses is an [`Error::Property`] naming it.
    pub fn parse(description: &str) -> Result<TensorPipeline, Error> {
        register_elements()?;
        let (parsed, mut refused) = properties::refused_while(|| gst::parse::launch(description));
        // A refused value is reported before whatever failed after it.
        if let Ok(pipeline) = parsed.as_ref().map(|p| p.downcast_ref::<gst::Pipeline>()) {
            refused.extend(pipeline.map(Self::settings_warnings).unwrap_or_default());
        }
        if !refused.is_empty() {
            return Err(Error::Property(refused.join("; ")));
        }
        let pipeline = parsed
            .map_err(|e| Error::Pipeline(e.to_string()))?
            .downcast::<gst::Pipeline>()
            .map_err(|_| Error::Pipeline("not a pipeline".into()))?;
        let sink = pipeline
            .iterate_sinks()
            .into_iter()
            .flatten()
            .find_map(|e| e.downcast::<TensorSink>().ok())
            .ok_or_else(|| Error::Pipeline(format!("no tensorsink in \"{description}\"")))?;
        Ok(TensorPipeline { pipeline, sink })
    }

    /// Refusals an element posted on the bus rather than logged (it was in a bin by then).
    fn settings_warnings(pipeline: &gst::Pipeline) -> Vec<String> {
        let Some(bus) = pipeline.bus() else {
            return Vec::new();
        };
        std::iter::from_fn(|| bus.pop_filtered(&[gst::MessageType::Warning]))
            .filter_map(|msg| match msg.view() {
                gst::MessageView::Warning(w) if w.error().matches(gst::LibraryError::Settings) => {
                    Some(w.error().to_string())
                }
                _ => None,
            })
            .collect()
    }

    /// Changes the pipeline's state and waits for the change to complete (for `Paused`, until
    /// the first frame has reached the sink); an element's error on the way is returned.
    pub fn set_state(&self, state: gst::State) -> Result<(), Error> {
        let failed = |this: &Self| {
            this.bus_error()
                .unwrap_or_else(|| Error::Stream(format!("cannot change to {state:?}")))
        };
        self.pipeline.set_state(state).map_err(|_| failed(self))?;
        loop {
            match self.pipeline.state(gst::ClockTime::from_mseconds(100)).0 {
                Ok(gst::StateChangeSuccess::Async) => {
                    // An error before the first frame need not end the asynchronous change.
                    if let Some(e) = self.bus_error() {
                        return Err(e);
                    }
                }
                Ok(_) => return Ok(()),
                Err(_) => return Err(failed(self)),
            }
        }
    }

    pub fn pipeline(&self) -> &gst::Pipeline {
        &self.pipeline
    }

    pub fn sink(&self) -> &TensorSink {
        &self.sink
    }

    fn bus_error(&self) -> Option<Error> {
        let msg = self
            .pipeline
            .bus()?
            .pop_filtered(&[gst::MessageType::Error])?;
        match msg.view() {
            gst::MessageView::Error(e) => {
                let debug = e.debug();
                gst::warning!(
                    CAT,
                    obj = self.pipeline,
                    "error from {}: {} ({})",
                    msg.src().map(|s| s.path_string()).unwrap_or_default(),
                    e.error(),
                    debug.as_deref().unwrap_or_default()
                );
                Some(stream_error(&e.error().to_string(), debug.as_deref()))
            }
            _ => None,
        }
    }

    /// Waits at most `timeout` for the next tensor: `Err` on a pipeline error. Applications
    /// that must stay responsive (to Ctrl-C, say) call this in a loop.
    pub fn pull(&self, timeout: Duration) -> Result<Pulled, Error> {
        if let Some(e) = self.bus_error() {
            return Err(e);
        }
        let timeout = gst::ClockTime::from_nseconds(timeout.as_nanos().min(u64::MAX.into()) as u64);
        match self.sink.try_pull_tensor(timeout) {
            Some(sample) => CudaTensor::from_sample(sample).map(Pulled::Tensor),
            // A source posts its error before the EOS that follows it reaches the sink.
            None if self.sink.is_eos() => self.bus_error().map_or(Ok(Pulled::End), Err),
            None => Ok(Pulled::Waiting),
        }
    }

    /// The next tensor; `Ok(None)` at the end of the stream, `Err` on a pipeline error.
    pub fn next_tensor(&self) -> Result<Option<CudaTensor>, Error> {
        loop {
            match self.pull(Duration::from_millis(100))? {
                Pulled::Tensor(tensor) => return Ok(Some(tensor)),
                Pulled::End => return Ok(None),
                Pulled::Waiting => {}
            }
        }
    }

    /// Every remaining tensor, in order.
    pub fn tensors(&self) -> impl Iterator<Item = Result<CudaTensor, Error>> + '_ {
        std::iter::from_fn(move || self.next_tensor().transpose())
    }
}

impl Drop for TensorPipeline {
    fn drop(&mut self) {
        let _ = self.pipeline.set_state(gst::State::Null);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_description_without_tensorsink_is_refused() {
        let e = TensorPipeline::launch("videotestsrc ! fakesink")
            .err()
            .unwrap();
        assert!(e.to_string().contains("no tensorsink"), "{e}");
    }

    #[test]
    fn refused_property_values_fail_the_parse_naming_the_property() {
        for (description, property) in [
            ("fakesrc ! tensorsink batch-size=0", "'batch-size'"),
            (
                "fakesrc ! tensorsink frame-indices=\"<2,-1>\"",
                "'frame-indices'",
            ),
            (
                "fakesrc ! cudawarpaffine matrix=\"<1,2,3,4,5>\" ! tensorsink",
                "property 'matrix' not changed: a 2x3 affine matrix has 6 numbers",
            ),
        ] {
            match TensorPipeline::parse(description) {
                Err(Error::Property(text)) => assert!(text.contains(property), "{text}"),
                Err(e) => panic!("{description}: {e}"),
                Ok(_) => panic!("{description}: parsed"),
            }
        }
        // Warnings outside a parse still reach GLib's default handler, not a stale collection.
        assert!(TensorPipeline::parse("fakesrc ! tensorsink batch-size=2").is_ok());
    }

    #[test]
    fn stream_errors_keep_the_message_and_details_not_the_location() {
        let debug = "plugins/x/src/imp.rs(383): x::imp::render (): /GstPipeline:pipeline0/X:x0";
        assert_eq!(
            stream_error("frame 0 is short", Some(debug)),
            Error::Stream("frame 0 is short".into())
        );
        let with_details = format!("{debug}\nstreaming stopped, reason not-negotiated (-4)");
        assert_eq!(
            stream_error("Internal data stream error.", Some(&with_details)).to_string(),
            "stream error: Internal data stream error. (streaming stopped, reason \
             not-negotiated (-4))"
        );
        assert_eq!(
            stream_error("no driver", None),
            Error::Stream("no driver".into())
        );
    }
}
