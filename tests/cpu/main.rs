//! Tests that need no GPU; CI runs them.

mod caps;
mod config;
mod geometry_tensor;
mod harness;
mod http;
mod kernels;
mod no_gpu;
mod paff;
mod registration;
mod tensorsrc;
mod writer;
