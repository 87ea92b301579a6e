//! Typed errors of the IoT Hub layer.
//!
//! One `#[non_exhaustive]` [`Error`] with grouped sub-enums (rustls' habit);
//! each variant says whose fault it is. No variant ever carries a secret:
//! connection-string errors name the *field*, never its value.

use core::fmt;

/// Which identifier an [`IdError`] is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IdKind {
    /// A device id.
    Device,
    /// A module id.
    Module,
}

impl fmt::Display for IdKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            IdKind::Device => "device id",
            IdKind::Module => "module id",
        })
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

impl fmt::Display for IdError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            IdError::Empty(k) => write!(f, "{k} is empty"),
            IdError::TooLong(k, n) => write!(f, "{k} is {n} characters long (at most 128)"),
            IdError::InvalidChar(k, c) => {
                write!(f, "{k} contains the character {c:?} the hub does not allow")
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

impl fmt::Display for ConnectionStringError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Missing(k) => write!(f, "connection string has no {k}"),
            Self::Empty(k) => write!(f, "connection string field {k} is empty"),
            Self::Duplicate(k) => write!(f, "connection string field {k} appears more than once"),
            Self::Contradictory(a, b) => write!(
                f,
                "connection string fields {a} and {b} cannot be used together"
            ),
            Self::Invalid(k, why) => write!(f, "connection string field {k} is invalid: {why}"),
            Self::MalformedSegment(i) => {
                write!(f, "connection string segment {i} is not key=value")
            }
            Self::Id(e) => write!(f, "connection string: {e}"),
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

impl fmt::Display for MalformedError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::BadPercentEscape => f.write_str("'%' not followed by two hex digits"),
            Self::NotUtf8 => f.write_str("percent-decoded bytes are not UTF-8"),
            Self::MissingField(k) => write!(f, "required field {k} is absent"),
            Self::BadNumber(k) => write!(f, "field {k} is not a number"),
            Self::BadTopic => f.write_str("topic has an unexpected shape"),
            Self::BadBody => f.write_str("body is not the JSON expected"),
        }
    }
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
        }
    }

    /// Whether trying the same thing again later may succeed.
    pub fn retryable(&self) -> bool {
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
            _ => None,
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::ConnectionString(e) => e.fmt(f),
            Error::Id(e) => e.fmt(f),
            Error::InvalidArgument(what) => write!(f, "invalid argument: {what}"),
            Error::PayloadTooLarge { size, max } => {
                write!(
                    f,
                    "message is {size} bytes (topic + body); IoT Hub accepts at most {max}"
                )
            }
            Error::QosNotSupported => {
                f.write_str("QoS 2 is not supported by IoT Hub; use QoS 0 or 1")
            }
            Error::QueueFull { messages, bytes } => {
                write!(
                    f,
                    "offline queue is full ({messages} messages, {bytes} bytes)"
                )
            }
            Error::Unauthorized { code } => {
                write!(
                    f,
                    "the hub refused the credentials (CONNACK {code}); check the key or token"
                )
            }
            Error::ServerUnavailable { code } => {
                write!(
                    f,
                    "the hub is unavailable (CONNACK {code}); retrying with backoff"
                )
            }
            Error::Timeout => f.write_str("no answer from the hub within the operation timeout"),
            Error::Throttled { status } => write!(f, "the hub is throttling requests ({status})"),
            Error::BadRequest { status } => write!(f, "the hub rejected the request ({status})"),
            Error::NotFound => f.write_str("the hub did not find the resource (404)"),
            Error::ServerError { status } => write!(f, "the hub failed ({status})"),
            Error::Malformed(e) => write!(f, "malformed data from the hub: {e}"),
            Error::Protocol(what) => write!(f, "MQTT protocol error: {what}"),
            Error::Disconnected => f.write_str("the connection was lost"),
            Error::Closed => f.write_str("the client was closed"),
            Error::TokenRequired => f.write_str("no valid SAS token: supply one with set_token"),
        }
    }
}

impl std::error::Error for Error {}

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
