//! The "Pair" test (after quinn's harness): hubwire's own device client core
//! (`hubwire::hub::Client`) against the emulator's hub core, in one process, on
//! simulated time, with no sockets. Bytes go straight from one core to the other.

use hubwire::hub::client::{HubEvent, OpId, OpResult};
use hubwire::hub::{SystemProperties, Telemetry};
use hubwire_emulator::core::registry::IdentityId;
use hubwire_emulator::core::{C2dMessage, Fault, MethodResult, Output};
use serde_json::{json, Value};

mod support;
use support::pair::{Pair, KEY};

impl Pair {
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
