//! Tests that span the DPS modules.

mod client;
mod harness;
mod vectors;
