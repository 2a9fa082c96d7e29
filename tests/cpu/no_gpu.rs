//! Starting a pipeline without a usable GPU fails with an error that says what is missing.

use cudapreproc_core::cuda;

#[test]
fn pipeline_start_names_what_is_missing() {
    match cuda::device_count() {
        Err(cuda::CudaError::NoDriver) => {
            let clip = concat!(env!("CARGO_MANIFEST_DIR"), "/../media/bigbuckbunny.mp4");
            for description in [
                "videotestsrc num-buffers=1 ! cudacvtcolor ! fakesink".to_string(),
                format!("filesrc location={clip} ! qtdemux ! h264parse ! nvdec ! fakesink"),
                format!("nvdecsrc location={clip} ! fakesink"),
            ] {
                let pipeline = cudapreproc_tests::pipeline(&description);
                let error = cudapreproc_tests::run_to_end(&pipeline).expect("start must fail");
                assert!(error.contains("no CUDA driver"), "{description}: {error}");
                assert!(error.contains("libcuda.so.1"), "{description}: {error}");
            }
        }
        Ok(count) => {
            // With a driver the same path reports a device that does not exist.
            cudapreproc_tests::assert_missing_device_reported(count + 7);
        }
        Err(e) => panic!("unexpected driver state: {e}"),
    }
}

#[test]
fn no_driver_message_is_specific() {
    let text = cuda::CudaError::NoDriver.to_string();
    assert!(text.contains("libcuda.so.1"), "{text}");
    let text = cuda::CudaError::NoDevice { id: 3, count: 1 }.to_string();
    assert_eq!(
        text,
        "CUDA device 3 does not exist: this machine has 1 CUDA device"
    );
    let text = cuda::CudaError::NoDevice { id: 2, count: 0 }.to_string();
    assert_eq!(
        text,
        "CUDA device 2 does not exist: this machine has 0 CUDA devices"
    );
}
