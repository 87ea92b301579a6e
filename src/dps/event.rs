//! What the provisioning client reports: [`DpsEvent`], [`Assignment`], [`State`].

use crate::prelude::*;

use crate::hub::client::{Auth as HubAuth, ClientConfig};
use crate::hub::connection_string::SymmetricKey;
use crate::hub::error::MalformedError;
use crate::hub::Error as HubError;

use super::error::Error;
use super::registration::{parse_registration_state, RegistrationState};

/// The outcome of a successful registration.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Assignment {
    /// The IoT Hub host name DPS assigned (`assignedHub`).
    pub assigned_hub: String,
    /// The device id in that hub (`deviceId`; the enrollment may differ from the registration id).
    pub device_id: String,
    /// The whole `registrationState` as raw JSON ([`Assignment::state`] reads it).
    pub registration_state: String,
    /// The DPS operation id.
    pub operation_id: Option<String>,
    /// The key the registration signed with (an individual enrollment's key or the key
    /// derived from the group key); `None` in token-provider mode.
    pub key: Option<SymmetricKey>,
    /// The Plug and Play model id the registration announced.
    pub model_id: Option<String>,
}

impl Assignment {
    /// A `hub::ClientConfig` for the assigned identity: the same key (or token-provider
    /// mode) and `model_id`. Set `url` (and other knobs) as needed before `hub::Client::new`.
    pub fn hub_config(&self) -> Result<ClientConfig, HubError> {
        let mut c =
            ClientConfig::from_token_provider(&self.assigned_hub, &self.device_id, None, None)?;
        if let Some(key) = &self.key {
            c.auth = HubAuth::Key {
                key: key.clone(),
                key_name: None,
            };
        }
        c.model_id = self.model_id.clone();
        Ok(c)
    }

    /// Every field of `registrationState` this client knows (`substatus`, the custom
    /// allocation `payload`, …).
    pub fn state(&self) -> Result<RegistrationState, MalformedError> {
        parse_registration_state(&self.registration_state)
    }
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
