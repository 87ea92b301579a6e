//! Raw bindings to the host: global timers, the clock, `console`, a duck-typed
//! WebSocket, and a few tiny JS helpers that are smaller as JS than as Rust glue.
//!
//! Everything here resolves names on the global scope at call time, so the same
//! module runs in browsers, Node 22, Deno, Bun and workerd (no `window`).

use js_sys::{Function, Uint8Array};
use wasm_bindgen::prelude::*;

#[wasm_bindgen(inline_js = r#"
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
export function hwIsThenable(v) {
  return v !== null && (typeof v === "object" || typeof v === "function") && typeof v.then === "function";
}
export function hwNewWebSocket(url, protocols) {
  const W = globalThis.WebSocket;
  if (typeof W !== "function") {
    throw hwError("TRANSPORT", "this runtime has no global WebSocket: pass options.webSocketFactory", false);
  }
  return new W(url, protocols);
}
export function hwBytes(d) {
  if (d instanceof ArrayBuffer) return new Uint8Array(d);
  if (ArrayBuffer.isView(d)) return new Uint8Array(d.buffer, d.byteOffset, d.byteLength);
  return undefined;
}
export function hwErrorMessage(e) {
  if (e instanceof Error) return e.message;
  try { return String(e); } catch (_) { return "unknown error"; }
}
"#)]
extern "C" {
    /// `new Error(message)` with `name = "HubwireError"`, `code`, `retryable` and optional `status`.
    #[wasm_bindgen(js_name = hwError)]
    pub fn make_error(
        code: &str,
        message: &str,
        retryable: bool,
        status: Option<u16>,
    ) -> js_sys::Error;
    /// A fresh C2D message object whose `text()`/`json()` live on a shared prototype.
    #[wasm_bindgen(js_name = hwC2d)]
    pub fn make_c2d(body: &Uint8Array) -> js_sys::Object;
    /// Whether `v` has a callable `then` (a Promise or any thenable).
    #[wasm_bindgen(js_name = hwIsThenable)]
    pub fn is_thenable(v: &JsValue) -> bool;
    /// `new globalThis.WebSocket(url, protocols)`; throws a `TRANSPORT` error when absent.
    #[wasm_bindgen(js_name = hwNewWebSocket, catch)]
    pub fn new_websocket(url: &str, protocols: &JsValue) -> Result<WsLike, JsValue>;
    /// A `Uint8Array` view of a message's binary data, or `undefined` for text/Blob data.
    #[wasm_bindgen(js_name = hwBytes)]
    pub fn message_bytes(data: &JsValue) -> Option<Uint8Array>;
    /// `err.message` of a thrown value, or its string form.
    #[wasm_bindgen(js_name = hwErrorMessage)]
    pub fn error_message(e: &JsValue) -> String;
}

// Looked up on the global scope (not from the inline module above).
#[wasm_bindgen]
extern "C" {
    /// Global `setTimeout` (browsers, Node, Deno, Bun, workerd).
    #[wasm_bindgen(js_name = setTimeout)]
    pub fn set_timeout(cb: &Function, ms: f64) -> JsValue;
    /// Global `queueMicrotask`.
    #[wasm_bindgen(js_name = queueMicrotask)]
    pub fn queue_microtask(cb: &Function);
    /// Global `clearTimeout`.
    #[wasm_bindgen(js_name = clearTimeout)]
    pub fn clear_timeout(handle: &JsValue);
    /// `console.error`, for reports nobody subscribed to.
    #[wasm_bindgen(js_namespace = console, js_name = error)]
    pub fn console_error(msg: &str);

    /// Anything shaped like a WHATWG WebSocket: the global one, Node's `ws`,
    /// Cloudflare's `resp.webSocket`, or what a `webSocketFactory` returns.
    #[derive(Clone)]
    pub type WsLike;
    /// `ws.readyState` (0 connecting, 1 open, 2 closing, 3 closed).
    #[wasm_bindgen(method, getter, js_name = readyState)]
    pub fn ready_state(this: &WsLike) -> Option<u16>;
    /// `ws.binaryType = ...`.
    #[wasm_bindgen(method, setter, js_name = binaryType, catch)]
    pub fn set_binary_type(this: &WsLike, v: &str) -> Result<(), JsValue>;
    /// `ws.protocol`: the negotiated subprotocol.
    #[wasm_bindgen(method, getter)]
    pub fn protocol(this: &WsLike) -> Option<String>;
    /// `ws.send(buffer)`.
    #[wasm_bindgen(method, catch)]
    pub fn send(this: &WsLike, data: &js_sys::ArrayBuffer) -> Result<(), JsValue>;
    /// `ws.close(code, reason)`.
    #[wasm_bindgen(method, catch)]
    pub fn close(this: &WsLike, code: u16, reason: &str) -> Result<(), JsValue>;
    /// `ws.addEventListener(type, f)`.
    #[wasm_bindgen(method, js_name = addEventListener, catch)]
    pub fn add_event_listener(this: &WsLike, ty: &str, f: &Function) -> Result<(), JsValue>;
    /// `ws.removeEventListener(type, f)`.
    #[wasm_bindgen(method, js_name = removeEventListener, catch)]
    pub fn remove_event_listener(this: &WsLike, ty: &str, f: &Function) -> Result<(), JsValue>;
}

/// Milliseconds since the Unix epoch from the host's `Date.now()`.
pub fn now_ms() -> u64 {
    js_sys::Date::now() as u64
}
