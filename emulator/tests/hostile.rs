//! Every hostile-server variant of the `malformed` fault against hubwire's own
//! client core, in one process on simulated time (like tests/pair.rs): the
//! client reports a typed, retryable error, backs off, and connects again; a
//! flood of C2D messages is delivered in full. The browser and Node halves of
//! these checks (text frames, memory) are tests/reliability/hostile.test.mjs.

use hubwire::hub::client::HubEvent;
use hubwire::hub::Error;
use hubwire_emulator::core::hostile::{MalformedVariant, VARIANT_NAMES};
use hubwire_emulator::core::registry::IdentityId;
use hubwire_emulator::core::{parse_fault, Fault};
use serde_json::json;

mod support;
use support::pair::{Pair, T0};

/// A connected pair (device "d", C2D and desired properties on), its events cleared.
fn connected() -> Pair {
    let mut p = Pair::with_seed("d", 11);
    p.client.enable_c2d(T0);
    p.client.enable_twin_desired(T0);
    p.client.connect(T0).unwrap();
    p.until(10_000, |e| matches!(e, HubEvent::Connected));
    p.events.clear();
    p
}

impl Pair {
    fn inject(&mut self, body: serde_json::Value) {
        let f = parse_fault(&body).unwrap();
        self.hub
            .inject_fault(self.now, &IdentityId::device("d"), f)
            .unwrap();
    }
}

fn disconnects(events: &[HubEvent]) -> Vec<(Error, bool)> {
    events
        .iter()
        .filter_map(|e| match e {
            HubEvent::Disconnected { reason, will_retry } => Some((reason.clone(), *will_retry)),
            _ => None,
        })
        .collect()
}

#[test]
fn hostile_packet_variants_end_connection_with_protocol_error_then_reconnect_succeeds() {
    let immediate = VARIANT_NAMES
        .iter()
        .filter(|v| !matches!(**v, "connackUnknownCode" | "textFrame" | "flood"));
    for variant in immediate {
        let mut p = connected();
        p.inject(json!({"kind": "malformed", "variant": variant}));
        p.until(60_000, |e| matches!(e, HubEvent::Connected));
        let d = disconnects(&p.events);
        // Errors say what was received (mqtt::Error::summary); a length over the
        // client's limit is told apart from a packet it refuses.
        let want = match *variant {
            "closeMidPacket" => Error::Disconnected,
            "oversized" | "maxRemainingLength" => {
                Error::Protocol("received a packet over the size limit")
            }
            _ => Error::Protocol("received a packet we refuse"),
        };
        assert_eq!(d, vec![(want, true)], "{variant}: {:?}", p.events);
        assert!(
            p.events.iter().any(|e| matches!(e, HubEvent::Reconnecting { attempt: 1, delay_ms } if *delay_ms <= 1000)),
            "{variant}: backoff before reconnecting: {:?}",
            p.events
        );
    }
}

#[test]
fn hostile_connack_unknown_code_is_retried_with_growing_backoff_succeeds() {
    let mut p = connected();
    p.inject(json!({"kind": "malformed", "variant": "connackUnknownCode", "code": 6, "count": 3}));
    p.inject(json!({"kind": "drop"}));
    p.until(120_000, |e| matches!(e, HubEvent::Connected));
    let attempts: Vec<u32> = p
        .events
        .iter()
        .filter_map(|e| match e {
            HubEvent::Reconnecting { attempt, .. } => Some(*attempt),
            _ => None,
        })
        .collect();
    assert_eq!(attempts, vec![1, 2, 3, 4], "{:?}", p.events);
    let d = disconnects(&p.events);
    assert_eq!(d.len(), 4);
    assert!(d[1..]
        .iter()
        .all(|(e, retry)| *retry && *e == Error::Protocol("received a packet we refuse")));
}

#[test]
fn hostile_flood_is_delivered_in_full_succeeds() {
    let mut p = connected();
    assert_eq!(
        parse_fault(&json!({"kind": "malformed", "variant": "flood", "count": 3000, "size": 100})),
        Ok(Fault::Malformed(MalformedVariant::Flood {
            count: 3000,
            size: 100
        }))
    );
    p.inject(json!({"kind": "malformed", "variant": "flood", "count": 3000, "size": 100}));
    p.pump();
    let got = p
        .events
        .iter()
        .filter(|e| matches!(e, HubEvent::C2d(m) if m.payload.len() == 100))
        .count();
    assert_eq!(got, 3000);
    assert!(disconnects(&p.events).is_empty(), "{:?}", &p.events[..3]);
}
