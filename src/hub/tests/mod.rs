//! Tests that span the hub modules: the shared vectors and the scripted client tests.

mod client;
mod connect;
mod fuzz_replay;
mod harness;
mod liveness;
mod methods;
mod parity;
mod robustness;
mod secrets;
mod tokens;
mod vectors;
