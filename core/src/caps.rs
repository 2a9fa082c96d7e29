//! Caps in both memory kinds: the CUDA memory caps feature (upstream GStreamer's, so our caps
//! link with upstream's CUDA elements), video caps offered in CUDA memory first, and the caps a
//! filter that changes some fields produces.

/// The caps feature of video in CUDA device memory.
pub const CAPS_FEATURE_MEMORY_CUDA: &str = "memory:CUDAMemory";

pub fn cuda_features() -> gst::CapsFeatures {
    gst::CapsFeatures::new([CAPS_FEATURE_MEMORY_CUDA])
}

/// Whether the first structure of `caps` is in CUDA memory.
pub fn is_cuda_caps(caps: &gst::CapsRef) -> bool {
    caps.features(0)
        .is_some_and(|f| f.contains(CAPS_FEATURE_MEMORY_CUDA))
}

/// The RGB formats of three or four 8-bit samples a pixel, packed and planar, that both the warp
/// and the tensor kernels read and write.
pub const RGB_FORMATS: [&str; 8] = ["RGB", "BGR", "RGBA", "BGRA", "RGBx", "BGRx", "RGBP", "BGRP"];

/// `first` followed by `second`, as a constant: format lists that share a part.
pub const fn joined<const A: usize, const B: usize, const N: usize>(
    first: [&'static str; A],
    second: [&'static str; B],
) -> [&'static str; N] {
    assert!(A + B == N, "joined: N must be A + B");
    let mut out = [""; N];
    let mut i = 0;
    while i < A {
        out[i] = first[i];
        i += 1;
    }
    while i < N {
        out[i] = second[i - A];
        i += 1;
    }
    out
}

/// `video/x-raw` caps with `formats`, in CUDA memory first, then in system memory.
pub fn video_caps(formats: &[&str]) -> gst::Caps {
    let structure = gst_video::VideoCapsBuilder::new()
        .format_list(
            formats
                .iter()
                .map(|f| gst_video::VideoFormat::from_string(f)),
        )
        .build()
        .structure(0)
        .unwrap()
        .to_owned();
    let mut caps = gst::Caps::new_empty();
    {
        let caps = caps.get_mut().unwrap();
        caps.append_structure_full(structure.clone(), Some(cuda_features()));
        caps.append_structure_full(structure, Some(gst::CapsFeatures::new_empty()));
    }
    caps
}

/// The caps a filter that changes only `fields` (and the memory kind) can produce from `caps`:
/// each structure without those fields, with `formats`, in CUDA memory first, then system memory.
pub fn transform_video_caps(caps: &gst::Caps, formats: &[&str], fields: &[&str]) -> gst::Caps {
    if caps.is_any() {
        return caps.clone();
    }
    let format_list = gst::List::new(formats.iter().copied());
    let mut out = gst::Caps::new_empty();
    for features in [cuda_features(), gst::CapsFeatures::new_empty()] {
        for structure in caps.iter() {
            let mut s = structure.to_owned();
            s.remove_fields(fields.iter().copied());
            s.set("format", format_list.clone());
            out.merge_structure_full(s, Some(features.clone()));
        }
    }
    out
}

/// The structure of `othercaps` a filter that prefers CUDA memory starts fixating from: the
/// first in CUDA memory, or else the first; `None` for empty caps.
pub fn preferred_structure(othercaps: &gst::Caps) -> Option<(gst::Structure, gst::CapsFeatures)> {
    let chosen = othercaps
        .iter_with_features()
        .position(|(_, f)| f.contains(CAPS_FEATURE_MEMORY_CUDA))
        .unwrap_or(0);
    othercaps
        .iter_with_features()
        .nth(chosen)
        .map(|(s, f)| (s.to_owned(), f.to_owned()))
}

/// `othercaps` narrowed to one fixed structure: the first in CUDA memory (or the first), as a
/// filter that prefers CUDA memory fixates what the other pad allows.
pub fn fixate_preferring_cuda(othercaps: &gst::Caps) -> gst::Caps {
    let mut out = gst::Caps::new_empty();
    if let Some((s, f)) = preferred_structure(othercaps) {
        out.get_mut().unwrap().append_structure_full(s, Some(f));
    }
    out.fixate();
    out
}
