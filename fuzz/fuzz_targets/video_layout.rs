//! Video caps -> frame layout, for every format an element of the plugin takes: the planes
//! (`plane_extent`) of GStreamer's layout and of our device layout (`device_layout`, rows pitched
//! to 256 bytes, what the pools allocate) lie inside the frame size without overlapping, the
//! device frame fits a buffer pool (refused when it does not), and the check every filter makes
//! on an incoming buffer's GstVideoMeta (`check_extent`) accepts exactly the layouts whose
//! planes fit the memory, computed here in 128 bits.
//!
//! The input is one line of video caps, then bytes that perturb the plane offsets, strides and
//! memory size as a GstVideoMeta from upstream might.
#![no_main]

use arbitrary::{Arbitrary, Unstructured};
use cudapreproc_core::colorspace::PixelFormat;
use cudapreproc_core::frame::check_extent;
use cudapreproc_core::memory::{device_layout, PITCH_ALIGN};
use libfuzzer_sys::fuzz_target;

/// What a GstBufferPool can describe (its size is a guint).
const MAX_BYTES: u128 = u32::MAX as u128;

/// Formats some element of the plugin accepts beyond the colour converter's.
const OTHER_FORMATS: &[&str] = &["GRAY16_LE", "P016_LE", "Y444_16LE"];

#[derive(Arbitrary, Debug)]
struct PlaneTweak {
    raw: bool,
    offset: u64,
    stride: i32,
}

#[derive(Arbitrary, Debug)]
struct MetaTweak {
    planes: Vec<PlaneTweak>,
    raw_size: bool,
    size: u64,
}

/// Does every plane of `info`, laid out by `offsets` and `strides`, fit in `size` bytes?
/// (row bytes, rows) of plane `plane` of a frame of `info`.
fn plane_extent(info: &gst_video::VideoInfo, plane: usize) -> (usize, usize) {
    cudapreproc_core::frame::plane_extent(info.format(), info.width(), info.height(), plane)
}

fn fits(info: &gst_video::VideoInfo, offsets: &[usize], strides: &[i32], size: usize) -> bool {
    (0..info.n_planes() as usize).all(|p| {
        let (row_bytes, rows) = plane_extent(info, p);
        let (Some(&offset), Some(&stride)) = (offsets.get(p), strides.get(p)) else {
            return false;
        };
        if stride <= 0 || (stride as usize) < row_bytes {
            return false;
        }
        let end =
            offset as u128 + stride as u128 * (rows as u128).saturating_sub(1) + row_bytes as u128;
        end <= size as u128
    })
}

/// Planes of a layout in one allocation must not overlap.
fn disjoint(info: &gst_video::VideoInfo, offsets: &[usize], strides: &[i32]) -> bool {
    let mut spans: Vec<(u128, u128)> = (0..info.n_planes() as usize)
        .map(|p| {
            let (row_bytes, rows) = plane_extent(info, p);
            let start = offsets[p] as u128;
            (
                start,
                start + strides[p] as u128 * (rows as u128 - 1) + row_bytes as u128,
            )
        })
        .collect();
    spans.sort();
    spans.windows(2).all(|w| w[0].1 <= w[1].0)
}

fuzz_target!(|data: &[u8]| {
    let split = data.iter().position(|&b| b == b'\n').unwrap_or(data.len());
    let Ok(text) = std::str::from_utf8(&data[..split]) else {
        return;
    };
    cudapreproc_fuzz::init();
    let Some(caps) = cudapreproc_fuzz::caps_from_str(text).filter(|c| c.is_fixed()) else {
        return;
    };
    let Ok(info) = gst_video::VideoInfo::from_caps(&caps) else {
        return;
    };
    let format = info.format();
    if PixelFormat::from_video_format(format).is_none()
        && !OTHER_FORMATS.contains(&format.to_str().as_str())
    {
        return;
    }
    // The elements' pad templates take sizes from 1 to i32::MAX (GStreamer's VideoInfo reads a
    // negative width as a huge one).
    let caps_int = |v: u32| (1..=i32::MAX as u32).contains(&v);
    if !caps_int(info.width()) || !caps_int(info.height()) {
        return;
    }

    // GStreamer's own layout of the frame.
    let (offsets, strides) = (info.offset(), info.stride());
    assert!(
        fits(&info, offsets, strides, info.size()),
        "{caps}: {info:?}"
    );
    assert!(check_extent(&info, offsets, strides, info.size()).is_ok());

    // Our device layout: what the pools allocate and the staging frames use.
    match device_layout(&info) {
        Ok(layout) => {
            let (offsets, strides) = (layout.offset(), layout.stride());
            assert!(
                layout.size() as u128 <= MAX_BYTES,
                "{caps}: a device frame of {} bytes, over what a pool can hold",
                layout.size()
            );
            for p in 0..layout.n_planes() as usize {
                assert_eq!(strides[p] as u32 % PITCH_ALIGN, 0, "{caps}: {layout:?}");
                assert_eq!(offsets[p] as u32 % PITCH_ALIGN, 0, "{caps}: {layout:?}");
                assert_eq!(plane_extent(&layout, p), plane_extent(&info, p));
            }
            assert!(
                fits(&layout, offsets, strides, layout.size()),
                "{caps}: {layout:?}"
            );
            assert!(disjoint(&layout, offsets, strides), "{caps}: {layout:?}");
            assert!(check_extent(&layout, offsets, strides, layout.size()).is_ok());
        }
        Err(_) => {
            // Refused: only a frame that does not fit a pool.
            let bytes: u128 = (0..info.n_planes() as usize)
                .map(|p| {
                    let (row_bytes, rows) = plane_extent(&info, p);
                    (row_bytes as u128).div_ceil(u128::from(PITCH_ALIGN))
                        * u128::from(PITCH_ALIGN)
                        * rows as u128
                })
                .sum();
            assert!(
                bytes > MAX_BYTES,
                "{caps}: no device layout for {bytes} bytes"
            );
        }
    }

    // A GstVideoMeta's layout from upstream, checked before any kernel touches the memory.
    let mut u = Unstructured::new(&data[split..]);
    let Ok(tweak) = MetaTweak::arbitrary(&mut u) else {
        return;
    };
    let n = info.n_planes() as usize;
    let mut meta_offsets = offsets.to_vec();
    let mut meta_strides = strides.to_vec();
    for (p, t) in tweak.planes.iter().enumerate().take(n) {
        if t.raw {
            meta_offsets[p] = t.offset as usize;
            meta_strides[p] = t.stride;
        } else {
            meta_offsets[p] = meta_offsets[p].wrapping_add_signed(t.offset as i16 as isize);
            meta_strides[p] = meta_strides[p].wrapping_add(i32::from(t.stride as i16));
        }
    }
    if tweak.planes.len() > 4 * n {
        // A meta describing fewer planes than the format has.
        meta_offsets.truncate(n - 1);
    }
    let size = if tweak.raw_size {
        tweak.size as usize
    } else {
        info.size().wrapping_add_signed(tweak.size as i16 as isize)
    };
    let checked = check_extent(&info, &meta_offsets, &meta_strides, size);
    assert_eq!(
        checked.is_ok(),
        fits(&info, &meta_offsets, &meta_strides, size),
        "{caps}: offsets {meta_offsets:?} strides {meta_strides:?} in {size} bytes: {checked:?}"
    );
});
