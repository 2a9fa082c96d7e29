//! `VideoWriter`'s checks that need no GPU: destinations, codecs, encoders and rates nothing can
//! write are refused when the writer is made, naming what is wrong, and frames in system memory
//! are refused at the first write. (Writing and reading back is a GPU test.)

use cudapreproc::writer::{Codec, VideoWriter, WriterOptions};
use cudapreproc::{CudaTensor, Error};
use cudapreproc_core::tensor::DType;
use gstcudapreproc::sample_info;

fn create(destination: &str, options: WriterOptions) -> Result<VideoWriter, Error> {
    VideoWriter::create(destination, options)
}

#[test]
fn what_nothing_can_write_is_refused_when_the_writer_is_made() {
    let refused = |destination: &str, options: WriterOptions| match create(destination, options) {
        Err(e) => e.to_string(),
        Ok(_) => panic!("{destination}: accepted"),
    };
    assert!(refused("out.avi", WriterOptions::default()).starts_with("out.avi: the file name"));
    assert_eq!(
        refused(
            "out.mp4",
            WriterOptions {
                fps: (30, 0),
                ..WriterOptions::default()
            }
        ),
        "fps 30/0: numerator and denominator above 0"
    );
    assert_eq!(
        refused(
            "out.mp4",
            WriterOptions {
                bitrate_kbps: 0,
                ..WriterOptions::default()
            }
        ),
        "bitrate_kbps: above 0"
    );
    assert!(refused(
        "out.mp4",
        WriterOptions {
            encoder: Some("vp8enc".into()),
            ..WriterOptions::default()
        }
    )
    .contains("encoder \"vp8enc\": for H264 one of nvh264enc, x264enc, openh264enc"));
    // No NVENC on a machine without an NVIDIA GPU: its element is not registered.
    assert!(refused(
        "out.mp4",
        WriterOptions {
            codec: Codec::H264,
            encoder: Some("nvh264enc".into()),
            ..WriterOptions::default()
        }
    )
    .contains("nvh264enc is not installed"));
}

/// The software encoder the build machine has is chosen (scripts/setup installs
/// gst-plugins-bad, whose openh264enc encodes H.264).
#[test]
fn a_software_encoder_is_chosen_without_nvenc() {
    let writer = create("out.mp4", WriterOptions::default()).unwrap();
    let encoder = writer.encoder().unwrap();
    assert!(["x264enc", "openh264enc"].contains(&encoder), "{encoder}");
    let piped = create(
        "stream",
        WriterOptions {
            tail: Some("fakesink".into()),
            ..WriterOptions::default()
        },
    )
    .unwrap();
    assert_eq!(piped.encoder(), None, "the application's tail encodes");
}

#[test]
fn frames_in_system_memory_are_refused() {
    let mut writer = create("frames.mkv", WriterOptions::default()).unwrap();
    let dims = [2u64, 3, 4, 6];
    let bytes = dims.iter().product::<u64>() as usize;
    let buffer = gst::Buffer::from_mut_slice(vec![9u8; bytes]);
    let info = sample_info(DType::Uint8, &dims, None, None, &[0, 1]);
    let sample = gst::Sample::builder().buffer(&buffer).info(info).build();
    let frames = CudaTensor::from_sample(sample).unwrap();
    let error = writer.write(&frames).unwrap_err();
    assert_eq!(
        error,
        Error::InvalidArgument(
            "frames.mkv: the frames are in system memory; the writer takes GPU tensors".into()
        )
    );
    assert_eq!(writer.frames_written(), 0);
    writer.close().unwrap();
    assert!(
        !std::path::Path::new("frames.mkv").exists(),
        "no frame, no file"
    );
}
