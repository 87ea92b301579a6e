//! MQTT 3.1.1 client session core, sans-IO (see docs/core-api.md).
//!
//! The session never reads a clock or touches a socket: time comes in as
//! `now` (milliseconds), bytes come in through
//! [`Session::handle_bytes`] and go out through [`Session::poll_transmit`].
//! Packets are encoded and decoded by the client-side [`codec`] (docs/codec.md).

pub mod codec;
mod config;
mod error;
mod event;
pub mod framer;
#[cfg(any(test, fuzzing))]
#[doc(hidden)]
pub mod fuzzing;
mod pkid;
mod session;
mod timer;

#[cfg(test)]
mod tests;

pub use config::{
    Config, QoS, Will, DEFAULT_ACK_TIMEOUT_MS, DEFAULT_CONNACK_TIMEOUT_MS, DEFAULT_KEEP_ALIVE_SECS,
    DEFAULT_MAX_INCOMING_PACKET, DEFAULT_MAX_INFLIGHT, DEFAULT_PING_TIMEOUT_MS,
};
pub use error::{ConnectReturn, Error, LostReason, Malformed, PublishError};
pub use event::{Event, Incoming, State};
pub use framer::Framer;
pub use pkid::PacketIds;
pub use session::Session;
