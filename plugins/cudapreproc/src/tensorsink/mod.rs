//! `tensorsink`: hands tensors (`other/tensors`) to the application, one frame or a batch of
//! frames at a time, as `GstSample`s whose info structure describes the tensor (device address,
//! shape, strides, dtype, device, timestamps, frame numbers and the CUDA event after which the
//! data is ready). A tensor stays valid, and its buffer out of its pool, until the application
//! drops the sample.

use cudapreproc_core::access::ReadyData;
use cudapreproc_core::tensor::DType;
use gst::glib;
use gst::subclass::prelude::*;

use crate::property::array_of;

mod imp;

glib::wrapper! {
    pub struct TensorSink(ObjectSubclass<imp::TensorSink>)
        @extends gst_base::BaseSink, gst::Element, gst::Object;
}

/// Name of the info structure of every sample `tensorsink` delivers.
pub const TENSOR_INFO: &str = "tensor-info";

/// The info structure of a tensor sample: where a contiguous tensor of `dtype` and `dims`
/// (outermost first) is and what it is, the event after which it is ready (`ready` is `None`
/// for a tensor in system memory), and the frames it holds. Applications that assemble tensors
/// of their own describe them the same way.
pub fn sample_info(
    dtype: DType,
    dims: &[u64],
    ready: Option<ReadyData>,
    pts: Option<gst::ClockTime>,
    frames: &[u64],
) -> gst::Structure {
    let mut strides = vec![1u64; dims.len()];
    for i in (0..dims.len().saturating_sub(1)).rev() {
        strides[i] = strides[i + 1] * dims[i + 1];
    }
    let mut s = gst::Structure::builder(TENSOR_INFO)
        .field("data-ptr", ready.as_ref().map_or(0, |r| r.address))
        .field("memory", if ready.is_some() { "cuda" } else { "system" })
        .field("device-id", ready.as_ref().map_or(-1, |r| r.device))
        .field("dtype", dtype.name())
        .field("shape", array_of(dims))
        .field("strides", array_of(&strides))
        .field("frame-numbers", array_of(frames))
        .field(
            "ready-event",
            ready.as_ref().map_or(0, |r| r.event.handle()),
        )
        .build();
    if let Some(ready) = ready {
        s.set("ready-event-owner", ready.event);
    }
    if let Some(pts) = pts {
        s.set("pts", pts.nseconds());
    }
    s
}

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
