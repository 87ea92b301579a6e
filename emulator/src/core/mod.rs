//! The hub core: everything IoT Hub does, with no IO.
//!
//! The driver feeds it bytes of WebSocket messages per connection
//! ([`Hub::handle_bytes`]), service requests (registry, twins, C2D, methods,
//! faults) and the time (`now`, milliseconds since the Unix epoch), then drains
//! [`Hub::poll_output`] (bytes to send, connections to close, method results,
//! new telemetry) and arms one timer at [`Hub::poll_timeout`].

pub mod auth;
mod c2d;
mod conn;
mod device;
mod device_auth;
pub mod dps;
mod dps_device;
mod dps_service;
mod faults;
pub mod feedback;
pub mod hostile;
pub mod limits;
mod methods;
pub mod persist;
pub mod policies;
pub mod props;
mod quota;
pub mod registry;
pub mod routes;
mod service;
pub mod telemetry;
pub mod throttle;
pub mod time;
pub mod twin;
pub mod twin_rules;
pub mod x509;

use std::collections::{BTreeMap, HashMap, VecDeque};

use crate::codec;
use bytes::BytesMut;
use mqttbytes::v4::{
    self, ConnAck, ConnectReturnCode, Packet, PubAck, Publish, SubAck, SubscribeReasonCode,
    UnsubAck,
};
use mqttbytes::QoS;
use serde_json::Value;

use auth::SasToken;
use conn::Conn;
use hubwire::hub::encoding::PropertyBag;
use hubwire::hub::telemetry::SystemProperties;
use hubwire::hub::{methods as hub_methods, telemetry as hub_telemetry, twin as hub_twin};

pub use c2d::C2dMessage;
pub use dps_service::DpsServiceError;
pub use faults::{malformed_bytes, parse_fault, Fault, MalformedVariant};
pub use methods::{parse_invocation, Invocation};
use registry::{IdentityId, Registry};
pub use service::parse_json;

use device::sub_filter;
use limits::MAX_SUBSCRIPTIONS;
use methods::call_rid;
use service::not_found;
use telemetry::{TelemetryLog, TelemetryRecord};

/// Identifies one device connection (one WebSocket).
pub type ConnId = u64;
/// Identifies one direct method invocation.
pub type CallId = u64;

/// Largest device-to-cloud message body IoT Hub accepts.
pub const MAX_MESSAGE_BYTES: usize = 256 * 1024;
/// Largest packet the hub reads: a maximal message plus room for the topic.
pub const MAX_PACKET_BYTES: usize = MAX_MESSAGE_BYTES + 64 * 1024;
/// Cloud-to-device messages a device may have queued, as IoT Hub's limit.
pub const MAX_C2D_QUEUE: usize = 50;
/// The shared access policy that may use the service API.
pub const SERVICE_POLICY: &str = "iothubowner";

/// Hub-wide settings.
#[derive(Debug, Clone)]
pub struct HubConfig {
    /// The host name devices put in usernames and SAS `sr`.
    pub host_name: String,
    /// Base64 key of the `iothubowner` policy.
    pub service_key: String,
    /// Telemetry records kept.
    pub max_telemetry: usize,
}

/// What the driver must do after an input.
#[derive(Debug, Clone, PartialEq)]
pub enum Output {
    /// Send these bytes as one binary WebSocket message on `conn`.
    Transmit {
        /// Connection.
        conn: ConnId,
        /// MQTT bytes.
        bytes: Vec<u8>,
    },
    /// Send a WebSocket text message on `conn` (only the `textFrame` hostile fault does).
    TransmitText {
        /// Connection.
        conn: ConnId,
        /// The text.
        text: String,
    },
    /// Close `conn`: `graceful` sends a WebSocket close frame, otherwise the
    /// transport is dropped with nothing more on the wire.
    Close {
        /// Connection.
        conn: ConnId,
        /// Close frame or abrupt.
        graceful: bool,
    },
    /// A direct method invocation finished.
    MethodDone {
        /// Which invocation.
        call: CallId,
        /// How it ended.
        result: MethodResult,
    },
    /// A telemetry record was appended.
    Telemetry {
        /// Its seq.
        seq: u64,
    },
}

/// How a direct method invocation ended.
#[derive(Debug, Clone, PartialEq)]
pub enum MethodResult {
    /// The device answered.
    Response {
        /// Status the device chose.
        status: u16,
        /// Response body as sent (JSON, or empty).
        payload: Vec<u8>,
    },
    /// The device was not connected and subscribed in time (HTTP 404).
    NotOnline,
    /// The device did not answer in time (HTTP 504).
    Timeout,
    /// The device answered with a payload over the 128 KB limit (HTTP 413).
    ResponseTooLarge,
}

/// A service request the hub refuses; the caller is at fault unless noted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ServiceError {
    /// No such device.
    DeviceNotFound,
    /// No such module.
    ModuleNotFound,
    /// The device is not connected (immediate faults).
    DeviceNotOnline,
    /// The request is malformed.
    BadRequest(String),
    /// The device's cloud-to-device queue is full.
    QueueFull,
    /// Something else named in the request does not exist (a policy, a route table).
    NotFound(String),
    /// An `If-Match` etag does not match the current one.
    PreconditionFailed,
    /// A message or payload is over IoT Hub's size limit.
    MessageTooLarge(String),
    /// The daily message quota is spent (the `quotaExceeded` fault).
    QuotaExceeded,
}

impl ServiceError {
    /// HTTP status IoT Hub uses for this error.
    pub fn status(&self) -> u16 {
        match self {
            ServiceError::DeviceNotFound
            | ServiceError::ModuleNotFound
            | ServiceError::DeviceNotOnline
            | ServiceError::NotFound(_) => 404,
            ServiceError::BadRequest(_) => 400,
            ServiceError::QueueFull | ServiceError::QuotaExceeded => 403,
            ServiceError::PreconditionFailed => 412,
            ServiceError::MessageTooLarge(_) => 413,
        }
    }

    /// IoT Hub's `ErrorCode` string.
    pub fn code(&self) -> &'static str {
        match self {
            ServiceError::DeviceNotFound => "DeviceNotFound",
            ServiceError::ModuleNotFound => "ModuleNotFound",
            ServiceError::DeviceNotOnline => "DeviceNotOnline",
            ServiceError::BadRequest(_) => "ArgumentInvalid",
            ServiceError::QueueFull => "DeviceMaximumQueueDepthExceeded",
            ServiceError::NotFound(_) => "NotFound",
            ServiceError::PreconditionFailed => "PreconditionFailed",
            ServiceError::MessageTooLarge(_) => "MessageTooLarge",
            ServiceError::QuotaExceeded => "IotHubQuotaExceeded",
        }
    }

    /// Human-readable message.
    pub fn message(&self) -> String {
        match self {
            ServiceError::BadRequest(m)
            | ServiceError::NotFound(m)
            | ServiceError::MessageTooLarge(m) => m.clone(),
            ServiceError::PreconditionFailed => {
                "the If-Match etag does not match the resource's current etag".into()
            }
            ServiceError::QuotaExceeded => "the daily message quota is spent".into(),
            other => other.code().to_string(),
        }
    }
}

/// Connection facts for one identity.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnectionInfo {
    /// A connection is up now.
    pub connected: bool,
    /// The current (or last) connection asked for a clean session.
    pub clean_session: bool,
    /// Connections accepted since the hub started.
    pub connections: u64,
    /// Topic filters the session is subscribed to (granted), in a fixed order.
    pub subscriptions: Vec<String>,
    /// The MQTT username of the current (or last) accepted connection (carries
    /// `model-id` and `DeviceClientType`).
    pub username: Option<String>,
    /// CONNECTs refused by the connect throttle since the hub started.
    pub throttled_connects: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
enum Sub {
    C2d,
    TwinRes,
    TwinDesired,
    Methods,
    Inputs,
    /// `$iothub/methods/POST/{name}/#`: one method only.
    Method(String),
}

#[derive(Debug, Default)]
struct Session {
    subs: BTreeMap<Sub, QoS>,
    conn: Option<ConnId>,
    clean: bool,
    connections: u64,
    username: Option<String>,
}

#[derive(Debug)]
struct QueuedC2d {
    msg: C2dMessage,
    inflight: Option<(ConnId, u16)>,
    deliveries: u32,
    expires_ms: u64,
}

#[derive(Debug, Default, Clone, Copy)]
struct FaultCounters {
    withhold: u32,
    delay_ms: u64,
    delay_count: u32,
    throttle: u32,
    unavailable: u32,
}

#[derive(Debug)]
enum CallState {
    WaitingForDevice,
    Sent,
}

#[derive(Debug)]
struct PendingCall {
    identity: IdentityId,
    name: String,
    payload: Vec<u8>,
    response_timeout_ms: u64,
    deadline: u64,
    state: CallState,
}

/// The whole emulated hub.
pub struct Hub {
    config: HubConfig,
    registry: Registry,
    policies: policies::Policies,
    routing: routes::Routing,
    conns: HashMap<ConnId, Conn>,
    sessions: HashMap<IdentityId, Session>,
    c2d: HashMap<String, VecDeque<QueuedC2d>>,
    faults: HashMap<IdentityId, FaultCounters>,
    calls: BTreeMap<CallId, PendingCall>,
    telemetry: TelemetryLog,
    throttle: throttle::ConnectThrottle,
    hostile: hostile::HostileState,
    feedback: feedback::FeedbackLog,
    throttles: HashMap<IdentityId, quota::Throttle>,
    outputs: VecDeque<Output>,
    next_conn: ConnId,
    next_call: CallId,
    dirty: bool,
    /// The Device Provisioning Service (`dps*.rs`).
    dps: dps::Dps,
}

const TWIN_RES: &str = "$iothub/twin/res/#";
const TWIN_DESIRED: &str = "$iothub/twin/PATCH/properties/desired/#";
const METHODS: &str = "$iothub/methods/POST/#";
/// The protocol level of a CONNECT frame (`MQTT` protocol name), if it is one.
fn connect_level(frame: &[u8]) -> Option<u8> {
    if frame.first()? >> 4 != 1 {
        return None;
    }
    let header = 1 + frame[1..].iter().position(|b| b & 0x80 == 0)? + 1;
    match frame.get(header..header + 7)? {
        [0, 4, b'M', b'Q', b'T', b'T', level] => Some(*level),
        _ => None,
    }
}

fn encode(p: &Packet) -> Vec<u8> {
    // Packets the hub builds are checked by hubwire's encoder (string lengths,
    // packet ids); one that fails is dropped rather than sent truncated.
    codec::encode_to_vec(p).unwrap_or_default()
}

impl Hub {
    /// A hub with an empty registry.
    pub fn new(config: HubConfig) -> Hub {
        let cap = config.max_telemetry;
        Hub {
            policies: policies::Policies::with_defaults(&config.service_key),
            config,
            registry: Registry::default(),
            routing: routes::Routing::default(),
            conns: HashMap::new(),
            sessions: HashMap::new(),
            c2d: HashMap::new(),
            faults: HashMap::new(),
            calls: BTreeMap::new(),
            telemetry: TelemetryLog::new(cap),
            throttle: throttle::ConnectThrottle::default(),
            hostile: hostile::HostileState::default(),
            feedback: feedback::FeedbackLog::default(),
            throttles: HashMap::new(),
            outputs: VecDeque::new(),
            next_conn: 1,
            next_call: 1,
            dirty: false,
            dps: dps::Dps::default(),
        }
    }

    /// Hub settings.
    pub fn config(&self) -> &HubConfig {
        &self.config
    }

    /// The registry (identities and twins).
    pub fn registry(&self) -> &Registry {
        &self.registry
    }

    /// Replaces the registry (state file load).
    pub fn set_registry(&mut self, r: Registry) {
        self.registry = r;
    }

    /// Limits CONNECTs per identity (`None`, the default of a new hub: no limit).
    pub fn set_connect_throttle(&mut self, limit: Option<throttle::ConnectLimit>) {
        self.throttle.set_limit(limit);
    }

    /// True once after state the state file keeps changed (registry, twins, queued
    /// cloud-to-device messages, clean-session-0 sessions): time to persist.
    pub fn take_dirty(&mut self) -> bool {
        std::mem::take(&mut self.dirty)
    }

    /// A transport was accepted; returns its id for later calls.
    pub fn connection_opened(&mut self, now: u64) -> ConnId {
        let id = self.next_conn;
        self.next_conn += 1;
        self.conns.insert(id, Conn::new(now));
        id
    }

    /// The transport of `conn` closed (by the peer or after an [`Output::Close`]).
    pub fn connection_closed(&mut self, now: u64, conn: ConnId) {
        self.cleanup(now, conn);
    }

    /// Runs timers due at `now`: keep-alive, token expiry, delayed PUBACKs,
    /// method deadlines, cloud-to-device expiry.
    pub fn handle_timeout(&mut self, now: u64) {
        self.expire_c2d(now);
        let ids: Vec<ConnId> = self.conns.keys().copied().collect();
        for id in ids {
            let Some(c) = self.conns.get_mut(&id) else {
                continue;
            };
            let mut due = Vec::new();
            c.delayed_acks.retain(|&(t, pkid)| {
                if t <= now {
                    due.push(pkid);
                    false
                } else {
                    true
                }
            });
            for pkid in due {
                self.transmit(id, &Packet::PubAck(PubAck::new(pkid)));
            }
            let Some(c) = self.conns.get(&id) else {
                continue;
            };
            if c.closing {
                continue;
            }
            if c.token_expiry_ms.is_some_and(|t| t <= now)
                || c.keepalive_deadline().is_some_and(|t| t <= now)
            {
                self.close(now, id, true);
            }
        }
        let due: Vec<CallId> = self
            .calls
            .iter()
            .filter(|(_, c)| c.deadline <= now)
            .map(|(k, _)| *k)
            .collect();
        for id in due {
            if let Some(call) = self.calls.remove(&id) {
                let result = match call.state {
                    CallState::WaitingForDevice => MethodResult::NotOnline,
                    CallState::Sent => MethodResult::Timeout,
                };
                self.outputs
                    .push_back(Output::MethodDone { call: id, result });
            }
        }
    }

    /// The next time [`Hub::handle_timeout`] has work, if any.
    #[must_use]
    pub fn poll_timeout(&self) -> Option<u64> {
        let conns = self.conns.values().filter(|c| !c.closing).flat_map(|c| {
            [
                c.token_expiry_ms,
                c.keepalive_deadline(),
                c.delayed_acks.iter().map(|a| a.0).min(),
            ]
        });
        conns
            .flatten()
            .chain(self.calls.values().map(|c| c.deadline))
            .chain(self.next_c2d_expiry())
            .min()
    }

    /// The next thing the driver must do.
    #[must_use]
    pub fn poll_output(&mut self) -> Option<Output> {
        self.outputs.pop_front()
    }

    fn transmit(&mut self, conn: ConnId, p: &Packet) {
        self.transmit_raw(conn, encode(p));
    }

    fn transmit_raw(&mut self, conn: ConnId, bytes: Vec<u8>) {
        if !bytes.is_empty() && self.conns.get(&conn).is_some_and(|c| !c.closing) {
            self.outputs.push_back(Output::Transmit { conn, bytes });
        }
    }

    /// Ends a connection from the hub's side and forgets it.
    fn close(&mut self, now: u64, conn: ConnId, graceful: bool) {
        if let Some(c) = self.conns.get_mut(&conn) {
            if !c.closing {
                c.closing = true;
                self.outputs.push_back(Output::Close { conn, graceful });
            }
        }
        self.cleanup(now, conn);
    }

    fn cleanup(&mut self, now: u64, conn: ConnId) {
        self.dps_connection_closed(conn);
        let Some(c) = self.conns.remove(&conn) else {
            return;
        };
        let Some(identity) = c.identity.clone() else {
            return;
        };
        if let Some(s) = self.sessions.get_mut(&identity) {
            if s.conn == Some(conn) {
                s.conn = None;
                if s.clean {
                    s.subs.clear();
                }
            }
        }
        self.inputs_conn_closed(&identity, conn);
        self.c2d_connection_lost(now, &identity.device, conn);
        if !c.disconnect_seen {
            if let Some(will) = c.will {
                if let Ok(Some(t)) = hub_telemetry::parse_topic(&will.topic) {
                    if t.device_id == identity.device && t.module_id == identity.module {
                        let mut props = t.properties;
                        props.push(("iothub-MessageType".to_string(), Some("Will".to_string())));
                        self.record(
                            now,
                            &identity,
                            t.system,
                            props,
                            will.retain,
                            will.message.to_vec(),
                        );
                    }
                }
            }
        }
    }
}
