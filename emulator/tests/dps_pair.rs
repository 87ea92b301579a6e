//! The DPS "Pair" test: hubwire's sans-IO provisioning client (`hubwire::dps::Client`)
//! against the emulator's core, in one process, on simulated time, with no sockets;
//! then `hubwire::hub::Client` connects with the assigned identity and sends telemetry.

use hubwire::dps::{self, DpsEvent};
use hubwire::hub::client::{ClientConfig, HubEvent, OpResult};
use hubwire::hub::{Client as HubClient, Telemetry};
use hubwire_emulator::core::dps::DEFAULT_ID_SCOPE;
use hubwire_emulator::core::registry::IdentityId;
use hubwire_emulator::core::{ConnId, Hub, HubConfig, Output};
use serde_json::json;

const HOST: &str = "pair.example";
const KEY: &str = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";
const GROUP_KEY: &str = "ICEiIyQlJicoKSorLC0uLzAxMjM0NTY3ODk6Ozw9Pj8=";
const T0: u64 = 1_800_000_000_000;
/// Never opened (bytes go from core to core); loopback, which the hub client requires of ws://.
const URL: &str = "ws://localhost/$iothub/websocket";

/// One simulated transport between a client core and the hub core.
trait Side {
    fn poll_transmit(&mut self) -> Option<Vec<u8>>;
    fn handle_bytes(&mut self, now: u64, b: &[u8]);
    fn connection_lost(&mut self, now: u64);
    fn handle_timeout(&mut self, now: u64);
    fn poll_timeout(&self) -> Option<u64>;
}

impl Side for dps::Client {
    fn poll_transmit(&mut self) -> Option<Vec<u8>> {
        dps::Client::poll_transmit(self)
    }
    fn handle_bytes(&mut self, now: u64, b: &[u8]) {
        dps::Client::handle_bytes(self, now, b)
    }
    fn connection_lost(&mut self, now: u64) {
        dps::Client::connection_lost(self, now)
    }
    fn handle_timeout(&mut self, now: u64) {
        dps::Client::handle_timeout(self, now)
    }
    fn poll_timeout(&self) -> Option<u64> {
        dps::Client::poll_timeout(self)
    }
}

impl Side for HubClient {
    fn poll_transmit(&mut self) -> Option<Vec<u8>> {
        HubClient::poll_transmit(self)
    }
    fn handle_bytes(&mut self, now: u64, b: &[u8]) {
        HubClient::handle_bytes(self, now, b)
    }
    fn connection_lost(&mut self, now: u64) {
        HubClient::connection_lost(self, now)
    }
    fn handle_timeout(&mut self, now: u64) {
        HubClient::handle_timeout(self, now)
    }
    fn poll_timeout(&self) -> Option<u64> {
        HubClient::poll_timeout(self)
    }
}

struct World {
    hub: Hub,
    now: u64,
    conn: Option<ConnId>,
    transports: u32,
}

impl World {
    fn new() -> World {
        World {
            hub: Hub::new(HubConfig {
                host_name: HOST.into(),
                service_key: KEY.into(),
                max_telemetry: 100,
            }),
            now: T0,
            conn: None,
            transports: 0,
        }
    }

    /// Moves bytes both ways until quiet; `open`/`close` carry out transport events.
    fn shuttle(&mut self, c: &mut impl Side) {
        loop {
            let mut busy = false;
            while let Some(b) = c.poll_transmit() {
                busy = true;
                if let Some(conn) = self.conn {
                    self.hub.handle_bytes(self.now, conn, &b);
                }
            }
            while let Some(o) = self.hub.poll_output() {
                match o {
                    Output::Transmit { conn, bytes } if Some(conn) == self.conn => {
                        busy = true;
                        c.handle_bytes(self.now, &bytes);
                    }
                    Output::Close { conn, .. } if Some(conn) == self.conn => {
                        busy = true;
                        self.conn = None;
                        c.connection_lost(self.now);
                    }
                    _ => {}
                }
            }
            if !busy {
                return;
            }
        }
    }

    fn open(&mut self) {
        self.conn = Some(self.hub.connection_opened(self.now));
        self.transports += 1;
    }

    fn close(&mut self) {
        if let Some(c) = self.conn.take() {
            self.hub.connection_closed(self.now, c);
        }
    }

    /// Advances to the next timer of either core (at most `limit`).
    fn tick(&mut self, c: &mut impl Side, limit: u64) {
        let next = [c.poll_timeout(), self.hub.poll_timeout()]
            .into_iter()
            .flatten()
            .min();
        self.now = next.unwrap_or(limit).clamp(self.now, limit);
        c.handle_timeout(self.now);
        self.hub.handle_timeout(self.now);
    }

    /// Runs a registration to its end; returns every event.
    fn provision(&mut self, c: &mut dps::Client, max_ms: u64) -> Vec<DpsEvent> {
        let limit = self.now + max_ms;
        let mut all = Vec::new();
        c.register(self.now);
        loop {
            self.shuttle(c);
            let mut ended = false;
            let mut acted = false;
            while let Some(ev) = c.poll_event() {
                acted = true;
                match &ev {
                    DpsEvent::OpenTransport { url } => {
                        assert_eq!(url, URL);
                        self.open();
                        c.transport_opened(self.now);
                    }
                    DpsEvent::CloseTransport => {
                        self.shuttle(c);
                        self.close();
                    }
                    DpsEvent::Assigned(_) | DpsEvent::Failed(_) => ended = true,
                    _ => {}
                }
                all.push(ev);
            }
            if ended {
                self.shuttle(c);
                return all;
            }
            if acted {
                continue; // carry out what the events asked before time moves
            }
            assert!(self.now < limit, "no end within {max_ms} ms: {all:?}");
            self.tick(c, limit);
        }
    }

    /// Connects a hub client and sends one telemetry message; returns the client.
    fn connect_and_send(&mut self, mut config: ClientConfig, body: &[u8]) -> HubClient {
        config.url = Some(URL.into());
        let mut c = HubClient::new(config, self.now).unwrap();
        c.connect(self.now).unwrap();
        let limit = self.now + 30_000;
        let mut op = None;
        loop {
            self.shuttle(&mut c);
            let mut acted = false;
            while let Some(ev) = c.poll_event() {
                acted = true;
                match ev {
                    HubEvent::OpenTransport { .. } => {
                        self.open();
                        c.transport_opened(self.now);
                    }
                    HubEvent::CloseTransport => self.close(),
                    HubEvent::Connected => {
                        op = Some(
                            c.send_event(self.now, Telemetry::new(body.to_vec()))
                                .unwrap(),
                        );
                    }
                    HubEvent::Completed { op: o, result } if Some(o) == op => {
                        assert_eq!(result, Ok(OpResult::Sent));
                        return c;
                    }
                    HubEvent::Disconnected { reason, .. } => panic!("hub refused: {reason:?}"),
                    _ => {}
                }
            }
            if acted {
                continue;
            }
            assert!(self.now < limit, "no telemetry acknowledgement");
            self.tick(&mut c, limit);
        }
    }
}

fn config(c: dps::Config) -> dps::Config {
    let mut c = c;
    c.url = Some(URL.into());
    c.random_seed = 11;
    c
}

fn assigned(events: &[DpsEvent]) -> dps::Assignment {
    match events.last() {
        Some(DpsEvent::Assigned(a)) => (**a).clone(),
        other => panic!("expected Assigned, got {other:?} in {events:?}"),
    }
}

#[test]
fn dps_pair_individual_enrollment_then_hub_telemetry_succeeds() {
    let mut w = World::new();
    w.hub
        .dps_put_enrollment(
            T0,
            "pair-dev-1",
            &json!({"attestation": {"type": "symmetricKey", "symmetricKey": {"primaryKey": KEY, "secondaryKey": KEY}}}),
            None,
            (KEY.into(), KEY.into()),
        )
        .unwrap();
    let mut cfg =
        config(dps::Config::from_symmetric_key(DEFAULT_ID_SCOPE, "pair-dev-1", KEY).unwrap());
    cfg.model_id = Some("dtmi:com:example:Thermostat;1".into());
    let mut c = dps::Client::new(cfg, w.now).unwrap();
    let events = w.provision(&mut c, 60_000);
    assert!(
        events.iter().any(|e| matches!(
            e,
            DpsEvent::Assigning {
                retry_after_ms: 1000,
                ..
            }
        )),
        "202 + retry-after 1 s first: {events:?}"
    );
    let a = assigned(&events);
    assert_eq!(
        (a.assigned_hub.as_str(), a.device_id.as_str()),
        (HOST, "pair-dev-1")
    );
    assert_eq!(w.now, T0 + 1000, "polled once, after retry-after");
    let reg = w.hub.dps_registration("pair-dev-1").unwrap();
    assert_eq!(
        reg["payload"],
        json!({"modelId": "dtmi:com:example:Thermostat;1"})
    );

    // The assigned identity connects to the hub and its telemetry is recorded.
    let hub_config = a.hub_config().unwrap();
    let mut hc = w.connect_and_send(hub_config, b"{\"t\":21}");
    let items = w.hub.telemetry_json(0, Some("pair-dev-1"), 10);
    assert_eq!(items["items"][0]["body"], "{\"t\":21}");
    let conn = w
        .hub
        .connection_info(&IdentityId::device("pair-dev-1"))
        .unwrap();
    assert!(conn
        .username
        .unwrap()
        .contains("model-id=dtmi%3Acom%3Aexample%3AThermostat%3B1"));
    hc.disconnect(w.now);
}

#[test]
fn dps_pair_group_enrollment_derived_key_then_hub_succeeds() {
    let mut w = World::new();
    w.hub
        .dps_put_group(
            T0,
            "fleet",
            &json!({"attestation": {"type": "symmetricKey", "symmetricKey": {"primaryKey": GROUP_KEY, "secondaryKey": KEY}}}),
            None,
            (KEY.into(), KEY.into()),
        )
        .unwrap();
    for reg in ["truck-1", "truck-2"] {
        let cfg = config(dps::Config::from_group_key(DEFAULT_ID_SCOPE, reg, GROUP_KEY).unwrap());
        let mut c = dps::Client::new(cfg, w.now).unwrap();
        let a = assigned(&w.provision(&mut c, 60_000));
        assert_eq!(a.device_id, reg);
        w.connect_and_send(a.hub_config().unwrap(), reg.as_bytes());
    }
    assert_eq!(
        w.hub
            .dps_group_registrations("fleet")
            .unwrap()
            .as_array()
            .unwrap()
            .len(),
        2
    );
}

#[test]
fn dps_pair_throttled_and_slow_assignment_succeeds() {
    let mut w = World::new();
    w.hub
        .dps_put_enrollment(T0, "slow-1", &json!({}), None, (KEY.into(), KEY.into()))
        .unwrap();
    w.hub
        .dps_inject_fault(
            "slow-1",
            &json!({"kind": "throttle", "count": 2, "retryAfterSeconds": 3}),
        )
        .unwrap();
    w.hub
        .dps_inject_fault("slow-1", &json!({"kind": "slowAssignment", "ms": 4000}))
        .unwrap();
    let cfg = config(dps::Config::from_symmetric_key(DEFAULT_ID_SCOPE, "slow-1", KEY).unwrap());
    let mut c = dps::Client::new(cfg, w.now).unwrap();
    let events = w.provision(&mut c, 60_000);
    let throttled: Vec<u64> = events
        .iter()
        .filter_map(|e| match e {
            DpsEvent::Retrying {
                delay_ms, reason, ..
            } if reason.status() == Some(429) => Some(*delay_ms),
            _ => None,
        })
        .collect();
    assert_eq!(throttled, [3000, 3000], "retry-after honoured: {events:?}");
    let polls = events
        .iter()
        .filter(|e| matches!(e, DpsEvent::Assigning { .. }))
        .count();
    assert!(
        polls >= 4,
        "assigning until the slow assignment is ready: {events:?}"
    );
    assigned(&events);
    assert_eq!(
        w.now,
        T0 + 6000 + 4000,
        "2 × 3 s throttled, then 4 s assigning"
    );
    assert_eq!(w.transports, 1, "one connection throughout");
}

#[test]
fn dps_pair_bad_key_fails_typed_without_retrying_fails() {
    let mut w = World::new();
    w.hub
        .dps_put_enrollment(T0, "bad-1", &json!({}), None, (KEY.into(), KEY.into()))
        .unwrap();
    let cfg =
        config(dps::Config::from_symmetric_key(DEFAULT_ID_SCOPE, "bad-1", GROUP_KEY).unwrap());
    let mut c = dps::Client::new(cfg, w.now).unwrap();
    let events = w.provision(&mut c, 60_000);
    let Some(DpsEvent::Failed(err)) = events.last() else {
        panic!("{events:?}")
    };
    assert_eq!(err.code(), "UNAUTHORIZED");
    assert_eq!(err.dps_details().0, Some(401_002));
    assert_eq!(w.now, T0, "refused at once, no retry");
    assert_eq!(w.transports, 1);
    assert!(!events
        .iter()
        .any(|e| matches!(e, DpsEvent::Retrying { .. })));
    assert!(w.hub.identity_json(&IdentityId::device("bad-1")).is_err());
}

#[test]
fn dps_pair_disabled_and_failed_end_typed_fails() {
    let mut w = World::new();
    w.hub
        .dps_put_enrollment(
            T0,
            "off-1",
            &json!({"provisioningStatus": "disabled"}),
            None,
            (KEY.into(), KEY.into()),
        )
        .unwrap();
    w.hub
        .dps_put_enrollment(T0, "fail-1", &json!({}), None, (KEY.into(), KEY.into()))
        .unwrap();
    w.hub
        .dps_inject_fault(
            "fail-1",
            &json!({"kind": "failAssignment", "errorCode": 400209, "errorMessage": "no hub"}),
        )
        .unwrap();
    for (reg, code) in [
        ("off-1", "REGISTRATION_DISABLED"),
        ("fail-1", "REGISTRATION_FAILED"),
    ] {
        let cfg = config(dps::Config::from_symmetric_key(DEFAULT_ID_SCOPE, reg, KEY).unwrap());
        let mut c = dps::Client::new(cfg, w.now).unwrap();
        let events = w.provision(&mut c, 60_000);
        let Some(DpsEvent::Failed(err)) = events.last() else {
            panic!("{events:?}")
        };
        assert_eq!(err.code(), code, "{err:?}");
    }
}

#[test]
fn dps_pair_transport_dropped_mid_registration_recovers_succeeds() {
    let mut w = World::new();
    w.hub
        .dps_put_enrollment(T0, "drop-1", &json!({}), None, (KEY.into(), KEY.into()))
        .unwrap();
    w.hub
        .dps_inject_fault("drop-1", &json!({"kind": "slowAssignment", "ms": 3000}))
        .unwrap();
    let cfg = config(dps::Config::from_symmetric_key(DEFAULT_ID_SCOPE, "drop-1", KEY).unwrap());
    let mut c = dps::Client::new(cfg, w.now).unwrap();
    c.register(w.now);
    // Drive until the first Assigning, then cut the transport under the client.
    loop {
        w.shuttle(&mut c);
        let mut seen = false;
        let mut acted = false;
        while let Some(ev) = c.poll_event() {
            acted = true;
            match ev {
                DpsEvent::OpenTransport { .. } => {
                    w.open();
                    c.transport_opened(w.now);
                }
                DpsEvent::Assigning { .. } => seen = true,
                _ => {}
            }
        }
        if seen {
            break;
        }
        if !acted {
            w.tick(&mut c, T0 + 10_000);
        }
    }
    w.close();
    c.connection_lost(w.now);
    let op = c.operation_id().unwrap().to_string();
    // provision() calls register(), harmless while running; it drives the rest.
    let events = w.provision(&mut c, 120_000);
    assert!(events
        .iter()
        .any(|e| matches!(e, DpsEvent::Retrying { .. })));
    assert_eq!(assigned(&events).device_id, "drop-1");
    assert_eq!(w.transports, 2);
    assert_eq!(
        c.operation_id(),
        Some(op.as_str()),
        "the same operation was polled"
    );
}
