//! The host side of the shell, in JS: one **port** object per client holds the
//! WebSocket, the timer, the listeners and the Promises waiting on the client, and
//! reports everything back to Rust through a single inbox function. Rust never
//! holds a socket or a timer; it asks the port to open, send, close, arm, settle
//! and emit. Why JS: each Rust `Closure`, future and imported method costs glue
//! and wasm bytes, and this is the code that only moves bytes, timers and
//! Promises (docs/shell.md, docs/size.md).
//!
//! What the port posts to the inbox, `f(kind, n, value)` (see [`Inbox`]):
//! the current socket opened / sent a binary message / sent a non-binary one /
//! closed or failed; the socket could not be created (`n` = [`Failure`] code,
//! `value` = `[status, message]`); the timer fired; a scheduled flush is due;
//! a Promise the client waits on settled (`n` = its token).
//!
//! Names resolve on the global scope at call time, so the same module runs in
//! browsers, Node 22, Deno, Bun and workerd (no `window`).

use js_sys::{Function, Object, Uint8Array};
use wasm_bindgen::prelude::*;

#[wasm_bindgen(inline_js = r#"
const post = (p, k, n, v) => { if (p.f) p.f(k, n || 0, v); };
const msg = (e) => { try { return e instanceof Error ? e.message : String(e); } catch (_) { return "?"; } };
export function hwError(code, message, retryable, status) {
  const e = new Error(message);
  e.name = "HubwireError";
  e.code = code;
  e.retryable = retryable;
  if (status !== undefined) e.status = status;
  return e;
}
export class C2dMessage {
  constructor(body) { this.body = body; this.properties = {}; }
  text() { return new TextDecoder().decode(this.body); }
  json() { return JSON.parse(this.text()); }
}
export function hwC2d(body) { return new C2dMessage(body); }
export function hwMessage(e) { return msg(e); }
export function hwPort(f) {
  return { f, gen: 0, ws: null, h: null, t: undefined, l: {}, d: new Map(), c: [] };
}
function detach(p) {
  const ws = p.ws, h = p.h;
  p.ws = p.h = null;
  if (!ws) return;
  for (const k in h) try { ws.removeEventListener(k, h[k]); } catch (_) {}
  const s = ws.readyState;
  if (!(s >= 2)) try { ws.close(1000, ""); } catch (_) {}
}
export function hwClose(p) { p.gen++; detach(p); }
export function hwFree(p) { p.f = null; clearTimeout(p.t); hwClose(p); }
export function hwOpen(p, url, factory) {
  hwClose(p);
  const gen = p.gen;
  const fail = (k, e) => {
    if (gen === p.gen) post(p, 4, k, [e && typeof e.status === "number" ? e.status : undefined, e === undefined ? undefined : msg(e)]);
  };
  const kindOf = (e) => (e && e.retryable === false ? 4 : 0);
  const attach = (ws) => {
    if (gen !== p.gen) { try { ws.close(1000, ""); } catch (_) {} return; }
    if (!ws || typeof ws.addEventListener !== "function" || typeof ws.send !== "function") return fail(3);
    try { ws.binaryType = "arraybuffer"; } catch (_) {}
    const h = {
      open: () => post(p, 0),
      message: (e) => {
        const d = e.data;
        if (d instanceof ArrayBuffer) post(p, 1, 0, new Uint8Array(d));
        else if (ArrayBuffer.isView(d)) post(p, 1, 0, new Uint8Array(d.buffer, d.byteOffset, d.byteLength));
        else post(p, 2);
      },
      close: () => post(p, 3),
      error: () => post(p, 3),
    };
    p.ws = ws;
    p.h = h;
    try { for (const k in h) ws.addEventListener(k, h[k]); } catch (e) { detach(p); return fail(3, e); }
    if (ws.readyState === 1) post(p, 0);
  };
  let v;
  try {
    if (factory) v = factory(url, ["mqtt"]);
    else if (typeof globalThis.WebSocket !== "function") return fail(1);
    else v = new globalThis.WebSocket(url, ["mqtt"]);
  } catch (e) {
    return fail(e && e.name === "SyntaxError" ? 2 : kindOf(e), e);
  }
  if (v && typeof v.then === "function") v.then(attach, (e) => fail(kindOf(e), e));
  else attach(v);
}
export function hwSend(p, d) { try { if (p.ws) p.ws.send(d.slice().buffer); } catch (_) {} }
export function hwArm(p, ms) { clearTimeout(p.t); p.t = setTimeout(() => post(p, 5), ms); }
export function hwDisarm(p) { clearTimeout(p.t); p.t = undefined; }
export function hwFlushSoon(p) { queueMicrotask(() => post(p, 6)); }
export function hwCall(p, n, f, a, b) {
  let v;
  try { v = f(a, b); } catch (e) { return post(p, 8, n, e); }
  if (v && typeof v.then === "function") v.then((x) => post(p, 7, n, x), (e) => post(p, 8, n, e === undefined ? null : e));
  else post(p, 7, n, v);
}
export function hwOn(p, ev, f) { (p.l[ev] || (p.l[ev] = [])).push(f); }
export function hwOff(p, ev, f) {
  const l = p.l[ev] || [];
  const i = l.indexOf(f);
  if (i >= 0) l.splice(i, 1);
}
export function hwHas(p, ev) { return (p.l[ev] || []).length > 0; }
export function hwEmit(p, ev, v) {
  for (const f of (p.l[ev] || []).slice()) {
    try { f(v); } catch (e) { console.error("hubwire: a listener threw:", e); }
  }
}
export function hwDefer(p, n) { return new Promise((res, rej) => p.d.set(n, [res, rej])); }
export function hwSettle(p, n, ok, v) {
  const d = p.d.get(n);
  if (d) { p.d.delete(n); d[ok ? 0 : 1](v); }
}
export function hwRejectAll(p, e) {
  const d = [...p.d.values()];
  p.d.clear();
  for (const x of d) x[1](e);
}
"#)]
extern "C" {
    /// `new Error(message)` with `name = "HubwireError"`, `code`, `retryable` and optional `status`.
    #[wasm_bindgen(js_name = hwError)]
    pub fn make_error(code: &str, message: &str, retryable: bool, status: Option<u16>) -> JsValue;
    /// A fresh C2D message object whose `text()`/`json()` live on a shared prototype.
    #[wasm_bindgen(js_name = hwC2d)]
    pub fn make_c2d(body: &Uint8Array) -> Object;
    /// `err.message` of a thrown value, or its string form.
    #[wasm_bindgen(js_name = hwMessage)]
    pub fn error_message(e: &JsValue) -> String;

    /// A client's port; `inbox` receives everything the host reports.
    #[wasm_bindgen(js_name = hwPort)]
    pub fn port(inbox: &Function) -> JsValue;
    /// Opens a WebSocket (subprotocol `mqtt`) to `url`, through `factory` if given,
    /// replacing (and closing) the current one.
    #[wasm_bindgen(js_name = hwOpen)]
    pub fn open(port: &JsValue, url: &str, factory: &JsValue);
    /// Sends one binary message (copied out of wasm memory first).
    #[wasm_bindgen(js_name = hwSend)]
    pub fn send(port: &JsValue, data: &[u8]);
    /// Detaches and closes the current socket; a socket still being created is closed when it arrives.
    #[wasm_bindgen(js_name = hwClose)]
    pub fn close(port: &JsValue);
    /// Closes everything and silences the inbox: nothing reaches Rust afterwards.
    #[wasm_bindgen(js_name = hwFree)]
    pub fn free(port: &JsValue);
    /// (Re)arms the one timer to fire after `ms`.
    #[wasm_bindgen(js_name = hwArm)]
    pub fn arm(port: &JsValue, ms: f64);
    /// Disarms the timer.
    #[wasm_bindgen(js_name = hwDisarm)]
    pub fn disarm(port: &JsValue);
    /// Posts a flush to the inbox from a microtask.
    #[wasm_bindgen(js_name = hwFlushSoon)]
    pub fn flush_soon(port: &JsValue);
    /// Calls `f(a, b)`; its result (awaited if a Promise) or what it threw is posted
    /// with token `n`.
    #[wasm_bindgen(js_name = hwCall)]
    pub fn call(port: &JsValue, n: u32, f: &Function, a: &JsValue, b: &JsValue);
    /// Adds a listener.
    #[wasm_bindgen(js_name = hwOn)]
    pub fn on(port: &JsValue, event: &str, f: &Function);
    /// Removes a listener.
    #[wasm_bindgen(js_name = hwOff)]
    pub fn off(port: &JsValue, event: &str, f: &Function);
    /// Calls every listener of `event` with `v` (a throwing listener is logged).
    #[wasm_bindgen(js_name = hwEmit)]
    pub fn emit(port: &JsValue, event: &str, v: &JsValue);
    /// A Promise settled later with `settle(port, n, ..)`.
    #[wasm_bindgen(js_name = hwDefer)]
    pub fn defer(port: &JsValue, n: u32) -> js_sys::Promise;
    /// Resolves (`ok`) or rejects Promise `n`, if it is still pending.
    #[wasm_bindgen(js_name = hwSettle)]
    pub fn settle(port: &JsValue, n: u32, ok: bool, v: &JsValue);
    /// Rejects every pending Promise with `e`.
    #[wasm_bindgen(js_name = hwRejectAll)]
    pub fn reject_all(port: &JsValue, e: &JsValue);
}

// Looked up on the global scope.
#[wasm_bindgen]
extern "C" {
    /// `console.error`, for reports nobody subscribed to.
    #[wasm_bindgen(js_namespace = console, js_name = error)]
    pub fn console_error(msg: &str);
}

/// What the port posts (the `kind` argument of the inbox).
pub mod kind {
    /// The current socket opened.
    pub const OPEN: u32 = 0;
    /// A binary message (`value`: a `Uint8Array` view).
    pub const MESSAGE: u32 = 1;
    /// A text (non-binary) message: MQTT over WebSocket forbids it.
    pub const NOT_BINARY: u32 = 2;
    /// The current socket closed or failed.
    pub const CLOSED: u32 = 3;
    /// The socket could not be created (`n`: a [`super::Failure`] code).
    pub const FAILED: u32 = 4;
    /// The timer fired.
    pub const TIMER: u32 = 5;
    /// A scheduled flush is due.
    pub const FLUSH: u32 = 6;
    /// Promise / call `n` resolved with `value`.
    pub const RESOLVED: u32 = 7;
    /// Promise / call `n` rejected (or threw) with `value`.
    pub const REJECTED: u32 = 8;
}

/// The inbox function's Rust type.
pub type Inbox = dyn Fn(u32, u32, JsValue);

/// Failure codes of `kind::FAILED` (the order of the JS above).
pub fn failure(n: u32) -> crate::hub::TransportError {
    use crate::hub::TransportError as T;
    match n {
        1 => T::NoWebSocket,
        2 => T::BadUrl,
        3 => T::NotASocket,
        4 => T::Refused,
        _ => T::CreateFailed,
    }
}

/// Milliseconds since the Unix epoch from the host's `Date.now()`.
pub fn now_ms() -> u64 {
    js_sys::Date::now() as u64
}
