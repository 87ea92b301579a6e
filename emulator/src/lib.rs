//! hubwire-emulator: a local Azure IoT Hub for devices (MQTT over WebSocket)
//! and for tests (a service API shaped like IoT Hub's REST API).
//!
//! [`core`] is the hub with no IO (driven by `now` and bytes); the other
//! modules are the thin tokio/hyper layer around it.
#![forbid(unsafe_code)]

pub mod bulk;
pub mod codec;
pub mod core;
pub mod csp;
pub mod fdlimit;
pub mod http;
pub mod http_dps;
pub mod keys;
pub mod persist;
pub mod policies_api;
pub mod routes_api;
pub mod sas_cli;
pub mod server;
pub mod shared;
pub mod tls;
pub mod ws;
pub mod x509;
