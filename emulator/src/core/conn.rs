//! Per-connection MQTT server state.

use std::collections::HashSet;

use hubwire::mqtt::Framer;
use mqttbytes::v4::LastWill;

use super::registry::IdentityId;

/// One device transport as the hub sees it.
#[derive(Debug)]
pub(crate) struct Conn {
    /// Reassembles packets across WebSocket messages.
    pub framer: Framer,
    /// Set once CONNECT was accepted.
    pub identity: Option<IdentityId>,
    /// A CONNECT arrived (accepted or refused).
    pub connect_seen: bool,
    /// The client sent DISCONNECT: no will.
    pub disconnect_seen: bool,
    /// The hub decided to close; ignore further input.
    pub closing: bool,
    /// Clean session flag of the CONNECT.
    pub clean: bool,
    /// Keep-alive in ms (0 = none).
    pub keep_alive_ms: u64,
    /// Last time bytes arrived.
    pub last_rx: u64,
    /// When the SAS token expires (ms).
    pub token_expiry_ms: Option<u64>,
    /// Will to publish if the connection ends without DISCONNECT.
    pub will: Option<LastWill>,
    /// Packet ids of hub-to-device QoS 1 publishes awaiting PUBACK.
    pub inflight: HashSet<u16>,
    /// PUBACKs held back by the delay fault: (due, pkid).
    pub delayed_acks: Vec<(u64, u16)>,
    /// The client certificate the transport presented (TLS), if any.
    pub client_cert: Option<super::x509::ClientCert>,
    last_pkid: u16,
}

impl Conn {
    /// A fresh transport, waiting for CONNECT.
    pub fn new(now: u64) -> Conn {
        Conn {
            framer: Framer::new(super::MAX_PACKET_BYTES),
            identity: None,
            connect_seen: false,
            disconnect_seen: false,
            closing: false,
            clean: false,
            keep_alive_ms: 0,
            last_rx: now,
            token_expiry_ms: None,
            will: None,
            inflight: HashSet::new(),
            delayed_acks: Vec::new(),
            client_cert: None,
            last_pkid: 0,
        }
    }

    /// When silence ends an accepted connection: 1.5 times the keep-alive
    /// (MQTT 3.1.1 §3.1.2.10), at most IoT Hub's 1767 s, which a keep-alive of
    /// 0 also gets ([`super::limits::keepalive_timeout_ms`]).
    pub fn keepalive_deadline(&self) -> Option<u64> {
        self.identity
            .is_some()
            .then(|| self.last_rx + super::limits::keepalive_timeout_ms(self.keep_alive_ms))
    }

    /// The next free packet id, 1..=65535, skipping ids in flight.
    pub fn next_pkid(&mut self) -> u16 {
        loop {
            self.last_pkid = self.last_pkid.wrapping_add(1);
            if self.last_pkid != 0 && !self.inflight.contains(&self.last_pkid) {
                return self.last_pkid;
            }
        }
    }
}
