//! Fault injection for tests: drops, PUBACK withholding and delays, token
//! expiry, twin throttling, malformed packets (the variants: `hostile.rs`).

pub use super::hostile::{malformed_bytes, MalformedVariant};
use super::*;

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
    /// Send a malformed packet (or arm a hostile CONNACK): see [`MalformedVariant`].
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
            Fault::Malformed(v) => return self.inject_malformed(now, id, conn, v),
            Fault::Drop | Fault::CloseWithoutDisconnect | Fault::ExpireToken => {
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
                    _ => {}
                }
            }
        }
        Ok(())
    }
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
        Some("malformed") => Fault::Malformed(super::hostile::parse_variant(v)?),
        _ => return Err(bad("unknown fault kind")),
    })
}
