//! Imports from the JS half of the shell (client.js) and the host.

use js_sys::Function;
use wasm_bindgen::prelude::*;

#[wasm_bindgen(module = "/src/wasm/client.js")]
extern "C" {
    /// `new Error(message)` with `name = "HubwireError"`, `code`, `retryable` and optional `status`.
    #[wasm_bindgen(js_name = hwError)]
    pub fn make_error(code: &str, message: &str, retryable: bool, status: Option<u16>) -> JsValue;
    /// The client object around `core` (a `Core` as a JS value); `flags`: `Core::flags`;
    /// `will`: `Core.send`'s arguments for the last will, or undefined (a refusal is thrown).
    #[wasm_bindgen(js_name = hwClient, catch)]
    pub fn client(
        core: JsValue,
        factory: &JsValue,
        get_token: &JsValue,
        flags: u8,
        will: &JsValue,
    ) -> Result<JsValue, JsValue>;
    /// `ClientOptions` read and type-checked: `[Float64Array, url, modelId, productInfo, factory,
    /// will]` (the will as `Core.send`'s `[body, qos, present, strs]`, or undefined).
    #[wasm_bindgen(js_name = hwReadOptions, catch)]
    pub fn read_options(o: &JsValue) -> Result<js_sys::Array, JsValue>;
    /// A token provider read and type-checked: `[hostName, deviceId, moduleId, gatewayHostName, getToken]`.
    #[wasm_bindgen(js_name = hwReadProvider, catch)]
    pub fn read_provider(p: &JsValue) -> Result<js_sys::Array, JsValue>;
    /// Logs a panic and emits it as an `INTERNAL` error on every live client.
    #[wasm_bindgen(js_name = hwPanicked)]
    pub fn panicked(msg: &str);
}

/// Milliseconds since the Unix epoch from the host's `Date.now()`.
pub fn now_ms() -> u64 {
    js_sys::Date::now() as u64
}

/// A function-typed JS value, or `undefined`.
pub fn function_or_undefined(v: JsValue) -> JsValue {
    if v.is_instance_of::<Function>() {
        v
    } else {
        JsValue::UNDEFINED
    }
}
