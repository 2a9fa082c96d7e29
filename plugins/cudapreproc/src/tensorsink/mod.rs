//! `tensorsink`: hands tensors (`other/tensors`) to the application, one frame or a batch of
//! frames at a time, as `GstSample`s whose info structure describes the tensor (device address,
//! shape, strides, dtype, device, timestamps, frame numbers and the CUDA event after which the
//! data is ready). A tensor stays valid, and its buffer out of its pool, until the application
//! drops the sample.

use gst::glib;
use gst::subclass::prelude::*;

mod imp;

glib::wrapper! {
    pub struct TensorSink(ObjectSubclass<imp::TensorSink>)
        @extends gst_base::BaseSink, gst::Element, gst::Object;
}

/// Name of the info structure of every sample `tensorsink` delivers.
pub const TENSOR_INFO: &str = "tensor-info";

impl TensorSink {
    /// The next tensor, waiting for it; `None` at end of stream or when flushing.
    pub fn pull_tensor(&self) -> Option<gst::Sample> {
        self.imp().pull(None)
    }

    /// The next tensor, waiting at most `timeout`; `None` when none came.
    pub fn try_pull_tensor(&self, timeout: gst::ClockTime) -> Option<gst::Sample> {
        self.imp().pull(Some(timeout))
    }

    /// Whether the end of stream was reached and every tensor pulled.
    pub fn is_eos(&self) -> bool {
        self.imp().is_drained_eos()
    }
}
