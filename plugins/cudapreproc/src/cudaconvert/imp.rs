use std::sync::{LazyLock, Mutex};

use cudapreproc_core::access::{Input, Media, Output};
use cudapreproc_core::caps;
use cudapreproc_core::cuda::{CudaError, Stream};
use cudapreproc_core::kernels::TensorConversion;
use cudapreproc_core::tensor::{DType, TensorShape, VIDEO_FORMATS};
use gst::glib;
use gst::prelude::*;
use gst::subclass::prelude::*;

use super::caps::tensor_structure;
use super::settings::*;
use crate::cudabasetransform::{
    never_in_place, pad_templates, CudaBaseTransform, CudaBaseTransformImpl, Negotiated,
    TransformResult,
};
use crate::property::{array_of, factory_name, nick, properties_from_table, PropertyTable, Spec};

crate::debug_category!(static CAT = "cudaconvert", "CUDA video/tensor conversion");

/// What `transform_frames` does.
enum Mode {
    ToTensor(TensorConversion),
    ToVideo(TensorConversion),
}

#[derive(Default)]
pub struct CudaConvert {
    settings: Mutex<Settings>,
    /// What the negotiated caps ask for.
    mode: Mutex<Option<Mode>>,
}

#[glib::object_subclass]
impl ObjectSubclass for CudaConvert {
    const NAME: &'static str = "GstRsCudaConvert";
    type Type = super::CudaConvert;
    type ParentType = CudaBaseTransform;
}

static PROPERTIES: LazyLock<PropertyTable<CudaConvert, Settings>> = LazyLock::new(|| {
    let component = |minimum, default| {
        Spec::element("value", "Value", "Per-component value").double(minimum..=f64::MAX, default)
    };
    PropertyTable::new(*CAT, |imp: &CudaConvert| &imp.settings)
        .field(
            Spec::ready(
                "dtype",
                "Data type",
                "Tensor element type (video -> tensor)",
            )
            .enumeration(DEFAULT_DTYPE),
            |s| &mut s.dtype,
        )
        .field(
            Spec::ready("layout", "Layout", "Tensor memory order (both directions)")
                .enumeration(DEFAULT_LAYOUT),
            |s| &mut s.layout,
        )
        .field(
            Spec::ready(
                "channel-order",
                "Channel order",
                "Order of the colour channels in the tensor (both directions)",
            )
            .enumeration(DEFAULT_CHANNEL_ORDER),
            |s| &mut s.channel_order,
        )
        .property(
            Spec::ready(
                "preset",
                "Preset",
                "Sets scale, mean and std to a usual normalisation; set those after it to change \
                 one",
            )
            .enumeration(DEFAULT_PRESET),
            |imp| imp.settings.lock().unwrap().preset.to_value(),
            |imp, value| {
                let preset = value.get().expect("type checked upstream");
                imp.settings.lock().unwrap().apply_preset(preset);
                Ok(())
            },
        )
        .checked_field(
            Spec::ready("scale", "Scale", "y = (x * scale - mean) / std; not 0")
                .double(f64::MIN..=f64::MAX, DEFAULT_SCALE),
            |s| &mut s.scale,
            // GLib refuses NaN and infinities (outside the spec's range) before this point.
            |value| match value.get::<f64>().expect("type checked upstream") {
                0.0 => Err("a scale of 0 makes every value the same".to_string()),
                scale => Ok(scale),
            },
        )
        .property(
            Spec::ready(
                "mean",
                "Mean",
                "Per colour component R, G, B (, A) whatever the channel order; one value: every \
                 component",
            )
            .array(component(f64::MIN, 0.0)),
            |imp| array_of(&imp.settings.lock().unwrap().mean).to_value(),
            |imp, value| {
                imp.settings.lock().unwrap().mean = component_values(value, 0.0)?;
                Ok(())
            },
        )
        .property(
            Spec::ready(
                "std",
                "Standard deviation",
                "Per colour component R, G, B (, A), at least 1e-6; one value: every component",
            )
            .array(component(MIN_STD, 1.0)),
            |imp| array_of(&imp.settings.lock().unwrap().std).to_value(),
            |imp, value| {
                imp.settings.lock().unwrap().std = component_values(value, 1.0)?;
                Ok(())
            },
        )
});

impl ObjectImpl for CudaConvert {
    properties_from_table!(PROPERTIES);
}

impl GstObjectImpl for CudaConvert {}

impl ElementImpl for CudaConvert {
    crate::element_metadata!(
        "CUDA video/tensor converter",
        "Filter/Converter/Video/Tensor/Hardware",
        "Turns RGB or gray video into normalised tensors (other/tensors) on an NVIDIA GPU, \
         and tensors back into video"
    );

    crate::element_pad_templates!({
        let mut caps = caps::video_caps(VIDEO_FORMATS);
        let types = gst::List::new(DType::ALL.map(|d| d.name())).to_send_value();
        for features in [caps::cuda_features(), gst::CapsFeatures::new_empty()] {
            let mut s = tensor_structure(types.clone(), None, None);
            s.set(
                "framerate",
                gst::FractionRange::new(gst::Fraction::new(0, 1), gst::Fraction::new(i32::MAX, 1)),
            );
            caps.merge_structure_full(s, Some(features));
        }
        pad_templates(&caps)
    });
}

never_in_place!(CudaConvert);

impl CudaBaseTransformImpl for CudaConvert {
    fn other_caps(&self, direction: gst::PadDirection, caps: &gst::Caps) -> gst::Caps {
        let settings = self.settings.lock().unwrap().clone();
        settings.other_caps(direction, caps)
    }

    fn set_info(&self, negotiated: &Negotiated) -> Result<(), String> {
        let settings = self.settings.lock().unwrap().clone();
        let name = factory_name(&*self.obj());
        let Negotiated {
            incaps,
            outcaps,
            input,
            output,
        } = negotiated;
        // One side is video, the other the tensor, in either direction.
        let (video, tensor, to_tensor) = match (input, output) {
            (Media::Video(video), Media::Tensor(tensor)) => (video, tensor, true),
            (Media::Tensor(tensor), Media::Video(video)) => (video, tensor, false),
            _ => {
                return Err(format!(
                    "{name} converts between video and tensors, not {incaps} to {outcaps}"
                ))
            }
        };
        let dims = tensor
            .caps()
            .structure(0)
            .and_then(|s| s.get::<&str>("dimensions").ok())
            .unwrap_or_default();
        let shape = TensorShape::from_nnstreamer_dims(dims, settings.layout())
            .map_err(|e| format!("{e} (layout={})", nick(settings.layout)))?;
        let dtype = tensor.dtype;
        let channel_components = settings.channel_components(shape.channels);
        let conversion = TensorConversion {
            shape,
            dtype,
            normalization: settings.normalization(&channel_components),
            channel_components,
        };
        let mode = if to_tensor {
            gst::info!(CAT, imp = self, "{} -> {conversion:?}", video.format());
            Mode::ToTensor(conversion)
        } else {
            gst::info!(CAT, imp = self, "{conversion:?} -> {}", video.format());
            Mode::ToVideo(conversion)
        };
        *self.mode.lock().unwrap() = Some(mode);
        Ok(())
    }

    fn transform_frames(&self, stream: &Stream, src: &Input, dst: &mut Output) -> TransformResult {
        match self.mode.lock().unwrap().as_ref() {
            Some(Mode::ToTensor(conversion)) => {
                conversion.to_tensor(stream, &src.video()?, &mut dst.tensor()?)?
            }
            Some(Mode::ToVideo(conversion)) => {
                conversion.to_video(stream, &src.tensor()?, &mut dst.video()?)?
            }
            None => return Err(CudaError::Invalid("no negotiated conversion".into()).into()),
        }
        Ok(())
    }

    fn hint(&self, caps: &gst::Caps, field: &str) -> Option<String> {
        let settings = self.settings.lock().unwrap().clone();
        settings.hint(&factory_name(&*self.obj()), caps, field)
    }
}
