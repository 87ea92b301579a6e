//! `Core`: the sans-IO `hub::Client` exported to the JS half of the shell
//! (client.js) with plain arguments — numbers, strings, bytes — so that the
//! boundary costs little glue. It adds no logic: each method is one core input
//! or output; events are read one at a time (`event()`, then its fields).

use super::host;
use crate::hub::{self, HubEvent, OpResult, TokenError, TransportError};
use crate::mqtt::QoS;
use crate::prelude::*;
use wasm_bindgen::prelude::*;

/// A `HubwireError` carrying a core error's code, message, retryability and status.
pub fn hub_error(e: &hub::Error) -> JsValue {
    host::make_error(e.code(), &e.message(), e.retryable(), e.status())
}

/// The core behind one `DeviceClient`, and the event last read with `event()`.
/// Internal: not part of the package's API (packaging/build.mjs leaves it out).
#[wasm_bindgen(skip_typescript)]
pub struct Core {
    c: hub::Client,
    ev: Option<HubEvent>,
}

impl Core {
    /// A core for `config` with the numeric options of `ClientOptions` applied
    /// (client.js `NUMBERS`, NaN = the default) and fresh randomness.
    pub fn new(
        mut config: hub::ClientConfig,
        nums: &[f64],
        strs: [Option<String>; 3],
    ) -> Result<Core, JsValue> {
        let n = |i: usize| nums.get(i).copied().filter(|v| !v.is_nan());
        let c = &mut config;
        let whole = [
            (2, &mut c.token_ttl_secs),
            (3, &mut c.retry.min_ms),
            (4, &mut c.retry.max_ms),
            (8, &mut c.operation_timeout_ms),
            (10, &mut c.connect_timeout_ms),
        ];
        for (i, slot) in whole {
            if let Some(v) = n(i) {
                *slot = v as u64;
            }
        }
        if let Some(v) = n(0) {
            c.keep_alive_secs = v as u16;
        }
        if let Some(v) = n(5) {
            c.retry.jitter = v;
        }
        if let Some(v) = n(6) {
            c.queue_max_messages = v as usize;
        }
        if let Some(v) = n(7) {
            c.queue_max_bytes = v as usize;
        }
        if let Some(v) = n(12) {
            c.token_renew_margin_secs = Some(v as u64);
        }
        if let Some(v) = n(13) {
            c.ack_timeout_ms = v as u64;
        }
        let flags = [
            (1, &mut c.clean_session),
            (9, &mut c.coalesce),
            (11, &mut c.allow_insecure),
        ];
        for (i, slot) in flags {
            if let Some(v) = n(i) {
                *slot = v == 1.0;
            }
        }
        let [url, model_id, product_info] = strs;
        if url.is_some() {
            c.url = url;
        }
        if model_id.is_some() {
            c.model_id = model_id;
        }
        if product_info.is_some() {
            c.product_info = product_info;
        }
        // Jitter and request ids are parameters of the core: the shell supplies the randomness.
        c.random_seed = (js_sys::Math::random() * u32::MAX as f64) as u64;
        c.request_id_seed = 1 + (js_sys::Math::random() * 1_000_000.0) as u64;
        let c = hub::Client::new(config, host::now_ms()).map_err(|e| hub_error(&e))?;
        Ok(Core { c, ev: None })
    }

    /// What client.js needs to know of the configuration: bit 0 API calls share one
    /// WebSocket message per task (`coalesce`), bit 1 a module identity.
    pub fn flags(&self) -> u8 {
        let c = self.c.config();
        u8::from(c.coalesce) | u8::from(c.module_id.is_some()) << 1
    }
}

/// A message from client.js `telemetry()`'s arguments: `strs` holds the system
/// properties whose bit is set in `present` (bit i: messageId, correlationId,
/// contentType, contentEncoding, userId, component, expiry, to, creationTime,
/// outputName), then application properties as `key, value, …`.
fn telemetry(body: Vec<u8>, qos: u8, present: u16, strs: Vec<String>) -> hub::Telemetry {
    let mut m = hub::Telemetry::new(body);
    let s = &mut m.system;
    let mut it = strs.into_iter();
    let slots = [
        &mut s.message_id,
        &mut s.correlation_id,
        &mut s.content_type,
        &mut s.content_encoding,
        &mut s.user_id,
        &mut s.component,
        &mut s.expiry,
        &mut s.to,
        &mut s.creation_time_utc,
        &mut s.output_name,
    ];
    for (i, slot) in slots.into_iter().enumerate() {
        if present & (1 << i) != 0 {
            *slot = it.next();
        }
    }
    while let (Some(k), Some(v)) = (it.next(), it.next()) {
        m.properties.push((k, v));
    }
    m.qos = QoS::from_u8(qos).unwrap_or(QoS::ExactlyOnce);
    m
}

/// The bit of `Core::send`'s `present` that makes the message the last will.
const WILL: u16 = 1 << 15;

fn op(r: Result<hub::OpId, hub::Error>) -> Result<f64, JsValue> {
    r.map(|op| op.0 as f64).map_err(|e| hub_error(&e))
}

fn ms(now: f64) -> u64 {
    now as u64
}

#[wasm_bindgen]
impl Core {
    /// 0 disconnected, 1 connecting, 2 connected, 3 reconnecting, 4 closed by `disconnect`.
    pub fn state(&self) -> u8 {
        use hub::ConnectionState as S;
        match self.c.state() {
            S::Disconnected => 0,
            S::Connecting => 1,
            S::Connected => 2,
            S::Reconnecting => 3,
            S::Closed => 4,
        }
    }

    /// One input without arguments: 0 `connect`, 1 `disconnect`, 2 the socket
    /// opened, 3 it was lost, 4 the timer fired, 5/6/7 enable cloud-to-device
    /// messages / desired properties / direct methods, 8 a text frame arrived,
    /// 9 the network came back (an `online` event). (One export instead of ten:
    /// each costs glue.)
    pub fn input(&mut self, now: f64, what: u8) {
        let now = ms(now);
        let c = &mut self.c;
        match what {
            0 => {
                let _ = c.connect(now);
            }
            1 => c.disconnect(now),
            2 => c.transport_opened(now),
            3 => c.connection_lost(now),
            4 => c.handle_timeout(now),
            5 => c.enable_c2d(now),
            6 => c.enable_twin_desired(now),
            7 => c.enable_methods(now),
            8 => c.handle_text_frame(now),
            _ => c.network_online(now),
        }
    }

    /// `code`: see [`transport_error`].
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

    /// What the token provider gave: see [`token_input`].
    pub fn token(&mut self, now: f64, kind: u8, text: Option<String>, expiry_secs: f64) {
        token_input(&mut self.c, ms(now), kind, text, expiry_secs);
    }

    /// Sends telemetry (see [`telemetry`] for the arguments); returns the op id. With
    /// bit 15 of `present` ([`WILL`]) the message is the last will instead (client.js
    /// sets it before the first connect; one export less).
    pub fn send(
        &mut self,
        now: f64,
        body: Vec<u8>,
        qos: u8,
        present: u16,
        strs: Vec<String>,
    ) -> Result<f64, JsValue> {
        let m = telemetry(body, qos, present, strs);
        if present & WILL != 0 {
            return self.c.set_will(&m).map(|()| 0.0).map_err(|e| hub_error(&e));
        }
        op(self.c.send_event(ms(now), m))
    }

    /// A twin request: the whole twin (`patch` absent) or a reported-properties patch.
    pub fn twin(&mut self, now: f64, patch: Option<String>) -> Result<f64, JsValue> {
        op(match patch {
            None => self.c.get_twin(ms(now)),
            Some(json) => self.c.update_reported(ms(now), json),
        })
    }

    pub fn respond(
        &mut self,
        now: f64,
        rid: &str,
        status: u16,
        body: Option<String>,
    ) -> Result<(), JsValue> {
        self.c
            .respond_method(ms(now), rid, status, body)
            .map_err(|e| hub_error(&e))
    }

    /// Bytes for one WebSocket message, if any.
    pub fn transmit(&mut self) -> Option<Vec<u8>> {
        self.c.poll_transmit()
    }

    /// When `timeout` should next be called (ms since the epoch), or -1.
    #[wasm_bindgen(js_name = nextTimeout)]
    pub fn next_timeout(&self) -> f64 {
        self.c.poll_timeout().map_or(-1.0, |t| t as f64)
    }

    /// Reads the next event; returns its kind (client.js names them), 0 when none.
    /// The commonest one, telemetry acknowledged (`Completed` with `Sent`), comes
    /// back whole as `-op`: one call per PUBACK instead of three.
    pub fn event(&mut self) -> f64 {
        self.ev = self.c.poll_event();
        let Some(e) = &self.ev else { return 0.0 };
        if let HubEvent::Completed {
            op,
            result: Ok(OpResult::Sent),
        } = e
        {
            return -(op.0 as f64);
        }
        f64::from(match e {
            HubEvent::OpenTransport { .. } => 1,
            HubEvent::CloseTransport => 2,
            HubEvent::NeedToken { .. } => 3,
            HubEvent::Connected => 4,
            HubEvent::ConnectFailed { .. } => 5,
            HubEvent::Disconnected { .. } => 6,
            HubEvent::Reconnecting { .. } => 7,
            HubEvent::Warning(_) => 8,
            HubEvent::Completed { .. } => 9,
            HubEvent::C2d(_) => 10,
            HubEvent::DesiredPatch { .. } => 11,
            HubEvent::MethodCall { .. } => 12,
            HubEvent::SubscriptionRefused { .. } => 13,
        })
    }

    /// A text field of the current event: the URL, JSON, the method call's
    /// `[rid, name, component, command, payload]`, a C2D message's system
    /// properties (0..10) and application properties (100 + 2i: key, value).
    #[wasm_bindgen(js_name = eventText)]
    pub fn event_text(&self, i: u32) -> Option<String> {
        let text = |s: &str| Some(s.to_owned());
        match self.ev.as_ref()? {
            HubEvent::OpenTransport { url } => text(url),
            HubEvent::DesiredPatch { json, .. } => text(json),
            HubEvent::SubscriptionRefused { filter } => text(filter),
            HubEvent::Completed {
                result: Ok(OpResult::Twin(json)),
                ..
            } => text(json),
            HubEvent::MethodCall {
                rid,
                name,
                component,
                command,
                payload,
            } => match i {
                0 => text(rid),
                1 => text(name),
                2 => component.clone(),
                3 => text(command),
                _ => text(payload),
            },
            HubEvent::C2d(m) => {
                let s = &m.system;
                if i >= 100 {
                    let (k, v) = m.properties.get(((i - 100) / 2) as usize)?;
                    return if i.is_multiple_of(2) {
                        Some(k.clone())
                    } else {
                        v.clone()
                    };
                }
                [
                    &s.message_id,
                    &s.correlation_id,
                    &s.to,
                    &s.expiry,
                    &s.content_type,
                    &s.content_encoding,
                    &s.user_id,
                    &m.input_name,
                    &s.connection_device_id,
                    &s.connection_module_id,
                ]
                .get(i as usize)
                .and_then(|v| (*v).clone())
            }
            _ => None,
        }
    }

    /// A number of the current event: the op id (0) / ok (1) / reported version (2,
    /// -1 if none) of `Completed`; attempt (0) and delay (1) of `Reconnecting`;
    /// `full` (0) and `$version` (1) of a desired-properties update;
    /// `willRetry` (0) of `Disconnected`; the requested expiry (0) of `NeedToken`.
    #[wasm_bindgen(js_name = eventNum)]
    pub fn event_num(&self, i: u32) -> f64 {
        match (&self.ev, i) {
            (Some(HubEvent::Completed { op, .. }), 0) => op.0 as f64,
            (Some(HubEvent::Completed { result, .. }), 1) => f64::from(u8::from(result.is_ok())),
            (
                Some(HubEvent::Completed {
                    result: Ok(OpResult::Reported { version: Some(v) }),
                    ..
                }),
                2,
            ) => *v as f64,
            (Some(HubEvent::Reconnecting { attempt, .. }), 0) => f64::from(*attempt),
            (Some(HubEvent::Reconnecting { delay_ms, .. }), _) => *delay_ms as f64,
            (Some(HubEvent::Disconnected { will_retry, .. }), _) => {
                f64::from(u8::from(*will_retry))
            }
            (Some(HubEvent::NeedToken { expiry_secs }), _) => *expiry_secs as f64,
            (Some(HubEvent::DesiredPatch { full, .. }), 0) => f64::from(u8::from(*full)),
            (Some(HubEvent::DesiredPatch { version, .. }), _) => *version as f64,
            _ => -1.0,
        }
    }

    /// The error of the current event (`ConnectFailed`, `Disconnected`, `Warning`, a failed `Completed`).
    #[wasm_bindgen(js_name = eventError)]
    pub fn event_error(&self) -> JsValue {
        match &self.ev {
            Some(
                HubEvent::ConnectFailed { reason }
                | HubEvent::Disconnected { reason, .. }
                | HubEvent::Warning(reason)
                | HubEvent::Completed {
                    result: Err(reason),
                    ..
                },
            ) => hub_error(reason),
            _ => JsValue::UNDEFINED,
        }
    }

    /// The body of the current C2D message.
    #[wasm_bindgen(js_name = eventBytes)]
    pub fn event_bytes(&mut self) -> Vec<u8> {
        match &mut self.ev {
            Some(HubEvent::C2d(m)) => core::mem::take(&mut m.payload),
            _ => Vec::new(),
        }
    }
}

/// `transportFailed`'s `code` (`Core`'s and `DpsCore`'s): 0 the factory threw
/// (CreateFailed), 1 no WebSocket, 2 a bad URL, 3 not a socket, 4 refused.
pub(crate) fn transport_error(code: u8) -> TransportError {
    match code {
        1 => TransportError::NoWebSocket,
        2 => TransportError::BadUrl,
        3 => TransportError::NotASocket,
        4 => TransportError::Refused,
        _ => TransportError::CreateFailed,
    }
}

/// A core that takes a token provider's answers: `hub::Client` and `dps::Client`.
pub(crate) trait TokenInput {
    fn set_token(&mut self, now: u64, token: String, expiry_secs: u64);
    fn token_failed(&mut self, now: u64, kind: TokenError, detail: Option<String>);
}

impl TokenInput for hub::Client {
    fn set_token(&mut self, now: u64, token: String, expiry_secs: u64) {
        hub::Client::set_token(self, now, token, expiry_secs)
    }
    fn token_failed(&mut self, now: u64, kind: TokenError, detail: Option<String>) {
        hub::Client::token_failed(self, now, kind, detail)
    }
}

/// `token`'s arguments (`Core`'s and `DpsCore`'s), handed to `c`: `kind` 0 a token
/// (`text`, expiring at `expiry_secs`), 1 the provider failed (`text`: its message),
/// 2 something other than a string.
pub(crate) fn token_input(
    c: &mut impl TokenInput,
    now: u64,
    kind: u8,
    text: Option<String>,
    expiry_secs: f64,
) {
    match (kind, text) {
        (0, Some(token)) => c.set_token(now, token, expiry_secs as u64),
        (1, detail) => c.token_failed(now, TokenError::Failed, detail),
        _ => c.token_failed(now, TokenError::NotAToken, None),
    }
}
