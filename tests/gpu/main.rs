//! Tests that need an NVIDIA GPU and driver (cargo feature `gpu`): without them every test fails,
//! none skips. One binary, so that staging for a GPU machine carries one copy of the plugin;
//! select a suite with a name filter, e.g. `gpu tensorsink::`.

mod convert;
mod cvtcolor;
mod nvdec;
mod tensorsink;
mod warp;
