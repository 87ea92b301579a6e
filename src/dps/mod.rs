//! Azure IoT Hub Device Provisioning Service (DPS) over MQTT, sans-IO
//! (docs/dps.md).
//!
//! A device that knows only an ID scope, its registration id and a key (or a
//! token provider) asks DPS which hub it belongs to: CONNECT as the
//! registration, SUBSCRIBE `$dps/registrations/res/#`, PUT
//! `iotdps-register`, then GET `iotdps-get-operationstatus` until DPS answers
//! `assigned` (hub + device id), `failed` or `disabled`. One file per concept,
//! like azure-sdk-for-c's `az_iot_provisioning_client`:
//!
//! | file | holds |
//! |---|---|
//! | `topics.rs` | subscribe filter, request topics, response topic parsing (and the service side for the emulator) |
//! | `registration.rs` | the register request body and the `RegistrationOperationStatus` response |
//! | `auth.rs` | the username, the SAS resource and token, group-key derivation, registration id rules |
//! | `error.rs` | [`Error`], [`Rejection`] |
//! | `config.rs` | [`Config`], [`Auth`] |
//! | `event.rs` | [`DpsEvent`], [`Assignment`], [`State`] |
//! | `client.rs` | [`Client`], the state machine driven like `hub::Client` |
//!
//! Built on what the hub client has: [`crate::mqtt::Session`], [`crate::hub::sas`],
//! [`crate::hub::retry::Backoff`], the hub's error kinds ([`crate::hub::TransportError`],
//! [`crate::hub::TokenError`], [`crate::hub::Error`] inside [`Error::Hub`]) and its small
//! JSON scanner (no JSON library in the wasm bundle); text is built without `core::fmt`.

pub mod auth;
pub mod client;
pub mod config;
pub mod error;
pub mod event;
pub mod registration;
pub mod topics;

pub use auth::derive_device_key;
pub use client::Client;
pub use config::{Auth, Config, DEFAULT_PROVISIONING_HOST};
pub use error::{Error, Facts, Rejection};
pub use event::{Assignment, DpsEvent, State};
pub use registration::{OperationStatus, RegistrationState, Status};

#[cfg(test)]
mod tests;
