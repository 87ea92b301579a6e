//! hubwire: Azure IoT Hub device client over MQTT 3.1.1 / WebSocket.
#![forbid(unsafe_code)]

pub mod dps;
pub mod hub;
pub mod mqtt;
mod text;
#[cfg(target_arch = "wasm32")]
pub mod wasm;
