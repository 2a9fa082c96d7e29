//! Tests that need no GPU; CI runs them.

mod caps;
mod kernels;
mod no_gpu;
mod registration;
