//! Shell unit tests in headless Chromium (`wasm-pack test --headless --chrome`):
//! the port against a fake socket, options and errors. The end-to-end behaviour
//! against the emulator is in tests/web_*.rs.

use super::api::DeviceClient;
use super::convert;
use super::host;
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

fn client_with(ws: &JsValue) -> (DeviceClient, Function) {
    let factory = fake_factory(ws);
    let opts = obj(&[
        ("url", "ws://127.0.0.1:1/$iothub/websocket".into()),
        ("webSocketFactory", factory.clone().into()),
    ]);
    let c = DeviceClient::from_connection_string(CS, Some(opts.unchecked_into())).expect("client");
    (c, factory)
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
    let send = c.send_event(JsValue::from_str("x"), None);
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
    let e = convert::hub_error(&hub::Error::InsecureUrl);
    assert!(e.is_instance_of::<js_sys::Error>());
    assert_eq!(get(&e, "name").as_string().as_deref(), Some("HubwireError"));
    assert_eq!(get(&e, "code").as_string().as_deref(), Some("INSECURE_URL"));
    assert_eq!(get(&e, "retryable").as_bool(), Some(false));
    assert!(get(&e, "status").is_undefined());
    let e = convert::hub_error(&hub::Error::Throttled { status: 429 });
    assert_eq!(get(&e, "status").as_f64(), Some(429.0));
    assert_eq!(get(&e, "retryable").as_bool(), Some(true));
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
    let mut c = hub::ClientConfig::from_connection_string(CS).expect("cs");
    let factory = convert::client_options(&o, &mut c).expect("valid options");
    assert_eq!(c.url.as_deref(), Some("ws://127.0.0.1:1/x"));
    assert_eq!(c.keep_alive_secs, 30);
    assert!(c.clean_session);
    assert_eq!(c.retry.min_ms, 5);
    assert_eq!(c.retry.jitter, 0.25);
    assert_eq!(c.connect_timeout_ms, 1234);
    assert!(factory.is_function());
    assert!(c.model_id.is_none() && c.coalesce);
    assert!(convert::client_options(&JsValue::UNDEFINED, &mut c)
        .expect("no options")
        .is_undefined());
}

#[wasm_bindgen_test]
fn options_wrong_type_fails() {
    for bad in [
        obj(&[("keepAliveSeconds", "60".into())]),
        obj(&[("keepAliveSeconds", 70000.into())]),
        obj(&[("retry", obj(&[("jitter", 2.into())]))]),
        obj(&[("webSocketFactory", 1.into())]),
        JsValue::from_str("options"),
    ] {
        let mut c = hub::ClientConfig::from_connection_string(CS).expect("cs");
        let err = convert::client_options(&bad, &mut c).expect_err("refused");
        assert_eq!(
            get(&err, "code").as_string().as_deref(),
            Some("INVALID_ARGUMENT")
        );
    }
}

#[wasm_bindgen_test]
fn options_properties_in_order_succeeds() {
    let rec = obj(&[("b", "2".into()), ("a", "1".into())]);
    assert_eq!(
        convert::properties(&rec).expect("record"),
        vec![("b".to_string(), "2".to_string()), ("a".into(), "1".into())]
    );
    let arr: JsValue = Array::of2(
        &Array::of2(&"k".into(), &"v".into()),
        &Array::of2(&"k".into(), &"w".into()),
    )
    .into();
    assert_eq!(
        convert::properties(&arr).expect("pairs"),
        vec![("k".to_string(), "v".to_string()), ("k".into(), "w".into())]
    );
    assert!(convert::properties(&obj(&[("n", 1.into())])).is_err());
    let d = js_sys::Date::new(&JsValue::from_f64(0.0));
    assert_eq!(
        convert::expiry(&d.into()).expect("date"),
        "1970-01-01T00:00:00.000Z"
    );
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

#[wasm_bindgen_test]
fn host_failure_codes_match_the_port_succeeds() {
    use crate::hub::TransportError as T;
    let got: Vec<T> = (0..5).map(host::failure).collect();
    assert_eq!(
        got,
        [
            T::CreateFailed,
            T::NoWebSocket,
            T::BadUrl,
            T::NotASocket,
            T::Refused
        ]
    );
}
