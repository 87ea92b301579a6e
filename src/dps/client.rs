//! The provisioning client: DPS registration over [`crate::mqtt::Session`], sans-IO.
//!
//! Drive it like `hub::Client` (and quinn-proto), with the same inputs and their same
//! signatures (`transport_opened`, `transport_failed(now, hub::TransportError, status,
//! detail)`, `connection_lost`, `handle_bytes`, `handle_timeout`, `set_token`,
//! `token_failed(now, hub::TokenError, detail)`), so one shell drives both; plus
//! `register` and `cancel`. After every input drain [`Client::poll_transmit`] →
//! [`Client::poll_event`] → [`Client::poll_timeout`]. Every `now` is milliseconds
//! since the Unix epoch. A registration ends with exactly one [`DpsEvent::Assigned`]
//! or [`DpsEvent::Failed`]. Rules: docs/dps.md.

use crate::prelude::*;

use alloc::collections::VecDeque;

use crate::hub::connection_string::Secret;
use crate::hub::error::MalformedError;
use crate::hub::ids::validate_device_id;
use crate::hub::retry::Rng;
use crate::hub::{self, TokenError, TransportError};
use crate::mqtt::{self, ConnectReturn, LostReason, QoS, Session};
use crate::text::u64_string;

use super::auth;
use super::config::{Auth, Config};
use super::error::Error;
use super::event::{Assignment, DpsEvent, State};
use super::registration::{
    number_member, parse_operation_status, parse_rejection, string_member, Status,
};
use super::topics;

/// A provider token must stay valid this long after it is used for a new connection.
const TOKEN_MARGIN_MS: u64 = 30_000;

/// Where the registration is. The deadline or wake-up time of the timed phases is
/// `Client::at`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    Idle,
    WaitingToken,
    /// `OpenTransport` emitted; `at` bounds the open.
    Opening,
    /// CONNECT sent; the session's CONNACK timeout covers it.
    Connecting,
    /// SUBSCRIBE sent; `at` bounds the SUBACK.
    Subscribing,
    /// A request sent (`Client::rid`); `at` bounds its answer.
    Requesting,
    /// Connected; the next request goes at `at`.
    Waiting,
    /// No transport; the next attempt starts at `at`.
    Backoff,
    Assigned,
    Failed,
}

impl Phase {
    /// The session is connecting or connected.
    fn connected(self) -> bool {
        matches!(
            self,
            Phase::Connecting | Phase::Subscribing | Phase::Requesting | Phase::Waiting
        )
    }

    fn active(self) -> bool {
        !matches!(self, Phase::Idle | Phase::Assigned | Phase::Failed)
    }
}

/// The DPS registration client core. See the module docs and docs/dps.md.
#[derive(Debug)]
pub struct Client {
    config: Config,
    session: Session,
    phase: Phase,
    /// The timed phase's deadline or wake-up time.
    at: u64,
    events: VecDeque<DpsEvent>,
    rng: Rng,
    next_rid: u64,
    /// The request id awaited in `Requesting`.
    rid: String,
    /// Current token and its expiry (seconds).
    token: Option<(Secret, u64)>,
    /// The operation DPS is assigning: once known, the next request polls it.
    operation: Option<String>,
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
        let body = config.checked_body()?.into_bytes();
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
            at: 0,
            events: VecDeque::new(),
            rid: String::new(),
            token: None,
            operation: None,
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
            Phase::Assigned => State::Assigned,
            Phase::Failed => State::Failed,
            _ => State::Registering,
        }
    }

    /// The operation DPS is assigning, once it has answered `assigning`.
    pub fn operation_id(&self) -> Option<&str> {
        self.operation.as_deref()
    }

    // ----- commands -----

    /// Starts a registration (again, after one ended). Harmless while one is in progress.
    pub fn register(&mut self, now: u64) {
        if self.phase.active() {
            return;
        }
        self.operation = None;
        self.attempt = 0;
        self.last_status = None;
        self.deadline = now.saturating_add(self.config.registration_timeout_ms);
        self.begin_attempt(now);
    }

    /// Gives up: the registration fails with [`Error::Cancelled`]. Harmless when none is running.
    pub fn cancel(&mut self, now: u64) {
        if self.phase.active() {
            self.fail(now, Error::Cancelled);
        }
    }

    // ----- inputs -----

    /// The shell's WebSocket is open: queue CONNECT.
    pub fn transport_opened(&mut self, now: u64) {
        if self.phase != Phase::Opening {
            return;
        }
        // `begin_attempt` made sure of a token before opening.
        let password = self.token.as_ref().map(|(t, _)| t.expose().to_owned());
        match self.session.connect(now, password) {
            Ok(()) => self.phase = Phase::Connecting,
            Err(_) => return self.fail_protocol(now, "cannot encode CONNECT"),
        }
        self.drain_session(now);
    }

    /// The shell could not open the transport it was asked for, as
    /// `hub::Client::transport_failed`: retryable kinds back off and try again; the
    /// others end the registration.
    pub fn transport_failed(
        &mut self,
        now: u64,
        kind: TransportError,
        status: Option<u16>,
        detail: Option<String>,
    ) {
        match self.phase {
            Phase::Opening => {}
            // The socket opened after all: a close now is a lost connection.
            p if p.connected() => return self.connection_lost(now),
            _ => return,
        }
        let err = Error::transport(kind, status, detail);
        if kind.retryable() {
            self.retry(now, Phase::Backoff, None, err);
        } else {
            self.fail(now, err);
        }
    }

    /// The shell's transport closed (before or after it opened).
    pub fn connection_lost(&mut self, now: u64) {
        match self.phase {
            Phase::Opening => {
                let url = self.config.websocket_url();
                self.transport_failed(now, TransportError::NotOpened, None, Some(url))
            }
            p if p.connected() => {
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
                self.fail(now, hub::Error::TokenRequired.into());
            } else {
                self.open_transport(now);
            }
        }
    }

    /// Token-provider mode: the provider gave no token after `NeedToken`; the
    /// registration ends with `Hub(Token { kind, detail })`.
    pub fn token_failed(&mut self, now: u64, kind: TokenError, detail: Option<String>) {
        if self.phase == Phase::WaitingToken {
            self.fail(now, hub::Error::Token { kind, detail }.into());
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
        if !self.phase.active() {
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
        if now < self.at {
            return;
        }
        match self.phase {
            Phase::Opening | Phase::Subscribing | Phase::Requesting => {
                // No open, SUBACK or answer in time: the connection looks alive to TCP
                // but DPS is not there. Start afresh.
                self.end(now);
                let err = Error::Timeout { last_status: None };
                self.retry(now, Phase::Backoff, None, err);
            }
            Phase::Waiting => self.send_step(now),
            Phase::Backoff => self.begin_attempt(now),
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
        if !self.phase.active() {
            return None;
        }
        let mut t = self.deadline;
        if !matches!(self.phase, Phase::WaitingToken | Phase::Connecting) {
            t = t.min(self.at);
        }
        if let Some(s) = self
            .session
            .poll_timeout()
            .filter(|_| self.phase.connected())
        {
            t = t.min(s);
        }
        Some(t)
    }

    // ----- internals -----

    fn set(&mut self, phase: Phase, at: u64) {
        self.phase = phase;
        self.at = at;
    }

    fn begin_attempt(&mut self, now: u64) {
        // The session is reused: CONNECT (clean session) resets it, and DPS requests are
        // QoS 0, so nothing from an earlier connection is resent.
        let fresh = self
            .token
            .as_ref()
            .is_some_and(|(_, exp)| exp.saturating_mul(1000) > now.saturating_add(TOKEN_MARGIN_MS));
        if !fresh {
            let expiry_secs = now / 1000 + self.config.token_ttl_secs;
            let Auth::SymmetricKey(key) = &self.config.auth else {
                self.phase = Phase::WaitingToken;
                return self.events.push_back(DpsEvent::NeedToken { expiry_secs });
            };
            let t = auth::token(
                key,
                &self.config.id_scope,
                &self.config.registration_id,
                expiry_secs,
            );
            self.token = Some((Secret::new(t), expiry_secs));
        }
        self.open_transport(now);
    }

    fn open_transport(&mut self, now: u64) {
        self.set(
            Phase::Opening,
            now.saturating_add(self.config.operation_timeout_ms),
        );
        let url = self.config.websocket_url();
        self.events.push_back(DpsEvent::OpenTransport { url });
    }

    /// Something failed and will be retried in `phase` (`Backoff`: reconnect; `Waiting`:
    /// the same request on this connection) after `retry_after_ms`, else the backoff.
    fn retry(&mut self, now: u64, phase: Phase, retry_after_ms: Option<u64>, reason: Error) {
        self.attempt = self.attempt.saturating_add(1);
        let delay_ms = match retry_after_ms {
            Some(ms) => ms,
            None => self
                .config
                .retry
                .delay_ms(self.attempt - 1, self.rng.next_u32()),
        };
        self.set(phase, now.saturating_add(delay_ms));
        self.events.push_back(DpsEvent::Retrying {
            attempt: self.attempt,
            delay_ms,
            reason,
        });
    }

    /// Ends the registration with `Hub(Protocol(what))`.
    fn fail_protocol(&mut self, now: u64, what: &'static str) {
        self.fail(now, Error::protocol(what));
    }

    /// Ends the registration with `err`, closing any transport.
    fn fail(&mut self, now: u64, err: Error) {
        self.end(now);
        self.phase = Phase::Failed;
        self.events.push_back(DpsEvent::Failed(err));
    }

    /// Closes the transport, if any (DISCONNECT first when connected).
    fn end(&mut self, now: u64) {
        if self.phase == Phase::Opening || self.phase.connected() {
            self.session.disconnect(now);
            self.events.push_back(DpsEvent::CloseTransport);
        }
        self.phase = Phase::Idle;
    }

    fn send_step(&mut self, now: u64) {
        self.rid = u64_string(self.next_rid);
        self.next_rid = self.next_rid.wrapping_add(1);
        let (topic, body) = match &self.operation {
            None => (topics::register_topic(&self.rid), &self.body[..]),
            Some(op) => (topics::status_topic(&self.rid, op), &b""[..]),
        };
        match self
            .session
            .publish(now, &topic, body, QoS::AtMostOnce, false)
        {
            Ok(_) => self.set(
                Phase::Requesting,
                now.saturating_add(self.config.operation_timeout_ms),
            ),
            Err(_) => self.fail_protocol(now, "cannot encode the DPS request"),
        }
    }

    fn drain_session(&mut self, now: u64) {
        while let Some(ev) = self.session.poll_event() {
            if !self.phase.connected() {
                continue;
            }
            match ev {
                mqtt::Event::Connected { .. } => {
                    let filters = [(topics::SUBSCRIBE_FILTER.to_owned(), QoS::AtLeastOnce)];
                    match self.session.subscribe(now, &filters) {
                        Ok(_) => self.set(
                            Phase::Subscribing,
                            now.saturating_add(self.config.operation_timeout_ms),
                        ),
                        Err(_) => self.fail_protocol(now, "cannot encode SUBSCRIBE"),
                    }
                }
                mqtt::Event::Refused(code) => {
                    // The session is idle again after a refusal: only the socket is left.
                    self.phase = Phase::Idle;
                    self.events.push_back(DpsEvent::CloseTransport);
                    let code = code.code();
                    if code == ConnectReturn::ServerUnavailable.code() {
                        self.retry(now, Phase::Backoff, None, Error::Refused { code });
                    } else if code == ConnectReturn::UnacceptableProtocolVersion.code() {
                        self.fail_protocol(now, "DPS refused MQTT 3.1.1");
                    } else {
                        self.fail(now, Error::Refused { code });
                    }
                }
                mqtt::Event::SubAck { granted, .. } if self.phase == Phase::Subscribing => {
                    if granted.first().copied().flatten().is_some() {
                        self.send_step(now);
                    } else {
                        self.fail_protocol(now, "DPS refused the subscription");
                    }
                }
                mqtt::Event::Message(m) if self.phase == Phase::Requesting => {
                    self.on_answer(now, &m.topic, &m.payload)
                }
                mqtt::Event::ConnectionLost(reason) => {
                    let err = match &reason {
                        LostReason::Transport => hub::Error::Disconnected.into(),
                        LostReason::PingTimeout
                        | LostReason::ConnackTimeout
                        | LostReason::AckTimeout => Error::Timeout { last_status: None },
                        LostReason::Protocol(e) => Error::protocol(e.summary()),
                    };
                    self.phase = Phase::Idle;
                    if reason != LostReason::Transport {
                        self.events.push_back(DpsEvent::CloseTransport);
                    }
                    self.retry(now, Phase::Backoff, None, err);
                }
                _ => {}
            }
        }
    }

    /// A message while a request waits for its answer.
    fn on_answer(&mut self, now: u64, topic: &str, payload: &[u8]) {
        let answer = match topics::parse_response_topic(topic) {
            Ok(Some(a)) => a,
            Ok(None) => return,
            // Only answers are published to us: a broken one is the answer.
            Err(e) => return self.fail(now, Error::Malformed(e)),
        };
        if answer.rid != self.rid {
            return; // a stale answer (e.g. to a request that timed out)
        }
        let body = String::from_utf8_lossy(payload);
        let retry_after_ms = answer.retry_after_secs.map(|s| s.saturating_mul(1000));
        let status = answer.status;
        if !(200..300).contains(&status) {
            let rejected = Error::Rejected(Box::new(parse_rejection(status, &body)));
            if status == 429 || status >= 500 {
                self.last_status = Some(status);
                return self.retry(now, Phase::Waiting, retry_after_ms, rejected);
            }
            return self.fail(now, rejected);
        }
        self.last_status = None;
        let op = match parse_operation_status(&body) {
            Ok(op) => op,
            Err(e) => return self.fail(now, Error::Malformed(e)),
        };
        let state = op.registration_state.unwrap_or("{}");
        let details = || {
            (
                number_member(state, "errorCode"),
                string_member(state, "errorMessage"),
            )
        };
        let err = match op.status {
            Status::Assigned => match self.assignment(op.operation_id, op.registration_state) {
                Ok(a) => {
                    self.end(now);
                    self.phase = Phase::Assigned;
                    return self.events.push_back(DpsEvent::Assigned(Box::new(a)));
                }
                Err(e) => e,
            },
            Status::Assigning | Status::Unassigned => {
                if op.operation_id.is_some() {
                    self.operation = op.operation_id;
                }
                if let Some(operation_id) = self.operation.clone() {
                    self.attempt = 0;
                    let delay = retry_after_ms.unwrap_or(self.config.poll_interval_ms);
                    self.set(Phase::Waiting, now.saturating_add(delay));
                    return self.events.push_back(DpsEvent::Assigning {
                        operation_id,
                        retry_after_ms: delay,
                    });
                }
                Error::protocol("DPS answered assigning without an operationId")
            }
            Status::Failed => {
                let (error_code, error_message) = details();
                Error::RegistrationFailed {
                    error_code,
                    error_message,
                }
            }
            Status::Disabled => {
                let (error_code, error_message) = details();
                Error::RegistrationDisabled {
                    error_code,
                    error_message,
                }
            }
            Status::Other => Error::protocol("DPS answered a status this client does not know"),
        };
        self.fail(now, err);
    }

    fn assignment(
        &self,
        operation_id: Option<String>,
        state: Option<&str>,
    ) -> Result<Assignment, Error> {
        let state = state.unwrap_or("{}");
        let (Some(hub), Some(device_id)) = (
            string_member(state, "assignedHub"),
            string_member(state, "deviceId"),
        ) else {
            return Err(Error::Malformed(MalformedError::MissingField(
                "registrationState.assignedHub/deviceId",
            )));
        };
        // A host name (punycode for IDNs) and an id the hub accepts, or DPS misbehaves.
        if hub.bytes().any(|b| b == b'/' || b <= b' ') || validate_device_id(&device_id).is_err() {
            return Err(Error::protocol(
                "DPS assigned a hub or device id that is unusable",
            ));
        }
        let key = match &self.config.auth {
            Auth::SymmetricKey(k) => Some(k.clone()),
            Auth::Provider => None,
        };
        Ok(Assignment {
            assigned_hub: hub,
            device_id,
            registration_state: state.to_owned(),
            operation_id: operation_id.or_else(|| self.operation.clone()),
            key,
            model_id: self.config.model_id.clone(),
        })
    }
}
