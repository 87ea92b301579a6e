//! The wasm shell: WebSocket, timer, clock, Promises and JS values around the
//! sans-IO core. It owns no protocol logic and no policy (see docs/shell.md).
//!
//! | file | role |
//! |---|---|
//! | `api.rs` | `DeviceClient`, the exported class: arguments in, Promises out |
//! | `driver.rs` | the driver loop: port reports → core inputs; core events → port calls |
//! | `host.rs` | the JS port: socket, timer, listeners, pending Promises (inline JS) |
//! | `convert.rs` | JS ⇄ Rust values: options, telemetry, errors, C2D, method calls |
//! | `sdk_options.rs` | the will, the token renewal margin, a message's creation time |
//! | `modules.rs` | `sendOutputEvent`, `onInputMessage` (module identities) |
//! | `panic.rs` | panic hook → `error` events |
//! | `types.rs` | the hand-written TypeScript |
//!
//! Only compiled for `wasm32`; `crate::hub` does everything IoT Hub and MQTT.

mod api;
mod convert;
mod driver;
mod host;
mod modules;
mod panic;
mod sdk_options;
mod types;

pub use api::DeviceClient;
pub use types::{ClientOptionsArg, MessageOptionsArg, MethodHandlerArg, TokenProviderArg};

#[cfg(test)]
mod tests;
