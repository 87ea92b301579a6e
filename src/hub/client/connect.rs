//! Connection policy — every decision about the transport lives here:
//! when to open one, how long an attempt may take, how a failure is classified,
//! whether to retry (with backoff) or stop, the `connect()` budget, and when to
//! renew the SAS token. The shell only reports facts (opened, failed to open,
//! closed, a token arrived or did not) and carries out `OpenTransport`/`CloseTransport`.
//!
//! Two deadlines, two names: an **attempt** (transport open + CONNACK) is bounded by
//! `attempt_timeout_ms` and retried; a **`connect()` request** is bounded by
//! `connect_timeout_ms`. When a request started from a stopped client runs out, the
//! client stops with [`Error::ConnectTimeout`] (carrying the last attempt's failure);
//! while reconnecting after a success only the request fails and retrying goes on.

use crate::prelude::*;

use super::super::connection_string::Secret;
use super::super::error::{Error, TokenError, TransportError};
use super::super::sas;
use super::config::{Auth, STABLE_CONNECTION_MS};
use super::{Client, ConnectionState, HubEvent, Phase};
use crate::mqtt::{ConnectReturn, LostReason, Session};

/// A pending `connect()` request.
#[derive(Debug)]
pub(super) struct ConnectRequest {
    pub(super) deadline: u64,
    /// Made while the client was stopped: when the budget runs out, the client stops.
    stops: bool,
    /// Why the last attempt failed, for the error the request fails with.
    last_failure: Option<Error>,
}

impl Client {
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

    /// The app wants to be connected. Starts a request bounded by `connect_timeout_ms`
    /// (or joins the pending one) that ends with `Connected` or `ConnectFailed`, and
    /// plans `OpenTransport` (or `NeedToken` first). A client waiting out a backoff
    /// tries at once. Harmless while connected (no event: the app is connected).
    pub fn connect(&mut self, now: u64) -> Result<(), Error> {
        if self.phase == Phase::Connected {
            return Ok(());
        }
        let stopped = matches!(self.phase, Phase::Idle | Phase::Closed);
        if self.request.is_none() {
            self.request = Some(ConnectRequest {
                deadline: now.saturating_add(self.config.connect_timeout_ms),
                stops: stopped,
                last_failure: None,
            });
        }
        if stopped {
            // Start afresh: what `disconnect` or a fatal error failed must not be resent later.
            self.session = Session::new(self.session.config().clone());
            self.attempt = 0;
            self.ever_connected = false;
            self.begin_attempt(now);
        } else if matches!(self.phase, Phase::Backoff { .. }) {
            self.begin_attempt(now);
        }
        Ok(())
    }

    /// The shell's WebSocket is open: queue CONNECT.
    pub fn transport_opened(&mut self, now: u64) {
        let Phase::Opening { deadline } = self.phase else {
            return;
        };
        let password = match &self.token {
            Some((t, _)) => Some(t.expose().to_owned()),
            // The certificate went in the TLS handshake: CONNECT has no password.
            None if matches!(self.config.auth, Auth::X509) => None,
            None => {
                self.end_transport(now);
                return self.fail_attempt(now, Error::TokenRequired);
            }
        };
        match self.session.connect(now, password) {
            Ok(()) => self.phase = Phase::Connecting { deadline },
            Err(_) => self.stop(now, Error::Protocol("cannot encode CONNECT")),
        }
        self.drain_session(now);
    }

    /// The shell could not open the transport the core asked for: the socket could
    /// not be created, or it closed before it opened (`TransportError::NotOpened`).
    /// Retryable kinds back off and retry; the others stop the client. `status` and
    /// `detail` are what the host said (a refused upgrade's status, an exception's text).
    pub fn transport_failed(
        &mut self,
        now: u64,
        kind: TransportError,
        status: Option<u16>,
        detail: Option<String>,
    ) {
        match self.phase {
            Phase::Opening { .. } => {}
            // The socket opened after all: a close now is a lost connection.
            Phase::Connecting { .. } | Phase::Connected => return self.connection_lost(now),
            _ => return,
        }
        let err = Error::Transport {
            kind,
            status,
            detail,
        };
        if !kind.retryable() {
            return self.stop(now, err);
        }
        if kind == TransportError::CreateFailed {
            // The app's own factory failed: worth an `error` even though we retry.
            self.events.push(HubEvent::Warning(err.clone()));
        }
        self.fail_attempt(now, err);
    }

    /// The transport delivered a WebSocket text frame: MQTT over WebSocket is binary
    /// only, so the connection ends with a `PROTOCOL_ERROR` (the shell is told to
    /// close it) and is retried with backoff.
    pub fn handle_text_frame(&mut self, now: u64) {
        if matches!(self.phase, Phase::Connecting { .. } | Phase::Connected) {
            self.session.handle_text_frame(now);
            self.drain_session(now);
        }
    }

    /// The shell's transport closed under us (after it opened).
    pub fn connection_lost(&mut self, now: u64) {
        match self.phase {
            Phase::Connecting { .. } | Phase::Connected => {
                self.session.connection_lost(now);
                self.drain_session(now);
            }
            Phase::Opening { .. } => {
                let url = self.config.websocket_url();
                self.transport_failed(now, TransportError::NotOpened, None, Some(url))
            }
            _ => {}
        }
    }

    /// The host's network came back (a browser's `online` event): a client waiting
    /// out a backoff attempts at once instead of at the end of its delay. Harmless
    /// in any other phase (no request is started, nothing is reported).
    pub fn network_online(&mut self, now: u64) {
        if let Phase::Backoff { until } = &mut self.phase {
            *until = now;
        }
        self.handle_timeout(now);
    }

    /// Token-provider mode: the token the shell obtained after `NeedToken`.
    /// Renewal is scheduled from the token's own `se` when it has one (`expiry_secs`,
    /// the requested expiry, otherwise): see `token_expiry.rs`.
    pub fn set_token(&mut self, now: u64, token: String, expiry_secs: u64) {
        let expiry_secs = self.provider_token_expiry(now, &token, expiry_secs);
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

    /// Token-provider mode: the provider gave no token after `NeedToken`. While
    /// connecting this stops the client (a later `connect()` asks again); a failed
    /// renewal keeps the current connection, is reported as a `Warning`, and the
    /// next reconnect asks again.
    pub fn token_failed(&mut self, now: u64, kind: TokenError, detail: Option<String>) {
        let err = Error::Token { kind, detail };
        match self.phase {
            Phase::WaitingToken => self.stop(now, err),
            _ => self.events.push(HubEvent::Warning(err)),
        }
    }

    /// The app is done: DISCONNECT, close the transport, fail everything pending with `Closed`.
    pub fn disconnect(&mut self, now: u64) {
        if self.phase == Phase::Closed {
            return;
        }
        self.end_transport(now);
        self.phase = Phase::Closed;
        self.renewal_requested = false;
        self.open_methods.clear();
        self.finish(Error::Closed);
    }

    /// Connection deadlines, the backoff and the token renewal, at `now`.
    pub(super) fn connect_timers(&mut self, now: u64) {
        if let Some(r) = self.request.as_mut().filter(|r| now >= r.deadline) {
            let reason = Error::ConnectTimeout {
                timeout_ms: self.config.connect_timeout_ms,
                last: r.last_failure.take().map(Box::new),
            };
            if r.stops {
                // `stop` ends the request with `ConnectFailed` after closing the transport.
                return self.stop(now, reason);
            }
            self.request = None;
            self.events.push(HubEvent::ConnectFailed { reason });
        }
        match self.phase {
            Phase::Backoff { until } if now >= until => self.begin_attempt(now),
            Phase::Opening { deadline } | Phase::Connecting { deadline } if now >= deadline => {
                self.end_transport(now);
                self.fail_attempt(now, Error::Timeout);
            }
            Phase::Connected => {
                if let Some(at) = self.renew_at() {
                    if now >= at && !self.renewal_requested {
                        if self.config.auth == Auth::Provider {
                            self.renewal_requested = true;
                            let expiry_secs = now / 1000 + self.config.token_ttl_secs;
                            self.events.push(HubEvent::NeedToken { expiry_secs });
                        } else {
                            self.renew(now);
                        }
                    }
                }
            }
            _ => {}
        }
    }

    /// The earliest connection deadline, backoff end or renewal time.
    pub(super) fn connect_timeout(&self) -> Option<u64> {
        let phase = match self.phase {
            Phase::Backoff { until } => Some(until),
            Phase::Opening { deadline } | Phase::Connecting { deadline } => Some(deadline),
            Phase::Connected if !self.renewal_requested => self.renew_at(),
            _ => None,
        };
        super::earliest(phase, self.request.as_ref().map(|r| r.deadline))
    }

    pub(super) fn on_connected(&mut self, now: u64) {
        self.phase = Phase::Connected;
        self.conn_gen += 1;
        // The backoff step is kept until the connection proves stable (`on_lost`):
        // a hub that accepts and drops at once must not be hammered at the first step.
        self.connected_at = now;
        self.ever_connected = true;
        self.request = None;
        self.events.push(HubEvent::Connected);
        let features = self.enabled.clone();
        self.subscribe(now, &features);
        self.reconcile_desired(now);
        self.pump(now);
    }

    pub(super) fn on_refused(&mut self, now: u64, code: ConnectReturn) {
        self.end_transport(now);
        let err = match code {
            // A temporary outage: retry with backoff (azure-iot-common retries
            // ServiceUnavailableError). IoT Hub refuses a disabled device with 5.
            ConnectReturn::ServerUnavailable => {
                return self.fail_attempt(now, Error::ServerUnavailable { code: 3 });
            }
            ConnectReturn::UnacceptableProtocolVersion => {
                Error::Protocol("the hub refused MQTT 3.1.1")
            }
            other => Error::Unauthorized { code: other.code() },
        };
        self.stop(now, err);
    }

    /// The session lost its connection: classify, close what is ours to close, retry.
    pub(super) fn on_lost(&mut self, now: u64, reason: LostReason) {
        if !matches!(self.phase, Phase::Connecting { .. } | Phase::Connected) {
            return;
        }
        if self.phase == Phase::Connected
            && now.saturating_sub(self.connected_at) >= STABLE_CONNECTION_MS
        {
            self.attempt = 0;
        }
        let err = match &reason {
            LostReason::Transport => Error::Disconnected,
            LostReason::PingTimeout | LostReason::ConnackTimeout | LostReason::AckTimeout => {
                Error::Timeout
            }
            LostReason::Protocol(e) => Error::Protocol(e.summary()),
        };
        if matches!(reason, LostReason::Transport) {
            // The shell saw the socket close: nothing of ours to close.
            self.phase = Phase::Idle;
        } else {
            self.end_transport(now);
        }
        self.fail_attempt(now, err);
    }

    /// Closes the current transport, if any (DISCONNECT first when connected).
    fn end_transport(&mut self, now: u64) {
        if matches!(
            self.phase,
            Phase::Opening { .. } | Phase::Connecting { .. } | Phase::Connected
        ) {
            self.session.disconnect(now);
            self.events.push(HubEvent::CloseTransport);
        }
        self.after_transport_end();
        self.phase = Phase::Idle;
    }

    /// Bookkeeping common to every end of a transport.
    fn after_transport_end(&mut self) {
        self.twin_ready = false;
        self.pending_subs.clear();
        self.twin_requests.resend_all();
    }

    /// A fatal error: close any transport, no more retries. The pending request and
    /// everything pending fail with `reason` (the app learns of each message; none is
    /// dropped silently).
    pub(super) fn stop(&mut self, now: u64, reason: Error) {
        self.end_transport(now);
        self.renewal_requested = false;
        self.finish(reason);
    }

    /// The client stopped (phase already set): fail the request and every operation.
    fn finish(&mut self, reason: Error) {
        if self.request.take().is_some() {
            self.events.push(HubEvent::ConnectFailed {
                reason: reason.clone(),
            });
        }
        self.fail_pending(&reason);
        self.events.push(HubEvent::Disconnected {
            reason,
            will_retry: false,
        });
    }

    /// An attempt or a connection failed for a reason worth retrying: back off.
    fn fail_attempt(&mut self, now: u64, reason: Error) {
        self.after_transport_end();
        if let Some(r) = &mut self.request {
            r.last_failure = Some(reason.clone());
        }
        self.attempt = self.attempt.saturating_add(1);
        let delay_ms = self
            .config
            .retry
            .delay_ms(self.attempt - 1, self.rng.next_u32());
        self.phase = Phase::Backoff {
            until: now.saturating_add(delay_ms),
        };
        self.events.push(HubEvent::Disconnected {
            reason,
            will_retry: true,
        });
        self.events.push(HubEvent::Reconnecting {
            attempt: self.attempt,
            delay_ms,
        });
    }

    fn renew_at(&self) -> Option<u64> {
        match self.config.auth {
            Auth::Token { .. } => None,
            _ => self.token.as_ref().map(|(_, exp)| {
                sas::renew_at_ms(*exp, self.config.renew_margin_secs()).max(self.renew_floor_ms)
            }),
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
                // A connection string's token cannot be renewed.
                Auth::Token { .. } => return self.stop(now, Error::TokenRequired),
                // No token: the transport presents the certificate.
                Auth::X509 => {}
                Auth::Provider => {
                    self.phase = Phase::WaitingToken;
                    let expiry_secs = now / 1000 + self.config.token_ttl_secs;
                    self.events.push(HubEvent::NeedToken { expiry_secs });
                    return;
                }
            }
        }
        self.open_transport(now);
    }

    fn open_transport(&mut self, now: u64) {
        self.phase = Phase::Opening {
            deadline: now.saturating_add(self.config.attempt_timeout_ms),
        };
        self.events.push(HubEvent::OpenTransport {
            url: self.config.websocket_url(),
        });
    }

    /// Planned reconnect with a fresh token, before the current one expires.
    fn renew(&mut self, now: u64) {
        self.end_transport(now);
        if self.config.auth != Auth::Provider {
            self.token = None;
        }
        self.attempt = 0;
        self.begin_attempt(now);
    }
}
