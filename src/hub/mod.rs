//! IoT Hub semantics over the MQTT session, sans-IO (see docs/hub.md and docs/core-api.md).
//!
//! One file per feature, like azure-sdk-for-c's `az_iot_hub_client_*`:
//! the pure modules build and parse topics, property bags, usernames and SAS
//! tokens and own no state; [`Client`] drives an [`crate::mqtt::Session`] with
//! them. The core reads no clock: every `now` is milliseconds since the Unix
//! epoch, passed in by the shell.

pub mod base64;
pub mod c2d;
pub mod client;
pub mod connection_string;
pub mod encoding;
pub mod error;
#[cfg(any(test, fuzzing))]
#[doc(hidden)]
pub mod fuzzing;
pub mod hmac;
pub mod ids;
pub(crate) mod json;
pub mod methods;
pub mod pnp;
pub mod retry;
pub mod sas;
pub mod telemetry;
pub mod twin;
pub mod url;
pub mod username;

pub use client::{
    Auth, C2dMessage, Client, ClientConfig, ConnectionState, HubEvent, OpId, OpResult,
    MAX_KEEP_ALIVE_SECS, NO_CLIENT_CERT_QUERY,
};
pub use connection_string::{ConnectionString, Credential, Secret, SymmetricKey};
pub use error::Error;
pub use error::{TokenError, TransportError};
pub use telemetry::{SystemProperties, Telemetry};

#[cfg(test)]
mod tests;
