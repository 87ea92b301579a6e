//! Per-device CONNECT throttling, so a reconnect storm is visible.
//!
//! IoT Hub rate-limits new device connections (the "new device connections"
//! operation throttle of docs.microsoft.com/azure/iot-hub/iot-hub-devguide-quotas-throttling:
//! 100/s or 12/s/unit on S1, traffic-shaped first, refused when it lasts) and, on
//! MQTT, refuses rather than answering 429 (azure-iot-sdk-c#1766). The emulator
//! applies the limit per device — one device is often all a test has — with a
//! token bucket: `burst` CONNECTs at once, refilled at `per_sec`. A CONNECT
//! beyond it is refused with CONNACK 3 (server unavailable), which every Azure SDK
//! and hubwire retry with backoff (azure-iot-sdk-csharp#1510).

use std::collections::HashMap;

use super::registry::IdentityId;

/// How many CONNECTs one identity may make.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConnectLimit {
    /// Sustained CONNECTs per second.
    pub per_sec: u32,
    /// CONNECTs allowed at once (the bucket's size).
    pub burst: u32,
}

/// The emulator binary's default (`--connect-throttle 2:20`).
pub const DEFAULT_CONNECT_LIMIT: ConnectLimit = ConnectLimit {
    per_sec: 2,
    burst: 20,
};

impl ConnectLimit {
    /// Parses `PER_SEC[:BURST]` (`0` = no limit; the burst defaults to 10 × `PER_SEC`).
    pub fn parse(s: &str) -> Result<Option<ConnectLimit>, String> {
        let bad = || format!("--connect-throttle: expected PER_SEC[:BURST], got {s}");
        let (rate, burst) = match s.split_once(':') {
            Some((r, b)) => (r, Some(b)),
            None => (s, None),
        };
        let per_sec: u32 = rate.trim().parse().map_err(|_| bad())?;
        if per_sec == 0 {
            return Ok(None);
        }
        let burst = match burst {
            Some(b) => b.trim().parse().map_err(|_| bad())?,
            None => per_sec.saturating_mul(10),
        };
        if burst == 0 {
            return Err(bad());
        }
        Ok(Some(ConnectLimit { per_sec, burst }))
    }
}

#[derive(Debug, Clone, Copy)]
struct Bucket {
    /// Thousandths of a CONNECT.
    milli: u64,
    last_ms: u64,
}

/// Token buckets per identity, and how many CONNECTs each had refused.
#[derive(Debug, Default)]
pub struct ConnectThrottle {
    limit: Option<ConnectLimit>,
    buckets: HashMap<IdentityId, Bucket>,
    refused: HashMap<IdentityId, u64>,
}

impl ConnectThrottle {
    /// Sets (or, with `None`, lifts) the limit; buckets start full again.
    pub fn set_limit(&mut self, limit: Option<ConnectLimit>) {
        self.limit = limit;
        self.buckets.clear();
    }

    /// The limit in force.
    pub fn limit(&self) -> Option<ConnectLimit> {
        self.limit
    }

    /// Takes one CONNECT from `id`'s bucket at `now`; `false` means refuse it.
    pub fn admit(&mut self, now: u64, id: &IdentityId) -> bool {
        let Some(l) = self.limit else {
            return true;
        };
        let full = u64::from(l.burst) * 1000;
        let b = self.buckets.entry(id.clone()).or_insert(Bucket {
            milli: full,
            last_ms: now,
        });
        let elapsed = now.saturating_sub(b.last_ms);
        b.milli = b
            .milli
            .saturating_add(elapsed.saturating_mul(u64::from(l.per_sec)))
            .min(full);
        b.last_ms = b.last_ms.max(now);
        if b.milli >= 1000 {
            b.milli -= 1000;
            true
        } else {
            *self.refused.entry(id.clone()).or_default() += 1;
            false
        }
    }

    /// CONNECTs of `id` refused so far.
    pub fn refused(&self, id: &IdentityId) -> u64 {
        self.refused.get(id).copied().unwrap_or(0)
    }

    /// Forgets an identity (deleted).
    pub fn forget(&mut self, id: &IdentityId) {
        self.buckets.remove(id);
        self.refused.remove(id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn throttle_burst_then_rate_succeeds() {
        let mut t = ConnectThrottle::default();
        t.set_limit(Some(ConnectLimit {
            per_sec: 2,
            burst: 3,
        }));
        let d = IdentityId::device("d");
        assert!((0..3).all(|_| t.admit(1000, &d)));
        assert!(!t.admit(1000, &d), "burst spent");
        assert!(!t.admit(1400, &d), "0.8 of a token");
        assert!(t.admit(1500, &d), "one token after 500 ms at 2/s");
        assert_eq!(t.refused(&d), 2);
        assert!(t.admit(1000, &IdentityId::device("e")), "per device");
        assert!(
            (0..3).all(|_| t.admit(100_000, &d)),
            "refilled to the burst"
        );
        assert!(!t.admit(100_000, &d), "never above the burst");
    }

    #[test]
    fn throttle_parse_succeeds() {
        assert_eq!(ConnectLimit::parse("0"), Ok(None));
        assert_eq!(ConnectLimit::parse("2:20"), Ok(Some(DEFAULT_CONNECT_LIMIT)));
        assert_eq!(
            ConnectLimit::parse("5"),
            Ok(Some(ConnectLimit {
                per_sec: 5,
                burst: 50
            }))
        );
        assert!(ConnectLimit::parse("x").is_err());
        assert!(ConnectLimit::parse("1:0").is_err());
    }

    #[test]
    fn throttle_off_admits_everything_succeeds() {
        let mut t = ConnectThrottle::default();
        let d = IdentityId::device("d");
        assert!((0..10_000).all(|_| t.admit(0, &d)));
        assert_eq!(t.refused(&d), 0);
    }
}
