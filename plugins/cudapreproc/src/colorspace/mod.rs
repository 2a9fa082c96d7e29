//! Colour science shared by the colour elements and their tests: pixel formats, Y'CbCr
//! matrices and ranges, the affine map the kernels apply, and a float64 CPU reference.
//! `docs/colour.md` is the definition all of it follows.

pub mod format;
pub mod matrix;
pub mod reference;

pub use format::{Family, PixelFormat};
pub use matrix::{conversion_coefficients, Encoding, Matrix, Range};
