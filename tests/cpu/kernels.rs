//! Every kernel in `kernels/` compiles, without a GPU: the PTX embedded at build time holds every
//! entry point the plugin launches, and NVRTC compiles each module again here, to PTX and to
//! machine code for recent GPUs.

use std::path::PathBuf;

use cudapreproc_core::cuda::nvrtc::{Nvrtc, Target};
use cudapreproc_core::kernels::cvtcolor::{FAST_ENTRIES, GENERIC_ENTRY};
use cudapreproc_core::kernels::{self, HEADERS, MODULES};

/// Entry points the plugin launches, per module.
fn launched_entries(module: &str) -> Vec<&'static str> {
    match module {
        "cvtcolor" => std::iter::once(GENERIC_ENTRY)
            .chain(FAST_ENTRIES.iter().copied())
            .collect(),
        "warp" => kernels::warp::entries(),
        "tensor" => kernels::tensor::entries(),
        other => panic!("module {other} has no list of launched entry points in this test"),
    }
}

fn nvrtc() -> Nvrtc {
    let repo = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    let project_copy = repo.join(".tools/nvrtc/nvidia/cuda_nvrtc/lib/libnvrtc.so.12");
    Nvrtc::find(&[project_copy]).expect("NVRTC is installed by scripts/setup")
}

#[test]
fn embedded_ptx_has_every_launched_entry() {
    assert!(!MODULES.is_empty());
    assert!(
        kernels::PTX_NVRTC_VERSION.is_some(),
        "the build found no NVRTC, so no PTX was embedded (run scripts/setup)"
    );
    for module in MODULES {
        let ptx = module.ptx.expect("PTX embedded at build time");
        assert!(
            ptx.contains(".target sm_52"),
            "{}: oldest target",
            module.name
        );
        for entry in launched_entries(module.name) {
            assert!(
                ptx.contains(&format!(".entry {entry}(")),
                "{}: no entry {entry}",
                module.name
            );
        }
    }
}

#[test]
fn every_module_compiles_with_nvrtc() {
    let nvrtc = nvrtc();
    // The oldest target this NVRTC has (CUDA 12: compute_52; CUDA 13: compute_75).
    let oldest = format!("compute_{}", nvrtc.oldest_arch().unwrap().max(52));
    for module in MODULES {
        let name = format!("{}.cu", module.name);
        let ptx = nvrtc
            .compile(module.source, &name, HEADERS, &oldest, Target::Ptx)
            .unwrap_or_else(|e| panic!("{e}"));
        let ptx = String::from_utf8(ptx).unwrap();
        for entry in launched_entries(module.name) {
            assert!(ptx.contains(&format!(".entry {entry}(")), "{name}: {entry}");
        }
        for arch in ["sm_75", "sm_86", "sm_90"] {
            let cubin = nvrtc
                .compile(module.source, &name, HEADERS, arch, Target::Cubin)
                .unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(&cubin[..4], b"\x7fELF", "{name} for {arch} is an ELF cubin");
        }
    }
}

#[test]
fn compile_errors_carry_the_log() {
    let err = nvrtc()
        .compile(
            "extern \"C\" __global__ void broken() { undeclared = 1; }",
            "broken.cu",
            &[],
            "compute_75",
            Target::Ptx,
        )
        .unwrap_err();
    assert!(err.contains("broken.cu"), "{err}");
    assert!(err.contains("undeclared"), "{err}");
}
