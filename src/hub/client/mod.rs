//! The device client core: IoT Hub semantics over [`crate::mqtt::Session`], sans-IO.
//!
//! Drive it like quinn-proto: after every input (`connect`, `transport_opened`,
//! `transport_failed`, `handle_bytes`, `handle_timeout`, `connection_lost`,
//! `set_token`, `token_failed`, a command) drain [`Client::poll_transmit`] →
//! [`Client::poll_event`] → [`Client::poll_timeout`]. Every `now` is
//! **milliseconds since the Unix epoch** (the shell's `Date.now()`): SAS expiry
//! times derive from it.
//!
//! Where each decision lives:
//!
//! | file | decides |
//! |---|---|
//! | `config.rs` | identity, endpoint URL, every knob and its default |
//! | `connect.rs` | connecting: attempts, deadlines, retry or stop, failure classification, token renewal |
//! | `queue.rs` | the offline queue and the QoS 1 window |
//! | `twin_requests.rs` | twin GET/PATCH by `$rid`: deadlines, 429/5xx retries, desired `$version` |
//! | `incoming.rs` | subscriptions on demand; C2D, method calls and their answers |
//! | `events.rs` | what the client reports |
//! | `token_expiry.rs` | a provider token's real expiry (`se`) and when to renew it |
//! | `will.rs` | the last will in CONNECT |

use crate::prelude::*;

mod config;
mod connect;
mod events;
mod incoming;
mod queue;
mod token_expiry;
mod twin_requests;
mod will;

pub use config::{
    Auth, ClientConfig, DEFAULT_ATTEMPT_TIMEOUT_MS, DEFAULT_CONNECT_TIMEOUT_MS,
    DEFAULT_OPERATION_TIMEOUT_MS, DEFAULT_QUEUE_MAX_BYTES, DEFAULT_QUEUE_MAX_MESSAGES,
    DEFAULT_REQUEST_RETRIES, MAX_KEEP_ALIVE_SECS, NO_CLIENT_CERT_QUERY, STABLE_CONNECTION_MS,
};
pub use events::{C2dMessage, ConnectionState, HubEvent, OpId, OpResult};

use super::connection_string::Secret;
use super::error::Error;
use super::retry::Rng;
use crate::mqtt::{self, Session};
use crate::text::u64_string;
use connect::ConnectRequest;
use incoming::Feature;
use queue::OfflineQueue;
use twin_requests::TwinTable;

/// Where the connection stands. Deadlines are absolute (ms since the epoch).
#[derive(Clone, Debug, PartialEq)]
enum Phase {
    /// Not connected and not trying (initial, or after a fatal error).
    Idle,
    /// Waiting for `set_token` (token-provider mode).
    WaitingToken,
    /// `OpenTransport` emitted; waiting for `transport_opened` until the attempt deadline.
    Opening { deadline: u64 },
    /// CONNECT queued; waiting for CONNACK until the same attempt deadline.
    Connecting { deadline: u64 },
    /// CONNACK accepted.
    Connected,
    /// Waiting to reconnect at `until`.
    Backoff { until: u64 },
    /// `disconnect` was called.
    Closed,
}

/// The earlier of two optional deadlines.
fn earliest(a: Option<u64>, b: Option<u64>) -> Option<u64> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

/// The IoT Hub device client core. See the module docs and docs/core-api.md.
#[derive(Debug)]
pub struct Client {
    config: ClientConfig,
    session: Session,
    phase: Phase,
    events: Vec<HubEvent>,
    rng: Rng,
    next_op: u64,
    next_rid: u64,
    /// Current token and its expiry (seconds).
    token: Option<(Secret, u64)>,
    /// Provider mode: renew the current token no earlier than this (ms; 0 = no floor).
    renew_floor_ms: u64,
    /// Provider mode: a renewal was asked for while connected.
    renewal_requested: bool,
    ever_connected: bool,
    /// Failed attempts and short-lived connections since the last connection that
    /// lasted [`STABLE_CONNECTION_MS`] (the backoff step).
    attempt: u32,
    /// When the current connection's CONNACK arrived.
    connected_at: u64,
    /// The app's pending `connect()` request, if any.
    request: Option<ConnectRequest>,
    enabled: Vec<Feature>,
    /// SUBSCRIBE pkid → features it carries.
    pending_subs: Vec<(u16, Vec<Feature>)>,
    twin_ready: bool,
    queue: OfflineQueue,
    /// QoS 1 pkid → the telemetry op it carries, oldest first (PUBACKs come in order).
    inflight: Vec<(u16, OpId)>,
    twin_requests: TwinTable,
    last_desired_version: Option<u64>,
    /// Method calls not yet answered: rid, the connection generation they arrived
    /// on, and when they stop being open (incoming.rs `respond_method`).
    open_methods: Vec<(String, u64, u64)>,
    /// Incremented at every accepted CONNACK.
    conn_gen: u64,
}

impl Client {
    /// A client in state `Disconnected`. Fails if the configuration is inconsistent.
    pub fn new(config: ClientConfig, now: u64) -> Result<Client, Error> {
        let _ = now;
        config.validate()?;
        let mut mc = config.session_config();
        if let Some(w) = &config.will {
            mc.will = Some(will::mqtt_will(&config, w)?);
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
            events: Vec::new(),
            next_op: 1,
            token,
            renew_floor_ms: 0,
            renewal_requested: false,
            ever_connected: false,
            attempt: 0,
            connected_at: 0,
            request: None,
            enabled: Vec::new(),
            pending_subs: Vec::new(),
            twin_ready: false,
            queue: OfflineQueue::default(),
            inflight: Vec::new(),
            twin_requests: TwinTable::default(),
            last_desired_version: None,
            open_methods: Vec::new(),
            conn_gen: 0,
        })
    }

    /// The configuration.
    pub fn config(&self) -> &ClientConfig {
        &self.config
    }

    // ----- inputs (connection inputs are in connect.rs) -----

    /// Bytes of one WebSocket message (any split or coalescing of packets).
    pub fn handle_bytes(&mut self, now: u64, data: &[u8]) {
        if !matches!(self.phase, Phase::Connecting { .. } | Phase::Connected) {
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
        self.connect_timers(now);
        self.twin_timers(now);
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
        (!self.events.is_empty()).then(|| self.events.remove(0))
    }

    /// Every queued event at once, oldest first (what `poll_event` would return).
    #[must_use]
    pub fn take_events(&mut self) -> Vec<HubEvent> {
        core::mem::take(&mut self.events)
    }

    /// When `handle_timeout` should next be called.
    #[must_use]
    pub fn poll_timeout(&self) -> Option<u64> {
        let mut t = earliest(self.session.poll_timeout(), self.connect_timeout());
        for r in self.twin_requests.requests() {
            t = earliest(t, Some(r.deadline));
            if self.twin_ready {
                t = earliest(t, r.send_at);
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
        let rid = u64_string(self.next_rid);
        self.next_rid = self.next_rid.wrapping_add(1);
        rid
    }

    fn complete(&mut self, op: OpId, result: Result<OpResult, Error>) {
        self.events.push(HubEvent::Completed { op, result });
    }

    /// Fails every in-flight and queued message and every twin request with `reason`.
    fn fail_pending(&mut self, reason: &Error) {
        for (_, op) in core::mem::take(&mut self.inflight) {
            self.complete(op, Err(reason.clone()));
        }
        for q in self.queue.take_all() {
            self.complete(q.op, Err(reason.clone()));
        }
        for (_, r) in self.twin_requests.take_all() {
            if let Some(op) = r.op {
                self.complete(op, Err(reason.clone()));
            }
        }
    }

    fn drain_session(&mut self, now: u64) {
        for ev in self.session.take_events() {
            match ev {
                mqtt::Event::Connected { .. } => self.on_connected(now),
                mqtt::Event::Refused(code) => self.on_refused(now, code),
                mqtt::Event::Message(m) => self.on_message(now, m),
                mqtt::Event::PubAck(pkid) => self.on_puback(now, pkid),
                mqtt::Event::SubAck { pkid, granted } => self.on_suback(now, pkid, granted),
                mqtt::Event::UnsubAck(_) => {}
                mqtt::Event::ConnectionLost(reason) => self.on_lost(now, reason),
            }
        }
    }
}
