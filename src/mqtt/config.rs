//! Session configuration, the will message and QoS.

use crate::prelude::*;

/// MQTT quality of service.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum QoS {
    /// QoS 0: fire and forget.
    AtMostOnce = 0,
    /// QoS 1: acknowledged by PUBACK, resent with DUP=1 after a reconnect.
    AtLeastOnce = 1,
    /// QoS 2: refused by this client (IoT Hub does not support it).
    ExactlyOnce = 2,
}

impl QoS {
    /// The QoS for a wire value 0..=2.
    pub fn from_u8(v: u8) -> Option<QoS> {
        match v {
            0 => Some(QoS::AtMostOnce),
            1 => Some(QoS::AtLeastOnce),
            2 => Some(QoS::ExactlyOnce),
            _ => None,
        }
    }
}

/// The last-will message the broker publishes if the connection drops uncleanly.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Will {
    /// Topic name (IoT Hub: the telemetry topic).
    pub topic: String,
    /// Message body.
    pub payload: Vec<u8>,
    /// QoS 0 or 1 (QoS 2 is refused by `connect`).
    pub qos: QoS,
    /// Retain flag.
    pub retain: bool,
}

/// Default keep-alive, as the official Azure IoT SDKs use: 180 s.
pub const DEFAULT_KEEP_ALIVE_SECS: u16 = 180;
/// Default time a PINGREQ may stay unanswered: 30 s.
pub const DEFAULT_PING_TIMEOUT_MS: u64 = 30_000;
/// Default time a CONNECT may stay unanswered: 30 s.
pub const DEFAULT_CONNACK_TIMEOUT_MS: u64 = 30_000;
/// Default largest incoming packet: IoT Hub's 256 KiB message limit plus
/// 64 KiB for topic, property bag and headers.
pub const DEFAULT_MAX_INCOMING_PACKET: usize = 256 * 1024 + 64 * 1024;
/// Default QoS 1 window: 64 publishes awaiting PUBACK.
pub const DEFAULT_MAX_INFLIGHT: u16 = 64;
/// Default time a PUBLISH (QoS 1), SUBSCRIBE or UNSUBSCRIBE may wait for its
/// acknowledgement on a live connection: 60 s (azure-iot-sdk-c's resend
/// timeout for an unacknowledged PUBLISH).
pub const DEFAULT_ACK_TIMEOUT_MS: u64 = 60_000;

/// Session configuration. Build with [`Config::new`] and adjust fields.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// Client identifier (IoT Hub: the device id, or `device/module`).
    pub client_id: String,
    /// Username (IoT Hub: `{host}/{device}/?api-version=...`).
    pub username: Option<String>,
    /// Keep-alive in seconds; 0 disables keep-alive pings.
    pub keep_alive_secs: u16,
    /// Clean session flag.
    pub clean_session: bool,
    /// Optional last will.
    pub will: Option<Will>,
    /// Largest incoming packet, fixed header included; larger is `Error::PacketTooLarge`.
    pub max_incoming_packet: usize,
    /// QoS 1 publishes awaiting PUBACK at most (the window); at least 1 is used.
    pub max_inflight: u16,
    /// After a PINGREQ, the connection is lost if nothing arrives within this.
    pub ping_timeout_ms: u64,
    /// After CONNECT, the connection is lost if no CONNACK arrives within this.
    pub connack_timeout_ms: u64,
    /// The connection is lost (`LostReason::AckTimeout`) when a QoS 1 PUBLISH,
    /// SUBSCRIBE or UNSUBSCRIBE has waited this long for its acknowledgement;
    /// the next connection resends unacknowledged publishes with DUP. 0: never.
    pub ack_timeout_ms: u64,
    /// `true`: `poll_transmit` returns all ready packets in one buffer;
    /// `false`: one packet per buffer.
    pub coalesce: bool,
}

impl Config {
    /// Defaults: no username, keep-alive 180 s, clean session off (as the IoT
    /// Hub SDKs), no will, 320 KiB incoming limit, window 64, ping timeout
    /// 30 s, CONNACK timeout 30 s, acknowledgement timeout 60 s, coalescing on.
    pub fn new(client_id: impl Into<String>) -> Config {
        Config {
            client_id: client_id.into(),
            username: None,
            keep_alive_secs: DEFAULT_KEEP_ALIVE_SECS,
            clean_session: false,
            will: None,
            max_incoming_packet: DEFAULT_MAX_INCOMING_PACKET,
            max_inflight: DEFAULT_MAX_INFLIGHT,
            ping_timeout_ms: DEFAULT_PING_TIMEOUT_MS,
            connack_timeout_ms: DEFAULT_CONNACK_TIMEOUT_MS,
            ack_timeout_ms: DEFAULT_ACK_TIMEOUT_MS,
            coalesce: true,
        }
    }
}

impl Default for Config {
    /// [`Config::new`] with an empty client id.
    fn default() -> Config {
        Config::new("")
    }
}
