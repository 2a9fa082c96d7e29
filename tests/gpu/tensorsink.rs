//! `tensorsink` on a GPU: what each delivered tensor says about itself, batching and frame
//! sampling delivering exactly the frames asked for, a tensor held by the application staying
//! unchanged while the pipeline runs on, and the full chain's tensors on the real clip, pulled
//! through the Rust library and through the Python module into PyTorch, equal to the CPU
//! reference for every frame. Needs an NVIDIA GPU and driver: without them every test fails.
//! The Python test needs python3 with PyTorch, and the module's library
//! (`$CUDAPREPROC_LIBRARY`, staged by scripts/stage-gpu).

use cudapreproc_core::cuda::{Device, ForeignStream};
use gst::prelude::*;

use cudapreproc_tests::chain::{self, Agreement, ChainReference};
use cudapreproc_tests::{init, tight_planes, Stopping};

const FRAMES: usize = 10;
const SOURCE: &str = "videotestsrc num-buffers=10 pattern=ball ! \
                      video/x-raw,format=RGBA,width=64,height=48,framerate=25/1";

/// The source's frames, tight RGBA bytes, straight from videotestsrc.
fn reference_frames() -> Vec<Vec<u8>> {
    init();
    let pipeline = Stopping(cudapreproc_tests::pipeline(&format!(
        "{SOURCE} ! appsink name=sink sync=false"
    )));
    let sink = cudapreproc_tests::appsink(&pipeline);
    pipeline.set_state(gst::State::Playing).unwrap();
    let mut frames = Vec::new();
    while let Some(sample) = cudapreproc_tests::sample_or_error(&pipeline, &sink) {
        let info = gst_video::VideoInfo::from_caps(sample.caps().unwrap()).unwrap();
        frames.push(tight_planes(sample.buffer().unwrap(), &info).remove(0));
    }
    assert_eq!(frames.len(), FRAMES);
    frames
}

/// Runs the source through `cudaconvert` (uint8 NHWC RGBA: the tensor's bytes are the frame's)
/// into `tensorsink PROPS` and pulls every tensor. Each is checked against the reference frames
/// it says it holds, then dropped, except those `keep` picks (by pull order): holding them all
/// would stall the pipeline, whose pools are bounded. Returns every tensor's frame numbers and
/// the kept tensors.
fn pull_all(
    props: &str,
    reference: &[Vec<u8>],
    keep: impl Fn(usize) -> bool,
) -> (Vec<Vec<u64>>, Vec<gst::Sample>) {
    let pipeline = Stopping(cudapreproc_tests::pipeline(&format!(
        "{SOURCE} ! cudaconvert dtype=uint8 layout=nhwc channel-order=rgba ! \
         tensorsink name=sink {props}"
    )));
    let sink: gstcudapreproc::TensorSink = cudapreproc_tests::element(&*pipeline, "sink");
    pipeline.set_state(gst::State::Playing).unwrap();
    let (mut frames, mut kept) = (Vec::new(), Vec::new());
    while let Some(sample) = sink.try_pull_tensor(gst::ClockTime::from_seconds(20)) {
        let numbers = u64s(sample.info().unwrap(), "frame-numbers");
        check(&sample, reference, &numbers);
        if keep(frames.len()) {
            kept.push(sample);
        }
        frames.push(numbers);
    }
    assert!(sink.is_eos(), "{props}: no end of stream within 20 s");
    (frames, kept)
}

fn u64s(s: &gst::StructureRef, field: &str) -> Vec<u64> {
    s.get::<gst::Array>(field)
        .unwrap()
        .iter()
        .map(|v| v.get::<u64>().unwrap())
        .collect()
}

/// Checks a sample against the reference frames: its frame numbers, shape, and each slot's bytes.
fn check(sample: &gst::Sample, reference: &[Vec<u8>], expected_frames: &[u64]) {
    let info = sample.info().unwrap();
    assert_eq!(info.name(), gstcudapreproc::TENSOR_INFO);
    assert_eq!(u64s(info, "frame-numbers"), expected_frames);
    let n = expected_frames.len() as u64;
    assert_eq!(u64s(info, "shape"), [n, 48, 64, 4]);
    assert_eq!(u64s(info, "strides"), [48 * 64 * 4, 64 * 4, 4, 1]);
    assert_eq!(info.get::<&str>("dtype").unwrap(), "uint8");
    assert_eq!(info.get::<&str>("memory").unwrap(), "cuda");
    assert_eq!(info.get::<i32>("device-id").unwrap(), 0);
    assert_ne!(info.get::<u64>("data-ptr").unwrap(), 0);
    assert_ne!(info.get::<u64>("ready-event").unwrap(), 0);
    let dims = sample
        .caps()
        .unwrap()
        .structure(0)
        .unwrap()
        .get::<&str>("dimensions")
        .unwrap();
    assert_eq!(dims, format!("4:64:48:{n}"));
    // A plain map is a host copy of the device bytes, made after the ready event.
    let map = sample.buffer().unwrap().map_readable().unwrap();
    let frame_bytes = 48 * 64 * 4;
    for (slot, &frame) in expected_frames.iter().enumerate() {
        assert!(
            map[slot * frame_bytes..(slot + 1) * frame_bytes] == reference[frame as usize][..],
            "frames {expected_frames:?}: slot {slot} is not frame {frame}"
        );
    }
}

#[test]
fn every_frame_with_its_description() {
    let reference = reference_frames();
    let (frames, _) = pull_all("", &reference, |_| false);
    let expected: Vec<Vec<u64>> = (0..FRAMES as u64).map(|i| vec![i]).collect();
    assert_eq!(frames, expected);
    // Timestamps, on a fresh run (tensors dropped as they come).
    let (_, first) = pull_all("frame-indices=\"<4>\"", &reference, |_| true);
    let pts = first[0].info().unwrap().get::<u64>("pts").unwrap();
    assert_eq!(pts, 4 * 40_000_000, "frame 4: pts");
    println!("{FRAMES} tensors, each frame's bytes, shape [1, 48, 64, 4], pts and ready event");
}

#[test]
fn batches_and_sampling_deliver_exactly_the_frames_asked_for() {
    let reference = reference_frames();
    for (props, expected) in [
        (
            "batch-size=4",
            vec![vec![0, 1, 2, 3], vec![4, 5, 6, 7], vec![8, 9]],
        ),
        ("frame-stride=3", vec![vec![0], vec![3], vec![6], vec![9]]),
        (
            "frame-indices=\"<1, 5, 7>\"",
            vec![vec![1], vec![5], vec![7]],
        ),
        (
            "frame-stride=2 batch-size=3",
            vec![vec![0, 2, 4], vec![6, 8]],
        ),
    ] {
        let (got, _) = pull_all(props, &reference, |_| false);
        assert_eq!(got, expected, "{props}");
        println!("{props}: frames {got:?}, every slot the right frame");
    }
}

#[test]
fn a_held_tensor_is_not_recycled() {
    let reference = reference_frames();
    // The first tensor is kept while the other 9 frames go through the same bounded pools
    // (max-buffers=1: the pipeline runs only as fast as tensors are pulled).
    let (frames, kept) = pull_all("max-buffers=1", &reference, |i| i == 0);
    assert_eq!(frames.len(), FRAMES);
    check(&kept[0], &reference, &[0]);
    let (batches, kept) = pull_all("batch-size=2 max-buffers=1", &reference, |i| i == 0);
    assert_eq!(batches.len(), 5);
    check(&kept[0], &reference, &[0, 1]);
    println!(
        "tensor 0 held while 9 more frames passed, and batch [0, 1] while 4 more batches \
         passed: both unchanged"
    );
}

/// The application library on the same pipeline: `CudaTensor`s with the sample's description,
/// a DLPack export pointing at the same device memory, and a stream wait on the ready event.
#[test]
fn library_tensors_and_dlpack() {
    let reference = reference_frames();
    let pipeline = cudapreproc::TensorPipeline::launch(&format!(
        "{SOURCE} ! cudaconvert dtype=uint8 layout=nhwc channel-order=rgba ! \
         tensorsink batch-size=4"
    ))
    .unwrap();
    let mut frames = Vec::new();
    for tensor in pipeline.tensors() {
        let tensor = tensor.unwrap();
        assert_eq!(tensor.device(), cudapreproc::Device::Cuda(0));
        assert_eq!(tensor.dtype(), cudapreproc::DType::Uint8);
        let n = tensor.frame_numbers().len() as i64;
        assert_eq!(tensor.shape(), [n, 48, 64, 4]);
        check(tensor.sample(), &reference, tensor.frame_numbers());
        // Ready for, and read on, the legacy default stream (1).
        let managed = tensor
            .to_dlpack_for_stream(ForeignStream::LEGACY_DEFAULT)
            .unwrap();
        // SAFETY: `managed` is live until its deleter runs below.
        unsafe {
            let d = &(*managed).dl_tensor;
            assert_eq!(d.data as u64, tensor.data_ptr());
            assert_eq!(d.device.device_type, cudapreproc::dlpack::DL_CUDA);
            assert_eq!(std::slice::from_raw_parts(d.shape, 4), [n, 48, 64, 4]);
            ((*managed).deleter.unwrap())(managed);
        }
        frames.push(tensor.frame_numbers().to_vec());
    }
    assert_eq!(frames, [vec![0, 1, 2, 3], vec![4, 5, 6, 7], vec![8, 9]]);
    println!("library: 3 CudaTensors {frames:?}, DLPack at the same device addresses");
}

/// The tensor's bytes, read from its device address (after its ready event) with the driver's
/// own copy, so the address applications are given is checked, not only the buffer.
fn device_bytes(tensor: &cudapreproc::CudaTensor) -> Vec<u8> {
    let cudapreproc::Device::Cuda(id) = tensor.device() else {
        panic!("{:?}: not in device memory", tensor.device());
    };
    Device::open(id).unwrap().bind().unwrap();
    tensor.synchronize().unwrap();
    let mut bytes = vec![0xA5u8; tensor.nbytes()];
    // SAFETY: the tensor holds `nbytes` bytes at its address while it lives, in the device's
    // primary context made current above; the copy is synchronous.
    unsafe { cudarc::driver::result::memcpy_dtoh_sync(&mut bytes, tensor.data_ptr()) }.unwrap();
    bytes
}

/// The full chain on the real clip, pulled through the Rust library: every frame's tensor, read
/// at the device address it reports, equals the CPU chain.
#[test]
fn library_tensors_equal_the_cpu_chain_for_every_frame_of_the_real_clip() {
    let reference = ChainReference::new();
    let pipeline = cudapreproc::TensorPipeline::launch(&chain::launch_line("tensorsink")).unwrap();
    let mut agreement = Agreement::default();
    for tensor in pipeline.tensors() {
        let tensor = tensor.unwrap();
        let n = agreement.tensors();
        assert_eq!(tensor.frame_numbers(), [n as u64]);
        assert_eq!(
            tensor.shape(),
            [1, 3, chain::SIDE as i64, chain::SIDE as i64]
        );
        assert_eq!(tensor.dtype(), cudapreproc::DType::Float32);
        let got = chain::f32s(&device_bytes(&tensor));
        agreement.check("library", n, &got, &reference.expected(n));
    }
    assert_eq!(
        agreement.tensors(),
        reference.len(),
        "a tensor for every frame"
    );
    println!("library: {}", agreement.summary());
}

/// The same through the Python module into PyTorch (tests/gpu/python_tensors.py, which also
/// checks zero-copy, lifetimes and batching on the PyTorch side and prints what it found): the
/// tensors it wrote equal the CPU chain.
#[test]
fn python_tensors_equal_the_cpu_chain_for_every_frame_of_the_real_clip() {
    let reference = ChainReference::new();
    let out = std::env::temp_dir().join(format!("python-tensors-{}.f32", std::process::id()));
    let line = chain::launch_line("tensorsink");
    crate::run_python(
        "tests/gpu/python_tensors.py",
        &[line.as_ref(), out.as_os_str()],
    );
    let bytes = std::fs::read(&out).unwrap();
    std::fs::remove_file(&out).unwrap();
    let tensor_bytes = chain::ELEMENTS * 4;
    assert_eq!(
        bytes.len(),
        reference.len() * tensor_bytes,
        "a tensor for every frame"
    );
    let mut agreement = Agreement::default();
    for (n, tensor) in bytes.chunks_exact(tensor_bytes).enumerate() {
        agreement.check("python", n, &chain::f32s(tensor), &reference.expected(n));
    }
    println!("python: {}", agreement.summary());
}
