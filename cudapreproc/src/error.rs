//! The one error type of the application API.

/// What can go wrong: building or running a pipeline, a sample that is not a tensor, a video
/// that cannot be read, or a request outside it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Error {
    /// The pipeline description does not parse, or has no `tensorsink`.
    Pipeline(String),
    /// A property value in the description was refused (out of range, wrong length...): GLib's
    /// or the element's reason, which names the property. The element would otherwise keep its
    /// previous value and run with it.
    Property(String),
    /// An element reported an error while running: its message, with the details its debug
    /// text adds (the source location that also carries stays in the debug log).
    Stream(String),
    /// A sample without a valid `tensor-info` structure.
    NotATensor(String),
    /// A CUDA call failed.
    Cuda(String),
    /// A video cannot be opened or read (missing, not a video, damaged): the file and why.
    Source(String),
    /// A frame or time outside the video: the file, what was asked and what exists.
    OutOfRange(String),
    /// An argument no video could satisfy (a size of 0, an unknown name): which and why.
    InvalidArgument(String),
}

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Error::Pipeline(e) => write!(f, "pipeline: {e}"),
            Error::Property(e) => write!(f, "invalid property value: {e}"),
            Error::Stream(e) => write!(f, "stream error: {e}"),
            Error::NotATensor(e) => write!(f, "not a tensor sample: {e}"),
            Error::Cuda(e) => write!(f, "CUDA: {e}"),
            Error::Source(e) | Error::OutOfRange(e) | Error::InvalidArgument(e) => {
                write!(f, "{e}")
            }
        }
    }
}

impl std::error::Error for Error {}

impl From<cudapreproc_core::cuda::CudaError> for Error {
    fn from(e: cudapreproc_core::cuda::CudaError) -> Self {
        Error::Cuda(e.to_string())
    }
}
