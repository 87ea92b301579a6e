//! Typed errors of the provisioning client.
//!
//! Failures the hub client has too — invalid arguments and URLs, a WebSocket that
//! cannot be opened (`hub::TransportError`), a token provider that fails
//! (`hub::TokenError`), MQTT protocol violations — are a [`hub::Error`] inside
//! [`Error::Hub`], with the hub's codes and messages, so one shell path serves both
//! clients. The rest says what DPS answered, with its numeric `errorCode`, `message`
//! and `trackingId`, never a key or token. Messages are built without `core::fmt`
//! (`crate::text`): the wasm never formats.

use crate::prelude::*;

use core::fmt;

use crate::hub::error::MalformedError;
use crate::hub::{self, TransportError};
use crate::text::push_u64;

/// What DPS said when it refused a request: the status of the response topic and the body's
/// `errorCode`/`message` (`{"errorCode":401002,"trackingId":…,"message":…}`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rejection {
    /// HTTP-like status of `$dps/registrations/res/{status}/…`.
    pub status: u16,
    /// DPS's numeric `errorCode` (e.g. 401002), if the body had one.
    pub error_code: Option<u64>,
    /// DPS's `message`, if the body had one.
    pub message: Option<String>,
    /// DPS's `trackingId` (quote it to Azure support), if the body had one.
    pub tracking_id: Option<String>,
}

/// What [`Error::facts`] reports.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Facts<'a> {
    /// [`Error::code`].
    pub code: &'static str,
    /// [`Error::retryable`].
    pub retryable: bool,
    /// [`Error::status`].
    pub status: Option<u16>,
    /// DPS's numeric `errorCode`.
    pub error_code: Option<u64>,
    /// DPS's `message`, or `registrationState.errorMessage`.
    pub dps_message: Option<&'a str>,
    /// DPS's `trackingId`.
    pub tracking_id: Option<&'a str>,
}

/// Every error of the provisioning client.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Error {
    /// A failure reported exactly as the hub client reports it (its `code()`, message,
    /// `retryable()` and `status()`): an unusable argument, key or URL (`INVALID_ARGUMENT`,
    /// `INSECURE_URL`), a WebSocket that could not be opened (`Transport`, `TRANSPORT`), a
    /// token provider that failed (`Token`) or no usable token (`TokenRequired`), an MQTT
    /// protocol violation (`Protocol`).
    Hub(hub::Error),
    /// DPS refused the request: 401 (wrong key, expired token, unknown registration), 404,
    /// 400 and other 4xx are final; 429 and 5xx are retried and only end the registration
    /// when its deadline passes ([`Error::Timeout`]).
    Rejected(Box<Rejection>),
    /// DPS: the registration ended `failed` (e.g. custom allocation failed); not retried.
    RegistrationFailed {
        /// `registrationState.errorCode`.
        error_code: Option<u64>,
        /// `registrationState.errorMessage`.
        error_message: Option<String>,
    },
    /// DPS: the enrollment (or this registration in its group) is disabled; not retried.
    RegistrationDisabled {
        /// `registrationState.errorCode`, if any.
        error_code: Option<u64>,
        /// `registrationState.errorMessage`, if any.
        error_message: Option<String>,
    },
    /// DPS refused the connection with this CONNACK code (2, 4, 5 final; 3 is retried).
    Refused {
        /// The CONNACK return code.
        code: u8,
    },
    /// The registration did not finish before its deadline (`registration_timeout_ms`), or
    /// (while retrying) an answer did not come within `operation_timeout_ms`.
    Timeout {
        /// The last answer that kept it going (e.g. 429 while throttled), if any.
        last_status: Option<u16>,
    },
    /// DPS/peer: an answer could not be understood (topic or body).
    Malformed(MalformedError),
    /// Caller: the registration was cancelled.
    Cancelled,
}

impl From<hub::Error> for Error {
    fn from(e: hub::Error) -> Self {
        Error::Hub(e)
    }
}

impl From<MalformedError> for Error {
    fn from(e: MalformedError) -> Self {
        Error::Malformed(e)
    }
}

impl Error {
    /// `Hub(InvalidArgument(what))`.
    pub(crate) fn invalid(what: &'static str) -> Error {
        Error::Hub(hub::Error::InvalidArgument(what))
    }

    /// `Hub(Protocol(what))`.
    pub(crate) fn protocol(what: &'static str) -> Error {
        Error::Hub(hub::Error::Protocol(what))
    }

    /// `Hub(Transport { kind, status, detail })`.
    pub(crate) fn transport(
        kind: TransportError,
        status: Option<u16>,
        detail: Option<String>,
    ) -> Error {
        Error::Hub(hub::Error::Transport {
            kind,
            status,
            detail,
        })
    }

    /// Code, retryability, status and DPS's own details, from one match (what the JS
    /// boundary shows: `err.code`, `retryable`, `status`, `errorCode`, `errorMessage`,
    /// `trackingId`).
    pub fn facts(&self) -> Facts<'_> {
        let mut f = Facts {
            code: "PROTOCOL_ERROR",
            retryable: false,
            status: None,
            error_code: None,
            dps_message: None,
            tracking_id: None,
        };
        match self {
            Error::Hub(e) => {
                f.code = e.code();
                f.retryable = e.retryable();
                f.status = e.status();
            }
            Error::Rejected(r) => {
                f.code = match r.status {
                    401 | 403 => "UNAUTHORIZED",
                    404 => "NOT_FOUND",
                    429 => "THROTTLED",
                    500..=599 => "SERVER_ERROR",
                    _ => "BAD_REQUEST",
                };
                f.retryable = r.status == 429 || r.status >= 500;
                f.status = Some(r.status);
                f.error_code = r.error_code;
                f.dps_message = r.message.as_deref();
                f.tracking_id = r.tracking_id.as_deref();
            }
            Error::RegistrationFailed {
                error_code,
                error_message,
            }
            | Error::RegistrationDisabled {
                error_code,
                error_message,
            } => {
                f.code = if matches!(self, Error::RegistrationFailed { .. }) {
                    "REGISTRATION_FAILED"
                } else {
                    "REGISTRATION_DISABLED"
                };
                f.error_code = *error_code;
                f.dps_message = error_message.as_deref();
            }
            Error::Refused { .. } => f.code = "UNAUTHORIZED",
            Error::Timeout { last_status } => {
                f.code = "TIMEOUT";
                f.retryable = true;
                f.status = *last_status;
            }
            Error::Malformed(_) => {}
            Error::Cancelled => f.code = "CANCELLED",
        }
        f
    }

    /// A stable code for the JS boundary (`err.code`), as listed in docs/js-api.md.
    pub fn code(&self) -> &'static str {
        self.facts().code
    }

    /// Whether registering again later may succeed.
    pub fn retryable(&self) -> bool {
        self.facts().retryable
    }

    /// The status DPS answered with, if this error came from an answer (or the status a
    /// refused WebSocket upgrade carried).
    pub fn status(&self) -> Option<u16> {
        self.facts().status
    }

    /// What DPS itself said: its numeric `errorCode`, its `message` (or
    /// `registrationState.errorMessage`) and its `trackingId`.
    pub fn dps_details(&self) -> (Option<u64>, Option<&str>, Option<&str>) {
        let f = self.facts();
        (f.error_code, f.dps_message, f.tracking_id)
    }

    /// A one-line message for people.
    pub fn message(&self) -> String {
        let mut out = String::new();
        self.describe(&mut out);
        out
    }

    fn describe(&self, out: &mut String) {
        let (code, text) = match self {
            Error::Hub(e) => return out.push_str(&e.message()),
            Error::Rejected(r) => {
                out.push_str("DPS refused the request (");
                push_u64(out, u64::from(r.status));
                if let Some(c) = r.error_code {
                    out.push_str(", errorCode ");
                    push_u64(out, c);
                }
                out.push(')');
                (None, r.message.as_deref())
            }
            Error::RegistrationFailed {
                error_code,
                error_message,
            } => {
                out.push_str("the DPS registration failed");
                (*error_code, error_message.as_deref())
            }
            Error::RegistrationDisabled {
                error_code,
                error_message,
            } => {
                out.push_str("the DPS enrollment is disabled");
                (*error_code, error_message.as_deref())
            }
            Error::Refused { code } => {
                out.push_str("DPS refused the connection (CONNACK ");
                push_u64(out, u64::from(*code));
                return out.push(')');
            }
            Error::Timeout { last_status } => {
                out.push_str("the registration did not finish in time");
                if let Some(s) = last_status {
                    out.push_str(" (last answer ");
                    push_u64(out, u64::from(*s));
                    out.push(')');
                }
                return;
            }
            Error::Malformed(e) => {
                out.push_str("malformed answer from DPS: ");
                return e.describe(out);
            }
            Error::Cancelled => return out.push_str("the registration was cancelled"),
        };
        if let Some(c) = code {
            out.push_str(" (errorCode ");
            push_u64(out, c);
            out.push(')');
        }
        if let Some(t) = text {
            out.push_str(": ");
            out.push_str(t);
        }
        if matches!(self, Error::Rejected(r) if r.status == 401 || r.status == 403) {
            out.push_str("; check the ID scope, the registration id and the key");
        }
    }
}

/// Native code may print it; the wasm never calls it (no `core::fmt` there).
impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message())
    }
}

impl core::error::Error for Error {}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hub::TokenError;

    fn rejected(status: u16) -> Error {
        Error::Rejected(Box::new(Rejection {
            status,
            error_code: Some(u64::from(status) * 1000 + 2),
            message: Some("m".into()),
            tracking_id: Some("t".into()),
        }))
    }

    #[test]
    fn code_by_status_succeeds() {
        assert_eq!(rejected(401).code(), "UNAUTHORIZED");
        assert_eq!(rejected(404).code(), "NOT_FOUND");
        assert_eq!(rejected(400).code(), "BAD_REQUEST");
        assert_eq!(rejected(412).code(), "BAD_REQUEST");
        assert_eq!(rejected(429).code(), "THROTTLED");
        assert_eq!(rejected(503).code(), "SERVER_ERROR");
        assert_eq!(
            rejected(401).dps_details(),
            (Some(401_002), Some("m"), Some("t"))
        );
        assert_eq!(rejected(401).status(), Some(401));
        assert!(!rejected(401).retryable());
        assert!(rejected(429).retryable() && rejected(503).retryable());
        assert_eq!(
            rejected(401).message(),
            "DPS refused the request (401, errorCode 401002): m; check the ID scope, the registration id and the key"
        );
        assert_eq!(
            rejected(404).to_string(),
            "DPS refused the request (404, errorCode 404002): m"
        );
    }

    #[test]
    fn messages_without_fmt_succeeds() {
        let failed = Error::RegistrationFailed {
            error_code: Some(400_207),
            error_message: Some("Custom allocation failed".into()),
        };
        assert_eq!(
            failed.message(),
            "the DPS registration failed (errorCode 400207): Custom allocation failed"
        );
        let disabled = Error::RegistrationDisabled {
            error_code: None,
            error_message: None,
        };
        assert_eq!(disabled.message(), "the DPS enrollment is disabled");
        assert_eq!(
            Error::Timeout {
                last_status: Some(429)
            }
            .message(),
            "the registration did not finish in time (last answer 429)"
        );
        assert_eq!(
            Error::Refused { code: 5 }.message(),
            "DPS refused the connection (CONNACK 5)"
        );
        assert_eq!(
            Error::Malformed(MalformedError::MissingField("status")).message(),
            "malformed answer from DPS: required field status is absent"
        );
    }

    #[test]
    fn hub_errors_keep_hub_codes_succeeds() {
        let t = Error::transport(TransportError::NotOpened, None, Some("wss://x".into()));
        assert_eq!((t.code(), t.retryable()), ("TRANSPORT", true));
        assert_eq!(t.message(), "the WebSocket could not be opened: wss://x");
        let refused = Error::transport(TransportError::Refused, Some(404), None);
        assert_eq!((refused.retryable(), refused.status()), (false, Some(404)));
        let token = Error::Hub(hub::Error::Token {
            kind: TokenError::Failed,
            detail: Some("no".into()),
        });
        assert_eq!(token.code(), "UNAUTHORIZED");
        assert_eq!(Error::invalid("x").code(), "INVALID_ARGUMENT");
        assert_eq!(Error::protocol("x").code(), "PROTOCOL_ERROR");
        assert_eq!(Error::Cancelled.code(), "CANCELLED");
    }
}
