//! What the provisioning client reports: [`DpsEvent`], [`Assignment`], [`State`].

use crate::prelude::*;

use crate::hub::client::ClientConfig;

use super::error::Error;

/// The outcome of a successful registration.
#[derive(Clone, Debug, PartialEq)]
pub struct Assignment {
    /// The IoT Hub host name DPS assigned (`assignedHub`).
    pub assigned_hub: String,
    /// The device id in that hub (`deviceId`; the enrollment may differ from the registration id).
    pub device_id: String,
    /// `substatus` (`initialAssignment`, `deviceDataMigrated`, `deviceDataReset`, …).
    pub substatus: Option<String>,
    /// `payload` returned by a custom allocation webhook, as raw JSON.
    pub payload: Option<String>,
    /// The whole `registrationState` as raw JSON.
    pub registration_state: String,
    /// The DPS operation id.
    pub operation_id: Option<String>,
    /// A ready `hub::ClientConfig` for the assigned identity: the same key (an individual
    /// enrollment's key or the derived group key) or token-provider mode, and `model_id`.
    /// Set `url` (and other knobs) as needed before `hub::Client::new`.
    pub hub_config: ClientConfig,
}

/// What the shell must act on, or report to the app.
#[derive(Clone, Debug, PartialEq)]
pub enum DpsEvent {
    /// Open a WebSocket (subprotocol `mqtt`) to this URL, then call `transport_opened`
    /// (or `transport_failed` / `connection_lost` if it fails).
    OpenTransport {
        /// The URL.
        url: String,
    },
    /// Close the current WebSocket (after sending what `poll_transmit` returned). Do not
    /// report its close with `connection_lost`.
    CloseTransport,
    /// Token-provider mode: obtain a token for [`Config::sas_resource`] with
    /// `skn=registration`, expiring at `expiry_secs`, and call `set_token`.
    NeedToken {
        /// Requested expiry, seconds since the epoch.
        expiry_secs: u64,
    },
    /// DPS accepted the registration and is assigning it; the next poll is in `retry_after_ms`.
    Assigning {
        /// The operation being polled.
        operation_id: String,
        /// Wait before the next poll (DPS's `retry-after`, or `poll_interval_ms`).
        retry_after_ms: u64,
    },
    /// Something failed and will be retried after `delay_ms` (429/5xx, a lost or unopened
    /// transport, CONNACK 3, an answer that never came).
    Retrying {
        /// 1 for the first retry in a row.
        attempt: u32,
        /// Wait before the retry.
        delay_ms: u64,
        /// What failed.
        reason: Error,
    },
    /// The registration is done: DPS assigned this hub and device.
    Assigned(Box<Assignment>),
    /// The registration is over without an assignment.
    Failed(Error),
}

/// Where a registration is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum State {
    /// `register` not called yet.
    Idle,
    /// Working on it (connecting, waiting for DPS, backing off).
    Registering,
    /// Ended with [`DpsEvent::Assigned`].
    Assigned,
    /// Ended with [`DpsEvent::Failed`].
    Failed,
}
