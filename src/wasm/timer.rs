//! The one re-armed timer that drives `poll_timeout()`.
//!
//! One `Closure` is created per client and owned here; each arm is a plain
//! `setTimeout` on the global scope with that same function, and `Drop`
//! clears the pending timeout, so nothing fires after the owner is gone.

use super::js;
use js_sys::Function;
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;

/// Longest delay `setTimeout` honours (larger values fire at once in browsers).
const MAX_DELAY_MS: u64 = i32::MAX as u64;

/// A single-shot timer that can be re-armed to a new deadline.
pub struct Timer {
    callback: Closure<dyn FnMut()>,
    handle: Option<JsValue>,
    deadline: Option<u64>,
}

impl Timer {
    /// A disarmed timer that calls `on_fire` when an armed deadline passes.
    pub fn new(on_fire: impl FnMut() + 'static) -> Timer {
        Timer {
            callback: Closure::new(on_fire),
            handle: None,
            deadline: None,
        }
    }

    /// Arms the timer for `deadline` (ms since the epoch), or disarms it for `None`.
    /// Re-arming to the deadline already pending does nothing.
    pub fn arm(&mut self, deadline: Option<u64>, now: u64) {
        if self.handle.is_some() && self.deadline == deadline {
            return;
        }
        self.cancel();
        if let Some(at) = deadline {
            let delay = at.saturating_sub(now).min(MAX_DELAY_MS);
            let f: &Function = self.callback.as_ref().unchecked_ref();
            self.handle = Some(js::set_timeout(f, delay as f64));
            self.deadline = Some(at);
        }
    }

    /// Records that the pending timeout has fired (called first thing by the callback).
    pub fn fired(&mut self) {
        self.handle = None;
        self.deadline = None;
    }

    /// Whether a timeout is pending.
    pub fn is_armed(&self) -> bool {
        self.handle.is_some()
    }

    /// Clears the pending timeout, if any.
    pub fn cancel(&mut self) {
        if let Some(h) = self.handle.take() {
            js::clear_timeout(&h);
        }
        self.deadline = None;
    }
}

impl Drop for Timer {
    fn drop(&mut self) {
        self.cancel();
    }
}
