//! Tests that span the DPS modules.

mod client;
mod failures;
mod harness;
mod robustness;
mod vectors;
