//! cudaconvert's caps: video on one pad, NNStreamer's `other/tensors` on the other, in either
//! direction, and what to say when downstream takes neither.

use cudapreproc_core::caps;
use cudapreproc_core::tensor::{is_color, DType, Layout, TensorShape, TENSORS, VIDEO_FORMATS};
use gst::glib;
use gst::prelude::*;

use super::settings::Settings;
use crate::property::nick;

pub(super) fn is_tensor(s: &gst::StructureRef) -> bool {
    s.name() == TENSORS
}

/// The formats a tensor of `channels` channels turns into (any when unknown).
pub(super) fn formats_for_channels(channels: Option<u32>) -> Vec<&'static str> {
    VIDEO_FORMATS
        .iter()
        .copied()
        .filter(|f| {
            let color = is_color(gst_video::VideoFormat::from_string(f));
            match channels {
                None => true,
                Some(1) => !color,
                Some(_) => color,
            }
        })
        .collect()
}

pub(super) fn tensor_structure(
    types: gst::glib::SendValue,
    shape: Option<TensorShape>,
    framerate: Option<&glib::SendValue>,
) -> gst::Structure {
    let mut s = gst::Structure::builder(TENSORS)
        .field("format", "static")
        .field("num_tensors", 1i32)
        .build();
    s.set_value("types", types);
    if let Some(shape) = shape {
        s.set("dimensions", shape.nnstreamer_dims());
    }
    if let Some(framerate) = framerate {
        s.set_value("framerate", framerate.clone());
    }
    s
}

/// The video structure for tensors described by `s`.
pub(super) fn video_structure(s: &gst::StructureRef, layout: Layout) -> gst::Structure {
    let shape = s
        .get::<&str>("dimensions")
        .ok()
        .and_then(|d| TensorShape::from_nnstreamer_dims(d, layout).ok());
    let formats = formats_for_channels(shape.map(|s| s.channels));
    let mut v = gst::Structure::builder("video/x-raw")
        .field("format", gst::List::new(formats))
        .build();
    match shape {
        Some(shape) => {
            v.set("width", shape.width as i32);
            v.set("height", shape.height as i32);
        }
        None => {
            v.set("width", gst::IntRange::new(1, i32::MAX));
            v.set("height", gst::IntRange::new(1, i32::MAX));
        }
    }
    v.set_value(
        "framerate",
        s.value("framerate").cloned().unwrap_or_else(|_| {
            gst::FractionRange::new(gst::Fraction::new(0, 1), gst::Fraction::new(i32::MAX, 1))
                .to_send_value()
        }),
    );
    v
}

/// The tensor structure for video described by `s`, with `types`.
pub(super) fn tensor_for_video(
    s: &gst::StructureRef,
    settings: &Settings,
    types: glib::SendValue,
) -> gst::Structure {
    let format = s
        .get::<&str>("format")
        .ok()
        .map(gst_video::VideoFormat::from_string);
    let shape = match (format, s.get::<i32>("width"), s.get::<i32>("height")) {
        (Some(format), Ok(width), Ok(height)) if width > 0 && height > 0 => Some(TensorShape {
            channels: settings.channels_for(format),
            height: height as u32,
            width: width as u32,
            layout: settings.layout(),
        }),
        _ => None,
    };
    tensor_structure(types, shape, s.value("framerate").ok())
}

impl Settings {
    /// The caps on the other pad for `caps` on the pad of `direction`, in CUDA or system memory.
    pub(super) fn other_caps(&self, direction: gst::PadDirection, caps: &gst::Caps) -> gst::Caps {
        let mut other = gst::Caps::new_empty();
        // Video on the sink pad becomes tensors of the configured type; video on the source pad
        // comes from tensors of any type.
        let types = if direction == gst::PadDirection::Sink {
            self.dtype().name().to_send_value()
        } else {
            gst::List::new(DType::ALL.map(|d| d.name())).to_send_value()
        };
        for features in [caps::cuda_features(), gst::CapsFeatures::new_empty()] {
            for s in caps.iter() {
                let converted = if is_tensor(s) {
                    video_structure(s, self.layout())
                } else {
                    tensor_for_video(s, self, types.clone())
                };
                other.merge_structure_full(converted, Some(features.clone()));
            }
        }
        other
    }

    /// What decides `field` of what element `name` makes of `incaps` with these settings, for
    /// a refusal (see [`cudapreproc_core::negotiation::explain`]).
    pub(super) fn hint(&self, name: &str, incaps: &gst::Caps, field: &str) -> Option<String> {
        let input = incaps.structure(0);
        let input_field = |f: &str| {
            input
                .and_then(|s| s.value(f).ok())
                .and_then(|v| v.serialize().ok())
                .map_or_else(|| "?".to_string(), |v| v.to_string())
        };
        let to_tensor = input.is_some_and(|s| !is_tensor(s));
        match (to_tensor, field) {
            (true, "types") => Some(format!(
                "property dtype={}; uint8, float16, bfloat16 and float32 are possible",
                nick(self.dtype)
            )),
            (true, "dimensions") => Some(format!(
                "from {}x{} {} video with layout={} and channel-order={}; cudawarpaffine \
                 before {name} sets the size",
                input_field("width"),
                input_field("height"),
                input_field("format"),
                nick(self.layout),
                nick(self.channel_order)
            )),
            (false, "format") => Some(format!(
                "for tensors of dimensions {}: 1 channel makes gray video, 3 or 4 RGB video",
                input_field("dimensions")
            )),
            (false, "width" | "height") => Some(format!(
                "from tensors of dimensions {} with layout={}",
                input_field("dimensions"),
                nick(self.layout)
            )),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cudaconvert::{ChannelOrder, TensorLayout};
    use cudapreproc_core::negotiation::{self, Downstream};

    fn video_caps(format: &str, width: i32, height: i32) -> gst::Caps {
        gst_video::VideoCapsBuilder::new()
            .format(gst_video::VideoFormat::from_string(format))
            .width(width)
            .height(height)
            .framerate(gst::Fraction::new(25, 1))
            .build()
    }

    #[test]
    fn video_becomes_nnstreamer_tensor_caps() {
        gst::init().unwrap();
        let mut settings = Settings::default();
        let caps = video_caps("RGBA", 224, 160);
        let s = tensor_for_video(
            caps.structure(0).unwrap(),
            &settings,
            "float32".to_send_value(),
        );
        assert_eq!(
            s.to_string(),
            "other/tensors, format=(string)static, num_tensors=(int)1, types=(string)float32, \
             dimensions=(string)224:160:3:1, framerate=(fraction)25/1;"
        );
        settings.layout = TensorLayout::Nhwc;
        settings.channel_order = ChannelOrder::Bgra;
        let s = tensor_for_video(
            caps.structure(0).unwrap(),
            &settings,
            "uint8".to_send_value(),
        );
        assert_eq!(s.get::<&str>("dimensions").unwrap(), "4:224:160:1");
        let gray = video_caps("GRAY8", 64, 48);
        let s = tensor_for_video(
            gray.structure(0).unwrap(),
            &settings,
            "uint8".to_send_value(),
        );
        assert_eq!(s.get::<&str>("dimensions").unwrap(), "1:64:48:1");
    }

    #[test]
    fn tensors_become_video_of_matching_channels() {
        gst::init().unwrap();
        let s = tensor_structure(
            "float32".to_send_value(),
            Some(TensorShape {
                channels: 3,
                height: 120,
                width: 160,
                layout: Layout::Nchw,
            }),
            None,
        );
        let v = video_structure(&s, Layout::Nchw);
        assert_eq!(v.get::<i32>("width").unwrap(), 160);
        assert_eq!(v.get::<i32>("height").unwrap(), 120);
        let formats: Vec<String> = v
            .get::<gst::List>("format")
            .unwrap()
            .iter()
            .map(|f| f.get::<String>().unwrap())
            .collect();
        assert!(formats.contains(&"RGBP".to_string()));
        assert!(!formats.contains(&"GRAY8".to_string()));
    }

    #[test]
    fn refusals_say_what_decides_types_dimensions_and_formats() {
        gst::init().unwrap();
        let video = video_caps("RGBA", 224, 224);
        let refused = |settings: &Settings, incaps: &gst::Caps, accepted: &str| {
            let downstream = Downstream {
                accepted: accepted.parse().unwrap(),
                next: "sink".into(),
            };
            let offered = settings.other_caps(gst::PadDirection::Sink, incaps);
            negotiation::explain("cudaconvert", &offered, &downstream, |field| {
                settings.hint("cudaconvert", incaps, field)
            })
        };
        assert_eq!(
            refused(&Settings::default(), &video, "other/tensors, types=int32"),
            "cudaconvert produces types float32 (property dtype=float32; uint8, float16, \
             bfloat16 and float32 are possible), downstream accepts types int32"
        );
        let rgba = Settings {
            channel_order: ChannelOrder::Rgba,
            ..Settings::default()
        };
        assert_eq!(
            refused(&rgba, &video, "other/tensors, dimensions=224:224:3:1"),
            "cudaconvert produces dimensions 224:224:4:1 (from 224x224 RGBA video with \
             layout=nchw and channel-order=rgba; cudawarpaffine before cudaconvert sets the \
             size), downstream accepts dimensions 224:224:3:1"
        );
        let tensors: gst::Caps = "other/tensors, format=static, num_tensors=1, types=float32, \
                                  dimensions=320:240:3:1"
            .parse()
            .unwrap();
        let text = refused(&Settings::default(), &tensors, "video/x-raw, format=GRAY8");
        assert!(
            text.starts_with("cudaconvert produces format RGB, BGR, "),
            "{text}"
        );
        assert!(
            text.ends_with(
                " (for tensors of dimensions 320:240:3:1: 1 channel makes gray video, 3 or 4 \
                 RGB video), downstream accepts format GRAY8"
            ),
            "{text}"
        );
    }
}
