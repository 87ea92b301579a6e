//! Shell unit tests in headless Chromium (`wasm-pack test --headless --chrome`):
//! the client object against a fake socket, options and errors. The end-to-end
//! behaviour against the emulator is in tests/web_*.rs.

use super::api::DeviceClient;
use super::core::hub_error;
use crate::hub;
use js_sys::{Array, Function, Object, Promise, Reflect};
use std::cell::RefCell;
use std::rc::Rc;
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use wasm_bindgen_futures::JsFuture;
use wasm_bindgen_test::{wasm_bindgen_test, wasm_bindgen_test_configure};

wasm_bindgen_test_configure!(run_in_browser);

mod parity;

#[wasm_bindgen(inline_js = r#"
export function fakeWs(readyState) {
  const t = new EventTarget();
  t.readyState = readyState;
  t.sent = [];
  t.closed = 0;
  t.live = 0;
  const add = t.addEventListener.bind(t), rm = t.removeEventListener.bind(t);
  t.addEventListener = (ty, f) => { t.live++; add(ty, f); };
  t.removeEventListener = (ty, f) => { t.live--; rm(ty, f); };
  t.send = (d) => { if (!(d instanceof ArrayBuffer)) throw new TypeError("not an ArrayBuffer"); t.sent.push(Array.from(new Uint8Array(d))); };
  t.close = () => { t.closed++; t.readyState = 3; };
  return t;
}
// A factory handing out one fake socket; `calls` records its arguments.
export function fakeFactory(ws) {
  const f = (url, protocols) => { f.calls.push([url, protocols]); return ws; };
  f.calls = [];
  return f;
}
export function emit(t, type, data) {
  const e = new Event(type);
  if (data !== undefined) e.data = data;
  t.dispatchEvent(e);
}
export function sleep(ms) { return new Promise((r) => setTimeout(r, ms)); }
"#)]
extern "C" {
    type Client;
    #[wasm_bindgen(method)]
    fn connect(this: &Client) -> Promise;
    #[wasm_bindgen(method)]
    fn close(this: &Client);
    #[wasm_bindgen(method, getter)]
    fn state(this: &Client) -> String;
    #[wasm_bindgen(method, js_name = sendEvent)]
    fn send_event(this: &Client, body: JsValue) -> Promise;
    #[wasm_bindgen(method, js_name = getTwin)]
    fn get_twin(this: &Client) -> Promise;
    #[wasm_bindgen(method, catch)]
    fn on(this: &Client, event: &str, cb: Function) -> Result<(), JsValue>;
    #[wasm_bindgen(method)]
    fn off(this: &Client, event: &str, cb: Function);
    #[wasm_bindgen(js_name = fakeWs)]
    fn fake_ws(ready_state: u16) -> JsValue;
    #[wasm_bindgen(js_name = fakeFactory)]
    fn fake_factory(ws: &JsValue) -> Function;
    fn emit(t: &JsValue, ty: &str, data: &JsValue);
    fn sleep(ms: u32) -> Promise;
}

async fn wait(ms: u32) {
    JsFuture::from(sleep(ms)).await.expect("sleep resolves");
}

fn get(v: &JsValue, k: &str) -> JsValue {
    Reflect::get(v, &JsValue::from_str(k)).expect("readable")
}

fn obj(pairs: &[(&str, JsValue)]) -> JsValue {
    let o = Object::new();
    for (k, v) in pairs {
        Reflect::set(&o, &JsValue::from_str(k), v).expect("set");
    }
    o.into()
}

const CS: &str = "HostName=h.example;DeviceId=d;SharedAccessKey=a2V5";

fn client_with(ws: &JsValue) -> (Client, Function) {
    let factory = fake_factory(ws);
    let opts = obj(&[
        ("url", "ws://127.0.0.1:1/$iothub/websocket".into()),
        ("webSocketFactory", factory.clone().into()),
    ]);
    let c = DeviceClient::from_connection_string(CS.into(), Some(opts.unchecked_into()))
        .expect("client");
    (c.unchecked_into(), factory)
}

#[wasm_bindgen_test]
async fn port_opens_through_factory_and_sends_connect_succeeds() {
    let ws = fake_ws(0);
    let (c, factory) = client_with(&ws);
    let _pending = c.connect();
    let calls: Array = get(&factory, "calls").unchecked_into();
    assert_eq!(calls.length(), 1);
    let call: Array = calls.get(0).unchecked_into();
    assert_eq!(
        call.get(0).as_string().as_deref(),
        Some("ws://127.0.0.1:1/$iothub/websocket")
    );
    let protocols: Array = call.get(1).unchecked_into();
    assert_eq!(protocols.get(0).as_string().as_deref(), Some("mqtt"));
    assert_eq!(
        get(&ws, "binaryType").as_string().as_deref(),
        Some("arraybuffer")
    );
    assert_eq!(get(&ws, "live").as_f64(), Some(4.0), "four listeners");
    emit(&ws, "open", &JsValue::UNDEFINED);
    let sent: Array = get(&ws, "sent").unchecked_into();
    assert_eq!(sent.length(), 1, "CONNECT");
    let first: Array = sent.get(0).unchecked_into();
    assert_eq!(first.get(0).as_f64(), Some(16.0), "a CONNECT packet");
    assert_eq!(c.state(), "connecting");
    c.close();
    assert_eq!(get(&ws, "live").as_f64(), Some(0.0), "listeners removed");
    assert_eq!(get(&ws, "closed").as_f64(), Some(1.0), "socket closed");
    assert_eq!(c.state(), "closed");
}

#[wasm_bindgen_test]
async fn port_text_frame_closes_socket_and_retries_succeeds() {
    let ws = fake_ws(1); // already open (Cloudflare-style): no open event needed
    let (c, _) = client_with(&ws);
    let errors = Rc::new(RefCell::new(Vec::<JsValue>::new()));
    let e = errors.clone();
    let cb = Closure::<dyn FnMut(JsValue)>::new(move |v: JsValue| e.borrow_mut().push(v));
    c.on("disconnected", cb.as_ref().clone().unchecked_into())
        .expect("listener");
    let _pending = c.connect();
    let sent: Array = get(&ws, "sent").unchecked_into();
    assert_eq!(sent.length(), 1, "CONNECT on an already-open socket");
    emit(&ws, "message", &JsValue::from_str("text frame"));
    assert_eq!(get(&ws, "closed").as_f64(), Some(1.0));
    assert_eq!(get(&ws, "live").as_f64(), Some(0.0));
    let got = errors.borrow();
    assert_eq!(got.len(), 1);
    assert_eq!(get(&got[0], "willRetry").as_bool(), Some(true));
    drop(got);
    c.close();
}

#[wasm_bindgen_test]
async fn port_factory_returning_garbage_rejects_connect_fails() {
    let (c, _) = client_with(&JsValue::from_f64(42.0));
    let r = JsFuture::from(c.connect()).await;
    let err = r.expect_err("rejected");
    assert_eq!(get(&err, "code").as_string().as_deref(), Some("TRANSPORT"));
    assert_eq!(get(&err, "retryable").as_bool(), Some(false));
    assert_eq!(c.state(), "disconnected");
    c.close();
}

#[wasm_bindgen_test]
async fn port_close_rejects_pending_with_closed_succeeds() {
    let ws = fake_ws(0);
    let (c, _) = client_with(&ws);
    let connect = c.connect();
    let send = c.send_event(JsValue::from_str("x"));
    c.close();
    for p in [connect, send] {
        let err = JsFuture::from(p).await.expect_err("rejected");
        assert_eq!(get(&err, "code").as_string().as_deref(), Some("CLOSED"));
    }
    let err = JsFuture::from(c.get_twin()).await.expect_err("rejected");
    assert_eq!(get(&err, "code").as_string().as_deref(), Some("CLOSED"));
    wait(10).await;
}

#[wasm_bindgen_test]
fn error_object_has_code_and_retryable_succeeds() {
    let e = hub_error(&hub::Error::InsecureUrl);
    assert!(e.is_instance_of::<js_sys::Error>());
    assert_eq!(get(&e, "name").as_string().as_deref(), Some("HubwireError"));
    assert_eq!(get(&e, "code").as_string().as_deref(), Some("INSECURE_URL"));
    assert_eq!(get(&e, "retryable").as_bool(), Some(false));
    assert!(get(&e, "status").is_undefined());
    let e = hub_error(&hub::Error::Throttled { status: 429 });
    assert_eq!(get(&e, "status").as_f64(), Some(429.0));
    assert_eq!(get(&e, "retryable").as_bool(), Some(true));
}

fn construct(options: JsValue) -> Result<JsValue, JsValue> {
    DeviceClient::from_connection_string(CS.into(), Some(options.unchecked_into()))
}

#[wasm_bindgen_test]
fn options_read_succeeds() {
    let retry = obj(&[("minDelayMs", 5.into()), ("jitter", 0.25.into())]);
    let o = obj(&[
        ("url", "ws://127.0.0.1:1/x".into()),
        ("keepAliveSeconds", 30.into()),
        ("cleanSession", true.into()),
        ("retry", retry),
        ("connectTimeoutMs", 1234.into()),
        (
            "webSocketFactory",
            Function::new_no_args("return null").into(),
        ),
        ("modelId", JsValue::UNDEFINED),
    ]);
    let c: Client = construct(o).expect("valid options").unchecked_into();
    assert_eq!(c.state(), "disconnected");
    c.close();
    assert!(DeviceClient::from_connection_string(CS.into(), None).is_ok());
}

#[wasm_bindgen_test]
fn options_wrong_type_fails() {
    for (bad, field) in [
        (
            obj(&[("keepAliveSeconds", "60".into())]),
            "options.keepAliveSeconds",
        ),
        (
            obj(&[("keepAliveSeconds", 70000.into())]),
            "options.keepAliveSeconds",
        ),
        (
            obj(&[("retry", obj(&[("jitter", 2.into())]))]),
            "options.retry.jitter",
        ),
        (
            obj(&[("webSocketFactory", 1.into())]),
            "options.webSocketFactory",
        ),
        (obj(&[("url", 1.into())]), "options.url"),
        (JsValue::from_str("options"), "options"),
        // A policy the core checks: ws:// to a host that is not loopback.
        (obj(&[("url", "ws://example.com/".into())]), "ws://"),
    ] {
        let err = construct(bad).expect_err("refused");
        let code = get(&err, "code").as_string().unwrap_or_default();
        assert!(
            code == "INVALID_ARGUMENT" || code == "INSECURE_URL",
            "{code}"
        );
        let msg = get(&err, "message").as_string().unwrap_or_default();
        assert!(msg.contains(field), "{msg:?} names {field}");
    }
}

#[wasm_bindgen_test]
async fn send_event_bad_arguments_fail() {
    let ws = fake_ws(0);
    let (c, _) = client_with(&ws);
    for bad in [JsValue::UNDEFINED, JsValue::from(js_sys::Symbol::for_("x"))] {
        let err = JsFuture::from(c.send_event(bad))
            .await
            .expect_err("refused");
        assert_eq!(
            get(&err, "code").as_string().as_deref(),
            Some("INVALID_ARGUMENT")
        );
    }
    c.close();
}

#[wasm_bindgen_test]
fn panic_report_reaches_error_listeners_succeeds() {
    let ws = fake_ws(0);
    let (c, _) = client_with(&ws);
    let got = Rc::new(RefCell::new(Vec::<JsValue>::new()));
    let g = got.clone();
    let cb = Closure::<dyn FnMut(JsValue)>::new(move |e: JsValue| g.borrow_mut().push(e));
    let f: Function = cb.as_ref().clone().unchecked_into();
    c.on("error", f.clone()).expect("listener");
    super::panic::report_message("boom");
    c.off("error", f);
    super::panic::report_message("after removal");
    c.close();
    super::panic::report_message("after close");
    let got = got.borrow();
    assert_eq!(got.len(), 1, "only while registered");
    assert_eq!(
        get(&got[0], "code").as_string().as_deref(),
        Some("INTERNAL")
    );
    assert_eq!(get(&got[0], "message").as_string().as_deref(), Some("boom"));
}
