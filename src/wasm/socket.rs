//! The WebSocket wrapper: binary frames in and out, four listeners owned as
//! struct fields and removed in `Drop` (gloo's habit; no `.forget()`).

use super::js::{self, WsLike};
use js_sys::{Function, Uint8Array};
use std::rc::Rc;
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;

/// What a socket reports to its owner.
pub enum SocketEvent {
    /// The handshake finished.
    Open,
    /// One binary WebSocket message.
    Message(Vec<u8>),
    /// A text (or otherwise non-binary) message: MQTT over WebSocket forbids it.
    NotBinary,
    /// The socket closed or failed (the core only needs to know it is gone).
    Closed,
}

type Listener = Closure<dyn FnMut(JsValue)>;

/// An attached WebSocket: listeners are live until this is dropped.
pub struct Socket {
    ws: WsLike,
    listeners: [(&'static str, Listener); 4],
}

impl Socket {
    /// Attaches listeners to `ws` (already constructed, possibly already open) and
    /// switches it to `arraybuffer` binary messages. `sink` gets every event.
    /// Fails (with the thrown value) when `ws` has no usable `addEventListener`.
    pub fn attach(ws: WsLike, sink: Rc<dyn Fn(SocketEvent)>) -> Result<Socket, JsValue> {
        // Some sockets (older workerd) have no settable binaryType and always deliver ArrayBuffer.
        let _ = ws.set_binary_type("arraybuffer");
        let s = sink.clone();
        let open: Listener = Closure::new(move |_: JsValue| s(SocketEvent::Open));
        let s = sink.clone();
        let message: Listener = Closure::new(move |ev: JsValue| {
            let data =
                js_sys::Reflect::get(&ev, &JsValue::from_str("data")).unwrap_or(JsValue::UNDEFINED);
            match js::message_bytes(&data) {
                Some(view) => s(SocketEvent::Message(view.to_vec())),
                None => s(SocketEvent::NotBinary),
            }
        });
        let s = sink.clone();
        let close: Listener = Closure::new(move |_: JsValue| s(SocketEvent::Closed));
        let s = sink;
        let error: Listener = Closure::new(move |_: JsValue| s(SocketEvent::Closed));
        let listeners = [
            ("open", open),
            ("message", message),
            ("close", close),
            ("error", error),
        ];
        let sock = Socket { ws, listeners };
        for (ty, l) in &sock.listeners {
            // On failure `sock` drops here and removes whatever was added.
            sock.ws
                .add_event_listener(ty, l.as_ref().unchecked_ref::<Function>())?;
        }
        Ok(sock)
    }

    /// Whether the handshake has finished (`readyState === 1`).
    pub fn is_open(&self) -> bool {
        self.ws.ready_state() == Some(1)
    }

    /// A handle for sending outside any `RefCell` borrow.
    pub fn handle(&self) -> WsLike {
        self.ws.clone()
    }
}

/// Sends one binary message as an `ArrayBuffer` copied out of wasm memory (some
/// `WebSocketLike`s queue what they are given, and wasm memory can move when it grows).
pub fn send(ws: &WsLike, bytes: &[u8]) -> Result<(), JsValue> {
    ws.send(&Uint8Array::from(bytes).buffer())
}

impl Drop for Socket {
    fn drop(&mut self) {
        for (ty, l) in &self.listeners {
            let _ = self
                .ws
                .remove_event_listener(ty, l.as_ref().unchecked_ref::<Function>());
        }
        if matches!(self.ws.ready_state(), Some(0) | Some(1) | None) {
            let _ = self.ws.close(1000, "");
        }
    }
}
