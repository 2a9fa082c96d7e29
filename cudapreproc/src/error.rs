//! The one error type of the application API.

/// What can go wrong: building or running the pipeline, or a sample that is not a tensor.
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
}

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Error::Pipeline(e) => write!(f, "pipeline: {e}"),
            Error::Property(e) => write!(f, "invalid property value: {e}"),
            Error::Stream(e) => write!(f, "stream error: {e}"),
            Error::NotATensor(e) => write!(f, "not a tensor sample: {e}"),
            Error::Cuda(e) => write!(f, "CUDA: {e}"),
        }
    }
}

impl std::error::Error for Error {}
