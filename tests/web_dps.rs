//! End-to-end tests of `DeviceClient.fromProvisioning` (feature `dps`, src/wasm/dps.rs and
//! provision.js) and `pnp()` (src/pnp.js) in headless Chromium against the real
//! emulator (its DPS and its hub): provisioning through an individual enrollment, an
//! enrollment group and a token provider, then telemetry with the assigned identity;
//! DPS throttling (429 + retry-after); a bad key rejected typed and at once; the Plug
//! and Play example device (examples/pnp/temperature-controller.js): writable
//! property acks whose `av` is the desired `$version`, a catch-up of values set while
//! offline, component telemetry and component commands.
#![cfg(target_arch = "wasm32")]
#![forbid(unsafe_code)]

mod web_common;

use hubwire::dps::auth;
use hubwire::hub::connection_string::SymmetricKey;
use hubwire::hub::sas;
use hubwire::wasm::DeviceClient;
use js_sys::{Array, Function, Promise, JSON};
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use wasm_bindgen_test::{wasm_bindgen_test, wasm_bindgen_test_configure};
use web_common::*;

wasm_bindgen_test_configure!(run_in_browser);

// src/pnp.js and the example device are imported from their source text through a
// Blob URL, not as wasm-bindgen snippets: wasm-bindgen-test-runner's server stalls
// ("Loading scripts…" until chromedriver gives up after 300 s) when a page imports
// five snippet modules, and this target already has three (client.js, provision.js,
// tests/web_common).
const PNP_JS: &str = include_str!("../src/pnp.js");
const CONTROLLER_JS: &str = include_str!("../examples/pnp/temperature-controller.js");

/// The namespace of an ES module made from `source` (it must not import anything).
async fn import_source(source: &str) -> JsValue {
    let import = Function::new_with_args(
        "s",
        "return import(URL.createObjectURL(new Blob([s], { type: 'text/javascript' })));",
    );
    ok(import.call1(&JsValue::NULL, &source.into()).unwrap().into()).await
}

/// `export`ed function `name` of the module made from `source`, called with `args`.
async fn call_export(source: &str, name: &str, args: &[&JsValue]) -> JsValue {
    let f: Function = get(&import_source(source).await, name).unchecked_into();
    f.apply(&JsValue::NULL, &args.iter().copied().collect::<Array>())
        .unwrap()
}

/// `pnp(client)` (src/pnp.js).
async fn pnp(client: JsValue) -> JsValue {
    call_export(PNP_JS, "pnp", &[&client]).await
}

/// The example device: `temperatureController(client, device)`.
async fn temperature_controller(client: &JsValue, device: &JsValue) -> JsValue {
    call_export(CONTROLLER_JS, "temperatureController", &[client, device]).await
}

/// The example's model id (`MODEL_ID`).
async fn model_id() -> String {
    get(&import_source(CONTROLLER_JS).await, "MODEL_ID")
        .as_string()
        .unwrap()
}

/// The emulator's DPS ID scope (`GET /emulator/dps`).
async fn id_scope() -> String {
    let (status, dps) = service("GET", "/emulator/dps", None, &[]).await;
    assert_eq!(status, 200);
    text(&dps, "idScope").expect("idScope")
}

fn unique(name: &str) -> String {
    format!("dps-{name}-{}", (js_sys::Math::random() * 1e9) as u64)
}

/// An individual enrollment with generated keys; its primary key.
async fn enroll(registration_id: &str) -> String {
    let (status, e) = service(
        "PUT",
        &format!("/enrollments/{registration_id}"),
        Some(r#"{"attestation":{"type":"symmetricKey"}}"#),
        &[],
    )
    .await;
    assert_eq!(
        status,
        200,
        "{:?}",
        JSON::stringify(&e).ok().map(String::from)
    );
    text(&e, "attestation.symmetricKey.primaryKey").expect("primary key")
}

/// `ProvisioningOptions` for the emulator, plus `extra`.
async fn dps_options(registration_id: &str, extra: &[(&str, JsValue)]) -> JsValue {
    let o = obj(&[
        ("idScope", id_scope().await.into()),
        ("registrationId", registration_id.into()),
        ("url", get(&JsValue::from(options(&[])), "url")),
    ]);
    for (k, v) in extra {
        set(&o, k, v);
    }
    o
}

fn call(target: &JsValue, method: &str, args: &[JsValue]) -> JsValue {
    let f: Function = get(target, method).dyn_into().expect("a method");
    f.apply(target, &args.iter().collect::<Array>())
        .unwrap_or_else(|e| panic!("{method} threw {:?}", text(&e, "message")))
}

/// `DeviceClient.fromProvisioning(o)` (`o` has the emulator's `url`, for DPS and the hub).
fn from_provisioning(o: JsValue) -> Promise {
    DeviceClient::from_provisioning(o.unchecked_into())
}

/// `DeviceClient.fromProvisioning(o)`, expected to succeed: the client (as JS),
/// connected, with `provisioning` set.
async fn provisioned(o: JsValue) -> JsValue {
    let client = ok(from_provisioning(o)).await;
    assert_eq!(text(&client, "state").as_deref(), Some("connected"));
    client
}

async fn send(client: &JsValue, body: &str, opts: &[(&str, JsValue)]) {
    let p: Promise = call(client, "sendEvent", &[body.into(), obj(opts)]).unchecked_into();
    ok(p).await;
}

async fn assert_one_telemetry(device_id: &str, body: &str) {
    let items = telemetry_of(device_id).await;
    assert_eq!(items.len(), 1, "telemetry of {device_id}");
    assert_eq!(text(&items[0], "body").as_deref(), Some(body));
}

#[wasm_bindgen_test]
async fn provision_individual_enrollment_then_telemetry_succeeds() {
    let reg = unique("ind");
    let key = enroll(&reg).await;
    let o = dps_options(&reg, &[("symmetricKey", key.as_str().into())]).await;
    let client = provisioned(o).await;
    let p = get(&client, "provisioning");
    assert_eq!(text(&p, "assignedHub").as_deref(), Some(host()));
    assert_eq!(text(&p, "deviceId").as_deref(), Some(reg.as_str()));
    assert_eq!(text(&p, "substatus").as_deref(), Some("initialAssignment"));
    assert_eq!(
        text(&p, "registrationState.status").as_deref(),
        Some("assigned")
    );
    assert!(text(&p, "operationId").is_some());
    send(&client, "{\"t\":1}", &[]).await;
    assert_one_telemetry(&reg, "{\"t\":1}").await;
    call(&client, "close", &[]);
}

#[wasm_bindgen_test]
async fn provision_group_enrollment_derives_key_then_telemetry_succeeds() {
    let group = unique("grp");
    let (status, g) = service(
        "PUT",
        &format!("/enrollmentGroups/{group}"),
        Some(r#"{"attestation":{"type":"symmetricKey"}}"#),
        &[],
    )
    .await;
    assert_eq!(status, 200);
    let group_key = text(&g, "attestation.symmetricKey.primaryKey").expect("group key");
    for n in 0..2 {
        let reg = format!("{group}-dev{n}");
        let o = dps_options(&reg, &[("groupKey", group_key.as_str().into())]).await;
        let client = provisioned(o).await;
        assert_eq!(
            text(&client, "provisioning.deviceId").as_deref(),
            Some(reg.as_str())
        );
        // The device key is derived in the page; the hub knows it from the group.
        send(&client, "grouped", &[]).await;
        assert_one_telemetry(&reg, "grouped").await;
        call(&client, "close", &[]);
        let (_, state) = service("GET", &format!("/registrations/{reg}"), None, &[]).await;
        assert_eq!(
            text(&state, "symmetricKey.enrollmentGroupId").as_deref(),
            Some(group.as_str())
        );
    }
}

#[wasm_bindgen_test]
async fn provision_token_provider_signs_both_resources_succeeds() {
    let reg = unique("tok");
    let key = enroll(&reg).await;
    let asked = Array::new();
    let (asked2, key2) = (asked.clone(), key.clone());
    // The provider signs whatever `resource` it is asked for: DPS's registration (with
    // skn=registration), then the hub's device.
    let get_token =
        Closure::<dyn Fn(f64, String) -> JsValue>::new(move |exp: f64, resource: String| {
            asked2.push(&resource.as_str().into());
            let k = SymmetricKey::from_base64(&key2).unwrap();
            let skn = resource
                .contains("/registrations/")
                .then_some(auth::KEY_NAME);
            sas::token(k.bytes(), &resource, exp as u64, skn).into()
        });
    let o = dps_options(&reg, &[("getToken", get_token.as_ref().clone())]).await;
    let client = provisioned(o).await;
    send(&client, "tok", &[]).await;
    assert_one_telemetry(&reg, "tok").await;
    let asked: Vec<String> = asked.iter().filter_map(|v| v.as_string()).collect();
    let scope = id_scope().await;
    assert_eq!(
        asked,
        [
            format!("{scope}/registrations/{reg}"),
            format!("{}/devices/{reg}", host())
        ]
    );
    call(&client, "close", &[]);
}

#[wasm_bindgen_test]
async fn provision_throttled_429_honours_retry_after_succeeds() {
    let reg = unique("thr");
    let key = enroll(&reg).await;
    let (status, _) = service(
        "POST",
        &format!("/emulator/dps/faults/{reg}"),
        Some(r#"{"kind":"throttle","count":2,"retryAfterSeconds":1}"#),
        &[],
    )
    .await;
    assert_eq!(status, 204);
    let o = dps_options(&reg, &[("symmetricKey", key.as_str().into())]).await;
    let t0 = js_sys::Date::now();
    let client = provisioned(o).await;
    let ms = js_sys::Date::now() - t0;
    assert_eq!(
        text(&client, "provisioning.deviceId").as_deref(),
        Some(reg.as_str())
    );
    call(&client, "close", &[]);
    // Two 429s with retry-after 1 s, then the register's own retry-after 1 s.
    assert!(
        ms >= 2900.0,
        "retry-after not honoured: assigned after {ms} ms"
    );
}

#[wasm_bindgen_test]
async fn provision_bad_key_rejects_typed_without_retrying_fails() {
    let reg = unique("bad");
    enroll(&reg).await;
    let wrong = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";
    let o = dps_options(&reg, &[("symmetricKey", wrong.into())]).await;
    let t0 = js_sys::Date::now();
    let e = rejection(from_provisioning(o)).await;
    assert!(
        js_sys::Date::now() - t0 < 5000.0,
        "rejected at once, no retries"
    );
    assert_eq!(text(&e, "code").as_deref(), Some("UNAUTHORIZED"));
    assert_eq!(get(&e, "status").as_f64(), Some(401.0));
    assert_eq!(get(&e, "errorCode").as_f64(), Some(401_002.0));
    assert_eq!(get(&e, "retryable").as_bool(), Some(false));
    assert!(text(&e, "trackingId").is_some());
    assert!(
        !text(&e, "message").unwrap().contains(wrong),
        "no key in messages"
    );
    // Nothing was registered, and no device was created.
    let (status, _) = service("GET", &format!("/registrations/{reg}"), None, &[]).await;
    assert_eq!(status, 404);
}

#[wasm_bindgen_test]
async fn provision_bad_options_reject_invalid_argument_fails() {
    let scope = id_scope().await;
    for (o, needle) in [
        (obj(&[("idScope", scope.as_str().into())]), "registrationId"),
        (
            obj(&[
                ("idScope", scope.as_str().into()),
                ("registrationId", "d1".into()),
            ]),
            "exactly one of",
        ),
        (
            obj(&[
                ("idScope", scope.as_str().into()),
                ("registrationId", "d1".into()),
                ("symmetricKey", "a2V5".into()),
                ("groupKey", "a2V5".into()),
            ]),
            "exactly one of",
        ),
        (
            obj(&[
                ("idScope", scope.as_str().into()),
                ("registrationId", "bad id".into()),
                ("symmetricKey", "a2V5".into()),
            ]),
            "registration id",
        ),
        (
            obj(&[
                ("idScope", scope.as_str().into()),
                ("registrationId", "d1".into()),
                ("symmetricKey", "%%".into()),
            ]),
            "base64",
        ),
        (
            obj(&[("idScope", 7.into()), ("registrationId", "d1".into())]),
            "options.idScope must be a string",
        ),
        (
            obj(&[
                ("idScope", scope.as_str().into()),
                ("registrationId", "d1".into()),
                ("symmetricKey", "a2V5".into()),
                ("url", "ws://dps.example.com/$iothub/websocket".into()),
            ]),
            "ws://",
        ),
    ] {
        let e = rejection(from_provisioning(o)).await;
        let code = text(&e, "code").unwrap();
        assert!(
            code == "INVALID_ARGUMENT" || code == "INSECURE_URL",
            "{code}"
        );
        let message = text(&e, "message").unwrap();
        assert!(message.contains(needle), "{message} lacks {needle}");
    }
}

/// `{factory, urls}`: a `webSocketFactory` that records the URLs it opens. (Made with
/// `Function`, not `inline_js`, to keep the page's snippet modules few: see `PNP_JS`.)
fn counting_factory() -> JsValue {
    Function::new_no_args(
        "const urls = []; \
         return { urls, factory: (u, p) => { urls.push(u); return new WebSocket(u, p); } };",
    )
    .call0(&JsValue::NULL)
    .expect("factory")
}

#[wasm_bindgen_test]
async fn provision_factory_serves_dps_and_the_hub_client_succeeds() {
    let reg = unique("fac");
    let key = enroll(&reg).await;
    let f = counting_factory();
    let o = dps_options(
        &reg,
        &[
            ("symmetricKey", key.as_str().into()),
            ("webSocketFactory", get(&f, "factory")),
        ],
    )
    .await;
    let client = provisioned(o).await;
    // One socket for DPS, then the hub client's: the factory served both.
    assert_eq!(Array::from(&get(&f, "urls")).length(), 2);
    call(&client, "close", &[]);
}

#[wasm_bindgen_test]
async fn provision_bad_client_options_reject_before_registering_fails() {
    let reg = unique("opt");
    let key = enroll(&reg).await;
    let o = dps_options(
        &reg,
        &[
            ("symmetricKey", key.as_str().into()),
            ("keepAliveSeconds", "soon".into()),
        ],
    )
    .await;
    let e = rejection(from_provisioning(o)).await;
    assert_eq!(text(&e, "code").as_deref(), Some("INVALID_ARGUMENT"));
    assert!(text(&e, "message").unwrap().contains("keepAliveSeconds"));
    let (status, _) = service("GET", &format!("/registrations/{reg}"), None, &[]).await;
    assert_eq!(status, 404, "nothing was registered");
}

#[wasm_bindgen_test]
async fn provision_failed_assignment_carries_dps_error_code_fails() {
    let reg = unique("fail");
    let key = enroll(&reg).await;
    service(
        "POST",
        &format!("/emulator/dps/faults/{reg}"),
        Some(r#"{"kind":"failAssignment","errorCode":400207,"errorMessage":"Custom allocation failed"}"#),
        &[],
    )
    .await;
    let o = dps_options(&reg, &[("symmetricKey", key.as_str().into())]).await;
    let e = rejection(from_provisioning(o)).await;
    assert_eq!(text(&e, "code").as_deref(), Some("REGISTRATION_FAILED"));
    assert_eq!(get(&e, "errorCode").as_f64(), Some(400_207.0));
    assert_eq!(
        text(&e, "errorMessage").as_deref(),
        Some("Custom allocation failed")
    );
}

#[wasm_bindgen_test]
async fn provision_abort_signal_rejects_cancelled_fails() {
    let reg = unique("abort");
    let key = enroll(&reg).await;
    // Throttled for long: without the abort the registration would wait 30 s.
    service(
        "POST",
        &format!("/emulator/dps/faults/{reg}"),
        Some(r#"{"kind":"throttle","count":3,"retryAfterSeconds":10}"#),
        &[],
    )
    .await;
    let controller = Function::new_no_args("return new AbortController();")
        .call0(&JsValue::NULL)
        .expect("AbortController");
    let o = dps_options(
        &reg,
        &[
            ("symmetricKey", key.as_str().into()),
            ("signal", get(&controller, "signal")),
        ],
    )
    .await;
    let t0 = js_sys::Date::now();
    let p = from_provisioning(o);
    wait(300).await;
    call(&controller, "abort", &[]);
    let e = rejection(p).await;
    assert_eq!(text(&e, "code").as_deref(), Some("CANCELLED"));
    assert!(js_sys::Date::now() - t0 < 3000.0, "rejected at the abort");
    // An already aborted signal: rejected without a registration.
    let reg2 = unique("abort2");
    let key2 = enroll(&reg2).await;
    let o = dps_options(
        &reg2,
        &[
            ("symmetricKey", key2.as_str().into()),
            ("signal", get(&controller, "signal")),
        ],
    )
    .await;
    let e = rejection(from_provisioning(o)).await;
    assert_eq!(text(&e, "code").as_deref(), Some("CANCELLED"));
    let (status, _) = service("GET", &format!("/registrations/{reg2}"), None, &[]).await;
    assert_eq!(status, 404, "nothing was registered");
}

/// Waits until the reported `{component}.targetTemperature` ack has `av == version`.
async fn ack_of(device_id: &str, component: &str, version: f64) -> JsValue {
    let mut ack = JsValue::UNDEFINED;
    for _ in 0..100 {
        let (_, twin) = service("GET", &format!("/twins/{device_id}"), None, &[]).await;
        ack = get(
            &twin,
            &format!("properties.reported.{component}.targetTemperature"),
        );
        if get(&ack, "av").as_f64() == Some(version) {
            return ack;
        }
        wait(50).await;
    }
    panic!(
        "no ack with av {version} for {component}: {:?}",
        JSON::stringify(&ack).ok().map(String::from)
    );
}

async fn patch_desired(device_id: &str, desired: &str) -> f64 {
    let (status, twin) = service(
        "PATCH",
        &format!("/twins/{device_id}"),
        Some(&format!("{{\"properties\":{{\"desired\":{desired}}}}}")),
        &[],
    )
    .await;
    assert_eq!(status, 200);
    get(&twin, "properties.desired.$version").as_f64().unwrap()
}

#[wasm_bindgen_test]
async fn pnp_example_acks_commands_and_component_telemetry_succeeds() {
    let reg = unique("pnp");
    let key = enroll(&reg).await;
    let model_id = model_id().await;
    let o = dps_options(
        &reg,
        &[
            ("symmetricKey", key.as_str().into()),
            ("modelId", model_id.as_str().into()),
            ("connect", false.into()),
        ],
    )
    .await;
    // `connect: false`: the client comes back provisioned but offline.
    let client = ok(from_provisioning(o)).await;
    assert_eq!(text(&client, "state").as_deref(), Some("disconnected"));
    // The model id reached DPS in the payload (IoT Central reads it there).
    let (_, state) = service("GET", &format!("/registrations/{reg}"), None, &[]).await;
    assert_eq!(
        text(&state, "payload.modelId").as_deref(),
        Some(model_id.as_str())
    );

    // A desired value set while the device is offline, never acknowledged.
    let v1 = patch_desired(
        &reg,
        r#"{"thermostat2":{"__t":"c","targetTemperature":30}}"#,
    )
    .await;

    let connected: Promise = call(&client, "connect", &[]).unchecked_into();
    ok(connected).await;
    let (_, conn) = service(
        "GET",
        &format!("/emulator/devices/{reg}/connection"),
        None,
        &[],
    )
    .await;
    let username = text(&conn, "username").unwrap_or_default();
    assert!(
        username.ends_with("&model-id=dtmi%3Acom%3Aexample%3ATemperatureController%3B2"),
        "{username}"
    );
    let device = pnp(client.clone()).await;
    let controller = temperature_controller(&client, &device).await;
    let started: Promise = call(&controller, "start", &[]).unchecked_into();
    ok(started).await;

    // Catch-up: the offline value is handed to the handler and acknowledged.
    let ack = ack_of(&reg, "thermostat2", v1).await;
    assert_eq!(get(&ack, "value").as_f64(), Some(30.0));
    assert_eq!(get(&ack, "ac").as_f64(), Some(200.0));

    // A live patch: acknowledged with av = its $version, and only that component's.
    let v2 = patch_desired(
        &reg,
        r#"{"thermostat1":{"__t":"c","targetTemperature":24.5}}"#,
    )
    .await;
    assert!(v2 > v1);
    let ack = ack_of(&reg, "thermostat1", v2).await;
    assert_eq!(get(&ack, "value").as_f64(), Some(24.5));
    assert_eq!(
        text(&ack, "ad").as_deref(),
        Some("Successfully updated target temperature")
    );
    let (_, twin) = service("GET", &format!("/twins/{reg}"), None, &[]).await;
    let reported = get(&twin, "properties.reported");
    assert_eq!(text(&reported, "thermostat1.__t").as_deref(), Some("c"));
    assert_eq!(
        get(&reported, "thermostat1.maxTempSinceLastReboot").as_f64(),
        Some(24.5)
    );
    assert_eq!(
        text(&reported, "serialNumber").as_deref(),
        Some("SN-000001")
    );
    assert_eq!(
        get(&reported, "thermostat2.targetTemperature.av").as_f64(),
        Some(v1)
    );

    // A bad value: acknowledged 400 with the desired $version.
    let v3 = patch_desired(
        &reg,
        r#"{"thermostat1":{"__t":"c","targetTemperature":"hot"}}"#,
    )
    .await;
    let ack = ack_of(&reg, "thermostat1", v3).await;
    assert_eq!(get(&ack, "ac").as_f64(), Some(400.0));

    // Component telemetry carries the component ($.sub).
    let sent: Promise = call(&controller, "sendTelemetry", &[]).unchecked_into();
    ok(sent).await;
    let items = telemetry_of(&reg).await;
    let components: Vec<Option<String>> = items
        .iter()
        .map(|i| text(i, "systemProperties.component"))
        .collect();
    assert_eq!(items.len(), 3, "{components:?}");
    for c in ["thermostat1", "thermostat2"] {
        assert!(components.contains(&Some(c.into())), "{components:?}");
    }
    assert!(components.contains(&None));

    // Component commands go to that component's handler; the default component has its own.
    let (status, res) = invoke(
        &reg,
        "thermostat1*getMaxMinReport",
        "\"2024-01-01T00:00:00Z\"",
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(get(&res, "status").as_f64(), Some(200.0));
    assert_eq!(get(&res, "payload.maxTemp").as_f64(), Some(24.5));
    assert_eq!(
        text(&res, "payload.startTime").as_deref(),
        Some("2024-01-01T00:00:00Z")
    );
    let (_, res) = invoke(&reg, "thermostat2*getMaxMinReport", "null").await;
    assert_eq!(get(&res, "payload.maxTemp").as_f64(), Some(30.0));
    let (_, res) = invoke(&reg, "reboot", "null").await;
    assert_eq!(get(&res, "status").as_f64(), Some(200.0));
    let (_, res) = invoke(&reg, "thermostat3*getMaxMinReport", "null").await;
    assert_eq!(get(&res, "status").as_f64(), Some(501.0));
    call(&client, "close", &[]);
}

#[wasm_bindgen_test]
async fn pnp_handler_throw_acks_500_and_later_value_wins_succeeds() {
    let (c, id, _) = connected_client("pnp-throw", &[]).await;
    let client: JsValue = c.into();
    let device = pnp(client.clone()).await;
    let calls = Array::new();
    let calls2 = calls.clone();
    let handler = Closure::<dyn Fn(JsValue, JsValue) -> Result<JsValue, JsValue>>::new(
        move |value: JsValue, ctx: JsValue| {
            calls2.push(&Array::of2(&value, &get(&ctx, "version")));
            if value.as_string().as_deref() == Some("boom") {
                return Err(js_sys::Error::new("no such mode").into());
            }
            Ok(JsValue::UNDEFINED)
        },
    );
    // A per-component handler: every property of "fan" (no __t marker needed once handled).
    call(
        &device,
        "onProperty",
        &["fan".into(), handler.as_ref().clone()],
    );
    let started: Promise = call(&device, "start", &[]).unchecked_into();
    ok(started).await;
    let v = patch_desired(&id, r#"{"fan":{"mode":"boom"}}"#).await;
    let mut ack = JsValue::UNDEFINED;
    for _ in 0..100 {
        let (_, twin) = service("GET", &format!("/twins/{id}"), None, &[]).await;
        ack = get(&twin, "properties.reported.fan.mode");
        if get(&ack, "av").as_f64() == Some(v) {
            break;
        }
        wait(50).await;
    }
    assert_eq!(get(&ack, "ac").as_f64(), Some(500.0));
    assert_eq!(text(&ack, "ad").as_deref(), Some("no such mode"));
    assert_eq!(text(&ack, "value").as_deref(), Some("boom"));
    assert_eq!(calls.length(), 1);
    call(&client, "close", &[]);
}
