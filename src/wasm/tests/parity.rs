//! Shell unit tests of what issue 14 added for parity with the official SDKs, on a
//! fake socket: `will`, `tokenRenewalMarginSeconds`, the keep-alive maximum, `to`,
//! `creationTime`, `outputName`, `sendOutputEvent`, `onInputMessage` and the
//! connection ids of routed messages. End to end: tests/web_parity.rs.

use super::*;
use js_sys::Uint8Array;

const MODULE_CS: &str = "HostName=h.example;DeviceId=d;ModuleId=m;SharedAccessKey=a2V5";

#[wasm_bindgen]
extern "C" {
    #[wasm_bindgen(method, js_name = sendEvent)]
    fn send_event_with(this: &Client, body: JsValue, options: JsValue) -> Promise;
    #[wasm_bindgen(method, js_name = sendOutputEvent)]
    fn send_output_event(this: &Client, name: JsValue, body: JsValue, options: JsValue) -> Promise;
    #[wasm_bindgen(method, catch, js_name = onInputMessage)]
    fn on_input_message(this: &Client, name: JsValue, cb: Function) -> Result<(), JsValue>;
}

fn message(e: &JsValue) -> String {
    get(e, "message").as_string().unwrap_or_default()
}

fn code(e: &JsValue) -> String {
    get(e, "code").as_string().unwrap_or_default()
}

/// A client for `cs` on a fake socket, connected (CONNACK fed); `extra` options added.
fn connected(cs: &str, ws: &JsValue, extra: &[(&str, JsValue)]) -> Client {
    let o = obj(&[
        ("url", "ws://127.0.0.1:1/$iothub/websocket".into()),
        ("webSocketFactory", fake_factory(ws).into()),
        ("coalesce", false.into()),
    ]);
    for (k, v) in extra {
        Reflect::set(&o, &JsValue::from_str(k), v).expect("set");
    }
    let c: Client = DeviceClient::from_connection_string(cs.into(), Some(o.unchecked_into()))
        .expect("client")
        .unchecked_into();
    let _pending = c.connect();
    emit(ws, "open", &JsValue::UNDEFINED);
    feed(ws, &[0x20, 2, 0, 0]);
    assert_eq!(c.state(), "connected");
    c
}

fn feed(ws: &JsValue, bytes: &[u8]) {
    emit(ws, "message", &Uint8Array::from(bytes).buffer().into());
}

/// A QoS 0 PUBLISH from the hub.
fn publish(topic: &str, payload: &[u8]) -> Vec<u8> {
    let len = 2 + topic.len() + payload.len();
    assert!(len < 128);
    let mut p = vec![0x30, len as u8, 0, topic.len() as u8];
    p.extend_from_slice(topic.as_bytes());
    p.extend_from_slice(payload);
    p
}

/// What the client wrote, each WebSocket message as (lossy) text.
fn sent_text(ws: &JsValue) -> Vec<String> {
    let sent: Array = get(ws, "sent").unchecked_into();
    sent.iter()
        .map(|b| {
            let bytes: Vec<u8> = Array::from(&b)
                .iter()
                .map(|x| x.as_f64().unwrap_or(0.0) as u8)
                .collect();
            String::from_utf8_lossy(&bytes).into_owned()
        })
        .collect()
}

#[wasm_bindgen_test]
fn will_in_connect_with_its_properties_succeeds() {
    let ws = fake_ws(0);
    let will = obj(&[
        ("body", obj(&[("state", "gone".into())])),
        ("properties", obj(&[("k", "v".into())])),
        ("messageId", "w1".into()),
        ("qos", 1.into()),
    ]);
    let c = connected(
        CS,
        &ws,
        &[("will", will), ("tokenRenewalMarginSeconds", 120.into())],
    );
    let connect = &sent_text(&ws)[0];
    assert!(
        connect.contains(
            "devices/d/messages/events/%24.mid=w1&%24.ct=application%2Fjson&%24.ce=utf-8&k=v"
        ),
        "{connect:?}"
    );
    assert!(connect.contains(r#"{"state":"gone"}"#), "{connect:?}");
    c.close();
}

#[wasm_bindgen_test]
fn options_will_margin_keep_alive_refused_fails() {
    let cases = [
        (
            obj(&[("will", "bye".into())]),
            "options.will must be an object with a body",
        ),
        (
            obj(&[("will", obj(&[]))]),
            "options.will must be an object with a body",
        ),
        (
            obj(&[("will", obj(&[("body", "x".into()), ("qos", 3.into())]))]),
            "options.will: options.qos must be 0 or 1",
        ),
        (
            obj(&[("keepAliveSeconds", 1178.into())]),
            "options.keepAliveSeconds must be a number from 0 to 1177",
        ),
        (
            obj(&[("tokenRenewalMarginSeconds", (-1).into())]),
            "options.tokenRenewalMarginSeconds must be a number from 0 to 4294967295",
        ),
        // The core's policy: the margin shorter than the ttl, no QoS 2 will.
        (
            obj(&[("tokenRenewalMarginSeconds", 3600.into())]),
            "token renew margin must be shorter than the token ttl",
        ),
        (
            obj(&[("will", obj(&[("body", "x".into()), ("qos", 2.into())]))]),
            "QoS 2",
        ),
    ];
    for (o, want) in cases {
        let err = construct(o).expect_err("refused");
        assert!(
            code(&err) == "INVALID_ARGUMENT" || code(&err) == "QOS_NOT_SUPPORTED",
            "{}",
            code(&err)
        );
        assert!(
            message(&err).contains(want),
            "{:?} has {want:?}",
            message(&err)
        );
    }
    assert!(construct(obj(&[("keepAliveSeconds", 1177.into())])).is_ok());
}

#[wasm_bindgen_test]
async fn message_to_creation_time_and_output_name_on_the_wire_succeeds() {
    let ws = fake_ws(0);
    let c = connected(MODULE_CS, &ws, &[]);
    let d = js_sys::Date::new(&JsValue::from_f64(1_893_456_000_000.0));
    let opts = obj(&[
        ("qos", 0.into()),
        ("to", "/x".into()),
        ("creationTime", d.into()),
    ]);
    JsFuture::from(c.send_event_with("a".into(), opts))
        .await
        .expect("sent");
    JsFuture::from(c.send_output_event(
        "out 1".into(),
        "b".into(),
        obj(&[("qos", 0.into()), ("properties", obj(&[("k", "v".into())]))]),
    ))
    .await
    .expect("sent");
    let sent = sent_text(&ws);
    assert!(
        sent[1].contains(
            "devices/d/modules/m/messages/events/%24.to=%2Fx&%24.ctime=2030-01-01T00%3A00%3A00.000Z"
        ),
        "{sent:?}"
    );
    assert!(
        sent[2].contains("devices/d/modules/m/messages/events/%24.on=out%201&k=v"),
        "{sent:?}"
    );
    for (opts, want) in [
        (
            obj(&[("creationTime", 5.into())]),
            "options.creationTime must be a Date or a string",
        ),
        (obj(&[("to", 5.into())]), "options.to must be a string"),
    ] {
        let err = JsFuture::from(c.send_event_with("x".into(), opts))
            .await
            .expect_err("refused");
        assert_eq!(message(&err), want);
    }
    for (name, opts) in [
        (JsValue::from(5), JsValue::UNDEFINED),
        ("".into(), JsValue::UNDEFINED),
        ("o".into(), "options".into()),
    ] {
        let err = JsFuture::from(c.send_output_event(name, "x".into(), opts))
            .await
            .expect_err("refused");
        assert_eq!(code(&err), "INVALID_ARGUMENT");
    }
    c.close();
}

#[wasm_bindgen_test]
async fn module_methods_on_a_device_identity_fail() {
    let ws = fake_ws(0);
    let (c, _) = client_with(&ws);
    let want =
        "an output or input name must be a non-empty string, on a module identity (ModuleId)";
    let err = JsFuture::from(c.send_output_event("o".into(), "x".into(), JsValue::UNDEFINED))
        .await
        .expect_err("refused");
    assert_eq!(message(&err), want);
    let err = c
        .on_input_message("in1".into(), Function::new_no_args(""))
        .expect_err("refused");
    assert_eq!(
        (code(&err), message(&err)),
        ("INVALID_ARGUMENT".into(), want.into())
    );
    c.close();
}

#[wasm_bindgen_test]
fn on_input_message_only_its_input_with_the_sender_succeeds() {
    let ws = fake_ws(0);
    let c = connected(MODULE_CS, &ws, &[]);
    let got = Rc::new(RefCell::new(Vec::<(String, JsValue)>::new()));
    let listener = |tag: &'static str| {
        let g = got.clone();
        Closure::<dyn FnMut(JsValue)>::new(move |m: JsValue| g.borrow_mut().push((tag.into(), m)))
    };
    let (a, b) = (listener("in1"), listener("in2"));
    c.on_input_message("in1".into(), a.as_ref().clone().unchecked_into())
        .expect("in1");
    c.on_input_message("in2".into(), b.as_ref().clone().unchecked_into())
        .expect("in2");
    assert!(
        sent_text(&ws)
            .iter()
            .any(|s| s.contains("devices/d/modules/m/inputs/#")),
        "subscribed to the inputs"
    );
    feed(
        &ws,
        &publish(
            "devices/d/modules/m/inputs/in1/%24.cdid=d&%24.cmid=sensor&k=v",
            b"21",
        ),
    );
    feed(&ws, &publish("devices/d/modules/m/inputs/in3/", b"22"));
    let got = got.borrow();
    assert_eq!(got.len(), 1, "only in1's listener, once");
    let (tag, m) = &got[0];
    assert_eq!(tag, "in1");
    assert_eq!(get(m, "inputName").as_string().as_deref(), Some("in1"));
    assert_eq!(
        get(m, "connectionDeviceId").as_string().as_deref(),
        Some("d")
    );
    assert_eq!(
        get(m, "connectionModuleId").as_string().as_deref(),
        Some("sensor")
    );
    assert_eq!(
        get(&get(m, "properties"), "k").as_string().as_deref(),
        Some("v")
    );
    drop(got);
    c.close();
}
