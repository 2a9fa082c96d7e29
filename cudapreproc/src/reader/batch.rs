//! One tensor holding many frames: each decoded frame is copied into the slots asked for it (a
//! frame asked for twice fills two slots), on the reader's stream, in device memory of our own
//! that the application then holds like any tensor from `tensorsink`.

use std::sync::Arc;

use cudapreproc_core::access::{ready_for_reading, Input, Media, Output, Staging};
use cudapreproc_core::cuda::{Device, Stream};
use cudapreproc_core::memory::CudaAllocator;
use cudapreproc_core::tensor::TensorInfo;
use gstcudapreproc::sample_info;

use crate::{CudaTensor, Error};

/// The GPU a reader copies frames on.
pub(crate) struct Gpu {
    pub(crate) stream: Arc<Stream>,
    allocator: CudaAllocator,
    /// For frames arriving in memory that is not ours (never, with our elements; kept correct).
    staging: Staging,
}

impl Gpu {
    pub(crate) fn open(ordinal: i32) -> Result<Gpu, Error> {
        let device = Device::open(ordinal)?;
        let stream = Arc::new(device.new_stream()?);
        Ok(Gpu {
            allocator: CudaAllocator::new(&device, &stream),
            stream,
            staging: Staging::default(),
        })
    }
}

/// A batch being filled: `n` frames' room, each frame shaped as `frame`.
pub(crate) struct BatchBuilder {
    buffer: gst::Buffer,
    frame: TensorInfo,
    batch: TensorInfo,
}

impl BatchBuilder {
    /// Room for `n` frames like `frame` (a one-frame tensor from the reader's pipeline).
    pub(crate) fn like(gpu: &Gpu, frame: &CudaTensor, n: usize) -> Result<BatchBuilder, Error> {
        BatchBuilder::new(gpu, tensor_info(frame)?, n)
    }

    /// Room for `n` frames of `frame`'s shape.
    pub(crate) fn new(gpu: &Gpu, frame: TensorInfo, n: usize) -> Result<BatchBuilder, Error> {
        let batch = frame.batch(n).ok_or_else(|| {
            Error::InvalidArgument(format!(
                "{n} frames of {} bytes do not fit one tensor of at most 4 GiB",
                frame.bytes
            ))
        })?;
        let memory = gpu.allocator.alloc_device(batch.bytes)?;
        let mut buffer = gst::Buffer::new();
        buffer.get_mut().unwrap().append_memory(memory);
        Ok(BatchBuilder {
            buffer,
            frame,
            batch,
        })
    }

    /// One frame's shape.
    pub(crate) fn frame(&self) -> &TensorInfo {
        &self.frame
    }

    /// Copies `tensor` (one frame) into each of `slots`.
    pub(crate) fn put(
        &mut self,
        gpu: &mut Gpu,
        tensor: &CudaTensor,
        slots: &[usize],
    ) -> Result<(), Error> {
        let info = tensor_info(tensor)?;
        if info.dims != self.frame.dims || info.dtype != self.frame.dtype {
            return Err(Error::Stream(format!(
                "frames of different shapes in one batch: {:?} and {:?} (the video changes size \
                 mid-stream; ask for the frames of each size separately)",
                self.frame.dims, info.dims
            )));
        }
        for &slot in slots {
            self.copy(gpu, tensor, 0, slot, 1)?;
        }
        Ok(())
    }

    /// Copies `count` frames of `source` (frames of this batch's shape, end to end), from its
    /// frame `from`, into this batch from frame `to`.
    pub(crate) fn copy(
        &mut self,
        gpu: &mut Gpu,
        source: &CudaTensor,
        from: usize,
        to: usize,
        count: usize,
    ) -> Result<(), Error> {
        if source.dtype() != self.frame.dtype {
            return Err(Error::Stream(format!(
                "{} frames copied into a {} batch",
                source.dtype().name(),
                self.frame.dtype.name()
            )));
        }
        let buffer = source
            .sample()
            .buffer_owned()
            .ok_or_else(|| Error::NotATensor("a sample without a buffer".into()))?;
        let source_info = tensor_info(source)?;
        let stream = gpu.stream.clone();
        let bytes = self.frame.bytes;
        let input = Input::begin(
            &stream,
            &buffer,
            &Media::Tensor(source_info),
            &mut gpu.staging,
        )?;
        let target = self
            .buffer
            .get_mut()
            .expect("the batch buffer is not shared until finished");
        // Our own device memory: never staged.
        let mut no_staging = Staging::default();
        let copied = (|| {
            let mut output = Output::begin(
                &stream,
                target,
                &Media::Tensor(self.batch.clone()),
                &mut no_staging,
            )?;
            let mut all = input.tensor()?;
            output
                .tensor()?
                .slots(to, count, bytes)?
                .copy_from(&stream, &all.slots(from, count, bytes)?)?;
            output.end(&stream)
        })();
        input.end(&stream)?;
        Ok(copied?)
    }

    /// The filled batch, for the application, shaped `dims` (outermost first; the batch's own
    /// `[n, ...frame]` when `None`): `frames` are the frame numbers it holds.
    pub(crate) fn finish(
        self,
        gpu: &Gpu,
        frames: &[u64],
        dims: Option<Vec<u64>>,
    ) -> Result<CudaTensor, Error> {
        let ready = ready_for_reading(&gpu.stream, &self.buffer)?;
        let dims = dims.unwrap_or_else(|| self.batch.dims.clone());
        let info = sample_info(self.batch.dtype, &dims, ready, None, frames);
        let sample = gst::Sample::builder()
            .buffer(&self.buffer)
            .caps(self.batch.caps())
            .info(info)
            .build();
        CudaTensor::from_sample(sample)
    }
}

/// What the caps of `tensor`'s sample say of it: its shape, element type and bytes.
pub(crate) fn tensor_info(tensor: &CudaTensor) -> Result<TensorInfo, Error> {
    let caps = tensor
        .sample()
        .caps()
        .ok_or_else(|| Error::NotATensor("a sample without caps".into()))?;
    TensorInfo::from_caps(caps).map_err(Error::NotATensor)
}
