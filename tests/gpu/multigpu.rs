//! More than one GPU (needs a machine with at least two; fails on one): `cuda-device-id` places
//! every element, elements left at -1 follow their input's device, frames cross devices, and the
//! driver's per-device memory figures show each pipeline on its own GPU.

use std::collections::BTreeSet;
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use cudapreproc_core::cuda::{self, Device};

use cudapreproc_tests::{chain, init};

use crate::{device_used, tensor_md5};

const MIB: f64 = 1048576.0;

fn two_devices() -> [Arc<Device>; 2] {
    init();
    let count = cuda::device_count().unwrap();
    assert!(
        count >= 2,
        "multi-GPU tests need two GPUs; this machine has {count}"
    );
    [Device::open(0).unwrap(), Device::open(1).unwrap()]
}

/// The chain with each element's `cuda-device-id`: `source` for nvdecsrc, `rest` for the others
/// (None: left at the default).
fn chain_on(source: i32, rest: Option<i32>) -> String {
    let id = |element: &str| match rest {
        Some(id) => format!("{element} cuda-device-id={id}"),
        None => element.to_string(),
    };
    format!(
        "nvdecsrc location={} cuda-device-id={source} ! {} width=224 height=224 ! {} ! \
         video/x-raw(memory:CUDAMemory),format=RGBP ! {} dtype=float32 layout=nchw \
         preset=imagenet ! {} max-buffers=2",
        chain::clip().display(),
        id("cudawarpaffine"),
        id("cudacvtcolor"),
        id("cudaconvert"),
        id("tensorsink")
    )
}

/// What one run of the chain gave: each tensor's bytes (MD5) and the devices its tensors were on
/// (as described and as the driver places their addresses).
struct Run {
    md5s: Vec<String>,
    described: BTreeSet<i32>,
    placed: BTreeSet<i32>,
}

fn run(description: &str) -> Run {
    let pipeline = cudapreproc::TensorPipeline::launch(description).unwrap();
    let mut run = Run {
        md5s: Vec::new(),
        described: BTreeSet::new(),
        placed: BTreeSet::new(),
    };
    for tensor in pipeline.tensors() {
        let tensor = tensor.unwrap_or_else(|e| panic!("{description}: {e}"));
        let cudapreproc::Device::Cuda(id) = tensor.device() else {
            panic!("{:?}: not in device memory", tensor.device());
        };
        run.described.insert(id);
        run.placed
            .insert(Device::ordinal_of(tensor.data_ptr()).unwrap());
        run.md5s.push(tensor_md5(&tensor));
    }
    run
}

/// Device memory in use on each device (the driver's figure, all processes).
fn used(devices: &[Arc<Device>; 2]) -> [i64; 2] {
    devices.each_ref().map(|d| device_used(d))
}

/// This process's memory on each GPU, from `nvidia-smi` (MiB, by GPU index).
fn nvidia_smi_process_memory() -> String {
    let query = |args: &[&str]| {
        let out = Command::new("nvidia-smi")
            .args(args)
            .env_remove("LD_LIBRARY_PATH")
            .output()
            .expect("nvidia-smi");
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let gpus = query(&["--query-gpu=index,uuid", "--format=csv,noheader"]);
    let apps = query(&[
        "--query-compute-apps=pid,gpu_uuid,used_memory",
        "--format=csv,noheader",
    ]);
    let pid = std::process::id().to_string();
    apps.lines()
        .filter(|l| l.split(',').next().map(str::trim) == Some(pid.as_str()))
        .map(|l| {
            let f: Vec<&str> = l.split(',').map(str::trim).collect();
            let index = gpus
                .lines()
                .find(|g| g.contains(f[1]))
                .and_then(|g| g.split(',').next())
                .unwrap_or("?");
            format!("GPU {index}: {}", f[2])
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// Two pipelines at once, one on each GPU (every element's `cuda-device-id` set): each one's
/// tensors are on its device, both equal a one-GPU run, and the driver's figures show memory
/// taken on both devices while they run.
#[test]
fn two_pipelines_on_two_gpus() {
    let devices = two_devices();
    let reference = run(&chain_on(0, Some(0)));
    let idle = used(&devices);
    let running = Arc::new(AtomicBool::new(true));
    let sampler = {
        let (devices, running) = (devices.clone(), running.clone());
        std::thread::spawn(move || {
            let mut peak = [0i64; 2];
            let mut smi = String::new();
            while running.load(Ordering::Relaxed) {
                let now = used(&devices);
                for (p, n) in peak.iter_mut().zip(now) {
                    *p = (*p).max(n);
                }
                if smi.is_empty() {
                    smi = nvidia_smi_process_memory();
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            (peak, smi)
        })
    };
    let runs: Vec<_> = [0, 1]
        .map(|id| std::thread::spawn(move || run(&chain_on(id, Some(id)))))
        .into_iter()
        .map(|t| t.join().unwrap())
        .collect();
    running.store(false, Ordering::Relaxed);
    let (peak, smi) = sampler.join().unwrap();
    for (id, r) in runs.iter().enumerate() {
        let id = id as i32;
        assert_eq!(
            r.described,
            BTreeSet::from([id]),
            "pipeline {id}: described"
        );
        assert_eq!(r.placed, BTreeSet::from([id]), "pipeline {id}: placed");
        assert_eq!(r.md5s.len(), reference.md5s.len());
        assert_eq!(
            r.md5s, reference.md5s,
            "pipeline on GPU {id} against one GPU alone"
        );
        println!(
            "pipeline on GPU {id}: {} tensors, all on device {id}, equal to the one-GPU run; \
             device memory used {:.1} MiB idle, {:.1} MiB at peak",
            r.md5s.len(),
            idle[id as usize] as f64 / MIB,
            peak[id as usize] as f64 / MIB
        );
    }
    println!("nvidia-smi while both ran, this process: {smi}");
    for id in 0..2 {
        assert!(
            peak[id] > idle[id] + (16 << 20),
            "GPU {id}: no memory taken while its pipeline ran"
        );
        assert!(smi.contains(&format!("GPU {id}:")), "nvidia-smi: {smi}");
    }
}

/// Only the source on GPU 1 (the other elements at -1): the whole chain follows it there, and
/// GPU 0 is not touched.
#[test]
fn elements_follow_their_input_device() {
    let devices = two_devices();
    let reference = run(&chain_on(0, None));
    let before = used(&devices);
    let on_1 = run(&chain_on(1, None));
    let after = used(&devices);
    assert_eq!(on_1.described, BTreeSet::from([1]));
    assert_eq!(on_1.placed, BTreeSet::from([1]));
    assert_eq!(on_1.md5s, reference.md5s);
    assert!(
        (after[0] - before[0]).abs() <= 2 << 20,
        "GPU 0 memory moved {} bytes while the chain ran on GPU 1",
        after[0] - before[0]
    );
    println!(
        "nvdecsrc cuda-device-id=1, the rest at -1: {} tensors on device 1, equal to device 0's; \
         GPU 0 memory moved {} bytes",
        on_1.md5s.len(),
        after[0] - before[0]
    );
}

/// Decoded on GPU 0, processed on GPU 1: frames are copied across, and the tensors equal a
/// one-GPU run.
#[test]
fn frames_cross_devices() {
    let _devices = two_devices();
    let reference = run(&chain_on(0, Some(0)));
    let crossed = run(&chain_on(0, Some(1)));
    assert_eq!(crossed.described, BTreeSet::from([1]));
    assert_eq!(crossed.placed, BTreeSet::from([1]));
    assert_eq!(crossed.md5s, reference.md5s);
    println!(
        "decoded on GPU 0, warped/converted on GPU 1: {} tensors on device 1, equal to the \
         one-GPU run",
        crossed.md5s.len()
    );
}
