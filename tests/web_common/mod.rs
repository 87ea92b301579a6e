//! Helpers shared by the headless-Chromium test targets that talk to the real
//! emulator (tests/web_client.rs, tests/web_errors.rs, tests/web_throttled.rs): addresses from the
//! build-time env that scripts/test.sh exports, service calls signed with
//! hubwire's own SAS code, and small Promise/recorder utilities.
#![allow(dead_code)]

use hubwire::hub::sas;
use hubwire::wasm::{ClientOptionsArg, DeviceClient, TokenProviderArg};
use js_sys::{Array, Function, Object, Promise, Reflect, JSON};
use std::cell::RefCell;
use std::rc::Rc;
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use wasm_bindgen_futures::JsFuture;

/// Service API base, e.g. `http://127.0.0.1:P`.
const HTTP: Option<&str> = match option_env!("HUBWIRE_EMULATOR_URL") {
    Some(v) => Some(v),
    None => option_env!("HUBWIRE_EMULATOR_HTTP"),
};
/// Device endpoint, e.g. `ws://127.0.0.1:P/$iothub/websocket`.
const WS: Option<&str> = match option_env!("HUBWIRE_EMULATOR_WS_URL") {
    Some(v) => Some(v),
    None => option_env!("HUBWIRE_EMULATOR_WS"),
};
/// `HostName=...;SharedAccessKeyName=iothubowner;SharedAccessKey=...`.
const SERVICE_CS: Option<&str> = match option_env!("HUBWIRE_SERVICE_CONNECTION_STRING") {
    Some(v) => Some(v),
    None => option_env!("HUBWIRE_SERVICE_CS"),
};

#[wasm_bindgen(inline_js = r#"
export function sleep(ms) { return new Promise((r) => setTimeout(r, ms)); }
export async function http(method, url, auth, body, headers) {
  const h = { Authorization: auth };
  if (body !== undefined) h["Content-Type"] = "application/json";
  for (const [k, v] of headers) h[k] = v;
  const r = await fetch(url, { method, headers: h, body });
  const text = await r.text();
  let json = null;
  try { json = text ? JSON.parse(text) : null; } catch (_) { json = text; }
  return { status: r.status, json };
}
// A webSocketFactory around the real WebSocket with two switches:
// `ctl.mute = true` withholds every frame the hub sends (the client hears nothing),
// `ctl.block = true` makes the factory throw a plain (retryable) Error.
export function switchFactory() {
  const ctl = { mute: false, block: false, opened: 0 };
  const factory = (url, protocols) => {
    if (ctl.block) throw new Error("blocked by the test");
    ctl.opened++;
    const ws = new WebSocket(url, protocols);
    const add = ws.addEventListener.bind(ws);
    ws.addEventListener = (t, f, o) => {
      if (t === "message") return add(t, (e) => { if (!ctl.mute) f(e); }, o);
      return add(t, f, o);
    };
    return ws;
  };
  return { factory, ctl };
}
"#)]
extern "C" {
    fn sleep(ms: u32) -> Promise;
    fn http(method: &str, url: &str, auth: &str, body: JsValue, headers: Array) -> Promise;
    /// `{factory, ctl}`: see the inline JS.
    #[wasm_bindgen(js_name = switchFactory)]
    pub fn switch_factory() -> JsValue;
}

#[wasm_bindgen]
extern "C" {
    /// The client object `DeviceClient.from*` returns (src/wasm/client.js), bound
    /// with the method names the tests used when it was a Rust class.
    pub type Client;
    #[wasm_bindgen(method)]
    pub fn connect(this: &Client) -> Promise;
    #[wasm_bindgen(method)]
    pub fn disconnect(this: &Client) -> Promise;
    #[wasm_bindgen(method)]
    pub fn close(this: &Client);
    #[wasm_bindgen(method)]
    pub fn free(this: &Client);
    #[wasm_bindgen(method, getter)]
    pub fn state(this: &Client) -> String;
    #[wasm_bindgen(method, js_name = sendEvent)]
    pub fn send_event(this: &Client, body: JsValue, options: Option<JsValue>) -> Promise;
    #[wasm_bindgen(method, js_name = getTwin)]
    pub fn get_twin(this: &Client) -> Promise;
    #[wasm_bindgen(method, js_name = updateReportedProperties)]
    pub fn update_reported_properties(this: &Client, patch: JsValue) -> Promise;
    #[wasm_bindgen(method, catch, js_name = onMessage)]
    pub fn on_message(this: &Client, cb: Function) -> Result<(), JsValue>;
    #[wasm_bindgen(method, catch, js_name = onDesiredPropertiesUpdate)]
    pub fn on_desired_properties_update(this: &Client, cb: Function) -> Result<(), JsValue>;
    #[wasm_bindgen(method, catch, js_name = onMethod)]
    pub fn on_method(
        this: &Client,
        name_or_handler: JsValue,
        handler: Option<JsValue>,
    ) -> Result<(), JsValue>;
    #[wasm_bindgen(method, catch)]
    pub fn on(this: &Client, event: &str, cb: Function) -> Result<(), JsValue>;
    #[wasm_bindgen(method)]
    pub fn off(this: &Client, event: &str, cb: Function);
}

/// `DeviceClient.fromConnectionString(cs, options)`.
pub fn client_from_cs(cs: &str, options: Option<ClientOptionsArg>) -> Result<Client, JsValue> {
    DeviceClient::from_connection_string(cs.into(), options).map(JsCast::unchecked_into)
}

/// `DeviceClient.fromTokenProvider(provider, options)`.
pub fn client_from_provider(
    provider: TokenProviderArg,
    options: Option<ClientOptionsArg>,
) -> Result<Client, JsValue> {
    DeviceClient::from_token_provider(provider, options).map(JsCast::unchecked_into)
}

pub fn env(v: Option<&'static str>, name: &str) -> &'static str {
    v.unwrap_or_else(|| {
        panic!("{name} was not set at build time: run through scripts/test.sh wasm_test")
    })
}

pub fn get(v: &JsValue, path: &str) -> JsValue {
    path.split('.').fold(v.clone(), |acc, k| {
        Reflect::get(&acc, &JsValue::from_str(k)).unwrap_or(JsValue::UNDEFINED)
    })
}

pub fn set(v: &JsValue, key: &str, value: &JsValue) {
    Reflect::set(v, &JsValue::from_str(key), value).expect("set");
}

pub fn text(v: &JsValue, path: &str) -> Option<String> {
    get(v, path).as_string()
}

pub fn obj(pairs: &[(&str, JsValue)]) -> JsValue {
    let o = Object::new();
    for (k, v) in pairs {
        Reflect::set(&o, &JsValue::from_str(k), v).expect("set");
    }
    o.into()
}

pub fn json(s: &str) -> JsValue {
    JSON::parse(s).expect("test JSON parses")
}

pub async fn wait(ms: u32) {
    JsFuture::from(sleep(ms)).await.expect("sleep");
}

pub async fn ok(p: Promise) -> JsValue {
    match JsFuture::from(p).await {
        Ok(v) => v,
        Err(e) => panic!(
            "expected success, got {}",
            text(&e, "code").unwrap_or_default() + " " + &text(&e, "message").unwrap_or_default()
        ),
    }
}

/// The rejection of `p`: an `Error` with a `code` (panics otherwise).
pub async fn rejection(p: Promise) -> JsValue {
    match JsFuture::from(p).await {
        Ok(_) => panic!("expected a rejection"),
        Err(e) => {
            assert!(
                e.is_instance_of::<js_sys::Error>(),
                "rejections are Error objects"
            );
            assert!(text(&e, "code").is_some(), "errors carry a code");
            e
        }
    }
}

/// Polls `cond` every 20 ms for up to `ms`.
pub async fn until(ms: u32, mut cond: impl FnMut() -> bool) -> bool {
    for _ in 0..(ms / 20).max(1) {
        if cond() {
            return true;
        }
        wait(20).await;
    }
    cond()
}

fn cs_field<'a>(cs: &'a str, key: &str) -> &'a str {
    cs.split(';')
        .find_map(|kv| kv.strip_prefix(key).and_then(|r| r.strip_prefix('=')))
        .unwrap_or_else(|| panic!("connection string has no {key}"))
}

pub fn host() -> &'static str {
    cs_field(
        env(SERVICE_CS, "HUBWIRE_SERVICE_CONNECTION_STRING"),
        "HostName",
    )
}

/// A service SAS token from the service connection string, made with hubwire's SAS code.
fn service_token() -> String {
    use base64::Engine as _;
    let cs = env(SERVICE_CS, "HUBWIRE_SERVICE_CONNECTION_STRING");
    let key = base64::engine::general_purpose::STANDARD
        .decode(cs_field(cs, "SharedAccessKey"))
        .expect("service key is base64");
    let now = (js_sys::Date::now() / 1000.0) as u64;
    sas::token(
        &key,
        cs_field(cs, "HostName"),
        now + 3600,
        Some(cs_field(cs, "SharedAccessKeyName")),
    )
}

/// Calls the service API; returns (status, parsed JSON body).
pub async fn service(
    method: &str,
    path: &str,
    body: Option<&str>,
    headers: &[(&str, &str)],
) -> (u16, JsValue) {
    let url = format!("{}{}", env(HTTP, "HUBWIRE_EMULATOR_URL"), path);
    let hs = Array::new();
    for (k, v) in headers {
        hs.push(&Array::of2(&JsValue::from_str(k), &JsValue::from_str(v)));
    }
    let body = body.map(JsValue::from_str).unwrap_or(JsValue::UNDEFINED);
    let r = ok(http(method, &url, &service_token(), body, hs)).await;
    (
        get(&r, "status").as_f64().expect("status") as u16,
        get(&r, "json"),
    )
}

/// Creates a device with a unique id; returns (device id, primary key).
pub async fn new_device(name: &str) -> (String, String) {
    let id = format!("web-{name}-{}", (js_sys::Math::random() * 1e9) as u64);
    let (status, dev) = service(
        "PUT",
        &format!("/devices/{id}"),
        Some(&format!("{{\"deviceId\":\"{id}\"}}")),
        &[],
    )
    .await;
    assert_eq!(
        status,
        200,
        "PUT /devices/{id}: {:?}",
        JSON::stringify(&dev).ok().map(String::from)
    );
    let key = text(&dev, "authentication.symmetricKey.primaryKey").expect("generated key");
    (id, key)
}

pub fn connection_string(id: &str, key: &str) -> String {
    format!("HostName={};DeviceId={id};SharedAccessKey={key}", host())
}

/// Options pointing at the emulator, plus `extra` fields.
pub fn options(extra: &[(&str, JsValue)]) -> ClientOptionsArg {
    let o: Object =
        obj(&[("url", JsValue::from_str(env(WS, "HUBWIRE_EMULATOR_WS_URL")))]).unchecked_into();
    for (k, v) in extra {
        Reflect::set(&o, &JsValue::from_str(k), v).expect("set");
    }
    o.unchecked_into()
}

/// Reconnect quickly (50 ms doubling to 200 ms, no jitter).
pub fn fast_retry() -> (&'static str, JsValue) {
    (
        "retry",
        obj(&[
            ("minDelayMs", 50.into()),
            ("maxDelayMs", 200.into()),
            ("jitter", 0.into()),
        ]),
    )
}

/// A client for this device, with [`options`] plus `extra`.
pub fn device_client(id: &str, key: &str, extra: &[(&str, JsValue)]) -> Client {
    client_from_cs(&connection_string(id, key), Some(options(extra))).expect("client")
}

/// A new device and a connected client for it: (client, id, key).
pub async fn connected_client(name: &str, extra: &[(&str, JsValue)]) -> (Client, String, String) {
    let (id, key) = new_device(name).await;
    let c = device_client(&id, &key, extra);
    ok(c.connect()).await;
    assert_eq!(c.state(), "connected");
    (c, id, key)
}

/// Telemetry messages (whole records) the emulator recorded for the device, in order.
pub async fn telemetry_of(id: &str) -> Vec<JsValue> {
    let (status, r) = service(
        "GET",
        &format!("/emulator/telemetry?deviceId={id}&after=0&limit=1000"),
        None,
        &[],
    )
    .await;
    assert_eq!(status, 200);
    Array::from(&get(&r, "items")).iter().collect()
}

/// Telemetry bodies the emulator recorded for the device, in order.
pub async fn telemetry_bodies(id: &str) -> Vec<String> {
    telemetry_of(id)
        .await
        .iter()
        .map(|i| text(i, "body").unwrap_or_default())
        .collect()
}

/// Injects an emulator fault (`POST /emulator/faults/{id}` with this JSON body); returns the status.
pub async fn fault(id: &str, body: &str) -> u16 {
    service("POST", &format!("/emulator/faults/{id}"), Some(body), &[])
        .await
        .0
}

/// The emulator's connection facts for the device (`GET /emulator/devices/{id}/connection`).
pub async fn connection_of(id: &str) -> JsValue {
    service(
        "GET",
        &format!("/emulator/devices/{id}/connection"),
        None,
        &[],
    )
    .await
    .1
}

/// Invokes a direct method through the service API (5 s response timeout).
pub async fn invoke(id: &str, method: &str, payload: &str) -> (u16, JsValue) {
    let body = format!(
        "{{\"methodName\":\"{method}\",\"payload\":{payload},\"responseTimeoutInSeconds\":5,\"connectTimeoutInSeconds\":0}}"
    );
    service("POST", &format!("/twins/{id}/methods"), Some(&body), &[]).await
}

/// Collects the first argument of every call.
pub struct Recorder {
    calls: Rc<RefCell<Vec<JsValue>>>,
    closure: Closure<dyn FnMut(JsValue)>,
}

impl Recorder {
    pub fn new() -> Recorder {
        let calls = Rc::new(RefCell::new(Vec::new()));
        let c = calls.clone();
        Recorder {
            calls,
            closure: Closure::new(move |v: JsValue| c.borrow_mut().push(v)),
        }
    }
    pub fn f(&self) -> Function {
        self.closure.as_ref().unchecked_ref::<Function>().clone()
    }
    pub fn len(&self) -> usize {
        self.calls.borrow().len()
    }
    pub fn get(&self, i: usize) -> JsValue {
        self.calls.borrow()[i].clone()
    }
}
