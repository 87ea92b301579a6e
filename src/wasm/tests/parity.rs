//! Shell unit tests of the options and methods added for parity with the official
//! SDKs (issue 14): will, token renewal margin, keep-alive bound, `to`,
//! `creationTime`, `outputName`, `sendOutputEvent`, `onInputMessage`, and the
//! connection ids of routed messages. End to end: tests/web_parity.rs.

use super::*;
use js_sys::Uint8Array;

const MODULE_CS: &str = "HostName=h.example;DeviceId=d;ModuleId=m;SharedAccessKey=a2V5";

fn code(e: &JsValue) -> Option<String> {
    get(e, "code").as_string()
}

fn message(e: &JsValue) -> String {
    get(e, "message").as_string().unwrap_or_default()
}

#[wasm_bindgen_test]
fn options_will_margin_and_keep_alive_maximum_read_succeeds() {
    let will = obj(&[
        ("body", obj(&[("state", "gone".into())])),
        ("properties", obj(&[("k", "v".into())])),
        ("qos", 0.into()),
        ("messageId", "w1".into()),
    ]);
    let o = obj(&[
        ("will", will),
        ("tokenRenewalMarginSeconds", 120.into()),
        ("keepAliveSeconds", 1177.into()),
    ]);
    let mut c = hub::ClientConfig::from_connection_string(CS).expect("cs");
    convert::client_options(&o, &mut c).expect("valid options");
    let w = c.will.clone().expect("a will");
    assert_eq!(w.payload, br#"{"state":"gone"}"#);
    assert_eq!(w.qos, crate::mqtt::QoS::AtMostOnce);
    assert_eq!(w.properties, vec![("k".to_string(), "v".to_string())]);
    assert_eq!(w.system.message_id.as_deref(), Some("w1"));
    assert_eq!(w.system.content_type.as_deref(), Some("application/json"));
    assert_eq!(c.token_renew_margin_secs, Some(120));
    assert_eq!(c.keep_alive_secs, 1177);
    assert!(hub::Client::new(c, 0).is_ok());
}

#[wasm_bindgen_test]
fn options_will_margin_and_keep_alive_bad_fails() {
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
            "options.will: options.qos must be a number from 0 to 2",
        ),
        (
            obj(&[("will", obj(&[("body", JsValue::symbol(None))]))]),
            "options.will: body must be a string, a Uint8Array or a JSON value",
        ),
        (
            obj(&[("keepAliveSeconds", 1178.into())]),
            "options.keepAliveSeconds must be a number from 0 to 1177",
        ),
        (
            obj(&[("tokenRenewalMarginSeconds", (-1).into())]),
            "options.tokenRenewalMarginSeconds must be a number from 0 to 4294967295",
        ),
    ];
    for (o, want) in cases {
        let mut c = hub::ClientConfig::from_connection_string(CS).expect("cs");
        let err = convert::client_options(&o, &mut c).expect_err("refused");
        assert_eq!(code(&err).as_deref(), Some("INVALID_ARGUMENT"));
        assert_eq!(message(&err), want);
    }
    // Ranges that are policy are the core's: a margin not shorter than the ttl, a QoS 2 will.
    for o in [
        obj(&[("tokenRenewalMarginSeconds", 3600.into())]),
        obj(&[("will", obj(&[("body", "x".into()), ("qos", 2.into())]))]),
    ] {
        let err = DeviceClient::from_connection_string(CS, Some(o.clone().unchecked_into()))
            .err()
            .expect("refused");
        assert!(matches!(
            code(&err).as_deref(),
            Some("INVALID_ARGUMENT" | "QOS_NOT_SUPPORTED")
        ));
    }
}

#[wasm_bindgen_test]
fn message_to_creation_time_and_output_name_read_succeeds() {
    let d = js_sys::Date::new(&JsValue::from_f64(1_893_456_000_000.0));
    let o = obj(&[
        ("to", "/devices/x/messages/events".into()),
        ("creationTime", d.into()),
        ("outputName", "out1".into()),
    ]);
    let m = convert::telemetry(&"b".into(), &o).expect("valid");
    assert_eq!(m.system.to.as_deref(), Some("/devices/x/messages/events"));
    assert_eq!(
        m.system.creation_time_utc.as_deref(),
        Some("2030-01-01T00:00:00.000Z")
    );
    assert_eq!(m.system.output_name.as_deref(), Some("out1"));
    let m = convert::telemetry(&"b".into(), &obj(&[("creationTime", "2030".into())])).unwrap();
    assert_eq!(m.system.creation_time_utc.as_deref(), Some("2030"));
    for (o, want) in [
        (
            obj(&[("creationTime", 5.into())]),
            "options.creationTime must be a Date or a string",
        ),
        (obj(&[("to", 5.into())]), "options.to must be a string"),
    ] {
        let err = convert::telemetry(&"b".into(), &o).expect_err("refused");
        assert_eq!(message(&err), want);
    }
}

#[wasm_bindgen_test]
fn c2d_message_connection_ids_succeeds() {
    let m = hub::C2dMessage {
        payload: b"x".to_vec(),
        input_name: Some("in1".into()),
        system: hub::SystemProperties {
            connection_device_id: Some("d".into()),
            connection_module_id: Some("sensor".into()),
            ..Default::default()
        },
        properties: vec![],
    };
    let v = convert::c2d_message(&m);
    assert_eq!(get(&v, "inputName").as_string().as_deref(), Some("in1"));
    assert_eq!(
        get(&v, "connectionDeviceId").as_string().as_deref(),
        Some("d")
    );
    assert_eq!(
        get(&v, "connectionModuleId").as_string().as_deref(),
        Some("sensor")
    );
}

/// A module client on a fake socket, connected (CONNACK fed).
fn connected_module(ws: &JsValue) -> DeviceClient {
    let opts = obj(&[
        ("url", "ws://127.0.0.1:1/$iothub/websocket".into()),
        ("webSocketFactory", fake_factory(ws).into()),
        ("coalesce", false.into()),
    ]);
    let c = DeviceClient::from_connection_string(MODULE_CS, Some(opts.unchecked_into()))
        .expect("module client");
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
async fn send_output_event_publishes_on_the_output_succeeds() {
    let ws = fake_ws(0);
    let c = connected_module(&ws);
    let opts = obj(&[("qos", 0.into()), ("properties", obj(&[("k", "v".into())]))]);
    JsFuture::from(c.send_output_event("out 1".into(), "x".into(), Some(opts.unchecked_into())))
        .await
        .expect("written");
    let sent = sent_text(&ws);
    assert!(
        sent.iter()
            .any(|s| s.contains("devices/d/modules/m/messages/events/%24.on=out%201&k=v")),
        "{sent:?}"
    );
    // Without options too; a bad output name or bad options are refused like sendEvent's.
    let none = JsFuture::from(c.send_output_event("o2".into(), "y".into(), None));
    for (name, o, want) in [
        (
            JsValue::from(5),
            JsValue::UNDEFINED,
            "options.outputName must be a string",
        ),
        ("o".into(), "opts".into(), "options must be an object"),
        (
            "".into(),
            JsValue::UNDEFINED,
            "invalid argument: an output event needs a module identity and an output name",
        ),
    ] {
        let p = c.send_output_event(name, "x".into(), Some(o.unchecked_into()));
        let err = JsFuture::from(p).await.expect_err("refused");
        assert_eq!(code(&err).as_deref(), Some("INVALID_ARGUMENT"));
        assert_eq!(message(&err), want);
    }
    // QoS 1 by default: it settles on the PUBACK (packet id 1, the first QoS 1 publish).
    feed(&ws, &[0x40, 2, 0, 1]);
    none.await.expect("sent without options");
    c.close();
}

#[wasm_bindgen_test]
async fn module_methods_on_a_device_identity_fail() {
    let ws = fake_ws(0);
    let (c, _) = client_with(&ws);
    let err = JsFuture::from(c.send_output_event("o".into(), "x".into(), None))
        .await
        .expect_err("refused");
    assert_eq!(
        message(&err),
        "invalid argument: an output event needs a module identity and an output name"
    );
    let err = c
        .on_input_message("in1".into(), Function::new_no_args(""))
        .expect_err("refused");
    assert_eq!(code(&err).as_deref(), Some("INVALID_ARGUMENT"));
    assert_eq!(
        message(&err),
        "onInputMessage needs a module identity and an input name"
    );
    c.close();
}

#[wasm_bindgen_test]
fn on_input_message_only_its_input_succeeds() {
    let ws = fake_ws(0);
    let c = connected_module(&ws);
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
    assert!(c
        .on_input_message(JsValue::from(1), Function::new_no_args(""))
        .is_err());
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
    assert_eq!(
        get(m, "connectionModuleId").as_string().as_deref(),
        Some("sensor")
    );
    assert_eq!(
        get(m, "connectionDeviceId").as_string().as_deref(),
        Some("d")
    );
    assert_eq!(
        get(&get(m, "properties"), "k").as_string().as_deref(),
        Some("v")
    );
    drop(got);
    c.close();
}
