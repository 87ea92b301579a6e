//! Panics become `error` events (code `INTERNAL`) instead of a bare
//! "unreachable" trap, without a console_error_panic_hook dependency.
//!
//! The hook cannot borrow a client (the panic may have happened inside that
//! very borrow), so `error` listeners are mirrored in a thread-local registry
//! the hook reads with `try_borrow`.

use super::error::{shell_error, Code};
use super::js;
use js_sys::Function;
use std::cell::RefCell;
use std::sync::Once;
use wasm_bindgen::JsValue;

thread_local! {
    static SINKS: RefCell<Vec<(u32, Function)>> = const { RefCell::new(Vec::new()) };
}

/// Installs the hook once per module instance.
pub fn install() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        // Chain to the hook already installed (e.g. a test harness's), after ours.
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            report(info);
            previous(info);
        }));
    });
}

fn report(info: &std::panic::PanicHookInfo<'_>) {
    report_message(&format!("hubwire panicked (this is a bug): {info}"));
}

/// Logs `msg` and hands an `INTERNAL` error to every mirrored `error` listener.
pub fn report_message(msg: &str) {
    js::console_error(msg);
    let sinks: Vec<Function> = SINKS
        .try_with(|s| {
            s.try_borrow()
                .map(|v| v.iter().map(|(_, f)| f.clone()).collect())
                .unwrap_or_default()
        })
        .unwrap_or_default();
    if sinks.is_empty() {
        return;
    }
    let err = shell_error(Code::Internal, msg);
    for f in sinks {
        let _ = f.call1(&JsValue::UNDEFINED, &err);
    }
}

/// Mirrors an `error` listener of client `id`.
pub fn add_sink(id: u32, f: &Function) {
    SINKS.with(|s| s.borrow_mut().push((id, f.clone())));
}

/// Forgets one `error` listener of client `id`.
pub fn remove_sink(id: u32, f: &Function) {
    SINKS.with(|s| {
        let mut v = s.borrow_mut();
        if let Some(i) = v.iter().position(|(i, g)| *i == id && g == f) {
            v.remove(i);
        }
    });
}

/// Forgets every `error` listener of client `id`.
pub fn remove_client(id: u32) {
    SINKS.with(|s| s.borrow_mut().retain(|(i, _)| *i != id));
}
