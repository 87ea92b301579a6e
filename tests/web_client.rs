//! End-to-end tests of the wasm `DeviceClient` in headless Chromium against the
//! real emulator (`wasm-pack test --headless --chrome`, started by scripts/test.sh,
//! which exports the emulator's addresses at build time).
//!
//! Every test creates its own device through the service API, so tests do not
//! share state. Service calls are signed with hubwire's own SAS function; the
//! address, service-call and client helpers live in tests/web_common.
#![cfg(target_arch = "wasm32")]
#![forbid(unsafe_code)]

mod web_common;

use hubwire::hub::sas;
use js_sys::{Array, Function, Promise, Reflect, Uint8Array};
use std::cell::RefCell;
use std::rc::Rc;
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use wasm_bindgen_test::{wasm_bindgen_test, wasm_bindgen_test_configure};
use web_common::*;

wasm_bindgen_test_configure!(run_in_browser);

#[wasm_bindgen(inline_js = r#"
// A webSocketFactory that resolves asynchronously (like the Cloudflare adapter)
// and counts the listeners hubwire keeps on the sockets it made.
export function countingFactory() {
  const stats = { sockets: [], live: 0, calls: 0 };
  const factory = async (url, protocols) => {
    stats.calls++;
    await new Promise((r) => setTimeout(r, 1));
    const ws = new WebSocket(url, protocols);
    const add = ws.addEventListener.bind(ws), rm = ws.removeEventListener.bind(ws);
    ws.addEventListener = (t, f) => { stats.live++; add(t, f); };
    ws.removeEventListener = (t, f) => { stats.live--; rm(t, f); };
    stats.sockets.push(ws);
    return ws;
  };
  return { factory, stats };
}
// A webSocketFactory around the real WebSocket that counts the messages sent on it.
export function sendCountingFactory() {
  const stats = { sends: 0, bytes: 0 };
  const factory = (url, protocols) => {
    const ws = new WebSocket(url, protocols);
    const send = ws.send.bind(ws);
    ws.send = (d) => { stats.sends++; stats.bytes += d.byteLength; send(d); };
    return ws;
  };
  return { factory, stats };
}
// Settles like `p`, or rejects with code TEST_TIMEOUT after `ms` (for Promises that may never settle).
export function within(p, ms) {
  return Promise.race([p, new Promise((_, rej) => setTimeout(() => {
    const e = new Error(`did not settle within ${ms} ms`); e.code = "TEST_TIMEOUT"; rej(e);
  }, ms))]);
}
// Tracks timeouts scheduled through the global setTimeout from now on.
export function trackTimers() {
  const st = globalThis.setTimeout, ct = globalThis.clearTimeout;
  const pending = new Set();
  globalThis.setTimeout = (f, ms, ...a) => {
    const id = st((...x) => { pending.delete(id); f(...x); }, ms, ...a);
    pending.add(id);
    return id;
  };
  globalThis.clearTimeout = (id) => { pending.delete(id); ct(id); };
  return { pending: () => pending.size, restore: () => { globalThis.setTimeout = st; globalThis.clearTimeout = ct; } };
}
"#)]
extern "C" {
    #[wasm_bindgen(js_name = countingFactory)]
    fn counting_factory() -> JsValue;
    #[wasm_bindgen(js_name = trackTimers)]
    fn track_timers() -> JsValue;
    #[wasm_bindgen(js_name = sendCountingFactory)]
    fn send_counting_factory() -> JsValue;
    fn within(p: &Promise, ms: u32) -> Promise;
}

// ------------------------------------------------------------------ helpers

/// The `code` of the rejection of `p` (see [`rejection`]).
async fn err_code(p: Promise) -> String {
    text(&rejection(p).await, "code").expect("errors carry a code")
}

fn now_secs() -> u64 {
    (js_sys::Date::now() / 1000.0) as u64
}

/// [`connection_of`], polled (50 times, 20 ms apart) until it says `connected: false`;
/// the last answer either way.
async fn connection_once_closed(id: &str) -> JsValue {
    let mut conn = JsValue::UNDEFINED;
    for _ in 0..50 {
        conn = connection_of(id).await;
        if get(&conn, "connected").as_bool() == Some(false) {
            break;
        }
        wait(20).await;
    }
    conn
}

// ------------------------------------------------------------------ tests

#[wasm_bindgen_test]
async fn send_event_every_property_kind_succeeds() {
    let (c, id, _) = connected_client("telemetry", &[]).await;
    let props = json(r#"{"temp unit":"°C","a&b":"x=y"}"#);
    let opts = obj(&[
        ("properties", props),
        ("messageId", "mid-1".into()),
        ("correlationId", "cid/1".into()),
        ("userId", id.as_str().into()),
        (
            "expiry",
            js_sys::Date::new(&JsValue::from_f64(4_102_444_800_000.0)).into(),
        ),
        ("component", "thermostat1".into()),
    ]);
    ok(c.send_event(json(r#"{"t":21.5}"#), Some(opts.unchecked_into()))).await;
    let pairs: JsValue = Array::of2(
        &Array::of2(&"k".into(), &"v".into()),
        &Array::of2(&"k2".into(), &"v2".into()),
    )
    .into();
    let opts = obj(&[
        ("properties", pairs),
        ("contentType", "text/plain".into()),
        ("contentEncoding", "utf-8".into()),
        ("qos", 0.into()),
    ]);
    ok(c.send_event("plain text".into(), Some(opts.unchecked_into()))).await;
    ok(c.send_event(Uint8Array::from(&[0u8, 1, 2, 255][..]).into(), None)).await;

    let mut items = Vec::new();
    for _ in 0..50 {
        items = telemetry_of(&id).await;
        if items.len() >= 3 {
            break;
        }
        wait(50).await;
    }
    assert_eq!(items.len(), 3, "all three messages arrived");
    let a = &items[0];
    assert_eq!(text(a, "body").as_deref(), Some(r#"{"t":21.5}"#));
    assert_eq!(text(a, "properties.temp unit").as_deref(), Some("°C"));
    assert_eq!(text(a, "properties.a&b").as_deref(), Some("x=y"));
    assert_eq!(
        text(a, "systemProperties.messageId").as_deref(),
        Some("mid-1")
    );
    assert_eq!(
        text(a, "systemProperties.correlationId").as_deref(),
        Some("cid/1")
    );
    assert_eq!(
        text(a, "systemProperties.userId").as_deref(),
        Some(id.as_str())
    );
    assert_eq!(
        text(a, "systemProperties.contentType").as_deref(),
        Some("application/json"),
        "JSON bodies default their content type"
    );
    assert_eq!(
        text(a, "systemProperties.contentEncoding").as_deref(),
        Some("utf-8")
    );
    assert_eq!(
        text(a, "systemProperties.expiryTimeUtc").as_deref(),
        Some("2100-01-01T00:00:00.000Z")
    );
    assert_eq!(
        text(a, "systemProperties.component").as_deref(),
        Some("thermostat1")
    );
    let b = &items[1];
    assert_eq!(text(b, "body").as_deref(), Some("plain text"));
    assert_eq!(text(b, "properties.k").as_deref(), Some("v"));
    assert_eq!(text(b, "properties.k2").as_deref(), Some("v2"));
    assert_eq!(
        text(b, "systemProperties.contentType").as_deref(),
        Some("text/plain")
    );
    let cbytes = &items[2];
    assert_eq!(text(cbytes, "bodyBase64").as_deref(), Some("AAEC/w=="));
    c.close();
}

#[wasm_bindgen_test]
async fn connect_with_token_provider_succeeds() {
    use base64::Engine as _;
    let (id, key) = new_device("provider").await;
    let key_bytes = base64::engine::general_purpose::STANDARD
        .decode(&key)
        .expect("key");
    let resource = sas::resource(host(), &id, None);
    let asked = Rc::new(RefCell::new(Vec::<f64>::new()));
    let a = asked.clone();
    let get_token = Closure::<dyn FnMut(JsValue) -> Promise>::new(move |expiry: JsValue| {
        let e = expiry.as_f64().expect("expiry is a number");
        a.borrow_mut().push(e);
        Promise::resolve(&JsValue::from_str(&sas::token(
            &key_bytes, &resource, e as u64, None,
        )))
    });
    let provider = obj(&[
        ("hostName", host().into()),
        ("deviceId", id.as_str().into()),
        ("getToken", get_token.as_ref().clone()),
    ]);
    let c = client_from_provider(provider.unchecked_into(), Some(options(&[]))).expect("client");
    ok(c.connect()).await;
    assert_eq!(c.state(), "connected");
    let asked = asked.borrow().clone();
    assert_eq!(asked.len(), 1, "one token for one connection");
    assert!(
        asked[0] as u64 > now_secs() + 3000,
        "expiry is tokenTtlSeconds ahead"
    );
    ok(c.send_event("via provider".into(), None)).await;
    let items = telemetry_of(&id).await;
    assert_eq!(items.len(), 1);
    assert_eq!(text(&items[0], "body").as_deref(), Some("via provider"));
    c.close();
}

#[wasm_bindgen_test]
async fn token_provider_rejection_fails() {
    let (id, _) = new_device("provider-bad").await;
    let get_token = Closure::<dyn FnMut(JsValue) -> Promise>::new(|_| {
        Promise::reject(&js_sys::Error::new("vault down").into())
    });
    let provider = obj(&[
        ("hostName", host().into()),
        ("deviceId", id.as_str().into()),
        ("getToken", get_token.as_ref().clone()),
    ]);
    let c = client_from_provider(provider.unchecked_into(), Some(options(&[]))).expect("client");
    let errors = Recorder::new();
    c.on("error", errors.f()).expect("on");
    assert_eq!(err_code(c.connect()).await, "UNAUTHORIZED");
    assert_eq!(errors.len(), 1);
    assert_eq!(c.state(), "disconnected");
    c.close();
}

#[wasm_bindgen_test]
async fn c2d_message_succeeds() {
    let (c, id, _) = connected_client("c2d", &[]).await;
    let c = Rc::new(c);
    let got = Recorder::new();
    c.on_message(got.f()).expect("onMessage");
    // A listener that calls back into the client synchronously (borrow discipline).
    let weak = Rc::downgrade(&c);
    let echo = Closure::<dyn FnMut(JsValue)>::new(move |m: JsValue| {
        let c = weak.upgrade().expect("client alive");
        let id = text(&m, "messageId").unwrap_or_default();
        let _ = c.send_event(JsValue::from_str(&format!("echo {id}")), None);
        let _ = c.state();
    });
    c.on("message", echo.as_ref().clone().unchecked_into())
        .expect("on(message)");
    wait(200).await; // the SUBSCRIBE round trip
    let (status, _) = service(
        "POST",
        &format!("/devices/{id}/messages/deviceBound"),
        Some(r#"{"cmd":"beep"}"#),
        &[
            ("iothub-messageid", "c2d-1"),
            ("iothub-correlationid", "corr"),
            ("iothub-app-color", "red green"),
        ],
    )
    .await;
    assert_eq!(status, 204);
    assert!(
        until(3000, || got.len() == 1).await,
        "the C2D message arrived"
    );
    let m = got.get(0);
    assert_eq!(text(&m, "messageId").as_deref(), Some("c2d-1"));
    assert_eq!(text(&m, "correlationId").as_deref(), Some("corr"));
    assert_eq!(text(&m, "properties.color").as_deref(), Some("red green"));
    assert!(get(&m, "body").is_instance_of::<Uint8Array>());
    let call = |name: &str| {
        let f: Function = get(&m, name).unchecked_into();
        f.call0(&m).expect("callable")
    };
    assert_eq!(
        call("text").as_string().as_deref(),
        Some(r#"{"cmd":"beep"}"#)
    );
    assert_eq!(text(&call("json"), "cmd").as_deref(), Some("beep"));
    let mut echoed = Vec::new();
    for _ in 0..50 {
        echoed = telemetry_of(&id).await;
        if !echoed.is_empty() {
            break;
        }
        wait(50).await;
    }
    assert_eq!(
        text(&echoed[0], "body").as_deref(),
        Some("echo c2d-1"),
        "sendEvent from inside a listener works"
    );
    c.close();
}

#[wasm_bindgen_test]
async fn twin_get_reported_and_desired_succeeds() {
    let (c, id, _) = connected_client("twin", &[]).await;
    let desired = Recorder::new();
    c.on_desired_properties_update(desired.f())
        .expect("onDesiredPropertiesUpdate");
    let twin = ok(c.get_twin()).await;
    assert!(
        get(&twin, "desired.$version").as_f64().is_some(),
        "desired has $version"
    );
    let before = get(&twin, "reported.$version")
        .as_f64()
        .expect("reported has $version");
    let v = ok(c.update_reported_properties(json(r#"{"fw":"1.2.3","temp":{"c":21}}"#))).await;
    assert!(v.as_f64().expect("new reported version") > before);
    let (_, svc_twin) = service("GET", &format!("/twins/{id}"), None, &[]).await;
    assert_eq!(
        text(&svc_twin, "properties.reported.fw").as_deref(),
        Some("1.2.3")
    );
    assert_eq!(
        get(&svc_twin, "properties.reported.temp.c").as_f64(),
        Some(21.0)
    );

    let (status, _) = service(
        "PATCH",
        &format!("/twins/{id}"),
        Some(r#"{"properties":{"desired":{"interval":5}}}"#),
        &[],
    )
    .await;
    assert_eq!(status, 200);
    assert!(
        until(3000, || desired.len() >= 1).await,
        "desired notification"
    );
    let patch = desired.get(desired.len() - 1);
    assert_eq!(get(&patch, "interval").as_f64(), Some(5.0));
    assert!(get(&patch, "$version").as_f64().is_some());
    let twin = ok(c.get_twin()).await;
    assert_eq!(get(&twin, "desired.interval").as_f64(), Some(5.0));
    c.close();
}

#[wasm_bindgen_test]
async fn methods_success_throw_and_unknown_succeeds() {
    let (c, id, _) = connected_client("methods", &[]).await;
    let seen = Rc::new(RefCell::new(Vec::new()));
    let s = seen.clone();
    let ok_handler = Closure::<dyn FnMut(JsValue) -> Promise>::new(move |req: JsValue| {
        s.borrow_mut().push(req.clone());
        let res = obj(&[
            ("status", 201.into()),
            ("payload", json(r#"{"rebooting":true}"#)),
        ]);
        Promise::resolve(&res)
    });
    let throwing = Function::new_with_args("req", "throw new Error('boom: ' + req.payload.why)");
    c.on_method(
        "reboot".into(),
        Some(ok_handler.as_ref().clone().unchecked_into()),
    )
    .expect("onMethod");
    c.on_method("explode".into(), Some(throwing.unchecked_into()))
        .expect("onMethod");
    wait(200).await;

    let (status, r) = invoke(&id, "reboot", r#"{"delay":3}"#).await;
    assert_eq!(status, 200, "service call succeeded");
    assert_eq!(get(&r, "status").as_f64(), Some(201.0));
    assert_eq!(get(&r, "payload.rebooting").as_bool(), Some(true));
    let req = seen.borrow()[0].clone();
    assert_eq!(text(&req, "name").as_deref(), Some("reboot"));
    assert_eq!(text(&req, "command").as_deref(), Some("reboot"));
    assert_eq!(get(&req, "payload.delay").as_f64(), Some(3.0));
    assert!(text(&req, "requestId").is_some());

    let (_, r) = invoke(&id, "explode", r#"{"why":"test"}"#).await;
    assert_eq!(get(&r, "status").as_f64(), Some(500.0));
    assert_eq!(text(&r, "payload.message").as_deref(), Some("boom: test"));

    let (_, r) = invoke(&id, "nope", "null").await;
    assert_eq!(get(&r, "status").as_f64(), Some(501.0));
    c.close();
}

#[wasm_bindgen_test]
async fn connect_wrong_key_fails() {
    let (id, _) = new_device("wrongkey").await;
    let cs = connection_string(&id, "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=");
    let c = client_from_cs(&cs, Some(options(&[fast_retry()]))).expect("client");
    let reconnecting = Recorder::new();
    let disconnected = Recorder::new();
    c.on("reconnecting", reconnecting.f()).expect("on");
    c.on("disconnected", disconnected.f()).expect("on");
    assert_eq!(err_code(c.connect()).await, "UNAUTHORIZED");
    wait(600).await; // several retry delays: nothing may happen
    assert_eq!(
        reconnecting.len(),
        0,
        "no retry loop on refused credentials"
    );
    assert_eq!(disconnected.len(), 1);
    assert_eq!(
        get(&disconnected.get(0), "willRetry").as_bool(),
        Some(false)
    );
    assert_eq!(
        text(&disconnected.get(0), "code").as_deref(),
        Some("UNAUTHORIZED")
    );
    assert_eq!(c.state(), "disconnected");
    c.close();
}

#[wasm_bindgen_test]
async fn send_event_qos2_and_oversized_fails() {
    let (c, id, _) = connected_client("limits", &[]).await;
    let q2 = obj(&[("qos", 2.into())]);
    assert_eq!(
        err_code(c.send_event("x".into(), Some(q2.unchecked_into()))).await,
        "QOS_NOT_SUPPORTED"
    );
    let big = Uint8Array::new_with_length(257 * 1024);
    assert_eq!(
        err_code(c.send_event(big.into(), None)).await,
        "PAYLOAD_TOO_LARGE"
    );
    assert_eq!(
        c.state(),
        "connected",
        "refused locally, the connection stays up"
    );
    ok(c.send_event("still fine".into(), None)).await;
    assert_eq!(telemetry_of(&id).await.len(), 1);
    let insecure = obj(&[("url", "ws://example.com/$iothub/websocket".into())]);
    let e = client_from_cs(
        &connection_string(&id, "AAAA"),
        Some(insecure.unchecked_into()),
    )
    .err()
    .expect("ws:// to a remote host is refused");
    assert_eq!(text(&e, "code").as_deref(), Some("INSECURE_URL"));
    c.close();
}

#[wasm_bindgen_test]
async fn dropped_connection_reconnects_and_delivers_queued_succeeds() {
    let (c, id, _) = connected_client("drop", &[fast_retry()]).await;
    let reconnecting = Recorder::new();
    let connected = Recorder::new();
    let disconnected = Recorder::new();
    c.on("reconnecting", reconnecting.f()).expect("on");
    c.on("connected", connected.f()).expect("on");
    c.on("disconnected", disconnected.f()).expect("on");
    assert_eq!(fault(&id, r#"{"kind":"drop"}"#).await, 204);
    assert!(
        until(3000, || disconnected.len() == 1).await,
        "drop noticed"
    );
    assert_eq!(get(&disconnected.get(0), "willRetry").as_bool(), Some(true));
    // Sent while the client is reconnecting: queued, then delivered.
    let pending = c.send_event("queued during outage".into(), None);
    assert!(until(5000, || connected.len() == 1).await, "reconnected");
    assert!(reconnecting.len() >= 1);
    assert_eq!(get(&reconnecting.get(0), "attempt").as_f64(), Some(1.0));
    ok(pending).await;
    let items = telemetry_of(&id).await;
    assert_eq!(items.len(), 1);
    assert_eq!(
        text(&items[0], "body").as_deref(),
        Some("queued during outage")
    );
    assert_eq!(c.state(), "connected");
    c.close();
}

#[wasm_bindgen_test]
async fn token_expiry_renews_without_losing_messages_succeeds() {
    // 4 s tokens: the core reconnects with a fresh token ahead of expiry (ttl/4 margin).
    let (c, id, _) =
        connected_client("renew", &[("tokenTtlSeconds", 4.into()), fast_retry()]).await;
    let connected = Recorder::new();
    c.on("connected", connected.f()).expect("on");
    let mut sent = Vec::new();
    let mut n = 0;
    while connected.len() < 2 && n < 40 {
        let body = format!("m{n}");
        sent.push(body.clone());
        ok(c.send_event(body.as_str().into(), None)).await;
        wait(150).await;
        n += 1;
    }
    assert!(
        connected.len() >= 2,
        "renewed twice within the run (a reconnect with a new token each)"
    );
    let items = telemetry_of(&id).await;
    let got: Vec<String> = items.iter().filter_map(|i| text(i, "body")).collect();
    for s in &sent {
        assert!(got.contains(s), "message {s} delivered");
    }
    let conn = connection_of(&id).await;
    assert_eq!(get(&conn, "connected").as_bool(), Some(true));
    c.close();
}

#[wasm_bindgen_test]
async fn expire_token_fault_reconnects_succeeds() {
    let (c, id, _) = connected_client("expire", &[fast_retry()]).await;
    let connected = Recorder::new();
    c.on("connected", connected.f()).expect("on");
    assert_eq!(fault(&id, r#"{"kind":"expireToken"}"#).await, 204);
    let pending = c.send_event("after expiry".into(), None);
    assert!(
        until(5000, || connected.len() >= 1).await,
        "reconnected with a renewed token"
    );
    ok(pending).await;
    let got: Vec<String> = telemetry_of(&id)
        .await
        .iter()
        .filter_map(|i| text(i, "body"))
        .collect();
    assert!(got.contains(&"after expiry".to_string()));
    c.close();
}

#[wasm_bindgen_test]
async fn close_releases_timers_and_listeners_succeeds() {
    let timers = track_timers();
    let counting = counting_factory();
    let stats = get(&counting, "stats");
    let (id, key) = new_device("close").await;
    let c = device_client(
        &id,
        &key,
        &[
            ("webSocketFactory", get(&counting, "factory")),
            fast_retry(),
        ],
    );
    let events = Recorder::new();
    for ev in ["connected", "disconnected", "reconnecting", "error"] {
        c.on(ev, events.f()).expect("on");
    }
    c.on_message(events.f()).expect("onMessage");
    ok(c.connect()).await;
    assert_eq!(
        get(&stats, "calls").as_f64(),
        Some(1.0),
        "the async factory opened the socket"
    );
    assert_eq!(
        get(&stats, "live").as_f64(),
        Some(4.0),
        "open, message, close, error"
    );
    let before = events.len();
    c.close();
    let pending_after_close = get(&timers, "pending")
        .unchecked_into::<Function>()
        .call0(&JsValue::NULL)
        .expect("pending");
    assert_eq!(c.state(), "closed");
    assert_eq!(
        get(&stats, "live").as_f64(),
        Some(0.0),
        "every socket listener removed"
    );
    assert_eq!(err_code(c.send_event("late".into(), None)).await, "CLOSED");
    assert_eq!(err_code(c.connect()).await, "CLOSED");
    let e = c
        .on("connected", events.f())
        .expect_err("on() after close() throws");
    assert_eq!(text(&e, "code").as_deref(), Some("CLOSED"));
    // The cloud keeps talking; nothing may reach the closed client.
    let _ = service(
        "POST",
        &format!("/devices/{id}/messages/deviceBound"),
        Some("hi"),
        &[],
    )
    .await;
    let _ = fault(&id, r#"{"kind":"drop"}"#).await;
    wait(500).await;
    assert_eq!(events.len(), before, "no listener fired after close()");
    assert_eq!(
        get(&stats, "calls").as_f64(),
        Some(1.0),
        "no reconnect after close()"
    );
    get(&timers, "restore")
        .unchecked_into::<Function>()
        .call0(&JsValue::NULL)
        .expect("restore");
    assert_eq!(
        pending_after_close.as_f64(),
        Some(0.0),
        "no timer left armed by close()"
    );
    let conn = connection_of(&id).await;
    assert_eq!(
        get(&conn, "connected").as_bool(),
        Some(false),
        "the socket was closed"
    );
}

#[wasm_bindgen_test]
async fn malformed_packet_reconnects_succeeds() {
    let (c, id, _) = connected_client("malformed", &[fast_retry()]).await;
    let disconnected = Recorder::new();
    let connected = Recorder::new();
    c.on("disconnected", disconnected.f()).expect("on");
    c.on("connected", connected.f()).expect("on");
    assert_eq!(
        fault(
            &id,
            r#"{"kind":"malformed","variant":"badRemainingLength"}"#
        )
        .await,
        204
    );
    assert!(
        until(3000, || disconnected.len() >= 1).await,
        "protocol error noticed"
    );
    assert_eq!(
        text(&disconnected.get(0), "code").as_deref(),
        Some("PROTOCOL_ERROR")
    );
    assert_eq!(get(&disconnected.get(0), "willRetry").as_bool(), Some(true));
    assert!(
        until(5000, || connected.len() >= 1).await,
        "reconnected after the bad packet"
    );
    ok(c.send_event("after malformed".into(), None)).await;
    c.close();
}

#[wasm_bindgen_test]
async fn connect_factory_non_retryable_error_fails() {
    let (id, key) = new_device("factory").await;
    // Like Node 20 without a global WebSocket, or an upgrade refused with 401.
    let factory = Function::new_with_args(
        "url, protocols",
        "const e = new Error('no WebSocket here'); e.code = 'TRANSPORT'; e.retryable = false; throw e;",
    );
    let c = device_client(
        &id,
        &key,
        &[("webSocketFactory", factory.into()), fast_retry()],
    );
    let reconnecting = Recorder::new();
    let errors = Recorder::new();
    let disconnected = Recorder::new();
    c.on("reconnecting", reconnecting.f()).expect("on");
    c.on("error", errors.f()).expect("on");
    c.on("disconnected", disconnected.f()).expect("on");
    assert_eq!(err_code(c.connect()).await, "TRANSPORT");
    wait(400).await;
    assert_eq!(
        reconnecting.len(),
        0,
        "a non-retryable failure is not retried"
    );
    assert_eq!(errors.len(), 1);
    assert_eq!(
        text(&disconnected.get(0), "code").as_deref(),
        Some("TRANSPORT")
    );
    assert_eq!(
        get(&disconnected.get(0), "willRetry").as_bool(),
        Some(false)
    );
    assert_eq!(c.state(), "disconnected");
    c.close();
}

#[wasm_bindgen_test]
async fn connect_factory_retryable_error_retries_succeeds() {
    let (id, key) = new_device("factory-retry").await;
    // Fails twice (a plain Error counts as a retryable TRANSPORT failure), then opens.
    let factory = Function::new_with_args(
        "url, protocols",
        "globalThis.__hwTries = (globalThis.__hwTries || 0) + 1; \
         if (globalThis.__hwTries <= 2) throw new Error('flaky'); \
         return new WebSocket(url, protocols);",
    );
    let c = device_client(
        &id,
        &key,
        &[("webSocketFactory", factory.into()), fast_retry()],
    );
    let reconnecting = Recorder::new();
    c.on("reconnecting", reconnecting.f()).expect("on");
    ok(c.connect()).await;
    assert_eq!(reconnecting.len(), 2, "two backoffs, then connected");
    assert_eq!(c.state(), "connected");
    c.close();
}

#[wasm_bindgen_test]
async fn token_provider_renewal_reconnects_succeeds() {
    use base64::Engine as _;
    let (id, key) = new_device("provider-renew").await;
    let key_bytes = base64::engine::general_purpose::STANDARD
        .decode(&key)
        .expect("key");
    let resource = sas::resource(host(), &id, None);
    let asked = Rc::new(RefCell::new(0u32));
    let a = asked.clone();
    // Resolves a little later, like a real token service.
    let get_token = Closure::<dyn FnMut(JsValue) -> Promise>::new(move |expiry: JsValue| {
        *a.borrow_mut() += 1;
        let token = sas::token(
            &key_bytes,
            &resource,
            expiry.as_f64().unwrap_or(0.0) as u64,
            None,
        );
        wasm_bindgen_futures::future_to_promise(async move {
            wait(30).await;
            Ok(JsValue::from_str(&token))
        })
    });
    let provider = obj(&[
        ("hostName", host().into()),
        ("deviceId", id.as_str().into()),
        ("getToken", get_token.as_ref().clone()),
    ]);
    let c = client_from_provider(
        provider.unchecked_into(),
        Some(options(&[("tokenTtlSeconds", 4.into()), fast_retry()])),
    )
    .expect("client");
    let connected = Recorder::new();
    c.on("connected", connected.f()).expect("on");
    ok(c.connect()).await;
    let mut n = 0;
    while connected.len() < 2 && n < 40 {
        ok(c.send_event(JsValue::from_str(&format!("p{n}")), None)).await;
        wait(150).await;
        n += 1;
    }
    assert!(
        connected.len() >= 2,
        "reconnected with a provider token before expiry"
    );
    assert!(*asked.borrow() >= 2, "getToken asked again for the renewal");
    let got = telemetry_of(&id).await.len();
    assert_eq!(got, n, "every message delivered across the renewal");
    c.close();
}

#[wasm_bindgen_test]
async fn module_identity_telemetry_and_method_succeeds() {
    let (id, _) = new_device("module").await;
    let (status, m) = service(
        "PUT",
        &format!("/devices/{id}/modules/m1"),
        Some(&format!("{{\"deviceId\":\"{id}\",\"moduleId\":\"m1\"}}")),
        &[],
    )
    .await;
    assert_eq!(status, 200);
    let key = text(&m, "authentication.symmetricKey.primaryKey").expect("module key");
    let cs = format!(
        "HostName={};DeviceId={id};ModuleId=m1;SharedAccessKey={key}",
        host()
    );
    let c = client_from_cs(&cs, Some(options(&[]))).expect("client");
    ok(c.connect()).await;
    let h = Function::new_with_args(
        "req",
        "return { status: 200, payload: { module: req.name } };",
    );
    c.on_method("whoami".into(), Some(h.unchecked_into()))
        .expect("onMethod");
    ok(c.send_event("from a module".into(), None)).await;
    let items = telemetry_of(&id).await;
    assert_eq!(items.len(), 1);
    assert_eq!(text(&items[0], "moduleId").as_deref(), Some("m1"));
    wait(200).await;
    let body = r#"{"methodName":"whoami","payload":null,"responseTimeoutInSeconds":5}"#;
    let (status, r) = service(
        "POST",
        &format!("/twins/{id}/modules/m1/methods"),
        Some(body),
        &[],
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(text(&r, "payload.module").as_deref(), Some("whoami"));
    c.close();
}

#[wasm_bindgen_test]
async fn disconnect_then_connect_again_succeeds() {
    let (c, id, _) = connected_client("reconnect-app", &[]).await;
    let disconnected = Recorder::new();
    let connected = Recorder::new();
    c.on("disconnected", disconnected.f()).expect("on");
    c.on("connected", connected.f()).expect("on");
    ok(c.disconnect()).await;
    assert_eq!(c.state(), "disconnected");
    assert_eq!(disconnected.len(), 1);
    assert_eq!(
        text(&disconnected.get(0), "code").as_deref(),
        Some("CLOSED")
    );
    assert_eq!(
        get(&disconnected.get(0), "willRetry").as_bool(),
        Some(false)
    );
    let conn = connection_once_closed(&id).await;
    assert_eq!(
        get(&conn, "connected").as_bool(),
        Some(false),
        "DISCONNECT sent, socket closed"
    );
    c.off("connected", connected.f());
    ok(c.connect()).await;
    assert_eq!(c.state(), "connected");
    assert_eq!(connected.len(), 0, "off() removed the listener");
    ok(c.send_event("second session".into(), None)).await;
    assert_eq!(telemetry_of(&id).await.len(), 1);
    c.close();
}

#[wasm_bindgen_test]
async fn connect_factory_returning_garbage_fails() {
    let (id, key) = new_device("factory-garbage").await;
    for body in ["return 42;", "return {};", "return Promise.resolve(null);"] {
        let factory = Function::new_with_args("url, protocols", body);
        let c = device_client(
            &id,
            &key,
            &[("webSocketFactory", factory.into()), fast_retry()],
        );
        assert_eq!(err_code(c.connect()).await, "TRANSPORT", "factory {body}");
        assert_eq!(c.state(), "disconnected");
        c.close();
    }
}

#[wasm_bindgen_test]
async fn keepalive_timer_keeps_idle_connection_succeeds() {
    // The hub drops a client silent for 1.5 x keep-alive: only the re-armed timer's
    // PINGREQs keep this idle connection up.
    let (c, id, _) = connected_client("keepalive", &[("keepAliveSeconds", 1.into())]).await;
    let disconnected = Recorder::new();
    c.on("disconnected", disconnected.f()).expect("on");
    wait(3500).await;
    assert_eq!(disconnected.len(), 0, "no drop while idle");
    assert_eq!(c.state(), "connected");
    ok(c.send_event("still here".into(), None)).await;
    assert_eq!(telemetry_of(&id).await.len(), 1);
    c.close();
}

#[wasm_bindgen_test]
async fn one_packet_per_message_and_twin_throttle_succeeds() {
    let (c, id, _) =
        connected_client("nocoalesce", &[("coalesce", false.into()), fast_retry()]).await;
    let sends: Vec<Promise> = (0..10)
        .map(|i| c.send_event(JsValue::from_str(&format!("n{i}")), None))
        .collect();
    for p in sends {
        ok(p).await;
    }
    let got: Vec<String> = telemetry_of(&id)
        .await
        .iter()
        .filter_map(|i| text(i, "body"))
        .collect();
    assert_eq!(
        got,
        (0..10).map(|i| format!("n{i}")).collect::<Vec<_>>(),
        "all, in order"
    );
    assert_eq!(
        fault(&id, r#"{"kind":"twinThrottle","count":1}"#).await,
        204
    );
    let twin = ok(c.get_twin()).await;
    assert!(
        get(&twin, "reported.$version").as_f64().is_some(),
        "a 429 is retried by the core"
    );
    c.close();
}

#[wasm_bindgen_test]
async fn connect_unusable_url_fails() {
    let (id, key) = new_device("badurl").await;
    // Passes the ws:// guard (loopback) but the WebSocket constructor rejects it.
    let o = obj(&[
        ("url", "ws://127.0.0.1:99999/$iothub/websocket".into()),
        fast_retry(),
    ]);
    let c =
        client_from_cs(&connection_string(&id, &key), Some(o.unchecked_into())).expect("client");
    let reconnecting = Recorder::new();
    c.on("reconnecting", reconnecting.f()).expect("on");
    assert_eq!(err_code(c.connect()).await, "TRANSPORT");
    wait(300).await;
    assert_eq!(reconnecting.len(), 0, "an unusable URL is not retried");
    c.close();
}

#[wasm_bindgen_test]
async fn free_releases_socket_listeners_succeeds() {
    let counting = counting_factory();
    let stats = get(&counting, "stats");
    let (id, key) = new_device("free").await;
    let c = device_client(
        &id,
        &key,
        &[("webSocketFactory", get(&counting, "factory"))],
    );
    ok(c.connect()).await;
    assert_eq!(get(&stats, "live").as_f64(), Some(4.0));
    c.free(); // JS `free()` (and `[Symbol.dispose]()`) close the client
    assert_eq!(
        get(&stats, "live").as_f64(),
        Some(0.0),
        "free() removed every listener"
    );
    let conn = connection_once_closed(&id).await;
    assert_eq!(
        get(&conn, "connected").as_bool(),
        Some(false),
        "free() closed the connection"
    );
}

#[wasm_bindgen_test]
async fn send_event_many_in_one_task_one_websocket_message_succeeds() {
    let counting = send_counting_factory();
    let stats = get(&counting, "stats");
    let sends = || get(&stats, "sends").as_f64().expect("sends") as u32;
    let (c, id, _) = connected_client(
        "coalesce",
        &[("webSocketFactory", get(&counting, "factory"))],
    )
    .await;
    // 48 QoS 1 sends in one task (under the window of 64): one WebSocket message.
    let before = sends();
    let ps: Vec<Promise> = (0..48)
        .map(|i| c.send_event(JsValue::from_str(&format!("q1-{i}")), None))
        .collect();
    assert_eq!(sends(), before, "nothing is written inside the calls");
    for p in ps {
        ok(p).await;
    }
    assert_eq!(
        sends() - before,
        1,
        "48 sendEvent calls in one task, one message"
    );
    // QoS 0 resolves once written: when the first Promise settles, the message is out.
    let before = sends();
    let qos0 = obj(&[("qos", 0.into())]);
    let ps: Vec<Promise> = (0..8)
        .map(|i| {
            c.send_event(
                JsValue::from_str(&format!("q0-{i}")),
                Some(qos0.clone().unchecked_into()),
            )
        })
        .collect();
    ok(ps[0].clone()).await;
    assert_eq!(
        sends() - before,
        1,
        "written before the QoS 0 Promise resolves"
    );
    for p in ps {
        ok(p).await;
    }
    // A send followed by disconnect() in the same task still reaches the hub, before DISCONNECT.
    let last = c.send_event("last".into(), Some(qos0.unchecked_into()));
    let bye = c.disconnect();
    ok(last).await;
    ok(bye).await;
    let mut got: Vec<String> = Vec::new();
    for _ in 0..50 {
        got = telemetry_of(&id)
            .await
            .iter()
            .filter_map(|i| text(i, "body"))
            .collect();
        if got.len() >= 57 {
            break;
        }
        wait(20).await;
    }
    let want: Vec<String> = (0..48)
        .map(|i| format!("q1-{i}"))
        .chain((0..8).map(|i| format!("q0-{i}")))
        .chain(["last".to_string()])
        .collect();
    assert_eq!(got, want, "every message, in order");
    c.close();
}

#[wasm_bindgen_test]
async fn connect_unreachable_host_times_out_fails() {
    let (id, key) = new_device("unreachable").await;
    // Nothing listens there: every attempt fails before the socket opens.
    let o = obj(&[
        ("url", "ws://127.0.0.1:65533/$iothub/websocket".into()),
        ("connectTimeoutMs", 800.into()),
        fast_retry(),
    ]);
    let c =
        client_from_cs(&connection_string(&id, &key), Some(o.unchecked_into())).expect("client");
    let reconnecting = Recorder::new();
    let disconnected = Recorder::new();
    c.on("reconnecting", reconnecting.f()).expect("on");
    c.on("disconnected", disconnected.f()).expect("on");
    let t0 = js_sys::Date::now();
    let code = err_code(within(&c.connect(), 6000)).await;
    let took = js_sys::Date::now() - t0;
    assert_eq!(
        code, "TRANSPORT",
        "the last failure: the socket never opened"
    );
    assert!(
        (700.0..4000.0).contains(&took),
        "rejected after connectTimeoutMs (took {took} ms)"
    );
    assert!(
        reconnecting.len() >= 1,
        "retried with backoff before giving up"
    );
    assert_eq!(
        text(&disconnected.get(0), "code").as_deref(),
        Some("TRANSPORT"),
        "a socket that never opened is a TRANSPORT failure"
    );
    assert_eq!(get(&disconnected.get(0), "willRetry").as_bool(), Some(true));
    let last = disconnected.get(disconnected.len() - 1);
    assert_eq!(get(&last, "willRetry").as_bool(), Some(false));
    assert_eq!(c.state(), "disconnected");
    let tries = reconnecting.len();
    wait(500).await;
    assert_eq!(reconnecting.len(), tries, "stopped retrying");
    c.close();
}

#[wasm_bindgen_test]
async fn reconnect_after_first_success_is_unbounded_succeeds() {
    let (id, key) = new_device("unbounded").await;
    // Opens the real socket unless globalThis.__hwOutage is set, then fails like an unreachable host.
    let factory = Function::new_with_args(
        "url, protocols",
        "if (globalThis.__hwOutage) throw new Error('outage'); return new WebSocket(url, protocols);",
    );
    let c = device_client(
        &id,
        &key,
        &[
            ("webSocketFactory", factory.into()),
            // Room for the first real connection on a loaded machine (Firefox needed
            // more than 300 ms); the outage's attempts fail at once (the factory throws).
            ("connectTimeoutMs", 3000.into()),
            fast_retry(),
        ],
    );
    let connected = Recorder::new();
    let reconnecting = Recorder::new();
    c.on("connected", connected.f()).expect("on");
    c.on("reconnecting", reconnecting.f()).expect("on");
    ok(c.connect()).await;
    let global = js_sys::global();
    Reflect::set(&global, &"__hwOutage".into(), &true.into()).expect("set");
    assert_eq!(fault(&id, r#"{"kind":"drop"}"#).await, 204);
    wait(1000).await; // backoff 50..200 ms: at least 3 failed attempts
    assert!(reconnecting.len() >= 3, "kept retrying during the outage");
    assert_eq!(c.state(), "reconnecting");
    Reflect::set(&global, &"__hwOutage".into(), &false.into()).expect("set");
    assert!(
        until(3000, || connected.len() == 2).await,
        "reconnected after the outage"
    );
    assert_eq!(c.state(), "connected");
    c.close();
}
