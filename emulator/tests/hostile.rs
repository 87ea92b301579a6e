//! Every hostile-server variant of the `malformed` fault against hubwire's own
//! client core, in one process on simulated time (like tests/pair.rs): the
//! client reports a typed, retryable error, backs off, and connects again; a
//! flood of C2D messages is delivered in full. The browser and Node halves of
//! these checks (text frames, memory) are tests/reliability/hostile.test.mjs.

use hubwire::hub::client::{ClientConfig, HubEvent};
use hubwire::hub::{Client, Error};
use hubwire_emulator::core::hostile::{MalformedVariant, VARIANT_NAMES};
use hubwire_emulator::core::registry::IdentityId;
use hubwire_emulator::core::{parse_fault, ConnId, Fault, Hub, HubConfig, Output};
use serde_json::json;

const HOST: &str = "hostile.example";
const KEY: &str = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";
const T0: u64 = 1_800_000_000_000;

struct Pair {
    hub: Hub,
    client: Client,
    conn: Option<ConnId>,
    now: u64,
    events: Vec<HubEvent>,
}

impl Pair {
    fn new() -> Pair {
        let mut hub = Hub::new(HubConfig {
            host_name: HOST.into(),
            service_key: KEY.into(),
            max_telemetry: 100,
        });
        let id = IdentityId::device("d");
        hub.put_identity(
            T0,
            &id,
            None,
            Some((KEY.into(), KEY.into())),
            (KEY.into(), KEY.into()),
        )
        .unwrap();
        let cs = format!("HostName={HOST};DeviceId=d;SharedAccessKey={KEY}");
        let mut config = ClientConfig::from_connection_string(&cs).unwrap();
        config.url = Some("ws://localhost/$iothub/websocket".into());
        config.random_seed = 11;
        let mut client = Client::new(config, T0).unwrap();
        client.enable_c2d(T0);
        client.enable_twin_desired(T0);
        client.connect(T0).unwrap();
        let mut p = Pair {
            hub,
            client,
            conn: None,
            now: T0,
            events: Vec::new(),
        };
        p.until(10_000, |e| matches!(e, HubEvent::Connected));
        p.events.clear();
        p
    }

    fn pump(&mut self) {
        loop {
            let mut busy = false;
            while let Some(ev) = self.client.poll_event() {
                busy = true;
                match ev {
                    HubEvent::OpenTransport { .. } => {
                        self.conn = Some(self.hub.connection_opened(self.now));
                        self.client.transport_opened(self.now);
                    }
                    HubEvent::CloseTransport => {
                        if let Some(c) = self.conn.take() {
                            self.hub.connection_closed(self.now, c);
                        }
                    }
                    other => self.events.push(other),
                }
            }
            while let Some(bytes) = self.client.poll_transmit() {
                busy = true;
                if let Some(c) = self.conn {
                    self.hub.handle_bytes(self.now, c, &bytes);
                }
            }
            while let Some(o) = self.hub.poll_output() {
                busy = true;
                match o {
                    Output::Transmit { conn, bytes } if Some(conn) == self.conn => {
                        self.client.handle_bytes(self.now, &bytes)
                    }
                    Output::Close { conn, .. } if Some(conn) == self.conn => {
                        self.conn = None;
                        self.client.connection_lost(self.now);
                    }
                    _ => {}
                }
            }
            if !busy {
                return;
            }
        }
    }

    /// Runs simulated time until an event matches (it stays in `events`).
    fn until(&mut self, max_ms: u64, f: impl Fn(&HubEvent) -> bool) {
        let limit = self.now + max_ms;
        loop {
            self.pump();
            if self.events.iter().any(&f) {
                return;
            }
            assert!(
                self.now < limit,
                "nothing matched in {max_ms} ms: {:?}",
                self.events
            );
            let next = [self.client.poll_timeout(), self.hub.poll_timeout()]
                .into_iter()
                .flatten()
                .min();
            self.now = next.unwrap_or(limit).clamp(self.now, limit);
            self.client.handle_timeout(self.now);
            self.hub.handle_timeout(self.now);
        }
    }

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
        let mut p = Pair::new();
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
    let mut p = Pair::new();
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
    let mut p = Pair::new();
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
