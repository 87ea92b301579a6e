//! Typed errors of the IoT Hub layer.
//!
//! One `#[non_exhaustive]` [`Error`] with grouped sub-enums (rustls' habit);
//! each variant says whose fault it is. No variant ever carries a secret:
//! connection-string errors name the *field*, never its value.

use crate::prelude::*;

use core::fmt;

use crate::text::push_u64;

/// Appends `c` quoted; control characters as `U+XXXX`.
fn push_char(out: &mut String, c: char) {
    if c.is_control() {
        out.push_str("U+");
        let n = c as u32;
        for shift in [12, 8, 4, 0] {
            out.push(char::from_digit((n >> shift) & 0xf, 16).unwrap_or('0'));
        }
    } else {
        out.push('\'');
        out.push(c);
        out.push('\'');
    }
}

/// Which identifier an [`IdError`] is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IdKind {
    /// A device id.
    Device,
    /// A module id.
    Module,
}

impl IdKind {
    fn name(self) -> &'static str {
        match self {
            IdKind::Device => "device id",
            IdKind::Module => "module id",
        }
    }
}

/// A device or module id the hub would not accept (the caller's fault).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IdError {
    /// The id is empty.
    Empty(IdKind),
    /// The id is longer than 128 characters.
    TooLong(IdKind, usize),
    /// The id holds a character outside ASCII letters, digits and `-.%_*?!(),:=@$'`.
    InvalidChar(IdKind, char),
}

impl IdError {
    fn describe(&self, out: &mut String) {
        let (IdError::Empty(k) | IdError::TooLong(k, _) | IdError::InvalidChar(k, _)) = self;
        out.push_str(k.name());
        match self {
            IdError::Empty(_) => out.push_str(" is empty"),
            IdError::TooLong(_, n) => {
                out.push_str(" is ");
                push_u64(out, *n as u64);
                out.push_str(" characters long (at most 128)");
            }
            IdError::InvalidChar(_, c) => {
                out.push_str(" contains the character ");
                push_char(out, *c);
                out.push_str(" the hub does not allow");
            }
        }
    }
}

/// A connection string the client cannot use (the caller's fault).
///
/// Each variant names the offending field; none carries a field's value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConnectionStringError {
    /// A required field is absent (e.g. `HostName`, `DeviceId`, or neither `SharedAccessKey` nor `SharedAccessSignature`).
    Missing(&'static str),
    /// A field is present but empty.
    Empty(&'static str),
    /// A field appears twice.
    Duplicate(&'static str),
    /// Two fields contradict each other (first, second).
    Contradictory(&'static str, &'static str),
    /// A field's value is malformed; the reason never quotes the value.
    Invalid(&'static str, &'static str),
    /// A `;`-separated segment has no `=` (its position, 0-based; the text is not echoed).
    MalformedSegment(usize),
    /// The id fields are not valid hub ids.
    Id(IdError),
}

impl ConnectionStringError {
    fn describe(&self, out: &mut String) {
        let field = |out: &mut String, k: &str, rest: &str| {
            out.push_str("connection string field ");
            out.push_str(k);
            out.push_str(rest);
        };
        match self {
            Self::Missing(k) => {
                out.push_str("connection string has no ");
                out.push_str(k);
            }
            Self::Empty(k) => field(out, k, " is empty"),
            Self::Duplicate(k) => field(out, k, " appears more than once"),
            Self::Contradictory(a, b) => {
                out.push_str("connection string fields ");
                out.push_str(a);
                out.push_str(" and ");
                out.push_str(b);
                out.push_str(" cannot be used together");
            }
            Self::Invalid(k, why) => {
                field(out, k, " is invalid: ");
                out.push_str(why);
            }
            Self::MalformedSegment(i) => {
                out.push_str("connection string segment ");
                push_u64(out, *i as u64);
                out.push_str(" is not key=value");
            }
            Self::Id(e) => {
                out.push_str("connection string: ");
                e.describe(out);
            }
        }
    }
}

/// Why a received topic or its property bag could not be understood (the hub's or peer's fault).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MalformedError {
    /// A `%` not followed by two hex digits.
    BadPercentEscape,
    /// Percent-decoded bytes are not UTF-8.
    NotUtf8,
    /// A required query field (`$rid`, `$version`) is absent.
    MissingField(&'static str),
    /// A numeric field (status, version) is not a number.
    BadNumber(&'static str),
    /// The topic has the right prefix but the wrong shape.
    BadTopic,
    /// A JSON body is not the shape expected (e.g. a DPS answer without `status`).
    BadBody,
}

impl MalformedError {
    pub(crate) fn describe(&self, out: &mut String) {
        let tail = match self {
            Self::BadPercentEscape => "'%' not followed by two hex digits",
            Self::NotUtf8 => "percent-decoded bytes are not UTF-8",
            Self::MissingField(k) => {
                out.push_str("required field ");
                out.push_str(k);
                " is absent"
            }
            Self::BadNumber(k) => {
                out.push_str("field ");
                out.push_str(k);
                " is not a number"
            }
            Self::BadTopic => "topic has an unexpected shape",
            Self::BadBody => "body is not the JSON expected",
        };
        out.push_str(tail);
    }
}

/// Why the shell could not open a transport (reported with `Client::transport_failed`).
///
/// The shell only reports what it saw; the core decides what it means (retry or stop).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TransportError {
    /// The socket closed or failed before it opened: an unreachable host, a refused
    /// upgrade, a TLS failure. Retryable.
    NotOpened,
    /// Creating the socket failed in a way a retry may fix (a `webSocketFactory` threw
    /// a plain error, or one marked retryable). Retryable.
    CreateFailed,
    /// The runtime has no WebSocket and no factory was given. Fatal.
    NoWebSocket,
    /// The WebSocket constructor refused the URL (a `SyntaxError`). Fatal.
    BadUrl,
    /// What the factory returned is not a usable WebSocket. Fatal.
    NotASocket,
    /// Creating the socket failed with an error marked not retryable (e.g. an
    /// upgrade refused with a 4xx status). Fatal.
    Refused,
}

impl TransportError {
    /// Whether the core retries after this failure.
    pub fn retryable(self) -> bool {
        matches!(
            self,
            TransportError::NotOpened | TransportError::CreateFailed
        )
    }

    fn text(self) -> &'static str {
        match self {
            TransportError::NotOpened => "the WebSocket could not be opened",
            TransportError::CreateFailed | TransportError::Refused => {
                "could not open the WebSocket"
            }
            TransportError::NoWebSocket => {
                "this runtime has no global WebSocket: pass options.webSocketFactory"
            }
            TransportError::BadUrl => "the WebSocket URL is unusable",
            TransportError::NotASocket => {
                "webSocketFactory must return a WebSocket (or a Promise of one)"
            }
        }
    }
}

/// Why a token provider gave no token (reported with `Client::token_failed`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenError {
    /// The provider threw or its Promise rejected.
    Failed,
    /// The provider returned something that is not a token string.
    NotAToken,
}

/// Every error of the IoT Hub layer.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Error {
    /// Caller: the connection string is unusable.
    ConnectionString(ConnectionStringError),
    /// Caller: a device or module id the hub would refuse.
    Id(IdError),
    /// Caller: an argument is out of range (the message says which).
    InvalidArgument(&'static str),
    /// Caller: topic plus body exceed IoT Hub's 256 KiB device-to-cloud limit.
    PayloadTooLarge {
        /// Topic plus body length in bytes.
        size: usize,
        /// The limit in bytes.
        max: usize,
    },
    /// Caller: QoS 2 requested; IoT Hub closes the connection on QoS 2.
    QosNotSupported,
    /// Caller: the offline queue is full (count or bytes); the message was not accepted.
    QueueFull {
        /// Messages already queued.
        messages: usize,
        /// Bytes already queued.
        bytes: usize,
    },
    /// Hub: CONNACK 2/4/5 — the identity or credentials were refused, or the device is disabled (5). Retrying will not help.
    Unauthorized {
        /// The CONNACK return code.
        code: u8,
    },
    /// Hub: CONNACK 3 (server unavailable) — a temporary outage; retried with backoff, as
    /// azure-iot-common's `ServiceUnavailableError`. (A disabled device is refused with 5.)
    ServerUnavailable {
        /// The CONNACK return code.
        code: u8,
    },
    /// Network/hub: no answer within the operation timeout.
    Timeout,
    /// Hub: 429, still throttled after every retry.
    Throttled {
        /// Status code (429).
        status: u16,
    },
    /// Caller: the hub answered 400 (bad request).
    BadRequest {
        /// Status code (400..=499 except 404 and 429).
        status: u16,
    },
    /// Hub: the resource was not found (404).
    NotFound,
    /// Hub: 5xx, still failing after every retry.
    ServerError {
        /// Status code.
        status: u16,
    },
    /// Hub/peer: a received topic or payload is malformed.
    Malformed(MalformedError),
    /// Hub/peer: an MQTT-level protocol violation ended the connection.
    Protocol(&'static str),
    /// Transport: the connection went away while the operation was pending and it cannot be resumed.
    Disconnected,
    /// Caller: the client was closed with `disconnect`; nothing more will be sent.
    Closed,
    /// Caller: no usable SAS token (none supplied in token-provider mode, or a connection string's fixed token expired).
    TokenRequired,
    /// Caller: `ws://` (unencrypted) to a host that is not loopback without `allow_insecure`.
    InsecureUrl,
    /// Transport: the shell could not open a WebSocket; `detail` is what the host said.
    Transport {
        /// What went wrong.
        kind: TransportError,
        /// A status the failure carried (e.g. a refused upgrade's HTTP status).
        status: Option<u16>,
        /// The host's own message, if any.
        detail: Option<String>,
    },
    /// Caller: the token provider gave no token; `detail` is what it threw.
    Token {
        /// What went wrong.
        kind: TokenError,
        /// The provider's own message, if any.
        detail: Option<String>,
    },
    /// A `connect()` request found no connection within its budget
    /// (`connect_timeout_ms`); `last` is the last attempt's failure, if one ended.
    ConnectTimeout {
        /// The budget, in milliseconds.
        timeout_ms: u64,
        /// Why the last attempt failed.
        last: Option<Box<Error>>,
    },
}

impl Error {
    /// A stable code for the JS boundary (`err.code`), as listed in docs/js-api.md.
    pub fn code(&self) -> &'static str {
        match self {
            Error::ConnectionString(_) => "INVALID_CONNECTION_STRING",
            Error::Id(_) | Error::InvalidArgument(_) | Error::TokenRequired => "INVALID_ARGUMENT",
            Error::PayloadTooLarge { .. } => "PAYLOAD_TOO_LARGE",
            Error::QosNotSupported => "QOS_NOT_SUPPORTED",
            Error::QueueFull { .. } => "QUEUE_FULL",
            Error::Unauthorized { .. } => "UNAUTHORIZED",
            Error::ServerUnavailable { .. } => "SERVER_UNAVAILABLE",
            Error::Timeout => "TIMEOUT",
            Error::Throttled { .. } => "THROTTLED",
            Error::BadRequest { .. } => "BAD_REQUEST",
            Error::NotFound => "NOT_FOUND",
            Error::ServerError { .. } => "SERVER_ERROR",
            Error::Malformed(_) | Error::Protocol(_) => "PROTOCOL_ERROR",
            Error::Disconnected => "DISCONNECTED",
            Error::Closed => "CLOSED",
            Error::InsecureUrl => "INSECURE_URL",
            Error::Transport { .. } => "TRANSPORT",
            Error::Token {
                kind: TokenError::Failed,
                ..
            } => "UNAUTHORIZED",
            Error::Token { .. } => "INVALID_ARGUMENT",
            Error::ConnectTimeout { last: Some(e), .. } => e.code(),
            Error::ConnectTimeout { last: None, .. } => "TIMEOUT",
        }
    }

    /// Whether trying the same thing again later may succeed.
    pub fn retryable(&self) -> bool {
        match self {
            Error::Transport { kind, .. } => return kind.retryable(),
            Error::ConnectTimeout { last: Some(e), .. } => return e.retryable(),
            Error::ConnectTimeout { last: None, .. } => return true,
            _ => {}
        }
        matches!(
            self,
            Error::QueueFull { .. }
                | Error::Timeout
                | Error::Throttled { .. }
                | Error::ServerError { .. }
                | Error::ServerUnavailable { .. }
                | Error::Disconnected
        )
    }

    /// The HTTP-like status a hub response carried, if this error came from one.
    pub fn status(&self) -> Option<u16> {
        match self {
            Error::Throttled { status }
            | Error::BadRequest { status }
            | Error::ServerError { status } => Some(*status),
            Error::NotFound => Some(404),
            Error::Transport { status, .. } => *status,
            Error::ConnectTimeout { last: Some(e), .. } => e.status(),
            _ => None,
        }
    }
}

impl Error {
    /// A one-line message for people, built without `core::fmt` (see `crate::text`).
    pub fn message(&self) -> String {
        let mut out = String::new();
        self.describe(&mut out);
        out
    }

    fn describe(&self, out: &mut String) {
        let num = |out: &mut String, a: &str, n: u64, b: &str| {
            out.push_str(a);
            push_u64(out, n);
            out.push_str(b);
        };
        let text = match self {
            Error::ConnectionString(e) => return e.describe(out),
            Error::Id(e) => return e.describe(out),
            Error::InvalidArgument(what) => {
                out.push_str("invalid argument: ");
                what
            }
            Error::PayloadTooLarge { size, max } => {
                num(out, "message is ", *size as u64, " bytes (topic + body); ");
                num(out, "IoT Hub accepts at most ", *max as u64, "");
                ""
            }
            Error::QosNotSupported => "QoS 2 is not supported by IoT Hub; use QoS 0 or 1",
            Error::QueueFull { messages, bytes } => {
                num(
                    out,
                    "offline queue is full (",
                    *messages as u64,
                    " messages, ",
                );
                num(out, "", *bytes as u64, " bytes)");
                ""
            }
            Error::Unauthorized { code } => {
                num(
                    out,
                    "the hub refused the credentials (CONNACK ",
                    *code as u64,
                    ")",
                );
                "; check the key or token"
            }
            Error::ServerUnavailable { code } => {
                num(out, "the hub is unavailable (CONNACK ", *code as u64, ")");
                "; retrying with backoff"
            }
            Error::Timeout => "no answer from the hub within the operation timeout",
            Error::Throttled { status } => {
                num(out, "the hub is throttling requests (", *status as u64, ")");
                ""
            }
            Error::BadRequest { status } => {
                num(out, "the hub rejected the request (", *status as u64, ")");
                ""
            }
            Error::NotFound => "the hub did not find the resource (404)",
            Error::ServerError { status } => {
                num(out, "the hub failed (", *status as u64, ")");
                ""
            }
            Error::Malformed(e) => {
                out.push_str("malformed data from the hub: ");
                return e.describe(out);
            }
            Error::Protocol(what) => {
                out.push_str("MQTT protocol error: ");
                what
            }
            Error::Disconnected => "the connection was lost",
            Error::Closed => "the client was closed",
            Error::TokenRequired => "no valid SAS token: supply one with set_token",
            Error::InsecureUrl => {
                "ws:// (unencrypted) to a host that is not loopback: use wss:// or allow insecure"
            }
            Error::Transport {
                kind,
                status,
                detail,
            } => {
                out.push_str(kind.text());
                if let Some(s) = status {
                    num(out, " (HTTP ", *s as u64, ")");
                }
                if let Some(d) = detail {
                    out.push_str(": ");
                    out.push_str(d);
                }
                ""
            }
            Error::Token { kind, detail } => {
                out.push_str(match kind {
                    TokenError::Failed => "getToken failed",
                    TokenError::NotAToken => "getToken must resolve to a SAS token string",
                });
                if let Some(d) = detail {
                    out.push_str(": ");
                    out.push_str(d);
                }
                ""
            }
            Error::ConnectTimeout { timeout_ms, last } => {
                num(
                    out,
                    "no connection within the connect timeout (",
                    *timeout_ms,
                    " ms)",
                );
                if let Some(e) = last {
                    out.push_str("; last failure: ");
                    e.describe(out);
                }
                ""
            }
        };
        out.push_str(text);
    }
}

/// `Display` through `describe`: the wasm never calls it (no `core::fmt` there), native code may.
macro_rules! display_via_describe {
    ($($t:ty),*) => {$(
        impl fmt::Display for $t {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                let mut s = String::new();
                self.describe(&mut s);
                f.write_str(&s)
            }
        }
    )*};
}
display_via_describe!(Error, IdError, ConnectionStringError, MalformedError);

impl core::error::Error for Error {}

impl From<ConnectionStringError> for Error {
    fn from(e: ConnectionStringError) -> Self {
        Error::ConnectionString(e)
    }
}

impl From<IdError> for Error {
    fn from(e: IdError) -> Self {
        Error::Id(e)
    }
}

impl From<MalformedError> for Error {
    fn from(e: MalformedError) -> Self {
        Error::Malformed(e)
    }
}

/// The error of a hub response with this status (`None` for 2xx success).
pub fn from_status(status: u16) -> Option<Error> {
    match status {
        200..=299 => None,
        404 => Some(Error::NotFound),
        429 => Some(Error::Throttled { status }),
        500..=599 => Some(Error::ServerError { status }),
        _ => Some(Error::BadRequest { status }),
    }
}
