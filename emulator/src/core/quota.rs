//! Throttling and quota faults, per identity, answered the way IoT Hub answers
//! when a hub is throttled or its daily message quota is spent:
//!
//! - `messageRate`: telemetry above the rate is *traffic shaped*: accepted,
//!   but processed (PUBACKed) at the rate; once the backlog would delay a
//!   message more than `maxDelayMs` the hub refuses it, which over MQTT means
//!   closing the connection (MQTT 3.1.1 has no way to refuse one PUBLISH).
//! - `quotaExceeded`: until the quota renews (the next UTC midnight, or after
//!   `ms`) telemetry closes the connection, twin requests are answered 403,
//!   and cloud-to-device sends and method calls to the identity fail with
//!   403 `IotHubQuotaExceeded`.

use super::*;

const DAY_MS: u64 = 86_400_000;

/// An identity's throttling state.
#[derive(Debug, Default, Clone, Copy)]
pub(super) struct Throttle {
    /// The daily quota is spent until this time (ms).
    quota_until: Option<u64>,
    /// Telemetry rate limit.
    rate: Option<Rate>,
}

#[derive(Debug, Clone, Copy)]
struct Rate {
    /// Interval between two messages at the limit, ms.
    interval_ms: u64,
    /// A burst of one second's worth of messages is processed at once.
    burst_ms: u64,
    /// Longest shaping delay before the hub refuses, ms.
    max_delay_ms: u64,
    /// Theoretical arrival time of the next message (GCRA).
    tat: u64,
}

/// What the hub does with one telemetry message under a rate limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Shaping {
    /// Processed now.
    Now,
    /// Processed (acknowledged) at this time.
    At(u64),
    /// Refused: the connection is closed.
    Refuse,
}

/// The default of `maxDelayMs`.
pub const DEFAULT_MAX_SHAPING_DELAY_MS: u64 = 10_000;

impl Hub {
    /// Spends the identity's daily quota until `now + ms`, or until the next
    /// UTC midnight when `ms` is `None`; `Some(0)` renews it now.
    pub(super) fn set_quota_exceeded(&mut self, now: u64, id: &IdentityId, ms: Option<u64>) {
        let until = match ms {
            Some(0) => None,
            Some(ms) => Some(now.saturating_add(ms)),
            None => Some((now / DAY_MS + 1) * DAY_MS),
        };
        self.throttles.entry(id.clone()).or_default().quota_until = until;
    }

    /// Limits the identity's telemetry to `per_second` messages a second
    /// (0 removes the limit).
    pub(super) fn set_message_rate(&mut self, id: &IdentityId, per_second: u32, max_delay_ms: u64) {
        let t = self.throttles.entry(id.clone()).or_default();
        t.rate = (per_second > 0).then(|| {
            let interval_ms = (1000 / u64::from(per_second)).max(1);
            Rate {
                interval_ms,
                burst_ms: 1000 - interval_ms.min(1000),
                max_delay_ms,
                tat: 0,
            }
        });
    }

    /// Whether the identity's daily quota is spent at `now`.
    pub(super) fn quota_exceeded(&self, now: u64, id: &IdentityId) -> bool {
        self.throttles
            .get(id)
            .and_then(|t| t.quota_until)
            .is_some_and(|until| now < until)
    }

    /// A service operation aimed at the identity: refused while its quota is spent.
    pub(super) fn check_quota(&self, now: u64, id: &IdentityId) -> Result<(), ServiceError> {
        if self.quota_exceeded(now, id) {
            Err(ServiceError::QuotaExceeded)
        } else {
            Ok(())
        }
    }

    /// When one more telemetry message of the identity is processed.
    pub(super) fn shape_telemetry(&mut self, now: u64, id: &IdentityId) -> Shaping {
        let Some(r) = self.throttles.get_mut(id).and_then(|t| t.rate.as_mut()) else {
            return Shaping::Now;
        };
        let at = r.tat.saturating_sub(r.burst_ms).max(now);
        if at - now > r.max_delay_ms {
            return Shaping::Refuse;
        }
        r.tat = r.tat.max(now) + r.interval_ms;
        if at == now {
            Shaping::Now
        } else {
            Shaping::At(at)
        }
    }
}
