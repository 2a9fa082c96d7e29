//! The few NVRTC calls the project needs, loaded with `dlopen` so that neither the build nor the
//! plugin links against NVRTC. Shared by `build.rs` (PTX embedded at build time) and the plugin
//! (compilation at first use when the build had no NVRTC).
//!
//! This file is included by `build.rs` with `#[path]`: it must depend on nothing but `std` and
//! `libloading`.

use std::ffi::{c_char, c_int, c_void, CStr, CString};
use std::path::{Path, PathBuf};

type Program = *mut c_void;
type NvrtcResult = c_int;

/// What to compile to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Target {
    /// PTX for a virtual architecture (`compute_XY`), JIT-compiled by the driver at load.
    Ptx,
    /// Machine code for a real architecture (`sm_XY`): no JIT, no PTX version constraint.
    Cubin,
}

pub struct Nvrtc {
    lib: libloading::Library,
    path: PathBuf,
}

/// Sonames tried through the dynamic loader's own search path, newest first.
const SONAMES: &[&str] = &[
    "libnvrtc.so.13",
    "libnvrtc.so.12",
    "libnvrtc.so.11.2",
    "libnvrtc.so",
];

/// Where NVRTC usually lives, for `candidates`: CUDA toolkit folders and the lib folder of the
/// `nvidia-cuda-nvrtc` Python wheels (relative to a site-packages folder).
const TOOLKIT_DIRS: &[&str] = &[
    "/usr/local/cuda/lib64",
    "/usr/local/cuda/targets/x86_64-linux/lib",
    "/usr/lib/x86_64-linux-gnu",
];
const WHEEL_DIRS: &[&str] = &["nvidia/cuda_nvrtc/lib", "nvidia/cu13/lib"];

impl Nvrtc {
    /// Loads NVRTC from `path`, which may be a file path or a soname.
    pub fn load(path: &Path) -> Result<Self, String> {
        // SAFETY: libnvrtc runs no initialisation code with preconditions on load.
        let lib = unsafe { libloading::Library::new(path) }
            .map_err(|e| format!("cannot load {}: {e}", path.display()))?;
        let nvrtc = Nvrtc {
            lib,
            path: path.to_owned(),
        };
        nvrtc.version()?;
        Ok(nvrtc)
    }

    /// Loads the first NVRTC found among `candidates()`.
    pub fn find(explicit: &[PathBuf]) -> Result<Self, String> {
        let mut tried = Vec::new();
        for candidate in explicit.iter().cloned().chain(candidates()) {
            match Nvrtc::load(&candidate) {
                Ok(nvrtc) => return Ok(nvrtc),
                Err(_) => tried.push(candidate.display().to_string()),
            }
        }
        Err(format!(
            "NVRTC (libnvrtc.so) not found; tried {}. Install the CUDA toolkit or \
             `pip install nvidia-cuda-nvrtc-cu12`, or point GST_CUDA_NVRTC_LIBNAME at libnvrtc.so",
            tried.join(", ")
        ))
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    fn symbol<T>(&self, name: &[u8]) -> Result<libloading::Symbol<'_, T>, String> {
        // SAFETY: every symbol is looked up with the signature NVRTC's header gives it.
        unsafe { self.lib.get(name) }.map_err(|e| {
            format!(
                "{}: missing {}: {e}",
                self.path.display(),
                String::from_utf8_lossy(name)
            )
        })
    }

    /// (major, minor) of the loaded NVRTC.
    pub fn version(&self) -> Result<(i32, i32), String> {
        let f = self.symbol::<unsafe extern "C" fn(*mut c_int, *mut c_int) -> NvrtcResult>(
            b"nvrtcVersion\0",
        )?;
        let (mut major, mut minor) = (0, 0);
        // SAFETY: both pointers are valid for writes.
        self.check("nvrtcVersion", unsafe { f(&mut major, &mut minor) })?;
        Ok((major, minor))
    }

    /// The oldest GPU architecture (e.g. 52 for compute_52) this NVRTC compiles for: CUDA 13
    /// dropped what CUDA 12 still had.
    pub fn oldest_arch(&self) -> Result<u32, String> {
        let count = self.symbol::<unsafe extern "C" fn(*mut c_int) -> NvrtcResult>(
            b"nvrtcGetNumSupportedArchs\0",
        )?;
        let list = self.symbol::<unsafe extern "C" fn(*mut c_int) -> NvrtcResult>(
            b"nvrtcGetSupportedArchs\0",
        )?;
        let mut n: c_int = 0;
        // SAFETY: writes one int.
        self.check("nvrtcGetNumSupportedArchs", unsafe { count(&mut n) })?;
        let mut archs = vec![0 as c_int; n.max(0) as usize];
        // SAFETY: the buffer holds the `n` ints NVRTC reported.
        self.check("nvrtcGetSupportedArchs", unsafe {
            list(archs.as_mut_ptr())
        })?;
        archs
            .into_iter()
            .min()
            .map(|a| a as u32)
            .ok_or_else(|| format!("{}: no supported architectures", self.path.display()))
    }

    fn error_string(&self, code: NvrtcResult) -> String {
        match self
            .symbol::<unsafe extern "C" fn(NvrtcResult) -> *const c_char>(b"nvrtcGetErrorString\0")
        {
            // SAFETY: NVRTC returns a static NUL-terminated string for any code.
            Ok(f) => unsafe { CStr::from_ptr(f(code)) }
                .to_string_lossy()
                .into_owned(),
            Err(_) => format!("NVRTC error {code}"),
        }
    }

    fn check(&self, call: &str, code: NvrtcResult) -> Result<(), String> {
        if code == 0 {
            Ok(())
        } else {
            Err(format!("{call} failed: {}", self.error_string(code)))
        }
    }

    /// Compiles `source` (named `name` in messages) with `headers` available to `#include`,
    /// for `arch` (e.g. "compute_52" for PTX, "sm_90" for a cubin). Returns the PTX text
    /// (without its NUL) or the cubin bytes; a failed compile returns NVRTC's log.
    pub fn compile(
        &self,
        source: &str,
        name: &str,
        headers: &[(&str, &str)],
        arch: &str,
        target: Target,
    ) -> Result<Vec<u8>, String> {
        type Create = unsafe extern "C" fn(
            *mut Program,
            *const c_char,
            *const c_char,
            c_int,
            *const *const c_char,
            *const *const c_char,
        ) -> NvrtcResult;
        type Compile = unsafe extern "C" fn(Program, c_int, *const *const c_char) -> NvrtcResult;
        type Size = unsafe extern "C" fn(Program, *mut usize) -> NvrtcResult;
        type Get = unsafe extern "C" fn(Program, *mut c_char) -> NvrtcResult;
        type Destroy = unsafe extern "C" fn(*mut Program) -> NvrtcResult;

        let create = self.symbol::<Create>(b"nvrtcCreateProgram\0")?;
        let compile = self.symbol::<Compile>(b"nvrtcCompileProgram\0")?;
        let log_size = self.symbol::<Size>(b"nvrtcGetProgramLogSize\0")?;
        let get_log = self.symbol::<Get>(b"nvrtcGetProgramLog\0")?;
        let destroy = self.symbol::<Destroy>(b"nvrtcDestroyProgram\0")?;
        let (out_size, get_out) = match target {
            Target::Ptx => (
                self.symbol::<Size>(b"nvrtcGetPTXSize\0")?,
                self.symbol::<Get>(b"nvrtcGetPTX\0")?,
            ),
            Target::Cubin => (
                self.symbol::<Size>(b"nvrtcGetCUBINSize\0")?,
                self.symbol::<Get>(b"nvrtcGetCUBIN\0")?,
            ),
        };

        let c = |s: &str| CString::new(s).map_err(|_| format!("NUL byte in {s:?}"));
        let source_c = c(source)?;
        let name_c = c(name)?;
        let header_sources = headers
            .iter()
            .map(|(_, text)| c(text))
            .collect::<Result<Vec<_>, _>>()?;
        let header_names = headers
            .iter()
            .map(|(name, _)| c(name))
            .collect::<Result<Vec<_>, _>>()?;
        let header_source_ptrs: Vec<_> = header_sources.iter().map(|s| s.as_ptr()).collect();
        let header_name_ptrs: Vec<_> = header_names.iter().map(|s| s.as_ptr()).collect();
        let options = [
            c(&format!("--gpu-architecture={arch}"))?,
            c("--std=c++14")?,
            c("--fmad=true")?,
        ];
        let option_ptrs: Vec<_> = options.iter().map(|s| s.as_ptr()).collect();

        let mut program: Program = std::ptr::null_mut();
        // SAFETY: all strings are NUL-terminated and outlive the call; the arrays have
        // `headers.len()` entries.
        self.check("nvrtcCreateProgram", unsafe {
            create(
                &mut program,
                source_c.as_ptr(),
                name_c.as_ptr(),
                headers.len() as c_int,
                header_source_ptrs.as_ptr(),
                header_name_ptrs.as_ptr(),
            )
        })?;

        let result = (|| {
            // SAFETY: `program` was created above; the option array holds valid strings.
            let compiled =
                unsafe { compile(program, option_ptrs.len() as c_int, option_ptrs.as_ptr()) };
            if compiled != 0 {
                let mut size = 0usize;
                // SAFETY: valid program and out-pointer; the buffer has `size` bytes.
                let log = unsafe {
                    log_size(program, &mut size);
                    let mut buf = vec![0u8; size.max(1)];
                    get_log(program, buf.as_mut_ptr().cast());
                    String::from_utf8_lossy(&buf)
                        .trim_end_matches('\0')
                        .to_string()
                };
                return Err(format!(
                    "nvrtcCompileProgram failed for {name}: {}\n{log}",
                    self.error_string(compiled)
                ));
            }
            let mut size = 0usize;
            // SAFETY: valid program and out-pointer.
            self.check("get output size", unsafe { out_size(program, &mut size) })?;
            let mut out = vec![0u8; size];
            // SAFETY: the buffer holds the `size` bytes NVRTC reported.
            self.check("get output", unsafe {
                get_out(program, out.as_mut_ptr().cast())
            })?;
            if target == Target::Ptx {
                while out.last() == Some(&0) {
                    out.pop();
                }
            }
            Ok(out)
        })();

        // SAFETY: `program` is valid and destroyed exactly once.
        unsafe { destroy(&mut program) };
        result
    }
}

/// Every place NVRTC is looked for, in order: `GST_CUDA_NVRTC_LIBNAME` (upstream GStreamer's
/// variable), the dynamic loader's path, CUDA toolkit folders (`CUDA_PATH`, `CUDA_HOME`, the usual
/// install folders) and Python environments' `nvidia-cuda-nvrtc` wheels (`VIRTUAL_ENV`,
/// `CONDA_PREFIX`, the user's and the system's site-packages).
pub fn candidates() -> Vec<PathBuf> {
    let mut out = Vec::new();
    if let Some(path) = std::env::var_os("GST_CUDA_NVRTC_LIBNAME") {
        out.push(PathBuf::from(path));
    }
    out.extend(SONAMES.iter().map(PathBuf::from));

    let mut dirs: Vec<PathBuf> = Vec::new();
    for var in ["CUDA_PATH", "CUDA_HOME"] {
        if let Some(root) = std::env::var_os(var) {
            dirs.push(Path::new(&root).join("lib64"));
            dirs.push(Path::new(&root).join("targets/x86_64-linux/lib"));
        }
    }
    dirs.extend(TOOLKIT_DIRS.iter().map(PathBuf::from));
    for site in site_packages_dirs() {
        dirs.extend(WHEEL_DIRS.iter().map(|d| site.join(d)));
    }
    for dir in dirs {
        for soname in SONAMES {
            let path = dir.join(soname);
            if path.exists() {
                out.push(path);
            }
        }
    }
    out
}

fn site_packages_dirs() -> Vec<PathBuf> {
    let mut prefixes: Vec<PathBuf> = ["VIRTUAL_ENV", "CONDA_PREFIX"]
        .iter()
        .filter_map(std::env::var_os)
        .map(PathBuf::from)
        .collect();
    if let Some(home) = std::env::var_os("HOME") {
        prefixes.push(Path::new(&home).join(".local"));
    }
    prefixes.push(PathBuf::from("/usr/local"));
    prefixes.push(PathBuf::from("/usr"));

    let mut out = Vec::new();
    for prefix in prefixes {
        let Ok(entries) = std::fs::read_dir(prefix.join("lib")) else {
            continue;
        };
        for entry in entries.flatten() {
            if entry.file_name().to_string_lossy().starts_with("python3") {
                out.push(entry.path().join("site-packages"));
                out.push(entry.path().join("dist-packages"));
            }
        }
    }
    out
}
