//! Device-to-cloud messages as the hub records them.

use std::collections::VecDeque;

use base64::Engine as _;
use serde_json::{Map, Value};

use super::time::iso8601;
use hubwire::hub::encoding::PropertyBag;
use hubwire::hub::telemetry::{SystemProperties, LEGACY_CREATION_TIME_KEY};

/// One received telemetry message, properties decoded.
#[derive(Debug, Clone, PartialEq)]
pub struct TelemetryRecord {
    /// Position in the log, from 1.
    pub seq: u64,
    /// Sending device.
    pub device_id: String,
    /// Sending module, if a module sent it.
    pub module_id: Option<String>,
    /// Enqueue time, milliseconds since the epoch.
    pub enqueued_ms: u64,
    /// System properties by their service-side names (`messageId`, ...).
    pub system: Vec<(String, String)>,
    /// Application properties, decoded, in order; `None` for a key without `=`.
    pub properties: Vec<(String, Option<String>)>,
    /// Payload bytes.
    pub body: Vec<u8>,
}

/// `$.ctime` (IoT Hub's MQTT key: azure-sdk-for-c, the C and .NET SDKs, hubwire) and
/// `iothub-creation-time-utc` (hubwire before issue 14, the Node SDK samples) both set
/// `creationTimeUtc`: moves the first `iothub-creation-time-utc` out of the application
/// properties unless `$.ctime` is present (then that one wins and the other stays a
/// property). `$.ctime` is decoded by `hubwire::hub::telemetry` already.
pub fn lift_creation_time(system: &mut SystemProperties, properties: &mut PropertyBag) {
    if system.creation_time_utc.is_some() {
        return;
    }
    if let Some(i) = properties
        .iter()
        .position(|(k, v)| k == LEGACY_CREATION_TIME_KEY && v.is_some())
    {
        let (_, v) = properties.remove(i);
        system.creation_time_utc = v;
    }
}

/// System properties by their service-side names, in encoding order
/// (`hubwire::hub::telemetry::SYSTEM_PROPERTY_NAMES`).
pub fn system_list(sys: &SystemProperties) -> Vec<(String, String)> {
    sys.iter()
        .map(|((_, name), v)| (name.to_string(), v.to_string()))
        .collect()
}

impl TelemetryRecord {
    /// The record as `GET /emulator/telemetry` shows it.
    pub fn to_json(&self) -> Value {
        let mut sys = Map::new();
        for (k, v) in &self.system {
            sys.insert(k.clone(), Value::from(v.as_str()));
        }
        let mut props = Map::new();
        for (k, v) in &self.properties {
            props.insert(
                k.clone(),
                v.as_deref().map(Value::from).unwrap_or(Value::Null),
            );
        }
        serde_json::json!({
            "seq": self.seq,
            "deviceId": self.device_id,
            "moduleId": self.module_id,
            "enqueuedTimeUtc": iso8601(self.enqueued_ms),
            "systemProperties": sys,
            "properties": props,
            "body": std::str::from_utf8(&self.body).ok(),
            "bodyBase64": base64::engine::general_purpose::STANDARD.encode(&self.body),
        })
    }
}

/// A bounded log of telemetry; the oldest records fall off.
#[derive(Debug, Clone)]
pub struct TelemetryLog {
    items: VecDeque<TelemetryRecord>,
    next_seq: u64,
    cap: usize,
}

impl TelemetryLog {
    /// A log keeping at most `cap` records.
    pub fn new(cap: usize) -> TelemetryLog {
        TelemetryLog {
            items: VecDeque::new(),
            next_seq: 1,
            cap: cap.max(1),
        }
    }

    /// Appends a record, assigning its `seq`; returns the seq.
    pub fn push(&mut self, mut r: TelemetryRecord) -> u64 {
        r.seq = self.next_seq;
        self.next_seq += 1;
        if self.items.len() == self.cap {
            self.items.pop_front();
        }
        self.items.push_back(r);
        self.next_seq - 1
    }

    /// Records with `seq > after`, optionally of one device, at most `limit`;
    /// also the seq to pass as `after` next time.
    pub fn query(
        &self,
        after: u64,
        device: Option<&str>,
        limit: usize,
    ) -> (Vec<&TelemetryRecord>, u64) {
        // Seqs are consecutive in the log: skip straight to the first one after `after`.
        let first = self.items.front().map_or(0, |r| r.seq);
        let skip =
            usize::try_from(after.saturating_add(1).saturating_sub(first)).unwrap_or(usize::MAX);
        let items: Vec<&TelemetryRecord> = self
            .items
            .iter()
            .skip(skip)
            .filter(|r| {
                r.seq > after
                    && match device {
                        Some(d) => r.device_id == d,
                        None => true,
                    }
            })
            .take(limit)
            .collect();
        let next = items.last().map(|r| r.seq).unwrap_or(after);
        (items, next)
    }

    /// The seq the next record will get.
    pub fn next_seq(&self) -> u64 {
        self.next_seq
    }

    /// The record with this seq, if still retained.
    pub fn get(&self, seq: u64) -> Option<&TelemetryRecord> {
        let first = self.items.front()?.seq;
        let i = usize::try_from(seq.checked_sub(first)?).ok()?;
        self.items.get(i).filter(|r| r.seq == seq)
    }

    /// Every retained record, oldest first.
    pub fn iter(&self) -> impl Iterator<Item = &TelemetryRecord> {
        self.items.iter()
    }

    /// Replaces the log with `records` (oldest first, as the telemetry journal holds
    /// them): the newest `cap` are kept and seqs continue after the highest.
    pub fn restore(&mut self, mut records: Vec<TelemetryRecord>) {
        records.sort_by_key(|r| r.seq);
        records.dedup_by_key(|r| r.seq);
        let keep = records.len().saturating_sub(self.cap);
        self.next_seq = records.last().map_or(1, |r| r.seq + 1).max(self.next_seq);
        self.items = records.into_iter().skip(keep).collect();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lift_creation_time_ctime_or_iothub_key_succeeds() {
        let mut sys = SystemProperties::default();
        let mut props = vec![
            ("a".to_string(), Some("1".to_string())),
            (
                LEGACY_CREATION_TIME_KEY.to_string(),
                Some("2030-01-01T00:00:00Z".to_string()),
            ),
        ];
        lift_creation_time(&mut sys, &mut props);
        assert_eq!(
            sys.creation_time_utc.as_deref(),
            Some("2030-01-01T00:00:00Z")
        );
        assert_eq!(props, vec![("a".to_string(), Some("1".to_string()))]);
        // $.ctime came too (decoded by the core): it wins, the other stays a property.
        let t = hubwire::hub::telemetry::parse_topic(
            "devices/d/messages/events/iothub-creation-time-utc=y&%24.ctime=x",
        )
        .unwrap()
        .unwrap();
        let (mut sys, mut props) = (t.system, t.properties);
        lift_creation_time(&mut sys, &mut props);
        assert_eq!(sys.creation_time_utc.as_deref(), Some("x"));
        assert_eq!(
            props,
            vec![(LEGACY_CREATION_TIME_KEY.to_string(), Some("y".to_string()))]
        );
    }

    #[test]
    fn telemetry_log_query_and_cap_succeeds() {
        let mut log = TelemetryLog::new(2);
        for d in ["a", "b", "a"] {
            log.push(TelemetryRecord {
                seq: 0,
                device_id: d.into(),
                module_id: None,
                enqueued_ms: 0,
                system: vec![],
                properties: vec![],
                body: vec![],
            });
        }
        let (all, next) = log.query(0, None, 10);
        assert_eq!(all.iter().map(|r| r.seq).collect::<Vec<_>>(), vec![2, 3]);
        assert_eq!(next, 3);
        let (a, _) = log.query(0, Some("a"), 10);
        assert_eq!(a.len(), 1);
        let (none, next) = log.query(3, None, 10);
        assert!(none.is_empty());
        assert_eq!(next, 3);
        assert_eq!(log.get(2).map(|r| r.device_id.as_str()), Some("b"));
        assert!(log.get(1).is_none() && log.get(4).is_none());
    }

    #[test]
    fn telemetry_log_restore_keeps_newest_and_continues_seq_succeeds() {
        let rec = |seq| TelemetryRecord {
            seq,
            device_id: "d".into(),
            module_id: None,
            enqueued_ms: 0,
            system: vec![],
            properties: vec![],
            body: vec![],
        };
        let mut log = TelemetryLog::new(2);
        log.restore(vec![rec(7), rec(5), rec(6), rec(6)]);
        assert_eq!(log.iter().map(|r| r.seq).collect::<Vec<_>>(), vec![6, 7]);
        assert_eq!(log.push(rec(0)), 8);
        assert_eq!(log.query(6, None, 10).0.len(), 2);
        assert_eq!(log.query(0, None, 10).0.len(), 2);
    }
}
