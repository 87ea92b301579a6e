//! The driver loop: feeds what the port reports into the core, drains the core
//! (transmit → events → timeout) under a short borrow, and carries out what it
//! asked for after the borrow is released. The core makes every decision; this
//! file only translates its events into port calls and JS values.
//!
//! Borrow discipline (docs/shell.md): no user code runs while `Shared` is borrowed
//! (listeners, method handlers, `getToken`, `webSocketFactory`, a user socket's
//! methods): those calls are collected as [`Action`]s and made afterwards.

use super::convert::{self, hub_error};
use super::host::{self, kind};
use super::panic;
use crate::hub::{self, HubEvent, TokenError};
use js_sys::{Function, Uint8Array};
use std::cell::RefCell;
use std::rc::{Rc, Weak};
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;

/// Safety valve: the driver never loops more than this per wake-up.
const MAX_DRIVE_ROUNDS: usize = 256;
/// Longest delay `setTimeout` honours (larger values fire at once in browsers).
const MAX_DELAY_MS: u64 = i32::MAX as u64;

/// What a pending operation's Promise resolves to.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum OpKind {
    /// `sendEvent`: `undefined`.
    Send,
    /// `getTwin`: the twin object.
    Twin,
    /// `updateReportedProperties`: the new reported `$version`.
    Reported,
}

/// A user function the port is running for us (`n` is its token).
enum Call {
    /// `getToken(expirySeconds)`.
    Token { expiry_secs: u64 },
    /// A method handler for request `rid`.
    Method { rid: String },
}

/// The client's state behind the one `RefCell`.
pub struct Shared {
    pub core: hub::Client,
    /// The JS port (host.rs): socket, timer, listeners, pending Promises.
    pub port: JsValue,
    /// `close()` was called: every entry point is a no-op or rejects `CLOSED`.
    pub closed: bool,
    /// `options.webSocketFactory`, or `undefined`.
    pub factory: JsValue,
    pub get_token: Option<Function>,
    pub methods: Vec<(String, Function)>,
    pub default_method: Option<Function>,
    /// Operations whose Promise (token) waits for `Completed`.
    pub ops: Vec<(hub::OpId, u32, OpKind)>,
    /// Tokens of `connect()` Promises waiting for `Connected` / `ConnectFailed`.
    pub connect_waiters: Vec<u32>,
    calls: Vec<(u32, Call)>,
    next_token: u32,
    /// A flush is posted and not yet handled (see `schedule_flush`).
    flush_scheduled: bool,
    /// The deadline the port's timer is armed for.
    armed: Option<u64>,
    /// Owned here, called by the port; dropped (after the port is silenced) by `close`.
    inbox: Option<Closure<host::Inbox>>,
}

/// Deferred work found while borrowed, carried out after the borrow is released.
enum Action {
    Open(String),
    Close,
    Emit(&'static str, JsValue),
    Settle(u32, bool, JsValue),
    /// Run a user function (`getToken(expiry)`, `handler(request)`) for call token `n`.
    Call(u32, Function, JsValue),
}

impl Shared {
    /// A new token for a Promise or a call.
    pub fn token(&mut self) -> u32 {
        self.next_token = self.next_token.wrapping_add(1);
        self.next_token
    }
}

/// Makes the shared state, its port and inbox.
pub fn new_shared(
    core: hub::Client,
    factory: JsValue,
    get_token: Option<Function>,
) -> Rc<RefCell<Shared>> {
    let rc = Rc::new(RefCell::new(Shared {
        core,
        port: JsValue::UNDEFINED,
        closed: false,
        factory,
        get_token,
        methods: Vec::new(),
        default_method: None,
        ops: Vec::new(),
        connect_waiters: Vec::new(),
        calls: Vec::new(),
        next_token: 0,
        flush_scheduled: false,
        armed: None,
        inbox: None,
    }));
    let weak: Weak<RefCell<Shared>> = Rc::downgrade(&rc);
    let inbox: Closure<host::Inbox> = Closure::new(move |k: u32, n: u32, v: JsValue| {
        if let Some(rc) = weak.upgrade() {
            on_inbox(&rc, k, n, v);
        }
    });
    let port = host::port(inbox.as_ref().unchecked_ref());
    panic::add_port(&port);
    {
        let mut s = rc.borrow_mut();
        s.port = port;
        s.inbox = Some(inbox);
    }
    rc
}

/// Everything the port reports.
fn on_inbox(rc: &Rc<RefCell<Shared>>, k: u32, n: u32, v: JsValue) {
    let (port, warning) = {
        let Ok(mut s) = rc.try_borrow_mut() else {
            return;
        };
        if s.closed {
            return;
        }
        let now = host::now_ms();
        let s = &mut *s;
        let mut warning = None;
        match k {
            kind::OPEN => s.core.transport_opened(now),
            kind::MESSAGE => {
                let bytes = v.unchecked_into::<Uint8Array>().to_vec();
                s.core.handle_bytes(now, &bytes);
            }
            kind::NOT_BINARY => {
                // MQTT over WebSocket is binary only (MQTT 3.1.1 §6): the socket is unusable.
                host::close(&s.port);
                s.core.connection_lost(now);
            }
            kind::CLOSED => s.core.connection_lost(now),
            kind::FAILED => {
                let a: js_sys::Array = v.unchecked_into();
                let status = a.get(0).as_f64().map(|x| x as u16);
                s.core
                    .transport_failed(now, host::failure(n), status, a.get(1).as_string());
            }
            kind::TIMER => {
                s.armed = None;
                s.core.handle_timeout(now);
            }
            kind::FLUSH => s.flush_scheduled = false,
            kind::RESOLVED | kind::REJECTED => {
                warning = settled(s, now, n, k == kind::RESOLVED, v);
            }
            _ => {}
        }
        (s.port.clone(), warning)
    };
    if let Some(e) = warning {
        host::emit(&port, "error", &e);
    }
    drive(rc, true);
}

/// A user function run through the port finished: hand its outcome to the core.
/// Returns an error to report when the core refused it.
fn settled(s: &mut Shared, now: u64, n: u32, ok: bool, v: JsValue) -> Option<JsValue> {
    let i = s.calls.iter().position(|(t, _)| *t == n)?;
    match s.calls.swap_remove(i).1 {
        Call::Token { expiry_secs } => match (ok, v.as_string()) {
            (true, Some(token)) => s.core.set_token(now, token, expiry_secs),
            (true, None) => s.core.token_failed(now, TokenError::NotAToken, None),
            (false, _) => {
                let detail = Some(host::error_message(&v));
                s.core.token_failed(now, TokenError::Failed, detail)
            }
        },
        Call::Method { rid } => {
            let (status, body) = convert::method_result(if ok { Ok(v) } else { Err(v) });
            return respond(s, now, &rid, status, body);
        }
    }
    None
}

/// Answers a method call; an error to report if the core refused the answer.
fn respond(
    s: &mut Shared,
    now: u64,
    rid: &str,
    status: u16,
    body: Option<String>,
) -> Option<JsValue> {
    s.core
        .respond_method(now, rid, status, body)
        .err()
        .map(|e| hub_error(&e))
}

/// Schedules one flush (a full `drive`) per task: API calls made in one task share it.
pub fn schedule_flush(s: &mut Shared) {
    if !s.flush_scheduled && !s.closed {
        s.flush_scheduled = true;
        host::flush_soon(&s.port);
    }
}

/// Drains the core until it has nothing more, acting on each batch only after the
/// borrow is released. With `transmit` false, bytes stay queued in the core (a
/// scheduled flush writes them) unless a socket is opened or closed in this round.
pub fn drive(rc: &Rc<RefCell<Shared>>, transmit: bool) {
    for _ in 0..MAX_DRIVE_ROUNDS {
        let (port, tx, actions) = {
            let Ok(mut s) = rc.try_borrow_mut() else {
                // A caller up the stack holds the borrow and will drive when it releases it.
                return;
            };
            if s.closed {
                return;
            }
            let s = &mut *s;
            let mut actions = Vec::new();
            while let Some(ev) = s.core.poll_event() {
                on_event(s, ev, &mut actions);
            }
            let switching = actions
                .iter()
                .any(|a| matches!(a, Action::Open(_) | Action::Close));
            let mut tx = Vec::new();
            if transmit || switching {
                while let Some(bytes) = s.core.poll_transmit() {
                    tx.push(bytes);
                }
            }
            let deadline = s.core.poll_timeout();
            if deadline != s.armed {
                s.armed = deadline;
                match deadline {
                    Some(at) => {
                        let ms = at.saturating_sub(host::now_ms()).min(MAX_DELAY_MS);
                        host::arm(&s.port, ms as f64);
                    }
                    None => host::disarm(&s.port),
                }
            }
            (s.port.clone(), tx, actions)
        };
        if tx.is_empty() && actions.is_empty() {
            return;
        }
        // The bytes go to the socket current before this round's actions: the DISCONNECT
        // queued with a `CloseTransport` goes out before that socket closes.
        for bytes in &tx {
            host::send(&port, bytes);
        }
        for a in actions {
            act(rc, &port, a);
        }
    }
}

/// Translates one core event into state changes and deferred actions (borrowed).
fn on_event(s: &mut Shared, ev: HubEvent, out: &mut Vec<Action>) {
    match ev {
        HubEvent::OpenTransport { url } => out.push(Action::Open(url)),
        HubEvent::CloseTransport => out.push(Action::Close),
        HubEvent::NeedToken { expiry_secs } => {
            if let Some(f) = s.get_token.clone() {
                let n = s.token();
                s.calls.push((n, Call::Token { expiry_secs }));
                out.push(Action::Call(n, f, JsValue::from_f64(expiry_secs as f64)));
            }
        }
        HubEvent::Connected => {
            for n in s.connect_waiters.drain(..) {
                out.push(Action::Settle(n, true, JsValue::UNDEFINED));
            }
            out.push(Action::Emit("connected", JsValue::UNDEFINED));
        }
        HubEvent::ConnectFailed { reason } => {
            let err = hub_error(&reason);
            for n in s.connect_waiters.drain(..) {
                out.push(Action::Settle(n, false, err.clone()));
            }
        }
        HubEvent::Disconnected { reason, will_retry } => {
            let e = convert::object(&[
                ("reason", Some(JsValue::from_str(&reason.message()))),
                ("code", Some(JsValue::from_str(reason.code()))),
                ("willRetry", Some(JsValue::from_bool(will_retry))),
            ]);
            out.push(Action::Emit("disconnected", e));
            if !will_retry && reason != hub::Error::Closed {
                out.push(Action::Emit("error", hub_error(&reason)));
            }
        }
        HubEvent::Reconnecting { attempt, delay_ms } => {
            let e = convert::object(&[
                ("attempt", Some(JsValue::from_f64(attempt as f64))),
                ("delayMs", Some(JsValue::from_f64(delay_ms as f64))),
            ]);
            out.push(Action::Emit("reconnecting", e));
        }
        HubEvent::Warning(e) => out.push(Action::Emit("error", hub_error(&e))),
        HubEvent::Completed { op, result } => {
            let Some(i) = s.ops.iter().position(|(id, _, _)| *id == op) else {
                return;
            };
            let (_, n, kind) = s.ops.swap_remove(i);
            let settle = match result {
                Ok(r) => Action::Settle(
                    n,
                    true,
                    match (kind, r) {
                        (OpKind::Twin, hub::OpResult::Twin(json)) => convert::parse_json(&json),
                        (OpKind::Reported, hub::OpResult::Reported { version: Some(v) }) => {
                            JsValue::from_f64(v as f64)
                        }
                        _ => JsValue::UNDEFINED,
                    },
                ),
                Err(e) => Action::Settle(n, false, hub_error(&e)),
            };
            out.push(settle);
        }
        HubEvent::C2d(m) => out.push(Action::Emit("message", convert::c2d_message(&m))),
        HubEvent::DesiredPatch { json, .. } => out.push(Action::Emit(
            "desiredPropertiesUpdate",
            convert::parse_json(&json),
        )),
        HubEvent::MethodCall {
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
            let Some(handler) = handler else {
                let msg = crate::text::concat(&["no handler for method ", &name]);
                let body = convert::message_body(&msg);
                if let Some(e) = respond(s, host::now_ms(), &rid, 501, body) {
                    out.push(Action::Emit("error", e));
                }
                return;
            };
            let req = convert::method_request(&name, &component, &command, &rid, &payload);
            let n = s.token();
            s.calls.push((n, Call::Method { rid }));
            out.push(Action::Call(n, handler, req));
        }
        HubEvent::SubscriptionRefused { filter } => {
            let msg = crate::text::concat(&["the hub refused the subscription ", &filter]);
            out.push(Action::Emit(
                "error",
                host::make_error("SERVER_ERROR", &msg, false, None),
            ));
        }
    }
}

/// Carries out one deferred action; no borrow is held on entry.
fn act(rc: &Rc<RefCell<Shared>>, port: &JsValue, a: Action) {
    match a {
        Action::Open(url) => {
            let factory = rc.borrow().factory.clone();
            host::open(port, &url, &factory);
        }
        Action::Close => host::close(port),
        Action::Emit(event, v) => host::emit(port, event, &v),
        Action::Settle(n, ok, v) => host::settle(port, n, ok, &v),
        Action::Call(n, f, arg) => host::call(port, n, &f, &arg, &JsValue::UNDEFINED),
    }
}

/// `close()`: best-effort DISCONNECT, then silence the port (socket, timer,
/// listeners); pending Promises reject with `CLOSED`.
pub fn close(rc: &Rc<RefCell<Shared>>) {
    let (port, tx, inbox) = {
        let Ok(mut s) = rc.try_borrow_mut() else {
            return;
        };
        if s.closed {
            return;
        }
        let now = host::now_ms();
        s.core.disconnect(now);
        let mut tx = Vec::new();
        while let Some(b) = s.core.poll_transmit() {
            tx.push(b);
        }
        while s.core.poll_event().is_some() {}
        s.closed = true;
        s.methods.clear();
        s.default_method = None;
        s.factory = JsValue::UNDEFINED;
        s.get_token = None;
        s.ops.clear();
        s.connect_waiters.clear();
        s.calls.clear();
        panic::remove_port(&s.port);
        (s.port.clone(), tx, s.inbox.take())
    };
    for b in &tx {
        host::send(&port, b);
    }
    host::free(&port);
    drop(inbox);
    host::reject_all(&port, &convert::closed());
}
