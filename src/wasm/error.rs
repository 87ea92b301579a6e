//! Errors at the JS boundary: real `Error` objects with a stable `code`,
//! `retryable` and, for hub answers, `status` (docs/js-api.md `HubwireError`).

use super::js;
use crate::hub;
use wasm_bindgen::JsValue;

/// Error codes the shell itself raises (the core's come from `hub::Error::code`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Code {
    /// An argument or option has the wrong type or value.
    InvalidArgument,
    /// `ws://` to a host that is not loopback without `allowInsecure`.
    InsecureUrl,
    /// The WebSocket could not be created or failed.
    Transport,
    /// The client was closed.
    Closed,
    /// The token provider failed or gave no token.
    Unauthorized,
    /// A bug: a Rust panic inside hubwire.
    Internal,
}

impl Code {
    /// The `err.code` string.
    pub fn as_str(self) -> &'static str {
        match self {
            Code::InvalidArgument => "INVALID_ARGUMENT",
            Code::InsecureUrl => "INSECURE_URL",
            Code::Transport => "TRANSPORT",
            Code::Closed => "CLOSED",
            Code::Unauthorized => "UNAUTHORIZED",
            Code::Internal => "INTERNAL",
        }
    }

    fn retryable(self) -> bool {
        matches!(self, Code::Transport)
    }
}

/// A `HubwireError` raised by the shell.
pub fn shell_error(code: Code, message: &str) -> JsValue {
    js::make_error(code.as_str(), message, code.retryable(), None).into()
}

/// A `HubwireError` carrying a core error's code, retryability and status.
pub fn hub_error(e: &hub::Error) -> JsValue {
    js::make_error(e.code(), &e.to_string(), e.retryable(), e.status()).into()
}
