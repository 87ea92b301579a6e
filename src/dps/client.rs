//! The provisioning client: DPS registration over [`crate::mqtt::Session`], sans-IO.
//!
//! Drive it like `hub::Client` (and quinn-proto): after every input
//! (`register`, `transport_opened`, `transport_failed`, `connection_lost`,
//! `handle_bytes`, `handle_timeout`, `set_token`, `cancel`) drain
//! [`Client::poll_transmit`] → [`Client::poll_event`] → [`Client::poll_timeout`].
//! Every `now` is milliseconds since the Unix epoch. A registration ends with
//! exactly one [`DpsEvent::Assigned`] or [`DpsEvent::Failed`]. Rules: docs/dps.md.

use crate::prelude::*;

use alloc::collections::VecDeque;

use crate::hub::client::{Auth as HubAuth, ClientConfig};
use crate::hub::connection_string::Secret;
use crate::hub::retry::Rng;
use crate::mqtt::{self, ConnectReturn, LostReason, QoS, Session};

use super::auth;
use super::config::{Auth, Config};
use super::error::{Error, TransportFailure};
use super::event::{Assignment, DpsEvent, State};
use super::registration::{parse_operation_status, parse_rejection, OperationStatus, Status};
use super::topics;

/// A provider token must stay valid this long after it is used for a new connection.
const TOKEN_MARGIN_MS: u64 = 30_000;

/// What to send once connected.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Step {
    Register,
    Poll(String),
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum Phase {
    Idle,
    WaitingToken,
    Opening {
        deadline: u64,
    },
    /// CONNECT sent; the session's connect timeout covers the CONNACK.
    Connecting,
    /// SUBSCRIBE sent, waiting for its SUBACK.
    Subscribing {
        pkid: u16,
        deadline: u64,
    },
    Requesting {
        rid: String,
        deadline: u64,
    },
    /// Connected, waiting to send the next request.
    Waiting {
        until: u64,
    },
    /// Disconnected, waiting to reconnect.
    Backoff {
        until: u64,
    },
    Done {
        assigned: bool,
    },
}

impl Phase {
    fn has_transport(&self) -> bool {
        matches!(
            self,
            Phase::Opening { .. }
                | Phase::Connecting
                | Phase::Subscribing { .. }
                | Phase::Requesting { .. }
                | Phase::Waiting { .. }
        )
    }

    fn connected(&self) -> bool {
        matches!(
            self,
            Phase::Connecting
                | Phase::Subscribing { .. }
                | Phase::Requesting { .. }
                | Phase::Waiting { .. }
        )
    }
}

/// The DPS registration client core. See the module docs and docs/dps.md.
#[derive(Debug)]
pub struct Client {
    config: Config,
    session: Session,
    phase: Phase,
    events: VecDeque<DpsEvent>,
    rng: Rng,
    next_rid: u64,
    /// Current token and its expiry (seconds).
    token: Option<(Secret, u64)>,
    step: Step,
    /// When the whole registration fails with `Timeout`.
    deadline: u64,
    /// Consecutive failures (for backoff); reset by progress.
    attempt: u32,
    last_status: Option<u16>,
    body: Vec<u8>,
}

impl Client {
    /// A client in state [`State::Idle`]. Fails if the configuration is inconsistent.
    pub fn new(config: Config, now: u64) -> Result<Client, Error> {
        let _ = now;
        config.validate()?;
        let body = config.request_body()?.into_bytes();
        let mut mc = mqtt::Config::new(config.registration_id.clone());
        mc.username = Some(config.username());
        mc.keep_alive_secs = config.keep_alive_secs;
        // DPS keeps no session state; the docs recommend CleanSession = 1.
        mc.clean_session = true;
        mc.coalesce = config.coalesce;
        mc.connack_timeout_ms = config.operation_timeout_ms;
        mc.ping_timeout_ms = config.operation_timeout_ms;
        Ok(Client {
            rng: Rng::new(config.random_seed),
            next_rid: config.request_id_seed,
            session: Session::new(mc),
            config,
            phase: Phase::Idle,
            events: VecDeque::new(),
            token: None,
            step: Step::Register,
            deadline: 0,
            attempt: 0,
            last_status: None,
            body,
        })
    }

    // ----- getters -----

    /// The configuration.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// Where the registration is.
    pub fn state(&self) -> State {
        match self.phase {
            Phase::Idle => State::Idle,
            Phase::Done { assigned: true } => State::Assigned,
            Phase::Done { assigned: false } => State::Failed,
            _ => State::Registering,
        }
    }

    /// The operation DPS is assigning, once it has answered `assigning`.
    pub fn operation_id(&self) -> Option<&str> {
        match &self.step {
            Step::Poll(op) => Some(op),
            Step::Register => None,
        }
    }

    // ----- commands -----

    /// Starts a registration (again, after one ended). Harmless while one is in progress.
    pub fn register(&mut self, now: u64) {
        if !matches!(self.phase, Phase::Idle | Phase::Done { .. }) {
            return;
        }
        self.session = Session::new(self.session.config().clone());
        self.step = Step::Register;
        self.attempt = 0;
        self.last_status = None;
        self.deadline = now.saturating_add(self.config.registration_timeout_ms);
        self.begin_attempt(now);
    }

    /// Gives up: the registration fails with [`Error::Cancelled`]. Harmless when none is running.
    pub fn cancel(&mut self, now: u64) {
        if self.active() {
            self.fail(now, Error::Cancelled);
        }
    }

    // ----- inputs -----

    /// The shell's WebSocket is open: queue CONNECT.
    pub fn transport_opened(&mut self, now: u64) {
        if !matches!(self.phase, Phase::Opening { .. }) {
            return;
        }
        let password = match &self.token {
            Some((t, _)) => t.expose().to_owned(),
            None => return self.fail(now, Error::TokenRequired),
        };
        match self.session.connect(now, Some(password)) {
            Ok(()) => self.phase = Phase::Connecting,
            Err(_) => return self.fail(now, Error::Protocol("cannot encode CONNECT")),
        }
        self.drain_session(now);
    }

    /// The shell could not open the WebSocket: retried if `failure` may pass, else final.
    pub fn transport_failed(&mut self, now: u64, failure: TransportFailure) {
        if !matches!(self.phase, Phase::Opening { .. }) {
            return;
        }
        if failure.retryable() {
            self.retry_later(now, Error::Transport(failure));
        } else {
            self.fail(now, Error::Transport(failure));
        }
    }

    /// The shell's transport closed (or failed to open, without details).
    pub fn connection_lost(&mut self, now: u64) {
        match self.phase {
            Phase::Opening { .. } => {
                self.retry_later(now, Error::Transport(TransportFailure::Unreachable))
            }
            ref p if p.connected() => {
                self.session.connection_lost(now);
                self.drain_session(now);
            }
            _ => {}
        }
    }

    /// Token-provider mode: the token the shell obtained after `NeedToken`.
    pub fn set_token(&mut self, now: u64, token: String, expiry_secs: u64) {
        self.token = Some((Secret::new(token), expiry_secs));
        if self.phase == Phase::WaitingToken {
            if expiry_secs.saturating_mul(1000) <= now {
                self.fail(now, Error::TokenRequired);
            } else {
                self.open_transport(now);
            }
        }
    }

    /// Bytes of one WebSocket message (any split or coalescing of packets).
    pub fn handle_bytes(&mut self, now: u64, data: &[u8]) {
        if !self.phase.connected() {
            return;
        }
        // A protocol error also arrives as ConnectionLost(Protocol) from the session.
        let _ = self.session.handle_bytes(now, data);
        self.drain_session(now);
    }

    /// Runs expired timers. Calling it early is harmless.
    pub fn handle_timeout(&mut self, now: u64) {
        if !self.active() {
            return;
        }
        if now >= self.deadline {
            let last_status = self.last_status;
            return self.fail(now, Error::Timeout { last_status });
        }
        if self.phase.connected() {
            self.session.handle_timeout(now);
            self.drain_session(now);
        }
        match self.phase.clone() {
            Phase::Opening { deadline } if now >= deadline => {
                self.events.push_back(DpsEvent::CloseTransport);
                self.retry_later(now, Error::Transport(TransportFailure::Unreachable));
            }
            Phase::Subscribing { deadline, .. } | Phase::Requesting { deadline, .. }
                if now >= deadline =>
            {
                // The connection looks alive to TCP but DPS never answered: start afresh.
                self.session.disconnect(now);
                self.events.push_back(DpsEvent::CloseTransport);
                self.retry_later(now, Error::Timeout { last_status: None });
            }
            Phase::Waiting { until } if now >= until => self.send_step(now),
            Phase::Backoff { until } if now >= until => self.begin_attempt(now),
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
    pub fn poll_event(&mut self) -> Option<DpsEvent> {
        self.events.pop_front()
    }

    /// When `handle_timeout` should next be called.
    #[must_use]
    pub fn poll_timeout(&self) -> Option<u64> {
        if !self.active() {
            return None;
        }
        let phase = match self.phase {
            Phase::Opening { deadline }
            | Phase::Subscribing { deadline, .. }
            | Phase::Requesting { deadline, .. } => Some(deadline),
            Phase::Waiting { until } | Phase::Backoff { until } => Some(until),
            _ => None,
        };
        let session = self
            .phase
            .connected()
            .then(|| self.session.poll_timeout())
            .flatten();
        [Some(self.deadline), phase, session]
            .into_iter()
            .flatten()
            .min()
    }

    // ----- internals -----

    fn active(&self) -> bool {
        !matches!(self.phase, Phase::Idle | Phase::Done { .. })
    }

    fn new_rid(&mut self) -> String {
        let rid = self.next_rid.to_string();
        self.next_rid = self.next_rid.wrapping_add(1);
        rid
    }

    fn begin_attempt(&mut self, now: u64) {
        self.session = Session::new(self.session.config().clone());
        let fresh = self
            .token
            .as_ref()
            .is_some_and(|(_, exp)| exp.saturating_mul(1000) > now.saturating_add(TOKEN_MARGIN_MS));
        if !fresh {
            let expiry_secs = now / 1000 + self.config.token_ttl_secs;
            match &self.config.auth {
                Auth::SymmetricKey(key) => {
                    let t = auth::token(
                        key,
                        &self.config.id_scope,
                        &self.config.registration_id,
                        expiry_secs,
                    );
                    self.token = Some((Secret::new(t), expiry_secs));
                }
                Auth::Provider => {
                    self.phase = Phase::WaitingToken;
                    self.events.push_back(DpsEvent::NeedToken { expiry_secs });
                    return;
                }
            }
        }
        self.open_transport(now);
    }

    fn open_transport(&mut self, now: u64) {
        self.phase = Phase::Opening {
            deadline: now.saturating_add(self.config.operation_timeout_ms),
        };
        self.events.push_back(DpsEvent::OpenTransport {
            url: self.config.websocket_url(),
        });
    }

    /// The transport is gone (or never came): back off and reconnect.
    fn retry_later(&mut self, now: u64, reason: Error) {
        self.attempt = self.attempt.saturating_add(1);
        let delay_ms = self
            .config
            .retry
            .delay_ms(self.attempt - 1, self.rng.next_u32());
        self.phase = Phase::Backoff {
            until: now.saturating_add(delay_ms),
        };
        self.events.push_back(DpsEvent::Retrying {
            attempt: self.attempt,
            delay_ms,
            reason,
        });
    }

    /// Ends the registration with `err`, closing any transport.
    fn fail(&mut self, now: u64, err: Error) {
        self.end(now);
        self.phase = Phase::Done { assigned: false };
        self.events.push_back(DpsEvent::Failed(err));
    }

    fn end(&mut self, now: u64) {
        if self.phase.has_transport() {
            self.session.disconnect(now);
            self.events.push_back(DpsEvent::CloseTransport);
        }
    }

    fn send_step(&mut self, now: u64) {
        let rid = self.new_rid();
        let (topic, body) = match &self.step {
            Step::Register => (topics::register_topic(&rid), &self.body[..]),
            Step::Poll(op) => (topics::status_topic(&rid, op), &b""[..]),
        };
        match self
            .session
            .publish(now, &topic, body, QoS::AtMostOnce, false)
        {
            Ok(_) => {
                self.phase = Phase::Requesting {
                    rid,
                    deadline: now.saturating_add(self.config.operation_timeout_ms),
                }
            }
            Err(_) => self.fail(now, Error::Protocol("cannot encode the DPS request")),
        }
    }

    fn drain_session(&mut self, now: u64) {
        while let Some(ev) = self.session.poll_event() {
            if !self.active() {
                continue;
            }
            match ev {
                mqtt::Event::Connected { .. } => {
                    let filters = [(topics::SUBSCRIBE_FILTER.to_owned(), QoS::AtLeastOnce)];
                    match self.session.subscribe(now, &filters) {
                        Ok(pkid) => {
                            self.phase = Phase::Subscribing {
                                pkid,
                                deadline: now.saturating_add(self.config.operation_timeout_ms),
                            }
                        }
                        Err(_) => self.fail(now, Error::Protocol("cannot encode SUBSCRIBE")),
                    }
                }
                mqtt::Event::Refused(code) => self.on_refused(now, code),
                mqtt::Event::SubAck { pkid, granted } => {
                    if !matches!(self.phase, Phase::Subscribing { pkid: p, .. } if p == pkid) {
                        continue;
                    }
                    if granted.first().copied().flatten().is_some() {
                        self.send_step(now);
                    } else {
                        self.fail(now, Error::Protocol("DPS refused the subscription"));
                    }
                }
                mqtt::Event::Message(m) => self.on_message(now, &m.topic, &m.payload),
                mqtt::Event::ConnectionLost(reason) => {
                    if !self.phase.connected() {
                        continue;
                    }
                    let err = match &reason {
                        LostReason::Transport => Error::Transport(TransportFailure::Unreachable),
                        LostReason::PingTimeout
                        | LostReason::ConnackTimeout
                        | LostReason::AckTimeout => Error::Timeout { last_status: None },
                        LostReason::Protocol(e) => Error::Protocol(e.summary()),
                    };
                    if !matches!(reason, LostReason::Transport) {
                        self.events.push_back(DpsEvent::CloseTransport);
                    }
                    self.retry_later(now, err);
                }
                mqtt::Event::PubAck(_) | mqtt::Event::UnsubAck(_) => {}
            }
        }
    }

    fn on_refused(&mut self, now: u64, code: ConnectReturn) {
        self.events.push_back(DpsEvent::CloseTransport);
        // The session is Idle again after a refusal: nothing left to close.
        self.phase = Phase::Backoff { until: now };
        match code {
            ConnectReturn::ServerUnavailable => {
                self.retry_later(now, Error::Refused { code: code.code() })
            }
            ConnectReturn::UnacceptableProtocolVersion => {
                self.fail(now, Error::Protocol("DPS refused MQTT 3.1.1"))
            }
            other => self.fail(now, Error::Refused { code: other.code() }),
        }
    }

    fn on_message(&mut self, now: u64, topic: &str, payload: &[u8]) {
        let waiting_rid = match &self.phase {
            Phase::Requesting { rid, .. } => Some(rid.clone()),
            _ => None,
        };
        let response = match topics::parse_response_topic(topic) {
            Ok(Some(r)) => r,
            Ok(None) => return,
            // Only answers are published to us: a broken one while waiting is the answer.
            Err(e) if waiting_rid.is_some() => return self.fail(now, Error::Malformed(e)),
            Err(_) => return,
        };
        if waiting_rid.as_deref() != Some(response.rid.as_str()) {
            return; // a stale answer (e.g. to a request that timed out)
        }
        let body = String::from_utf8_lossy(payload);
        let retry_after_ms = response.retry_after_secs.map(|s| s.saturating_mul(1000));
        match response.status {
            200..=299 => match parse_operation_status(&body) {
                Ok(op) => self.on_status(now, op, retry_after_ms),
                Err(e) => self.fail(now, Error::Malformed(e)),
            },
            429 | 500..=599 => {
                self.last_status = Some(response.status);
                self.attempt = self.attempt.saturating_add(1);
                let delay_ms = retry_after_ms.unwrap_or_else(|| {
                    self.config
                        .retry
                        .delay_ms(self.attempt - 1, self.rng.next_u32())
                });
                self.phase = Phase::Waiting {
                    until: now.saturating_add(delay_ms),
                };
                self.events.push_back(DpsEvent::Retrying {
                    attempt: self.attempt,
                    delay_ms,
                    reason: Error::Rejected(parse_rejection(response.status, &body)),
                });
            }
            status => self.fail(now, Error::Rejected(parse_rejection(status, &body))),
        }
    }

    fn on_status(&mut self, now: u64, op: OperationStatus, retry_after_ms: Option<u64>) {
        self.last_status = None;
        let state = op.registration_state.clone().unwrap_or_default();
        match op.status {
            Status::Assigned => match self.assignment(op) {
                Ok(a) => {
                    self.end(now);
                    self.phase = Phase::Done { assigned: true };
                    self.events.push_back(DpsEvent::Assigned(Box::new(a)));
                }
                Err(e) => self.fail(now, e),
            },
            Status::Failed => self.fail(
                now,
                Error::RegistrationFailed {
                    error_code: state.error_code,
                    error_message: state.error_message,
                },
            ),
            Status::Disabled => self.fail(
                now,
                Error::RegistrationDisabled {
                    error_code: state.error_code,
                    error_message: state.error_message,
                },
            ),
            Status::Assigning | Status::Unassigned => {
                let operation_id = match (op.operation_id, &self.step) {
                    (Some(id), _) => id,
                    (None, Step::Poll(id)) => id.clone(),
                    (None, Step::Register) => {
                        return self.fail(
                            now,
                            Error::Protocol("DPS answered assigning without an operationId"),
                        )
                    }
                };
                self.attempt = 0;
                self.step = Step::Poll(operation_id.clone());
                let delay = retry_after_ms.unwrap_or(self.config.poll_interval_ms);
                self.phase = Phase::Waiting {
                    until: now.saturating_add(delay),
                };
                self.events.push_back(DpsEvent::Assigning {
                    operation_id,
                    retry_after_ms: delay,
                });
            }
            Status::Other(_) => self.fail(
                now,
                Error::Protocol("DPS answered a status this client does not know"),
            ),
        }
    }

    fn assignment(&self, op: OperationStatus) -> Result<Assignment, Error> {
        let state = op.registration_state.ok_or(Error::Malformed(
            crate::hub::error::MalformedError::MissingField("registrationState"),
        ))?;
        let missing = |f| Error::Malformed(crate::hub::error::MalformedError::MissingField(f));
        let hub = state.assigned_hub.clone().ok_or(missing("assignedHub"))?;
        let device = state.device_id.clone().ok_or(missing("deviceId"))?;
        if hub
            .chars()
            .any(|c| c == '/' || c.is_whitespace() || c.is_control())
        {
            return Err(Error::Protocol(
                "DPS assigned a hub name that is not a host",
            ));
        }
        let mut hub_config = ClientConfig::from_token_provider(&hub, &device, None, None)
            .map_err(|_| Error::Protocol("DPS assigned a device id the hub would refuse"))?;
        if let Auth::SymmetricKey(key) = &self.config.auth {
            hub_config.auth = HubAuth::Key {
                key: key.clone(),
                key_name: None,
            };
        }
        hub_config.model_id = self.config.model_id.clone();
        Ok(Assignment {
            assigned_hub: hub,
            device_id: device,
            substatus: state.substatus,
            payload: state.payload,
            registration_state: state.raw,
            operation_id: op.operation_id,
            hub_config,
        })
    }
}
