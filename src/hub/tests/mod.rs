//! Tests that span the hub modules: the shared vectors and the scripted client tests.

mod client;
mod fuzz_replay;
mod robustness;
mod secrets;
mod vectors;
