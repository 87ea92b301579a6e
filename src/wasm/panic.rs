//! Panics become `error` events (code `INTERNAL`) instead of a bare
//! "unreachable" trap, without a console_error_panic_hook dependency.
//!
//! The hook cannot borrow a client (the panic may have happened inside that very
//! borrow), so it reaches the clients through their ports, kept in a thread-local
//! list the hook reads with `try_borrow`. It formats nothing with `core::fmt`
//! (docs/size.md): the message is the panic's text when it is a plain string, and
//! where it happened.

use super::host;
use std::cell::RefCell;
use std::sync::Once;
use wasm_bindgen::JsValue;

thread_local! {
    static PORTS: RefCell<Vec<JsValue>> = const { RefCell::new(Vec::new()) };
}

/// Installs the hook once per module instance.
pub fn install() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        // Chain to the hook already installed (e.g. a test harness's), after ours.
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let mut msg = String::from("hubwire panicked (this is a bug)");
            if let Some(s) = info.payload().downcast_ref::<&str>() {
                msg.push_str(": ");
                msg.push_str(s);
            }
            if let Some(l) = info.location() {
                msg.push_str(" at ");
                msg.push_str(l.file());
                msg.push(':');
                crate::text::push_u64(&mut msg, u64::from(l.line()));
            }
            report_message(&msg);
            previous(info);
        }));
    });
}

/// Logs `msg` and hands an `INTERNAL` error to every client's `error` listeners.
pub fn report_message(msg: &str) {
    host::console_error(msg);
    let ports: Vec<JsValue> = PORTS
        .try_with(|p| p.try_borrow().map(|v| v.clone()).unwrap_or_default())
        .unwrap_or_default();
    if ports.is_empty() {
        return;
    }
    let err = host::make_error("INTERNAL", msg, false, None);
    for p in &ports {
        host::emit(p, "error", &err);
    }
}

/// Registers a client's port.
pub fn add_port(p: &JsValue) {
    PORTS.with(|v| v.borrow_mut().push(p.clone()));
}

/// Forgets a client's port.
pub fn remove_port(p: &JsValue) {
    PORTS.with(|v| v.borrow_mut().retain(|x| x != p));
}
