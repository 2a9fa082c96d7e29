//! What cudaconvert's properties mean: the tensor's type, layout and channel order, and the
//! normalisation per channel.

use cudapreproc_core::tensor::{is_color, DType, Layout, Normalization};
use gst::glib;

use super::{ChannelOrder, NormalizationPreset, TensorDType, TensorLayout};
use crate::property::number;

pub(super) const DEFAULT_DTYPE: TensorDType = TensorDType::Float32;
pub(super) const DEFAULT_LAYOUT: TensorLayout = TensorLayout::Nchw;
pub(super) const DEFAULT_CHANNEL_ORDER: ChannelOrder = ChannelOrder::Rgb;
pub(super) const DEFAULT_PRESET: NormalizationPreset = NormalizationPreset::None;
pub(super) const DEFAULT_SCALE: f64 = 1.0;
/// Smallest `std`: the values are divided by it.
pub(super) const MIN_STD: f64 = 1e-6;

#[derive(Debug, Clone)]
pub(super) struct Settings {
    pub(super) dtype: TensorDType,
    pub(super) layout: TensorLayout,
    pub(super) channel_order: ChannelOrder,
    pub(super) preset: NormalizationPreset,
    pub(super) scale: f64,
    /// Per colour component (R, G, B, A; gray uses the first), whatever the channel order.
    pub(super) mean: [f64; 4],
    pub(super) std: [f64; 4],
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            dtype: DEFAULT_DTYPE,
            layout: DEFAULT_LAYOUT,
            channel_order: DEFAULT_CHANNEL_ORDER,
            preset: DEFAULT_PRESET,
            scale: DEFAULT_SCALE,
            mean: [0.0; 4],
            std: [1.0; 4],
        }
    }
}

impl Settings {
    pub(super) fn apply_preset(&mut self, preset: NormalizationPreset) {
        self.preset = preset;
        let Normalization::<3> { scale, mean, std } = preset.into();
        self.scale = scale;
        self.mean = [mean[0], mean[1], mean[2], 0.0];
        self.std = [std[0], std[1], std[2], 1.0];
    }

    pub(super) fn dtype(&self) -> DType {
        match self.dtype {
            TensorDType::Uint8 => DType::Uint8,
            TensorDType::Float16 => DType::Float16,
            TensorDType::Bfloat16 => DType::Bfloat16,
            TensorDType::Float32 => DType::Float32,
        }
    }

    pub(super) fn layout(&self) -> Layout {
        match self.layout {
            TensorLayout::Nchw => Layout::Nchw,
            TensorLayout::Nhwc => Layout::Nhwc,
        }
    }

    /// The frame component (R=0, G=1, B=2, A=3) each tensor channel holds, for `channels`
    /// tensor channels (1: gray or the first component).
    pub(super) fn channel_components(&self, channels: u32) -> Vec<usize> {
        match (channels, self.channel_order) {
            (1, _) => vec![0],
            (3, ChannelOrder::Rgb | ChannelOrder::Rgba) => vec![0, 1, 2],
            (3, ChannelOrder::Bgr | ChannelOrder::Bgra) => vec![2, 1, 0],
            (_, ChannelOrder::Rgb | ChannelOrder::Rgba) => vec![0, 1, 2, 3],
            (_, ChannelOrder::Bgr | ChannelOrder::Bgra) => vec![2, 1, 0, 3],
        }
    }

    /// Tensor channels for video of `format`.
    pub(super) fn channels_for(&self, format: gst_video::VideoFormat) -> u32 {
        if !is_color(format) {
            1
        } else if matches!(self.channel_order, ChannelOrder::Rgba | ChannelOrder::Bgra) {
            4
        } else {
            3
        }
    }

    pub(super) fn normalization(&self, components: &[usize]) -> Normalization {
        let mut n = Normalization {
            scale: self.scale,
            ..Normalization::IDENTITY
        };
        for (channel, &component) in components.iter().enumerate() {
            n.mean[channel] = self.mean[component];
            n.std[channel] = self.std[component];
        }
        n
    }
}

/// 1, 3 or 4 finite values from an array property (one: every component); the fourth (alpha)
/// defaults to `alpha`.
pub(super) fn component_values(value: &glib::Value, alpha: f64) -> Result<[f64; 4], String> {
    let array = value.get::<gst::Array>().map_err(|e| e.to_string())?;
    let values = array
        .iter()
        .map(number)
        .collect::<Result<Vec<f64>, String>>()?;
    if values.iter().any(|v| !v.is_finite()) {
        return Err(format!("{values:?} has a value that is not finite"));
    }
    match values[..] {
        [v] => Ok([v, v, v, alpha]),
        [r, g, b] => Ok([r, g, b, alpha]),
        [r, g, b, a] => Ok([r, g, b, a]),
        _ => Err(format!("1, 3 or 4 values expected, got {}", values.len())),
    }
}

#[cfg(test)]
mod tests {
    use gst::prelude::*;

    use super::*;
    use crate::property::array_of;

    #[test]
    fn presets_and_channel_order() {
        let mut settings = Settings::default();
        settings.apply_preset(NormalizationPreset::Imagenet);
        settings.channel_order = ChannelOrder::Bgr;
        let components = settings.channel_components(3);
        assert_eq!(components, vec![2, 1, 0]);
        let n = settings.normalization(&components);
        // The B channel, first in the tensor, gets B's mean and std.
        assert_eq!(n.mean[0], 0.406);
        assert_eq!(n.std[0], 0.225);
        assert_eq!(n.scale, 1.0 / 255.0);
        settings.apply_preset(NormalizationPreset::Symmetric);
        let n = settings.normalization(&settings.channel_components(3));
        // 255 -> 1, 0 -> -1
        assert_eq!((255.0 * n.scale - n.mean[0]) / n.std[0], 1.0);
        assert_eq!((0.0 * n.scale - n.mean[0]) / n.std[0], -1.0);
    }

    #[test]
    fn component_values_take_one_three_or_four() {
        gst::init().unwrap();
        let array = |v: &[f64]| array_of(v).to_value();
        assert_eq!(
            component_values(&array(&[2.0]), 0.0).unwrap(),
            [2.0, 2.0, 2.0, 0.0]
        );
        assert_eq!(
            component_values(&array(&[1.0, 2.0, 3.0]), 1.0).unwrap(),
            [1.0, 2.0, 3.0, 1.0]
        );
        assert!(component_values(&array(&[1.0, 2.0]), 0.0).is_err());
        assert!(component_values(&array(&[f64::NAN]), 0.0).is_err());
    }
}
