//! The "Pair" test (after quinn's harness): hubwire's own device client core
//! (`hubwire::hub::Client`) against the emulator's hub core, in one process, on
//! simulated time, with no sockets. Bytes go straight from one core to the other.

use hubwire::hub::client::{ClientConfig, HubEvent, OpId, OpResult};
use hubwire::hub::{Client, SystemProperties, Telemetry};
use hubwire_emulator::core::registry::IdentityId;
use hubwire_emulator::core::{C2dMessage, ConnId, Fault, Hub, HubConfig, MethodResult, Output};
use serde_json::{json, Value};

/// The client's endpoint: never opened, bytes go from core to core.
const URL: &str = "ws://localhost/$iothub/websocket";
const HOST: &str = "pair.example";
const KEY: &str = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";
const T0: u64 = 1_800_000_000_000;

struct Pair {
    hub: Hub,
    client: Client,
    conn: Option<ConnId>,
    now: u64,
    events: Vec<HubEvent>,
    hub_outputs: Vec<Output>,
    transports: u32,
}

impl Pair {
    fn new(device: &str) -> Pair {
        let mut hub = Hub::new(HubConfig {
            host_name: HOST.into(),
            service_key: KEY.into(),
            max_telemetry: 100,
        });
        let id = IdentityId::device(device);
        hub.put_identity(
            T0,
            &id,
            None,
            Some((KEY.into(), KEY.into())),
            (KEY.into(), KEY.into()),
        )
        .unwrap();
        let cs = format!("HostName={HOST};DeviceId={device};SharedAccessKey={KEY}");
        let mut config = ClientConfig::from_connection_string(&cs).unwrap();
        config.url = Some(URL.into());
        config.random_seed = 7;
        let client = Client::new(config, T0).unwrap();
        Pair {
            hub,
            client,
            conn: None,
            now: T0,
            events: Vec::new(),
            hub_outputs: Vec::new(),
            transports: 0,
        }
    }

    /// Moves bytes and events between the two cores until both are quiet.
    fn pump(&mut self) {
        loop {
            let mut busy = false;
            while let Some(ev) = self.client.poll_event() {
                busy = true;
                match ev {
                    HubEvent::OpenTransport { url } => {
                        assert_eq!(url, URL);
                        self.conn = Some(self.hub.connection_opened(self.now));
                        self.transports += 1;
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
                    Output::Transmit { .. } | Output::Close { .. } => {}
                    other => self.hub_outputs.push(other),
                }
            }
            if !busy {
                return;
            }
        }
    }

    /// Advances simulated time to the earlier of both cores' timers (or `limit`).
    fn tick(&mut self, limit: u64) {
        let next = [self.client.poll_timeout(), self.hub.poll_timeout()]
            .into_iter()
            .flatten()
            .min();
        self.now = next.unwrap_or(limit).clamp(self.now, limit);
        self.client.handle_timeout(self.now);
        self.hub.handle_timeout(self.now);
        self.pump();
    }

    /// Runs until `pick` finds an event (removing it), at most `max_ms` of simulated time.
    fn wait<T>(&mut self, max_ms: u64, mut pick: impl FnMut(&HubEvent) -> Option<T>) -> T {
        let limit = self.now + max_ms;
        loop {
            self.pump();
            if let Some(i) = self.events.iter().position(|e| pick(e).is_some()) {
                let e = self.events.remove(i);
                return pick(&e).unwrap();
            }
            assert!(
                self.now < limit,
                "nothing matched within {max_ms} ms; events: {:?}",
                self.events
            );
            self.tick(limit);
        }
    }

    fn completed(&mut self, op: OpId) -> OpResult {
        self.wait(60_000, |e| match e {
            HubEvent::Completed { op: o, result } if *o == op => {
                Some(result.clone().expect("operation succeeded"))
            }
            _ => None,
        })
    }

    fn connected(&mut self) {
        self.wait(10_000, |e| matches!(e, HubEvent::Connected).then_some(()));
    }
}

#[test]
fn pair_full_session_succeeds() {
    let mut p = Pair::new("pair1");
    let id = IdentityId::device("pair1");

    // Connect.
    p.client.connect(p.now).unwrap();
    p.connected();
    let info = p.hub.connection_info(&id).unwrap();
    assert!(info.connected && !info.clean_session);

    // Telemetry with system and application properties, acknowledged by PUBACK.
    let mut msg = Telemetry::new(&b"{\"t\":21.5}"[..])
        .property("my key", "a b&c=d")
        .property("subdelims", "!'()*");
    msg.system = SystemProperties {
        message_id: Some("m 1".into()),
        content_type: Some("application/json".into()),
        content_encoding: Some("utf-8".into()),
        ..SystemProperties::default()
    };
    let op = p.client.send_event(p.now, msg).unwrap();
    assert_eq!(p.completed(op), OpResult::Sent);
    let t = p.hub.telemetry_json(0, Some("pair1"), 10);
    let item = &t["items"][0];
    assert_eq!(item["body"], "{\"t\":21.5}");
    assert_eq!(item["systemProperties"]["messageId"], "m 1");
    assert_eq!(item["systemProperties"]["contentType"], "application/json");
    assert_eq!(
        item["properties"],
        json!({"my key": "a b&c=d", "subdelims": "!'()*"})
    );

    // Cloud-to-device.
    p.client.enable_c2d(p.now);
    p.pump();
    p.hub
        .send_c2d(
            p.now,
            "pair1",
            C2dMessage {
                payload: b"reboot please".to_vec(),
                message_id: Some("c2d 1".into()),
                ack: Some("full".into()),
                properties: vec![("k".into(), "v&w".into())],
                ..C2dMessage::default()
            },
        )
        .unwrap();
    let m = p.wait(5_000, |e| match e {
        HubEvent::C2d(m) => Some(m.clone()),
        _ => None,
    });
    assert_eq!(&m.payload[..], b"reboot please");
    assert_eq!(m.system.message_id.as_deref(), Some("c2d 1"));
    assert_eq!(
        m.system.to.as_deref(),
        Some("/devices/pair1/messages/deviceBound")
    );
    assert_eq!(
        m.properties,
        vec![
            ("iothub-ack".to_string(), Some("full".to_string())),
            ("k".to_string(), Some("v&w".to_string()))
        ]
    );
    p.pump();
    assert_eq!(
        p.hub.c2d_pending("pair1"),
        0,
        "the client's PUBACK removed it"
    );

    // Twin: GET, reported PATCH, desired notification.
    p.hub
        .patch_twin(
            p.now,
            &id,
            &json!({"properties": {"desired": {"interval": 5}}}),
        )
        .unwrap();
    p.client.enable_twin_desired(p.now);
    let op = p.client.get_twin(p.now).unwrap();
    let OpResult::Twin(doc) = p.completed(op) else {
        panic!("expected a twin document")
    };
    let doc: Value = serde_json::from_str(&doc).unwrap();
    assert_eq!(doc["desired"], json!({"interval": 5, "$version": 2}));
    assert_eq!(doc["reported"], json!({"$version": 1}));

    let op = p
        .client
        .update_reported(p.now, r#"{"fw":"1.2","nested":{"a":1}}"#.into())
        .unwrap();
    assert_eq!(p.completed(op), OpResult::Reported { version: Some(2) });
    let twin = p.hub.twin_json(&id).unwrap();
    assert_eq!(
        twin["properties"]["reported"],
        json!({"fw": "1.2", "nested": {"a": 1}, "$version": 2})
    );

    p.hub
        .patch_twin(
            p.now,
            &id,
            &json!({"properties": {"desired": {"interval": 10}}}),
        )
        .unwrap();
    let (version, patch) = p.wait(5_000, |e| match e {
        HubEvent::DesiredPatch { version, json, .. } => Some((*version, json.clone())),
        _ => None,
    });
    assert_eq!(version, 3);
    assert_eq!(
        serde_json::from_str::<Value>(&patch).unwrap()["interval"],
        10
    );

    // Direct method: invoke through the hub, answer from the client.
    p.client.enable_methods(p.now);
    p.pump();
    let call = p
        .hub
        .invoke_method(p.now, &id, "reboot", br#"{"delay":1}"#.to_vec(), 30_000, 0)
        .unwrap();
    let (rid, name, payload) = p.wait(5_000, |e| match e {
        HubEvent::MethodCall {
            rid, name, payload, ..
        } => Some((rid.clone(), name.clone(), payload.clone())),
        _ => None,
    });
    assert_eq!(
        (name.as_str(), payload.as_str()),
        ("reboot", r#"{"delay":1}"#)
    );
    p.client
        .respond_method(p.now, &rid, 200, Some(r#"{"ok":true}"#.into()))
        .unwrap();
    p.pump();
    assert!(p.hub_outputs.contains(&Output::MethodDone {
        call,
        result: MethodResult::Response {
            status: 200,
            payload: br#"{"ok":true}"#.to_vec()
        }
    }));

    // Disconnect cleanly.
    p.client.disconnect(p.now);
    p.pump();
    assert!(!p.hub.connection_info(&id).unwrap().connected);
}

#[test]
fn pair_dropped_connection_reconnects_and_resends_succeeds() {
    let mut p = Pair::new("pair2");
    let id = IdentityId::device("pair2");
    p.client.connect(p.now).unwrap();
    p.connected();

    // The hub withholds the PUBACK, then drops the connection: the client must
    // reconnect by itself and resend the unacknowledged message (DUP).
    p.hub
        .inject_fault(p.now, &id, Fault::WithholdPuback { count: 1 })
        .unwrap();
    let op = p
        .client
        .send_event(p.now, Telemetry::new(&b"once"[..]))
        .unwrap();
    p.pump();
    assert_eq!(
        p.hub.telemetry_json(0, None, 10)["items"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    p.hub.inject_fault(p.now, &id, Fault::Drop).unwrap();
    p.pump();
    let retry = p.wait(1_000, |e| match e {
        HubEvent::Disconnected { will_retry, .. } => Some(*will_retry),
        _ => None,
    });
    assert!(retry);
    p.connected();
    assert_eq!(p.completed(op), OpResult::Sent);
    assert_eq!(p.transports, 2);
    // At-least-once: the hub recorded the message again after the resend.
    assert_eq!(
        p.hub.telemetry_json(0, None, 10)["items"]
            .as_array()
            .unwrap()
            .len(),
        2
    );
    assert_eq!(p.hub.connection_info(&id).unwrap().connections, 2);
}

#[test]
fn pair_throttled_twin_get_retried_succeeds() {
    let mut p = Pair::new("pair3");
    let id = IdentityId::device("pair3");
    p.client.connect(p.now).unwrap();
    p.connected();
    p.hub
        .inject_fault(p.now, &id, Fault::TwinThrottle { count: 2 })
        .unwrap();
    let start = p.now;
    let op = p.client.get_twin(p.now).unwrap();
    let OpResult::Twin(doc) = p.completed(op) else {
        panic!("expected a twin document")
    };
    assert!(doc.contains("\"$version\":1"));
    assert!(p.now > start, "the client backed off before retrying");
}

#[test]
fn pair_wrong_key_refused_fails() {
    let mut p = Pair::new("pair4");
    p.hub
        .put_identity(
            p.now,
            &IdentityId::device("pair4"),
            None,
            Some((
                "ICEiIyQlJicoKSorLC0uLzAxMjM0NTY3ODk6Ozw9Pj8=".into(),
                "ICEiIyQlJicoKSorLC0uLzAxMjM0NTY3ODk6Ozw9Pj8=".into(),
            )),
            (KEY.into(), KEY.into()),
        )
        .unwrap();
    p.client.connect(p.now).unwrap();
    let (will_retry, reason) = p.wait(10_000, |e| match e {
        HubEvent::Disconnected { will_retry, reason } => Some((*will_retry, format!("{reason:?}"))),
        _ => None,
    });
    assert!(!will_retry, "a refused key is fatal");
    assert!(reason.contains("Unauthorized"), "{reason}");
}

#[test]
fn pair_disabled_device_refused_5_stops_unauthorized_fails() {
    let mut p = Pair::new("pair5");
    p.hub
        .put_identity(
            p.now,
            &IdentityId::device("pair5"),
            Some(false),
            None,
            (KEY.into(), KEY.into()),
        )
        .unwrap();
    p.client.connect(p.now).unwrap();
    let (will_retry, reason) = p.wait(10_000, |e| match e {
        HubEvent::Disconnected { will_retry, reason } => Some((*will_retry, reason.clone())),
        _ => None,
    });
    assert!(!will_retry, "a disabled device is fatal");
    assert_eq!(reason, hubwire::hub::Error::Unauthorized { code: 5 });
    assert_eq!(reason.code(), "UNAUTHORIZED");
}
