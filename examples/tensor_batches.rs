//! An application that embeds the full chain and consumes batches of tensors through the
//! `cudapreproc` library: decode, resize to 224x224, RGB, ImageNet-normalised float32 NCHW, in
//! batches of 8 frames, every tensor staying in GPU memory.
//!
//!   cargo run --release -p cudapreproc-examples --bin tensor-batches -- media/bigbuckbunny.mp4 [BATCH]
//!
//! For each batch it prints the frame numbers, the shape and the device address, which a model
//! (or `torch.from_dlpack` on `CudaTensor::to_dlpack()`) reads in place after making its stream
//! wait on the tensor's ready event.

fn main() -> std::process::ExitCode {
    let mut args = std::env::args().skip(1);
    let Some(clip) = args.next() else {
        eprintln!("usage: tensor-batches CLIP [BATCH]");
        return std::process::ExitCode::from(2);
    };
    let batch: u32 = args
        .next()
        .map_or(8, |b| b.parse().expect("BATCH is a number"));
    match run(&clip, batch) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("tensor-batches: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}

fn run(clip: &str, batch: u32) -> Result<(), cudapreproc::Error> {
    let pipeline = cudapreproc::TensorPipeline::launch(&format!(
        "nvdecsrc location=\"{clip}\" ! cudawarpaffine width=224 height=224 ! cudacvtcolor ! \
         video/x-raw(memory:CUDAMemory),format=RGBP ! \
         cudaconvert dtype=float32 layout=nchw preset=imagenet ! tensorsink batch-size={batch}"
    ))?;
    let started = std::time::Instant::now();
    let (mut batches, mut frames) = (0usize, 0usize);
    for tensor in pipeline.tensors() {
        let tensor = tensor?;
        let numbers = tensor.frame_numbers();
        println!(
            "batch {batches}: frames {}..={} shape {:?} {} on {:?} at {:#x}, {} bytes",
            numbers[0],
            numbers[numbers.len() - 1],
            tensor.shape(),
            tensor.dtype(),
            tensor.device(),
            tensor.data_ptr(),
            tensor.nbytes()
        );
        batches += 1;
        frames += numbers.len();
    }
    let seconds = started.elapsed().as_secs_f64();
    println!(
        "{frames} frames in {batches} batches, {seconds:.2} s ({:.0} frames/s)",
        frames as f64 / seconds
    );
    Ok(())
}
