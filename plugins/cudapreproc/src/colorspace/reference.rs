//! placeholder until the reference lands
