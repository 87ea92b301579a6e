//! The device client core: IoT Hub semantics over [`crate::mqtt::Session`], sans-IO.
//!
//! Drive it like quinn-proto: after every input (`connect`, `transport_opened`,
//! `handle_bytes`, `handle_timeout`, `connection_lost`, `set_token`, a command)
//! drain [`Client::poll_transmit`] → [`Client::poll_event`] →
//! [`Client::poll_timeout`]. Every `now` is **milliseconds since the Unix
//! epoch** (the shell's `Date.now()`): SAS expiry times derive from it.

use std::collections::{BTreeMap, VecDeque};

use bytes::Bytes;

use super::c2d;
use super::connection_string::{ConnectionString, Credential, Secret, SymmetricKey};
use super::error::{from_status, Error};
use super::ids::{validate_device_id, validate_module_id};
use super::methods;
use super::retry::{Backoff, Rng};
use super::sas;
use super::telemetry::{self, SystemProperties, Telemetry};
use super::twin;
use super::username::{Username, DEFAULT_API_VERSION};
use crate::mqtt::{self, ConnectReturn, LostReason, PublishError, QoS, Session};

/// Default offline queue bound: messages.
pub const DEFAULT_QUEUE_MAX_MESSAGES: usize = 1000;
/// Default offline queue bound: bytes (topic + body).
pub const DEFAULT_QUEUE_MAX_BYTES: usize = 4 * 1024 * 1024;
/// Default timeout of twin requests.
pub const DEFAULT_OPERATION_TIMEOUT_MS: u64 = 30_000;
/// Default retries of a twin request answered 429 or 5xx.
pub const DEFAULT_REQUEST_RETRIES: u32 = 4;

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
    /// The shell supplies tokens: the client emits [`HubEvent::NeedToken`] and waits for [`Client::set_token`].
    Provider,
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
    /// WebSocket URL override; default `wss://{gateway or host}:443/$iothub/websocket`.
    pub url: Option<String>,
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
    /// Reconnect backoff (default 1 s doubling to 60 s, jitter 0.5).
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
    /// Lost if no CONNACK (or no `transport_opened`) this long after asking.
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
            connect_timeout_ms: mqtt::DEFAULT_CONNECT_TIMEOUT_MS,
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
                format!("wss://{host}:443/$iothub/websocket")
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
            Some(m) => format!("{}/{m}", self.device_id),
            None => self.device_id.clone(),
        }
    }

    fn renew_margin_secs(&self) -> u64 {
        self.token_renew_margin_secs
            .unwrap_or(self.token_ttl_secs / 4)
    }

    fn validate(&self) -> Result<(), Error> {
        validate_device_id(&self.device_id)?;
        if let Some(m) = &self.module_id {
            validate_module_id(m)?;
        }
        self.retry.validate()?;
        self.request_retry.validate()?;
        if self.token_ttl_secs == 0 {
            return Err(Error::InvalidArgument("token_ttl_secs must be positive"));
        }
        if self.renew_margin_secs() >= self.token_ttl_secs {
            return Err(Error::InvalidArgument(
                "token renew margin must be shorter than the token ttl",
            ));
        }
        if self.queue_max_messages == 0 || self.queue_max_bytes == 0 {
            return Err(Error::InvalidArgument(
                "offline queue bounds must be positive",
            ));
        }
        if self.operation_timeout_ms == 0 {
            return Err(Error::InvalidArgument(
                "operation_timeout_ms must be positive",
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
    pub payload: Bytes,
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
    /// Open a WebSocket (subprotocol `mqtt`) to this URL, then call `transport_opened`
    /// (or `connection_lost` if it fails).
    OpenTransport {
        /// The URL.
        url: String,
    },
    /// Close the current WebSocket (after sending what `poll_transmit` returned). Do not
    /// report its close with `connection_lost`.
    CloseTransport,
    /// Token-provider mode: obtain a token expiring at `expiry_secs` and call `set_token`.
    NeedToken {
        /// Requested expiry, seconds since the epoch.
        expiry_secs: u64,
    },
    /// The hub accepted the connection.
    Connected,
    /// The connection ended.
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

#[derive(Clone, Debug, PartialEq)]
enum Phase {
    /// Not connected and not trying (initial, or after a fatal error).
    Idle,
    /// Waiting for `set_token` (token-provider mode).
    WaitingToken,
    /// `OpenTransport` emitted; waiting for `transport_opened` until the deadline.
    Opening { deadline: u64 },
    /// CONNECT queued; waiting for CONNACK.
    Connecting,
    /// CONNACK accepted.
    Connected,
    /// Waiting to reconnect at `until`.
    Backoff { until: u64 },
    /// `disconnect` was called.
    Closed,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Feature {
    C2d,
    Methods,
    TwinResponses,
    TwinDesired,
}

#[derive(Debug)]
struct Queued {
    op: OpId,
    topic: String,
    payload: Bytes,
    qos: QoS,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum TwinKind {
    Get,
    Patch(String),
}

#[derive(Debug)]
struct TwinRequest {
    /// `None` for the client's own reconcile GET after a reconnect.
    op: Option<OpId>,
    kind: TwinKind,
    deadline: u64,
    attempt: u32,
    /// Not yet (re)sent; sent at this time or as soon as the twin subscription is ready.
    send_at: Option<u64>,
}

/// The IoT Hub device client core. See the module docs and docs/core-api.md.
#[derive(Debug)]
pub struct Client {
    config: ClientConfig,
    session: Session,
    phase: Phase,
    events: VecDeque<HubEvent>,
    rng: Rng,
    next_op: u64,
    next_rid: u64,
    /// Current token and its expiry (seconds).
    token: Option<(Secret, u64)>,
    /// Provider mode: a renewal was asked for while connected.
    renewal_requested: bool,
    ever_connected: bool,
    /// Consecutive failed attempts since the last successful CONNACK.
    attempt: u32,
    enabled: Vec<Feature>,
    /// SUBSCRIBE pkid → features it carries.
    pending_subs: BTreeMap<u16, Vec<Feature>>,
    twin_ready: bool,
    queue: VecDeque<Queued>,
    queue_bytes: usize,
    /// QoS 1 pkid → the telemetry op it carries.
    inflight: BTreeMap<u16, OpId>,
    twin_requests: BTreeMap<String, TwinRequest>,
    last_desired_version: Option<u64>,
    /// Method calls not yet answered, with the connection generation they arrived on.
    open_methods: Vec<(String, u64)>,
    /// Incremented at every accepted CONNACK.
    conn_gen: u64,
}

fn telemetry_topic_of(config: &ClientConfig, msg: &Telemetry) -> String {
    telemetry::topic(
        &config.device_id,
        config.module_id.as_deref(),
        &msg.system,
        &msg.properties,
    )
}

impl Client {
    /// A client in state `Disconnected`. Fails if the configuration is inconsistent.
    pub fn new(config: ClientConfig, now: u64) -> Result<Client, Error> {
        let _ = now;
        config.validate()?;
        let mut mc = mqtt::Config::new(config.client_id());
        mc.username = Some(config.username());
        mc.keep_alive_secs = config.keep_alive_secs;
        mc.clean_session = config.clean_session;
        mc.max_inflight = config.max_inflight;
        mc.coalesce = config.coalesce;
        mc.ping_timeout_ms = config.ping_timeout_ms;
        mc.connect_timeout_ms = config.connect_timeout_ms;
        if let Some(w) = &config.will {
            let topic = telemetry_topic_of(&config, w);
            telemetry::check(topic.len(), w.payload.len(), w.qos)?;
            mc.will = Some(mqtt::Will {
                topic,
                payload: w.payload.clone(),
                qos: w.qos,
                retain: false,
            });
        }
        let token = match &config.auth {
            Auth::Token { token, expiry_secs } => Some((token.clone(), *expiry_secs)),
            _ => None,
        };
        Ok(Client {
            rng: Rng::new(config.random_seed),
            next_rid: config.request_id_seed,
            session: Session::new(mc),
            config,
            phase: Phase::Idle,
            events: VecDeque::new(),
            next_op: 1,
            token,
            renewal_requested: false,
            ever_connected: false,
            attempt: 0,
            enabled: Vec::new(),
            pending_subs: BTreeMap::new(),
            twin_ready: false,
            queue: VecDeque::new(),
            queue_bytes: 0,
            inflight: BTreeMap::new(),
            twin_requests: BTreeMap::new(),
            last_desired_version: None,
            open_methods: Vec::new(),
            conn_gen: 0,
        })
    }

    // ----- getters -----

    /// The configuration.
    pub fn config(&self) -> &ClientConfig {
        &self.config
    }

    /// Connection state as the app sees it.
    pub fn state(&self) -> ConnectionState {
        match self.phase {
            Phase::Idle => ConnectionState::Disconnected,
            Phase::Closed => ConnectionState::Closed,
            Phase::Connected => ConnectionState::Connected,
            _ if self.ever_connected || self.attempt > 0 => ConnectionState::Reconnecting,
            _ => ConnectionState::Connecting,
        }
    }

    /// Telemetry messages waiting for a connection or for room in the QoS 1 window.
    pub fn queued_messages(&self) -> usize {
        self.queue.len()
    }

    /// The last desired `$version` the app was shown.
    pub fn last_desired_version(&self) -> Option<u64> {
        self.last_desired_version
    }

    // ----- commands -----

    /// The app wants to be connected: the core plans `OpenTransport` (or `NeedToken` first).
    /// Harmless while already connected or connecting.
    pub fn connect(&mut self, now: u64) -> Result<(), Error> {
        match self.phase {
            Phase::Idle | Phase::Closed => {
                // Start afresh: what `disconnect` or a fatal error failed must not be resent later.
                self.session = Session::new(self.session.config().clone());
                self.attempt = 0;
                self.ever_connected = false;
                self.begin_attempt(now);
                Ok(())
            }
            Phase::Backoff { .. } => {
                self.begin_attempt(now);
                Ok(())
            }
            _ => Ok(()),
        }
    }

    /// The shell's WebSocket is open: queue CONNECT.
    pub fn transport_opened(&mut self, now: u64) {
        if !matches!(self.phase, Phase::Opening { .. }) {
            return;
        }
        let password = match &self.token {
            Some((t, _)) => t.expose().to_owned(),
            None => {
                self.fail_attempt(now, Error::TokenRequired, true);
                return;
            }
        };
        match self.session.connect(now, Some(password)) {
            Ok(()) => self.phase = Phase::Connecting,
            Err(_) => self.fail_attempt(now, Error::Protocol("cannot encode CONNECT"), false),
        }
        self.drain_session(now);
    }

    /// Token-provider mode: the token the shell obtained after `NeedToken`.
    pub fn set_token(&mut self, now: u64, token: String, expiry_secs: u64) {
        self.token = Some((Secret::new(token), expiry_secs));
        match self.phase {
            Phase::WaitingToken => self.open_transport(now),
            Phase::Connected if self.renewal_requested => {
                self.renewal_requested = false;
                self.renew(now);
            }
            _ => {}
        }
    }

    /// The app is done: DISCONNECT, close the transport, fail everything pending with `Closed`.
    pub fn disconnect(&mut self, now: u64) {
        if self.phase == Phase::Closed {
            return;
        }
        let had_transport = matches!(
            self.phase,
            Phase::Opening { .. } | Phase::Connecting | Phase::Connected
        );
        self.session.disconnect(now);
        self.phase = Phase::Closed;
        self.twin_ready = false;
        self.pending_subs.clear();
        self.open_methods.clear();
        self.renewal_requested = false;
        if had_transport {
            self.events.push_back(HubEvent::CloseTransport);
        }
        self.fail_pending(&Error::Closed);
        self.events.push_back(HubEvent::Disconnected {
            reason: Error::Closed,
            will_retry: false,
        });
    }

    /// Sends telemetry. QoS 1 completes on PUBACK, QoS 0 when handed to the transport.
    /// While disconnected (or with a full QoS 1 window) the message is queued, bounded by
    /// `queue_max_messages`/`queue_max_bytes` ([`Error::QueueFull`]).
    pub fn send_event(&mut self, now: u64, msg: Telemetry) -> Result<OpId, Error> {
        self.usable()?;
        let topic = telemetry_topic_of(&self.config, &msg);
        telemetry::check(topic.len(), msg.payload.len(), msg.qos)?;
        let size = topic.len() + msg.payload.len();
        let direct = self.phase == Phase::Connected && self.queue.is_empty();
        let must_queue =
            !direct || (self.session.inflight_free() == 0 && msg.qos == QoS::AtLeastOnce);
        if must_queue
            && (self.queue.len() >= self.config.queue_max_messages
                || self.queue_bytes.saturating_add(size) > self.config.queue_max_bytes)
        {
            return Err(Error::QueueFull {
                messages: self.queue.len(),
                bytes: self.queue_bytes,
            });
        }
        let op = self.new_op();
        self.queue.push_back(Queued {
            op,
            topic,
            payload: msg.payload,
            qos: msg.qos,
        });
        self.queue_bytes += size;
        self.pump(now);
        Ok(op)
    }

    /// Requests the full twin; completes with [`OpResult::Twin`].
    pub fn get_twin(&mut self, now: u64) -> Result<OpId, Error> {
        self.usable()?;
        let op = self.new_op();
        self.start_twin(now, Some(op), TwinKind::Get);
        Ok(op)
    }

    /// Patches reported properties (`patch_json` is a JSON object); completes with [`OpResult::Reported`].
    pub fn update_reported(&mut self, now: u64, patch_json: String) -> Result<OpId, Error> {
        self.usable()?;
        if !patch_json.trim_start().starts_with('{') {
            return Err(Error::InvalidArgument(
                "reported patch must be a JSON object",
            ));
        }
        let size = twin::patch_topic("0000000000").len() + patch_json.len();
        if size > telemetry::MAX_MESSAGE_BYTES {
            return Err(Error::PayloadTooLarge {
                size,
                max: telemetry::MAX_MESSAGE_BYTES,
            });
        }
        let op = self.new_op();
        self.start_twin(now, Some(op), TwinKind::Patch(patch_json));
        Ok(op)
    }

    /// Answers a method call with `status` and an optional JSON body (empty body if `None`).
    pub fn respond_method(
        &mut self,
        now: u64,
        rid: &str,
        status: u16,
        body_json: Option<String>,
    ) -> Result<(), Error> {
        let Some(i) = self.open_methods.iter().position(|(r, _)| r == rid) else {
            return Err(Error::InvalidArgument(
                "no open method call with this request id",
            ));
        };
        if self.phase != Phase::Connected || self.open_methods[i].1 != self.conn_gen {
            // The call arrived on a connection that is gone; the hub has given up on it.
            self.open_methods.remove(i);
            return Err(Error::Disconnected);
        }
        let topic = methods::response_topic(status, rid);
        let body = Bytes::from(body_json.unwrap_or_default());
        telemetry::check(topic.len(), body.len(), QoS::AtMostOnce)?;
        self.open_methods.remove(i);
        match self
            .session
            .publish(now, &topic, body, QoS::AtMostOnce, false)
        {
            Ok(_) => Ok(()),
            Err(_) => Err(Error::Disconnected),
        }
    }

    /// Receive cloud-to-device messages (module: input messages).
    pub fn enable_c2d(&mut self, now: u64) {
        self.enable(now, Feature::C2d);
    }

    /// Receive desired-property notifications (and missed changes after a reconnect).
    pub fn enable_twin_desired(&mut self, now: u64) {
        self.enable(now, Feature::TwinResponses);
        self.enable(now, Feature::TwinDesired);
    }

    /// Receive direct method calls.
    pub fn enable_methods(&mut self, now: u64) {
        self.enable(now, Feature::Methods);
    }

    // ----- inputs -----

    /// Bytes of one WebSocket message (any split or coalescing of packets).
    pub fn handle_bytes(&mut self, now: u64, data: &[u8]) {
        if !matches!(self.phase, Phase::Connecting | Phase::Connected) {
            return;
        }
        // A protocol error is also reported as ConnectionLost(Protocol) by the session.
        let _ = self.session.handle_bytes(now, data);
        self.drain_session(now);
    }

    /// Runs expired timers. Calling it early is harmless.
    pub fn handle_timeout(&mut self, now: u64) {
        self.session.handle_timeout(now);
        self.drain_session(now);
        match self.phase {
            Phase::Backoff { until } if now >= until => self.begin_attempt(now),
            Phase::Opening { deadline } if now >= deadline => {
                self.events.push_back(HubEvent::CloseTransport);
                self.fail_attempt(now, Error::Timeout, true);
            }
            Phase::Connected => {
                if let Some(at) = self.renew_at() {
                    if now >= at && !self.renewal_requested {
                        if self.config.auth == Auth::Provider {
                            self.renewal_requested = true;
                            let expiry_secs = now / 1000 + self.config.token_ttl_secs;
                            self.events.push_back(HubEvent::NeedToken { expiry_secs });
                        } else {
                            self.renew(now);
                        }
                    }
                }
            }
            _ => {}
        }
        self.twin_timers(now);
    }

    /// The shell's transport closed (or failed to open).
    pub fn connection_lost(&mut self, now: u64) {
        match self.phase {
            Phase::Connecting | Phase::Connected => {
                self.session.connection_lost(now);
                self.drain_session(now);
            }
            Phase::Opening { .. } => self.fail_attempt(now, Error::Disconnected, true),
            _ => {}
        }
    }

    // ----- outputs -----

    /// Bytes to send as one WebSocket message.
    #[must_use]
    pub fn poll_transmit(&mut self) -> Option<Vec<u8>> {
        self.session.poll_transmit()
    }

    /// The next event.
    #[must_use]
    pub fn poll_event(&mut self) -> Option<HubEvent> {
        self.events.pop_front()
    }

    /// When `handle_timeout` should next be called.
    #[must_use]
    pub fn poll_timeout(&self) -> Option<u64> {
        let mut t = self.session.poll_timeout();
        let mut consider = |x: Option<u64>| {
            if let Some(x) = x {
                t = Some(t.map_or(x, |t| t.min(x)));
            }
        };
        match self.phase {
            Phase::Backoff { until } => consider(Some(until)),
            Phase::Opening { deadline } => consider(Some(deadline)),
            Phase::Connected if !self.renewal_requested => consider(self.renew_at()),
            _ => {}
        }
        for r in self.twin_requests.values() {
            consider(Some(r.deadline));
            if self.twin_ready {
                consider(r.send_at);
            }
        }
        t
    }

    // ----- internals -----

    fn usable(&self) -> Result<(), Error> {
        if self.phase == Phase::Closed {
            return Err(Error::Closed);
        }
        Ok(())
    }

    fn new_op(&mut self) -> OpId {
        let op = OpId(self.next_op);
        self.next_op += 1;
        op
    }

    fn new_rid(&mut self) -> String {
        let rid = self.next_rid.to_string();
        self.next_rid = self.next_rid.wrapping_add(1);
        rid
    }

    fn complete(&mut self, op: OpId, result: Result<OpResult, Error>) {
        self.events.push_back(HubEvent::Completed { op, result });
    }

    fn renew_at(&self) -> Option<u64> {
        match self.config.auth {
            Auth::Token { .. } => None,
            _ => self
                .token
                .as_ref()
                .map(|(_, exp)| sas::renew_at_ms(*exp, self.config.renew_margin_secs())),
        }
    }

    /// Token still usable for a new connection at `now`.
    fn token_fresh(&self, now: u64) -> bool {
        match (&self.config.auth, &self.token) {
            (Auth::Token { .. }, Some((_, exp))) => now < exp.saturating_mul(1000),
            (_, Some(_)) => self.renew_at().is_some_and(|at| now < at),
            _ => false,
        }
    }

    fn begin_attempt(&mut self, now: u64) {
        if !self.token_fresh(now) {
            match &self.config.auth {
                Auth::Key { key, key_name } => {
                    let expiry = now / 1000 + self.config.token_ttl_secs;
                    let resource = sas::resource(
                        &self.config.host_name,
                        &self.config.device_id,
                        self.config.module_id.as_deref(),
                    );
                    let token = sas::token(key.bytes(), &resource, expiry, key_name.as_deref());
                    self.token = Some((Secret::new(token), expiry));
                }
                Auth::Token { .. } => {
                    // A connection string's token cannot be renewed.
                    self.stop(Error::TokenRequired);
                    return;
                }
                Auth::Provider => {
                    self.phase = Phase::WaitingToken;
                    let expiry_secs = now / 1000 + self.config.token_ttl_secs;
                    self.events.push_back(HubEvent::NeedToken { expiry_secs });
                    return;
                }
            }
        }
        self.open_transport(now);
    }

    fn open_transport(&mut self, now: u64) {
        self.phase = Phase::Opening {
            deadline: now.saturating_add(self.config.connect_timeout_ms),
        };
        self.events.push_back(HubEvent::OpenTransport {
            url: self.config.websocket_url(),
        });
    }

    /// Planned reconnect with a fresh token, before the current one expires.
    fn renew(&mut self, now: u64) {
        self.session.disconnect(now);
        self.after_transport_end();
        self.events.push_back(HubEvent::CloseTransport);
        if self.config.auth != Auth::Provider {
            self.token = None;
        }
        self.attempt = 0;
        self.begin_attempt(now);
    }

    /// Bookkeeping common to every end of a transport.
    fn after_transport_end(&mut self) {
        self.twin_ready = false;
        self.pending_subs.clear();
        for r in self.twin_requests.values_mut() {
            // QoS 0 responses are lost with the connection: resend after reconnecting.
            if r.send_at.is_none() {
                r.send_at = Some(0);
            }
        }
    }

    /// A fatal error: no more retries. Everything pending fails with `reason` (the app
    /// learns of each message; none is dropped silently).
    fn stop(&mut self, reason: Error) {
        self.phase = Phase::Idle;
        self.renewal_requested = false;
        self.fail_pending(&reason);
        self.events.push_back(HubEvent::Disconnected {
            reason,
            will_retry: false,
        });
    }

    fn fail_pending(&mut self, reason: &Error) {
        for (_, op) in core::mem::take(&mut self.inflight) {
            self.complete(op, Err(reason.clone()));
        }
        for q in core::mem::take(&mut self.queue) {
            self.complete(q.op, Err(reason.clone()));
        }
        self.queue_bytes = 0;
        for (_, r) in core::mem::take(&mut self.twin_requests) {
            if let Some(op) = r.op {
                self.complete(op, Err(reason.clone()));
            }
        }
    }

    /// An attempt or a connection failed: stop, or back off and retry.
    fn fail_attempt(&mut self, now: u64, reason: Error, retry: bool) {
        self.after_transport_end();
        if !retry {
            self.stop(reason);
            return;
        }
        self.attempt = self.attempt.saturating_add(1);
        let delay_ms = self
            .config
            .retry
            .delay_ms(self.attempt - 1, self.rng.next_u32());
        self.phase = Phase::Backoff {
            until: now.saturating_add(delay_ms),
        };
        self.events.push_back(HubEvent::Disconnected {
            reason,
            will_retry: true,
        });
        self.events.push_back(HubEvent::Reconnecting {
            attempt: self.attempt,
            delay_ms,
        });
    }

    fn enable(&mut self, now: u64, f: Feature) {
        if self.enabled.contains(&f) {
            return;
        }
        self.enabled.push(f);
        if self.phase == Phase::Connected {
            self.subscribe(now, &[f]);
        }
    }

    fn filter(&self, f: Feature) -> (String, QoS) {
        match f {
            Feature::C2d => (
                c2d::subscribe_filter(&self.config.device_id, self.config.module_id.as_deref()),
                QoS::AtLeastOnce,
            ),
            Feature::Methods => (methods::SUBSCRIBE_FILTER.to_owned(), QoS::AtMostOnce),
            Feature::TwinResponses => (twin::RESPONSE_SUBSCRIBE_FILTER.to_owned(), QoS::AtMostOnce),
            Feature::TwinDesired => (twin::DESIRED_SUBSCRIBE_FILTER.to_owned(), QoS::AtMostOnce),
        }
    }

    fn subscribe(&mut self, now: u64, features: &[Feature]) {
        if features.is_empty() {
            return;
        }
        let filters: Vec<(String, QoS)> = features.iter().map(|&f| self.filter(f)).collect();
        if let Ok(pkid) = self.session.subscribe(now, &filters) {
            self.pending_subs.insert(pkid, features.to_vec());
        }
    }

    fn start_twin(&mut self, now: u64, op: Option<OpId>, kind: TwinKind) {
        let rid = self.new_rid();
        let deadline = now.saturating_add(self.config.operation_timeout_ms);
        self.twin_requests.insert(
            rid,
            TwinRequest {
                op,
                kind,
                deadline,
                attempt: 0,
                send_at: Some(0),
            },
        );
        if !self.enabled.contains(&Feature::TwinResponses) {
            self.enable(now, Feature::TwinResponses);
        }
        self.send_due_twin(now);
    }

    fn send_due_twin(&mut self, now: u64) {
        if self.phase != Phase::Connected || !self.twin_ready {
            return;
        }
        let due: Vec<String> = self
            .twin_requests
            .iter()
            .filter(|(_, r)| r.send_at.is_some_and(|t| t <= now))
            .map(|(rid, _)| rid.clone())
            .collect();
        for rid in due {
            let Some(r) = self.twin_requests.get_mut(&rid) else {
                continue;
            };
            let (topic, body) = match &r.kind {
                TwinKind::Get => (twin::get_topic(&rid), Bytes::new()),
                TwinKind::Patch(json) => (twin::patch_topic(&rid), Bytes::from(json.clone())),
            };
            if self
                .session
                .publish(now, &topic, body, QoS::AtMostOnce, false)
                .is_ok()
            {
                r.send_at = None;
            }
        }
    }

    fn twin_timers(&mut self, now: u64) {
        let expired: Vec<String> = self
            .twin_requests
            .iter()
            .filter(|(_, r)| now >= r.deadline)
            .map(|(rid, _)| rid.clone())
            .collect();
        for rid in expired {
            if let Some(TwinRequest { op: Some(op), .. }) = self.twin_requests.remove(&rid) {
                self.complete(op, Err(Error::Timeout));
            }
        }
        self.send_due_twin(now);
    }

    /// Publishes queued telemetry while connected and the window has room.
    fn pump(&mut self, now: u64) {
        if self.phase != Phase::Connected {
            return;
        }
        while let Some(q) = self.queue.front() {
            let (topic, payload, qos) = (q.topic.clone(), q.payload.clone(), q.qos);
            match self.session.publish(now, &topic, payload, qos, false) {
                Ok(pkid) => {
                    let Some(q) = self.queue.pop_front() else {
                        break;
                    };
                    self.queue_bytes -= q.topic.len() + q.payload.len();
                    match pkid {
                        Some(pkid) => {
                            self.inflight.insert(pkid, q.op);
                        }
                        None => self.complete(q.op, Ok(OpResult::Sent)),
                    }
                }
                Err(PublishError::InflightFull) | Err(PublishError::NotConnected) => break,
                Err(e) => {
                    let Some(q) = self.queue.pop_front() else {
                        break;
                    };
                    self.queue_bytes -= q.topic.len() + q.payload.len();
                    let err = match e {
                        PublishError::QosNotSupported => Error::QosNotSupported,
                        _ => Error::InvalidArgument("telemetry could not be encoded"),
                    };
                    self.complete(q.op, Err(err));
                }
            }
        }
    }

    fn drain_session(&mut self, now: u64) {
        while let Some(ev) = self.session.poll_event() {
            match ev {
                mqtt::Event::Connected { .. } => self.on_connected(now),
                mqtt::Event::Refused(code) => self.on_refused(now, code),
                mqtt::Event::Message(m) => self.on_message(now, m),
                mqtt::Event::PubAck(pkid) => {
                    if let Some(op) = self.inflight.remove(&pkid) {
                        self.complete(op, Ok(OpResult::Sent));
                    }
                    self.pump(now);
                }
                mqtt::Event::SubAck { pkid, granted } => self.on_suback(now, pkid, granted),
                mqtt::Event::UnsubAck(_) => {}
                mqtt::Event::ConnectionLost(reason) => {
                    if self.phase == Phase::Connecting || self.phase == Phase::Connected {
                        let err = match reason {
                            LostReason::Transport => Error::Disconnected,
                            LostReason::PingTimeout | LostReason::ConnectTimeout => Error::Timeout,
                            LostReason::Protocol(_) => {
                                Error::Protocol("the hub sent bytes we refuse")
                            }
                        };
                        if !matches!(reason, LostReason::Transport) {
                            self.events.push_back(HubEvent::CloseTransport);
                        }
                        self.fail_attempt(now, err, true);
                    }
                }
            }
        }
    }

    fn on_connected(&mut self, now: u64) {
        self.phase = Phase::Connected;
        self.conn_gen += 1;
        self.attempt = 0;
        self.ever_connected = true;
        self.events.push_back(HubEvent::Connected);
        let features = self.enabled.clone();
        self.subscribe(now, &features);
        if self.enabled.contains(&Feature::TwinDesired) {
            // Reconcile on every connection: the first GET sets the baseline, later ones emit
            // a desired $version past the last one seen, once.
            let pending_reconcile = self.twin_requests.values().any(|r| r.op.is_none());
            if !pending_reconcile {
                self.start_twin(now, None, TwinKind::Get);
            }
        }
        self.pump(now);
    }

    fn on_refused(&mut self, now: u64, code: ConnectReturn) {
        self.events.push_back(HubEvent::CloseTransport);
        self.after_transport_end();
        let err = match code {
            // A temporary outage: retry with backoff (azure-iot-common retries
            // ServiceUnavailableError). IoT Hub refuses a disabled device with 5.
            ConnectReturn::ServerUnavailable => {
                return self.fail_attempt(now, Error::ServerUnavailable { code: 3 }, true);
            }
            ConnectReturn::UnacceptableProtocolVersion => {
                Error::Protocol("the hub refused MQTT 3.1.1")
            }
            other => Error::Unauthorized { code: other.code() },
        };
        self.stop(err);
    }

    fn on_suback(&mut self, now: u64, pkid: u16, granted: Vec<Option<QoS>>) {
        let Some(features) = self.pending_subs.remove(&pkid) else {
            return;
        };
        for (i, f) in features.iter().enumerate() {
            match granted.get(i).copied().flatten() {
                Some(_) => {
                    if *f == Feature::TwinResponses {
                        self.twin_ready = true;
                    }
                }
                None => {
                    let filter = self.filter(*f).0;
                    self.events
                        .push_back(HubEvent::SubscriptionRefused { filter });
                }
            }
        }
        self.send_due_twin(now);
    }

    fn on_message(&mut self, now: u64, m: mqtt::Incoming) {
        match twin::parse_topic(&m.topic) {
            Ok(Some(t)) => return self.on_twin(now, t, m.payload),
            Ok(None) => {}
            Err(_) => return,
        }
        match methods::parse_request_topic(&m.topic) {
            Ok(Some(req)) => {
                let (component, command) = req.split();
                let (component, command) = (component.map(str::to_owned), command.to_owned());
                let gen = self.conn_gen;
                self.open_methods.retain(|(r, _)| *r != req.rid);
                self.open_methods.push((req.rid.clone(), gen));
                self.events.push_back(HubEvent::MethodCall {
                    rid: req.rid,
                    name: req.name,
                    component,
                    command,
                    payload: String::from_utf8_lossy(&m.payload).into_owned(),
                });
                return;
            }
            Ok(None) => {}
            Err(_) => return,
        }
        if let Ok(Some(c)) = c2d::parse_topic(
            &m.topic,
            &self.config.device_id,
            self.config.module_id.as_deref(),
        ) {
            self.events.push_back(HubEvent::C2d(Box::new(C2dMessage {
                payload: m.payload,
                input_name: c.input_name,
                system: c.system,
                properties: c.properties,
            })));
        }
    }

    fn on_twin(&mut self, now: u64, t: twin::TwinTopic, payload: Bytes) {
        match t {
            twin::TwinTopic::Desired { version } => {
                if self
                    .last_desired_version
                    .is_some_and(|last| version <= last)
                {
                    return; // already shown (e.g. by the reconcile GET)
                }
                self.last_desired_version = Some(version);
                let json = String::from_utf8_lossy(&payload).into_owned();
                self.events
                    .push_back(HubEvent::DesiredPatch { version, json });
            }
            twin::TwinTopic::Response {
                status,
                rid,
                version,
            } => {
                let Some(mut r) = self.twin_requests.remove(&rid) else {
                    return;
                };
                if (status == 429 || status >= 500) && r.attempt < self.config.request_retries {
                    let delay = self
                        .config
                        .request_retry
                        .delay_ms(r.attempt, self.rng.next_u32());
                    r.attempt += 1;
                    r.send_at = Some(now.saturating_add(delay));
                    self.twin_requests.insert(rid, r);
                    return;
                }
                let result = match from_status(status) {
                    Some(e) => Err(e),
                    None => match r.kind {
                        TwinKind::Get => {
                            let doc = String::from_utf8_lossy(&payload).into_owned();
                            self.observe_twin(&doc, r.op.is_none());
                            Ok(OpResult::Twin(doc))
                        }
                        TwinKind::Patch(_) => Ok(OpResult::Reported { version }),
                    },
                };
                if let Some(op) = r.op {
                    self.complete(op, result);
                }
            }
        }
    }

    /// A full twin document was received: track desired `$version`; for the reconcile GET
    /// emit the desired section once if it moved past what the app has seen.
    fn observe_twin(&mut self, doc: &str, reconcile: bool) {
        let Some(version) = twin::desired_version(doc) else {
            return;
        };
        match self.last_desired_version {
            Some(last) if version <= last => {}
            Some(_) if reconcile => {
                self.last_desired_version = Some(version);
                let json = twin::desired_section(doc).unwrap_or("{}").to_owned();
                self.events
                    .push_back(HubEvent::DesiredPatch { version, json });
            }
            _ => self.last_desired_version = Some(version),
        }
    }
}
