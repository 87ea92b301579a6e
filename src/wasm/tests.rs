//! Shell unit tests in headless Chromium (`wasm-pack test --headless --chrome`):
//! the timer, the WebSocket wrapper against a fake socket, options and errors.

use super::error::{shell_error, Code};
use super::js;
use super::options::{self, ClientOptions};
use super::socket::{Socket, SocketEvent};
use super::timer::Timer;
use js_sys::{Array, Function, Object, Promise, Reflect, Uint8Array};
use std::cell::{Cell, RefCell};
use std::rc::Rc;
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use wasm_bindgen_futures::JsFuture;
use wasm_bindgen_test::{wasm_bindgen_test, wasm_bindgen_test_configure};

wasm_bindgen_test_configure!(run_in_browser);

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
export function emit(t, type, data) {
  const e = new Event(type);
  if (data !== undefined) e.data = data;
  t.dispatchEvent(e);
}
export function sleep(ms) { return new Promise((r) => setTimeout(r, ms)); }
"#)]
extern "C" {
    #[wasm_bindgen(js_name = fakeWs)]
    fn fake_ws(ready_state: u16) -> js::WsLike;
    fn emit(t: &js::WsLike, ty: &str, data: &JsValue);
    fn sleep(ms: u32) -> Promise;
}

async fn wait(ms: u32) {
    JsFuture::from(sleep(ms)).await.expect("sleep resolves");
}

fn get(v: &JsValue, k: &str) -> JsValue {
    Reflect::get(v, &JsValue::from_str(k)).expect("readable")
}

#[wasm_bindgen_test]
async fn timer_arm_fires_once_succeeds() {
    let count = Rc::new(Cell::new(0));
    let c = count.clone();
    let mut t = Timer::new(move || c.set(c.get() + 1));
    let now = js::now_ms();
    t.arm(Some(now + 5), now);
    t.arm(Some(now + 5), now); // same deadline: not a second timeout
    assert!(t.is_armed());
    wait(40).await;
    assert_eq!(count.get(), 1);
}

#[wasm_bindgen_test]
async fn timer_rearm_and_drop_cancel_succeeds() {
    let count = Rc::new(Cell::new(0));
    let c = count.clone();
    let mut t = Timer::new(move || c.set(c.get() + 1));
    let now = js::now_ms();
    t.arm(Some(now + 10), now);
    t.arm(None, now);
    assert!(!t.is_armed());
    t.arm(Some(now + 10), now);
    drop(t);
    wait(40).await;
    assert_eq!(count.get(), 0, "a cancelled or dropped timer never fires");
}

fn recording_socket(ready: u16) -> (js::WsLike, Socket, Rc<RefCell<Vec<String>>>) {
    let ws = fake_ws(ready);
    let log = Rc::new(RefCell::new(Vec::new()));
    let l = log.clone();
    let sock = Socket::attach(
        ws.clone(),
        Rc::new(move |ev| {
            l.borrow_mut().push(match ev {
                SocketEvent::Open => "open".into(),
                SocketEvent::Message(b) => format!("message {b:?}"),
                SocketEvent::NotBinary => "text".into(),
                SocketEvent::Closed => "closed".into(),
            })
        }),
    )
    .expect("a socket with addEventListener attaches");
    (ws, sock, log)
}

#[wasm_bindgen_test]
fn socket_events_and_binary_messages_succeeds() {
    let (ws, sock, log) = recording_socket(0);
    assert_eq!(
        get(&ws, "binaryType").as_string().as_deref(),
        Some("arraybuffer")
    );
    assert_eq!(get(&ws, "live").as_f64(), Some(4.0));
    assert!(!sock.is_open());
    emit(&ws, "open", &JsValue::UNDEFINED);
    emit(
        &ws,
        "message",
        &Uint8Array::from(&[0x20u8, 2, 0, 0][..]).buffer().into(),
    );
    emit(&ws, "message", &JsValue::from_str("text frame"));
    super::socket::send(&sock.handle(), &[1, 2, 3]).expect("send");
    assert_eq!(
        *log.borrow(),
        vec![
            "open".to_string(),
            "message [32, 2, 0, 0]".into(),
            "text".into()
        ]
    );
    let sent: Array = get(&ws, "sent").unchecked_into();
    assert_eq!(sent.length(), 1);
    let first: Array = sent.get(0).unchecked_into();
    assert_eq!(
        first
            .iter()
            .map(|b| b.as_f64().unwrap_or(-1.0) as i32)
            .collect::<Vec<_>>(),
        vec![1, 2, 3]
    );
}

#[wasm_bindgen_test]
fn socket_drop_removes_listeners_and_closes_succeeds() {
    let (ws, sock, log) = recording_socket(1);
    assert!(sock.is_open());
    drop(sock);
    assert_eq!(
        get(&ws, "live").as_f64(),
        Some(0.0),
        "every listener removed"
    );
    assert_eq!(get(&ws, "closed").as_f64(), Some(1.0));
    emit(
        &ws,
        "message",
        &Uint8Array::new_with_length(2).buffer().into(),
    );
    emit(&ws, "close", &JsValue::UNDEFINED);
    assert!(
        log.borrow().is_empty(),
        "nothing reaches the owner after drop"
    );
}

#[wasm_bindgen_test]
fn error_object_has_code_and_retryable_succeeds() {
    let e = shell_error(Code::InsecureUrl, "nope");
    assert!(e.is_instance_of::<js_sys::Error>());
    assert_eq!(get(&e, "code").as_string().as_deref(), Some("INSECURE_URL"));
    assert_eq!(get(&e, "retryable").as_bool(), Some(false));
    assert_eq!(get(&e, "message").as_string().as_deref(), Some("nope"));
    assert!(get(&e, "status").is_undefined());
    let e = js::make_error("THROTTLED", "slow down", true, Some(429));
    assert_eq!(get(&e, "status").as_f64(), Some(429.0));
}

fn obj(pairs: &[(&str, JsValue)]) -> JsValue {
    let o = Object::new();
    for (k, v) in pairs {
        Reflect::set(&o, &JsValue::from_str(k), v).expect("set");
    }
    o.into()
}

#[wasm_bindgen_test]
fn options_read_succeeds() {
    let retry = obj(&[("minDelayMs", 5.into()), ("jitter", 0.25.into())]);
    let o = obj(&[
        ("url", "ws://127.0.0.1:1/x".into()),
        ("keepAliveSeconds", 30.into()),
        ("cleanSession", true.into()),
        ("retry", retry),
        (
            "webSocketFactory",
            Function::new_no_args("return null").into(),
        ),
        ("modelId", JsValue::UNDEFINED),
    ]);
    let r = ClientOptions::read(&o).expect("valid options");
    assert_eq!(r.url.as_deref(), Some("ws://127.0.0.1:1/x"));
    assert_eq!(r.keep_alive_secs, Some(30));
    assert_eq!(r.clean_session, Some(true));
    assert_eq!(r.retry_min_delay_ms, Some(5));
    assert_eq!(r.retry_jitter, Some(0.25));
    assert!(r.web_socket_factory.is_some());
    assert!(r.model_id.is_none() && r.coalesce.is_none());
    assert!(ClientOptions::read(&JsValue::UNDEFINED).is_ok());
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
        let err = ClientOptions::read(&bad).err().expect("refused");
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
        options::properties(&rec).expect("record"),
        vec![("b".to_string(), "2".to_string()), ("a".into(), "1".into())]
    );
    let arr: JsValue = Array::of2(
        &Array::of2(&"k".into(), &"v".into()),
        &Array::of2(&"k".into(), &"w".into()),
    )
    .into();
    assert_eq!(
        options::properties(&arr).expect("pairs"),
        vec![("k".to_string(), "v".to_string()), ("k".into(), "w".into())]
    );
    assert!(options::properties(&obj(&[("n", 1.into())])).is_err());
    let d = js_sys::Date::new(&JsValue::from_f64(0.0));
    assert_eq!(
        options::expiry(&d.into()).expect("date"),
        "1970-01-01T00:00:00.000Z"
    );
}

#[wasm_bindgen_test]
fn panic_report_reaches_error_listeners_succeeds() {
    let got = Rc::new(RefCell::new(Vec::<JsValue>::new()));
    let g = got.clone();
    let cb = Closure::<dyn FnMut(JsValue)>::new(move |e: JsValue| g.borrow_mut().push(e));
    let f: Function = cb.as_ref().clone().unchecked_into();
    super::panic::add_sink(9001, &f);
    super::panic::report_message("boom");
    super::panic::remove_sink(9001, &f);
    super::panic::report_message("after removal");
    let got = got.borrow();
    assert_eq!(got.len(), 1, "only while registered");
    assert_eq!(
        get(&got[0], "code").as_string().as_deref(),
        Some("INTERNAL")
    );
    assert_eq!(get(&got[0], "message").as_string().as_deref(), Some("boom"));
}

#[wasm_bindgen_test]
fn socket_without_event_target_fails() {
    let not_a_socket: js::WsLike = Object::new().unchecked_into();
    assert!(Socket::attach(not_a_socket, Rc::new(|_| {})).is_err());
}
