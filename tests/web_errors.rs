//! The stable JS error `code`s and a few options, end to end in headless
//! Chromium against the real emulator (`scripts/test.sh wasm_test`):
//! INVALID_CONNECTION_STRING, TIMEOUT, DISCONNECTED, QUEUE_FULL, a 429 that a
//! retry absorbs, `modelId`/`productInfo` in the MQTT username, `cleanSession`,
//! the default method handler, and BAD_REQUEST for a reported patch the hub
//! refuses (IoT Hub's twin rules, docs/emulator.md "Limits and refusals"). THROTTLED (a 429 outlasting every retry)
//! takes ~10 s of backoff and has its own target, tests/web_throttled.rs.
#![cfg(target_arch = "wasm32")]
#![forbid(unsafe_code)]

mod web_common;

use js_sys::{Function, Uint8Array};
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use wasm_bindgen_test::{wasm_bindgen_test, wasm_bindgen_test_configure};
use web_common::*;

wasm_bindgen_test_configure!(run_in_browser);

const SECRET: &str = "c2VjcmV0LWtleS12YWx1ZS0xMjM0NTY3ODkw";

fn cs_error(cs: &str) -> JsValue {
    match client_from_cs(cs, None) {
        Ok(_) => panic!("{cs:?} was accepted"),
        Err(e) => e,
    }
}

#[wasm_bindgen_test]
fn invalid_connection_string_names_field_hides_key_fails() {
    for (cs, field) in [
        ("HostName=h.example;DeviceId=d1", "SharedAccessKey"),
        (
            &format!("DeviceId=d1;SharedAccessKey={SECRET}") as &str,
            "HostName",
        ),
        (
            &format!("HostName=h.example;DeviceId=d1;SharedAccessKey={SECRET};DeviceId=d2"),
            "DeviceId",
        ),
        (
            "HostName=h.example;DeviceId=d1;SharedAccessKey=not*base64!TOPSECRET",
            "SharedAccessKey",
        ),
    ] {
        let e = cs_error(cs);
        assert!(e.is_instance_of::<js_sys::Error>(), "{cs}: an Error object");
        assert_eq!(
            text(&e, "code").as_deref(),
            Some("INVALID_CONNECTION_STRING"),
            "{cs}"
        );
        assert_eq!(get(&e, "retryable").as_bool(), Some(false), "{cs}");
        let msg = text(&e, "message").expect("message");
        assert!(msg.contains(field), "{cs}: {msg:?} does not name {field}");
        assert!(
            !msg.contains(SECRET) && !msg.contains("TOPSECRET"),
            "{cs}: {msg:?} shows the key"
        );
    }
}

#[wasm_bindgen_test]
async fn twin_get_unanswered_times_out_fails() {
    let sf = switch_factory();
    let (c, _, _) = connected_client(
        "timeout",
        &[
            ("webSocketFactory", get(&sf, "factory")),
            ("operationTimeoutMs", 400.into()),
        ],
    )
    .await;
    ok(c.get_twin()).await; // answered: the twin subscription is in place
    set(&get(&sf, "ctl"), "mute", &true.into());
    let start = js_sys::Date::now();
    let e = rejection(c.get_twin()).await;
    let took = js_sys::Date::now() - start;
    assert_eq!(text(&e, "code").as_deref(), Some("TIMEOUT"));
    assert_eq!(get(&e, "retryable").as_bool(), Some(true));
    assert!(
        (350.0..3000.0).contains(&took),
        "rejected after {took} ms, operationTimeoutMs is 400"
    );
    set(&get(&sf, "ctl"), "mute", &false.into());
    c.close();
}

#[wasm_bindgen_test]
async fn dropped_connection_reports_disconnected_and_resends_pending_succeeds() {
    let (c, id, _) = connected_client("disc", &[fast_retry()]).await;
    let disconnected = Recorder::new();
    let connected = Recorder::new();
    c.on("disconnected", disconnected.f()).expect("on");
    c.on("connected", connected.f()).expect("on");
    assert_eq!(
        fault(&id, r#"{"kind":"withholdPuback","count":1}"#).await,
        204
    );
    let pending = c.send_event("pending at the drop".into(), None);
    wait(150).await; // the PUBLISH reaches the hub, which keeps its PUBACK
    assert_eq!(fault(&id, r#"{"kind":"drop"}"#).await, 204);
    assert!(
        until(3000, || disconnected.len() == 1).await,
        "drop noticed"
    );
    let d = disconnected.get(0);
    assert_eq!(text(&d, "code").as_deref(), Some("DISCONNECTED"));
    assert_eq!(get(&d, "willRetry").as_bool(), Some(true));
    assert!(until(5000, || connected.len() == 1).await, "reconnected");
    // The QoS 1 message in flight at the drop is resent (DUP) and then acknowledged.
    ok(pending).await;
    assert!(telemetry_bodies(&id)
        .await
        .iter()
        .any(|b| b == "pending at the drop"));
    c.close();
}

#[wasm_bindgen_test]
async fn offline_queue_full_while_reconnecting_fails() {
    let sf = switch_factory();
    let ctl = get(&sf, "ctl");
    let (c, id, _) = connected_client(
        "queue",
        &[
            ("webSocketFactory", get(&sf, "factory")),
            fast_retry(),
            ("offlineQueue", obj(&[("maxMessages", 2.into())])),
        ],
    )
    .await;
    let disconnected = Recorder::new();
    let connected = Recorder::new();
    c.on("disconnected", disconnected.f()).expect("on");
    c.on("connected", connected.f()).expect("on");
    set(&ctl, "block", &true.into()); // every reconnect attempt fails
    assert_eq!(fault(&id, r#"{"kind":"drop"}"#).await, 204);
    assert!(
        until(3000, || disconnected.len() >= 1).await,
        "drop noticed"
    );
    assert_eq!(c.state(), "reconnecting");
    let p1 = c.send_event("q1".into(), None);
    let p2 = c.send_event("q2".into(), None);
    let e = rejection(c.send_event("q3".into(), None)).await;
    assert_eq!(text(&e, "code").as_deref(), Some("QUEUE_FULL"));
    assert_eq!(get(&e, "retryable").as_bool(), Some(true));
    set(&ctl, "block", &false.into());
    assert!(until(5000, || connected.len() == 1).await, "reconnected");
    ok(p1).await;
    ok(p2).await;
    assert_eq!(telemetry_bodies(&id).await, vec!["q1", "q2"]);
    c.close();
}

#[wasm_bindgen_test]
async fn twin_throttled_once_retried_succeeds() {
    // One 429 is absorbed by the core's request retry (1 s backoff, jitter 0.5):
    // THROTTLED only surfaces after every retry (see tests/web_throttled.rs).
    let (c, id, _) = connected_client("throttle1", &[]).await;
    ok(c.get_twin()).await;
    assert_eq!(
        fault(&id, r#"{"kind":"twinThrottle","count":1}"#).await,
        204
    );
    let start = js_sys::Date::now();
    let twin = ok(c.get_twin()).await;
    assert!(get(&twin, "desired.$version").as_f64().is_some());
    let took = js_sys::Date::now() - start;
    assert!(
        took >= 450.0,
        "answered after {took} ms: no backoff before the retry"
    );
    c.close();
}

#[wasm_bindgen_test]
async fn model_id_and_product_info_in_username_succeeds() {
    let (c, id, _) = connected_client(
        "username",
        &[
            ("modelId", "dtmi:com:example:Thermostat;1".into()),
            ("productInfo", "web-test/1.0 (x)".into()),
        ],
    )
    .await;
    let conn = connection_of(&id).await;
    let user = text(&conn, "username").expect("the emulator reports the username");
    assert!(
        user.starts_with(&format!("{}/{id}/?api-version=", host())),
        "{user}"
    );
    assert!(
        user.contains("&model-id=dtmi%3Acom%3Aexample%3AThermostat%3B1"),
        "{user}"
    );
    assert!(
        user.contains("&DeviceClientType=web-test%2F1.0%20%28x%29"),
        "{user}"
    );
    c.close();
}

/// Posts a C2D message to the device; asserts 204.
async fn c2d(id: &str, body: &str) {
    let (status, _) = service(
        "POST",
        &format!("/devices/{id}/messages/deviceBound"),
        Some(body),
        &[],
    )
    .await;
    assert_eq!(status, 204);
}

fn body_text(m: &JsValue) -> String {
    let f: Function = get(m, "text").unchecked_into();
    f.call0(m).expect("text()").as_string().unwrap_or_default()
}

#[wasm_bindgen_test]
async fn clean_session_drops_queued_c2d_succeeds() {
    // Both devices get a C2D message while offline; only the one connecting
    // with cleanSession: false receives it.
    let mut got = Vec::new();
    for clean in [false, true] {
        let (id, key) = new_device("clean").await;
        c2d(&id, &format!("\"offline {clean}\"")).await;
        let c = device_client(&id, &key, &[("cleanSession", clean.into())]);
        let rec = Recorder::new();
        c.on_message(rec.f()).expect("onMessage");
        ok(c.connect()).await;
        let conn = connection_of(&id).await;
        assert_eq!(get(&conn, "cleanSession").as_bool(), Some(clean));
        wait(600).await;
        let before: Vec<String> = (0..rec.len()).map(|i| body_text(&rec.get(i))).collect();
        // Subscribed either way: a message sent now arrives.
        c2d(&id, "\"online\"").await;
        assert!(until(3000, || rec.len() == before.len() + 1).await);
        let last = rec.get(rec.len() - 1);
        assert!(get(&last, "body").is_instance_of::<Uint8Array>());
        assert_eq!(body_text(&last), "\"online\"");
        got.push(before);
        c.close();
    }
    assert_eq!(got[0], vec!["\"offline false\"".to_string()]);
    assert!(got[1].is_empty(), "cleanSession: true kept {:?}", got[1]);
}

#[wasm_bindgen_test]
async fn default_method_handler_answers_unregistered_method_succeeds() {
    let (c, id, _) = connected_client("defmethod", &[]).await;
    let specific = Function::new_with_args("req", "return { status: 200, payload: 'specific' }");
    let fallback = Function::new_with_args(
        "req",
        "return { status: 203, payload: { via: 'default', name: req.name, got: req.payload } }",
    );
    c.on_method("known".into(), Some(specific.unchecked_into()))
        .expect("onMethod(name, handler)");
    c.on_method(fallback.into(), None)
        .expect("onMethod(handler)");
    wait(200).await; // the SUBSCRIBE round trip
    let (status, r) = invoke(&id, "anything", r#"{"n":1}"#).await;
    assert_eq!(status, 200);
    assert_eq!(get(&r, "status").as_f64(), Some(203.0));
    assert_eq!(text(&r, "payload.via").as_deref(), Some("default"));
    assert_eq!(text(&r, "payload.name").as_deref(), Some("anything"));
    assert_eq!(get(&r, "payload.got.n").as_f64(), Some(1.0));
    let (_, r) = invoke(&id, "known", "null").await;
    assert_eq!(get(&r, "status").as_f64(), Some(200.0));
    assert_eq!(text(&r, "payload").as_deref(), Some("specific"));
    c.close();
}

#[wasm_bindgen_test]
async fn disabled_device_refused_unauthorized_fails() {
    // IoT Hub (and the emulator) refuse a disabled device with CONNACK 5: on MQTT
    // it looks like bad credentials, so the client stops with UNAUTHORIZED.
    let (id, key) = new_device("disabled").await;
    let (status, _) = service(
        "PUT",
        &format!("/devices/{id}"),
        Some(&format!(
            "{{\"deviceId\":\"{id}\",\"status\":\"disabled\"}}"
        )),
        &[("If-Match", "*")],
    )
    .await;
    assert_eq!(status, 200);
    let c = device_client(&id, &key, &[fast_retry()]);
    let reconnecting = Recorder::new();
    let disconnected = Recorder::new();
    c.on("reconnecting", reconnecting.f()).expect("on");
    c.on("disconnected", disconnected.f()).expect("on");
    let e = rejection(c.connect()).await;
    assert_eq!(text(&e, "code").as_deref(), Some("UNAUTHORIZED"));
    assert!(text(&e, "message")
        .unwrap_or_default()
        .contains("CONNACK 5"));
    wait(400).await; // several retry delays: nothing may happen
    assert_eq!(reconnecting.len(), 0, "no retry loop for a disabled device");
    assert_eq!(disconnected.len(), 1);
    assert_eq!(
        get(&disconnected.get(0), "willRetry").as_bool(),
        Some(false)
    );
    assert_eq!(c.state(), "disconnected");
    c.close();
}

#[wasm_bindgen_test]
async fn server_unavailable_retried_then_connected_succeeds() {
    // CONNACK 3 is a transient outage (azure-iot-common retries
    // ServiceUnavailableError): connect() keeps trying with backoff.
    let (id, key) = new_device("unavail").await;
    assert_eq!(
        fault(&id, r#"{"kind":"serverUnavailable","count":2}"#).await,
        204
    );
    let c = device_client(&id, &key, &[fast_retry()]);
    let reconnecting = Recorder::new();
    let disconnected = Recorder::new();
    c.on("reconnecting", reconnecting.f()).expect("on");
    c.on("disconnected", disconnected.f()).expect("on");
    ok(c.connect()).await;
    assert_eq!(c.state(), "connected");
    assert_eq!(disconnected.len(), 2);
    for i in 0..2 {
        let d = disconnected.get(i);
        assert_eq!(text(&d, "code").as_deref(), Some("SERVER_UNAVAILABLE"));
        assert_eq!(get(&d, "willRetry").as_bool(), Some(true));
    }
    assert_eq!(reconnecting.len(), 2);
    assert_eq!(get(&reconnecting.get(1), "attempt").as_f64(), Some(2.0));
    assert_eq!(
        get(&connection_of(&id).await, "connected").as_bool(),
        Some(true)
    );
    c.close();
}

#[wasm_bindgen_test]
async fn reported_patch_refused_by_hub_rejects_bad_request_fails() {
    // The hub answers `$iothub/twin/res/400` to a patch that breaks a twin rule;
    // the promise rejects with a typed, non-retryable BAD_REQUEST and nothing is applied.
    let (c, id, _) = connected_client("refused", &[]).await;
    let deep = (0..11).fold(String::from("1"), |v, i| format!("{{\"l{i}\":{v}}}"));
    for patch in [
        r#"{"$meta":1}"#.to_string(),
        r#"{"fw.version":"1.0"}"#.to_string(),
        r#"{"with space":true}"#.to_string(),
        format!(r#"{{"s":"{}"}}"#, "x".repeat(4097)),
        format!(r#"{{"deep":{deep}}}"#),
    ] {
        let e = rejection(c.update_reported_properties(json(&patch))).await;
        assert!(
            e.is_instance_of::<js_sys::Error>(),
            "{patch}: an Error object"
        );
        assert_eq!(text(&e, "code").as_deref(), Some("BAD_REQUEST"), "{patch}");
        assert_eq!(get(&e, "status").as_f64(), Some(400.0), "{patch}");
        assert_eq!(get(&e, "retryable").as_bool(), Some(false), "{patch}");
    }
    // The connection is still there and a valid patch goes through.
    assert_eq!(c.state(), "connected");
    ok(c.update_reported_properties(json(r#"{"fw":{"version":"1.0"}}"#))).await;
    let (status, twin) = service("GET", &format!("/twins/{id}"), None, &[]).await;
    assert_eq!(status, 200);
    let reported = get(&twin, "properties.reported");
    assert_eq!(text(&reported, "fw.version").as_deref(), Some("1.0"));
    assert_eq!(
        get(&reported, "$version").as_f64(),
        Some(2.0),
        "only the valid patch applied"
    );
    c.close();
}
