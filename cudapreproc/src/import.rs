//! Another library's GPU tensors (PyTorch's, CuPy's... through DLPack) as [`CudaTensor`]s,
//! without a copy, so that they can go into a pipeline (`tensorsrc`, [`crate::writer`]).

use std::collections::HashMap;
use std::sync::{Arc, LazyLock, Mutex};

use cudapreproc_core::access::ready_for_reading;
use cudapreproc_core::cuda::{Device as CudaDevice, ForeignStream, Stream};
use cudapreproc_core::memory::CudaAllocator;
use gstcudapreproc::sample_info;

use crate::dlpack::{DLManagedTensor, DL_BFLOAT, DL_CUDA, DL_FLOAT, DL_UINT};
use crate::{CudaTensor, DType, Error};

/// The allocator that wraps imported memory on one device, and the stream its ready events and
/// hand-back are ordered on.
type Importer = (CudaAllocator, Arc<Stream>);

/// Per device ordinal.
static IMPORTERS: LazyLock<Mutex<HashMap<i32, Importer>>> = LazyLock::new(Default::default);

fn importer(device: i32) -> Result<Importer, Error> {
    let mut importers = IMPORTERS.lock().unwrap();
    if let Some(importer) = importers.get(&device) {
        return Ok(importer.clone());
    }
    let cuda = CudaDevice::open(device)?;
    let stream = Arc::new(cuda.new_stream()?);
    let importer = (CudaAllocator::new(&cuda, &stream), stream);
    importers.insert(device, importer.clone());
    Ok(importer)
}

/// The stream this library reads imported tensors on, on GPU `device`: the one to pass as the
/// consumer stream when asking a DLPack producer for a tensor (`__dlpack__(stream=...)`), so
/// that the producer orders its work before this stream's reads, and then to
/// [`CudaTensor::from_dlpack`] as the producer stream.
pub fn import_stream(device: i32) -> Result<u64, Error> {
    Ok(importer(device)?.1.handle())
}

/// The element type of a DLPack type.
fn dtype_of(code: u8, bits: u8, lanes: u16) -> Option<DType> {
    match (code, bits, lanes) {
        (DL_UINT, 8, 1) => Some(DType::Uint8),
        (DL_FLOAT, 16, 1) => Some(DType::Float16),
        (DL_BFLOAT, 16, 1) => Some(DType::Bfloat16),
        (DL_FLOAT, 32, 1) => Some(DType::Float32),
        _ => None,
    }
}

/// Whether `strides` (elements) are those of a C-contiguous tensor of `shape`.
fn contiguous(shape: &[i64], strides: &[i64]) -> bool {
    let mut expected = 1;
    for (&dim, &stride) in shape.iter().zip(strides).rev() {
        if dim != 1 && stride != expected {
            return false;
        }
        expected *= dim;
    }
    true
}

/// The DLPack tensor, handed back through its deleter (from whichever thread drops the last
/// user of its memory), once.
#[derive(Clone, Copy)]
struct Managed(*mut DLManagedTensor);

// SAFETY: DLPack's deleter may be called from any thread (the producer's contract).
unsafe impl Send for Managed {}

impl Managed {
    fn release(self) {
        // SAFETY: `self.0` is the DLManagedTensor handed over, released once.
        unsafe {
            if let Some(deleter) = (*self.0).deleter {
                deleter(self.0);
            }
        }
    }
}

impl CudaTensor {
    /// Takes over a DLPack tensor in GPU memory (C-contiguous, uint8, float16, bfloat16 or
    /// float32), without a copy. Work of ours that reads it waits for the work queued on
    /// `producer` (the stream that wrote it: DLPack's `stream` argument) at this call; its
    /// deleter runs once the tensor and every buffer made of its memory are dropped and the
    /// work queued on it by then has run. On error the deleter runs at once.
    ///
    /// # Safety
    /// `managed` must be a valid `DLManagedTensor` whose ownership passes to this call, and
    /// `producer` a live stream of the tensor's device (or a default stream).
    pub unsafe fn from_dlpack(
        managed: *mut DLManagedTensor,
        producer: ForeignStream,
    ) -> Result<CudaTensor, Error> {
        let owned = Managed(managed);
        // SAFETY: valid per this function's contract.
        let tensor = unsafe { &(*managed).dl_tensor };
        let refuse = |why: String| {
            owned.release();
            Err(Error::InvalidArgument(why))
        };
        if tensor.device.device_type != DL_CUDA {
            return refuse(format!(
                "a tensor on DLPack device type {} (CPU is 1): the GPU's (2) is taken",
                tensor.device.device_type
            ));
        }
        let dtype = match dtype_of(tensor.dtype.code, tensor.dtype.bits, tensor.dtype.lanes) {
            Some(dtype) => dtype,
            None => {
                return refuse(format!(
                    "DLPack type code {} of {} bits: uint8, float16, bfloat16 or float32 are \
                     taken",
                    tensor.dtype.code, tensor.dtype.bits
                ))
            }
        };
        let ndim = usize::try_from(tensor.ndim).unwrap_or(0);
        if ndim == 0 || tensor.shape.is_null() {
            return refuse("a tensor without dimensions".into());
        }
        // SAFETY: DLPack's shape (and strides, when not null) hold `ndim` values.
        let shape = unsafe { std::slice::from_raw_parts(tensor.shape, ndim) }.to_vec();
        if !tensor.strides.is_null() {
            let strides = unsafe { std::slice::from_raw_parts(tensor.strides, ndim) };
            if !contiguous(&shape, strides) {
                return refuse(format!(
                    "a tensor of shape {shape:?} with strides {strides:?}: C-contiguous \
                     tensors are taken (call .contiguous() first)"
                ));
            }
        }
        if shape.iter().any(|&d| d <= 0) {
            return refuse(format!(
                "a tensor of shape {shape:?}: every dimension above 0"
            ));
        }
        let dims: Vec<u64> = shape.iter().map(|&d| d as u64).collect();
        let bytes = dims.iter().product::<u64>() as usize * dtype.size();
        let address = tensor.data as u64 + tensor.byte_offset;
        let device = tensor.device.device_id;
        let (allocator, stream) = match importer(device) {
            Ok(importer) => importer,
            Err(e) => {
                owned.release();
                return Err(e);
            }
        };
        let release: Box<dyn FnOnce() + Send> = Box::new(move || owned.release());
        // SAFETY: the memory stays valid until `release` (the DLPack contract), on `device`.
        let memory = unsafe { allocator.wrap_foreign(address, bytes, &producer, release) }?;
        let mut buffer = gst::Buffer::new();
        buffer
            .get_mut()
            .expect("a new buffer")
            .append_memory(memory);
        let ready = ready_for_reading(&stream, &buffer)?;
        let info = sample_info(dtype, &dims, ready, None, &[]);
        CudaTensor::from_sample(gst::Sample::builder().buffer(&buffer).info(info).build())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dlpack_types_map_to_ours() {
        assert_eq!(dtype_of(DL_UINT, 8, 1), Some(DType::Uint8));
        assert_eq!(dtype_of(DL_FLOAT, 16, 1), Some(DType::Float16));
        assert_eq!(dtype_of(DL_BFLOAT, 16, 1), Some(DType::Bfloat16));
        assert_eq!(dtype_of(DL_FLOAT, 32, 1), Some(DType::Float32));
        assert_eq!(dtype_of(DL_FLOAT, 64, 1), None);
        assert_eq!(dtype_of(DL_UINT, 8, 4), None);
    }

    #[test]
    fn only_c_contiguous_strides_are_taken() {
        assert!(contiguous(&[2, 3, 4], &[12, 4, 1]));
        // A dimension of 1 may have any stride (PyTorch gives such tensors).
        assert!(contiguous(&[1, 3, 4], &[99, 4, 1]));
        assert!(!contiguous(&[2, 3, 4], &[1, 2, 6]), "column-major");
        assert!(!contiguous(&[2, 3, 4], &[24, 8, 2]), "every other element");
    }
}
