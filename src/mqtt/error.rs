//! Typed errors of the MQTT session core.
//!
//! Each variant says whose fault it is: the peer's (malformed or unexpected
//! input from the network), the caller's (bad arguments, wrong state), or
//! nobody's (a full window the caller must wait on).

use core::fmt;

/// Why a received packet could not be decoded (the peer's fault).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Malformed {
    /// Packet type nibble 0 or 15 (reserved).
    PacketType(u8),
    /// Reserved flag bits are wrong: the fixed-header flags (MQTT 3.1.1
    /// §2.2.2), the CONNACK acknowledge flags or the CONNECT reserved bit.
    /// Carries the offending byte.
    Flags(u8),
    /// The remaining length does not fit the packet kind (e.g. PUBACK != 2).
    Length {
        /// Packet type nibble.
        packet_type: u8,
        /// Remaining length found on the wire.
        remaining: usize,
    },
    /// QoS bits 0b11 in a PUBLISH, or a QoS out of range elsewhere.
    QoS(u8),
    /// A packet identifier of 0 where one is required.
    PacketIdZero,
    /// A string field is not UTF-8.
    NotUtf8,
    /// CONNACK return code above 5, or non-zero reserved CONNACK flags.
    ConnectReturn(u8),
    /// SUBACK return code other than 0, 1, 2 or 0x80.
    SubackReturn(u8),
    /// A length-prefixed field runs past the end of the packet.
    Truncated,
    /// The codec rejected the packet for another reason.
    Other,
}

/// Errors of [`Session`](super::Session) operations and of received bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Error {
    /// Peer: a packet (header included) is larger than `max_incoming_packet`.
    /// Detected from the fixed header, before any of it is buffered.
    PacketTooLarge {
        /// Whole packet size announced by the fixed header.
        size: usize,
        /// The configured limit.
        max: usize,
    },
    /// Peer: the remaining-length field has a fifth continuation byte (§2.2.3).
    MalformedRemainingLength,
    /// Peer: a packet failed to decode.
    Malformed(Malformed),
    /// Peer: a packet a client must never receive, or one out of sequence
    /// (CONNECT, SUBSCRIBE, PUBLISH before CONNACK, a second CONNACK, ...).
    /// Carries the packet type nibble.
    UnexpectedPacket(u8),
    /// Peer: an incoming QoS 2 PUBLISH (this client never subscribes with QoS 2).
    IncomingQos2,
    /// Peer: a WebSocket text frame; MQTT over WebSocket is binary only (§6).
    TextFrame,
    /// Peer: a PUBACK, SUBACK or UNSUBACK for a packet identifier that awaits no
    /// such acknowledgement on this connection (a broken or hostile server).
    UnknownPacketId {
        /// Packet type nibble of the acknowledgement.
        packet_type: u8,
        /// The identifier it carried.
        pkid: u16,
    },
    /// Caller: the operation needs state `Connected` (or, for `connect`,
    /// a state without a live connection).
    NotConnected,
    /// Caller: `connect` while already `Connecting` or `Connected`.
    AlreadyConnected,
    /// Caller: a string field longer than 65,535 bytes (MQTT §1.5.3).
    StringTooLong {
        /// Which field.
        field: &'static str,
        /// Its length in bytes.
        len: usize,
    },
    /// Caller: a password without a username is illegal in MQTT 3.1.1 (§3.1.2.9).
    PasswordWithoutUsername,
    /// Caller: SUBSCRIBE / UNSUBSCRIBE needs at least one filter (§3.8.3).
    NoFilters,
    /// Caller: a topic filter is empty.
    InvalidFilter,
    /// Caller: QoS 2 requested in a SUBSCRIBE (this client cannot receive QoS 2).
    QosNotSupported,
    /// Caller: a packet would exceed MQTT's 268,435,455-byte remaining length.
    PayloadTooLong,
    /// Nobody: all 65,535 packet identifiers are in flight.
    PacketIdsExhausted,
}

/// Errors of [`Session::publish`](super::Session::publish).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum PublishError {
    /// Caller: QoS 2 is refused locally (IoT Hub closes the connection on it).
    QosNotSupported,
    /// Nobody: the QoS 1 window is full; wait for a `PubAck` and retry.
    /// Nothing was queued.
    InflightFull,
    /// Caller: the session is not `Connected`; nothing was queued.
    NotConnected,
    /// Caller: the topic is empty or contains a wildcard (`+`, `#`) or NUL.
    InvalidTopic,
    /// Caller: the packet cannot be encoded (topic or payload too long).
    Encode(Error),
}

/// Why a connection ended, carried by `Event::ConnectionLost`.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum LostReason {
    /// A PINGREQ went unanswered for `ping_timeout_ms`.
    PingTimeout,
    /// No CONNACK within `connack_timeout_ms` of `connect`.
    ConnackTimeout,
    /// A PUBLISH (QoS 1), SUBSCRIBE or UNSUBSCRIBE went unacknowledged for
    /// `ack_timeout_ms` on a live connection.
    AckTimeout,
    /// The peer sent bytes we refuse; the shell should close the transport.
    Protocol(Error),
    /// The shell reported the transport closed (`connection_lost`).
    Transport,
}

/// A refused CONNACK's return code (MQTT 3.1.1 §3.2.2.3, codes 1..=5).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConnectReturn {
    /// 1: the server does not support MQTT 3.1.1.
    UnacceptableProtocolVersion,
    /// 2: the client identifier is not allowed.
    IdentifierRejected,
    /// 3: the MQTT service is unavailable.
    ServerUnavailable,
    /// 4: the username or password is malformed (IoT Hub: bad SAS token).
    BadUsernameOrPassword,
    /// 5: the client is not authorized (IoT Hub: expired or wrong token).
    NotAuthorized,
}

impl ConnectReturn {
    /// The code on the wire (1..=5).
    pub fn code(self) -> u8 {
        match self {
            ConnectReturn::UnacceptableProtocolVersion => 1,
            ConnectReturn::IdentifierRejected => 2,
            ConnectReturn::ServerUnavailable => 3,
            ConnectReturn::BadUsernameOrPassword => 4,
            ConnectReturn::NotAuthorized => 5,
        }
    }

    /// The typed code for a wire value; `None` for 0 (accepted) and > 5.
    pub fn from_code(code: u8) -> Option<ConnectReturn> {
        Some(match code {
            1 => ConnectReturn::UnacceptableProtocolVersion,
            2 => ConnectReturn::IdentifierRejected,
            3 => ConnectReturn::ServerUnavailable,
            4 => ConnectReturn::BadUsernameOrPassword,
            5 => ConnectReturn::NotAuthorized,
            _ => return None,
        })
    }
}

impl Error {
    /// What the peer did, as fixed text for a [`LostReason::Protocol`] (no
    /// formatting: the wasm build carries no `core::fmt`). Caller errors, which
    /// never end a connection, read as a generic refusal.
    pub fn summary(&self) -> &'static str {
        match self {
            Error::PacketTooLarge { .. } => "received a packet over the size limit",
            Error::TextFrame => "received a WebSocket text frame",
            _ => "received a packet we refuse",
        }
    }
}

impl fmt::Display for Malformed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Malformed::PacketType(t) => write!(f, "reserved packet type {t}"),
            Malformed::Flags(b) => write!(f, "invalid fixed-header flags in byte {b:#04x}"),
            Malformed::Length {
                packet_type,
                remaining,
            } => write!(
                f,
                "remaining length {remaining} invalid for packet type {packet_type}"
            ),
            Malformed::QoS(q) => write!(f, "invalid QoS {q}"),
            Malformed::PacketIdZero => f.write_str("packet identifier 0"),
            Malformed::NotUtf8 => f.write_str("string is not UTF-8"),
            Malformed::ConnectReturn(c) => write!(f, "invalid CONNACK byte {c:#04x}"),
            Malformed::SubackReturn(c) => write!(f, "invalid SUBACK return code {c:#04x}"),
            Malformed::Truncated => f.write_str("field runs past the end of the packet"),
            Malformed::Other => f.write_str("malformed packet"),
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::PacketTooLarge { size, max } => {
                write!(
                    f,
                    "incoming packet of {size} bytes exceeds the limit of {max}"
                )
            }
            Error::MalformedRemainingLength => f.write_str("malformed remaining length"),
            Error::Malformed(m) => write!(f, "malformed packet: {m}"),
            Error::UnexpectedPacket(t) => write!(f, "unexpected packet of type {t}"),
            Error::IncomingQos2 => f.write_str("incoming QoS 2 publish is not supported"),
            Error::TextFrame => f.write_str("WebSocket text frame (MQTT over WebSocket is binary only)"),
            Error::UnknownPacketId { packet_type, pkid } => write!(
                f,
                "acknowledgement (packet type {packet_type}) for packet identifier {pkid}, which awaits none"
            ),
            Error::NotConnected => f.write_str("session is not connected"),
            Error::AlreadyConnected => f.write_str("session is already connecting or connected"),
            Error::StringTooLong { field, len } => {
                write!(f, "{field} is {len} bytes, MQTT strings hold at most 65535")
            }
            Error::PasswordWithoutUsername => {
                f.write_str("MQTT 3.1.1 forbids a password without a username")
            }
            Error::NoFilters => f.write_str("at least one topic filter is required"),
            Error::InvalidFilter => f.write_str("empty topic filter"),
            Error::QosNotSupported => f.write_str("QoS 2 is not supported"),
            Error::PayloadTooLong => f.write_str("packet exceeds the MQTT maximum size"),
            Error::PacketIdsExhausted => f.write_str("all packet identifiers are in flight"),
        }
    }
}

impl fmt::Display for PublishError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PublishError::QosNotSupported => f.write_str("QoS 2 is not supported"),
            PublishError::InflightFull => f.write_str("QoS 1 in-flight window is full"),
            PublishError::NotConnected => f.write_str("session is not connected"),
            PublishError::InvalidTopic => f.write_str("invalid topic name"),
            PublishError::Encode(e) => write!(f, "cannot encode publish: {e}"),
        }
    }
}

impl core::error::Error for Error {}
impl core::error::Error for PublishError {}
