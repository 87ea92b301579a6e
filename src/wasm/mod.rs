//! The wasm shell: WebSocket, timer, clock, Promises and JS values around the
//! sans-IO core. It owns no protocol logic and no policy (see docs/shell.md).
//!
//! | file | role |
//! |---|---|
//! | `client.js` | the client object apps hold: socket, timer, listeners, Promises, value conversion, the drive loop |
//! | `api.rs` | `DeviceClient`, the exported name: its constructors build the core and return the client.js object |
//! | `core.rs` | `Core`: `hub::Client` exported to client.js with plain arguments |
//! | `host.rs` | imports from client.js and the host |
//! | `dps.rs`, `provision.js` | feature `dps`: `DeviceClient.fromProvisioning` (a DPS registration, then the hub client) |
//! | `panic.rs` | panics → `error` events |
//! | `runtime.rs` | allocator and panic handler of the release (no-`std`) build |
//! | `types.rs` | the hand-written TypeScript |
//!
//! Only compiled for `wasm32`; `crate::hub` does everything IoT Hub and MQTT.

mod api;
mod core;
#[cfg(feature = "dps")]
mod dps;
mod host;
mod panic;
#[cfg(not(feature = "std"))]
mod runtime;
mod types;

pub use api::DeviceClient;
#[cfg(feature = "dps")]
pub use dps::ProvisioningOptionsArg;
pub use types::{ClientOptionsArg, TokenProviderArg};

#[cfg(test)]
mod tests;
