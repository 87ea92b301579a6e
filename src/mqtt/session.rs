//! The sans-IO MQTT 3.1.1 client session.

use crate::prelude::*;

use super::codec::{self, ConnectFields, ServerPacket};
use super::config::{Config, QoS};
use super::error::{ConnectReturn, Error, LostReason, PublishError};
use super::event::{Event, Incoming, State};
use super::framer::Framer;
use super::pkid::PacketIds;
use super::timer::{Timer, TimerTable};

/// An MQTT 3.1.1 client session without IO.
///
/// Inputs are `handle_*` calls and commands with `now` in milliseconds;
/// after each, the driver drains `poll_transmit`, `poll_event` and
/// `poll_timeout`. See docs/core-api.md.
#[derive(Debug)]
pub struct Session {
    config: Config,
    state: State,
    framer: Framer,
    outgoing: Outgoing,
    events: Vec<Event>,
    timers: TimerTable,
    ids: PacketIds,
    /// QoS 1 publishes awaiting PUBACK (id, encoded packet, when last sent), in
    /// the order they were first sent.
    inflight: Vec<(u16, Vec<u8>, u64)>,
    /// SUBSCRIBEs and UNSUBSCRIBEs awaiting their acknowledgement (id, when sent).
    pending_subs: Vec<(u16, u64)>,
    pending_unsubs: Vec<(u16, u64)>,
    ping_outstanding: bool,
    /// When the last packet was queued (ms).
    last_sent: u64,
}

impl Session {
    /// A session in state `Idle`.
    pub fn new(config: Config) -> Session {
        Session {
            framer: Framer::new(config.max_incoming_packet),
            config,
            state: State::Idle,
            outgoing: Outgoing::default(),
            events: Vec::new(),
            timers: TimerTable::default(),
            ids: PacketIds::new(),
            inflight: Vec::new(),
            pending_subs: Vec::new(),
            pending_unsubs: Vec::new(),
            ping_outstanding: false,
            last_sent: 0,
        }
    }

    // ----- getters -----

    /// The connection state.
    pub fn state(&self) -> State {
        self.state
    }

    /// The configuration the session was built with.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// Sets the will the next CONNECT carries.
    pub fn set_will(&mut self, will: Option<super::Will>) {
        self.config.will = will;
    }

    /// Room left in the QoS 1 window.
    pub fn inflight_free(&self) -> u16 {
        let used = u16::try_from(self.inflight.len()).unwrap_or(u16::MAX);
        self.window().saturating_sub(used)
    }

    /// Packet identifiers of QoS 1 publishes awaiting PUBACK, oldest first.
    pub fn inflight_ids(&self) -> Vec<u16> {
        self.inflight.iter().map(|(id, ..)| *id).collect()
    }

    fn window(&self) -> u16 {
        self.config.max_inflight.max(1)
    }

    fn keep_alive_ms(&self) -> Option<u64> {
        match self.config.keep_alive_secs {
            0 => None,
            s => Some(u64::from(s) * 1000),
        }
    }

    /// When the oldest unacknowledged packet of this connection times out.
    fn ack_deadline(&self) -> Option<u64> {
        if self.state != State::Connected || self.config.ack_timeout_ms == 0 {
            return None;
        }
        // In-flight publishes are in the order they were (re)sent: the first is the oldest.
        let mut oldest = self.inflight.first().map_or(u64::MAX, |p| p.2);
        for (_, t) in self.pending_subs.iter().chain(&self.pending_unsubs) {
            oldest = oldest.min(*t);
        }
        (oldest != u64::MAX).then(|| oldest.saturating_add(self.config.ack_timeout_ms))
    }

    fn live(&self) -> bool {
        matches!(self.state, State::Connecting | State::Connected)
    }

    // ----- commands -----

    /// The shell has just opened a transport: queue CONNECT with this password.
    ///
    /// Allowed in `Idle` and `Closed`. Starts the CONNACK timeout.
    pub fn connect(&mut self, now: u64, password: Option<String>) -> Result<(), Error> {
        if self.live() {
            return Err(Error::AlreadyConnected);
        }
        let c = &self.config;
        let bytes = codec::connect(&ConnectFields {
            client_id: &c.client_id,
            keep_alive_secs: c.keep_alive_secs,
            clean_session: c.clean_session,
            will: c
                .will
                .as_ref()
                .map(|w| (w.topic.as_str(), &w.payload[..], w.qos, w.retain)),
            username: c.username.as_deref(),
            password: password.as_deref(),
        })?;
        self.teardown();
        self.outgoing.clear();
        self.state = State::Connecting;
        self.outgoing.push(&bytes);
        self.last_sent = now;
        self.timers.set(
            Timer::Connack,
            now.saturating_add(self.config.connack_timeout_ms),
        );
        Ok(())
    }

    /// Queue a PUBLISH. QoS 0 gives `Ok(None)`, QoS 1 `Ok(Some(pkid))`.
    ///
    /// Needs state `Connected`; on any error nothing was queued.
    pub fn publish(
        &mut self,
        now: u64,
        topic: &str,
        payload: &[u8],
        qos: QoS,
        retain: bool,
    ) -> Result<Option<u16>, PublishError> {
        if qos == QoS::ExactlyOnce {
            return Err(PublishError::QosNotSupported);
        }
        if self.state != State::Connected {
            return Err(PublishError::NotConnected);
        }
        if topic.is_empty() || topic.bytes().any(|b| matches!(b, b'+' | b'#' | 0)) {
            return Err(PublishError::InvalidTopic);
        }
        if qos == QoS::AtMostOnce {
            let bytes = codec::publish_parts(topic, payload, qos, retain, 0)
                .map_err(PublishError::Encode)?;
            self.queue(now, bytes);
            return Ok(None);
        }
        if self.inflight_free() == 0 {
            return Err(PublishError::InflightFull);
        }
        let pkid = self
            .ids
            .allocate()
            .ok_or(PublishError::Encode(Error::PacketIdsExhausted))?;
        match codec::publish_parts(topic, payload, qos, retain, pkid) {
            Ok(bytes) => {
                self.inflight.push((pkid, bytes.clone(), now));
                self.queue(now, bytes);
                Ok(Some(pkid))
            }
            Err(e) => {
                self.ids.release(pkid);
                Err(PublishError::Encode(e))
            }
        }
    }

    /// Queue a SUBSCRIBE; returns its packet identifier. QoS 2 filters are
    /// refused (`Error::QosNotSupported`). Needs state `Connected`.
    pub fn subscribe(&mut self, now: u64, filters: &[(String, QoS)]) -> Result<u16, Error> {
        if self.state != State::Connected {
            return Err(Error::NotConnected);
        }
        if filters.is_empty() {
            return Err(Error::NoFilters);
        }
        if filters.iter().any(|(f, _)| f.is_empty()) {
            return Err(Error::InvalidFilter);
        }
        if filters.iter().any(|(_, q)| *q == QoS::ExactlyOnce) {
            return Err(Error::QosNotSupported);
        }
        let pkid = self.ids.allocate().ok_or(Error::PacketIdsExhausted)?;
        match codec::subscribe(pkid, filters) {
            Ok(bytes) => {
                self.pending_subs.push((pkid, now));
                self.queue(now, bytes);
                Ok(pkid)
            }
            Err(e) => {
                self.ids.release(pkid);
                Err(e)
            }
        }
    }

    /// Queue an UNSUBSCRIBE; returns its packet identifier. Needs state `Connected`.
    pub fn unsubscribe(&mut self, now: u64, filters: &[String]) -> Result<u16, Error> {
        if self.state != State::Connected {
            return Err(Error::NotConnected);
        }
        if filters.is_empty() {
            return Err(Error::NoFilters);
        }
        if filters.iter().any(String::is_empty) {
            return Err(Error::InvalidFilter);
        }
        let pkid = self.ids.allocate().ok_or(Error::PacketIdsExhausted)?;
        match codec::unsubscribe(pkid, filters) {
            Ok(bytes) => {
                self.pending_unsubs.push((pkid, now));
                self.queue(now, bytes);
                Ok(pkid)
            }
            Err(e) => {
                self.ids.release(pkid);
                Err(e)
            }
        }
    }

    /// Queue DISCONNECT (if a connection is live) and enter `Closed`.
    ///
    /// In-flight QoS 1 publishes are kept for a later `connect`.
    pub fn disconnect(&mut self, now: u64) {
        let live = self.live();
        self.teardown();
        if live {
            self.queue(now, codec::DISCONNECT.to_vec());
        } else {
            self.outgoing.clear();
        }
        self.timers.stop_all();
        self.state = State::Closed;
    }

    // ----- inputs -----

    /// Bytes of one WebSocket message: part of a packet, one, or several.
    ///
    /// An error ends the connection (`Event::ConnectionLost(Protocol(..))`
    /// is queued, state `Idle`); the shell should close the transport.
    /// Bytes arriving in `Idle` or `Closed` are ignored.
    pub fn handle_bytes(&mut self, now: u64, data: &[u8]) -> Result<(), Error> {
        let mut input = data;
        while self.live() && !input.is_empty() {
            let frame = match self.framer.next_frame(&mut input) {
                Ok(Some(frame)) => frame,
                Ok(None) => break,
                Err(e) => return Err(self.fail(e)),
            };
            let result = codec::decode(frame).and_then(|p| self.handle_packet(now, p));
            if let Err(e) = result {
                return Err(self.fail(e));
            }
        }
        Ok(())
    }

    /// Run expired timers. Calling it early is harmless.
    pub fn handle_timeout(&mut self, now: u64) {
        if self.state == State::Connecting && self.timers.expired(Timer::Connack, now) {
            self.lose(LostReason::ConnackTimeout);
            return;
        }
        if self.state != State::Connected {
            return;
        }
        if self.timers.expired(Timer::PingResp, now) {
            self.lose(LostReason::PingTimeout);
            return;
        }
        if self.ack_deadline().is_some_and(|d| d <= now) {
            self.lose(LostReason::AckTimeout);
            return;
        }
        if !self.ping_outstanding && self.timers.expired(Timer::KeepAlive, now) {
            self.queue(now, codec::PINGREQ.to_vec());
            self.ping_outstanding = true;
            self.timers.stop(Timer::KeepAlive);
            self.timers.set(
                Timer::PingResp,
                now.saturating_add(self.config.ping_timeout_ms),
            );
        }
    }

    /// The transport delivered a WebSocket text frame: MQTT over WebSocket is
    /// binary only (§6), so the connection ends as a protocol error
    /// (`ConnectionLost(Protocol(TextFrame))`); the shell should close it.
    pub fn handle_text_frame(&mut self, _now: u64) {
        if self.live() {
            self.fail(Error::TextFrame);
        }
    }

    /// The transport closed under us. Queues `ConnectionLost(Transport)` if
    /// a connection was live; in-flight QoS 1 publishes are kept.
    pub fn connection_lost(&mut self, _now: u64) {
        if self.live() {
            self.lose(LostReason::Transport);
        } else {
            self.teardown();
        }
    }

    // ----- outputs -----

    /// Bytes to send as one WebSocket message: every ready packet when
    /// `coalesce` is on, else one packet.
    #[must_use]
    pub fn poll_transmit(&mut self) -> Option<Vec<u8>> {
        self.outgoing.take(self.config.coalesce)
    }

    /// The next event.
    #[must_use]
    pub fn poll_event(&mut self) -> Option<Event> {
        (!self.events.is_empty()).then(|| self.events.remove(0))
    }

    /// Every queued event at once, oldest first (what `poll_event` would return).
    #[must_use]
    pub fn take_events(&mut self) -> Vec<Event> {
        core::mem::take(&mut self.events)
    }

    /// When `handle_timeout` should next be called (the earliest timer).
    #[must_use]
    pub fn poll_timeout(&self) -> Option<u64> {
        let ack = self.ack_deadline();
        match self.timers.next() {
            Some(t) => Some(ack.map_or(t, |a| a.min(t))),
            None => ack,
        }
    }

    // ----- internals -----

    fn queue(&mut self, now: u64, bytes: Vec<u8>) {
        self.outgoing.push(&bytes);
        self.last_sent = now;
        if self.state == State::Connected && !self.ping_outstanding {
            if let Some(ka) = self.keep_alive_ms() {
                self.timers.set(Timer::KeepAlive, now.saturating_add(ka));
            }
        }
    }

    /// Forget everything tied to the current transport; keep in-flight publishes.
    fn teardown(&mut self) {
        self.framer.reset();
        self.timers.stop_all();
        self.ping_outstanding = false;
        for (id, _) in core::mem::take(&mut self.pending_subs) {
            self.ids.release(id);
        }
        for (id, _) in core::mem::take(&mut self.pending_unsubs) {
            self.ids.release(id);
        }
    }

    fn lose(&mut self, reason: LostReason) {
        self.teardown();
        self.outgoing.clear();
        self.state = State::Idle;
        self.events.push(Event::ConnectionLost(reason));
    }

    fn fail(&mut self, e: Error) -> Error {
        self.lose(LostReason::Protocol(e.clone()));
        e
    }

    fn handle_packet(&mut self, now: u64, packet: ServerPacket) -> Result<(), Error> {
        // Anything received proves the connection alive.
        if self.ping_outstanding {
            self.ping_outstanding = false;
            self.timers.stop(Timer::PingResp);
            if let Some(ka) = self.keep_alive_ms() {
                self.timers
                    .set(Timer::KeepAlive, self.last_sent.saturating_add(ka));
            }
        }
        let connected = self.state == State::Connected;
        match packet {
            ServerPacket::ConnAck {
                session_present,
                code,
            } if self.state == State::Connecting => self.on_connack(now, session_present, code),
            ServerPacket::Publish(p) if connected => self.on_publish(now, p),
            // An acknowledgement nothing awaits is a broken or hostile server (acks
            // belong to the connection that carried the request): end the connection.
            ServerPacket::PubAck(pkid) if connected => {
                let i = self
                    .inflight
                    .iter()
                    .position(|(id, ..)| *id == pkid)
                    .ok_or(Error::UnknownPacketId {
                        packet_type: codec::packet_type::PUBACK,
                        pkid,
                    })?;
                self.inflight.remove(i);
                self.ids.release(pkid);
                self.events.push(Event::PubAck(pkid));
                Ok(())
            }
            ServerPacket::SubAck { pkid, codes } if connected => {
                if !take(&mut self.pending_subs, pkid) {
                    return Err(Error::UnknownPacketId {
                        packet_type: codec::packet_type::SUBACK,
                        pkid,
                    });
                }
                self.ids.release(pkid);
                let granted = codes.into_iter().map(QoS::from_u8).collect();
                self.events.push(Event::SubAck { pkid, granted });
                Ok(())
            }
            ServerPacket::UnsubAck(pkid) if connected => {
                if !take(&mut self.pending_unsubs, pkid) {
                    return Err(Error::UnknownPacketId {
                        packet_type: codec::packet_type::UNSUBACK,
                        pkid,
                    });
                }
                self.ids.release(pkid);
                self.events.push(Event::UnsubAck(pkid));
                Ok(())
            }
            ServerPacket::PingResp if connected => Ok(()),
            other => Err(Error::UnexpectedPacket(other.packet_type())),
        }
    }

    fn on_connack(&mut self, now: u64, session_present: bool, code: u8) -> Result<(), Error> {
        self.timers.stop(Timer::Connack);
        if let Some(refused) = ConnectReturn::from_code(code) {
            self.teardown();
            self.outgoing.clear();
            self.state = State::Idle;
            self.events.push(Event::Refused(refused));
            return Ok(());
        }
        self.state = State::Connected;
        self.events.push(Event::Connected { session_present });
        if let Some(ka) = self.keep_alive_ms() {
            // Keep-alive counts from the last packet sent: the CONNECT.
            self.timers
                .set(Timer::KeepAlive, self.last_sent.saturating_add(ka));
        }
        let mut resend = Vec::with_capacity(self.inflight.len());
        for (_, bytes, sent) in &mut self.inflight {
            bytes[0] |= codec::PUBLISH_DUP;
            *sent = now;
            resend.push(bytes.clone());
        }
        for bytes in resend {
            self.queue(now, bytes);
        }
        Ok(())
    }

    fn on_publish(&mut self, now: u64, p: codec::Publish) -> Result<(), Error> {
        match p.qos {
            QoS::ExactlyOnce => return Err(Error::IncomingQos2),
            QoS::AtLeastOnce => self.queue(now, codec::puback(p.pkid)),
            QoS::AtMostOnce => {}
        }
        self.events.push(Event::Message(Incoming {
            topic: p.topic,
            payload: p.payload,
            qos: p.qos,
            dup: p.dup,
            retain: p.retain,
            pkid: p.pkid,
        }));
        Ok(())
    }
}

/// Packets waiting for `poll_transmit`, back to back, with where each ends.
#[derive(Debug, Default)]
struct Outgoing {
    buf: Vec<u8>,
    ends: Vec<usize>,
}

impl Outgoing {
    fn push(&mut self, packet: &[u8]) {
        self.buf.extend_from_slice(packet);
        self.ends.push(self.buf.len());
    }

    fn clear(&mut self) {
        self.buf.clear();
        self.ends.clear();
    }

    /// Everything queued (`all`), or the oldest packet.
    fn take(&mut self, all: bool) -> Option<Vec<u8>> {
        let first = *self.ends.first()?;
        if all || self.ends.len() == 1 {
            self.ends.clear();
            return Some(core::mem::take(&mut self.buf));
        }
        self.ends.remove(0);
        for e in &mut self.ends {
            *e -= first;
        }
        let rest = self.buf.split_off(first);
        Some(core::mem::replace(&mut self.buf, rest))
    }
}

/// Removes `id` from `ids`; whether it was there.
fn take(ids: &mut Vec<(u16, u64)>, id: u16) -> bool {
    match ids.iter().position(|&(x, _)| x == id) {
        Some(i) => {
            ids.swap_remove(i);
            true
        }
        None => false,
    }
}
