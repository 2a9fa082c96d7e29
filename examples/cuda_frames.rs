//! An application that embeds a pipeline and reads converted frames straight from GPU memory.
//!
//!   cuda-frames [FILE] [FORMAT]      (default: media/bigbuckbunny.mp4 RGBP)
//!
//! The file is decoded by whatever decoder `decodebin` finds (a hardware decoder producing CUDA
//! memory included), `cudacvtcolor` converts it to FORMAT in CUDA memory, and the application
//! pulls each frame from an appsink. For every frame it prints the device address of the
//! pixels (what a CUDA kernel or a DLPack consumer would take) and, for one frame in 25, the mean
//! of each plane read through an ordinary host map, which downloads the frame.

use cudapreproc_core::memory::CudaMapping;
use gst::prelude::*;
use gst_video::prelude::*;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let file = args
        .next()
        .unwrap_or_else(|| "media/bigbuckbunny.mp4".to_string());
    let format = args.next().unwrap_or_else(|| "RGBP".to_string());

    gst::init()?;
    // The plugin from this build; an installed one would be found through GST_PLUGIN_PATH.
    gstcudapreproc::plugin_register_static()?;

    let pipeline = gst::parse::launch(&format!(
        "filesrc location=\"{file}\" ! decodebin ! cudacvtcolor ! \
         video/x-raw(memory:CUDAMemory),format={format} ! appsink name=sink sync=false"
    ))?
    .downcast::<gst::Pipeline>()
    .map_err(|_| "not a pipeline")?;
    let sink = pipeline
        .by_name("sink")
        .ok_or("no appsink")?
        .downcast::<gst_app::AppSink>()
        .map_err(|_| "not an appsink")?;

    let bus = pipeline.bus().ok_or("no bus")?;
    // The element errors (no GPU, bad caps...) arrive on the bus; show the first one.
    let first_error = || -> Option<String> {
        let msg = bus.pop_filtered(&[gst::MessageType::Error])?;
        match msg.view() {
            gst::MessageView::Error(e) => Some(format!(
                "{}: {}",
                e.src().map(|s| s.path_string()).unwrap_or_default(),
                e.error()
            )),
            _ => None,
        }
    };
    if pipeline.set_state(gst::State::Playing).is_err() {
        let error = first_error().unwrap_or_else(|| "pipeline failed to start".into());
        pipeline.set_state(gst::State::Null)?;
        return Err(error.into());
    }
    let mut frames = 0u64;
    while let Ok(sample) = sink.pull_sample() {
        let info = gst_video::VideoInfo::from_caps(sample.caps().ok_or("sample without caps")?)?;
        let buffer = sample.buffer().ok_or("sample without buffer")?;
        let meta = buffer
            .meta::<gst_video::VideoMeta>()
            .ok_or("CUDA frames carry a video meta")?;
        // GST_MAP_CUDA: the device address, valid while the mapping lives.
        let mapping = CudaMapping::new(buffer.peek_memory(0), false)?;
        print!(
            "frame {frames:>4} pts {:>12} {}x{} {} at device address {:#x}, strides {:?}",
            buffer.pts().display(),
            info.width(),
            info.height(),
            info.format().to_str(),
            mapping.addr(),
            meta.stride()
        );
        drop(mapping);
        if frames.is_multiple_of(25) {
            let frame = gst_video::VideoFrameRef::from_buffer_ref_readable(buffer, &info)?;
            let means: Vec<String> = (0..frame.n_planes())
                .map(|p| {
                    let data = frame.plane_data(p).unwrap();
                    let sum: u64 = data.iter().map(|&b| u64::from(b)).sum();
                    format!("{:.1}", sum as f64 / data.len() as f64)
                })
                .collect();
            print!(", plane means [{}]", means.join(", "));
        }
        println!();
        frames += 1;
    }

    let error = first_error();
    pipeline.set_state(gst::State::Null)?;
    if let Some(error) = error {
        return Err(error.into());
    }
    println!("{frames} frames");
    Ok(())
}
