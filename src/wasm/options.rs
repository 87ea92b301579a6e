//! `ClientOptions` and `MessageOptions`, read by hand with `Reflect`.
//!
//! Hand-reading keeps serde and serde-wasm-bindgen out of the bundle (see
//! docs/shell.md for the measurement); every field is optional, and a field of
//! the wrong type is an `INVALID_ARGUMENT` error that names it.

use super::error::{shell_error, Code};
use js_sys::{Array, Function, Object, Reflect};
use wasm_bindgen::{JsCast, JsValue};

/// Reads `obj[key]`; `undefined` and `null` are "absent".
pub fn field(obj: &JsValue, key: &str) -> Option<JsValue> {
    if !obj.is_object() {
        return None;
    }
    let v = Reflect::get(obj, &JsValue::from_str(key)).ok()?;
    if v.is_undefined() || v.is_null() {
        None
    } else {
        Some(v)
    }
}

fn bad(path: &str, want: &str) -> JsValue {
    shell_error(Code::InvalidArgument, &format!("{path} must be {want}"))
}

/// An optional string field.
pub fn string(obj: &JsValue, key: &str, path: &str) -> Result<Option<String>, JsValue> {
    field(obj, key)
        .map(|v| v.as_string().ok_or_else(|| bad(path, "a string")))
        .transpose()
}

/// An optional boolean field.
pub fn boolean(obj: &JsValue, key: &str, path: &str) -> Result<Option<bool>, JsValue> {
    field(obj, key)
        .map(|v| v.as_bool().ok_or_else(|| bad(path, "a boolean")))
        .transpose()
}

/// An optional finite number field within `[min, max]`.
pub fn number(
    obj: &JsValue,
    key: &str,
    path: &str,
    min: f64,
    max: f64,
) -> Result<Option<f64>, JsValue> {
    field(obj, key)
        .map(|v| match v.as_f64() {
            Some(n) if n.is_finite() && n >= min && n <= max => Ok(n),
            // Integer formatting only: f64 Display would pull ~15 KB of float code into the wasm.
            _ => Err(bad(
                path,
                &format!("a number from {} to {}", min as u64, max as u64),
            )),
        })
        .transpose()
}

/// An optional number field within `[min, u32::MAX]`, as a whole number (the fraction dropped).
fn up_to_u32(obj: &JsValue, key: &str, path: &str, min: f64) -> Result<Option<u64>, JsValue> {
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

/// `ClientOptions` as the shell understands them; `None` keeps the core's default.
#[derive(Default)]
pub struct ClientOptions {
    /// Device endpoint URL override.
    pub url: Option<String>,
    /// Allow `ws://` to non-loopback hosts.
    pub allow_insecure: bool,
    /// MQTT keep-alive in seconds.
    pub keep_alive_secs: Option<u16>,
    /// MQTT clean session.
    pub clean_session: Option<bool>,
    /// Lifetime of generated (or requested) SAS tokens.
    pub token_ttl_secs: Option<u64>,
    /// Reconnect backoff floor.
    pub retry_min_delay_ms: Option<u64>,
    /// Reconnect backoff ceiling.
    pub retry_max_delay_ms: Option<u64>,
    /// Reconnect jitter fraction (0..=1).
    pub retry_jitter: Option<f64>,
    /// Offline queue: most messages.
    pub queue_max_messages: Option<usize>,
    /// Offline queue: most bytes.
    pub queue_max_bytes: Option<usize>,
    /// `webSocketFactory(url, protocols)`.
    pub web_socket_factory: Option<Function>,
    /// Plug and Play model id.
    pub model_id: Option<String>,
    /// Product info string (`DeviceClientType`).
    pub product_info: Option<String>,
    /// Twin request timeout.
    pub operation_timeout_ms: Option<u64>,
    /// One WebSocket message per wake-up (true) or one per packet.
    pub coalesce: Option<bool>,
    /// How long `connect()` keeps trying before it rejects.
    pub connect_timeout_ms: Option<u64>,
}

impl ClientOptions {
    /// Reads an options object (`undefined`/`null` gives the defaults).
    pub fn read(o: &JsValue) -> Result<ClientOptions, JsValue> {
        if !o.is_undefined() && !o.is_null() && !o.is_object() {
            return Err(bad("options", "an object"));
        }
        let retry = field(o, "retry").unwrap_or(JsValue::UNDEFINED);
        let queue = field(o, "offlineQueue").unwrap_or(JsValue::UNDEFINED);
        Ok(ClientOptions {
            url: string(o, "url", "options.url")?,
            allow_insecure: boolean(o, "allowInsecure", "options.allowInsecure")?.unwrap_or(false),
            keep_alive_secs: number(
                o,
                "keepAliveSeconds",
                "options.keepAliveSeconds",
                0.0,
                65535.0,
            )?
            .map(|n| n as u16),
            clean_session: boolean(o, "cleanSession", "options.cleanSession")?,
            token_ttl_secs: up_to_u32(o, "tokenTtlSeconds", "options.tokenTtlSeconds", 1.0)?,
            retry_min_delay_ms: up_to_u32(&retry, "minDelayMs", "options.retry.minDelayMs", 0.0)?,
            retry_max_delay_ms: up_to_u32(&retry, "maxDelayMs", "options.retry.maxDelayMs", 0.0)?,
            retry_jitter: number(&retry, "jitter", "options.retry.jitter", 0.0, 1.0)?,
            queue_max_messages: up_to_u32(
                &queue,
                "maxMessages",
                "options.offlineQueue.maxMessages",
                0.0,
            )?
            .map(|n| n as usize),
            queue_max_bytes: up_to_u32(&queue, "maxBytes", "options.offlineQueue.maxBytes", 0.0)?
                .map(|n| n as usize),
            web_socket_factory: function(o, "webSocketFactory", "options.webSocketFactory")?,
            model_id: string(o, "modelId", "options.modelId")?,
            product_info: string(o, "productInfo", "options.productInfo")?,
            operation_timeout_ms: up_to_u32(
                o,
                "operationTimeoutMs",
                "options.operationTimeoutMs",
                1.0,
            )?,
            coalesce: boolean(o, "coalesce", "options.coalesce")?,
            connect_timeout_ms: up_to_u32(o, "connectTimeoutMs", "options.connectTimeoutMs", 1.0)?,
        })
    }
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
