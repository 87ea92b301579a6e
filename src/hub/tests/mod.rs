//! Tests that span the hub modules: the shared vectors and the scripted client tests.

mod client;
mod connect;
mod harness;
mod methods;
mod robustness;
mod tokens;
mod vectors;
