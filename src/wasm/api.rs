//! `DeviceClient`, the exported class: each method converts its arguments, feeds
//! the core under a short borrow and drives (driver.rs). Listeners and pending
//! Promises live in the JS port (host.rs).

use super::convert::{self, hub_error};
use super::driver::{self, OpKind, Shared};
use super::host;
use super::panic;
use super::types::{ClientOptionsArg, MessageOptionsArg, MethodHandlerArg, TokenProviderArg};
use crate::hub;
use js_sys::{Array, Function, Promise};
use std::cell::RefCell;
use std::rc::Rc;
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;

/// The events `on`/`off` accept.
const EVENTS: [&str; 6] = [
    "connected",
    "disconnected",
    "reconnecting",
    "error",
    "message",
    "desiredPropertiesUpdate",
];

/// An Azure IoT Hub device (or module) client over MQTT/WebSocket.
#[wasm_bindgen]
pub struct DeviceClient {
    pub(super) shared: Rc<RefCell<Shared>>,
}

fn rejected(err: JsValue) -> Promise {
    Promise::reject(&err)
}

impl DeviceClient {
    fn build(
        mut config: hub::ClientConfig,
        options: Option<ClientOptionsArg>,
        get_token: Option<Function>,
    ) -> Result<DeviceClient, JsValue> {
        panic::install();
        let options = options.map(JsValue::from).unwrap_or(JsValue::UNDEFINED);
        let factory = convert::client_options(&options, &mut config)?;
        let core = hub::Client::new(config, host::now_ms()).map_err(|e| hub_error(&e))?;
        Ok(DeviceClient {
            shared: driver::new_shared(core, factory, get_token),
        })
    }

    /// Runs `f` on the open client under a short borrow, then drives; a closed
    /// client gives `CLOSED`. With `defer` (and coalescing on) the bytes `f` queued
    /// are written by one flush per task, so that many calls made in one task share
    /// one WebSocket message; events are handled at once.
    fn with<T>(
        &self,
        defer: bool,
        f: impl FnOnce(&mut Shared, u64) -> Result<T, JsValue>,
    ) -> Result<T, JsValue> {
        let (r, defer) = {
            let mut s = self.shared.borrow_mut();
            if s.closed {
                return Err(convert::closed());
            }
            let r = f(&mut s, host::now_ms());
            let defer = defer && s.core.config().coalesce;
            if defer {
                // Posted before any Promise is settled below, so the bytes are written
                // before a QoS 0 `sendEvent`'s reactions run ("resolves when written").
                driver::schedule_flush(&mut s);
            }
            (r, defer)
        };
        driver::drive(&self.shared, !defer);
        r
    }

    /// Starts an operation whose Promise settles on the core's `Completed`.
    fn op(
        &self,
        kind: OpKind,
        start: impl FnOnce(&mut hub::Client, u64) -> Result<hub::OpId, hub::Error>,
    ) -> Promise {
        let r = self.with(true, |s, now| {
            let id = start(&mut s.core, now).map_err(|e| hub_error(&e))?;
            let n = s.token();
            s.ops.push((id, n, kind));
            Ok(host::defer(&s.port, n))
        });
        r.unwrap_or_else(rejected)
    }

    pub(super) fn listen(&self, event: &str, cb: Function) -> Result<(), JsValue> {
        if !EVENTS.contains(&event) {
            return Err(convert::invalid(&crate::text::concat(&[
                "unknown event \"",
                event,
                "\"",
            ])));
        }
        self.with(true, |s, now| {
            host::on(&s.port, event, &cb);
            match event {
                "message" => s.core.enable_c2d(now),
                "desiredPropertiesUpdate" => s.core.enable_twin_desired(now),
                _ => {}
            }
            Ok(())
        })
    }
}

#[wasm_bindgen]
impl DeviceClient {
    /// A client authenticated by a device or module connection string
    /// (`HostName=...;DeviceId=...;SharedAccessKey=...`); SAS tokens are generated and renewed.
    #[wasm_bindgen(js_name = fromConnectionString)]
    pub fn from_connection_string(
        #[wasm_bindgen(js_name = connectionString)] connection_string: &str,
        options: Option<ClientOptionsArg>,
    ) -> Result<DeviceClient, JsValue> {
        let config = hub::ClientConfig::from_connection_string(connection_string)
            .map_err(|e| hub_error(&e))?;
        DeviceClient::build(config, options, None)
    }

    /// A client whose SAS tokens come from `provider.getToken(expirySeconds)`.
    #[wasm_bindgen(js_name = fromTokenProvider)]
    pub fn from_token_provider(
        provider: TokenProviderArg,
        options: Option<ClientOptionsArg>,
    ) -> Result<DeviceClient, JsValue> {
        let p: &JsValue = provider.as_ref();
        let need = |key: &str, path: &str| {
            convert::string(p, key, path)?
                .ok_or_else(|| convert::invalid(&crate::text::concat(&[path, " is required"])))
        };
        let host_name = need("hostName", "provider.hostName")?;
        let device = need("deviceId", "provider.deviceId")?;
        let module = convert::string(p, "moduleId", "provider.moduleId")?;
        let gateway = convert::string(p, "gatewayHostName", "provider.gatewayHostName")?;
        let get_token = convert::function(p, "getToken", "provider.getToken")?
            .ok_or_else(|| convert::invalid("provider.getToken is required"))?;
        let config = hub::ClientConfig::from_token_provider(
            &host_name,
            &device,
            module.as_deref(),
            gateway.as_deref(),
        )
        .map_err(|e| hub_error(&e))?;
        DeviceClient::build(config, options, Some(get_token))
    }

    /// `"disconnected" | "connecting" | "connected" | "reconnecting" | "closed"`.
    #[wasm_bindgen(getter, unchecked_return_type = "ConnectionState")]
    pub fn state(&self) -> String {
        use hub::ConnectionState as S;
        let s = self.shared.borrow();
        if s.closed {
            return "closed".into();
        }
        match s.core.state() {
            // The core's `Closed` means "the app called disconnect()": connect() works again.
            S::Disconnected | S::Closed => "disconnected",
            S::Connecting => "connecting",
            S::Connected => "connected",
            S::Reconnecting => "reconnecting",
        }
        .into()
    }

    /// Connects, retrying with backoff for up to `connectTimeoutMs` (default 60 s);
    /// resolves on the first CONNACK. Rejects when the hub refuses for good (e.g.
    /// `UNAUTHORIZED`), or at the deadline with the last failure's code (`TRANSPORT`
    /// when the socket never opened) and stops. After a success, reconnecting is unbounded.
    #[wasm_bindgen(unchecked_return_type = "Promise<void>")]
    pub fn connect(&self) -> Promise {
        let r = self.with(false, |s, now| {
            if s.core.state() == hub::ConnectionState::Connected {
                return Ok(Promise::resolve(&JsValue::UNDEFINED));
            }
            let n = s.token();
            let p = host::defer(&s.port, n);
            s.connect_waiters.push(n);
            s.core.connect(now).map_err(|e| hub_error(&e))?;
            Ok(p)
        });
        r.unwrap_or_else(rejected)
    }

    /// Sends MQTT DISCONNECT and closes the socket; the client can `connect()` again.
    /// A pending `connect()` rejects with `CLOSED`.
    #[wasm_bindgen(unchecked_return_type = "Promise<void>")]
    pub fn disconnect(&self) -> Promise {
        let r = self.with(false, |s, now| {
            s.core.disconnect(now);
            Ok(Promise::resolve(&JsValue::UNDEFINED))
        });
        r.unwrap_or_else(rejected)
    }

    /// Releases the socket, the timer and every listener; pending Promises reject
    /// with `CLOSED`. The client is unusable afterwards.
    pub fn close(&self) {
        driver::close(&self.shared);
    }

    /// Sends telemetry. QoS 1 (default) resolves on PUBACK, QoS 0 once written.
    /// While reconnecting the message is queued (bounded: `QUEUE_FULL`).
    #[wasm_bindgen(js_name = sendEvent, unchecked_return_type = "Promise<void>")]
    pub fn send_event(
        &self,
        #[wasm_bindgen(unchecked_param_type = "string | Uint8Array | JsonValue")] body: JsValue,
        options: Option<MessageOptionsArg>,
    ) -> Promise {
        let o = options.map(JsValue::from).unwrap_or(JsValue::UNDEFINED);
        match convert::telemetry(&body, &o) {
            Ok(msg) => self.op(OpKind::Send, |c, now| c.send_event(now, msg)),
            Err(e) => rejected(e),
        }
    }

    /// Calls `cb` with every cloud-to-device message.
    #[wasm_bindgen(js_name = onMessage)]
    pub fn on_message(
        &self,
        #[wasm_bindgen(unchecked_param_type = "(m: C2dMessage) => void")] cb: Function,
    ) -> Result<(), JsValue> {
        self.listen("message", cb)
    }

    /// Fetches the whole twin.
    #[wasm_bindgen(js_name = getTwin, unchecked_return_type = "Promise<Twin>")]
    pub fn get_twin(&self) -> Promise {
        self.op(OpKind::Twin, |c, now| c.get_twin(now))
    }

    /// Patches reported properties (`null` deletes); resolves to the new reported `$version`.
    #[wasm_bindgen(js_name = updateReportedProperties, unchecked_return_type = "Promise<number>")]
    pub fn update_reported_properties(
        &self,
        #[wasm_bindgen(unchecked_param_type = "Record<string, JsonValue>")] patch: JsValue,
    ) -> Promise {
        if !patch.is_object() || Array::is_array(&patch) {
            return rejected(convert::invalid("patch must be an object"));
        }
        match convert::stringify(&patch) {
            Ok(json) => self.op(OpKind::Reported, |c, now| c.update_reported(now, json)),
            Err(e) => rejected(e),
        }
    }

    /// Calls `cb` with every desired-properties patch (it carries `$version`).
    #[wasm_bindgen(js_name = onDesiredPropertiesUpdate)]
    pub fn on_desired_properties_update(
        &self,
        #[wasm_bindgen(unchecked_param_type = "(patch: TwinProperties) => void")] cb: Function,
    ) -> Result<(), JsValue> {
        self.listen("desiredPropertiesUpdate", cb)
    }

    /// Registers a direct-method handler for `name` (`onMethod(name, handler)`),
    /// or the default handler (`onMethod(handler)`). Unknown methods answer 501.
    #[wasm_bindgen(js_name = onMethod)]
    pub fn on_method(
        &self,
        #[wasm_bindgen(js_name = nameOrHandler, unchecked_param_type = "string | MethodHandler")]
        name_or_handler: JsValue,
        handler: Option<MethodHandlerArg>,
    ) -> Result<(), JsValue> {
        let bad = || convert::invalid("onMethod(name, handler) or onMethod(handler)");
        self.with(true, |s, now| {
            match (name_or_handler.as_string(), handler) {
                (Some(name), Some(h)) => {
                    let h = JsValue::from(h).dyn_into::<Function>().map_err(|_| bad())?;
                    s.methods.retain(|(n, _)| *n != name);
                    s.methods.push((name, h));
                }
                (None, None) => {
                    s.default_method =
                        Some(name_or_handler.dyn_into::<Function>().map_err(|_| bad())?)
                }
                _ => return Err(bad()),
            }
            s.core.enable_methods(now);
            Ok(())
        })
    }

    /// Subscribes to `"connected" | "disconnected" | "reconnecting" | "error"`
    /// (also `"message"`, `"desiredPropertiesUpdate"`). Typed overloads only: see types.rs.
    #[wasm_bindgen(skip_typescript)]
    pub fn on(&self, event: &str, cb: Function) -> Result<(), JsValue> {
        self.listen(event, cb)
    }

    /// Removes a listener added with `on` (or `onMessage`/`onDesiredPropertiesUpdate`).
    /// Typed overloads only: see types.rs.
    #[wasm_bindgen(skip_typescript)]
    pub fn off(&self, event: &str, cb: Function) {
        let port = self.shared.borrow().port.clone();
        host::off(&port, event, &cb);
    }
}

impl Drop for DeviceClient {
    fn drop(&mut self) {
        driver::close(&self.shared);
    }
}
