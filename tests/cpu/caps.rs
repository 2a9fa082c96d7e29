//! Caps the element offers and accepts, queried on its pads (no GPU needed: negotiation
//! queries run before the element starts).

use cudapreproc_core::caps::CAPS_FEATURE_MEMORY_CUDA;
use cudapreproc_core::colorspace::PixelFormat;
use gst::prelude::*;

/// 37x23 frames of `format` at 25 fps in system memory.
fn video_caps(format: gst_video::VideoFormat) -> gst::Caps {
    gst_video::VideoCapsBuilder::new()
        .format(format)
        .width(37)
        .height(23)
        .framerate(gst::Fraction::new(25, 1))
        .build()
}

fn caps_of(format: PixelFormat, cuda: bool) -> gst::Caps {
    let mut caps = video_caps(format.video_format());
    if cuda {
        caps.get_mut()
            .unwrap()
            .set_features_simple(Some(gst::CapsFeatures::new([CAPS_FEATURE_MEMORY_CUDA])));
    }
    caps
}

/// A new `cudacvtcolor` with its sink and source pads (the element is returned to keep them
/// parented).
fn cvtcolor() -> (gst::Element, gst::Pad, gst::Pad) {
    let element = gst::ElementFactory::make("cudacvtcolor").build().unwrap();
    let sink = element.static_pad("sink").unwrap();
    let src = element.static_pad("src").unwrap();
    (element, sink, src)
}

/// A pad of `direction` that answers caps queries with `caps`, as a peer element would.
fn peer(direction: gst::PadDirection, caps: gst::Caps) -> gst::Pad {
    gst::Pad::builder(direction)
        .query_function(move |_, _, query| match query.view_mut() {
            gst::QueryViewMut::Caps(q) => {
                q.set_result(&caps);
                true
            }
            _ => false,
        })
        .build()
}

/// The caps a new `cudacvtcolor` offers on one pad when its other pad is linked to a peer of
/// `peer_direction` answering caps queries with `peer_caps`: a src peer (upstream) makes it
/// answer on its src pad, a sink peer (downstream) on its sink pad.
fn caps_given_peer(peer_direction: gst::PadDirection, peer_caps: gst::Caps) -> gst::Caps {
    let (_element, sink, src) = cvtcolor();
    let peer = peer(peer_direction, peer_caps);
    if peer_direction == gst::PadDirection::Src {
        peer.link(&sink).unwrap();
        src.query_caps(None)
    } else {
        src.link(&peer).unwrap();
        sink.query_caps(None)
    }
}

/// The formats and memory kinds in `caps`, as (format, is CUDA) pairs.
fn offered(caps: &gst::Caps) -> Vec<(String, bool)> {
    let mut out = Vec::new();
    for (s, features) in caps.iter_with_features() {
        let cuda = features.contains(CAPS_FEATURE_MEMORY_CUDA);
        let formats: Vec<String> = match s.get::<gst::List>("format") {
            Ok(list) => list.iter().map(|v| v.get::<String>().unwrap()).collect(),
            Err(_) => vec![s.get::<String>("format").unwrap()],
        };
        out.extend(formats.into_iter().map(|f| (f, cuda)));
    }
    out
}

#[test]
fn src_pad_offers_every_format_in_both_memories_for_every_input() {
    cudapreproc_tests::init();
    for format in PixelFormat::ALL {
        for cuda in [false, true] {
            // What the src pad can produce from this input, asked the way a peer would.
            let caps = caps_given_peer(gst::PadDirection::Src, caps_of(format, cuda));
            let offered = offered(&caps);
            for out in PixelFormat::ALL {
                for out_cuda in [true, false] {
                    assert!(
                        offered.contains(&(out.name().to_string(), out_cuda)),
                        "{format} (cuda {cuda}) cannot become {out} (cuda {out_cuda}): {caps}"
                    );
                }
            }
            // The unchanged input comes first (passthrough), then conversions, CUDA memory
            // before system memory.
            assert!(caps.iter().next().unwrap().get::<String>("format").unwrap() == format.name());
            let first_cuda = caps
                .iter_with_features()
                .position(|(_, f)| f.contains(CAPS_FEATURE_MEMORY_CUDA));
            let last_system = caps
                .iter_with_features()
                .rposition(|(_, f)| !f.contains(CAPS_FEATURE_MEMORY_CUDA));
            assert!(first_cuda < last_system, "{caps}");
            // Size and rate pass through unchanged.
            let s = caps.structure(0).unwrap();
            assert_eq!(s.get::<i32>("width").unwrap(), 37);
            assert_eq!(s.get::<i32>("height").unwrap(), 23);
        }
    }
}

#[test]
fn sink_pad_accepts_every_format_pair() {
    cudapreproc_tests::init();
    let (_element, sink, _) = cvtcolor();
    for format in PixelFormat::ALL {
        for cuda in [false, true] {
            assert!(
                sink.query_accept_caps(&caps_of(format, cuda)),
                "{format} cuda {cuda}"
            );
        }
    }
    assert!(!sink.query_accept_caps(&video_caps(gst_video::VideoFormat::Yuy2)));
}

#[test]
fn output_filter_narrows_the_input_side() {
    cudapreproc_tests::init();
    for format in PixelFormat::ALL {
        // Whatever downstream wants, every input format can feed it, in either memory.
        let caps = caps_given_peer(gst::PadDirection::Sink, caps_of(format, true));
        let offered = offered(&caps);
        for input in PixelFormat::ALL {
            assert!(
                offered.contains(&(input.name().to_string(), true)),
                "{input} -> {format}"
            );
            assert!(
                offered.contains(&(input.name().to_string(), false)),
                "{input} -> {format}"
            );
        }
        let s = caps.structure(0).unwrap();
        assert_eq!(s.get::<i32>("width").unwrap(), 37);
    }
}
