//! One error type for everything CUDA: a missing driver or device, a failed driver call (named,
//! with CUDA's own error name and text), or kernels that could not be built.

use cudarc::driver::{result::DriverError, sys};

/// What every CUDA operation returns.
pub type CudaResult<T> = Result<T, CudaError>;

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CudaError {
    /// `libcuda.so.1` could not be loaded.
    NoDriver,
    /// A driver library other than libcuda (e.g. the video decoder's) could not be loaded.
    Library(String),
    /// No device with this ordinal.
    NoDevice { id: i32, count: i32 },
    /// A driver call returned an error.
    Driver {
        call: &'static str,
        code: sys::CUresult,
    },
    /// Kernels could not be compiled or loaded (NVRTC missing, compile error...).
    Kernel(String),
    /// A request the CUDA code cannot serve (sizes that do not match, unsupported layout...).
    Invalid(String),
}

impl std::fmt::Display for CudaError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CudaError::NoDriver => f.write_str(
                "no CUDA driver: libcuda.so.1 could not be loaded (install the NVIDIA driver, \
                 or add its folder to LD_LIBRARY_PATH)",
            ),
            CudaError::NoDevice { id, count } => write!(
                f,
                "CUDA device {id} does not exist: this machine has {count} CUDA device{}",
                if *count == 1 { "" } else { "s" }
            ),
            CudaError::Driver { call, code } => {
                let err = DriverError(*code);
                let name = err
                    .error_name()
                    .map(|s| s.to_string_lossy().into_owned())
                    .unwrap_or_else(|_| format!("{code:?}"));
                let text = err
                    .error_string()
                    .map(|s| s.to_string_lossy().into_owned())
                    .unwrap_or_default();
                write!(f, "{call} failed: {name} ({text})")
            }
            CudaError::Kernel(msg) | CudaError::Invalid(msg) | CudaError::Library(msg) => {
                f.write_str(msg)
            }
        }
    }
}

impl std::error::Error for CudaError {}

impl CudaError {
    /// The element error to post for this failure: the message says what is wrong.
    pub fn to_error_message(&self) -> gst::ErrorMessage {
        let text = self.to_string();
        match self {
            CudaError::NoDriver | CudaError::NoDevice { .. } | CudaError::Library(_) => {
                gst::error_msg!(gst::ResourceError::NotFound, ("{}", text))
            }
            CudaError::Invalid(_) => gst::error_msg!(gst::StreamError::Format, ("{}", text)),
            _ => gst::error_msg!(gst::ResourceError::Failed, ("{}", text)),
        }
    }
}

impl From<CudaError> for gst::ErrorMessage {
    fn from(error: CudaError) -> Self {
        error.to_error_message()
    }
}

/// Turns a driver result into a [`CudaError`] that names the call.
pub(crate) trait Check<T> {
    fn check(self, call: &'static str) -> Result<T, CudaError>;
}

impl<T> Check<T> for Result<T, DriverError> {
    fn check(self, call: &'static str) -> Result<T, CudaError> {
        self.map_err(|e| CudaError::Driver { call, code: e.0 })
    }
}

impl Check<()> for sys::CUresult {
    fn check(self, call: &'static str) -> Result<(), CudaError> {
        self.result().check(call)
    }
}
