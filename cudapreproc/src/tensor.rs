//! Tensors delivered by `tensorsink`, as the application holds them: a sample kept alive (and
//! out of the pipeline's pools) until dropped, its description, its ready event, the streams that
//! read it, and its DLPack export.

use std::sync::Mutex;

use cudapreproc_core::cuda::{Device as CudaDevice, ForeignStream, ReadyEvent};
use cudapreproc_core::memory::device_memory;
use gstcudapreproc::TENSOR_INFO;

use crate::{dlpack, Error};

/// Element type of a tensor (the elements' own type: the names are the caps' `types`).
pub use cudapreproc_core::tensor::DType;

/// DLPack's description of `dtype`.
fn dlpack_type(dtype: DType) -> dlpack::DLDataType {
    let (code, bits) = match dtype {
        DType::Uint8 => (dlpack::DL_UINT, 8),
        DType::Float16 => (dlpack::DL_FLOAT, 16),
        DType::Bfloat16 => (dlpack::DL_BFLOAT, 16),
        DType::Float32 => (dlpack::DL_FLOAT, 32),
    };
    dlpack::DLDataType {
        code,
        bits,
        lanes: 1,
    }
}

/// Where a tensor's data is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Device {
    Cuda(i32),
    Cpu,
}

/// One tensor from `tensorsink`: a frame or a batch of frames. Holds the sample, so the memory
/// stays valid (and out of the pipeline's pools) until this is dropped. When it is dropped, work
/// already queued on the streams given to [`Self::wait_on_stream`] still counts as reading it:
/// the pipeline's next write to the memory waits for that work on the GPU.
#[derive(Debug)]
pub struct CudaTensor {
    sample: gst::Sample,
    data_ptr: u64,
    device: Device,
    dtype: DType,
    shape: Vec<i64>,
    strides: Vec<i64>,
    pts: Option<gst::ClockTime>,
    frame_numbers: Vec<u64>,
    /// Completes once the data is ready; `None` for system memory.
    ready: Option<ReadyEvent>,
    /// Streams that read the data (given to `wait_on_stream`).
    consumer_streams: Mutex<Vec<ForeignStream>>,
}

impl Clone for CudaTensor {
    /// Another handle on the same memory, with no consumer streams of its own yet.
    fn clone(&self) -> Self {
        CudaTensor {
            sample: self.sample.clone(),
            data_ptr: self.data_ptr,
            device: self.device,
            dtype: self.dtype,
            shape: self.shape.clone(),
            strides: self.strides.clone(),
            pts: self.pts,
            frame_numbers: self.frame_numbers.clone(),
            ready: self.ready.clone(),
            consumer_streams: Mutex::new(Vec::new()),
        }
    }
}

impl Drop for CudaTensor {
    fn drop(&mut self) {
        let streams = std::mem::take(
            self.consumer_streams
                .get_mut()
                .unwrap_or_else(|e| e.into_inner()),
        );
        let Device::Cuda(id) = self.device else {
            return;
        };
        let Some(buffer) = self.sample.buffer() else {
            return;
        };
        let Some(memory) = (buffer.n_memory() == 1)
            .then(|| device_memory(buffer.peek_memory(0)))
            .flatten()
        else {
            return;
        };
        for stream in streams {
            if memory.end_foreign_read(&stream).is_err() {
                // The stream is gone: wait for everything instead, so nothing is overwritten
                // under a reader.
                if let Ok(device) = CudaDevice::open(id) {
                    let _ = device.synchronize();
                }
            }
        }
    }
}

/// Strides (in elements) of a contiguous tensor of `shape`, outermost first.
fn contiguous_strides(shape: &[i64]) -> Vec<i64> {
    let mut strides = vec![1i64; shape.len()];
    for i in (0..shape.len().saturating_sub(1)).rev() {
        strides[i] = strides[i + 1] * shape[i + 1];
    }
    strides
}

fn u64_array(s: &gst::StructureRef, field: &str) -> Result<Vec<u64>, Error> {
    let array = s
        .get::<gst::Array>(field)
        .map_err(|_| Error::NotATensor(format!("no {field}")))?;
    array
        .iter()
        .map(|v| {
            v.get::<u64>()
                .map_err(|_| Error::NotATensor(format!("{field} holds {}", v.type_())))
        })
        .collect()
}

impl CudaTensor {
    /// Reads a sample delivered by `tensorsink`.
    pub fn from_sample(sample: gst::Sample) -> Result<CudaTensor, Error> {
        let info = sample
            .info()
            .filter(|s| s.name() == TENSOR_INFO)
            .ok_or_else(|| Error::NotATensor("no tensor-info structure".into()))?;
        let field = |name: &str| Error::NotATensor(format!("no {name}"));
        let dtype_name = info.get::<&str>("dtype").map_err(|_| field("dtype"))?;
        let dtype = DType::from_name(dtype_name)
            .ok_or_else(|| Error::NotATensor(format!("dtype {dtype_name}")))?;
        let memory = info.get::<&str>("memory").map_err(|_| field("memory"))?;
        let device = if memory == "cuda" {
            Device::Cuda(
                info.get::<i32>("device-id")
                    .map_err(|_| field("device-id"))?,
            )
        } else {
            Device::Cpu
        };
        let mut data_ptr = info.get::<u64>("data-ptr").map_err(|_| field("data-ptr"))?;
        if device == Device::Cpu {
            // System memory: the buffer's own bytes (a readable map of one memory is stable
            // while the sample lives).
            let buffer = sample.buffer().ok_or_else(|| field("buffer"))?;
            if buffer.n_memory() != 1 {
                return Err(Error::NotATensor(
                    "system tensor in several memories".into(),
                ));
            }
            let map = buffer
                .peek_memory(0)
                .map_readable()
                .map_err(|e| Error::NotATensor(format!("cannot map: {e}")))?;
            data_ptr = map.as_ptr() as u64;
        }
        let to_i64 = |v: Vec<u64>| v.into_iter().map(|x| x as i64).collect::<Vec<i64>>();
        let shape = to_i64(u64_array(info, "shape")?);
        let strides = to_i64(u64_array(info, "strides")?);
        if shape.len() != strides.len() || shape.is_empty() {
            return Err(Error::NotATensor(format!(
                "shape {shape:?} and strides {strides:?}"
            )));
        }
        Ok(CudaTensor {
            pts: info
                .get::<u64>("pts")
                .ok()
                .map(gst::ClockTime::from_nseconds),
            frame_numbers: u64_array(info, "frame-numbers")?,
            ready: info.get::<ReadyEvent>("ready-event-owner").ok(),
            consumer_streams: Mutex::new(Vec::new()),
            sample,
            data_ptr,
            device,
            dtype,
            shape,
            strides,
        })
    }

    /// Device (or host) address of the first element.
    pub fn data_ptr(&self) -> u64 {
        self.data_ptr
    }

    pub fn device(&self) -> Device {
        self.device
    }

    pub fn dtype(&self) -> DType {
        self.dtype
    }

    /// Outermost dimension first, e.g. [N, 3, 224, 224].
    pub fn shape(&self) -> &[i64] {
        &self.shape
    }

    /// In elements, matching [`Self::shape`].
    pub fn strides(&self) -> &[i64] {
        &self.strides
    }

    pub fn pts(&self) -> Option<gst::ClockTime> {
        self.pts
    }

    /// The position of the (first) frame in the stream, as the container's timeline counts it:
    /// the timestamp through the sample's segment (edit lists and seeks taken into account).
    pub fn stream_time(&self) -> Option<gst::ClockTime> {
        let segment = self.sample.segment()?;
        segment
            .downcast_ref::<gst::ClockTime>()?
            .to_stream_time(self.pts?)
    }

    /// Frame numbers (counted from 0 at the start of the stream) of the frames held.
    pub fn frame_numbers(&self) -> &[u64] {
        &self.frame_numbers
    }

    /// The `CUevent` after which the data is ready (0 for system memory); valid while this
    /// tensor lives.
    pub fn ready_event(&self) -> u64 {
        self.ready.as_ref().map_or(0, ReadyEvent::handle)
    }

    /// The same memory with another shape of as many elements (the tensor is contiguous).
    pub fn reshaped(&self, shape: &[i64]) -> Result<CudaTensor, Error> {
        let count = |s: &[i64]| s.iter().product::<i64>();
        let contiguous = self.strides == contiguous_strides(&self.shape);
        if !contiguous || shape.iter().any(|&d| d < 0) || count(shape) != count(&self.shape) {
            return Err(Error::InvalidArgument(format!(
                "a tensor of shape {:?} cannot be seen as {shape:?}",
                self.shape
            )));
        }
        let mut reshaped = self.clone();
        reshaped.shape = shape.to_vec();
        reshaped.strides = contiguous_strides(shape);
        Ok(reshaped)
    }

    /// Bytes of data.
    pub fn nbytes(&self) -> usize {
        self.shape.iter().product::<i64>() as usize * self.dtype.size()
    }

    /// The sample this tensor came from.
    pub fn sample(&self) -> &gst::Sample {
        &self.sample
    }

    /// Makes another library's CUDA stream `stream` wait until the data is ready, without
    /// blocking the host. The stream is remembered as a reader: when this tensor is dropped, the
    /// pipeline's next write to the memory waits for the work queued on it by then.
    pub fn wait_on_stream(&self, stream: ForeignStream) -> Result<(), Error> {
        if self.device == Device::Cpu {
            return Ok(());
        }
        {
            let mut streams = self
                .consumer_streams
                .lock()
                .unwrap_or_else(|e| e.into_inner());
            if !streams.contains(&stream) {
                streams.push(stream);
            }
        }
        match &self.ready {
            Some(ready) => ready.event().make_wait(&stream).map_err(Error::from),
            None => Ok(()),
        }
    }

    /// Blocks the calling thread until the data is ready (for consumers that take no stream,
    /// such as `__cuda_array_interface__` readers or host copies).
    pub fn synchronize(&self) -> Result<(), Error> {
        match &self.ready {
            Some(ready) => ready.event().synchronize().map_err(Error::from),
            None => Ok(()),
        }
    }

    /// A DLPack tensor for this data, zero-copy, made ready for the consumer's stream `stream`
    /// (DLPack's `__dlpack__(stream=...)` contract). It owns a handle on the memory until the
    /// consumer calls its deleter; the work the consumer queued on `stream` by then finishes
    /// before the pipeline writes to the memory again.
    pub fn to_dlpack_for_stream(
        &self,
        stream: ForeignStream,
    ) -> Result<*mut dlpack::DLManagedTensor, Error> {
        let handle = self.clone();
        handle.wait_on_stream(stream)?;
        Ok(handle.export())
    }

    /// A DLPack tensor for this data without any stream ordering: the consumer synchronises
    /// (with [`Self::synchronize`] or the ready event) and finishes reading before it calls the
    /// deleter. Prefer [`Self::to_dlpack_for_stream`].
    pub fn to_dlpack(&self) -> *mut dlpack::DLManagedTensor {
        self.clone().export()
    }

    fn export(self) -> *mut dlpack::DLManagedTensor {
        let device = match self.device {
            Device::Cuda(id) => dlpack::DLDevice {
                device_type: dlpack::DL_CUDA,
                device_id: id,
            },
            Device::Cpu => dlpack::DLDevice {
                device_type: dlpack::DL_CPU,
                device_id: 0,
            },
        };
        let (shape, strides) = (self.shape.clone(), self.strides.clone());
        dlpack::export(
            self.data_ptr,
            device,
            dlpack_type(self.dtype),
            &shape,
            &strides,
            self,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use gst::prelude::*;

    fn sample(info: gst::Structure) -> gst::Sample {
        let buffer = gst::Buffer::from_mut_slice(vec![7u8; 2 * 3 * 4]);
        gst::Sample::builder().buffer(&buffer).info(info).build()
    }

    fn info() -> gst::Structure {
        let array = |v: &[u64]| gst::Array::new(v.iter().map(|x| x.to_send_value()));
        gst::Structure::builder(TENSOR_INFO)
            .field("data-ptr", 0u64)
            .field("memory", "system")
            .field("device-id", -1i32)
            .field("dtype", "uint8")
            .field("shape", array(&[2, 3, 4]))
            .field("strides", array(&[12, 4, 1]))
            .field("frame-numbers", array(&[5, 6]))
            .field("ready-event", 0u64)
            .field("pts", 40_000_000u64)
            .build()
    }

    #[test]
    fn reads_tensorsink_samples() {
        gst::init().unwrap();
        let t = CudaTensor::from_sample(sample(info())).unwrap();
        assert_eq!(t.shape(), [2, 3, 4]);
        assert_eq!(t.strides(), [12, 4, 1]);
        assert_eq!(t.dtype(), DType::Uint8);
        assert_eq!(t.device(), Device::Cpu);
        assert_eq!(t.frame_numbers(), [5, 6]);
        assert_eq!(t.pts(), Some(gst::ClockTime::from_mseconds(40)));
        assert_eq!(t.nbytes(), 24);
        // System memory: the address of the buffer's bytes.
        let map = t.sample().buffer().unwrap().map_readable().unwrap();
        assert_eq!(t.data_ptr(), map.as_ptr() as u64);
        assert!(
            t.wait_on_stream(ForeignStream::LEGACY_DEFAULT).is_ok(),
            "system memory: nothing to wait for"
        );
    }

    #[test]
    fn dlpack_export_describes_the_tensor() {
        gst::init().unwrap();
        let t = CudaTensor::from_sample(sample(info())).unwrap();
        let managed = t.to_dlpack();
        let data_ptr = t.data_ptr();
        drop(t);
        // SAFETY: `managed` is live until its deleter runs below, and keeps the sample (and so
        // the bytes at its data pointer) alive after the CudaTensor is gone.
        unsafe {
            let d = &(*managed).dl_tensor;
            assert_eq!(d.data as u64, data_ptr);
            assert_eq!(
                std::slice::from_raw_parts(d.data as *const u8, 24),
                [7u8; 24]
            );
            assert_eq!(d.device.device_type, dlpack::DL_CPU);
            assert_eq!(
                (d.dtype.code, d.dtype.bits, d.dtype.lanes),
                (dlpack::DL_UINT, 8, 1)
            );
            assert_eq!(std::slice::from_raw_parts(d.shape, 3), [2, 3, 4]);
            ((*managed).deleter.unwrap())(managed);
        }
    }

    #[test]
    fn a_contiguous_tensor_is_seen_with_another_shape_of_as_many_elements() {
        gst::init().unwrap();
        let t = CudaTensor::from_sample(sample(info())).unwrap();
        let r = t.reshaped(&[6, 4]).unwrap();
        assert_eq!((r.shape(), r.strides()), (&[6i64, 4][..], &[4i64, 1][..]));
        assert_eq!(r.data_ptr(), t.data_ptr());
        let e = t.reshaped(&[5, 5]).unwrap_err().to_string();
        assert!(e.contains("cannot be seen as [5, 5]"), "{e}");
    }

    #[test]
    fn refuses_other_samples() {
        gst::init().unwrap();
        let plain = gst::Sample::builder().build();
        assert!(matches!(
            CudaTensor::from_sample(plain),
            Err(Error::NotATensor(_))
        ));
        let mut bad = info();
        bad.set("dtype", "int7");
        assert!(CudaTensor::from_sample(sample(bad)).is_err());
    }
}
