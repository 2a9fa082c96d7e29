use std::collections::VecDeque;
use std::sync::{Arc, Condvar, LazyLock, Mutex};
use std::time::Instant;

use gst::glib;
use gst::prelude::*;
use gst::subclass::prelude::*;
use gst_base::prelude::*;
use gst_base::subclass::prelude::*;

use cudapreproc_core::access::{ready_for_reading, Input, Media, Output, Staging};
use cudapreproc_core::cuda::{CudaError, Device, Stream};
use cudapreproc_core::memory::{device_memory, memory_device, CudaBufferPool};
use cudapreproc_core::negotiation;
use cudapreproc_core::tensor::{template_caps, TensorInfo};
use cudapreproc_core::upstream::answer_context_query;

use super::sample_info;
use crate::property::{
    array_of, cuda_device_id_spec, frame_indices_spec, properties_from_table, PropertyTable, Spec,
};

crate::debug_category!(static CAT = "tensorsink", "Tensor sink for applications");

const DEFAULT_DEVICE_ID: i32 = -1;
const DEFAULT_EMIT_SIGNALS: bool = false;
const DEFAULT_MAX_BUFFERS: u32 = 2;
const DEFAULT_DROP: bool = false;
const DEFAULT_WAIT_ON_EOS: bool = true;
const DEFAULT_BATCH_SIZE: u32 = 1;
const DEFAULT_FRAME_STRIDE: u32 = 1;
/// Largest count a property takes: a launch line's "-1" would otherwise reach it as 2^32 - 1,
/// silently.
const MAX_COUNT: u32 = i32::MAX as u32;

#[derive(Debug, Clone)]
struct Settings {
    device_id: i32,
    emit_signals: bool,
    max_buffers: u32,
    drop: bool,
    wait_on_eos: bool,
    batch_size: u32,
    frame_stride: u32,
    /// Frame numbers to deliver (empty: every `frame_stride`-th).
    frame_indices: Vec<u64>,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            device_id: DEFAULT_DEVICE_ID,
            emit_signals: DEFAULT_EMIT_SIGNALS,
            max_buffers: DEFAULT_MAX_BUFFERS,
            drop: DEFAULT_DROP,
            wait_on_eos: DEFAULT_WAIT_ON_EOS,
            batch_size: DEFAULT_BATCH_SIZE,
            frame_stride: DEFAULT_FRAME_STRIDE,
            frame_indices: Vec::new(),
        }
    }
}

impl Settings {
    fn selects(&self, frame: u64) -> bool {
        if self.frame_indices.is_empty() {
            frame.is_multiple_of(u64::from(self.frame_stride.max(1)))
        } else {
            self.frame_indices.contains(&frame)
        }
    }
}

/// A batch being filled on the device.
struct Batch {
    buffer: gst::Buffer,
    frames: Vec<u64>,
}

/// The GPU the sink works on: for batches, and the events of delivered tensors.
struct Gpu {
    device: Arc<Device>,
    stream: Arc<Stream>,
}

impl Gpu {
    fn open(ordinal: i32) -> Result<Self, CudaError> {
        let device = Device::open(ordinal)?;
        let stream = Arc::new(device.new_stream()?);
        Ok(Gpu { device, stream })
    }
}

/// What the streaming thread keeps between buffers.
struct Streaming {
    gpu: Option<Gpu>,
    tensor: Option<TensorInfo>,
    /// Frames received since the start or the last flush.
    received: u64,
    batch: Option<Batch>,
    pool: Option<CudaBufferPool>,
    input_staging: Staging,
    batch_staging: Staging,
}

/// What the application side and the streaming thread share.
#[derive(Default)]
struct Queue {
    samples: VecDeque<gst::Sample>,
    eos: bool,
    flushing: bool,
}

pub struct TensorSink {
    settings: Mutex<Settings>,
    streaming: Mutex<Streaming>,
    queue: Mutex<Queue>,
    changed: Condvar,
    /// The batch pool again, outside `streaming`: `unlock` must reach it while the streaming
    /// thread waits in it holding `streaming`.
    batch_pool: Mutex<Option<CudaBufferPool>>,
}

impl Default for TensorSink {
    fn default() -> Self {
        TensorSink {
            settings: Mutex::new(Settings::default()),
            streaming: Mutex::new(Streaming {
                gpu: None,
                tensor: None,
                received: 0,
                batch: None,
                pool: None,
                input_staging: Staging::default(),
                batch_staging: Staging::default(),
            }),
            queue: Mutex::new(Queue::default()),
            changed: Condvar::new(),
            batch_pool: Mutex::new(None),
        }
    }
}

/// The largest frame number `frame-indices` takes: a launch line's "-1" would otherwise reach
/// the uint64 elements as 2^64 - 1 and select nothing, silently.
const MAX_FRAME_NUMBER: u64 = i64::MAX as u64;

/// Whether `batch_size` frames of `tensor` fit one buffer (the pool sizes its buffers in 32 bits).
fn check_batch(tensor: &TensorInfo, batch_size: u32) -> Result<(), String> {
    if batch_size <= 1 || tensor.batch_bytes(batch_size as usize).is_some() {
        return Ok(());
    }
    Err(format!(
        "batch-size={batch_size} frames of {} bytes ({} {:?}) do not fit one buffer of at most \
         4 GiB: at most {} frames do",
        tensor.bytes,
        tensor.dtype.name(),
        tensor.dims,
        u32::MAX as usize / tensor.bytes.max(1)
    ))
}

impl TensorSink {
    /// The next sample: waits (at most `timeout` when given) for one, `None` at EOS, when
    /// flushing, or at the timeout.
    pub(super) fn pull(&self, timeout: Option<gst::ClockTime>) -> Option<gst::Sample> {
        let deadline =
            timeout.map(|t| Instant::now() + std::time::Duration::from_nanos(t.nseconds()));
        let mut queue = self.queue.lock().unwrap();
        loop {
            if let Some(sample) = queue.samples.pop_front() {
                self.changed.notify_all();
                return Some(sample);
            }
            if queue.eos || queue.flushing {
                return None;
            }
            match deadline {
                None => queue = self.changed.wait(queue).unwrap(),
                Some(deadline) => {
                    let now = Instant::now();
                    if now >= deadline {
                        return None;
                    }
                    queue = self.changed.wait_timeout(queue, deadline - now).unwrap().0;
                }
            }
        }
    }

    pub(super) fn is_drained_eos(&self) -> bool {
        let queue = self.queue.lock().unwrap();
        queue.eos && queue.samples.is_empty()
    }

    /// Queues `sample` for the application: waits for room (or drops the oldest with `drop`).
    fn deliver(&self, sample: gst::Sample) -> Result<gst::FlowSuccess, gst::FlowError> {
        let settings = self.settings.lock().unwrap().clone();
        {
            let mut queue = self.queue.lock().unwrap();
            let max = settings.max_buffers as usize;
            while max > 0 && queue.samples.len() >= max {
                if queue.flushing {
                    return Err(gst::FlowError::Flushing);
                }
                if settings.drop {
                    queue.samples.pop_front();
                    gst::debug!(CAT, imp = self, "queue full, dropped the oldest tensor");
                } else {
                    queue = self.changed.wait(queue).unwrap();
                }
            }
            if queue.flushing {
                return Err(gst::FlowError::Flushing);
            }
            queue.samples.push_back(sample);
        }
        self.changed.notify_all();
        if settings.emit_signals {
            self.obj().emit_by_name::<()>("new-tensor", &[]);
        }
        Ok(gst::FlowSuccess::Ok)
    }

    fn post_cuda_error(&self, error: &CudaError) -> gst::FlowError {
        self.obj().post_error_message(error.to_error_message());
        gst::FlowError::Error
    }

    /// The GPU, opened on first use on the device of `buffer`'s memory (or the configured one).
    fn gpu<'a>(
        &self,
        streaming: &'a mut Streaming,
        buffer: &gst::BufferRef,
    ) -> Result<&'a Gpu, CudaError> {
        if streaming.gpu.is_none() {
            let configured = self.settings.lock().unwrap().device_id;
            let ordinal = if configured >= 0 {
                configured
            } else {
                memory_device(buffer.peek_memory(0)).unwrap_or(0)
            };
            streaming.gpu = Some(Gpu::open(ordinal)?);
        }
        Ok(streaming.gpu.as_ref().unwrap())
    }

    /// One frame delivered as it is: the application gets the buffer itself.
    fn deliver_frame(
        &self,
        streaming: &mut Streaming,
        tensor: &TensorInfo,
        buffer: &gst::Buffer,
        frame: u64,
    ) -> Result<gst::FlowSuccess, gst::FlowError> {
        let ours = buffer.n_memory() == 1 && device_memory(buffer.peek_memory(0)).is_some();
        let ready = if ours {
            self.gpu(streaming, buffer)
                .and_then(|gpu| ready_for_reading(&gpu.stream, buffer))
                .map_err(|e| self.post_cuda_error(&e))?
        } else {
            None
        };
        let info = sample_info(tensor.dtype, &tensor.dims, ready, buffer.pts(), &[frame]);
        let sample = gst::Sample::builder()
            .buffer(buffer)
            .caps(tensor.caps())
            .segment(&self.obj().segment())
            .info(info)
            .build();
        self.deliver(sample)
    }

    /// Copies one frame into the current batch (starting one when needed); delivers the batch
    /// when full.
    fn add_to_batch(
        &self,
        streaming: &mut Streaming,
        tensor: &TensorInfo,
        buffer: &gst::Buffer,
        frame: u64,
        batch_size: usize,
    ) -> Result<gst::FlowSuccess, gst::FlowError> {
        let result = (|| {
            let gpu = self.gpu(streaming, buffer)?;
            let (device, stream) = (gpu.device.clone(), gpu.stream.clone());
            // Refused, not truncated: a pool of smaller buffers would have the batch copies
            // write past them.
            let batch_tensor = tensor.batch(batch_size).ok_or_else(|| {
                CudaError::Invalid(format!(
                    "a batch of {batch_size} tensors of {} bytes is over 4 GiB",
                    tensor.bytes
                ))
            })?;
            if streaming.pool.is_none() {
                let pool = CudaBufferPool::new(&device, &stream);
                let mut config = pool.config();
                let max = self.settings.lock().unwrap().max_buffers;
                config.set_params(
                    Some(batch_tensor.caps()),
                    batch_tensor.bytes as u32,
                    0,
                    max + 2,
                );
                pool.set_config(config)
                    .map_err(|e| CudaError::Invalid(format!("batch pool: {e}")))?;
                pool.set_active(true)
                    .map_err(|e| CudaError::Invalid(format!("batch pool: {e}")))?;
                *self.batch_pool.lock().unwrap() = Some(pool.clone());
                streaming.pool = Some(pool);
            }
            if streaming.batch.is_none() {
                let pool = streaming.pool.as_ref().unwrap();
                let buffer = pool
                    .acquire_buffer(None)
                    .map_err(|e| CudaError::Invalid(format!("no batch buffer: {e:?}")))?;
                streaming.batch = Some(Batch {
                    buffer,
                    frames: Vec::new(),
                });
            }
            let batch = streaming.batch.as_mut().unwrap();
            let slot = batch.frames.len();
            let batch_buffer = batch
                .buffer
                .get_mut()
                .ok_or_else(|| CudaError::Invalid("the batch buffer is shared".into()))?;
            if slot == 0 {
                batch_buffer.set_pts(buffer.pts());
            }
            let media = Media::Tensor(tensor.clone());
            let input = Input::begin(&stream, buffer, &media, &mut streaming.input_staging)?;
            let mut output = Output::begin(
                &stream,
                batch_buffer,
                &Media::Tensor(batch_tensor),
                &mut streaming.batch_staging,
            )?;
            output
                .tensor()?
                .slot(slot, tensor.bytes)?
                .copy_from(&stream, &input.tensor()?)?;
            input.end(&stream)?;
            output.end(&stream)?;
            batch.frames.push(frame);
            Ok::<_, CudaError>(batch.frames.len() == batch_size)
        })();
        match result {
            Ok(true) => self.finish_batch(streaming),
            Ok(false) => Ok(gst::FlowSuccess::Ok),
            Err(e) => Err(self.post_cuda_error(&e)),
        }
    }

    /// Delivers the current batch, with as many frames as it holds.
    fn finish_batch(&self, streaming: &mut Streaming) -> Result<gst::FlowSuccess, gst::FlowError> {
        let Some(batch) = streaming.batch.take() else {
            return Ok(gst::FlowSuccess::Ok);
        };
        let tensor = streaming
            .tensor
            .clone()
            .ok_or(gst::FlowError::NotNegotiated)?;
        let gpu = streaming.gpu.as_ref().ok_or(gst::FlowError::Error)?;
        let n = batch.frames.len();
        let ready =
            ready_for_reading(&gpu.stream, &batch.buffer).map_err(|e| self.post_cuda_error(&e))?;
        let dims = tensor.batch_dims(n);
        let info = sample_info(
            tensor.dtype,
            &dims,
            ready,
            batch.buffer.pts(),
            &batch.frames,
        );
        let sample = gst::Sample::builder()
            .buffer(&batch.buffer)
            .caps(&tensor.batch_caps(n))
            .segment(&self.obj().segment())
            .info(info)
            .build();
        self.deliver(sample)
    }

    /// Wakes (`true`) or lets wait again (`false`) the streaming thread where it waits for
    /// room in the queue or for a batch buffer.
    fn set_flushing(&self, flushing: bool) {
        self.queue.lock().unwrap().flushing = flushing;
        self.changed.notify_all();
        if let Some(pool) = self.batch_pool.lock().unwrap().as_ref() {
            pool.set_flushing(flushing);
        }
    }

    /// Forgets the stream position and the partial batch (a new run, a flush).
    fn reset_stream(&self) {
        let mut streaming = self.streaming.lock().unwrap();
        streaming.received = 0;
        streaming.batch = None;
    }
}

#[glib::object_subclass]
impl ObjectSubclass for TensorSink {
    const NAME: &'static str = "GstRsTensorSink";
    type Type = super::TensorSink;
    type ParentType = gst_base::BaseSink;
}

static PROPERTIES: LazyLock<PropertyTable<TensorSink, Settings>> = LazyLock::new(|| {
    PropertyTable::new(*CAT, |imp: &TensorSink| &imp.settings)
        .field(
            cuda_device_id_spec(
                -1,
                DEFAULT_DEVICE_ID,
                "GPU for batches and events; -1: the GPU of the incoming memory",
            ),
            |s| &mut s.device_id,
        )
        .field(
            Spec::playing(
                "emit-signals",
                "Emit signals",
                "Emit new-tensor for every tensor queued",
            )
            .boolean(DEFAULT_EMIT_SIGNALS),
            |s| &mut s.emit_signals,
        )
        .field(
            Spec::playing(
                "max-buffers",
                "Max buffers",
                "Tensors queued for the application at most (0: unlimited)",
            )
            .uint(0..=MAX_COUNT, DEFAULT_MAX_BUFFERS),
            |s| &mut s.max_buffers,
        )
        .field(
            Spec::playing(
                "drop",
                "Drop",
                "When the queue is full, drop the oldest tensor instead of waiting",
            )
            .boolean(DEFAULT_DROP),
            |s| &mut s.drop,
        )
        .field(
            Spec::playing(
                "wait-on-eos",
                "Wait on EOS",
                "At end of stream, wait until the application has pulled every tensor",
            )
            .boolean(DEFAULT_WAIT_ON_EOS),
            |s| &mut s.wait_on_eos,
        )
        .field(
            Spec::ready(
                "batch-size",
                "Batch size",
                "Frames stacked into one [N, ...] tensor on the GPU; the last batch keeps its \
                 real size",
            )
            .uint(1..=MAX_COUNT, DEFAULT_BATCH_SIZE),
            |s| &mut s.batch_size,
        )
        .field(
            Spec::ready(
                "frame-stride",
                "Frame stride",
                "Deliver frames 0, N, 2N... (ignored when frame-indices is set)",
            )
            .uint(1..=MAX_COUNT, DEFAULT_FRAME_STRIDE),
            |s| &mut s.frame_stride,
        )
        .property(
            frame_indices_spec(
                "Deliver only these frame numbers (counted from 0 at the start)",
                "Frame number",
                MAX_FRAME_NUMBER,
            ),
            |imp| array_of(&imp.settings.lock().unwrap().frame_indices).to_value(),
            |imp, value| {
                // GLib has checked each element against the element spec: a frame number.
                let array = value.get::<gst::Array>().expect("type checked upstream");
                imp.settings.lock().unwrap().frame_indices = array
                    .iter()
                    .map(|v| v.get::<u64>().expect("type checked upstream"))
                    .collect();
                Ok(())
            },
        )
        // A smaller queue or dropping may free a waiting streaming thread.
        .after_change(|imp| imp.changed.notify_all())
});

impl ObjectImpl for TensorSink {
    properties_from_table!(PROPERTIES);

    fn signals() -> &'static [glib::subclass::Signal] {
        static SIGNALS: LazyLock<Vec<glib::subclass::Signal>> = LazyLock::new(|| {
            vec![
                glib::subclass::Signal::builder("new-tensor").build(),
                glib::subclass::Signal::builder("pull-tensor")
                    .return_type::<Option<gst::Sample>>()
                    .action()
                    .class_handler(|args| {
                        let sink = args[0].get::<super::TensorSink>().expect("signal arg");
                        Some(sink.imp().pull(None).to_value())
                    })
                    .build(),
                glib::subclass::Signal::builder("try-pull-tensor")
                    .param_types([u64::static_type()])
                    .return_type::<Option<gst::Sample>>()
                    .action()
                    .class_handler(|args| {
                        let sink = args[0].get::<super::TensorSink>().expect("signal arg");
                        let timeout = args[1].get::<u64>().expect("signal arg");
                        Some(
                            sink.imp()
                                .pull(Some(gst::ClockTime::from_nseconds(timeout)))
                                .to_value(),
                        )
                    })
                    .build(),
            ]
        });
        SIGNALS.as_ref()
    }

    fn constructed(&self) {
        self.parent_constructed();
        // Applications pull as fast as they consume: no clock waits by default.
        self.obj().set_sync(false);
    }
}

impl GstObjectImpl for TensorSink {}

impl ElementImpl for TensorSink {
    crate::element_metadata!(
        "Tensor sink",
        "Sink/Tensor/Hardware",
        "Hands tensors in GPU memory to the application, frame by frame or batched, with \
         their shape, type, device address and ready event"
    );

    crate::element_pad_templates!(vec![crate::always_pad(
        gst::PadDirection::Sink,
        &template_caps()
    )]);

    fn change_state(
        &self,
        transition: gst::StateChange,
    ) -> Result<gst::StateChangeSuccess, gst::StateChangeError> {
        // Each run starts afresh: BaseSink's start and stop bracket NULL and READY only, so a
        // pipeline taken back to READY and played again (a reader on its next file) would
        // otherwise find the last run's end of stream and samples still queued.
        if transition == gst::StateChange::ReadyToPaused {
            self.reset_stream();
            *self.queue.lock().unwrap() = Queue::default();
        }
        self.parent_change_state(transition)
    }
}

impl BaseSinkImpl for TensorSink {
    /// Upstream's CUDA elements upstream get the primary context of our device (GPU 0 when
    /// following the input), so that we read their memory in place.
    fn query(&self, query: &mut gst::QueryRef) -> bool {
        let device_id = self.settings.lock().unwrap().device_id.max(0);
        answer_context_query(query, device_id) || BaseSinkImplExt::parent_query(self, query)
    }

    fn start(&self) -> Result<(), gst::ErrorMessage> {
        // A configured GPU that does not exist is an error now, not at the first tensor.
        let device_id = self.settings.lock().unwrap().device_id;
        if device_id >= 0 {
            let gpu = Gpu::open(device_id).map_err(|e| e.to_error_message())?;
            self.streaming.lock().unwrap().gpu = Some(gpu);
        }
        Ok(())
    }

    fn stop(&self) -> Result<(), gst::ErrorMessage> {
        {
            let mut streaming = self.streaming.lock().unwrap();
            streaming.batch = None;
            if let Some(pool) = streaming.pool.take() {
                let _ = pool.set_active(false);
            }
            streaming.gpu = None;
        }
        *self.batch_pool.lock().unwrap() = None;
        let mut queue = self.queue.lock().unwrap();
        queue.samples.clear();
        queue.flushing = true;
        self.changed.notify_all();
        Ok(())
    }

    fn set_caps(&self, caps: &gst::Caps) -> Result<(), gst::LoggableError> {
        let batch_size = self.settings.lock().unwrap().batch_size;
        let tensor = TensorInfo::from_caps(caps)
            .map_err(|e| format!("tensorsink cannot describe the tensors of {caps}: {e}"))
            .and_then(|t| check_batch(&t, batch_size).map(|()| t))
            .map_err(|why| {
                negotiation::post_refusal(self.obj().upcast_ref(), *CAT, &why);
                gst::loggable_error!(CAT, "{why}")
            })?;
        gst::info!(
            CAT,
            imp = self,
            "tensors {:?} {}",
            tensor.dims,
            tensor.dtype.name()
        );
        let mut streaming = self.streaming.lock().unwrap();
        if streaming
            .tensor
            .as_ref()
            .is_some_and(|t| t.bytes != tensor.bytes)
        {
            streaming.batch = None;
            if let Some(pool) = streaming.pool.take() {
                let _ = pool.set_active(false);
            }
            *self.batch_pool.lock().unwrap() = None;
        }
        streaming.tensor = Some(tensor);
        Ok(())
    }

    fn render(&self, buffer: &gst::Buffer) -> Result<gst::FlowSuccess, gst::FlowError> {
        let settings = self.settings.lock().unwrap().clone();
        let mut streaming = self.streaming.lock().unwrap();
        let frame = streaming.received;
        streaming.received += 1;
        if !settings.selects(frame) {
            return Ok(gst::FlowSuccess::Ok);
        }
        let tensor = streaming
            .tensor
            .clone()
            .ok_or(gst::FlowError::NotNegotiated)?;
        // The application reads the tensor's whole extent: a short buffer is refused here.
        let needed = tensor.bytes;
        if buffer.size() < needed {
            gst::element_imp_error!(
                self,
                gst::StreamError::Format,
                (
                    "frame {frame} holds {} bytes, but the negotiated tensor needs {needed}",
                    buffer.size()
                )
            );
            return Err(gst::FlowError::Error);
        }
        if settings.batch_size <= 1 {
            return self.deliver_frame(&mut streaming, &tensor, buffer, frame);
        }
        self.add_to_batch(
            &mut streaming,
            &tensor,
            buffer,
            frame,
            settings.batch_size as usize,
        )
    }

    fn event(&self, event: gst::Event) -> bool {
        match event.view() {
            gst::EventView::FlushStart(_) => {
                self.queue.lock().unwrap().flushing = true;
                self.changed.notify_all();
            }
            gst::EventView::FlushStop(_) => {
                self.reset_stream();
                *self.queue.lock().unwrap() = Queue::default();
            }
            gst::EventView::Eos(_) => {
                // The last, partial batch with its real size.
                let flushed = {
                    let mut streaming = self.streaming.lock().unwrap();
                    self.finish_batch(&mut streaming)
                };
                if flushed.is_err() {
                    return false;
                }
                let wait = self.settings.lock().unwrap().wait_on_eos;
                let mut queue = self.queue.lock().unwrap();
                queue.eos = true;
                self.changed.notify_all();
                while wait && !queue.samples.is_empty() && !queue.flushing {
                    queue = self.changed.wait(queue).unwrap();
                }
            }
            _ => {}
        }
        self.parent_event(event)
    }

    fn unlock(&self) -> Result<(), gst::ErrorMessage> {
        self.set_flushing(true);
        Ok(())
    }

    fn unlock_stop(&self) -> Result<(), gst::ErrorMessage> {
        self.set_flushing(false);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn caps(dims: &str, types: &str) -> gst::Caps {
        cudapreproc_core::tensor::one_tensor_caps(types, dims)
    }

    #[test]
    fn sampling_by_stride_or_indices() {
        let stride = Settings {
            frame_stride: 3,
            ..Settings::default()
        };
        let picked: Vec<u64> = (0..10).filter(|&f| stride.selects(f)).collect();
        assert_eq!(picked, [0, 3, 6, 9]);
        let indices = Settings {
            frame_stride: 3,
            frame_indices: vec![1, 5, 7],
            ..Settings::default()
        };
        let picked: Vec<u64> = (0..10).filter(|&f| indices.selects(f)).collect();
        assert_eq!(picked, [1, 5, 7]);
    }

    #[test]
    fn batches_must_fit_a_buffer() {
        gst::init().unwrap();
        let t = TensorInfo::from_caps(&caps("1920:1080:3:1", "float32")).unwrap();
        assert!(check_batch(&t, 1).is_ok());
        assert!(check_batch(&t, 170).is_ok());
        let e = check_batch(&t, 200).unwrap_err();
        assert!(
            e.starts_with("batch-size=200 frames of 24883200 bytes"),
            "{e}"
        );
        assert!(e.ends_with("at most 172 frames do"), "{e}");
    }
}
