//! What a reader makes of each frame on the GPU (size, crop, colour order, element type,
//! normalisation, layout), and the chain of elements that does it.

use std::fmt::Write as _;

pub use cudapreproc_core::geometry::Fit;
pub use cudapreproc_core::tensor::{DType, Layout, Normalization};

use crate::choice::{by_name, named_choice};
use crate::Error;

/// The largest output side the warp takes.
const MAX_SIDE: u32 = 16384;

named_choice! {
    /// Where frames are found: from the container's index (or one pass over the packets where it
    /// has none), or from what the header says, for speed.
    pub enum SeekMode("seek_mode") {
        /// Every frame's time and key flag read from the packets when the file is opened: exact
        /// frame positions, whatever the frame rate does.
        #[default]
        Exact = "exact",
        /// The frame count and times the header gives (duration and nominal frame rate): opening
        /// reads no packets, and positions are right for constant frame rates.
        Approximate = "approximate",
    }
}

/// The order of the colour channels in the output.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ColorOrder {
    #[default]
    Rgb,
    Bgr,
}

/// A rectangle of the decoded frame, in its pixels.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Crop {
    pub x: u32,
    pub y: u32,
    pub width: u32,
    pub height: u32,
}

/// `(x * scale - mean) / std` per channel (R, G, B whatever the output order), as `cudaconvert`
/// computes it; `IDENTITY` (values unchanged, 0 to 255), `UNIT`, `SYMMETRIC` and `IMAGENET` are
/// its presets.
pub type Normalize = Normalization<3>;

/// A normalisation preset by name: "none", "unit", "symmetric" or "imagenet".
pub fn normalize_preset(name: &str) -> Result<Normalize, Error> {
    by_name(
        "normalize",
        name,
        &[
            ("none", Normalize::IDENTITY),
            ("unit", Normalize::UNIT),
            ("symmetric", Normalize::SYMMETRIC),
            ("imagenet", Normalize::IMAGENET),
        ],
    )
}

/// What a reader makes of each frame. The default is what torchcodec gives: frames at their
/// decoded size, RGB, uint8, channels first (`[N, 3, H, W]`).
#[derive(Clone, Debug, PartialEq)]
pub struct ReaderOptions {
    /// The GPU that decodes and holds the frames.
    pub device: i32,
    pub seek_mode: SeekMode,
    /// Output size (width, height); `None`: the decoded size (after `crop`).
    pub size: Option<(u32, u32)>,
    /// How the (cropped) frame is fitted into `size`.
    pub fit: Fit,
    /// Part of the decoded frame to keep, before resizing.
    pub crop: Option<Crop>,
    pub color_order: ColorOrder,
    pub dtype: DType,
    pub layout: Layout,
    pub normalize: Normalize,
}

impl Default for ReaderOptions {
    fn default() -> Self {
        ReaderOptions {
            device: 0,
            seek_mode: SeekMode::Exact,
            size: None,
            fit: Fit::Stretch,
            crop: None,
            color_order: ColorOrder::Rgb,
            dtype: DType::Uint8,
            layout: Layout::Nchw,
            normalize: Normalize::IDENTITY,
        }
    }
}

fn fit_name(fit: Fit) -> &'static str {
    match fit {
        Fit::Stretch => "stretch",
        Fit::Letterbox => "letterbox",
        Fit::Fill => "fill",
    }
}

/// A fit by name: "stretch", "letterbox" or "fill".
pub fn fit_from_name(name: &str) -> Result<Fit, Error> {
    let fits = [Fit::Stretch, Fit::Letterbox, Fit::Fill];
    by_name("resize", name, &fits.map(|fit| (fit_name(fit), fit)))
}

impl ReaderOptions {
    /// Refuses options no chain can honour, naming the option.
    pub fn check(&self) -> Result<(), Error> {
        let bad = |text: String| Err(Error::InvalidArgument(text));
        if self.device < 0 {
            return bad(format!("device {} is not a GPU ordinal", self.device));
        }
        if let Some((w, h)) = self.size {
            if !(1..=MAX_SIDE).contains(&w) || !(1..=MAX_SIDE).contains(&h) {
                return bad(format!(
                    "size {w}x{h}: each side must be 1 to {MAX_SIDE} pixels"
                ));
            }
        }
        if let Some(c) = self.crop {
            if c.width == 0 || c.height == 0 {
                return bad(format!(
                    "crop {}x{} at ({}, {}) is empty",
                    c.width, c.height, c.x, c.y
                ));
            }
        }
        let n = &self.normalize;
        if !n.scale.is_finite() || n.scale == 0.0 {
            return bad(format!(
                "normalisation scale {} must be finite and non-zero",
                n.scale
            ));
        }
        if n.mean.iter().any(|m| !m.is_finite()) {
            return bad(format!("mean {:?} must be finite", n.mean));
        }
        if n.std.iter().any(|s| !s.is_finite() || *s <= 0.0) {
            return bad(format!("std {:?} must be finite and positive", n.std));
        }
        Ok(())
    }

    /// The elements from decoded video to one tensor per frame, as a launch description
    /// (after the source, before the sink).
    pub(super) fn chain(&self) -> String {
        let mut chain = String::new();
        if self.size.is_some() || self.crop.is_some() {
            chain.push_str("cudawarpaffine interpolation=linear");
            if let Some((w, h)) = self.size {
                let _ = write!(chain, " width={w} height={h} fit={}", fit_name(self.fit));
            }
            if let Some(c) = self.crop {
                let _ = write!(
                    chain,
                    " crop-x={} crop-y={} crop-width={} crop-height={}",
                    c.x, c.y, c.width, c.height
                );
            }
            chain.push_str(" ! ");
        }
        // Planar RGB for channels first, packed for channels last: cudaconvert then reads each
        // pixel once in the order it writes.
        let format = match self.layout {
            Layout::Nchw => "RGBP",
            Layout::Nhwc => "RGB",
        };
        let _ = write!(
            chain,
            "cudacvtcolor ! video/x-raw(memory:CUDAMemory),format={format} ! cudaconvert \
             dtype={} {}",
            self.dtype.name(),
            convert_properties(self.layout, self.color_order, &self.normalize)
        );
        chain
    }
}

/// `cudaconvert`'s properties for tensors of `layout` whose channels come in `color_order`
/// and whose values carry `normalize`, as launch-line text: the reader converts video to such
/// tensors, the writer such tensors back to video.
pub(crate) fn convert_properties(
    layout: Layout,
    color_order: ColorOrder,
    normalize: &Normalize,
) -> String {
    let list = |v: &[f64; 3]| format!("\"<{},{},{}>\"", v[0], v[1], v[2]);
    format!(
        "layout={} channel-order={} scale={} mean={} std={}",
        match layout {
            Layout::Nchw => "nchw",
            Layout::Nhwc => "nhwc",
        },
        match color_order {
            ColorOrder::Rgb => "rgb",
            ColorOrder::Bgr => "bgr",
        },
        normalize.scale,
        list(&normalize.mean),
        list(&normalize.std)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_chain_gives_rgb_uint8_channels_first_at_the_decoded_size() {
        let chain = ReaderOptions::default().chain();
        assert!(!chain.contains("cudawarpaffine"), "{chain}");
        assert!(chain.contains("format=RGBP"), "{chain}");
        assert!(
            chain.contains("dtype=uint8 layout=nchw channel-order=rgb"),
            "{chain}"
        );
        assert!(
            chain.contains("scale=1 mean=\"<0,0,0>\" std=\"<1,1,1>\""),
            "{chain}"
        );
    }

    #[test]
    fn resizing_cropping_and_normalising_reach_the_elements() {
        let options = ReaderOptions {
            size: Some((224, 160)),
            fit: Fit::Letterbox,
            crop: Some(Crop {
                x: 8,
                y: 4,
                width: 300,
                height: 200,
            }),
            color_order: ColorOrder::Bgr,
            dtype: DType::Float16,
            layout: Layout::Nhwc,
            normalize: Normalize::IMAGENET,
            ..ReaderOptions::default()
        };
        options.check().unwrap();
        let chain = options.chain();
        assert!(
            chain.starts_with(
                "cudawarpaffine interpolation=linear width=224 height=160 fit=letterbox \
                 crop-x=8 crop-y=4 crop-width=300 crop-height=200 ! "
            ),
            "{chain}"
        );
        assert!(chain.contains("format=RGB !"), "{chain}");
        assert!(
            chain.contains("dtype=float16 layout=nhwc channel-order=bgr"),
            "{chain}"
        );
        assert!(chain.contains("mean=\"<0.485,0.456,0.406>\""), "{chain}");
    }

    #[test]
    fn options_no_chain_can_honour_are_refused_by_name() {
        let refused = |options: ReaderOptions, needle: &str| {
            let e = options.check().unwrap_err().to_string();
            assert!(e.contains(needle), "{e}");
        };
        let base = ReaderOptions::default;
        refused(
            ReaderOptions {
                size: Some((0, 10)),
                ..base()
            },
            "size 0x10",
        );
        refused(
            ReaderOptions {
                size: Some((20000, 10)),
                ..base()
            },
            "1 to 16384",
        );
        refused(
            ReaderOptions {
                crop: Some(Crop {
                    x: 0,
                    y: 0,
                    width: 0,
                    height: 5,
                }),
                ..base()
            },
            "crop 0x5",
        );
        refused(
            ReaderOptions {
                normalize: Normalize {
                    std: [1.0, 0.0, 1.0],
                    ..Normalize::IDENTITY
                },
                ..base()
            },
            "std",
        );
        refused(
            ReaderOptions {
                device: -1,
                ..base()
            },
            "device -1",
        );
        assert!(normalize_preset("imagenet").is_ok());
        assert!(normalize_preset("imagenette")
            .unwrap_err()
            .to_string()
            .contains("imagenette"));
        assert!(fit_from_name("squash")
            .unwrap_err()
            .to_string()
            .contains("squash"));
        // The names the chain gives cudawarpaffine are the names read back.
        for fit in [Fit::Stretch, Fit::Letterbox, Fit::Fill] {
            assert_eq!(fit_from_name(fit_name(fit)), Ok(fit));
        }
        assert_eq!(
            normalize_preset("imagenette"),
            Err(Error::InvalidArgument(
                "normalize \"imagenette\": none, unit, symmetric or imagenet".into()
            ))
        );
        assert_eq!(
            fit_from_name("squash"),
            Err(Error::InvalidArgument(
                "resize \"squash\": stretch, letterbox or fill".into()
            ))
        );
        assert_eq!(normalize_preset("unit"), Ok(Normalize::UNIT));
        assert!("fast"
            .parse::<SeekMode>()
            .unwrap_err()
            .to_string()
            .contains("fast"));
    }
}
