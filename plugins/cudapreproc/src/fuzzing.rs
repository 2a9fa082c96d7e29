//! Entry points for the fuzz targets in `fuzz/` (cargo-fuzz) into the element code that reads
//! outside data: `tensorsink`'s caps, the frame extent check, and how `nvdec` turns a sequence
//! header into its output. Not a stable API (hidden from the documentation); the public parsers
//! (`geometry`, `cuda::tensor`, `cuda::frame`, `cuvid`) are fuzzed directly, and the caps
//! functions of the filters through their GstBaseTransform virtual methods.

use crate::cuda::tensor::DType;
use crate::cuvid::{ChromaFormat, SequenceInfo, SurfaceFormat};

/// One frame's tensor as `tensorsink` reads it from its caps.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FrameTensor {
    /// Outermost first.
    pub dims: Vec<u64>,
    pub dtype: DType,
    /// Bytes of one frame's tensor.
    pub bytes: usize,
}

/// `tensorsink`'s reading of its caps.
pub fn tensorsink_frame_tensor(caps: &gst::Caps) -> Result<FrameTensor, String> {
    let t = crate::tensorsink::imp::FrameTensor::from_caps(caps)?;
    Ok(FrameTensor {
        dims: t.dims.clone(),
        dtype: t.dtype,
        bytes: t.bytes,
    })
}

/// `tensorsink`'s batch of `n` frames of the tensor `caps` describe: its shape (outermost
/// first), its caps, and the size of its pool's buffers (`None`: refused).
pub fn tensorsink_batch(
    caps: &gst::Caps,
    n: usize,
) -> Result<(Vec<u64>, gst::Caps, Option<u32>), String> {
    let t = crate::tensorsink::imp::FrameTensor::from_caps(caps)?;
    Ok((t.batch_dims(n), t.batch_caps(n), t.batch_bytes(n)))
}

/// Whether a frame of `info` laid out by `offsets` and `strides` (a GstVideoMeta's, or the
/// info's) fits in `size` bytes, as the filters check before a kernel touches the memory.
pub fn check_extent(
    info: &gst_video::VideoInfo,
    offsets: &[usize],
    strides: &[i32],
    size: usize,
) -> Result<(), String> {
    crate::cuda::frame::check_extent(info, offsets, strides, size).map_err(|e| e.to_string())
}

/// The surface format and video format `nvdec` outputs for a sequence.
pub fn nvdec_output_formats(
    chroma: ChromaFormat,
    bit_depth: u32,
) -> Option<(SurfaceFormat, gst_video::VideoFormat)> {
    crate::nvdec::imp::output_formats(chroma, bit_depth)
}

/// The colorimetry `nvdec` announces for a sequence (`default`: GStreamer's for the size).
pub fn nvdec_colorimetry(
    seq: &SequenceInfo,
    default: &gst_video::VideoColorimetry,
) -> gst_video::VideoColorimetry {
    crate::nvdec::imp::colorimetry(seq, default)
}

/// The framerate `nvdec` announces for a sequence when the input caps have none.
pub fn nvdec_fps(seq: &SequenceInfo) -> gst::Fraction {
    crate::nvdec::imp::sequence_fps(seq)
}

/// The pixel aspect ratio `nvdec` announces for a `width` x `height` output of a sequence when
/// the input caps have none.
pub fn nvdec_par(seq: &SequenceInfo, width: u32, height: u32) -> gst::Fraction {
    crate::nvdec::imp::sequence_par(seq, width, height)
}
