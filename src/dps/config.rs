//! What a registration needs: ID scope, registration id, credentials and the knobs.

use crate::prelude::*;

use crate::hub::connection_string::SymmetricKey;
use crate::hub::retry::Backoff;
use crate::hub::{sas, url};
use crate::mqtt;
use crate::text::concat;

use super::auth;
use super::error::Error;
use super::registration::request_body;

/// DPS's global device endpoint.
pub const DEFAULT_PROVISIONING_HOST: &str = "global.azure-devices-provisioning.net";
/// Default wait between status polls when DPS sends no `retry-after` (the Node SDK's 2 s).
pub const DEFAULT_POLL_INTERVAL_MS: u64 = 2_000;
/// Default deadline of a whole registration.
pub const DEFAULT_REGISTRATION_TIMEOUT_MS: u64 = 120_000;
/// Default time an answer may take before the connection is considered dead (the Node SDK's 30 s).
pub const DEFAULT_OPERATION_TIMEOUT_MS: u64 = 30_000;

fn decode_key(key_base64: &str, what: &'static str) -> Result<SymmetricKey, Error> {
    match SymmetricKey::from_base64(key_base64) {
        Ok(k) if !k.bytes().is_empty() => Ok(k),
        _ => Err(Error::invalid(what)),
    }
}

/// How the client proves the registration's identity.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Auth {
    /// Sign tokens with this key: an individual enrollment's key, or a device key already
    /// derived from a group key.
    SymmetricKey(SymmetricKey),
    /// The shell supplies tokens (`sr` = [`Config::sas_resource`], `skn=registration`): the
    /// client emits `NeedToken` and waits for `set_token`. Neither key is in the page.
    Provider,
}

/// Everything a registration needs; build with [`Config::from_symmetric_key`],
/// [`Config::from_group_key`] or [`Config::from_token_provider`] and adjust fields.
#[derive(Clone, Debug, PartialEq)]
pub struct Config {
    /// The DPS ID scope (`0ne…`).
    pub id_scope: String,
    /// The registration id (MQTT client id; the device id unless the enrollment says otherwise).
    pub registration_id: String,
    /// Credentials.
    pub auth: Auth,
    /// Where DPS is (default [`DEFAULT_PROVISIONING_HOST`]).
    pub provisioning_host: String,
    /// WebSocket URL override; default `wss://{provisioning_host}:443/$iothub/websocket`.
    pub url: Option<String>,
    /// Allow `ws://` (unencrypted) to a host that is not loopback (as `hub::ClientConfig`).
    pub allow_insecure: bool,
    /// Plug and Play model id: goes into the payload as `{"modelId":…}` (IoT Central reads
    /// it there) and into the assigned hub configuration's username.
    pub model_id: Option<String>,
    /// Registration `payload` as JSON text (any value; an object if `model_id` is set).
    pub payload_json: Option<String>,
    /// `ClientVersion` in the username (default `hubwire/{crate version}`; `None` omits it).
    pub client_version: Option<String>,
    /// MQTT keep-alive (default 180 s).
    pub keep_alive_secs: u16,
    /// Lifetime of generated/requested tokens (default 3600 s).
    pub token_ttl_secs: u64,
    /// Wait between status polls when DPS gives no `retry-after` (default 2 s).
    pub poll_interval_ms: u64,
    /// Backoff for 429/5xx answers without `retry-after`, and for reconnects.
    pub retry: Backoff,
    /// The whole registration fails with `Timeout` this long after `register` (default 120 s).
    pub registration_timeout_ms: u64,
    /// An answer (or CONNACK, or the transport opening) missing this long counts as a lost
    /// connection (default 30 s).
    pub operation_timeout_ms: u64,
    /// Seed of the jitter random source (the shell passes real randomness).
    pub random_seed: u64,
    /// First request id (`$rid`); later ones count up from it.
    pub request_id_seed: u64,
    /// One WebSocket message per wake-up (true) or per packet (false).
    pub coalesce: bool,
}

impl Config {
    /// The ID scope and registration id are checked by [`Config::validate`] (`Client::new`).
    fn with(id_scope: &str, registration_id: &str, auth: Auth) -> Config {
        Config {
            id_scope: id_scope.to_owned(),
            registration_id: registration_id.to_owned(),
            auth,
            provisioning_host: DEFAULT_PROVISIONING_HOST.to_owned(),
            url: None,
            allow_insecure: false,
            model_id: None,
            payload_json: None,
            client_version: Some(concat!("hubwire/", env!("CARGO_PKG_VERSION")).to_owned()),
            keep_alive_secs: mqtt::DEFAULT_KEEP_ALIVE_SECS,
            token_ttl_secs: sas::DEFAULT_TTL_SECS,
            poll_interval_ms: DEFAULT_POLL_INTERVAL_MS,
            retry: Backoff::default(),
            registration_timeout_ms: DEFAULT_REGISTRATION_TIMEOUT_MS,
            operation_timeout_ms: DEFAULT_OPERATION_TIMEOUT_MS,
            random_seed: 0,
            request_id_seed: 1,
            coalesce: true,
        }
    }

    /// An individual enrollment (or an already derived device key), base64.
    pub fn from_symmetric_key(
        id_scope: &str,
        registration_id: &str,
        key_base64: &str,
    ) -> Result<Config, Error> {
        let key = decode_key(key_base64, "symmetric key is not valid base64")?;
        Ok(Self::with(
            id_scope,
            registration_id,
            Auth::SymmetricKey(key),
        ))
    }

    /// A symmetric-key enrollment group: the device key is derived here,
    /// `base64(HMAC-SHA256(groupKey, registrationId))`. A group key lets anyone provision
    /// any device of the group: keep it off devices and pages you do not control.
    pub fn from_group_key(
        id_scope: &str,
        registration_id: &str,
        group_key_base64: &str,
    ) -> Result<Config, Error> {
        let group = decode_key(group_key_base64, "group key is not valid base64")?;
        // `derive_device_key`, without its unreachable panic on the wasm path.
        let derived = sas::sign(group.bytes(), registration_id);
        let key = decode_key(&derived, "group key is not valid base64")?;
        Ok(Self::with(
            id_scope,
            registration_id,
            Auth::SymmetricKey(key),
        ))
    }

    /// Tokens come from the shell (`NeedToken` → `set_token`).
    pub fn from_token_provider(id_scope: &str, registration_id: &str) -> Result<Config, Error> {
        Ok(Self::with(id_scope, registration_id, Auth::Provider))
    }

    /// The WebSocket URL the shell should open.
    pub fn websocket_url(&self) -> String {
        match &self.url {
            Some(u) => u.clone(),
            None => concat(&["wss://", &self.provisioning_host, ":443/$iothub/websocket"]),
        }
    }

    /// The MQTT username.
    pub fn username(&self) -> String {
        auth::username(
            &self.id_scope,
            &self.registration_id,
            self.client_version.as_deref(),
        )
    }

    /// What a token must sign: `{idScope}/registrations/{registrationId}` (unencoded).
    pub fn sas_resource(&self) -> String {
        auth::resource(&self.id_scope, &self.registration_id)
    }

    /// The register request body.
    pub fn request_body(&self) -> Result<String, Error> {
        request_body(
            &self.registration_id,
            self.payload_json.as_deref(),
            self.model_id.as_deref(),
        )
    }

    /// Checks the configuration as a whole.
    pub fn validate(&self) -> Result<(), Error> {
        self.checked_body().map(drop)
    }

    /// [`Config::validate`], and the register request body.
    pub(crate) fn checked_body(&self) -> Result<String, Error> {
        auth::validate_id_scope(&self.id_scope)?;
        auth::validate_registration_id(&self.registration_id)?;
        let host = self.provisioning_host.as_bytes();
        if self.url.is_none() && (host.is_empty() || host.iter().any(|&b| b == b'/' || b <= b' ')) {
            return Err(Error::invalid("provisioning host must be a bare host name"));
        }
        url::check(&self.websocket_url(), self.allow_insecure)?;
        self.retry.validate()?;
        let positive = [
            self.token_ttl_secs,
            self.poll_interval_ms,
            self.registration_timeout_ms,
            self.operation_timeout_ms,
        ];
        if positive.contains(&0) {
            return Err(Error::invalid(
                "token ttl, poll interval and timeouts must be positive",
            ));
        }
        self.request_body()
    }
}
