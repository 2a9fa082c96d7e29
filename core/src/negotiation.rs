//! Saying why caps were refused. GStreamer's own report of a failed negotiation is "not
//! negotiated" from whichever element pushed; the element that refused knows what it could have
//! produced and what downstream accepts, so it posts that, field by field, as an element error.

use std::sync::atomic::{AtomicBool, Ordering};

use gst::glib;
use gst::prelude::*;

/// Why the caps an element can produce (`offered`) and those downstream accepts do not meet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Conflict {
    /// Downstream accepts no caps at all.
    Nothing,
    /// No media type in common.
    MediaType { offered: String, accepted: String },
    /// The same media type, but these fields have no value in common.
    Fields(Vec<FieldConflict>),
    /// The structures agree, the memory (caps features) does not.
    Memory { offered: String, accepted: String },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldConflict {
    pub field: String,
    pub offered: String,
    pub accepted: String,
}

/// A caps value as a user would write it: lists as "a, b or c", without type annotations.
fn show(value: &glib::SendValue) -> String {
    if let Ok(list) = value.get::<gst::List>() {
        let items: Vec<String> = list.iter().map(show).collect();
        return match items.split_last() {
            Some((last, rest)) if !rest.is_empty() => format!("{} or {last}", rest.join(", ")),
            _ => items.concat(),
        };
    }
    if let Ok(text) = value.get::<&str>() {
        return text.to_string();
    }
    let text = value
        .serialize()
        .map_or_else(|_| format!("{value:?}"), |s| s.to_string());
    // "(int)3" -> "3"
    let mut out = String::with_capacity(text.len());
    let mut rest = text.as_str();
    while let Some(open) = rest.find('(') {
        out.push_str(&rest[..open]);
        match rest[open..].find(')') {
            Some(close) => rest = &rest[open + close + 1..],
            None => {
                rest = &rest[open..];
                break;
            }
        }
    }
    out.push_str(rest);
    out
}

fn show_features(features: &gst::CapsFeaturesRef) -> String {
    let system = features.is_empty()
        || (features.size() == 1 && features.contains(gst::CAPS_FEATURE_MEMORY_SYSTEM_MEMORY));
    if system {
        "system memory".into()
    } else {
        features.to_string()
    }
}

fn join_unique(items: impl Iterator<Item = String>) -> String {
    let mut unique: Vec<String> = Vec::new();
    for item in items {
        if !unique.contains(&item) {
            unique.push(item);
        }
    }
    match unique.split_last() {
        Some((last, rest)) if !rest.is_empty() => format!("{} or {last}", rest.join(", ")),
        Some((last, _)) => last.clone(),
        None => "nothing".into(),
    }
}

/// The fields of `accepted` that `offered` has with no value in common.
fn field_conflicts(
    offered: &gst::StructureRef,
    accepted: &gst::StructureRef,
) -> Vec<FieldConflict> {
    accepted
        .iter()
        .filter_map(|(field, theirs)| {
            let ours = offered.value(field).ok()?;
            ours.intersect(theirs).is_none().then(|| FieldConflict {
                field: field.to_string(),
                offered: show(ours),
                accepted: show(theirs),
            })
        })
        .collect()
}

/// Why `offered` and `accepted` have nothing in common; `None` when they do.
pub fn conflict(offered: &gst::CapsRef, accepted: &gst::CapsRef) -> Option<Conflict> {
    if offered.can_intersect(accepted) {
        return None;
    }
    if accepted.is_empty() {
        return Some(Conflict::Nothing);
    }
    let mut fewest: Option<Vec<FieldConflict>> = None;
    let mut memory = false;
    for ours in offered.iter() {
        for theirs in accepted.iter() {
            if ours.name() != theirs.name() {
                continue;
            }
            let conflicts = field_conflicts(ours, theirs);
            if conflicts.is_empty() {
                memory = true;
            } else if fewest.as_ref().is_none_or(|f| conflicts.len() < f.len()) {
                fewest = Some(conflicts);
            }
        }
    }
    Some(if memory {
        Conflict::Memory {
            offered: join_unique(offered.iter_with_features().map(|(_, f)| show_features(f))),
            accepted: join_unique(accepted.iter_with_features().map(|(_, f)| show_features(f))),
        }
    } else if let Some(fields) = fewest {
        Conflict::Fields(fields)
    } else {
        Conflict::MediaType {
            offered: join_unique(offered.iter().map(|s| s.name().to_string())),
            accepted: join_unique(accepted.iter().map(|s| s.name().to_string())),
        }
    })
}

/// What is downstream of an element's source pad.
#[derive(Debug, Clone)]
pub struct Downstream {
    /// The caps the peer accepts, asked without a filter.
    pub accepted: gst::Caps,
    /// The peer element's name.
    pub next: String,
}

impl Downstream {
    pub fn of(src_pad: &gst::Pad) -> Self {
        Downstream {
            accepted: src_pad.peer_query_caps(None),
            next: src_pad
                .peer()
                .and_then(|p| p.parent_element())
                .map_or_else(|| "downstream".into(), |e| e.name().to_string()),
        }
    }
}

/// The sentence an element posts when downstream accepts none of the caps it can produce
/// (`offered`): for each field in conflict, what `element` produces, `hint(field)` (the
/// property that decides it, or what would help), and what downstream accepts. When the peer
/// takes such caps, it is what comes after the peer that refused.
pub fn explain(
    element: &str,
    offered: &gst::CapsRef,
    downstream: &Downstream,
    hint: impl Fn(&str) -> Option<String>,
) -> String {
    let Some(conflict) = conflict(offered, &downstream.accepted) else {
        let next = &downstream.next;
        return format!(
            "{element} produces {offered}; {next} after it takes such caps, but nothing after \
             {next} accepts what it would make of them"
        );
    };
    match conflict {
        Conflict::Nothing => format!("downstream of {element} accepts no caps at all"),
        Conflict::MediaType { offered, accepted } => {
            format!("{element} produces {offered}, downstream accepts {accepted}")
        }
        Conflict::Memory { offered, accepted } => {
            format!("{element} produces frames in {offered}, downstream accepts {accepted}")
        }
        Conflict::Fields(fields) => fields
            .iter()
            .map(|f| {
                let hint = hint(&f.field).map_or_else(String::new, |h| format!(" ({h})"));
                format!(
                    "{element} produces {} {}{hint}, downstream accepts {} {}",
                    f.field, f.offered, f.field, f.accepted
                )
            })
            .collect::<Vec<_>>()
            .join("; "),
    }
}

/// Posts the negotiation error for caps `element` refuses; `why` names them and what the
/// element can do instead.
pub fn post_refusal(element: &gst::Element, cat: gst::DebugCategory, why: &str) {
    gst::warning!(cat, obj = element, "refusing caps: {why}");
    gst::element_error!(element, gst::CoreError::Negotiation, ("{why}"));
}

/// One negotiation error per caps event a filter refuses: the reason its `set_caps` gave, or,
/// when the caps could not even be transformed (nothing in `set_caps` ran), an explanation.
#[derive(Default)]
pub struct Refusals {
    posted: AtomicBool,
}

impl Refusals {
    /// For `set_caps`: posts `why` and returns the error `set_caps` returns.
    pub fn refuse(
        &self,
        element: &gst::Element,
        cat: gst::DebugCategory,
        why: &str,
    ) -> gst::LoggableError {
        self.posted.store(true, Ordering::SeqCst);
        post_refusal(element, cat, why);
        gst::loggable_error!(cat, "{why}")
    }

    /// Lets `handle` (the parent class) handle a sink event; a caps event it fails, with no
    /// reason posted from `set_caps`, gets `explain(caps)` posted.
    pub fn sink_event(
        &self,
        element: &gst::Element,
        cat: gst::DebugCategory,
        event: gst::Event,
        handle: impl FnOnce(gst::Event) -> bool,
        explain: impl FnOnce(&gst::Caps) -> String,
    ) -> bool {
        let gst::EventView::Caps(c) = event.view() else {
            return handle(event);
        };
        let caps = c.caps_owned();
        self.posted.store(false, Ordering::SeqCst);
        if handle(event) {
            return true;
        }
        if !self.posted.swap(false, Ordering::SeqCst) {
            post_refusal(element, cat, &explain(&caps));
        }
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn caps(text: &str) -> gst::Caps {
        text.parse().unwrap()
    }

    #[test]
    fn values_read_as_written() {
        gst::init().unwrap();
        let s = caps("x/y, a=(string){ uint8, float16, float32 }, b=(int)3, c=(int)[ 1, 10 ], d=(fraction)30/1, e=(string)one")
            .structure(0)
            .unwrap()
            .to_owned();
        let shown: Vec<String> = ["a", "b", "c", "d", "e"]
            .iter()
            .map(|f| show(s.value(*f).unwrap()))
            .collect();
        assert_eq!(
            shown,
            ["uint8, float16 or float32", "3", "[ 1, 10 ]", "30/1", "one"]
        );
    }

    #[test]
    fn conflicts_name_fields_media_types_or_memory() {
        gst::init().unwrap();
        let ours = caps("other/tensors, types=float32, dimensions=4:3:2:1");
        assert_eq!(conflict(&ours, &caps("other/tensors, types=float32")), None);
        assert_eq!(
            conflict(&ours, &caps("other/tensors, types=int32")),
            Some(Conflict::Fields(vec![FieldConflict {
                field: "types".into(),
                offered: "float32".into(),
                accepted: "int32".into(),
            }]))
        );
        assert_eq!(
            conflict(&ours, &caps("video/x-raw; audio/x-raw")),
            Some(Conflict::MediaType {
                offered: "other/tensors".into(),
                accepted: "video/x-raw or audio/x-raw".into(),
            })
        );
        assert_eq!(
            conflict(
                &caps("video/x-raw(memory:CUDAMemory); video/x-raw"),
                &caps("video/x-raw(memory:NVMM)")
            ),
            Some(Conflict::Memory {
                offered: "memory:CUDAMemory or system memory".into(),
                accepted: "memory:NVMM".into(),
            })
        );
        assert_eq!(
            conflict(&ours, &gst::Caps::new_empty()),
            Some(Conflict::Nothing)
        );
    }

    #[test]
    fn explanations_carry_hints() {
        gst::init().unwrap();
        let downstream = |accepted: &str| Downstream {
            accepted: caps(accepted),
            next: "sink".into(),
        };
        let text = explain(
            "cudaconvert",
            &caps("other/tensors, types=float32"),
            &downstream("other/tensors, types=int32"),
            |field| (field == "types").then(|| "property dtype=float32".to_string()),
        );
        assert_eq!(
            text,
            "cudaconvert produces types float32 (property dtype=float32), downstream accepts \
             types int32"
        );
        let text = explain(
            "cudaconvert",
            &caps("other/tensors, types=float32"),
            &downstream("other/tensors"),
            |_| None,
        );
        assert_eq!(
            text,
            "cudaconvert produces other/tensors, types=(string)float32; sink after it takes such \
             caps, but nothing after sink accepts what it would make of them"
        );
    }
}
