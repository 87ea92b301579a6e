//! Typed errors of the provisioning client, and the transport failures a shell reports.
//!
//! Each variant says whose fault it is and carries what DPS said (its numeric
//! `errorCode`, e.g. 401002, and `message`), never a key or token.

use crate::prelude::*;

use core::fmt;

use crate::hub::error::MalformedError;

/// Why the shell could not open the WebSocket (input of `Client::transport_failed`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TransportFailure {
    /// The host could not be reached: DNS, connection refused or reset, network down, or a
    /// browser's opaque WebSocket `error` event. Retried with backoff.
    Unreachable,
    /// The TLS handshake failed (e.g. an untrusted certificate). Not retried.
    Tls,
    /// The server answered the upgrade with this HTTP status instead of 101. 408, 429 and 5xx
    /// are retried; anything else is not.
    HttpStatus(u16),
    /// The runtime refused the URL (`new WebSocket` threw). Not retried.
    InvalidUrl,
}

impl TransportFailure {
    /// Whether trying again later may help.
    pub fn retryable(&self) -> bool {
        match self {
            TransportFailure::Unreachable => true,
            TransportFailure::HttpStatus(s) => *s == 408 || *s == 429 || *s >= 500,
            TransportFailure::Tls | TransportFailure::InvalidUrl => false,
        }
    }
}

impl fmt::Display for TransportFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TransportFailure::Unreachable => f.write_str("the provisioning host is unreachable"),
            TransportFailure::Tls => f.write_str("the TLS handshake failed"),
            TransportFailure::HttpStatus(s) => {
                write!(f, "the WebSocket upgrade was answered with HTTP {s}")
            }
            TransportFailure::InvalidUrl => f.write_str("the WebSocket URL was refused"),
        }
    }
}

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

impl fmt::Display for Rejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.status)?;
        if let Some(c) = self.error_code {
            write!(f, ", errorCode {c}")?;
        }
        if let Some(m) = &self.message {
            write!(f, ": {m}")?;
        }
        Ok(())
    }
}

/// Every error of the provisioning client.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Error {
    /// Caller: a configuration value is unusable (the message says which).
    InvalidArgument(&'static str),
    /// Caller: a symmetric key is not valid base64 (the key is not echoed).
    InvalidKey,
    /// DPS: the registration ended in `failed` (e.g. custom allocation failed); not retried.
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
    /// DPS refused the request: 401 (wrong key, expired token, unknown registration), 404,
    /// 400 and other 4xx are final; 429 and 5xx only end the registration when its deadline
    /// passes, see [`Error::Timeout`].
    Rejected(Rejection),
    /// DPS: CONNACK refused with this code (2, 4, 5 final; 3 is retried).
    Refused {
        /// The CONNACK return code.
        code: u8,
    },
    /// The registration did not finish before its deadline (`registration_timeout_ms`).
    Timeout {
        /// The last answer that kept it going (e.g. 429 while throttled), if any.
        last_status: Option<u16>,
    },
    /// Transport: the WebSocket could not be opened, and retrying cannot help.
    Transport(TransportFailure),
    /// DPS/peer: an answer could not be understood (topic or body).
    Malformed(MalformedError),
    /// DPS/peer: an MQTT-level or DPS-level protocol violation (the message says which).
    Protocol(&'static str),
    /// Caller: token-provider mode and no usable token was supplied.
    TokenRequired,
    /// Caller: the registration was cancelled.
    Cancelled,
}

impl Error {
    /// A stable code for the JS boundary (`err.code`), as listed in docs/dps.md.
    pub fn code(&self) -> &'static str {
        match self {
            Error::InvalidArgument(_) | Error::TokenRequired => "INVALID_ARGUMENT",
            Error::InvalidKey => "INVALID_KEY",
            Error::RegistrationFailed { .. } => "REGISTRATION_FAILED",
            Error::RegistrationDisabled { .. } => "REGISTRATION_DISABLED",
            Error::Rejected(r) => match r.status {
                401 | 403 => "UNAUTHORIZED",
                404 => "NOT_FOUND",
                429 => "THROTTLED",
                500..=599 => "SERVER_ERROR",
                _ => "BAD_REQUEST",
            },
            Error::Refused { .. } => "UNAUTHORIZED",
            Error::Timeout { .. } => "TIMEOUT",
            Error::Transport(_) => "TRANSPORT_FAILED",
            Error::Malformed(_) | Error::Protocol(_) => "PROTOCOL_ERROR",
            Error::Cancelled => "CANCELLED",
        }
    }

    /// The status DPS answered with, if this error came from an answer.
    pub fn status(&self) -> Option<u16> {
        match self {
            Error::Rejected(r) => Some(r.status),
            Error::Timeout { last_status } => *last_status,
            _ => None,
        }
    }

    /// DPS's numeric `errorCode`, if it sent one.
    pub fn dps_error_code(&self) -> Option<u64> {
        match self {
            Error::Rejected(r) => r.error_code,
            Error::RegistrationFailed { error_code, .. }
            | Error::RegistrationDisabled { error_code, .. } => *error_code,
            _ => None,
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let detail = |f: &mut fmt::Formatter<'_>, c: &Option<u64>, m: &Option<String>| {
            if let Some(c) = c {
                write!(f, " (errorCode {c})")?;
            }
            if let Some(m) = m {
                write!(f, ": {m}")?;
            }
            Ok(())
        };
        match self {
            Error::InvalidArgument(what) => write!(f, "invalid argument: {what}"),
            Error::InvalidKey => f.write_str("the symmetric key is not valid base64"),
            Error::RegistrationFailed {
                error_code,
                error_message,
            } => {
                f.write_str("DPS registration failed")?;
                detail(f, error_code, error_message)
            }
            Error::RegistrationDisabled {
                error_code,
                error_message,
            } => {
                f.write_str("the DPS enrollment is disabled")?;
                detail(f, error_code, error_message)
            }
            Error::Rejected(r) => match r.status {
                401 | 403 => write!(
                    f,
                    "DPS refused the credentials ({r}); check the ID scope, registration id and key"
                ),
                _ => write!(f, "DPS refused the request ({r})"),
            },
            Error::Refused { code } => {
                write!(f, "DPS refused the connection (CONNACK {code})")
            }
            Error::Timeout { last_status } => {
                f.write_str("the registration did not finish before its deadline")?;
                if let Some(s) = last_status {
                    write!(f, " (last answer {s})")?;
                }
                Ok(())
            }
            Error::Transport(t) => write!(f, "{t}"),
            Error::Malformed(e) => write!(f, "malformed answer from DPS: {e}"),
            Error::Protocol(what) => write!(f, "DPS protocol error: {what}"),
            Error::TokenRequired => f.write_str("no valid SAS token: supply one with set_token"),
            Error::Cancelled => f.write_str("the registration was cancelled"),
        }
    }
}

impl core::error::Error for Error {}

impl From<MalformedError> for Error {
    fn from(e: MalformedError) -> Self {
        Error::Malformed(e)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rejected(status: u16) -> Error {
        Error::Rejected(Rejection {
            status,
            error_code: Some(u64::from(status) * 1000 + 2),
            message: Some("m".into()),
            tracking_id: None,
        })
    }

    #[test]
    fn code_by_status_succeeds() {
        assert_eq!(rejected(401).code(), "UNAUTHORIZED");
        assert_eq!(rejected(404).code(), "NOT_FOUND");
        assert_eq!(rejected(400).code(), "BAD_REQUEST");
        assert_eq!(rejected(412).code(), "BAD_REQUEST");
        assert_eq!(rejected(429).code(), "THROTTLED");
        assert_eq!(rejected(503).code(), "SERVER_ERROR");
        assert_eq!(rejected(401).dps_error_code(), Some(401_002));
        assert_eq!(rejected(401).status(), Some(401));
        assert!(rejected(401).to_string().contains("errorCode 401002: m"));
    }

    #[test]
    fn transport_failure_retryable_succeeds() {
        assert!(TransportFailure::Unreachable.retryable());
        assert!(TransportFailure::HttpStatus(503).retryable());
        assert!(TransportFailure::HttpStatus(429).retryable());
        assert!(!TransportFailure::HttpStatus(404).retryable());
        assert!(!TransportFailure::Tls.retryable());
        assert!(!TransportFailure::InvalidUrl.retryable());
    }
}
