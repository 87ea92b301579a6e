//! Panics become `error` events (code `INTERNAL`) on every live client instead
//! of a bare "unreachable" trap, without a console_error_panic_hook dependency.
//!
//! The report cannot borrow a client (the panic may have happened inside that
//! very borrow), so it goes to the JS side, which knows every live port
//! (host.rs `hwPanicked`). It formats nothing with `core::fmt` (docs/size.md): the
//! message is the panic's text when it is a plain string, and where it happened.
//! Release builds report from their own panic handler (runtime.rs); builds with
//! the `std` feature (the wasm tests) from a panic hook.

use super::host;
use crate::prelude::*;
use core::panic::Location;

/// Builds the message and hands it to every client's `error` listeners.
pub fn report(text: Option<&str>, at: Option<&Location<'_>>) {
    let mut msg = String::from("hubwire panicked (this is a bug)");
    if let Some(s) = text {
        msg.push_str(": ");
        msg.push_str(s);
    }
    if let Some(l) = at {
        msg.push_str(" at ");
        msg.push_str(l.file());
        msg.push(':');
        crate::text::push_u64(&mut msg, u64::from(l.line()));
    }
    report_message(&msg);
}

/// Logs `msg` and hands an `INTERNAL` error to every live client's `error` listeners.
pub fn report_message(msg: &str) {
    host::panicked(msg);
}

/// Installs the panic hook once per module instance (`std` builds only; without
/// `std` the panic handler in runtime.rs reports).
pub fn install() {
    #[cfg(feature = "std")]
    {
        static ONCE: std::sync::Once = std::sync::Once::new();
        ONCE.call_once(|| {
            // Chain to the hook already installed (e.g. a test harness's), after ours.
            let previous = std::panic::take_hook();
            std::panic::set_hook(Box::new(move |info| {
                report(
                    info.payload().downcast_ref::<&str>().copied(),
                    info.location(),
                );
                previous(info);
            }));
        });
    }
}
