//! Tests that need an NVIDIA GPU and driver (cargo feature `gpu`): without them every test fails,
//! none skips. One binary, so that staging for a GPU machine carries one copy of the plugin;
//! select a suite with a name filter, e.g. `gpu tensorsink::`.

mod config;
mod convert;
mod crash;
mod cvtcolor;
mod interop;
mod multigpu;
mod nvdec;
mod reader;
mod robustness;
mod stress;
mod tensorsink;
mod warp;
mod writer;

use std::sync::Arc;

use cudapreproc_core::cuda::Device;

/// Device 0, kept open by the caller so its primary context lives across pipelines (re-creating
/// it costs ~0.1 s each).
fn device() -> Arc<Device> {
    crash::report_crashes();
    cudapreproc_tests::init();
    Device::open(0).unwrap_or_else(|e| panic!("GPU tests need a CUDA device: {e}"))
}

/// Device memory in use on `device`, as the driver reports it (every process's).
fn device_used(device: &Device) -> i64 {
    let (free, total) = device.memory_info().unwrap();
    total as i64 - free as i64
}

/// MD5 of a tensor's bytes, read through a plain (host) map of its sample's buffer.
fn tensor_md5(tensor: &cudapreproc::CudaTensor) -> String {
    let map = tensor.sample().buffer().unwrap().map_readable().unwrap();
    format!("{:x}", md5::compute(&map[..]))
}

/// Runs the Python script `script` (a path from the repository root) with `args`, loading the
/// Python module's library staged in `.gpu/lib` (or `CUDAPREPROC_LIBRARY`); prints what it
/// printed and fails the test if it fails. With `CUDAPREPROC_TEST_INSTALLED=1` the script uses
/// the module python3 has installed (a wheel) and gets none of the staged GStreamer runtime's
/// environment (its GST_* variables and its folders in PATH and LD_LIBRARY_PATH): the wheel
/// must run on its own.
fn run_python(script: &str, args: &[&std::ffi::OsStr]) {
    let mut command = std::process::Command::new("python3");
    command.arg(script).args(args);
    if std::env::var("CUDAPREPROC_TEST_INSTALLED").as_deref() == Ok("1") {
        for (name, _) in std::env::vars() {
            if name == "CUDAPREPROC_LIBRARY" || name.starts_with("GST_") {
                command.env_remove(name);
            }
        }
        // The staged runtime's folders go; the others stay (some machines find the driver's
        // libcuda only through LD_LIBRARY_PATH).
        for name in ["LD_LIBRARY_PATH", "PATH"] {
            let kept: Vec<String> = std::env::var(name)
                .unwrap_or_default()
                .split(':')
                .filter(|dir| !dir.is_empty() && !dir.contains("/.gpu/"))
                .map(str::to_string)
                .collect();
            command.env(name, kept.join(":"));
        }
    } else {
        let library = std::env::var("CUDAPREPROC_LIBRARY")
            .unwrap_or_else(|_| ".gpu/lib/libcudapreproc_python.so".into());
        assert!(
            std::path::Path::new(&library).exists(),
            "the Python module's library {library} (scripts/stage-gpu stages it; or set \
             CUDAPREPROC_LIBRARY)"
        );
        command.env("CUDAPREPROC_LIBRARY", &library);
    }
    let output = command.output().expect("python3 runs");
    print!("{}", String::from_utf8_lossy(&output.stdout));
    assert!(
        output.status.success(),
        "{script} failed ({}):\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
}
