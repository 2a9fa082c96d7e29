//! cudawarpaffine's caps: the same video at any size, the size the properties ask for, and what
//! to say when downstream takes none of it.

use cudapreproc_core::caps;

use super::settings::{output_size, Settings};

/// Caps fields the element changes (besides memory).
const RESIZED_FIELDS: &[&str] = &["width", "height", "pixel-aspect-ratio"];

impl Settings {
    /// The caps on the other pad for `caps` on the pad of `direction`: the same video at any size
    /// and pixel aspect ratio (towards the source pad, the size properties pin the size), in CUDA
    /// or system memory.
    pub(super) fn other_caps(&self, direction: gst::PadDirection, caps: &gst::Caps) -> gst::Caps {
        let mut other = gst::Caps::new_empty();
        let features_list = [caps::cuda_features(), gst::CapsFeatures::new_empty()];
        for features in features_list {
            for s in caps.iter() {
                let mut s = s.to_owned();
                s.remove_fields(RESIZED_FIELDS.iter().copied());
                let fixed = |v: u32| v > 0 && direction == gst::PadDirection::Sink;
                if fixed(self.width) {
                    s.set("width", self.width as i32);
                } else {
                    s.set("width", gst::IntRange::new(1, i32::MAX));
                }
                if fixed(self.height) {
                    s.set("height", self.height as i32);
                } else {
                    s.set("height", gst::IntRange::new(1, i32::MAX));
                }
                s.set(
                    "pixel-aspect-ratio",
                    gst::FractionRange::new(
                        gst::Fraction::new(1, i32::MAX),
                        gst::Fraction::new(i32::MAX, 1),
                    ),
                );
                other.merge_structure_full(s, Some(features.clone()));
            }
        }
        other
    }

    /// What decides `field` of what element `name` makes of its input with these settings, for
    /// a refusal (see [`cudapreproc_core::negotiation::explain`]).
    pub(super) fn hint(&self, name: &str, field: &str) -> Option<String> {
        match field {
            "width" if self.width > 0 => Some(format!(
                "property width={}; 0 takes it from downstream",
                self.width
            )),
            "height" if self.height > 0 => Some(format!(
                "property height={}; 0 takes it from downstream",
                self.height
            )),
            "format" => Some(format!(
                "{name} keeps the format; cudacvtcolor after it converts"
            )),
            _ => Some(format!("{name} keeps the input's")),
        }
    }
}

/// Fixates `othercaps` for the fixed `caps` on the pad of `direction`: CUDA memory when allowed,
/// the output size the properties (or downstream, or the input) give, the input's format, rate
/// and colorimetry, and the nearest pixel aspect ratio to the input's.
pub(super) fn fixate(
    settings: &Settings,
    direction: gst::PadDirection,
    caps: &gst::Caps,
    othercaps: gst::Caps,
) -> gst::Caps {
    let Some(in_s) = caps.structure(0) else {
        let mut othercaps = othercaps;
        othercaps.fixate();
        return othercaps;
    };
    let Some((mut s, features)) = caps::preferred_structure(&othercaps) else {
        return othercaps;
    };
    let in_size = (
        in_s.get::<i32>("width").unwrap_or(1).max(1) as u32,
        in_s.get::<i32>("height").unwrap_or(1).max(1) as u32,
    );
    let peer = (
        s.get::<i32>("width").ok().map(|v| v as u32),
        s.get::<i32>("height").ok().map(|v| v as u32),
    );
    let size = if direction == gst::PadDirection::Sink {
        output_size(settings, in_size, peer)
    } else {
        (peer.0.unwrap_or(in_size.0), peer.1.unwrap_or(in_size.1))
    };
    s.fixate_field_nearest_int("width", size.0 as i32);
    s.fixate_field_nearest_int("height", size.1 as i32);
    for field in ["format", "framerate", "colorimetry", "chroma-site"] {
        if let Ok(value) = in_s.value(field) {
            if !s.has_field(field) {
                s.set_value(field, value.clone());
            }
        }
    }
    let par = in_s
        .get::<gst::Fraction>("pixel-aspect-ratio")
        .unwrap_or(gst::Fraction::new(1, 1));
    s.fixate_field_nearest_fraction("pixel-aspect-ratio", par);
    let mut out = gst::Caps::new_empty();
    out.get_mut()
        .unwrap()
        .append_structure_full(s, Some(features));
    out.fixate();
    out
}
#[cfg(test)]
mod tests {
    use super::*;
    use cudapreproc_core::negotiation::{self, Downstream};

    #[test]
    fn refusal_names_the_size_properties_and_the_kept_format() {
        gst::init().unwrap();
        let settings = Settings {
            width: 320,
            height: 240,
            ..Settings::default()
        };
        let incaps: gst::Caps = "video/x-raw, format=NV12, width=1920, height=1080, \
                                 framerate=30/1"
            .parse()
            .unwrap();
        let refused = |accepted: &str| {
            let downstream = Downstream {
                accepted: accepted.parse().unwrap(),
                next: "sink".into(),
            };
            let offered = settings.other_caps(gst::PadDirection::Sink, &incaps);
            negotiation::explain("cudawarpaffine", &offered, &downstream, |field| {
                settings.hint("cudawarpaffine", field)
            })
        };
        assert_eq!(
            refused("video/x-raw, width=640"),
            "cudawarpaffine produces width 320 (property width=320; 0 takes it from \
             downstream), downstream accepts width 640"
        );
        assert_eq!(
            refused("video/x-raw, format=RGBA"),
            "cudawarpaffine produces format NV12 (cudawarpaffine keeps the format; cudacvtcolor \
             after it converts), downstream accepts format RGBA"
        );
    }
}
