//! What a [`super::Client`] is configured with: identity, credentials, endpoint and
//! every policy knob (timeouts, backoff, queue bounds), with their defaults.

use crate::prelude::*;

use super::super::connection_string::{ConnectionString, Credential, Secret, SymmetricKey};
use super::super::error::Error;
use super::super::ids::{validate_device_id, validate_module_id};
use super::super::retry::Backoff;
use super::super::sas;
use super::super::telemetry::Telemetry;
use super::super::url;
use super::super::username::{Username, DEFAULT_API_VERSION};
use crate::mqtt::{self, QoS};
use crate::text::concat;

/// Default offline queue bound: messages.
pub const DEFAULT_QUEUE_MAX_MESSAGES: usize = 1000;
/// Default offline queue bound: bytes (topic + body).
pub const DEFAULT_QUEUE_MAX_BYTES: usize = 4 * 1024 * 1024;
/// Default timeout of twin requests.
pub const DEFAULT_OPERATION_TIMEOUT_MS: u64 = 30_000;
/// Default retries of a twin request answered 429 or 5xx.
pub const DEFAULT_REQUEST_RETRIES: u32 = 4;
/// Default bound of one connection attempt: transport open plus CONNACK.
pub const DEFAULT_ATTEMPT_TIMEOUT_MS: u64 = 30_000;
/// Default budget of a `connect()` request: how long it keeps retrying before it fails.
pub const DEFAULT_CONNECT_TIMEOUT_MS: u64 = 60_000;
/// How long a connection must last before its loss restarts the backoff at the
/// first step. A hub that accepts and then drops a connection at once (a
/// misconfigured route, a throttle, a policy that kicks the device) would
/// otherwise be reconnected to at the first step's rate forever, which IoT Hub's
/// connect throttle answers by refusing the device.
pub const STABLE_CONNECTION_MS: u64 = 10_000;
/// The query the default URL carries for SAS/token authentication: IoT Hub's TLS
/// endpoint then does not ask for a client certificate (a browser would show a
/// certificate picker to a user who has some installed). The Java device SDK sends it.
pub const NO_CLIENT_CERT_QUERY: &str = "?iothub-no-client-cert=true";
/// IoT Hub's largest useful MQTT keep-alive: the hub waits 1.5 × keep-alive for a packet,
/// at most 1767 s (the Azure load balancer's idle timeout), so 1767 / 1.5 = 1177 s
/// ("Default keep-alive timeout" in <https://learn.microsoft.com/azure/iot/iot-mqtt-connect-to-iot-hub>).
pub const MAX_KEEP_ALIVE_SECS: u16 = 1177;

/// How the client obtains its SAS password.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Auth {
    /// Sign tokens with this key and renew them before they expire.
    Key {
        /// The device (or policy) key.
        key: SymmetricKey,
        /// `skn` for a policy key.
        key_name: Option<String>,
    },
    /// A fixed token from a connection string; it cannot be renewed.
    Token {
        /// The token.
        token: Secret,
        /// Its expiry, seconds since the epoch.
        expiry_secs: u64,
    },
    /// The shell supplies tokens: the client emits [`super::HubEvent::NeedToken`] and
    /// waits for [`super::Client::set_token`] (or [`super::Client::token_failed`]).
    Provider,
    /// An X.509 client certificate, presented by the transport (the shell's socket) in
    /// the TLS handshake: CONNECT carries no password, no token is made or renewed, and
    /// the default URL has no `iothub-no-client-cert` query.
    X509,
}

/// Everything the client needs; build with [`ClientConfig::from_connection_string`] or
/// [`ClientConfig::from_token_provider`] and adjust fields.
#[derive(Clone, Debug, PartialEq)]
pub struct ClientConfig {
    /// `HostName`: username and SAS `sr`.
    pub host_name: String,
    /// Device id.
    pub device_id: String,
    /// Module id, for a module identity.
    pub module_id: Option<String>,
    /// `GatewayHostName`: where to connect when set.
    pub gateway_host_name: Option<String>,
    /// Credentials.
    pub auth: Auth,
    /// WebSocket URL override; default
    /// `wss://{gateway or host}:443/$iothub/websocket?iothub-no-client-cert=true`.
    pub url: Option<String>,
    /// Allow `ws://` (unencrypted) to a host that is not loopback.
    pub allow_insecure: bool,
    /// `api-version` in the username (default `2021-04-12`).
    pub api_version: String,
    /// Plug and Play model id (`&model-id=`).
    pub model_id: Option<String>,
    /// Product string (`&DeviceClientType=`).
    pub product_info: Option<String>,
    /// MQTT keep-alive (default 180 s).
    pub keep_alive_secs: u16,
    /// MQTT clean session (default false, as the Azure SDKs).
    pub clean_session: bool,
    /// Lifetime of generated/requested tokens (default 3600 s).
    pub token_ttl_secs: u64,
    /// Reconnect with a fresh token this long before expiry; `None` = a quarter of the ttl.
    pub token_renew_margin_secs: Option<u64>,
    /// Reconnect backoff (default 1 s doubling to 60 s, full jitter 1.0).
    pub retry: Backoff,
    /// Backoff between retries of a twin request answered 429/5xx.
    pub request_retry: Backoff,
    /// How many times a 429/5xx twin request is retried before it fails.
    pub request_retries: u32,
    /// Seed of the jitter random source (the shell passes real randomness).
    pub random_seed: u64,
    /// First request id (`$rid`); later ones count up from it.
    pub request_id_seed: u64,
    /// Twin requests fail with [`Error::Timeout`] after this long (default 30 s).
    pub operation_timeout_ms: u64,
    /// Offline queue bound, messages.
    pub queue_max_messages: usize,
    /// Offline queue bound, bytes of topic + body.
    pub queue_max_bytes: usize,
    /// Last will, published by the hub on the telemetry topic if the connection drops uncleanly.
    pub will: Option<Telemetry>,
    /// QoS 1 window (publishes awaiting PUBACK).
    pub max_inflight: u16,
    /// One WebSocket message per wake-up (true) or per packet (false).
    pub coalesce: bool,
    /// Lost if a PINGREQ is unanswered this long.
    pub ping_timeout_ms: u64,
    /// Lost (then reconnected, unacknowledged telemetry resent) if a QoS 1
    /// message or a SUBSCRIBE waits this long for its acknowledgement on a live
    /// connection (default 60 s; 0: never).
    pub ack_timeout_ms: u64,
    /// One connection attempt (transport open, then CONNACK) fails after this long
    /// and is retried with backoff (default 30 s).
    pub attempt_timeout_ms: u64,
    /// A `connect()` request fails after this long without a connection (default 60 s):
    /// a first connect stops retrying; while reconnecting after a success the client
    /// goes on retrying and only the request fails.
    pub connect_timeout_ms: u64,
}

impl ClientConfig {
    fn with(
        host: String,
        device: String,
        module: Option<String>,
        gateway: Option<String>,
        auth: Auth,
    ) -> Self {
        ClientConfig {
            host_name: host,
            device_id: device,
            module_id: module,
            gateway_host_name: gateway,
            auth,
            url: None,
            allow_insecure: false,
            api_version: DEFAULT_API_VERSION.to_owned(),
            model_id: None,
            product_info: None,
            keep_alive_secs: mqtt::DEFAULT_KEEP_ALIVE_SECS,
            clean_session: false,
            token_ttl_secs: sas::DEFAULT_TTL_SECS,
            token_renew_margin_secs: None,
            retry: Backoff::default(),
            request_retry: Backoff {
                min_ms: 1_000,
                max_ms: 10_000,
                jitter: 0.5,
            },
            request_retries: DEFAULT_REQUEST_RETRIES,
            random_seed: 0,
            request_id_seed: 1,
            operation_timeout_ms: DEFAULT_OPERATION_TIMEOUT_MS,
            queue_max_messages: DEFAULT_QUEUE_MAX_MESSAGES,
            queue_max_bytes: DEFAULT_QUEUE_MAX_BYTES,
            will: None,
            max_inflight: mqtt::DEFAULT_MAX_INFLIGHT,
            coalesce: true,
            ping_timeout_ms: mqtt::DEFAULT_PING_TIMEOUT_MS,
            ack_timeout_ms: mqtt::DEFAULT_ACK_TIMEOUT_MS,
            attempt_timeout_ms: DEFAULT_ATTEMPT_TIMEOUT_MS,
            connect_timeout_ms: DEFAULT_CONNECT_TIMEOUT_MS,
        }
    }

    /// A configuration from a device or module connection string.
    pub fn from_connection_string(s: &str) -> Result<Self, Error> {
        let cs = ConnectionString::parse(s)?;
        Ok(Self::from(cs))
    }

    /// A configuration whose tokens come from the shell (token-provider mode).
    pub fn from_token_provider(
        host_name: &str,
        device_id: &str,
        module_id: Option<&str>,
        gateway_host_name: Option<&str>,
    ) -> Result<Self, Error> {
        if host_name.is_empty() {
            return Err(Error::InvalidArgument("host name is empty"));
        }
        validate_device_id(device_id)?;
        if let Some(m) = module_id {
            validate_module_id(m)?;
        }
        Ok(Self::with(
            host_name.to_owned(),
            device_id.to_owned(),
            module_id.map(str::to_owned),
            gateway_host_name.map(str::to_owned),
            Auth::Provider,
        ))
    }

    /// The WebSocket URL the shell should open.
    pub fn websocket_url(&self) -> String {
        match &self.url {
            Some(u) => u.clone(),
            None => {
                let host = self.gateway_host_name.as_deref().unwrap_or(&self.host_name);
                // An X.509 device needs the hub to ask for its certificate.
                let query = match self.auth {
                    Auth::X509 => "",
                    _ => NO_CLIENT_CERT_QUERY,
                };
                concat(&["wss://", host, ":443/$iothub/websocket", query])
            }
        }
    }

    /// The MQTT username.
    pub fn username(&self) -> String {
        Username {
            host: &self.host_name,
            device_id: &self.device_id,
            module_id: self.module_id.as_deref(),
            api_version: &self.api_version,
            model_id: self.model_id.as_deref(),
            product_info: self.product_info.as_deref(),
        }
        .render()
    }

    /// The MQTT client id: `{device}` or `{device}/{module}`.
    pub fn client_id(&self) -> String {
        match &self.module_id {
            Some(m) => concat(&[&self.device_id, "/", m]),
            None => self.device_id.clone(),
        }
    }

    pub(super) fn renew_margin_secs(&self) -> u64 {
        self.token_renew_margin_secs
            .unwrap_or(self.token_ttl_secs / 4)
    }

    /// The session configuration this client drives.
    pub(super) fn session_config(&self) -> mqtt::Config {
        let mut mc = mqtt::Config::new(self.client_id());
        mc.username = Some(self.username());
        mc.keep_alive_secs = self.keep_alive_secs;
        mc.clean_session = self.clean_session;
        mc.max_inflight = self.max_inflight;
        mc.coalesce = self.coalesce;
        mc.ping_timeout_ms = self.ping_timeout_ms;
        mc.connack_timeout_ms = self.attempt_timeout_ms;
        mc.ack_timeout_ms = self.ack_timeout_ms;
        mc
    }

    pub(super) fn validate(&self) -> Result<(), Error> {
        validate_device_id(&self.device_id)?;
        if let Some(m) = &self.module_id {
            validate_module_id(m)?;
        }
        if let Some(u) = &self.url {
            url::check(u, self.allow_insecure)?;
        }
        self.retry.validate()?;
        self.request_retry.validate()?;
        let positive = [
            (self.token_ttl_secs, "token_ttl_secs must be positive"),
            (
                self.operation_timeout_ms,
                "operation_timeout_ms must be positive",
            ),
            (
                self.attempt_timeout_ms,
                "attempt_timeout_ms must be positive",
            ),
            (
                self.connect_timeout_ms,
                "connect_timeout_ms must be positive",
            ),
            (
                (self.queue_max_messages.min(self.queue_max_bytes)) as u64,
                "offline queue bounds must be positive",
            ),
        ];
        if let Some((_, why)) = positive.iter().find(|(v, _)| *v == 0) {
            return Err(Error::InvalidArgument(why));
        }
        if self.renew_margin_secs() >= self.token_ttl_secs {
            return Err(Error::InvalidArgument(
                "token renew margin must be shorter than the token ttl",
            ));
        }
        if self.keep_alive_secs > MAX_KEEP_ALIVE_SECS {
            return Err(Error::InvalidArgument(
                "keep_alive_secs must be at most 1177",
            ));
        }
        if let Some(w) = &self.will {
            if w.qos == QoS::ExactlyOnce {
                return Err(Error::QosNotSupported);
            }
        }
        Ok(())
    }
}

impl From<ConnectionString> for ClientConfig {
    fn from(cs: ConnectionString) -> Self {
        let auth = match cs.credential {
            Credential::SharedAccessKey { key, key_name } => Auth::Key { key, key_name },
            Credential::SharedAccessSignature { token, expiry_secs } => {
                Auth::Token { token, expiry_secs }
            }
            Credential::X509 => Auth::X509,
        };
        Self::with(
            cs.host_name,
            cs.device_id,
            cs.module_id,
            cs.gateway_host_name,
            auth,
        )
    }
}
