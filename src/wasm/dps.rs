//! `DeviceClient.fromProvisioning` (cargo feature `dps`, npm entry
//! `hubwire/provisioning`; docs/dps.md): `DpsCore`, the sans-IO `dps::Client`
//! exported to provision.js in the style of core.rs (numbered inputs, events read
//! one at a time, bytes and deadline drained), and the static constructor that
//! reads the options, builds the registration and hands it to provision.js. When
//! DPS assigns, `DpsCore.client` builds the hub `DeviceClient` for the assigned
//! hub and device with the same credentials (`Assignment::hub_config`) through
//! api.rs, exactly as `fromConnectionString` does.
//!
//! Without the feature none of this is in the wasm or the JS (the hub bundle
//! keeps its budget; docs/size.md).

use super::api::{build, DeviceClient};
use super::core::{hub_error, token_input, transport_error, Core, TokenInput};
use super::host;
use super::panic;
use crate::dps::{self, Assignment, DpsEvent};
use crate::hub;
use crate::prelude::*;
use js_sys::{Array, Promise, Reflect};
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;

impl TokenInput for dps::Client {
    fn set_token(&mut self, now: u64, token: String, expiry_secs: u64) {
        dps::Client::set_token(self, now, token, expiry_secs)
    }
    fn token_failed(&mut self, now: u64, kind: hub::TokenError, detail: Option<String>) {
        dps::Client::token_failed(self, now, kind, detail)
    }
}

#[wasm_bindgen(module = "/src/wasm/provision.js")]
extern "C" {
    /// `ProvisioningOptions` type-checked: `[idScope, registrationId, symmetricKey,
    /// groupKey, modelId, provisioningHost, url, payload (JSON text), provisioningTimeoutMs
    /// (NaN: default), getToken, allowInsecure]`.
    #[wasm_bindgen(js_name = hwReadProvisioning, catch)]
    fn read_provisioning(o: &JsValue) -> Result<Array, JsValue>;
    /// Drives `core` to its end; resolves to the connected hub client.
    #[wasm_bindgen(js_name = hwProvision)]
    fn provision(core: JsValue, o: &JsValue, get_token: &JsValue) -> Promise;
}

#[wasm_bindgen(typescript_custom_section)]
const TS_PROVISIONING: &'static str = r#"
export interface ProvisioningOptions extends ClientOptions {
  idScope: string;                  // the DPS ID scope (0ne…)
  registrationId: string;
  symmetricKey?: string;            // an individual enrollment's key (base64)
  groupKey?: string;                // an enrollment group's key: the device key is derived here (keep it off pages you do not control)
  getToken?: (expirySeconds: number, resource: string) => string | Promise<string>;   // signs `resource` (DPS's with skn=registration, then the hub's)
  payload?: JsonValue;              // custom allocation payload
  provisioningHost?: string;        // default global.azure-devices-provisioning.net
  provisioningTimeoutMs?: number;   // the whole registration; default 120000
  connect?: boolean;                // default true: resolve once the hub client is connected
  signal?: AbortSignal;             // abort: the registration rejects CANCELLED; during the first connect, the client is closed (CLOSED)
}
/** What DPS answered. */
export interface Provisioning {
  assignedHub: string;
  deviceId: string;
  substatus?: string;
  payload?: JsonValue;
  operationId?: string;
  registrationState: { [key: string]: JsonValue };
}
export interface ProvisionedClient extends DeviceClient { readonly provisioning: Provisioning; }
/** A provisioning error: `HubwireError` with DPS's own `errorCode` (e.g. 401002), `errorMessage` and `trackingId` when it sent them. */
export interface ProvisioningError extends Error {
  code: ErrorCode | "REGISTRATION_FAILED" | "REGISTRATION_DISABLED" | "CANCELLED";
  status?: number; retryable: boolean;
  errorCode?: number; errorMessage?: string; trackingId?: string;
}
"#;

#[wasm_bindgen]
extern "C" {
    /// `ProvisioningOptions` (read by provision.js; typed for TypeScript only).
    #[wasm_bindgen(typescript_type = "ProvisioningOptions")]
    pub type ProvisioningOptionsArg;
}

/// The JS error of a provisioning failure: `code`, `message`, `retryable`, `status`,
/// and DPS's own `errorCode`, `errorMessage` and `trackingId` when it sent them.
fn dps_error(e: &dps::Error) -> JsValue {
    let f = e.facts();
    let err = host::make_error(f.code, &e.message(), f.retryable, f.status);
    let details = [
        ("errorCode", f.error_code.map(|c| JsValue::from(c as f64))),
        ("errorMessage", f.dps_message.map(JsValue::from)),
        ("trackingId", f.tracking_id.map(JsValue::from)),
    ];
    for (k, v) in details {
        if let Some(v) = v {
            let _ = Reflect::set(&err, &k.into(), &v);
        }
    }
    err
}

/// One registration, driven by provision.js. Internal: not part of the package's API.
#[wasm_bindgen(skip_typescript)]
pub struct DpsCore {
    c: dps::Client,
    ev: Option<DpsEvent>,
    assigned: Option<Box<Assignment>>,
}

fn ms(now: f64) -> u64 {
    now as u64
}

#[wasm_bindgen]
impl DpsCore {
    /// One input without arguments, numbered as `Core.input`'s: 1 cancel, 2 the socket
    /// opened, 3 it was lost, 4 the timer fired; anything else (a text frame) counts as lost.
    pub fn input(&mut self, now: f64, what: u8) {
        let now = ms(now);
        match what {
            1 => self.c.cancel(now),
            2 => self.c.transport_opened(now),
            4 => self.c.handle_timeout(now),
            _ => self.c.connection_lost(now),
        }
    }

    /// `code` as `Core.transportFailed`'s ([`transport_error`]).
    #[wasm_bindgen(js_name = transportFailed)]
    pub fn transport_failed(
        &mut self,
        now: f64,
        code: u8,
        status: Option<u16>,
        detail: Option<String>,
    ) {
        self.c
            .transport_failed(ms(now), transport_error(code), status, detail);
    }

    pub fn bytes(&mut self, now: f64, data: &[u8]) {
        self.c.handle_bytes(ms(now), data);
    }

    /// As `Core.token` ([`token_input`]).
    pub fn token(&mut self, now: f64, kind: u8, text: Option<String>, expiry_secs: f64) {
        token_input(&mut self.c, ms(now), kind, text, expiry_secs);
    }

    pub fn transmit(&mut self) -> Option<Vec<u8>> {
        self.c.poll_transmit()
    }

    #[wasm_bindgen(js_name = nextTimeout)]
    pub fn next_timeout(&self) -> f64 {
        self.c.poll_timeout().map_or(-1.0, |t| t as f64)
    }

    /// Reads the next event; its kind (provision.js names them), 0 when none:
    /// 1 open, 2 close, 3 need a token, 4 assigned, 5 failed, 6 retrying, 7 assigning.
    pub fn event(&mut self) -> u8 {
        self.ev = self.c.poll_event();
        match &self.ev {
            None => 0,
            Some(DpsEvent::OpenTransport { .. }) => 1,
            Some(DpsEvent::CloseTransport) => 2,
            Some(DpsEvent::NeedToken { .. }) => 3,
            Some(DpsEvent::Assigned(a)) => {
                self.assigned = Some(a.clone());
                4
            }
            Some(DpsEvent::Failed(_)) => 5,
            Some(DpsEvent::Retrying { .. }) => 6,
            Some(DpsEvent::Assigning { .. }) => 7,
        }
    }

    /// A text of the current event: the URL to open; the resource to sign for a token;
    /// the assignment's `[assignedHub, deviceId, registrationState JSON, operationId]`;
    /// the operation id of `assigning`.
    #[wasm_bindgen(js_name = eventText)]
    pub fn event_text(&self, i: u32) -> Option<String> {
        match self.ev.as_ref()? {
            DpsEvent::OpenTransport { url } => Some(url.clone()),
            DpsEvent::NeedToken { .. } => Some(self.c.config().sas_resource()),
            DpsEvent::Assigned(a) => match i {
                0 => Some(a.assigned_hub.clone()),
                1 => Some(a.device_id.clone()),
                2 => Some(a.registration_state.clone()),
                _ => a.operation_id.clone(),
            },
            DpsEvent::Assigning { operation_id, .. } => Some(operation_id.clone()),
            _ => None,
        }
    }

    /// A number of the current event: the requested expiry of `NeedToken`; attempt (0)
    /// and delay (1) of `Retrying`; the wait of `Assigning`.
    #[wasm_bindgen(js_name = eventNum)]
    pub fn event_num(&self, i: u32) -> f64 {
        match (&self.ev, i) {
            (Some(DpsEvent::NeedToken { expiry_secs }), _) => *expiry_secs as f64,
            (Some(DpsEvent::Retrying { attempt, .. }), 0) => f64::from(*attempt),
            (Some(DpsEvent::Retrying { delay_ms, .. }), _) => *delay_ms as f64,
            (Some(DpsEvent::Assigning { retry_after_ms, .. }), _) => *retry_after_ms as f64,
            _ => -1.0,
        }
    }

    /// The error of `Failed` or `Retrying`.
    #[wasm_bindgen(js_name = eventError)]
    pub fn event_error(&self) -> JsValue {
        match &self.ev {
            Some(DpsEvent::Failed(e) | DpsEvent::Retrying { reason: e, .. }) => dps_error(e),
            _ => JsValue::UNDEFINED,
        }
    }

    /// The hub client for the assignment (after event 4): `options` as
    /// `DeviceClient.from*`'s, `getToken(expiry)` in token-provider mode.
    pub fn client(&self, options: JsValue, get_token: JsValue) -> Result<JsValue, JsValue> {
        let a = self
            .assigned
            .as_ref()
            .ok_or_else(|| host::make_error("INTERNAL", "not assigned", false, None))?;
        let config = a.hub_config().map_err(|e| hub_error(&e))?;
        build(config, Some(options.unchecked_into()), get_token)
    }
}

/// The registration's configuration from the options provision.js read.
fn config(o: &JsValue) -> Result<(dps::Config, JsValue), JsValue> {
    let a = read_provisioning(o)?;
    // The hub client's options are checked now, not after a registration that took seconds.
    let opts = host::read_options(o)?;
    let nums = js_sys::Float64Array::from(opts.get(0)).to_vec();
    let strs = [1, 2, 3].map(|i| opts.get(i).as_string());
    let probe = hub::ClientConfig::from_token_provider("localhost", "d", None, None)
        .map_err(|e| hub_error(&e))?;
    Core::new(probe, &nums, strs)?;
    let s = |i| a.get(i).as_string();
    let (scope, id) = (s(0).unwrap_or_default(), s(1).unwrap_or_default());
    let get_token = a.get(9);
    let mut c = match (s(2), s(3)) {
        (Some(key), _) => dps::Config::from_symmetric_key(&scope, &id, &key),
        (_, Some(group)) => dps::Config::from_group_key(&scope, &id, &group),
        _ => dps::Config::from_token_provider(&scope, &id),
    }
    .map_err(|e| dps_error(&e))?;
    c.model_id = s(4);
    if let Some(h) = s(5) {
        c.provisioning_host = h;
    }
    c.url = s(6);
    c.payload_json = s(7);
    if let Some(t) = a.get(8).as_f64().filter(|t| !t.is_nan()) {
        c.registration_timeout_ms = t as u64;
    }
    c.allow_insecure = a.get(10).is_truthy();
    c.random_seed = (js_sys::Math::random() * u32::MAX as f64) as u64;
    c.request_id_seed = 1 + (js_sys::Math::random() * 1_000_000.0) as u64;
    Ok((c, get_token))
}

#[wasm_bindgen]
impl DeviceClient {
    /// Registers the device with the Device Provisioning Service, then resolves to a
    /// client for the hub and device DPS assigned, with the same credentials, connected
    /// (unless `connect: false`); its `provisioning` says what DPS answered (docs/js-api.md).
    #[wasm_bindgen(js_name = fromProvisioning, unchecked_return_type = "Promise<ProvisionedClient>")]
    pub fn from_provisioning(options: ProvisioningOptionsArg) -> Promise {
        panic::install();
        let o: &JsValue = options.as_ref();
        let (config, get_token) = match config(o) {
            Ok(c) => c,
            Err(e) => return Promise::reject(&e),
        };
        let now = host::now_ms();
        let mut c = match dps::Client::new(config, now) {
            Ok(c) => c,
            Err(e) => return Promise::reject(&dps_error(&e)),
        };
        c.register(now);
        let core = DpsCore {
            c,
            ev: None,
            assigned: None,
        };
        provision(JsValue::from(core), o, &get_token)
    }
}
