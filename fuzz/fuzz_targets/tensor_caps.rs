//! NNStreamer tensor caps (`other/tensors, format=static, num_tensors=1, types=float32,
//! dimensions=224:224:3:1`) as `cudaconvert` (`TensorShape::from_nnstreamer_dims`) and
//! `tensorsink` read them: against a model of the grammar, sizes computed without overflow and
//! absurd sizes refused, shapes and batch caps that read back as what was written.
//!
//! The input is caps text, or a bare `dimensions` string (which is also put into caps).
#![no_main]

use cudapreproc_core::tensor::{one_tensor_caps, DType, Layout, TensorInfo, TensorShape};
use libfuzzer_sys::fuzz_target;

/// The largest buffer a GStreamer buffer pool (or a tensor caps' unit size) can describe.
const MAX_BYTES: u128 = u32::MAX as u128;

/// `from_nnstreamer_dims`' grammar: 1 to 4 non-zero u32 dimensions, innermost first, outer ones
/// 1 when missing, batch 1, 1 to 4 channels; as (channels, height, width).
fn shape_model(dims: &str, layout: Layout) -> Option<(u32, u32, u32)> {
    let mut v = dims
        .split(':')
        .map(|d| d.trim().parse::<u32>().ok())
        .collect::<Option<Vec<u32>>>()?;
    if v.is_empty() || v.len() > 4 || v.contains(&0) {
        return None;
    }
    v.resize(4, 1);
    if v[3] != 1 {
        return None;
    }
    let (c, h, w) = match layout {
        Layout::Nchw => (v[2], v[1], v[0]),
        Layout::Nhwc => (v[0], v[2], v[1]),
    };
    (1..=4).contains(&c).then_some((c, h, w))
}

fn check_shape(dims: &str) {
    for layout in [Layout::Nchw, Layout::Nhwc] {
        let parsed = TensorShape::from_nnstreamer_dims(dims, layout);
        let model = shape_model(dims, layout);
        let Ok(shape) = parsed else {
            // Refused: malformed, or too big for a buffer of the largest element type.
            if let Some((c, h, w)) = model {
                let bytes = u128::from(c) * u128::from(h) * u128::from(w) * 4;
                assert!(
                    bytes > MAX_BYTES,
                    "{dims:?} as {layout:?} refused: {parsed:?}"
                );
            }
            continue;
        };
        let (c, h, w) = model.unwrap_or_else(|| panic!("{dims:?} as {layout:?} gave {shape:?}"));
        assert_eq!((shape.channels, shape.height, shape.width), (c, h, w));
        assert_eq!(shape.layout, layout);
        // Every element type's tensor fits a buffer; width and height fit caps ints.
        let elements = u128::from(c) * u128::from(h) * u128::from(w);
        assert!(
            elements * 4 <= MAX_BYTES,
            "{dims:?}: {elements} elements accepted"
        );
        assert!(i32::try_from(h).is_ok() && i32::try_from(w).is_ok());
        assert_eq!(shape.elements() as u128, elements);
        let strides = shape.strides();
        let d = shape.dims();
        assert_eq!(strides[3], 1);
        for i in 0..3 {
            assert_eq!(
                strides[i] as u128,
                strides[i + 1] as u128 * u128::from(d[i + 1])
            );
        }
        assert_eq!(strides[0] as u128 * u128::from(d[0]), elements);
        // What cudaconvert writes into caps reads back as the same shape.
        let written = shape.nnstreamer_dims();
        assert_eq!(
            TensorShape::from_nnstreamer_dims(&written, layout),
            Ok(shape)
        );
    }
}

/// `tensorsink`'s reading of `caps`: dims outermost first and bytes, or `None`.
fn sink_model(caps: &gst::Caps) -> Option<(Vec<u64>, DType, u128)> {
    let s = caps.structure(0)?;
    let dtype = DType::from_name(s.get::<&str>("types").ok()?)?;
    let mut dims = s
        .get::<&str>("dimensions")
        .ok()?
        .split(':')
        .map(|d| d.trim().parse::<u64>().ok())
        .collect::<Option<Vec<u64>>>()?;
    if dims.is_empty() || dims.contains(&0) {
        return None;
    }
    dims.reverse();
    let bytes = dims
        .iter()
        .try_fold(dtype.size() as u128, |a, &d| a.checked_mul(u128::from(d)))?;
    Some((dims, dtype, bytes))
}

fn check_sink(caps: &gst::Caps) {
    let parsed = TensorInfo::from_caps(caps);
    let model = sink_model(caps);
    let tensor = match (parsed, model) {
        (Ok(t), Some((dims, dtype, bytes))) => {
            assert_eq!((&t.dims, t.dtype), (&dims, dtype), "{caps}");
            assert_eq!(
                t.bytes as u128, bytes,
                "{caps}: size computed with overflow"
            );
            assert!(
                bytes <= MAX_BYTES,
                "{caps}: a tensor of {bytes} bytes accepted"
            );
            t
        }
        (Err(_), None) => return,
        (Err(e), Some((_, _, bytes))) => {
            assert!(bytes > MAX_BYTES, "{caps} refused: {e}");
            return;
        }
        (Ok(t), None) => panic!("{caps} gave {t:?}"),
    };
    for n in [1usize, 2, 3, 8, 255, 65536] {
        let (dims, batch_caps, pool_bytes) = (
            tensor.batch_dims(n),
            tensor.batch_caps(n),
            tensor.batch_bytes(n),
        );
        let batch_bytes = tensor.bytes as u128 * n as u128;
        match pool_bytes {
            Some(b) => assert_eq!(u128::from(b), batch_bytes, "{caps} x {n}"),
            None => assert!(batch_bytes > MAX_BYTES, "{caps} x {n}: batch refused"),
        }
        let mut expected = tensor.dims.clone();
        if expected.len() > 1 && expected[0] == 1 {
            expected[0] = n as u64;
        } else {
            expected.insert(0, n as u64);
        }
        assert_eq!(dims, expected);
        // The batch caps describe the batch: n times the frame's tensor.
        match TensorInfo::from_caps(&batch_caps) {
            Ok(batch) => {
                assert_eq!(batch.dims, dims, "{batch_caps}");
                assert_eq!(batch.bytes as u128, batch_bytes);
            }
            Err(_) => assert!(batch_bytes > MAX_BYTES, "{batch_caps}"),
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let Some(text) = cudapreproc_fuzz::glib_text(data) else {
        return;
    };
    cudapreproc_fuzz::init();
    check_shape(text);
    let types = DType::ALL[data.len() % DType::ALL.len()].name();
    let built = one_tensor_caps(types, text);
    check_sink(&built);
    if let Some(caps) = cudapreproc_fuzz::caps_from_str(text) {
        check_sink(&caps);
        if let Some(dims) = caps
            .structure(0)
            .and_then(|s| s.get::<&str>("dimensions").ok())
        {
            check_shape(dims);
        }
    }
});
