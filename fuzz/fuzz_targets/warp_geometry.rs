//! `cudawarpaffine`'s geometry from its properties and caps sizes: `Placement::forward` (crop,
//! fit, rotation, flips) refuses what is not inside the input and otherwise gives a finite
//! matrix that maps the crop's centre to the output's centre (and, stretched, its corners to the
//! output's corners); the matrices for half-size chroma planes; and the interpolation the
//! kernels run for any matrix (a user's too), whose area mode loops over each output pixel's
//! footprint: that must stay within the source.
#![no_main]

use arbitrary::Arbitrary;
use cudapreproc_core::geometry::{Affine, Fit, Placement, Rect};
use cudapreproc_core::kernels::{Border, Interpolation, Warp};
use libfuzzer_sys::fuzz_target;

#[derive(Arbitrary, Debug)]
struct Input {
    src: (u32, u32),
    dst: (u32, u32),
    crop: Option<(u32, u32, u32, u32)>,
    fit: u8,
    rotation: f64,
    flip_horizontal: bool,
    flip_vertical: bool,
    interpolation: u8,
    /// A user's matrix (property, event or meta) and its `inverse-map`.
    user: Option<([f64; 6], bool)>,
}

/// |a - b| small relative to the magnitudes involved.
fn close(a: f64, b: f64, magnitude: f64) -> bool {
    (a - b).abs() <= 1e-6 * magnitude.max(1.0)
}

fuzz_target!(|input: Input| {
    let placement = Placement {
        crop: input.crop.map(|(x, y, width, height)| Rect {
            x,
            y,
            width,
            height,
        }),
        fit: match input.fit % 3 {
            0 => Fit::Stretch,
            1 => Fit::Letterbox,
            _ => Fit::Fill,
        },
        rotation: input.rotation,
        flip_horizontal: input.flip_horizontal,
        flip_vertical: input.flip_vertical,
    };
    let (src, dst) = (input.src, input.dst);
    let crop = placement.crop.unwrap_or(Rect {
        x: 0,
        y: 0,
        width: src.0,
        height: src.1,
    });
    let crop_inside = crop.width > 0
        && crop.height > 0
        && u64::from(crop.x) + u64::from(crop.width) <= u64::from(src.0)
        && u64::from(crop.y) + u64::from(crop.height) <= u64::from(src.1);

    let forward = placement.forward(src, dst);
    match &forward {
        Err(_) => assert!(
            !crop_inside || !input.rotation.is_finite(),
            "{input:?}: {forward:?}"
        ),
        Ok(m) => {
            assert!(
                crop_inside,
                "{input:?}: a crop outside the input gave {m:?}"
            );
            assert!(m.is_finite(), "{input:?}: {m:?}");
            let centre = (
                f64::from(crop.x) + (f64::from(crop.width) - 1.0) / 2.0,
                f64::from(crop.y) + (f64::from(crop.height) - 1.0) / 2.0,
            );
            let out_centre = (
                (f64::from(dst.0) - 1.0) / 2.0,
                (f64::from(dst.1) - 1.0) / 2.0,
            );
            let magnitude = m.0.iter().fold(0f64, |a, v| a.max(v.abs()))
                * (centre.0.abs() + centre.1.abs() + 1.0);
            let (cx, cy) = m.apply(centre.0, centre.1);
            assert!(
                close(cx, out_centre.0, magnitude) && close(cy, out_centre.1, magnitude),
                "{input:?}: centre goes to ({cx}, {cy})"
            );
            let plain = input.rotation == 0.0 && !input.flip_horizontal && !input.flip_vertical;
            if plain && placement.fit == Fit::Stretch {
                let (x0, y0) = m.apply(f64::from(crop.x) - 0.5, f64::from(crop.y) - 0.5);
                let (x1, y1) = m.apply(
                    f64::from(crop.x) + f64::from(crop.width) - 0.5,
                    f64::from(crop.y) + f64::from(crop.height) - 0.5,
                );
                assert!(close(x0, -0.5, magnitude) && close(y0, -0.5, magnitude));
                assert!(close(x1, f64::from(dst.0) - 0.5, magnitude));
                assert!(close(y1, f64::from(dst.1) - 0.5, magnitude));
            }
            if dst.0 > 0 && dst.1 > 0 {
                let inverse = m
                    .invert()
                    .expect("a placement into a real output is invertible");
                assert!(inverse.is_finite(), "{input:?}: {inverse:?}");
            }
        }
    }

    // The destination -> source matrix the element would hand the kernels.
    let inverse = match input.user {
        Some((values, true)) => Some(Affine(values)),
        Some((values, false)) => Affine(values).invert(),
        None => forward.ok().and_then(|m| m.invert()),
    };
    let Some(inverse) = inverse.filter(|m| m.is_finite()) else {
        return;
    };
    let half = inverse.for_half_plane();
    if inverse.0.iter().all(|v| v.abs() < 1e300) {
        assert!(half.is_finite(), "{inverse:?} -> {half:?}");
    }
    let interpolation = match input.interpolation % 4 {
        0 => Interpolation::Nearest,
        1 => Interpolation::Linear,
        2 => Interpolation::Cubic,
        _ => Interpolation::Area,
    };
    let warp = Warp {
        format: gst_video::VideoFormat::Nv12,
        src_size: src,
        dst_size: dst,
        inverse,
        interpolation,
        border: Border::Constant,
        border_value: [0.0; 4],
    };
    let effective = warp.effective_interpolation();
    if interpolation != Interpolation::Area {
        assert_eq!(effective, interpolation);
    } else if effective == Interpolation::Area {
        // The area kernel sums, for every output pixel, the source pixels under its footprint
        // (|m0| x |m4| of them, in f32 as the kernel computes): no more than the whole source,
        // or a wild matrix has it loop for ever.
        let (fx, fy) = (inverse.0[0].abs() as f32, inverse.0[4].abs() as f32);
        assert!(
            inverse.is_axis_aligned() && fx >= 1.0 && fy >= 1.0,
            "{inverse:?}"
        );
        assert!(
            f64::from(fx) * f64::from(fy) <= f64::from(src.0) * f64::from(src.1),
            "area footprint {fx} x {fy} over a {}x{} source",
            src.0,
            src.1
        );
    } else {
        assert_eq!(effective, Interpolation::Linear);
    }
});
