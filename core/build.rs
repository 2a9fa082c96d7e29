//! The CUDA kernels in `kernels/` compiled to PTX with NVRTC, so that a user needs only the NVIDIA
//! driver at run time.
//!
//! NVRTC is looked for at `$GST_CUDAPREPROC_NVRTC`, then in `.tools/nvrtc` (where
//! `scripts/setup` unpacks the `nvidia-cuda-nvrtc-cu12==12.0.*` wheel: PTX from CUDA 12.0 loads on
//! every driver from 525 on), then in the usual system places. Without NVRTC the build still
//! succeeds and the kernels are compiled at first use instead.

#[path = "src/cuda/nvrtc.rs"]
#[allow(dead_code)]
mod nvrtc;

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

/// Oldest virtual architecture the PTX targets (Maxwell) when NVRTC still supports it; the
/// driver JIT-compiles it for newer GPUs.
const OLDEST_PTX_ARCH: u32 = 52;

fn main() {
    let manifest_dir = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").unwrap());
    let repo = manifest_dir.join("..").canonicalize().unwrap();
    let kernels_dir = repo.join("kernels");
    let out_dir = PathBuf::from(std::env::var("OUT_DIR").unwrap());
    println!("cargo:rerun-if-changed={}", kernels_dir.display());
    println!("cargo:rerun-if-env-changed=GST_CUDAPREPROC_NVRTC");

    let (headers, modules) = kernel_files(&kernels_dir);
    let header_texts: Vec<(String, String)> = headers
        .iter()
        .map(|p| (file_name(p), std::fs::read_to_string(p).unwrap()))
        .collect();
    let header_refs: Vec<(&str, &str)> = header_texts
        .iter()
        .map(|(n, t)| (n.as_str(), t.as_str()))
        .collect();

    let mut explicit = Vec::new();
    if let Some(path) = std::env::var_os("GST_CUDAPREPROC_NVRTC") {
        explicit.push(PathBuf::from(path));
    }
    explicit.push(repo.join(".tools/nvrtc/nvidia/cuda_nvrtc/lib/libnvrtc.so.12"));
    let compiler = match nvrtc::Nvrtc::find(&explicit) {
        Ok(compiler) => {
            let (major, minor) = compiler.version().unwrap();
            let arch = compiler.oldest_arch().unwrap().max(OLDEST_PTX_ARCH);
            Some((
                compiler,
                format!("{major}.{minor}"),
                format!("compute_{arch}"),
            ))
        }
        Err(e) => {
            println!(
                "cargo:warning=no NVRTC at build time, kernels will be compiled at first use: {e}"
            );
            None
        }
    };

    let mut generated = String::new();
    writeln!(generated, "pub const HEADERS: &[(&str, &str)] = &[").unwrap();
    for header in &headers {
        writeln!(
            generated,
            "    ({:?}, include_str!({:?})),",
            file_name(header),
            header.display()
        )
        .unwrap();
    }
    writeln!(generated, "];").unwrap();
    writeln!(
        generated,
        "pub const PTX_NVRTC_VERSION: Option<&str> = {:?};",
        compiler.as_ref().map(|(_, v, _)| v.as_str())
    )
    .unwrap();
    writeln!(generated, "pub const MODULES: &[KernelModule] = &[").unwrap();
    for module in &modules {
        let name = file_name(module).trim_end_matches(".cu").to_string();
        let ptx = compiler.as_ref().map(|(compiler, _, arch)| {
            let source = std::fs::read_to_string(module).unwrap();
            let ptx = compiler
                .compile(
                    &source,
                    &file_name(module),
                    &header_refs,
                    arch,
                    nvrtc::Target::Ptx,
                )
                .unwrap_or_else(|e| panic!("{e}"));
            let path = out_dir.join(format!("{name}.ptx"));
            std::fs::write(&path, ptx).unwrap();
            path
        });
        writeln!(
            generated,
            "    KernelModule {{ name: {name:?}, source: include_str!({:?}), ptx: {} }},",
            module.display(),
            match ptx {
                Some(path) => format!("Some(include_str!({:?}))", path.display()),
                None => "None".to_string(),
            }
        )
        .unwrap();
    }
    writeln!(generated, "];").unwrap();
    std::fs::write(out_dir.join("kernels.rs"), generated).unwrap();
}

fn file_name(path: &Path) -> String {
    path.file_name().unwrap().to_string_lossy().into_owned()
}

/// (`*.cuh` headers, `*.cu` modules) in `dir`, sorted by name.
fn kernel_files(dir: &Path) -> (Vec<PathBuf>, Vec<PathBuf>) {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|entry| entry.unwrap().path())
        .collect();
    files.sort();
    let with_ext = |ext: &str| {
        files
            .iter()
            .filter(|p| p.extension().is_some_and(|e| e == ext))
            .cloned()
            .collect::<Vec<_>>()
    };
    (with_ext("cuh"), with_ext("cu"))
}
