//! `tensorsrc`: the application's tensors (`other/tensors`, one tensor per buffer, in CUDA or
//! system memory) into a pipeline, the mirror of `tensorsink`. The application sets the
//! tensors' caps, pushes buffers (its own memory wrapped, or a `tensorsink` sample's buffer
//! passed on: no copy either way) and ends the stream. A buffer goes back to its owner when the
//! last element reading it lets go. Pushing waits while `max-buffers` are queued, so a
//! pipeline that falls behind slows the application down instead of filling memory.

use gst::glib;
use gst::subclass::prelude::*;

mod imp;

glib::wrapper! {
    pub struct TensorSrc(ObjectSubclass<imp::TensorSrc>)
        @extends gst_base::BaseSrc, gst::Element, gst::Object;
}

impl TensorSrc {
    /// Queues `buffer`, one tensor as the `caps` property describes it, waiting while
    /// `max-buffers` are queued. `Err(Flushing)` when the element is not running or is
    /// flushing, `Err(Eos)` after [`Self::end_of_stream`], `Err(Error)` for a buffer that does
    /// not match the caps (with an error message naming the element and what is wrong). When
    /// downstream stopped the stream (an error, whose message is on the bus, or an end it
    /// asked for), a push waiting for room returns that flow instead of waiting.
    pub fn push_buffer(&self, buffer: gst::Buffer) -> Result<gst::FlowSuccess, gst::FlowError> {
        self.imp().push(imp::Item::Buffer(buffer))
    }

    /// Ends the stream once the queued buffers have gone out.
    pub fn end_of_stream(&self) -> Result<gst::FlowSuccess, gst::FlowError> {
        self.imp().push(imp::Item::Eos)
    }
}
