//! Tests that span the DPS modules.

mod client;
mod vectors;
