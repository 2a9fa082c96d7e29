//! DLPack (v0.8 ABI, `dlpack.h`): the tensor exchange format PyTorch (`torch.from_dlpack`),
//! CuPy, JAX and TensorFlow read. Only the structures and the export live here.

use std::ffi::c_void;
use std::sync::atomic::{AtomicUsize, Ordering};

/// `DLDeviceType` values used here.
pub const DL_CPU: i32 = 1;
pub const DL_CUDA: i32 = 2;

/// `DLDataTypeCode` values used here.
pub const DL_UINT: u8 = 1;
pub const DL_FLOAT: u8 = 2;
pub const DL_BFLOAT: u8 = 4;

#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DLDevice {
    pub device_type: i32,
    pub device_id: i32,
}

#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DLDataType {
    pub code: u8,
    pub bits: u8,
    pub lanes: u16,
}

#[repr(C)]
#[derive(Debug)]
pub struct DLTensor {
    pub data: *mut c_void,
    pub device: DLDevice,
    pub ndim: i32,
    pub dtype: DLDataType,
    pub shape: *mut i64,
    pub strides: *mut i64,
    pub byte_offset: u64,
}

/// What a consumer takes ownership of; it calls `deleter` when done.
#[repr(C)]
#[derive(Debug)]
pub struct DLManagedTensor {
    pub dl_tensor: DLTensor,
    pub manager_ctx: *mut c_void,
    pub deleter: Option<unsafe extern "C" fn(*mut DLManagedTensor)>,
}

/// Owns what a `DLManagedTensor` points to: the shape and stride arrays and whatever keeps the
/// data alive (`keep`).
struct Context<K> {
    shape: Vec<i64>,
    strides: Vec<i64>,
    _keep: K,
}

/// Exports whose deleter has not run yet, in this process.
static LIVE_EXPORTS: AtomicUsize = AtomicUsize::new(0);

/// How many `DLManagedTensor`s made by [`export`] are still held by consumers: a leak check for
/// applications and tests.
pub fn live_exports() -> usize {
    LIVE_EXPORTS.load(Ordering::SeqCst)
}

unsafe extern "C" fn delete<K>(managed: *mut DLManagedTensor) {
    if managed.is_null() {
        return;
    }
    // SAFETY: `managed` and its context were made by `export::<K>` with Box::into_raw, and a
    // consumer calls the deleter once.
    unsafe {
        let managed = Box::from_raw(managed);
        drop(Box::from_raw(managed.manager_ctx as *mut Context<K>));
    }
    LIVE_EXPORTS.fetch_sub(1, Ordering::SeqCst);
}

/// A `DLManagedTensor` describing `data` with `shape` and `strides` (elements), owning `keep`
/// until the consumer calls its deleter.
pub fn export<K: 'static>(
    data: u64,
    device: DLDevice,
    dtype: DLDataType,
    shape: &[i64],
    strides: &[i64],
    keep: K,
) -> *mut DLManagedTensor {
    LIVE_EXPORTS.fetch_add(1, Ordering::SeqCst);
    let context = Box::into_raw(Box::new(Context {
        shape: shape.to_vec(),
        strides: strides.to_vec(),
        _keep: keep,
    }));
    // SAFETY: `context` was just made and lives until the deleter frees it.
    let (shape_ptr, strides_ptr) = unsafe {
        (
            (*context).shape.as_mut_ptr(),
            (*context).strides.as_mut_ptr(),
        )
    };
    Box::into_raw(Box::new(DLManagedTensor {
        dl_tensor: DLTensor {
            data: data as *mut c_void,
            device,
            ndim: shape.len() as i32,
            dtype,
            shape: shape_ptr,
            strides: strides_ptr,
            byte_offset: 0,
        },
        manager_ctx: context.cast(),
        deleter: Some(delete::<K>),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn layout_matches_dlpack_h() {
        // Sizes and offsets of dlpack.h's structs on 64-bit platforms.
        assert_eq!(std::mem::size_of::<DLDevice>(), 8);
        assert_eq!(std::mem::size_of::<DLDataType>(), 4);
        assert_eq!(std::mem::size_of::<DLTensor>(), 48);
        assert_eq!(std::mem::offset_of!(DLTensor, ndim), 16);
        assert_eq!(std::mem::offset_of!(DLTensor, dtype), 20);
        assert_eq!(std::mem::offset_of!(DLTensor, shape), 24);
        assert_eq!(std::mem::offset_of!(DLTensor, byte_offset), 40);
        assert_eq!(std::mem::size_of::<DLManagedTensor>(), 64);
    }

    #[test]
    fn the_deleter_releases_what_is_kept() {
        struct Counted(Arc<AtomicUsize>);
        impl Drop for Counted {
            fn drop(&mut self) {
                self.0.fetch_add(1, Ordering::SeqCst);
            }
        }
        let drops = Arc::new(AtomicUsize::new(0));
        let managed = export(
            0x1000,
            DLDevice {
                device_type: DL_CUDA,
                device_id: 0,
            },
            DLDataType {
                code: DL_FLOAT,
                bits: 32,
                lanes: 1,
            },
            &[2, 3, 4],
            &[12, 4, 1],
            Counted(drops.clone()),
        );
        // SAFETY: `managed` is live until its deleter runs below.
        unsafe {
            let t = &(*managed).dl_tensor;
            assert_eq!(t.ndim, 3);
            assert_eq!(std::slice::from_raw_parts(t.shape, 3), [2, 3, 4]);
            assert_eq!(std::slice::from_raw_parts(t.strides, 3), [12, 4, 1]);
            assert_eq!(t.data as u64, 0x1000);
            assert_eq!(drops.load(Ordering::SeqCst), 0);
            ((*managed).deleter.unwrap())(managed);
        }
        assert_eq!(drops.load(Ordering::SeqCst), 1);
    }
}
