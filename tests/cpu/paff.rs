//! `scripts/make-paff-h264`, the writer of the PAFF test clip (no encoder here writes PAFF):
//! its stream is the same every run, and libavcodec decodes it as interlaced field-coded video
//! without an error. The GPU test compares nvdec's decode of it with libavcodec's.

use std::path::Path;
use std::process::Command;

use gst::prelude::*;

fn write_clip(out: &Path) -> Vec<u8> {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/../scripts/make-paff-h264");
    let status = Command::new("python3")
        .arg(script)
        .arg(out)
        .status()
        .expect("python3 runs");
    assert!(status.success(), "{script} failed: {status}");
    std::fs::read(out).unwrap()
}

#[test]
fn paff_clip_is_reproducible_and_decodes_as_field_coded_video() {
    let dir = std::env::temp_dir().join(format!("cudapreproc-paff-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let (first, second) = (dir.join("a.h264"), dir.join("b.h264"));
    let bytes = write_clip(&first);
    assert!(
        write_clip(&second) == bytes,
        "two runs wrote different streams"
    );

    // h264parse reads the slice headers: coded-picture-structure "field" says the stream has
    // field pictures.
    let pipeline = cudapreproc_tests::pipeline(&format!(
        "filesrc location=\"{}\" ! h264parse name=parse ! avdec_h264 ! \
         appsink name=sink sync=false",
        first.display()
    ));
    let sink = cudapreproc_tests::appsink(&pipeline);
    let pipeline = cudapreproc_tests::Stopping(pipeline);
    pipeline.set_state(gst::State::Playing).unwrap();
    let mut frames = 0;
    let mut first_caps = None;
    while let Some(sample) = cudapreproc_tests::sample_or_error(&pipeline, &sink) {
        first_caps.get_or_insert_with(|| sample.caps().unwrap().to_owned());
        frames += 1;
    }
    assert_eq!(frames, 30, "frames libavcodec decoded");
    let caps = first_caps.unwrap();
    let video = caps.structure(0).unwrap();
    assert_eq!(video.get::<i32>("width").unwrap(), 352);
    assert_eq!(video.get::<i32>("height").unwrap(), 288);
    assert_eq!(video.get::<&str>("interlace-mode").unwrap(), "interleaved");
    assert_eq!(video.get::<&str>("field-order").unwrap(), "top-field-first");
    let parse = pipeline.by_name("parse").unwrap();
    let coded = parse.static_pad("src").unwrap().current_caps().unwrap();
    assert_eq!(
        coded
            .structure(0)
            .unwrap()
            .get::<&str>("coded-picture-structure")
            .unwrap(),
        "field",
        "{coded}"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}
