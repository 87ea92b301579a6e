//! Fault injection for tests: drops, PUBACK withholding and delays, token
//! expiry, twin throttling, malformed packets.

use super::*;

/// Malformed packets the hub can send to test a client's framer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MalformedVariant {
    /// A PUBLISH whose remaining length runs past four bytes.
    BadRemainingLength,
    /// A PUBLISH header announcing 128 MiB, followed by a few bytes only.
    Oversized,
    /// A well-formed SUBSCRIBE, which a server never sends to a client.
    UnexpectedType,
}

/// A fault to inject into one identity's connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// Close the connection with a WebSocket close frame.
    Drop,
    /// Drop the transport with no close frame.
    CloseWithoutDisconnect,
    /// Process but never acknowledge the next `count` QoS 1 publishes.
    WithholdPuback {
        /// How many.
        count: u32,
    },
    /// Acknowledge the next `count` QoS 1 publishes `ms` late.
    DelayPuback {
        /// Delay.
        ms: u64,
        /// How many.
        count: u32,
    },
    /// Treat the connection's token as expired now (the hub closes it).
    ExpireToken,
    /// Answer the next `count` twin requests with 429.
    TwinThrottle {
        /// How many.
        count: u32,
    },
    /// Refuse the next `count` otherwise valid CONNECTs with CONNACK 3 (server unavailable).
    ServerUnavailable {
        /// How many.
        count: u32,
    },
    /// Send a malformed packet.
    Malformed(MalformedVariant),
    /// Throttle telemetry to `per_second` (0 lifts it); see `quota.rs`.
    MessageRate {
        /// Messages a second.
        per_second: u32,
        /// Longest shaping delay before the connection is closed.
        max_delay_ms: u64,
    },
    /// The daily message quota is spent for `ms` (`None`: until the next UTC
    /// midnight; `Some(0)`: renewed now); see `quota.rs`.
    QuotaExceeded {
        /// How long.
        ms: Option<u64>,
    },
}

impl Hub {
    /// Injects a fault. Immediate faults need a connection (else `DeviceNotOnline`);
    /// counted faults apply to the next requests, connected or not.
    pub fn inject_fault(
        &mut self,
        now: u64,
        id: &IdentityId,
        fault: Fault,
    ) -> Result<(), ServiceError> {
        if self.registry.get(id).is_none() {
            return Err(not_found(id));
        }
        let conn = self.sessions.get(id).and_then(|s| s.conn);
        let f = self.faults.entry(id.clone()).or_default();
        match fault {
            Fault::WithholdPuback { count } => f.withhold = count,
            Fault::DelayPuback { ms, count } => {
                f.delay_ms = ms;
                f.delay_count = count;
            }
            Fault::TwinThrottle { count } => f.throttle = count,
            Fault::ServerUnavailable { count } => f.unavailable = count,
            Fault::MessageRate {
                per_second,
                max_delay_ms,
            } => self.set_message_rate(id, per_second, max_delay_ms),
            Fault::QuotaExceeded { ms } => self.set_quota_exceeded(now, id, ms),
            Fault::Drop
            | Fault::CloseWithoutDisconnect
            | Fault::ExpireToken
            | Fault::Malformed(_) => {
                let conn = conn.ok_or(ServiceError::DeviceNotOnline)?;
                match fault {
                    Fault::Drop => self.close(now, conn, true),
                    Fault::CloseWithoutDisconnect => self.close(now, conn, false),
                    Fault::ExpireToken => {
                        if let Some(c) = self.conns.get_mut(&conn) {
                            c.token_expiry_ms = Some(now);
                        }
                        self.handle_timeout(now);
                    }
                    Fault::Malformed(v) => self.transmit_raw(conn, malformed_bytes(v)),
                    _ => {}
                }
            }
        }
        Ok(())
    }
}

/// The bytes of one malformed-packet variant.
pub fn malformed_bytes(v: MalformedVariant) -> Vec<u8> {
    match v {
        MalformedVariant::BadRemainingLength => vec![0x30, 0xFF, 0xFF, 0xFF, 0xFF, 0x01],
        MalformedVariant::Oversized => {
            // remaining length 128 MiB = 0x0800_0000: 0x80 0x80 0x80 0x40
            let mut b = vec![0x30, 0x80, 0x80, 0x80, 0x40, 0x00, 0x01, b'x'];
            b.extend_from_slice(&[0u8; 56]);
            b
        }
        MalformedVariant::UnexpectedType => encode_subscribe(),
    }
}

pub(super) fn encode_subscribe() -> Vec<u8> {
    let mut b = BytesMut::new();
    let _ = v4::Subscribe::new("x", QoS::AtMostOnce).write(&mut b);
    b.to_vec()
}

/// Parses `{kind: ..}` fault bodies of the service API.
pub fn parse_fault(v: &Value) -> Result<Fault, ServiceError> {
    let bad = |m: &str| ServiceError::BadRequest(m.to_string());
    let count = || {
        v.get("count")
            .and_then(Value::as_u64)
            .map(|c| c.min(u64::from(u32::MAX)) as u32)
            .unwrap_or(1)
    };
    Ok(match v.get("kind").and_then(Value::as_str) {
        Some("drop") => Fault::Drop,
        Some("closeWithoutDisconnect") => Fault::CloseWithoutDisconnect,
        Some("withholdPuback") => Fault::WithholdPuback { count: count() },
        Some("delayPuback") => Fault::DelayPuback {
            ms: v
                .get("ms")
                .and_then(Value::as_u64)
                .ok_or_else(|| bad("delayPuback needs ms"))?,
            count: count(),
        },
        Some("expireToken") => Fault::ExpireToken,
        Some("twinThrottle") => Fault::TwinThrottle { count: count() },
        Some("serverUnavailable") => Fault::ServerUnavailable { count: count() },
        Some("messageRate") => Fault::MessageRate {
            per_second: v
                .get("perSecond")
                .and_then(Value::as_u64)
                .and_then(|n| u32::try_from(n).ok())
                .ok_or_else(|| bad("messageRate needs perSecond (0 lifts the limit)"))?,
            max_delay_ms: v
                .get("maxDelayMs")
                .and_then(Value::as_u64)
                .unwrap_or(quota::DEFAULT_MAX_SHAPING_DELAY_MS),
        },
        Some("quotaExceeded") => Fault::QuotaExceeded {
            ms: v.get("ms").and_then(Value::as_u64),
        },
        Some("malformed") => Fault::Malformed(match v.get("variant").and_then(Value::as_str) {
            Some("badRemainingLength") => MalformedVariant::BadRemainingLength,
            Some("oversized") => MalformedVariant::Oversized,
            Some("unexpectedType") => MalformedVariant::UnexpectedType,
            _ => {
                return Err(bad(
                    "variant must be badRemainingLength, oversized or unexpectedType",
                ))
            }
        }),
        _ => return Err(bad("unknown fault kind")),
    })
}
