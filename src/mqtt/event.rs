//! What the session reports to its driver.

use crate::prelude::*;

use super::config::QoS;
use super::error::{ConnectReturn, LostReason};

/// A PUBLISH received from the broker. For QoS 1 its PUBACK is already queued.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Incoming {
    /// Topic name.
    pub topic: String,
    /// Message body.
    pub payload: Vec<u8>,
    /// QoS 0 or 1.
    pub qos: QoS,
    /// DUP flag: the broker may have delivered this message before.
    pub dup: bool,
    /// Retain flag.
    pub retain: bool,
    /// Packet identifier (0 for QoS 0).
    pub pkid: u16,
}

/// Output of the session, drained with `poll_event`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// CONNACK accepted; in-flight QoS 1 publishes have been re-queued.
    Connected {
        /// The broker kept state from a previous session.
        session_present: bool,
    },
    /// CONNACK refused with return code 1..=5; the session is back to `Idle`.
    Refused(ConnectReturn),
    /// An incoming application message.
    Message(Incoming),
    /// A QoS 1 publish was acknowledged.
    PubAck(u16),
    /// A SUBSCRIBE was acknowledged; `None` is a refused filter (0x80).
    SubAck {
        /// Packet identifier returned by `subscribe`.
        pkid: u16,
        /// Granted QoS per filter, in request order.
        granted: Vec<Option<QoS>>,
    },
    /// An UNSUBSCRIBE was acknowledged.
    UnsubAck(u16),
    /// The connection ended; the session is back to `Idle`.
    ConnectionLost(LostReason),
}

/// Connection state of the session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    /// No connection: before the first `connect`, or after a loss, a refusal
    /// or a timeout. `connect` may be called.
    Idle,
    /// CONNECT queued, waiting for CONNACK.
    Connecting,
    /// CONNACK accepted.
    Connected,
    /// `disconnect` queued DISCONNECT; the shell should close the transport.
    /// `connect` may be called again on a new transport.
    Closed,
}
