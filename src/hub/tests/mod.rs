//! Tests that span the hub modules: the shared vectors and the scripted client tests.

mod client;
mod robustness;
mod vectors;
