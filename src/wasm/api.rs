//! `DeviceClient`, the exported name apps import: its constructors build the
//! core (`Core`, core.rs) from the connection string or token provider and the
//! options, and return the client object of client.js, which carries every
//! instance method (typed in types.rs).

use super::core::{hub_error, Core};
use super::host;
use super::panic;
use super::types::{ClientOptionsArg, TokenProviderArg};
use crate::hub;
use wasm_bindgen::prelude::*;

/// An Azure IoT Hub device (or module) client over MQTT/WebSocket.
#[wasm_bindgen]
pub struct DeviceClient(());

/// Reads the options and makes the client object around a new core (also dps.rs's).
pub(super) fn build(
    config: hub::ClientConfig,
    options: Option<ClientOptionsArg>,
    get_token: JsValue,
) -> Result<JsValue, JsValue> {
    panic::install();
    let o = host::read_options(&options.map(JsValue::from).unwrap_or(JsValue::UNDEFINED))?;
    let nums = js_sys::Float64Array::from(o.get(0)).to_vec();
    let strs = [
        o.get(1).as_string(),
        o.get(2).as_string(),
        o.get(3).as_string(),
    ];
    let core = Core::new(config, &nums, strs)?;
    let flags = core.flags();
    // client.js sets the will (`o[5]`) on the core it wraps.
    host::client(
        JsValue::from(core),
        &host::function_or_undefined(o.get(4)),
        &get_token,
        flags,
        &o.get(5),
    )
}

#[wasm_bindgen]
impl DeviceClient {
    /// A client authenticated by a device or module connection string
    /// (`HostName=...;DeviceId=...;SharedAccessKey=...`); SAS tokens are generated and renewed.
    #[wasm_bindgen(js_name = fromConnectionString, unchecked_return_type = "DeviceClient")]
    pub fn from_connection_string(
        // Any JS value (a `&str` parameter traps on a number): a non-string is read as
        // an empty string, refused as INVALID_CONNECTION_STRING ("has no HostName").
        #[wasm_bindgen(js_name = connectionString, unchecked_param_type = "string")]
        connection_string: JsValue,
        options: Option<ClientOptionsArg>,
    ) -> Result<JsValue, JsValue> {
        let cs = connection_string.as_string().unwrap_or_default();
        let config = hub::ClientConfig::from_connection_string(&cs).map_err(|e| hub_error(&e))?;
        build(config, options, JsValue::UNDEFINED)
    }

    /// A client whose SAS tokens come from `provider.getToken(expirySeconds)`.
    #[wasm_bindgen(js_name = fromTokenProvider, unchecked_return_type = "DeviceClient")]
    pub fn from_token_provider(
        provider: TokenProviderArg,
        options: Option<ClientOptionsArg>,
    ) -> Result<JsValue, JsValue> {
        let p = host::read_provider(provider.as_ref())?;
        let (module, gateway) = (p.get(2).as_string(), p.get(3).as_string());
        let config = hub::ClientConfig::from_token_provider(
            &p.get(0).as_string().unwrap_or_default(),
            &p.get(1).as_string().unwrap_or_default(),
            module.as_deref(),
            gateway.as_deref(),
        )
        .map_err(|e| hub_error(&e))?;
        build(config, options, p.get(4))
    }
}
