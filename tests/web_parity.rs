//! End-to-end tests of what `DeviceClient` gained for parity with the official SDKs
//! (issue 14), in the browser against the real emulator: `to` and `creationTime`
//! (`$.ctime`) on telemetry, the last will published when the connection drops, and
//! two module clients exchanging messages through an IoT Edge route
//! (`sendOutputEvent` → `onInputMessage`, with the sender as `connectionDeviceId` /
//! `connectionModuleId`). Option parsing and refusals are unit-tested in src/wasm/tests.rs.
#![cfg(target_arch = "wasm32")]
#![forbid(unsafe_code)]

mod web_common;

use js_sys::{Function, Promise};
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use wasm_bindgen_test::{wasm_bindgen_test, wasm_bindgen_test_configure};
use web_common::*;

wasm_bindgen_test_configure!(run_in_browser);

#[wasm_bindgen(inline_js = r#"
export function isoDate(s) { return new Date(s); }
"#)]
extern "C" {
    #[wasm_bindgen(js_name = isoDate)]
    fn iso_date(s: &str) -> JsValue;
}

#[wasm_bindgen]
extern "C" {
    #[wasm_bindgen(method, js_name = sendOutputEvent)]
    fn send_output_event(this: &Client, name: &str, body: JsValue, options: JsValue) -> Promise;
    #[wasm_bindgen(method, catch, js_name = onInputMessage)]
    fn on_input_message(this: &Client, name: &str, cb: Function) -> Result<(), JsValue>;
}

fn props(v: &JsValue) -> JsValue {
    get(v, "properties")
}

#[wasm_bindgen_test]
async fn send_event_to_and_creation_time_reach_the_hub_succeeds() {
    let (c, id, _) = connected_client("ctime", &[]).await;
    let opts = obj(&[
        ("to", "/devices/elsewhere/messages/events".into()),
        ("creationTime", iso_date("2030-01-02T03:04:05.006Z")),
        ("messageId", "t1".into()),
    ]);
    ok(c.send_event("hello".into(), Some(opts))).await;
    ok(c.send_event(
        "second".into(),
        Some(obj(&[("creationTime", "2031-05-06T07:08:09Z".into())])),
    ))
    .await;
    let items = telemetry_of(&id).await;
    assert_eq!(items.len(), 2);
    let sys = get(&items[0], "systemProperties");
    assert_eq!(
        text(&sys, "to").as_deref(),
        Some("/devices/elsewhere/messages/events")
    );
    assert_eq!(
        text(&sys, "creationTimeUtc").as_deref(),
        Some("2030-01-02T03:04:05.006Z")
    );
    assert_eq!(text(&sys, "messageId").as_deref(), Some("t1"));
    // Sent as $.ctime, a system property: nothing left among the application properties.
    assert_eq!(
        js_sys::Object::keys(props(&items[0]).unchecked_ref::<js_sys::Object>()).length(),
        0
    );
    assert_eq!(
        text(&items[1], "systemProperties.creationTimeUtc").as_deref(),
        Some("2031-05-06T07:08:09Z")
    );
    c.close();
}

#[wasm_bindgen_test]
async fn will_published_by_the_hub_when_the_connection_drops_succeeds() {
    let will = obj(&[
        ("body", json(r#"{"state":"gone"}"#)),
        ("properties", obj(&[("reason", "lost".into())])),
        ("messageId", "will-1".into()),
        ("qos", 1.into()),
    ]);
    let (c, id, _) = connected_client("will", &[("will", will), fast_retry()]).await;
    ok(c.send_event("alive".into(), None)).await;
    // A clean disconnect publishes no will; an unclean end (the hub drops us) does.
    assert_eq!(fault(&id, r#"{"kind":"drop"}"#).await, 204);
    let mut items = Vec::new();
    for _ in 0..100 {
        items = telemetry_of(&id).await;
        if items.len() >= 2 {
            break;
        }
        wait(50).await;
    }
    assert_eq!(items.len(), 2, "the will was not published");
    let w = &items[1];
    assert_eq!(text(w, "body").as_deref(), Some(r#"{"state":"gone"}"#));
    assert_eq!(text(w, "properties.reason").as_deref(), Some("lost"));
    assert_eq!(
        text(w, "properties.iothub-MessageType").as_deref(),
        Some("Will")
    );
    assert_eq!(
        text(w, "systemProperties.messageId").as_deref(),
        Some("will-1")
    );
    assert_eq!(
        text(w, "systemProperties.contentType").as_deref(),
        Some("application/json")
    );
    // The client reconnects, and a clean disconnect adds no will.
    assert!(until(5000, || c.state() == "connected").await);
    ok(c.disconnect()).await;
    wait(200).await;
    assert_eq!(telemetry_of(&id).await.len(), 2);
    c.close();
}

/// A module identity on `device`; returns its key.
async fn new_module(device: &str, module: &str) -> String {
    let (status, m) = service(
        "PUT",
        &format!("/devices/{device}/modules/{module}"),
        Some(&format!(
            r#"{{"deviceId":"{device}","moduleId":"{module}"}}"#
        )),
        &[],
    )
    .await;
    assert_eq!(status, 200);
    text(&m, "authentication.symmetricKey.primaryKey").expect("module key")
}

fn module_client(device: &str, module: &str, key: &str) -> Client {
    let cs = format!(
        "HostName={};DeviceId={device};ModuleId={module};SharedAccessKey={key}",
        host()
    );
    client_from_cs(&cs, Some(options(&[]))).expect("module client")
}

#[wasm_bindgen_test]
async fn modules_exchange_messages_through_an_edge_route_succeeds() {
    let (device, _) = new_device("edge").await;
    let sensor_key = new_module(&device, "sensor").await;
    let filter_key = new_module(&device, "filter").await;
    let routes = r#"{"routes":{
        "toFilter":"FROM /messages/modules/sensor/outputs/temperature INTO BrokeredEndpoint(\"/modules/filter/inputs/input1\")",
        "other":"FROM /messages/modules/sensor/outputs/humidity INTO BrokeredEndpoint(\"/modules/filter/inputs/input2\")"}}"#;
    let (status, _) = service(
        "PUT",
        &format!("/emulator/routes/{device}"),
        Some(routes),
        &[],
    )
    .await;
    assert_eq!(status, 200);

    let sensor = module_client(&device, "sensor", &sensor_key);
    let filter = module_client(&device, "filter", &filter_key);
    let input1 = Recorder::new();
    let input2 = Recorder::new();
    let all = Recorder::new();
    filter
        .on_input_message("input1", input1.f())
        .expect("onInputMessage");
    filter
        .on_input_message("input2", input2.f())
        .expect("onInputMessage");
    filter.on_message(all.f()).expect("onMessage");
    ok(filter.connect()).await;
    ok(sensor.connect()).await;

    let opts = obj(&[
        ("properties", obj(&[("unit", "C".into())])),
        ("messageId", "s-1".into()),
    ]);
    ok(sensor.send_output_event("temperature", json(r#"{"t":21.5}"#), opts)).await;
    assert!(
        until(5000, || input1.len() == 1).await,
        "input1 got nothing"
    );
    let m = input1.get(0);
    assert_eq!(text(&m, "inputName").as_deref(), Some("input1"));
    assert_eq!(text(&m, "messageId").as_deref(), Some("s-1"));
    assert_eq!(text(&m, "connectionDeviceId").as_deref(), Some(&device[..]));
    assert_eq!(text(&m, "connectionModuleId").as_deref(), Some("sensor"));
    assert_eq!(text(&m, "contentType").as_deref(), Some("application/json"));
    assert_eq!(text(&m, "properties.unit").as_deref(), Some("C"));
    let json_body = get(&m, "json")
        .unchecked_into::<Function>()
        .call0(&m)
        .expect("json()");
    assert_eq!(get(&json_body, "t").as_f64(), Some(21.5));
    // Only the listener of that input; `message` listeners see every input.
    assert_eq!(input2.len(), 0);
    assert_eq!(all.len(), 1);

    // The emulator recorded the output event with its output name.
    let items = telemetry_of(&device).await;
    assert_eq!(
        text(&items[0], "systemProperties.outputName").as_deref(),
        Some("temperature")
    );
    assert_eq!(text(&items[0], "moduleId").as_deref(), Some("sensor"));

    // sendEvent (no output) reaches the hub but no input.
    ok(sensor.send_event("plain".into(), None)).await;
    wait(200).await;
    assert_eq!(input1.len() + input2.len(), 1);
    sensor.close();
    filter.close();
}
