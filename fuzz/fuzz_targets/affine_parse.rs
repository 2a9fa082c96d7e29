//! The 2x3 matrix text `cudawarpaffine` reads (its `matrix-string` property, and the `matrix`
//! field of its matrix event and meta as a string): `Affine::from_str` against a model of its
//! grammar, the round trip through `Display`, the inverse, and the element's own paths (event,
//! property) agreeing with the parser.
#![no_main]

use cudapreproc_core::geometry::Affine;
use gst::prelude::*;
use gstcudapreproc::{CudaWarpAffine, WARP_MATRIX_EVENT};
use libfuzzer_sys::fuzz_target;

/// The grammar the parser documents: six finite numbers separated by commas, semicolons or
/// white space.
fn model(text: &str) -> Option<[f64; 6]> {
    let values = text
        .split(|c: char| c == ',' || c == ';' || c.is_whitespace())
        .filter(|t| !t.is_empty())
        .map(|t| t.parse::<f64>().ok())
        .collect::<Option<Vec<f64>>>()?;
    let values: [f64; 6] = values.try_into().ok()?;
    values.iter().all(|v| v.is_finite()).then_some(values)
}

fn matrix_property(warp: &CudaWarpAffine) -> Vec<f64> {
    warp.property::<gst::Array>("matrix")
        .iter()
        .map(|v| v.get::<f64>().expect("matrix elements are doubles"))
        .collect()
}

fuzz_target!(|data: &[u8]| {
    let Some(text) = cudapreproc_fuzz::glib_text(data) else {
        return;
    };
    cudapreproc_fuzz::init();
    let parsed = text.parse::<Affine>();
    let expected = model(text);
    match (&parsed, expected) {
        (Ok(m), Some(values)) => assert_eq!(m.0, values, "{text:?}"),
        (Err(_), None) => {}
        (Ok(m), None) => panic!("{text:?} accepted as {m:?}, the grammar refuses it"),
        (Err(e), Some(v)) => panic!("{text:?} refused ({e}), the grammar reads {v:?}"),
    }

    if let Ok(m) = parsed {
        assert!(m.is_finite());
        // What the element reports back (matrix-string) reads as the same matrix.
        let shown = m.to_string();
        let back: Affine = shown.parse().expect("Display output parses");
        assert_eq!(back, m, "{text:?} -> {shown:?}");
        if let Some(inv) = m.invert() {
            // A well-conditioned matrix times its inverse is the identity.
            let scale =
                m.0.iter()
                    .chain(inv.0.iter())
                    .fold(1f64, |a, v| a.max(v.abs()));
            if inv.is_finite() && scale < 1e6 {
                let id = m.after(&inv);
                for (got, want) in id.0.iter().zip(Affine::IDENTITY.0) {
                    assert!((got - want).abs() < 1e-6, "{m:?} * {inv:?} = {id:?}");
                }
            }
        } else {
            let det = m.determinant();
            assert!(det == 0.0 || !det.is_finite(), "{m:?} has an inverse");
        }
    }

    // The element's paths: the custom event and the matrix-string property.
    let warp = glib::Object::new::<CudaWarpAffine>();
    let event = gst::event::CustomDownstream::new(
        gst::Structure::builder(WARP_MATRIX_EVENT)
            .field("matrix", text)
            .build(),
    );
    assert!(cudapreproc_fuzz::sink_event(warp.upcast_ref(), event));
    match &parsed {
        Ok(m) => assert_eq!(matrix_property(&warp), m.0.to_vec()),
        Err(_) => assert!(matrix_property(&warp).is_empty()),
    }
    let warp = glib::Object::new::<CudaWarpAffine>();
    warp.set_property("matrix-string", text);
    let from_property = warp.property::<Option<String>>("matrix-string");
    match &parsed {
        Ok(m) => {
            let back: Affine = from_property.expect("a matrix").parse().unwrap();
            assert_eq!(back, *m);
        }
        Err(_) => assert_eq!(from_property, None, "{text:?}"),
    }
});
