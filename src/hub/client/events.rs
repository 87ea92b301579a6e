//! What the client reports: operation ids and results, received messages,
//! the events the shell must act on, and the connection state.

use crate::prelude::*;

use super::super::error::Error;
use super::super::telemetry::SystemProperties;

/// Identifies an operation the app started (telemetry, twin GET, reported PATCH).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct OpId(pub u64);

/// What a successful operation produced.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum OpResult {
    /// Telemetry: QoS 1 acknowledged by PUBACK, or QoS 0 handed to the transport.
    Sent,
    /// Twin GET: the document `{"desired":{..},"reported":{..}}` as JSON text.
    Twin(String),
    /// Reported PATCH accepted (204) with the new reported `$version`.
    Reported {
        /// New reported version, if the hub sent one.
        version: Option<u64>,
    },
}

/// A cloud-to-device (or module input) message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct C2dMessage {
    /// The body.
    pub payload: Vec<u8>,
    /// Module input name, for modules.
    pub input_name: Option<String>,
    /// System properties.
    pub system: SystemProperties,
    /// Application properties in order (a bare key has `None`).
    pub properties: Vec<(String, Option<String>)>,
}

/// What the shell must act on, or report to the app.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum HubEvent {
    /// Open a WebSocket (subprotocol `mqtt`) to this URL, then call `transport_opened`,
    /// or `transport_failed` if it cannot be created or closes before it opens.
    OpenTransport {
        /// The URL.
        url: String,
    },
    /// Close the current WebSocket (after sending what `poll_transmit` returned). Do not
    /// report its close with `connection_lost`.
    CloseTransport,
    /// Token-provider mode: obtain a token expiring at `expiry_secs` and call `set_token`
    /// (or `token_failed`).
    NeedToken {
        /// Requested expiry, seconds since the epoch.
        expiry_secs: u64,
    },
    /// The hub accepted the connection (a pending `connect()` request succeeded).
    Connected,
    /// The pending `connect()` request failed: its budget ran out, the client
    /// stopped, or `disconnect` was called. Whether the client goes on retrying is
    /// told by the `Disconnected`/`Reconnecting` events around it.
    ConnectFailed {
        /// Why.
        reason: Error,
    },
    /// The connection (or an attempt at one) ended.
    Disconnected {
        /// Why.
        reason: Error,
        /// Whether the client will reconnect by itself.
        will_retry: bool,
    },
    /// A reconnect is planned after `delay_ms`.
    Reconnecting {
        /// 1 for the first retry after a loss.
        attempt: u32,
        /// Backoff delay chosen.
        delay_ms: u64,
    },
    /// A failure worth telling the app about that does not end anything by itself
    /// (a token renewal that failed while connected, a socket that could not be
    /// created and will be retried).
    Warning(Error),
    /// An operation finished.
    Completed {
        /// Which one.
        op: OpId,
        /// Its outcome.
        result: Result<OpResult, Error>,
    },
    /// A C2D message arrived.
    C2d(Box<C2dMessage>),
    /// Desired properties changed (a notification, or missed changes found after a reconnect).
    DesiredPatch {
        /// Desired `$version`.
        version: u64,
        /// The patch (or the whole desired section after a reconnect) as JSON text.
        json: String,
        /// `json` is the whole desired section (found newer by the GET after a
        /// reconnect), not a patch: replace the app's view instead of merging into
        /// it, since a key deleted meanwhile is simply absent (azure-iot-sdk-c's
        /// `DEVICE_TWIN_UPDATE_COMPLETE`).
        full: bool,
    },
    /// A direct method call; answer with `respond_method(rid, ..)`.
    MethodCall {
        /// Request id.
        rid: String,
        /// Full method name.
        name: String,
        /// PnP component (the part before `*`).
        component: Option<String>,
        /// Command (the part after `*`, or the whole name).
        command: String,
        /// Request body (JSON text; may be empty).
        payload: String,
    },
    /// The hub refused a subscription (SUBACK 0x80).
    SubscriptionRefused {
        /// The filter.
        filter: String,
    },
}

/// Connection state as the app sees it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ConnectionState {
    /// Never connected, or stopped after a fatal error.
    Disconnected,
    /// First connection in progress.
    Connecting,
    /// Connected.
    Connected,
    /// Waiting to reconnect, or reconnecting.
    Reconnecting,
    /// The app called `disconnect`.
    Closed,
}
