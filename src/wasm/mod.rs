//! The wasm shell: WebSocket, timer, clock, Promises and JS values around the
//! sans-IO core. It owns no protocol logic (see docs/shell.md).
//!
//! Only compiled for `wasm32`; `crate::hub` does everything IoT Hub and MQTT.

mod client;
mod error;
mod js;
mod options;
mod panic;
mod socket;
mod timer;
mod types;
mod url;

pub use client::DeviceClient;
pub use types::{ClientOptionsArg, MessageOptionsArg, MethodHandlerArg, TokenProviderArg};

#[cfg(test)]
mod tests;
