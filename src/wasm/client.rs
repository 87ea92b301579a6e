//! `DeviceClient`: the JS-facing object and the driver loop around `hub::Client`.
//!
//! Borrow discipline (docs/shell.md): every entry point borrows `Shared`
//! briefly to feed the core, then `drive` drains transmit → events → timeout
//! while borrowed, *releases the borrow*, and only then sends bytes and calls
//! user callbacks. Closures hold `Weak<RefCell<Shared>>`, never a strong ref.

use super::error::{hub_error, shell_error, Code};
use super::js::{self, WsLike};
use super::options::{self, ClientOptions};
use super::panic;
use super::socket::{self, Socket, SocketEvent};
use super::timer::Timer;
use super::types::{ClientOptionsArg, MessageOptionsArg, MethodHandlerArg, TokenProviderArg};
use super::url;
use crate::hub;
use js_sys::{Array, Function, Object, Promise, Reflect, Uint8Array, JSON};
use std::cell::{Cell, RefCell};
use std::rc::Rc;
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use wasm_bindgen_futures::{spawn_local, JsFuture};

/// Safety valve: the driver never loops more than this per wake-up.
const MAX_DRIVE_ROUNDS: usize = 256;

/// `ClientOptions.connectTimeoutMs` default: how long `connect()` keeps trying.
pub const DEFAULT_CONNECT_TIMEOUT_MS: u64 = 60_000;

/// The WebSocket subprotocol of MQTT.
const WEBSOCKET_SUBPROTOCOL: &str = "mqtt";

fn state_str(core: hub::ConnectionState) -> &'static str {
    use hub::ConnectionState as S;
    match core {
        // The core's `Closed` means "the app called disconnect()": connect() works again.
        S::Disconnected | S::Closed => "disconnected",
        S::Connecting => "connecting",
        S::Connected => "connected",
        S::Reconnecting => "reconnecting",
    }
}

/// What a pending operation's Promise resolves to.
#[derive(Clone, Copy)]
enum OpKind {
    Send,
    Twin,
    Reported,
}

struct PendingOp {
    id: hub::OpId,
    kind: OpKind,
    resolve: Function,
    reject: Function,
}

#[derive(Default)]
struct Listeners {
    connected: Vec<Function>,
    disconnected: Vec<Function>,
    reconnecting: Vec<Function>,
    error: Vec<Function>,
    message: Vec<Function>,
    desired: Vec<Function>,
}

impl Listeners {
    fn slot(&mut self, event: &str) -> Option<&mut Vec<Function>> {
        Some(match event {
            "connected" => &mut self.connected,
            "disconnected" => &mut self.disconnected,
            "reconnecting" => &mut self.reconnecting,
            "error" => &mut self.error,
            "message" => &mut self.message,
            "desiredPropertiesUpdate" => &mut self.desired,
            _ => return None,
        })
    }
}

struct Shared {
    id: u32,
    core: hub::Client,
    /// `close()` was called: every entry point is a no-op or rejects `CLOSED`.
    closed: bool,
    /// Why the shell stopped the core (a non-retryable transport or token failure):
    /// reported instead of the core's `Closed` by the `Disconnected` that follows.
    stop_error: Option<JsValue>,
    allow_insecure: bool,
    factory: Option<Function>,
    get_token: Option<Function>,
    socket: Option<Socket>,
    /// Bumped for every transport attempt; stale factory Promises compare it.
    socket_gen: u32,
    timer: Option<Timer>,
    listeners: Listeners,
    methods: Vec<(String, Function)>,
    default_method: Option<Function>,
    ops: Vec<PendingOp>,
    connect_waiters: Vec<(Function, Function)>,
    /// A microtask that writes what API calls queued is pending (see `schedule_flush`).
    flush_scheduled: bool,
    /// `connectTimeoutMs`: how long a `connect()` keeps trying before it rejects.
    connect_timeout_ms: u64,
    /// Fires `connect_timeout_ms` after a `connect()` while it has not succeeded.
    connect_timer: Option<Timer>,
    /// When that timer fires: stop the client (`connect()` from "disconnected"),
    /// or only reject the waiting `connect()` Promises (called while reconnecting).
    connect_stops: bool,
    /// The last failed attempt's error while `connect()` waits (what it rejects with).
    last_failure: Option<JsValue>,
    /// The current socket fired `open` (or was open when attached).
    socket_opened: bool,
    /// Why the current attempt failed, as the shell saw it (the socket never
    /// opened, or could not be created): reported by the `Disconnected` that follows.
    attempt_failure: Option<JsValue>,
}

/// Deferred work found while borrowed, carried out after the borrow is released.
enum Action {
    Open {
        url: String,
        gen: u32,
        factory: Option<Function>,
    },
    CloseSocket(Socket),
    NeedToken {
        expiry_secs: u64,
        get_token: Function,
    },
    Call(Vec<Function>, JsValue),
    Settle(Function, JsValue),
    C2d(Vec<Function>, hub::C2dMessage),
    Desired(Vec<Function>, String),
    Method(MethodCall, Option<Function>),
}

/// A direct method call on its way to a handler.
struct MethodCall {
    rid: String,
    name: String,
    component: Option<String>,
    command: String,
    payload: String,
}

thread_local! {
    static NEXT_ID: Cell<u32> = const { Cell::new(1) };
}

/// An Azure IoT Hub device (or module) client over MQTT/WebSocket.
#[wasm_bindgen]
pub struct DeviceClient {
    shared: Rc<RefCell<Shared>>,
}

fn promise() -> (Promise, Function, Function) {
    let mut slot = None;
    let p = Promise::new(&mut |res, rej| slot = Some((res, rej)));
    let (res, rej) = slot.expect("Promise executor runs synchronously");
    (p, res, rej)
}

fn rejected(err: JsValue) -> Promise {
    Promise::reject(&err)
}

fn call(f: &Function, arg: &JsValue) {
    if let Err(e) = f.call1(&JsValue::UNDEFINED, arg) {
        js::console_error(&format!(
            "hubwire: a listener threw: {}",
            js::error_message(&e)
        ));
    }
}

fn set(obj: &Object, key: &str, v: &JsValue) {
    let _ = Reflect::set(obj, &JsValue::from_str(key), v);
}

fn set_opt(obj: &Object, key: &str, v: &Option<String>) {
    if let Some(s) = v {
        set(obj, key, &JsValue::from_str(s));
    }
}

fn parse_json(s: &str) -> JsValue {
    JSON::parse(s).unwrap_or_else(|_| JsValue::from_str(s))
}

impl DeviceClient {
    fn build(
        config: hub::ClientConfig,
        options: &JsValue,
        get_token: Option<Function>,
    ) -> Result<DeviceClient, JsValue> {
        panic::install();
        let opts = ClientOptions::read(options)?;
        if let Some(u) = &opts.url {
            check_url(u, opts.allow_insecure)?;
        }
        let config = apply_options(config, &opts);
        let core = hub::Client::new(config, js::now_ms()).map_err(|e| hub_error(&e))?;
        let id = NEXT_ID.with(|n| {
            let id = n.get();
            n.set(id.wrapping_add(1));
            id
        });
        let shared = Rc::new(RefCell::new(Shared {
            id,
            core,
            closed: false,
            stop_error: None,
            allow_insecure: opts.allow_insecure,
            factory: opts.web_socket_factory,
            get_token,
            socket: None,
            socket_gen: 0,
            timer: None,
            listeners: Listeners::default(),
            methods: Vec::new(),
            default_method: None,
            ops: Vec::new(),
            connect_waiters: Vec::new(),
            flush_scheduled: false,
            connect_timeout_ms: opts
                .connect_timeout_ms
                .unwrap_or(DEFAULT_CONNECT_TIMEOUT_MS),
            connect_timer: None,
            connect_stops: false,
            last_failure: None,
            socket_opened: false,
            attempt_failure: None,
        }));
        let weak = Rc::downgrade(&shared);
        shared.borrow_mut().timer = Some(Timer::new(move || {
            if let Some(rc) = weak.upgrade() {
                on_timer(&rc);
            }
        }));
        let weak = Rc::downgrade(&shared);
        shared.borrow_mut().connect_timer = Some(Timer::new(move || {
            if let Some(rc) = weak.upgrade() {
                on_connect_deadline(&rc);
            }
        }));
        Ok(DeviceClient { shared })
    }

    /// Feeds the core under a short borrow, then drives. A closed client rejects.
    fn with_core<T>(
        &self,
        f: impl FnOnce(&mut Shared, u64) -> Result<T, JsValue>,
    ) -> Result<T, JsValue> {
        let r = {
            let mut s = self.shared.borrow_mut();
            if s.closed {
                return Err(shell_error(Code::Closed, "the client was closed"));
            }
            f(&mut s, js::now_ms())
        };
        drive(&self.shared);
        r
    }

    /// Like `with_core`, but with coalescing on, what the call queued for the wire
    /// is written by one microtask per task (`schedule_flush`), so that many calls
    /// made in one task share one WebSocket message. Events are handled at once.
    fn with_core_deferred<T>(
        &self,
        f: impl FnOnce(&mut Shared, u64) -> Result<T, JsValue>,
    ) -> Result<T, JsValue> {
        let (r, defer) = {
            let mut s = self.shared.borrow_mut();
            if s.closed {
                return Err(shell_error(Code::Closed, "the client was closed"));
            }
            let r = f(&mut s, js::now_ms());
            (r, s.core.config().coalesce)
        };
        if defer {
            // Scheduled before any Promise is settled below, so the bytes are written
            // before a QoS 0 `sendEvent`'s reactions run ("resolves when written").
            schedule_flush(&self.shared);
            drive_with(&self.shared, false);
        } else {
            drive(&self.shared);
        }
        r
    }

    fn op(
        &self,
        kind: OpKind,
        start: impl FnOnce(&mut hub::Client, u64) -> Result<hub::OpId, hub::Error>,
    ) -> Promise {
        let (p, resolve, reject) = promise();
        let r = self.with_core_deferred(|s, now| {
            let id = start(&mut s.core, now).map_err(|e| hub_error(&e))?;
            s.ops.push(PendingOp {
                id,
                kind,
                resolve,
                reject,
            });
            Ok(())
        });
        match r {
            Ok(()) => p,
            Err(e) => rejected(e),
        }
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
        DeviceClient::build(
            config,
            &options.map(JsValue::from).unwrap_or(JsValue::UNDEFINED),
            None,
        )
    }

    /// A client whose SAS tokens come from `provider.getToken(expirySeconds)`.
    #[wasm_bindgen(js_name = fromTokenProvider)]
    pub fn from_token_provider(
        provider: TokenProviderArg,
        options: Option<ClientOptionsArg>,
    ) -> Result<DeviceClient, JsValue> {
        let p: &JsValue = provider.as_ref();
        let need = |key: &str| {
            options::string(p, key, &format!("provider.{key}"))?.ok_or_else(|| {
                shell_error(
                    Code::InvalidArgument,
                    &format!("provider.{key} is required"),
                )
            })
        };
        let host = need("hostName")?;
        let device = need("deviceId")?;
        let module = options::string(p, "moduleId", "provider.moduleId")?;
        let gateway = options::string(p, "gatewayHostName", "provider.gatewayHostName")?;
        let get_token = options::function(p, "getToken", "provider.getToken")?
            .ok_or_else(|| shell_error(Code::InvalidArgument, "provider.getToken is required"))?;
        let config = hub::ClientConfig::from_token_provider(
            &host,
            &device,
            module.as_deref(),
            gateway.as_deref(),
        )
        .map_err(|e| hub_error(&e))?;
        DeviceClient::build(
            config,
            &options.map(JsValue::from).unwrap_or(JsValue::UNDEFINED),
            Some(get_token),
        )
    }

    /// `"disconnected" | "connecting" | "connected" | "reconnecting" | "closed"`.
    #[wasm_bindgen(getter, unchecked_return_type = "ConnectionState")]
    pub fn state(&self) -> String {
        let s = self.shared.borrow();
        if s.closed {
            "closed"
        } else {
            state_str(s.core.state())
        }
        .into()
    }

    /// Connects, retrying with backoff for up to `connectTimeoutMs` (default 60 s);
    /// resolves on the first CONNACK. Rejects when the hub refuses for good (e.g.
    /// `UNAUTHORIZED`), or at the deadline with the last failure's error (`TRANSPORT`
    /// when the socket never opened) and stops. After a success, reconnecting is unbounded.
    #[wasm_bindgen(unchecked_return_type = "Promise<void>")]
    pub fn connect(&self) -> Promise {
        let (p, resolve, reject) = promise();
        let r = self.with_core(|s, now| {
            use hub::ConnectionState as S;
            let state = s.core.state();
            if state == S::Connected {
                return Ok(true);
            }
            s.stop_error = None;
            s.core.connect(now).map_err(|e| hub_error(&e))?;
            s.connect_waiters.push((resolve, reject));
            let at = now.saturating_add(s.connect_timeout_ms);
            if let Some(t) = s.connect_timer.as_mut() {
                if !t.is_armed() {
                    // From "disconnected" the deadline ends the attempt; while reconnecting
                    // after a success it only bounds this Promise.
                    s.connect_stops = matches!(state, S::Disconnected | S::Closed);
                    s.last_failure = None;
                    t.arm(Some(at), now);
                }
            }
            Ok(false)
        });
        match r {
            Ok(true) => Promise::resolve(&JsValue::UNDEFINED),
            Ok(false) => p,
            Err(e) => rejected(e),
        }
    }

    /// Sends MQTT DISCONNECT and closes the socket; the client can `connect()` again.
    #[wasm_bindgen(unchecked_return_type = "Promise<void>")]
    pub fn disconnect(&self) -> Promise {
        let r = self.with_core(|s, now| {
            s.core.disconnect(now);
            Ok(std::mem::take(&mut s.connect_waiters))
        });
        match r {
            Ok(waiters) => {
                let err = shell_error(Code::Closed, "disconnect() was called");
                for (_, reject) in waiters {
                    call(&reject, &err);
                }
                Promise::resolve(&JsValue::UNDEFINED)
            }
            Err(e) => rejected(e),
        }
    }

    /// Releases the socket, the timer and every listener; pending Promises reject
    /// with `CLOSED`. The client is unusable afterwards.
    pub fn close(&self) {
        close_shared(&self.shared);
    }

    /// Sends telemetry. QoS 1 (default) resolves on PUBACK, QoS 0 once written.
    /// While reconnecting the message is queued (bounded: `QUEUE_FULL`).
    #[wasm_bindgen(js_name = sendEvent, unchecked_return_type = "Promise<void>")]
    pub fn send_event(
        &self,
        #[wasm_bindgen(unchecked_param_type = "string | Uint8Array | JsonValue")] body: JsValue,
        options: Option<MessageOptionsArg>,
    ) -> Promise {
        match telemetry(
            &body,
            &options.map(JsValue::from).unwrap_or(JsValue::UNDEFINED),
        ) {
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
        self.on("message", cb)
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
            return rejected(shell_error(
                Code::InvalidArgument,
                "patch must be an object",
            ));
        }
        let json = match JSON::stringify(&patch) {
            Ok(s) => String::from(s),
            Err(e) => return rejected(shell_error(Code::InvalidArgument, &js::error_message(&e))),
        };
        self.op(OpKind::Reported, |c, now| c.update_reported(now, json))
    }

    /// Calls `cb` with every desired-properties patch (it carries `$version`).
    #[wasm_bindgen(js_name = onDesiredPropertiesUpdate)]
    pub fn on_desired_properties_update(
        &self,
        #[wasm_bindgen(unchecked_param_type = "(patch: TwinProperties) => void")] cb: Function,
    ) -> Result<(), JsValue> {
        self.on("desiredPropertiesUpdate", cb)
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
        let bad = || {
            shell_error(
                Code::InvalidArgument,
                "onMethod(name, handler) or onMethod(handler)",
            )
        };
        self.with_core(|s, now| {
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
        self.with_core(|s, now| {
            let id = s.id;
            let slot = s.listeners.slot(event).ok_or_else(|| {
                shell_error(Code::InvalidArgument, &format!("unknown event {event:?}"))
            })?;
            if event == "error" {
                panic::add_sink(id, &cb);
            }
            slot.push(cb);
            match event {
                "message" => s.core.enable_c2d(now),
                "desiredPropertiesUpdate" => s.core.enable_twin_desired(now),
                _ => {}
            }
            Ok(())
        })
    }

    /// Removes a listener added with `on` (or `onMessage`/`onDesiredPropertiesUpdate`).
    /// Typed overloads only: see types.rs.
    #[wasm_bindgen(skip_typescript)]
    pub fn off(&self, event: &str, cb: Function) {
        let mut s = self.shared.borrow_mut();
        let id = s.id;
        if let Some(slot) = s.listeners.slot(event) {
            if let Some(i) = slot.iter().position(|f| *f == cb) {
                slot.remove(i);
            }
        }
        if event == "error" {
            panic::remove_sink(id, &cb);
        }
    }
}

impl Drop for DeviceClient {
    fn drop(&mut self) {
        close_shared(&self.shared);
    }
}

fn check_url(u: &str, allow_insecure: bool) -> Result<(), JsValue> {
    url::check(u, allow_insecure).map_err(|e| match e {
        url::UrlError::Scheme => shell_error(
            Code::InvalidArgument,
            "options.url must be a ws:// or wss:// URL",
        ),
        url::UrlError::Insecure => shell_error(
            Code::InsecureUrl,
            "ws:// (unencrypted) to a host that is not loopback: use wss:// or set allowInsecure",
        ),
    })
}

fn apply_options(mut c: hub::ClientConfig, o: &ClientOptions) -> hub::ClientConfig {
    if o.url.is_some() {
        c.url = o.url.clone();
    }
    if let Some(v) = o.keep_alive_secs {
        c.keep_alive_secs = v;
    }
    if let Some(v) = o.clean_session {
        c.clean_session = v;
    }
    if let Some(v) = o.token_ttl_secs {
        c.token_ttl_secs = v;
    }
    if let Some(v) = o.retry_min_delay_ms {
        c.retry.min_ms = v;
    }
    if let Some(v) = o.retry_max_delay_ms {
        c.retry.max_ms = v;
    }
    if let Some(v) = o.retry_jitter {
        c.retry.jitter = v;
    }
    if let Some(v) = o.queue_max_messages {
        c.queue_max_messages = v;
    }
    if let Some(v) = o.queue_max_bytes {
        c.queue_max_bytes = v;
    }
    if o.model_id.is_some() {
        c.model_id = o.model_id.clone();
    }
    if o.product_info.is_some() {
        c.product_info = o.product_info.clone();
    }
    if let Some(v) = o.operation_timeout_ms {
        c.operation_timeout_ms = v;
    }
    if let Some(v) = o.coalesce {
        c.coalesce = v;
    }
    // Jitter and request ids are parameters of the core: the shell supplies the randomness.
    c.random_seed = (js_sys::Math::random() * u32::MAX as f64) as u64;
    c.request_id_seed = 1 + (js_sys::Math::random() * 1_000_000.0) as u64;
    c
}

/// Builds the core's telemetry message from `sendEvent(body, options)`.
fn telemetry(body: &JsValue, o: &JsValue) -> Result<hub::Telemetry, JsValue> {
    let mut json = false;
    let bytes: Vec<u8> = if let Some(s) = body.as_string() {
        s.into_bytes()
    } else if let Some(v) = js::message_bytes(body) {
        v.to_vec()
    } else if body.is_undefined() || body.is_function() || body.is_symbol() || body.is_bigint() {
        return Err(shell_error(
            Code::InvalidArgument,
            "body must be a string, a Uint8Array or a JSON value",
        ));
    } else {
        json = true;
        let s = JSON::stringify(body)
            .map_err(|e| shell_error(Code::InvalidArgument, &js::error_message(&e)))?;
        String::from(s).into_bytes()
    };
    let mut msg = hub::Telemetry::new(bytes);
    if !o.is_undefined() && !o.is_null() && !o.is_object() {
        return Err(shell_error(
            Code::InvalidArgument,
            "options must be an object",
        ));
    }
    let sys = &mut msg.system;
    sys.message_id = options::string(o, "messageId", "options.messageId")?;
    sys.correlation_id = options::string(o, "correlationId", "options.correlationId")?;
    sys.content_type = options::string(o, "contentType", "options.contentType")?;
    sys.content_encoding = options::string(o, "contentEncoding", "options.contentEncoding")?;
    sys.user_id = options::string(o, "userId", "options.userId")?;
    sys.component = options::string(o, "component", "options.component")?;
    if let Some(e) = options::field(o, "expiry") {
        sys.expiry = Some(options::expiry(&e)?);
    }
    if json {
        sys.content_type
            .get_or_insert_with(|| "application/json".into());
        sys.content_encoding.get_or_insert_with(|| "utf-8".into());
    }
    if let Some(p) = options::field(o, "properties") {
        msg.properties = options::properties(&p)?;
    }
    msg.qos = match options::number(o, "qos", "options.qos", 0.0, 2.0)? {
        None => crate::mqtt::QoS::AtLeastOnce,
        Some(0.0) => crate::mqtt::QoS::AtMostOnce,
        Some(1.0) => crate::mqtt::QoS::AtLeastOnce,
        Some(2.0) => crate::mqtt::QoS::ExactlyOnce,
        Some(_) => {
            return Err(shell_error(
                Code::InvalidArgument,
                "options.qos must be 0 or 1",
            ))
        }
    };
    Ok(msg)
}

// ---------------------------------------------------------------- driver

/// Queues one microtask that drives the client (writing what is queued for the
/// wire), unless one is already pending: API calls made in one task share it.
fn schedule_flush(rc: &Rc<RefCell<Shared>>) {
    {
        let Ok(mut s) = rc.try_borrow_mut() else {
            return;
        };
        if s.flush_scheduled || s.closed {
            return;
        }
        s.flush_scheduled = true;
    }
    let weak = Rc::downgrade(rc);
    // A one-shot closure frees itself when called; a microtask always runs.
    let f = Closure::once_into_js(move || {
        let Some(rc) = weak.upgrade() else { return };
        match rc.try_borrow_mut() {
            Ok(mut s) => s.flush_scheduled = false,
            Err(_) => return,
        }
        drive(&rc);
    });
    js::queue_microtask(f.unchecked_ref());
}

/// Drains the core (transmit → events → timeout) until it has nothing more,
/// acting on each batch only after the borrow is released.
fn drive(rc: &Rc<RefCell<Shared>>) {
    drive_with(rc, true);
}

/// `drive`; with `transmit` false, bytes stay queued in the core (a scheduled
/// flush writes them) unless a socket is opened or closed in this round.
fn drive_with(rc: &Rc<RefCell<Shared>>, transmit: bool) {
    for _ in 0..MAX_DRIVE_ROUNDS {
        let (ws, tx, actions) = {
            let Ok(mut s) = rc.try_borrow_mut() else {
                // A caller up the stack holds the borrow and will drive when it releases it.
                return;
            };
            if s.closed {
                return;
            }
            // The socket the queued bytes are for, taken before `CloseTransport` removes it:
            // the core's last bytes (DISCONNECT) go out before that socket closes.
            let ws = s.socket.as_ref().map(Socket::handle);
            let mut tx = Vec::new();
            let mut actions = Vec::new();
            while let Some(ev) = s.core.poll_event() {
                on_event(&mut s, ev, &mut actions);
            }
            let switching = actions
                .iter()
                .any(|a| matches!(a, Action::Open { .. } | Action::CloseSocket(_)));
            if transmit || switching {
                while let Some(bytes) = s.core.poll_transmit() {
                    tx.push(bytes);
                }
            }
            let deadline = s.core.poll_timeout();
            let now = js::now_ms();
            if let Some(t) = s.timer.as_mut() {
                t.arm(deadline, now);
            }
            (ws, tx, actions)
        };
        if tx.is_empty() && actions.is_empty() {
            return;
        }
        if let Some(ws) = ws {
            for bytes in &tx {
                if socket::send(&ws, bytes).is_err() {
                    break; // the close event follows and reports the loss
                }
            }
        }
        for a in actions {
            act(rc, a);
        }
    }
}

/// Translates one core event into state changes and deferred actions (borrowed).
fn on_event(s: &mut Shared, ev: hub::HubEvent, out: &mut Vec<Action>) {
    use hub::HubEvent as E;
    match ev {
        E::OpenTransport { url } => {
            s.socket_gen = s.socket_gen.wrapping_add(1);
            s.socket_opened = false;
            s.attempt_failure = None;
            if let Some(old) = s.socket.take() {
                out.push(Action::CloseSocket(old));
            }
            out.push(Action::Open {
                url,
                gen: s.socket_gen,
                factory: s.factory.clone(),
            });
        }
        E::CloseTransport => {
            s.socket_gen = s.socket_gen.wrapping_add(1);
            if let Some(old) = s.socket.take() {
                out.push(Action::CloseSocket(old));
            }
        }
        E::NeedToken { expiry_secs } => {
            if let Some(f) = &s.get_token {
                out.push(Action::NeedToken {
                    expiry_secs,
                    get_token: f.clone(),
                });
            }
        }
        E::Connected => {
            s.last_failure = None;
            s.attempt_failure = None;
            if let Some(t) = s.connect_timer.as_mut() {
                t.cancel();
            }
            for (resolve, _) in s.connect_waiters.drain(..) {
                out.push(Action::Settle(resolve, JsValue::UNDEFINED));
            }
            out.push(Action::Call(
                s.listeners.connected.clone(),
                JsValue::UNDEFINED,
            ));
        }
        E::Disconnected { reason, will_retry } => {
            let closed = matches!(reason, hub::Error::Closed);
            // The shell's view of a failed attempt (TRANSPORT: the socket never opened
            // or could not be created) replaces the core's `DISCONNECTED`.
            let seen = s.attempt_failure.take();
            let stop = if closed { s.stop_error.take() } else { seen };
            let (err, code, text) = match &stop {
                Some(e) => (e.clone(), options::field(e, "code"), js::error_message(e)),
                None => (
                    hub_error(&reason),
                    Some(JsValue::from_str(reason.code())),
                    reason.to_string(),
                ),
            };
            if will_retry {
                s.last_failure = Some(err.clone());
            } else {
                s.last_failure = None;
                if let Some(t) = s.connect_timer.as_mut() {
                    t.cancel();
                }
                for (_, reject) in s.connect_waiters.drain(..) {
                    out.push(Action::Settle(reject, err.clone()));
                }
            }
            let e = Object::new();
            set(&e, "reason", &JsValue::from_str(&text));
            set(&e, "code", &code.unwrap_or(JsValue::UNDEFINED));
            set(&e, "willRetry", &JsValue::from_bool(will_retry));
            out.push(Action::Call(s.listeners.disconnected.clone(), e.into()));
            if !will_retry && (stop.is_some() || !closed) {
                out.push(Action::Call(s.listeners.error.clone(), err));
            }
        }
        E::Reconnecting { attempt, delay_ms } => {
            let e = Object::new();
            set(&e, "attempt", &JsValue::from_f64(attempt as f64));
            set(&e, "delayMs", &JsValue::from_f64(delay_ms as f64));
            out.push(Action::Call(s.listeners.reconnecting.clone(), e.into()));
        }
        E::Completed { op, result } => {
            let Some(i) = s.ops.iter().position(|p| p.id == op) else {
                return;
            };
            let p = s.ops.swap_remove(i);
            match result {
                Ok(r) => {
                    let v = match (p.kind, r) {
                        (OpKind::Twin, hub::OpResult::Twin(json)) => parse_json(&json),
                        (OpKind::Reported, hub::OpResult::Reported { version: Some(v) }) => {
                            JsValue::from_f64(v as f64)
                        }
                        _ => JsValue::UNDEFINED,
                    };
                    out.push(Action::Settle(p.resolve, v));
                }
                Err(e) => out.push(Action::Settle(p.reject, hub_error(&e))),
            }
        }
        E::C2d(m) => out.push(Action::C2d(s.listeners.message.clone(), *m)),
        E::DesiredPatch { json, .. } => {
            out.push(Action::Desired(s.listeners.desired.clone(), json))
        }
        E::MethodCall {
            rid,
            name,
            component,
            command,
            payload,
        } => {
            let handler = s
                .methods
                .iter()
                .find(|(n, _)| *n == name)
                .map(|(_, f)| f.clone())
                .or_else(|| s.default_method.clone());
            out.push(Action::Method(
                MethodCall {
                    rid,
                    name,
                    component,
                    command,
                    payload,
                },
                handler,
            ));
        }
        E::SubscriptionRefused { filter } => {
            let err = js::make_error(
                "SERVER_ERROR",
                &format!("the hub refused the subscription {filter:?}"),
                false,
                None,
            );
            out.push(Action::Call(s.listeners.error.clone(), err.into()));
        }
    }
}

/// Carries out one deferred action; no borrow is held on entry.
fn act(rc: &Rc<RefCell<Shared>>, a: Action) {
    match a {
        Action::Open { url, gen, factory } => open_transport(rc, url, gen, factory),
        Action::CloseSocket(sock) => drop(sock),
        Action::NeedToken {
            expiry_secs,
            get_token,
        } => request_token(rc, expiry_secs, get_token),
        Action::Call(fs, arg) => {
            for f in &fs {
                call(f, &arg);
            }
        }
        Action::Settle(f, v) => call(&f, &v),
        Action::C2d(fs, m) => {
            let obj = c2d_object(&m);
            for f in &fs {
                call(f, &obj);
            }
        }
        Action::Desired(fs, json) => {
            let patch = parse_json(&json);
            for f in &fs {
                call(f, &patch);
            }
        }
        Action::Method(call, handler) => run_method(rc, call, handler),
    }
}

fn c2d_object(m: &hub::C2dMessage) -> JsValue {
    let obj = js::make_c2d(&Uint8Array::from(&m.payload[..]));
    let sys = &m.system;
    set_opt(&obj, "messageId", &sys.message_id);
    set_opt(&obj, "correlationId", &sys.correlation_id);
    set_opt(&obj, "to", &sys.to);
    set_opt(&obj, "expiry", &sys.expiry);
    set_opt(&obj, "contentType", &sys.content_type);
    set_opt(&obj, "contentEncoding", &sys.content_encoding);
    set_opt(&obj, "userId", &sys.user_id);
    set_opt(&obj, "inputName", &m.input_name);
    let props = Object::new();
    for (k, v) in &m.properties {
        let v = v.as_deref().map(JsValue::from_str).unwrap_or(JsValue::NULL);
        set(&props, k, &v);
    }
    set(&obj, "properties", &props);
    obj.into()
}

/// Creates the socket (directly or through the factory, maybe a Promise) and attaches it.
fn open_transport(rc: &Rc<RefCell<Shared>>, url: String, gen: u32, factory: Option<Function>) {
    let allow_insecure = rc.borrow().allow_insecure;
    if let Err(e) = check_url(&url, allow_insecure) {
        transport_failed(rc, gen, e);
        return;
    }
    let protocols: JsValue = Array::of1(&JsValue::from_str(WEBSOCKET_SUBPROTOCOL)).into();
    let created: Result<JsValue, JsValue> = match &factory {
        Some(f) => f.call2(&JsValue::UNDEFINED, &JsValue::from_str(&url), &protocols),
        None => js::new_websocket(&url, &protocols).map(JsValue::from),
    };
    match created {
        Err(e) => transport_failed(rc, gen, transport_error(&e)),
        Ok(v) if js::is_thenable(&v) => {
            let weak = Rc::downgrade(rc);
            spawn_local(async move {
                let r = JsFuture::from(Promise::resolve(&v)).await;
                let Some(rc) = weak.upgrade() else { return };
                match r {
                    Ok(ws) => attach_checked(&rc, ws, gen),
                    Err(e) => transport_failed(&rc, gen, transport_error(&e)),
                }
            });
        }
        Ok(v) => attach_checked(rc, v, gen),
    }
}

fn attach_checked(rc: &Rc<RefCell<Shared>>, ws: JsValue, gen: u32) {
    if ws.is_object() {
        attach(rc, ws.unchecked_into(), gen);
    } else {
        let err = js::make_error(
            Code::Transport.as_str(),
            "webSocketFactory must return a WebSocket (or a Promise of one)",
            false,
            None,
        );
        transport_failed(rc, gen, err.into());
    }
}

fn transport_error(e: &JsValue) -> JsValue {
    if options::field(e, "code")
        .and_then(|c| c.as_string())
        .is_some()
    {
        return e.clone();
    }
    // `new WebSocket` throws SyntaxError for a URL it cannot use: retrying cannot help.
    let bad_url = options::field(e, "name")
        .and_then(|n| n.as_string())
        .as_deref()
        == Some("SyntaxError");
    let msg = format!("could not open the WebSocket: {}", js::error_message(e));
    js::make_error(Code::Transport.as_str(), &msg, !bad_url, None).into()
}

fn attach(rc: &Rc<RefCell<Shared>>, ws: WsLike, gen: u32) {
    let weak = Rc::downgrade(rc);
    let sink: Rc<dyn Fn(SocketEvent)> = Rc::new(move |ev| {
        if let Some(rc) = weak.upgrade() {
            on_socket(&rc, gen, ev);
        }
    });
    let sock = match Socket::attach(ws, sink) {
        Ok(sock) => sock,
        Err(e) => {
            let msg = format!("the WebSocket cannot be used: {}", js::error_message(&e));
            let err = js::make_error(Code::Transport.as_str(), &msg, false, None);
            transport_failed(rc, gen, err.into());
            return;
        }
    };
    let open_now = sock.is_open();
    {
        let mut s = rc.borrow_mut();
        if s.closed || s.socket_gen != gen {
            drop(s);
            drop(sock); // stale: a newer attempt or close() won
            return;
        }
        s.socket = Some(sock);
        s.socket_opened = open_now;
        if open_now {
            // Cloudflare's fetch-upgrade socket is open before we see it: no open event.
            s.core.transport_opened(js::now_ms());
        }
    }
    drive(rc);
}

/// Stops the core because of a failure retrying cannot fix; the `Disconnected`
/// that follows reports `err` (rejecting `connect()` and firing `error`).
fn stop_core(s: &mut Shared, err: JsValue) {
    s.stop_error = Some(err);
    s.core.disconnect(js::now_ms());
}

/// The socket could not be created. A retryable failure is a lost connection
/// (the core backs off and retries); a non-retryable one (`retryable: false`,
/// e.g. no WebSocket in this runtime, `INSECURE_URL`, an upgrade refused with
/// 4xx) stops the client.
fn transport_failed(rc: &Rc<RefCell<Shared>>, gen: u32, err: JsValue) {
    let retryable = options::field(&err, "retryable").and_then(|r| r.as_bool()) != Some(false);
    let listeners = {
        let mut s = rc.borrow_mut();
        if s.closed || s.socket_gen != gen {
            return;
        }
        if !retryable {
            stop_core(&mut s, err);
            drop(s);
            drive(rc);
            return;
        }
        s.attempt_failure = Some(err.clone());
        s.core.connection_lost(js::now_ms());
        s.listeners.error.clone()
    };
    for f in &listeners {
        call(f, &err);
    }
    drive(rc);
}

fn on_socket(rc: &Rc<RefCell<Shared>>, gen: u32, ev: SocketEvent) {
    let mut closed = None;
    let stale = {
        let mut s = rc.borrow_mut();
        if s.closed || s.socket_gen != gen || s.socket.is_none() {
            true
        } else {
            let now = js::now_ms();
            match ev {
                SocketEvent::Open => {
                    s.socket_opened = true;
                    s.core.transport_opened(now)
                }
                SocketEvent::Message(bytes) => s.core.handle_bytes(now, &bytes),
                // MQTT over WebSocket is binary only (MQTT 3.1.1 §6): a text frame
                // ends the connection like a close does (dropping the socket closes it).
                SocketEvent::NotBinary | SocketEvent::Closed => {
                    if !s.socket_opened {
                        // Unreachable host, refused upgrade, TLS failure: a transport failure.
                        let url = s.core.config().websocket_url();
                        let msg = format!("the WebSocket to {url} could not be opened");
                        let err = js::make_error(Code::Transport.as_str(), &msg, true, None);
                        s.attempt_failure = Some(err.into());
                    }
                    closed = s.socket.take();
                    s.socket_gen = s.socket_gen.wrapping_add(1);
                    s.core.connection_lost(now);
                }
            }
            false
        }
    };
    drop(closed); // removes its listeners outside the borrow
    if !stale {
        drive(rc);
    }
}

/// `connectTimeoutMs` passed while `connect()` waits: reject it with the last
/// failure (or `TIMEOUT` when no attempt has ended yet) and, when `connect()`
/// started from "disconnected", stop retrying.
fn on_connect_deadline(rc: &Rc<RefCell<Shared>>) {
    let rejected = {
        let mut s = rc.borrow_mut();
        if let Some(t) = s.connect_timer.as_mut() {
            t.fired();
        }
        if s.closed || s.connect_waiters.is_empty() {
            return;
        }
        let ms = s.connect_timeout_ms;
        let err: JsValue = match s.last_failure.take() {
            Some(last) => {
                let code = options::field(&last, "code")
                    .and_then(|c| c.as_string())
                    .unwrap_or_else(|| Code::Transport.as_str().into());
                let retryable = options::field(&last, "retryable").and_then(|r| r.as_bool());
                let msg = format!(
                    "no connection within connectTimeoutMs ({ms} ms); last failure: {}",
                    js::error_message(&last)
                );
                js::make_error(&code, &msg, retryable != Some(false), None).into()
            }
            None => js::make_error(
                "TIMEOUT",
                &format!("no connection within connectTimeoutMs ({ms} ms)"),
                true,
                None,
            )
            .into(),
        };
        if s.connect_stops {
            // The `Disconnected { Closed }` that follows rejects the waiters with `err`.
            stop_core(&mut s, err);
            None
        } else {
            Some((std::mem::take(&mut s.connect_waiters), err))
        }
    };
    if let Some((waiters, err)) = rejected {
        for (_, reject) in waiters {
            call(&reject, &err);
        }
    }
    drive(rc);
}

fn on_timer(rc: &Rc<RefCell<Shared>>) {
    {
        let mut s = rc.borrow_mut();
        if let Some(t) = s.timer.as_mut() {
            t.fired();
        }
        if s.closed {
            return;
        }
        s.core.handle_timeout(js::now_ms());
    }
    drive(rc);
}

fn request_token(rc: &Rc<RefCell<Shared>>, expiry_secs: u64, get_token: Function) {
    let weak = Rc::downgrade(rc);
    let r = get_token.call1(&JsValue::UNDEFINED, &JsValue::from_f64(expiry_secs as f64));
    spawn_local(async move {
        let r = match r {
            Ok(v) => JsFuture::from(Promise::resolve(&v)).await,
            Err(e) => Err(e),
        };
        let Some(rc) = weak.upgrade() else { return };
        let failure = {
            let mut s = rc.borrow_mut();
            if s.closed {
                return;
            }
            let err = match r.map(|v| v.as_string()) {
                Ok(Some(token)) => {
                    s.core.set_token(js::now_ms(), token, expiry_secs);
                    None
                }
                Ok(None) => Some(shell_error(
                    Code::InvalidArgument,
                    "getToken must resolve to a SAS token string",
                )),
                Err(e) => Some(shell_error(
                    Code::Unauthorized,
                    &format!("getToken failed: {}", js::error_message(&e)),
                )),
            };
            err.and_then(|err| {
                // Without a token the core cannot go on connecting: stop it, so that a
                // later connect() asks for a token again. A failed renewal keeps the
                // current connection (the next reconnect asks again) and only reports.
                if s.core.state() == hub::ConnectionState::Connected {
                    Some((s.listeners.error.clone(), err))
                } else {
                    stop_core(&mut s, err);
                    None
                }
            })
        };
        if let Some((fs, err)) = failure {
            for f in &fs {
                call(f, &err);
            }
        }
        drive(&rc);
    });
}

fn run_method(rc: &Rc<RefCell<Shared>>, m: MethodCall, handler: Option<Function>) {
    let Some(handler) = handler else {
        let body = Object::new();
        set(
            &body,
            "message",
            &JsValue::from_str(&format!("no handler for method {:?}", m.name)),
        );
        respond(rc, &m.rid, 501, json_string(&body.into()));
        return;
    };
    let req = Object::new();
    set(&req, "name", &JsValue::from_str(&m.name));
    if let Some(c) = &m.component {
        set(&req, "component", &JsValue::from_str(c));
    }
    set(&req, "command", &JsValue::from_str(&m.command));
    set(&req, "requestId", &JsValue::from_str(&m.rid));
    let payload = if m.payload.trim().is_empty() {
        JsValue::NULL
    } else {
        parse_json(&m.payload)
    };
    set(&req, "payload", &payload);
    let rid = m.rid;
    match handler.call1(&JsValue::UNDEFINED, &req) {
        Ok(v) if js::is_thenable(&v) => {
            let weak = Rc::downgrade(rc);
            spawn_local(async move {
                let r = JsFuture::from(Promise::resolve(&v)).await;
                if let Some(rc) = weak.upgrade() {
                    let (status, body) = method_result(r);
                    respond(&rc, &rid, status, body);
                }
            });
        }
        r => {
            let (status, body) = method_result(r);
            respond(rc, &rid, status, body);
        }
    }
}

fn json_string(v: &JsValue) -> Option<String> {
    JSON::stringify(v).ok().map(String::from)
}

/// `{status, payload}` → (status, JSON body); a throw/rejection → 500 `{message}`.
fn method_result(r: Result<JsValue, JsValue>) -> (u16, Option<String>) {
    let failed = |msg: String| {
        let body = Object::new();
        set(&body, "message", &JsValue::from_str(&msg));
        (500, json_string(&body.into()))
    };
    match r {
        Err(e) => failed(js::error_message(&e)),
        Ok(v) => {
            let status = match options::field(&v, "status").map(|s| s.as_f64()) {
                None => 200,
                Some(Some(n)) if (100.0..=999.0).contains(&n) => n as u16,
                Some(_) => return failed("method handler returned an invalid status".into()),
            };
            match options::field(&v, "payload") {
                None if Reflect::get(&v, &JsValue::from_str("payload"))
                    .is_ok_and(|p| p.is_null()) =>
                {
                    (status, Some("null".into()))
                }
                None => (status, None),
                Some(p) => match JSON::stringify(&p) {
                    Ok(s) => (status, Some(String::from(s))),
                    Err(e) => failed(js::error_message(&e)),
                },
            }
        }
    }
}

fn respond(rc: &Rc<RefCell<Shared>>, rid: &str, status: u16, body: Option<String>) {
    let err = {
        let mut s = rc.borrow_mut();
        if s.closed {
            return;
        }
        match s.core.respond_method(js::now_ms(), rid, status, body) {
            Ok(()) => None,
            Err(e) => Some((s.listeners.error.clone(), hub_error(&e))),
        }
    };
    if let Some((fs, e)) = err {
        for f in &fs {
            call(f, &e);
        }
    }
    drive(rc);
}

/// `close()`: best-effort DISCONNECT, then drop socket, timer and listeners
/// outside the borrow; pending Promises reject with `CLOSED`.
fn close_shared(rc: &Rc<RefCell<Shared>>) {
    let (ws, tx, socket, timers, ops, waiters, listeners) = {
        let Ok(mut s) = rc.try_borrow_mut() else {
            return;
        };
        if s.closed {
            return;
        }
        let now = js::now_ms();
        let mut tx = Vec::new();
        if s.socket.as_ref().is_some_and(Socket::is_open) {
            s.core.disconnect(now);
            while let Some(b) = s.core.poll_transmit() {
                tx.push(b);
            }
        }
        while s.core.poll_event().is_some() {}
        s.closed = true;
        s.socket_gen = s.socket_gen.wrapping_add(1);
        panic::remove_client(s.id);
        s.methods.clear();
        s.default_method = None;
        s.factory = None;
        s.get_token = None;
        (
            s.socket.as_ref().map(Socket::handle),
            tx,
            s.socket.take(),
            (s.timer.take(), s.connect_timer.take()),
            std::mem::take(&mut s.ops),
            std::mem::take(&mut s.connect_waiters),
            std::mem::take(&mut s.listeners),
        )
    };
    if let Some(ws) = ws {
        for b in &tx {
            let _ = socket::send(&ws, b);
        }
    }
    drop(socket);
    drop(timers);
    drop(listeners);
    let err = shell_error(Code::Closed, "the client was closed");
    for p in ops {
        call(&p.reject, &err);
    }
    for (_, reject) in waiters {
        call(&reject, &err);
    }
}
