//! The hub core: everything IoT Hub does, with no IO.
//!
//! The driver feeds it bytes of WebSocket messages per connection
//! ([`Hub::handle_bytes`]), service requests (registry, twins, C2D, methods,
//! faults) and the time (`now`, milliseconds since the Unix epoch), then drains
//! [`Hub::poll_output`] (bytes to send, connections to close, method results,
//! new telemetry) and arms one timer at [`Hub::poll_timeout`].

pub mod auth;
mod conn;
pub mod props;
pub mod registry;
pub mod telemetry;
pub mod time;
pub mod twin;

use std::collections::{BTreeMap, HashMap, VecDeque};

use bytes::BytesMut;
use hubwire::mqtt::codec;
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
use hubwire::hub::{methods, telemetry as hub_telemetry, twin as hub_twin};
use registry::{IdentityId, Registry};
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
}

impl ServiceError {
    /// HTTP status IoT Hub uses for this error.
    pub fn status(&self) -> u16 {
        match self {
            ServiceError::DeviceNotFound
            | ServiceError::ModuleNotFound
            | ServiceError::DeviceNotOnline => 404,
            ServiceError::BadRequest(_) => 400,
            ServiceError::QueueFull => 403,
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
        }
    }

    /// Human-readable message.
    pub fn message(&self) -> String {
        match self {
            ServiceError::BadRequest(m) => m.clone(),
            other => other.code().to_string(),
        }
    }
}

/// A cloud-to-device message as the service sends it.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct C2dMessage {
    /// Body.
    pub payload: Vec<u8>,
    /// `$.mid`.
    pub message_id: Option<String>,
    /// `$.cid`.
    pub correlation_id: Option<String>,
    /// `$.to`; defaults to `/devices/{id}/messages/deviceBound`.
    pub to: Option<String>,
    /// `$.exp`.
    pub expiry: Option<String>,
    /// `iothub-ack`.
    pub ack: Option<String>,
    /// `$.ct`.
    pub content_type: Option<String>,
    /// `$.ce`.
    pub content_encoding: Option<String>,
    /// `$.uid`.
    pub user_id: Option<String>,
    /// Application properties, in order.
    pub properties: Vec<(String, String)>,
}

impl C2dMessage {
    /// The devicebound topic with its property bag (`hubwire::hub::c2d::topic`).
    pub fn topic(&self, device: &str) -> String {
        let system = SystemProperties {
            message_id: self.message_id.clone(),
            correlation_id: self.correlation_id.clone(),
            user_id: self.user_id.clone(),
            to: Some(
                self.to
                    .clone()
                    .unwrap_or_else(|| format!("/devices/{device}/messages/deviceBound")),
            ),
            content_type: self.content_type.clone(),
            content_encoding: self.content_encoding.clone(),
            expiry: self.expiry.clone(),
            ..SystemProperties::default()
        };
        let mut props: Vec<(String, Option<String>)> = Vec::new();
        if let Some(a) = &self.ack {
            props.push(("iothub-ack".into(), Some(a.clone())));
        }
        props.extend(
            self.properties
                .iter()
                .map(|(k, v)| (k.clone(), Some(v.clone()))),
        );
        hubwire::hub::c2d::topic(device, &system, &props)
    }
}

/// Malformed packets the hub can send to test a client's framer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MalformedVariant {
    /// A PUBLISH whose remaining length runs past four bytes.
    BadRemainingLength,
    /// A PUBLISH header announcing 128 MiB, followed by a few bytes only.
    Oversized,
    /// A well-formed SUBSCRIBE, which a server never sends to a client.
    UnexpectedType,
}

/// A fault to inject into one identity's connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// Close the connection with a WebSocket close frame.
    Drop,
    /// Drop the transport with no close frame.
    CloseWithoutDisconnect,
    /// Process but never acknowledge the next `count` QoS 1 publishes.
    WithholdPuback {
        /// How many.
        count: u32,
    },
    /// Acknowledge the next `count` QoS 1 publishes `ms` late.
    DelayPuback {
        /// Delay.
        ms: u64,
        /// How many.
        count: u32,
    },
    /// Treat the connection's token as expired now (the hub closes it).
    ExpireToken,
    /// Answer the next `count` twin requests with 429.
    TwinThrottle {
        /// How many.
        count: u32,
    },
    /// Send a malformed packet.
    Malformed(MalformedVariant),
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
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
enum Sub {
    C2d,
    TwinRes,
    TwinDesired,
    Methods,
}

#[derive(Debug, Default)]
struct Session {
    subs: BTreeMap<Sub, QoS>,
    conn: Option<ConnId>,
    clean: bool,
    connections: u64,
}

#[derive(Debug)]
struct QueuedC2d {
    msg: C2dMessage,
    inflight: Option<(ConnId, u16)>,
    deliveries: u32,
}

#[derive(Debug, Default, Clone, Copy)]
struct FaultCounters {
    withhold: u32,
    delay_ms: u64,
    delay_count: u32,
    throttle: u32,
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
    conns: HashMap<ConnId, Conn>,
    sessions: HashMap<IdentityId, Session>,
    c2d: HashMap<String, VecDeque<QueuedC2d>>,
    faults: HashMap<IdentityId, FaultCounters>,
    calls: BTreeMap<CallId, PendingCall>,
    telemetry: TelemetryLog,
    outputs: VecDeque<Output>,
    next_conn: ConnId,
    next_call: CallId,
    dirty: bool,
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
            config,
            registry: Registry::default(),
            conns: HashMap::new(),
            sessions: HashMap::new(),
            c2d: HashMap::new(),
            faults: HashMap::new(),
            calls: BTreeMap::new(),
            telemetry: TelemetryLog::new(cap),
            outputs: VecDeque::new(),
            next_conn: 1,
            next_call: 1,
            dirty: false,
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

    /// True once after the registry or a twin changed: time to persist.
    pub fn take_dirty(&mut self) -> bool {
        std::mem::take(&mut self.dirty)
    }

    // ---------------------------------------------------------------- device side

    /// A transport was accepted; returns its id for later calls.
    pub fn connection_opened(&mut self, now: u64) -> ConnId {
        let id = self.next_conn;
        self.next_conn += 1;
        self.conns.insert(id, Conn::new(now));
        id
    }

    /// Bytes of one binary WebSocket message from `conn`.
    pub fn handle_bytes(&mut self, now: u64, conn: ConnId, data: &[u8]) {
        let mut input = data;
        loop {
            let Some(c) = self.conns.get_mut(&conn) else {
                return;
            };
            if c.closing {
                return;
            }
            c.last_rx = now;
            // hubwire's framer checks the announced size before buffering;
            // its decoder guards mqttbytes (reserved flags, exact lengths).
            let frame = match c.framer.next_frame(&mut input) {
                Ok(Some(f)) => f,
                Ok(None) => return,
                Err(_) => return self.close(now, conn, false),
            };
            let level = (!c.connect_seen).then(|| connect_level(&frame)).flatten();
            match codec::decode(frame) {
                Ok(p) => self.handle_packet(now, conn, p),
                Err(_) if level.is_some_and(|l| l != 4) => {
                    let refuse = ConnAck::new(ConnectReturnCode::RefusedProtocolVersion, false);
                    self.transmit(conn, &Packet::ConnAck(refuse));
                    return self.close(now, conn, true);
                }
                Err(_) => return self.close(now, conn, false),
            }
        }
    }

    /// The transport of `conn` closed (by the peer or after an [`Output::Close`]).
    pub fn connection_closed(&mut self, now: u64, conn: ConnId) {
        self.cleanup(now, conn);
    }

    /// Runs timers due at `now`: keep-alive, token expiry, delayed PUBACKs, method deadlines.
    pub fn handle_timeout(&mut self, now: u64) {
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
        if let Some(q) = self.c2d.get_mut(&identity.device) {
            for m in q.iter_mut() {
                if m.inflight.is_some_and(|(cid, _)| cid == conn) {
                    m.inflight = None;
                }
            }
        }
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

    fn handle_packet(&mut self, now: u64, conn: ConnId, p: Packet) {
        let Some(c) = self.conns.get(&conn) else {
            return;
        };
        if c.closing {
            return;
        }
        let identity = c.identity.clone();
        match (p, identity) {
            (Packet::Connect(connect), None) if !c.connect_seen => {
                self.handle_connect(now, conn, connect)
            }
            (Packet::Publish(p), Some(id)) => self.handle_publish(now, conn, &id, p),
            (Packet::PubAck(ack), Some(id)) => {
                if let Some(q) = self.c2d.get_mut(&id.device) {
                    q.retain(|m| m.inflight != Some((conn, ack.pkid)));
                }
                if let Some(c) = self.conns.get_mut(&conn) {
                    c.inflight.remove(&ack.pkid);
                }
            }
            (Packet::Subscribe(s), Some(id)) => {
                let mut codes = Vec::new();
                let mut added = Vec::new();
                for f in &s.filters {
                    match sub_kind(&id, &f.path) {
                        Some(kind) => {
                            let q = if f.qos == QoS::AtMostOnce {
                                QoS::AtMostOnce
                            } else {
                                QoS::AtLeastOnce
                            };
                            added.push((kind, q));
                            codes.push(SubscribeReasonCode::Success(q));
                        }
                        None => codes.push(SubscribeReasonCode::Failure),
                    }
                }
                let session = self.sessions.entry(id.clone()).or_default();
                for (k, q) in &added {
                    session.subs.insert(*k, *q);
                }
                self.transmit(conn, &Packet::SubAck(SubAck::new(s.pkid, codes)));
                if added.iter().any(|(k, _)| *k == Sub::C2d) {
                    self.deliver_c2d(&id.device);
                }
                if added.iter().any(|(k, _)| *k == Sub::Methods) {
                    self.deliver_calls(now, &id);
                }
            }
            (Packet::Unsubscribe(u), Some(id)) => {
                if let Some(session) = self.sessions.get_mut(&id) {
                    for t in &u.topics {
                        if let Some(kind) = sub_kind(&id, t) {
                            session.subs.remove(&kind);
                        }
                    }
                }
                self.transmit(conn, &Packet::UnsubAck(UnsubAck::new(u.pkid)));
            }
            (Packet::PingReq, Some(_)) => self.transmit(conn, &Packet::PingResp),
            (Packet::Disconnect, Some(_)) => {
                if let Some(c) = self.conns.get_mut(&conn) {
                    c.disconnect_seen = true;
                }
                self.close(now, conn, true);
            }
            // Anything before CONNECT, a second CONNECT, QoS 2 flow packets and
            // server-to-client packets are protocol violations: IoT Hub closes.
            _ => self.close(now, conn, false),
        }
    }

    fn refuse(&mut self, now: u64, conn: ConnId, code: ConnectReturnCode) {
        self.transmit(conn, &Packet::ConnAck(ConnAck::new(code, false)));
        self.close(now, conn, true);
    }

    fn handle_connect(&mut self, now: u64, conn: ConnId, connect: v4::Connect) {
        if let Some(c) = self.conns.get_mut(&conn) {
            c.connect_seen = true;
        }
        if connect.protocol != mqttbytes::Protocol::V4 {
            return self.refuse(now, conn, ConnectReturnCode::RefusedProtocolVersion);
        }
        if connect.client_id.is_empty() {
            return self.refuse(now, conn, ConnectReturnCode::BadClientId);
        }
        let identity = IdentityId::from_client_id(&connect.client_id);
        let Some(login) = &connect.login else {
            return self.refuse(now, conn, ConnectReturnCode::BadUserNamePassword);
        };
        if !auth::username_matches(&login.username, &self.config.host_name, &connect.client_id) {
            return self.refuse(now, conn, ConnectReturnCode::BadUserNamePassword);
        }
        let token = match SasToken::parse(&login.password) {
            Ok(t) => t,
            Err(_) => return self.refuse(now, conn, ConnectReturnCode::BadUserNamePassword),
        };
        let Some(record) = self.registry.get(&identity) else {
            return self.refuse(now, conn, ConnectReturnCode::NotAuthorized);
        };
        let host = self.config.host_name.clone();
        let verified = match token.key_name() {
            None => {
                token.names(&host, &identity.resource_path())
                    && token
                        .verify(&[&record.primary_key, &record.secondary_key], now)
                        .is_ok()
            }
            Some(SERVICE_POLICY) => {
                (token.names(&host, "") || token.names(&host, &identity.resource_path()))
                    && token.verify(&[&self.config.service_key], now).is_ok()
            }
            Some(_) => false,
        };
        if !verified {
            return self.refuse(now, conn, ConnectReturnCode::NotAuthorized);
        }
        if !record.enabled {
            return self.refuse(now, conn, ConnectReturnCode::ServiceUnavailable);
        }

        // One connection per identity: the newest wins.
        if let Some(old) = self.sessions.get(&identity).and_then(|s| s.conn) {
            self.close(now, old, true);
        }
        let session = self.sessions.entry(identity.clone()).or_default();
        let session_present = !connect.clean_session && session.connections > 0 && !session.clean;
        if connect.clean_session {
            session.subs.clear();
            self.c2d.remove(&identity.device);
        } else if session.clean {
            session.subs.clear();
        }
        session.clean = connect.clean_session;
        session.conn = Some(conn);
        session.connections += 1;
        if let Some(c) = self.conns.get_mut(&conn) {
            c.identity = Some(identity.clone());
            c.keep_alive_ms = u64::from(connect.keep_alive) * 1000;
            c.token_expiry_ms = Some(token.expiry().saturating_mul(1000));
            c.will = connect.last_will;
            c.clean = connect.clean_session;
        }
        self.transmit(
            conn,
            &Packet::ConnAck(ConnAck::new(ConnectReturnCode::Success, session_present)),
        );
        self.deliver_c2d(&identity.device);
        self.deliver_calls(now, &identity);
    }

    fn handle_publish(&mut self, now: u64, conn: ConnId, id: &IdentityId, p: Publish) {
        if p.qos == QoS::ExactlyOnce {
            // IoT Hub does not support QoS 2 and closes the connection.
            return self.close(now, conn, false);
        }
        match hub_telemetry::parse_topic(&p.topic) {
            Ok(Some(t)) if t.device_id == id.device && t.module_id == id.module => {
                if p.payload.len() > MAX_MESSAGE_BYTES {
                    return self.close(now, conn, false);
                }
                self.record(
                    now,
                    id,
                    t.system,
                    t.properties,
                    p.retain,
                    p.payload.to_vec(),
                );
                if p.qos == QoS::AtLeastOnce {
                    self.ack(now, conn, id, p.pkid);
                }
                return;
            }
            // Another identity's topic, or a bag that does not decode: IoT Hub disconnects.
            Ok(Some(_)) | Err(_) => return self.close(now, conn, false),
            Ok(None) => {}
        }
        match hub_twin::parse_request_topic(&p.topic) {
            Ok(Some(hub_twin::TwinRequest::Get { rid })) => {
                self.ack_if_qos1(now, conn, id, &p);
                if self.throttled(id) {
                    return self.twin_response(conn, id, 429, &rid, None, Vec::new());
                }
                let body = self
                    .registry
                    .get(id)
                    .map(|r| r.twin.document().to_string())
                    .unwrap_or_default();
                return self.twin_response(conn, id, 200, &rid, None, body.into_bytes());
            }
            Ok(Some(hub_twin::TwinRequest::PatchReported { rid })) => {
                self.ack_if_qos1(now, conn, id, &p);
                if self.throttled(id) {
                    return self.twin_response(conn, id, 429, &rid, None, Vec::new());
                }
                let result = self
                    .registry
                    .get_mut(id)
                    .map(|r| r.twin.patch_reported(&p.payload));
                return match result {
                    Some(Ok(v)) => {
                        self.dirty = true;
                        self.twin_response(conn, id, 204, &rid, Some(v), Vec::new())
                    }
                    _ => {
                        let body = br#"{"errorCode":400004,"message":"reported patch must be a JSON object"}"#;
                        self.twin_response(conn, id, 400, &rid, None, body.to_vec())
                    }
                };
            }
            Err(_) => return self.close(now, conn, false),
            Ok(None) => {}
        }
        match methods::parse_response_topic(&p.topic) {
            Ok(Some((status, rid))) => {
                self.ack_if_qos1(now, conn, id, &p);
                let found = self.calls.iter().find_map(|(k, c)| {
                    (matches!(c.state, CallState::Sent) && &c.identity == id && rid == call_rid(*k))
                        .then_some(*k)
                });
                if let Some(k) = found {
                    self.calls.remove(&k);
                    let result = MethodResult::Response {
                        status,
                        payload: p.payload.to_vec(),
                    };
                    self.outputs
                        .push_back(Output::MethodDone { call: k, result });
                }
                return;
            }
            Err(_) => return self.close(now, conn, false),
            Ok(None) => {}
        }
        // A topic the identity may not publish to: IoT Hub disconnects.
        self.close(now, conn, false);
    }

    fn ack_if_qos1(&mut self, now: u64, conn: ConnId, id: &IdentityId, p: &Publish) {
        if p.qos == QoS::AtLeastOnce {
            self.ack(now, conn, id, p.pkid);
        }
    }

    fn ack(&mut self, now: u64, conn: ConnId, id: &IdentityId, pkid: u16) {
        let f = self.faults.entry(id.clone()).or_default();
        if f.withhold > 0 {
            f.withhold -= 1;
            return;
        }
        if f.delay_count > 0 {
            f.delay_count -= 1;
            let due = now + f.delay_ms;
            if let Some(c) = self.conns.get_mut(&conn) {
                c.delayed_acks.push((due, pkid));
            }
            return;
        }
        self.transmit(conn, &Packet::PubAck(PubAck::new(pkid)));
    }

    fn throttled(&mut self, id: &IdentityId) -> bool {
        let f = self.faults.entry(id.clone()).or_default();
        if f.throttle > 0 {
            f.throttle -= 1;
            true
        } else {
            false
        }
    }

    fn subscribed(&self, id: &IdentityId, kind: Sub) -> Option<(ConnId, QoS)> {
        let s = self.sessions.get(id)?;
        Some((s.conn?, *s.subs.get(&kind)?))
    }

    fn twin_response(
        &mut self,
        conn: ConnId,
        id: &IdentityId,
        status: u16,
        rid: &str,
        version: Option<u64>,
        body: Vec<u8>,
    ) {
        if self.subscribed(id, Sub::TwinRes).is_none() {
            return;
        }
        let topic = hub_twin::response_topic(status, rid, version);
        self.transmit(
            conn,
            &Packet::Publish(Publish::new(topic, QoS::AtMostOnce, body)),
        );
    }

    fn record(
        &mut self,
        now: u64,
        id: &IdentityId,
        system: SystemProperties,
        mut properties: PropertyBag,
        retain: bool,
        body: Vec<u8>,
    ) {
        if retain {
            properties.push(("x-opt-retain".into(), Some("true".into())));
        }
        let seq = self.telemetry.push(TelemetryRecord {
            seq: 0,
            device_id: id.device.clone(),
            module_id: id.module.clone(),
            enqueued_ms: now,
            system: telemetry::system_list(&system),
            properties,
            body,
        });
        self.outputs.push_back(Output::Telemetry { seq });
    }

    fn deliver_c2d(&mut self, device: &str) {
        let id = IdentityId::device(device);
        let Some((conn, qos)) = self.subscribed(&id, Sub::C2d) else {
            return;
        };
        let Some(queue) = self.c2d.get_mut(device) else {
            return;
        };
        let Some(c) = self.conns.get_mut(&conn) else {
            return;
        };
        let mut out = Vec::new();
        for m in queue.iter_mut().filter(|m| m.inflight.is_none()) {
            let topic = m.msg.topic(device);
            let mut p = Publish::new(topic, qos, m.msg.payload.clone());
            if qos == QoS::AtLeastOnce {
                let pkid = c.next_pkid();
                p.pkid = pkid;
                p.dup = m.deliveries > 0;
                m.inflight = Some((conn, pkid));
                c.inflight.insert(pkid);
            }
            m.deliveries += 1;
            out.push(p);
        }
        if qos == QoS::AtMostOnce {
            queue.clear();
        }
        for p in out {
            self.transmit(conn, &Packet::Publish(p));
        }
    }

    fn deliver_calls(&mut self, now: u64, id: &IdentityId) {
        let Some((conn, _)) = self.subscribed(id, Sub::Methods) else {
            return;
        };
        let mut out = Vec::new();
        for (k, c) in self.calls.iter_mut() {
            if &c.identity == id && matches!(c.state, CallState::WaitingForDevice) {
                c.state = CallState::Sent;
                c.deadline = now + c.response_timeout_ms;
                let topic = methods::request_topic(&c.name, &call_rid(*k));
                out.push(Publish::new(topic, QoS::AtMostOnce, c.payload.clone()));
            }
        }
        for p in out {
            self.transmit(conn, &Packet::Publish(p));
        }
    }

    // ---------------------------------------------------------------- service side

    /// Creates or updates an identity; `fresh` keys are used when creating without keys.
    pub fn put_identity(
        &mut self,
        now: u64,
        id: &IdentityId,
        enabled: Option<bool>,
        keys: Option<(String, String)>,
        fresh: (String, String),
    ) -> Result<Value, ServiceError> {
        if let Some(m) = &id.module {
            if self.registry.get(&IdentityId::device(&id.device)).is_none() {
                return Err(ServiceError::DeviceNotFound);
            }
            if m.is_empty() {
                return Err(ServiceError::BadRequest("empty module id".into()));
            }
        }
        if id.device.is_empty() || id.device.contains('/') {
            return Err(ServiceError::BadRequest("invalid device id".into()));
        }
        self.registry.put(now, id, enabled, keys, fresh);
        self.dirty = true;
        if enabled == Some(false) {
            if let Some(conn) = self.sessions.get(id).and_then(|s| s.conn) {
                self.close(now, conn, true);
            }
        }
        self.identity_json(id)
    }

    /// An identity as the service API shows it.
    pub fn identity_json(&self, id: &IdentityId) -> Result<Value, ServiceError> {
        let r = self.registry.get(id).ok_or_else(|| not_found(id))?;
        let count = self.c2d.get(&id.device).map_or(0, VecDeque::len);
        Ok(r.to_json(self.is_connected(id), count))
    }

    /// All devices, or the modules of one device.
    pub fn list_json(&self, modules_of: Option<&str>) -> Result<Value, ServiceError> {
        let list: Vec<Value> = match modules_of {
            None => self
                .registry
                .devices()
                .filter_map(|i| self.identity_json(&i.id).ok())
                .collect(),
            Some(d) => {
                if self.registry.get(&IdentityId::device(d)).is_none() {
                    return Err(ServiceError::DeviceNotFound);
                }
                self.registry
                    .modules(d)
                    .filter_map(|i| self.identity_json(&i.id).ok())
                    .collect()
            }
        };
        Ok(Value::Array(list))
    }

    /// Deletes an identity (a device takes its modules along), closing connections.
    pub fn delete_identity(&mut self, now: u64, id: &IdentityId) -> Result<(), ServiceError> {
        if self.registry.get(id).is_none() {
            return Err(not_found(id));
        }
        for gone in self.registry.remove(id) {
            if let Some(conn) = self.sessions.remove(&gone).and_then(|s| s.conn) {
                self.close(now, conn, true);
            }
            self.faults.remove(&gone);
            if gone.module.is_none() {
                self.c2d.remove(&gone.device);
            }
        }
        self.dirty = true;
        Ok(())
    }

    /// The twin as the service API shows it.
    pub fn twin_json(&self, id: &IdentityId) -> Result<Value, ServiceError> {
        let r = self.registry.get(id).ok_or_else(|| not_found(id))?;
        Ok(r.twin_json(self.is_connected(id)))
    }

    /// Applies `{properties: {desired: {...}}, tags: {...}}` and pushes the desired
    /// patch to the device if it is connected and subscribed.
    pub fn patch_twin(
        &mut self,
        _now: u64,
        id: &IdentityId,
        body: &Value,
    ) -> Result<Value, ServiceError> {
        let bad = || ServiceError::BadRequest("expected {properties: {desired: {...}}}".into());
        let body = body.as_object().ok_or_else(bad)?;
        let desired = match body.get("properties").and_then(|p| p.get("desired")) {
            None | Some(Value::Null) => None,
            Some(Value::Object(d)) => {
                let mut d = d.clone();
                d.retain(|k, _| !k.starts_with('$'));
                Some(d)
            }
            Some(_) => return Err(bad()),
        };
        let tags = match body.get("tags") {
            None | Some(Value::Null) => None,
            Some(Value::Object(t)) => Some(t.clone()),
            Some(_) => return Err(bad()),
        };
        let r = self.registry.get_mut(id).ok_or_else(|| not_found(id))?;
        if let Some(t) = tags {
            r.twin.patch_tags(&t);
        }
        let pushed = desired.map(|d| {
            let v = r.twin.patch_desired(&d);
            (twin::with_version(&d, v), v)
        });
        self.dirty = true;
        if let Some((patch, v)) = pushed {
            if let Some((conn, _)) = self.subscribed(id, Sub::TwinDesired) {
                let topic = hub_twin::desired_topic(v);
                self.transmit(
                    conn,
                    &Packet::Publish(Publish::new(topic, QoS::AtMostOnce, patch.to_string())),
                );
            }
        }
        self.twin_json(id)
    }

    /// Queues a cloud-to-device message and delivers it if the device listens.
    pub fn send_c2d(&mut self, device: &str, msg: C2dMessage) -> Result<(), ServiceError> {
        if self.registry.get(&IdentityId::device(device)).is_none() {
            return Err(ServiceError::DeviceNotFound);
        }
        if msg.topic(device).len() > usize::from(u16::MAX) {
            return Err(ServiceError::BadRequest(
                "message properties too long for an MQTT topic".into(),
            ));
        }
        let q = self.c2d.entry(device.to_string()).or_default();
        if q.len() >= MAX_C2D_QUEUE {
            return Err(ServiceError::QueueFull);
        }
        q.push_back(QueuedC2d {
            msg,
            inflight: None,
            deliveries: 0,
        });
        self.deliver_c2d(device);
        Ok(())
    }

    /// Messages waiting (including in flight) for a device.
    pub fn c2d_pending(&self, device: &str) -> usize {
        self.c2d.get(device).map_or(0, VecDeque::len)
    }

    /// Starts a direct method call; the result arrives as [`Output::MethodDone`].
    /// A device that is offline with `connect_timeout_ms == 0` is refused at once.
    pub fn invoke_method(
        &mut self,
        now: u64,
        id: &IdentityId,
        name: &str,
        payload: Vec<u8>,
        response_timeout_ms: u64,
        connect_timeout_ms: u64,
    ) -> Result<CallId, ServiceError> {
        if self.registry.get(id).is_none() {
            return Err(not_found(id));
        }
        if name.is_empty() || name.contains('/') {
            return Err(ServiceError::BadRequest("invalid methodName".into()));
        }
        let online = self.subscribed(id, Sub::Methods).is_some();
        if !online && connect_timeout_ms == 0 {
            return Err(ServiceError::DeviceNotOnline);
        }
        let call = self.next_call;
        self.next_call += 1;
        self.calls.insert(
            call,
            PendingCall {
                identity: id.clone(),
                name: name.to_string(),
                payload,
                response_timeout_ms,
                deadline: now + connect_timeout_ms,
                state: CallState::WaitingForDevice,
            },
        );
        self.deliver_calls(now, id);
        Ok(call)
    }

    /// Telemetry after `after`, as `{items, next}`.
    pub fn telemetry_json(&self, after: u64, device: Option<&str>, limit: usize) -> Value {
        let (items, next) = self.telemetry.query(after, device, limit);
        serde_json::json!({ "items": items.iter().map(|r| r.to_json()).collect::<Vec<_>>(), "next": next })
    }

    /// The seq the next telemetry record will get.
    pub fn telemetry_next_seq(&self) -> u64 {
        self.telemetry.next_seq()
    }

    /// Connection facts for an identity.
    pub fn connection_info(&self, id: &IdentityId) -> Result<ConnectionInfo, ServiceError> {
        if self.registry.get(id).is_none() {
            return Err(not_found(id));
        }
        let s = self.sessions.get(id);
        Ok(ConnectionInfo {
            connected: self.is_connected(id),
            clean_session: s.is_some_and(|s| s.clean),
            connections: s.map_or(0, |s| s.connections),
            subscriptions: s.map_or_else(Vec::new, |s| {
                s.subs.keys().map(|k| sub_filter(id, *k)).collect()
            }),
        })
    }

    fn is_connected(&self, id: &IdentityId) -> bool {
        self.sessions.get(id).is_some_and(|s| s.conn.is_some())
    }

    /// Injects a fault. Immediate faults need a connection (else `DeviceNotOnline`);
    /// counted faults apply to the next requests, connected or not.
    pub fn inject_fault(
        &mut self,
        now: u64,
        id: &IdentityId,
        fault: Fault,
    ) -> Result<(), ServiceError> {
        if self.registry.get(id).is_none() {
            return Err(not_found(id));
        }
        let conn = self.sessions.get(id).and_then(|s| s.conn);
        let f = self.faults.entry(id.clone()).or_default();
        match fault {
            Fault::WithholdPuback { count } => f.withhold = count,
            Fault::DelayPuback { ms, count } => {
                f.delay_ms = ms;
                f.delay_count = count;
            }
            Fault::TwinThrottle { count } => f.throttle = count,
            Fault::Drop
            | Fault::CloseWithoutDisconnect
            | Fault::ExpireToken
            | Fault::Malformed(_) => {
                let conn = conn.ok_or(ServiceError::DeviceNotOnline)?;
                match fault {
                    Fault::Drop => self.close(now, conn, true),
                    Fault::CloseWithoutDisconnect => self.close(now, conn, false),
                    Fault::ExpireToken => {
                        if let Some(c) = self.conns.get_mut(&conn) {
                            c.token_expiry_ms = Some(now);
                        }
                        self.handle_timeout(now);
                    }
                    Fault::Malformed(v) => self.transmit_raw(conn, malformed_bytes(v)),
                    _ => {}
                }
            }
        }
        Ok(())
    }
}

fn not_found(id: &IdentityId) -> ServiceError {
    if id.module.is_some() {
        ServiceError::ModuleNotFound
    } else {
        ServiceError::DeviceNotFound
    }
}

/// The `$rid` a call is sent with.
fn call_rid(call: CallId) -> String {
    format!("{call:x}")
}

fn sub_filter(id: &IdentityId, kind: Sub) -> String {
    match kind {
        Sub::C2d => format!("devices/{}/messages/devicebound/#", id.device),
        Sub::TwinRes => TWIN_RES.to_string(),
        Sub::TwinDesired => TWIN_DESIRED.to_string(),
        Sub::Methods => METHODS.to_string(),
    }
}

fn sub_kind(id: &IdentityId, filter: &str) -> Option<Sub> {
    match filter {
        TWIN_RES => Some(Sub::TwinRes),
        TWIN_DESIRED => Some(Sub::TwinDesired),
        METHODS => Some(Sub::Methods),
        f if id.module.is_none()
            && f == format!("devices/{}/messages/devicebound/#", id.device) =>
        {
            Some(Sub::C2d)
        }
        _ => None,
    }
}

/// The bytes of one malformed-packet variant.
pub fn malformed_bytes(v: MalformedVariant) -> Vec<u8> {
    match v {
        MalformedVariant::BadRemainingLength => vec![0x30, 0xFF, 0xFF, 0xFF, 0xFF, 0x01],
        MalformedVariant::Oversized => {
            // remaining length 128 MiB = 0x0800_0000: 0x80 0x80 0x80 0x40
            let mut b = vec![0x30, 0x80, 0x80, 0x80, 0x40, 0x00, 0x01, b'x'];
            b.extend_from_slice(&[0u8; 56]);
            b
        }
        MalformedVariant::UnexpectedType => encode_subscribe(),
    }
}

fn encode_subscribe() -> Vec<u8> {
    let mut b = BytesMut::new();
    let _ = v4::Subscribe::new("x", QoS::AtMostOnce).write(&mut b);
    b.to_vec()
}

/// Parses `{kind: ..}` fault bodies of the service API.
pub fn parse_fault(v: &Value) -> Result<Fault, ServiceError> {
    let bad = |m: &str| ServiceError::BadRequest(m.to_string());
    let count = || {
        v.get("count")
            .and_then(Value::as_u64)
            .map(|c| c.min(u64::from(u32::MAX)) as u32)
            .unwrap_or(1)
    };
    Ok(match v.get("kind").and_then(Value::as_str) {
        Some("drop") => Fault::Drop,
        Some("closeWithoutDisconnect") => Fault::CloseWithoutDisconnect,
        Some("withholdPuback") => Fault::WithholdPuback { count: count() },
        Some("delayPuback") => Fault::DelayPuback {
            ms: v
                .get("ms")
                .and_then(Value::as_u64)
                .ok_or_else(|| bad("delayPuback needs ms"))?,
            count: count(),
        },
        Some("expireToken") => Fault::ExpireToken,
        Some("twinThrottle") => Fault::TwinThrottle { count: count() },
        Some("malformed") => Fault::Malformed(match v.get("variant").and_then(Value::as_str) {
            Some("badRemainingLength") => MalformedVariant::BadRemainingLength,
            Some("oversized") => MalformedVariant::Oversized,
            Some("unexpectedType") => MalformedVariant::UnexpectedType,
            _ => {
                return Err(bad(
                    "variant must be badRemainingLength, oversized or unexpectedType",
                ))
            }
        }),
        _ => return Err(bad("unknown fault kind")),
    })
}

/// Reads `{properties: {desired}}`-style objects from JSON text.
pub fn parse_json(body: &[u8]) -> Result<Value, ServiceError> {
    serde_json::from_slice(body).map_err(|e| ServiceError::BadRequest(format!("invalid JSON: {e}")))
}
