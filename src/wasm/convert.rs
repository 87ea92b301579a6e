//! JS ⇄ Rust values: `ClientOptions` and `sendEvent` arguments in (read by hand
//! with `Reflect`: no serde in the bundle), errors, C2D messages, method requests
//! and method results out. Every wrong type is an `INVALID_ARGUMENT` error that
//! names the field. No decision about the connection is made here.

use super::host;
use crate::hub;
use crate::mqtt::QoS;
use crate::text::{concat, push_u64};
use js_sys::{Array, Function, Object, Reflect, Uint8Array, JSON};
use wasm_bindgen::{JsCast, JsValue};

/// A `HubwireError` carrying a core error's code, message, retryability and status.
pub fn hub_error(e: &hub::Error) -> JsValue {
    host::make_error(e.code(), &e.message(), e.retryable(), e.status())
}

/// An `INVALID_ARGUMENT` error.
pub fn invalid(message: &str) -> JsValue {
    host::make_error("INVALID_ARGUMENT", message, false, None)
}

/// The `CLOSED` error of calls on a closed client.
pub fn closed() -> JsValue {
    hub_error(&hub::Error::Closed)
}

fn bad(path: &str, want: &str) -> JsValue {
    invalid(&concat(&[path, " must be ", want]))
}

/// `obj[key]`; `undefined` and `null` are "absent".
pub fn field(obj: &JsValue, key: &str) -> Option<JsValue> {
    if !obj.is_object() {
        return None;
    }
    let v = Reflect::get(obj, &JsValue::from_str(key)).ok()?;
    (!v.is_undefined() && !v.is_null()).then_some(v)
}

/// An optional string field.
pub fn string(obj: &JsValue, key: &str, path: &str) -> Result<Option<String>, JsValue> {
    field(obj, key)
        .map(|v| v.as_string().ok_or_else(|| bad(path, "a string")))
        .transpose()
}

fn boolean(obj: &JsValue, key: &str, path: &str) -> Result<Option<bool>, JsValue> {
    field(obj, key)
        .map(|v| v.as_bool().ok_or_else(|| bad(path, "a boolean")))
        .transpose()
}

/// An optional finite number field within `[min, max]`.
fn number(
    obj: &JsValue,
    key: &str,
    path: &str,
    min: f64,
    max: f64,
) -> Result<Option<f64>, JsValue> {
    field(obj, key)
        .map(|v| match v.as_f64() {
            Some(n) if n.is_finite() && n >= min && n <= max => Ok(n),
            _ => {
                let mut want = String::from("a number from ");
                push_u64(&mut want, min as u64);
                want.push_str(" to ");
                push_u64(&mut want, max as u64);
                Err(bad(path, &want))
            }
        })
        .transpose()
}

/// An optional whole number within `[min, u32::MAX]` (the fraction dropped).
pub fn whole(obj: &JsValue, key: &str, path: &str, min: f64) -> Result<Option<u64>, JsValue> {
    Ok(number(obj, key, path, min, u32::MAX as f64)?.map(|n| n as u64))
}

/// An optional function field.
pub fn function(obj: &JsValue, key: &str, path: &str) -> Result<Option<Function>, JsValue> {
    field(obj, key)
        .map(|v| {
            v.dyn_into::<Function>()
                .map_err(|_| bad(path, "a function"))
        })
        .transpose()
}

/// What `ClientOptions` set on the core's configuration, and the socket factory.
pub fn client_options(o: &JsValue, c: &mut hub::ClientConfig) -> Result<JsValue, JsValue> {
    if !o.is_undefined() && !o.is_null() && !o.is_object() {
        return Err(bad("options", "an object"));
    }
    let retry = field(o, "retry").unwrap_or(JsValue::UNDEFINED);
    let queue = field(o, "offlineQueue").unwrap_or(JsValue::UNDEFINED);
    if let Some(v) = string(o, "url", "options.url")? {
        c.url = Some(v);
    }
    if let Some(v) = boolean(o, "allowInsecure", "options.allowInsecure")? {
        c.allow_insecure = v;
    }
    if let Some(v) = number(
        o,
        "keepAliveSeconds",
        "options.keepAliveSeconds",
        0.0,
        hub::MAX_KEEP_ALIVE_SECS as f64,
    )? {
        c.keep_alive_secs = v as u16;
    }
    if let Some(v) = boolean(o, "cleanSession", "options.cleanSession")? {
        c.clean_session = v;
    }
    let whole_fields: [(&JsValue, &str, &str, f64, &mut u64); 4] = [
        (
            o,
            "tokenTtlSeconds",
            "options.tokenTtlSeconds",
            1.0,
            &mut c.token_ttl_secs,
        ),
        (
            &retry,
            "minDelayMs",
            "options.retry.minDelayMs",
            0.0,
            &mut c.retry.min_ms,
        ),
        (
            &retry,
            "maxDelayMs",
            "options.retry.maxDelayMs",
            0.0,
            &mut c.retry.max_ms,
        ),
        (
            o,
            "operationTimeoutMs",
            "options.operationTimeoutMs",
            1.0,
            &mut c.operation_timeout_ms,
        ),
    ];
    for (obj, key, path, min, slot) in whole_fields {
        if let Some(v) = whole(obj, key, path, min)? {
            *slot = v;
        }
    }
    if let Some(v) = whole(o, "connectTimeoutMs", "options.connectTimeoutMs", 1.0)? {
        c.connect_timeout_ms = v;
    }
    if let Some(v) = number(&retry, "jitter", "options.retry.jitter", 0.0, 1.0)? {
        c.retry.jitter = v;
    }
    if let Some(v) = whole(
        &queue,
        "maxMessages",
        "options.offlineQueue.maxMessages",
        0.0,
    )? {
        c.queue_max_messages = v as usize;
    }
    if let Some(v) = whole(&queue, "maxBytes", "options.offlineQueue.maxBytes", 0.0)? {
        c.queue_max_bytes = v as usize;
    }
    if let Some(v) = string(o, "modelId", "options.modelId")? {
        c.model_id = Some(v);
    }
    if let Some(v) = string(o, "productInfo", "options.productInfo")? {
        c.product_info = Some(v);
    }
    if let Some(v) = boolean(o, "coalesce", "options.coalesce")? {
        c.coalesce = v;
    }
    super::sdk_options::client_options(o, c)?;
    // Jitter and request ids are parameters of the core: the shell supplies the randomness.
    c.random_seed = (js_sys::Math::random() * u32::MAX as f64) as u64;
    c.request_id_seed = 1 + (js_sys::Math::random() * 1_000_000.0) as u64;
    Ok(function(o, "webSocketFactory", "options.webSocketFactory")?
        .map(JsValue::from)
        .unwrap_or(JsValue::UNDEFINED))
}

/// The bytes of an `ArrayBuffer` or any view of one (a `Uint8Array`, a `DataView`, …).
fn bytes(v: &JsValue) -> Option<Uint8Array> {
    if let Some(a) = v.dyn_ref::<Uint8Array>() {
        return Some(a.clone());
    }
    if let Some(b) = v.dyn_ref::<js_sys::ArrayBuffer>() {
        return Some(Uint8Array::new(b));
    }
    if !js_sys::ArrayBuffer::is_view(v) {
        return None;
    }
    let num = |k| field(v, k).and_then(|n| n.as_f64()).unwrap_or(0.0) as u32;
    let buffer = field(v, "buffer")?;
    Some(Uint8Array::new_with_byte_offset_and_length(
        &buffer,
        num("byteOffset"),
        num("byteLength"),
    ))
}

/// Builds the core's telemetry message from `sendEvent(body, options)`.
pub fn telemetry(body: &JsValue, o: &JsValue) -> Result<hub::Telemetry, JsValue> {
    let mut json = false;
    let bytes: Vec<u8> = if let Some(s) = body.as_string() {
        s.into_bytes()
    } else if let Some(v) = bytes(body) {
        v.to_vec()
    } else if body.is_undefined() || body.is_function() || body.is_symbol() || body.is_bigint() {
        return Err(invalid(
            "body must be a string, a Uint8Array or a JSON value",
        ));
    } else {
        json = true;
        stringify(body)?.into_bytes()
    };
    let mut msg = hub::Telemetry::new(bytes);
    if !o.is_undefined() && !o.is_null() && !o.is_object() {
        return Err(bad("options", "an object"));
    }
    let sys = &mut msg.system;
    let fields: [(&str, &str, &mut Option<String>); 8] = [
        ("to", "options.to", &mut sys.to),
        ("outputName", "options.outputName", &mut sys.output_name),
        ("messageId", "options.messageId", &mut sys.message_id),
        (
            "correlationId",
            "options.correlationId",
            &mut sys.correlation_id,
        ),
        ("contentType", "options.contentType", &mut sys.content_type),
        (
            "contentEncoding",
            "options.contentEncoding",
            &mut sys.content_encoding,
        ),
        ("userId", "options.userId", &mut sys.user_id),
        ("component", "options.component", &mut sys.component),
    ];
    for (key, path, slot) in fields {
        *slot = string(o, key, path)?;
    }
    if let Some(e) = field(o, "expiry") {
        sys.expiry = Some(expiry(&e)?);
    }
    sys.creation_time_utc = super::sdk_options::creation_time(o)?;
    if json {
        sys.content_type
            .get_or_insert_with(|| "application/json".into());
        sys.content_encoding.get_or_insert_with(|| "utf-8".into());
    }
    if let Some(p) = field(o, "properties") {
        msg.properties = properties(&p)?;
    }
    msg.qos = match number(o, "qos", "options.qos", 0.0, 2.0)? {
        None => QoS::AtLeastOnce,
        Some(0.0) => QoS::AtMostOnce,
        Some(1.0) => QoS::AtLeastOnce,
        // Refused by the core with QOS_NOT_SUPPORTED.
        Some(2.0) => QoS::ExactlyOnce,
        Some(_) => return Err(bad("options.qos", "0 or 1")),
    };
    Ok(msg)
}

/// Application properties: a `Record<string, string>` or `[string, string][]`, in order.
pub fn properties(v: &JsValue) -> Result<Vec<(String, String)>, JsValue> {
    let pairs: Array = if Array::is_array(v) {
        v.clone().unchecked_into()
    } else if v.is_object() {
        Object::entries(v.unchecked_ref())
    } else {
        return Err(bad(
            "options.properties",
            "an object or an array of [key, value] pairs",
        ));
    };
    let mut out = Vec::with_capacity(pairs.length() as usize);
    for pair in pairs.iter() {
        let k = Reflect::get_u32(&pair, 0).ok().and_then(|k| k.as_string());
        let v = Reflect::get_u32(&pair, 1).ok().and_then(|v| v.as_string());
        match (k, v) {
            (Some(k), Some(v)) => out.push((k, v)),
            _ => return Err(bad("options.properties", "string keys with string values")),
        }
    }
    Ok(out)
}

/// `expiry` as a `Date` or a string, returned as an ISO 8601 string.
pub fn expiry(v: &JsValue) -> Result<String, JsValue> {
    if let Some(s) = v.as_string() {
        return Ok(s);
    }
    match v.dyn_ref::<js_sys::Date>() {
        Some(d) if d.get_time().is_finite() => Ok(String::from(d.to_iso_string())),
        _ => Err(bad("options.expiry", "a Date or a string")),
    }
}

/// `JSON.stringify(v)`; what it throws (a cycle, a BigInt) is `INVALID_ARGUMENT`.
pub fn stringify(v: &JsValue) -> Result<String, JsValue> {
    match JSON::stringify(v) {
        Ok(s) => s
            .as_string()
            .ok_or_else(|| invalid("value is not JSON-serialisable")),
        Err(e) => Err(invalid(&host::error_message(&e))),
    }
}

/// `JSON.parse(s)`, or the string itself when it is not JSON.
pub fn parse_json(s: &str) -> JsValue {
    JSON::parse(s).unwrap_or_else(|_| JsValue::from_str(s))
}

fn set(obj: &JsValue, key: &str, v: &JsValue) {
    let _ = Reflect::set(obj, &JsValue::from_str(key), v);
}

/// An object with these fields (absent values skipped).
pub fn object(fields: &[(&str, Option<JsValue>)]) -> JsValue {
    let o: JsValue = Object::new().into();
    for (k, v) in fields {
        if let Some(v) = v {
            set(&o, k, v);
        }
    }
    o
}

fn opt_str(v: &Option<String>) -> Option<JsValue> {
    v.as_deref().map(JsValue::from_str)
}

/// The `C2dMessage` object handed to `message` listeners.
pub fn c2d_message(m: &hub::C2dMessage) -> JsValue {
    let obj: JsValue = host::make_c2d(&Uint8Array::from(&m.payload[..])).into();
    let sys = &m.system;
    for (k, v) in [
        ("messageId", &sys.message_id),
        ("correlationId", &sys.correlation_id),
        ("to", &sys.to),
        ("expiry", &sys.expiry),
        ("contentType", &sys.content_type),
        ("contentEncoding", &sys.content_encoding),
        ("userId", &sys.user_id),
        ("inputName", &m.input_name),
        ("connectionDeviceId", &sys.connection_device_id),
        ("connectionModuleId", &sys.connection_module_id),
    ] {
        if let Some(v) = opt_str(v) {
            set(&obj, k, &v);
        }
    }
    let props: JsValue = Object::new().into();
    for (k, v) in &m.properties {
        let v = v.as_deref().map(JsValue::from_str).unwrap_or(JsValue::NULL);
        set(&props, k, &v);
    }
    set(&obj, "properties", &props);
    obj
}

/// The `MethodRequest` handed to a method handler.
pub fn method_request(
    name: &str,
    component: &Option<String>,
    command: &str,
    rid: &str,
    payload: &str,
) -> JsValue {
    let payload = if payload.trim().is_empty() {
        JsValue::NULL
    } else {
        parse_json(payload)
    };
    object(&[
        ("name", Some(JsValue::from_str(name))),
        ("component", opt_str(component)),
        ("command", Some(JsValue::from_str(command))),
        ("requestId", Some(JsValue::from_str(rid))),
        ("payload", Some(payload)),
    ])
}

/// `{"message": text}` as JSON, the body of a failed method call.
pub fn message_body(text: &str) -> Option<String> {
    JSON::stringify(&object(&[("message", Some(JsValue::from_str(text)))]))
        .ok()
        .and_then(|s| s.as_string())
}

/// A handler's outcome as (status, JSON body): `{status, payload}` → as given (status
/// 200 when absent); a throw, a rejection, a bad status or a payload `JSON.stringify`
/// refuses → 500 `{"message": …}`.
pub fn method_result(r: Result<JsValue, JsValue>) -> (u16, Option<String>) {
    let failed = |text: &str| (500, message_body(text));
    let v = match r {
        Err(e) => return failed(&host::error_message(&e)),
        Ok(v) => v,
    };
    let status = match field(&v, "status").map(|s| s.as_f64()) {
        None => 200,
        Some(Some(n)) if (100.0..=999.0).contains(&n) => n as u16,
        Some(_) => return failed("method handler returned an invalid status"),
    };
    let explicit_null =
        v.is_object() && Reflect::get(&v, &JsValue::from_str("payload")).is_ok_and(|p| p.is_null());
    match field(&v, "payload") {
        None if explicit_null => (status, Some("null".into())),
        None => (status, None),
        Some(p) => match stringify(&p) {
            Ok(s) => (status, Some(s)),
            Err(e) => failed(&host::error_message(&e)),
        },
    }
}
