//! Colour science shared by the colour elements and their tests: pixel formats, Y'CbCr matrices
//! and ranges, and the affine map the kernels apply. `docs/colour.md` is the definition all of it
//! follows; the float64 reference implementation the tests compare with is in `tests/src/`.

pub mod format;
pub mod matrix;

pub use format::{Family, PixelFormat};
pub use matrix::{conversion_coefficients, Encoding, Matrix, Range};
