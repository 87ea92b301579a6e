//! The device side: MQTT packets from a device connection, CONNECT
//! authentication, telemetry, twin requests, method responses, subscriptions.

use super::*;

impl Hub {
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

    pub(super) fn handle_packet(&mut self, now: u64, conn: ConnId, p: Packet) {
        let Some(c) = self.conns.get(&conn) else {
            return;
        };
        if c.closing {
            return;
        }
        if self.is_dps_conn(conn) {
            return self.dps_packet(now, conn, p);
        }
        let identity = c.identity.clone();
        match (p, identity) {
            (Packet::Connect(connect), None) if !c.connect_seen => {
                self.handle_connect(now, conn, connect)
            }
            (Packet::Publish(p), Some(id)) => self.handle_publish(now, conn, &id, p),
            (Packet::PubAck(ack), Some(id)) => {
                self.c2d_acknowledged(now, &id.device, conn, ack.pkid);
                self.input_acked(&id, conn, ack.pkid);
                if let Some(c) = self.conns.get_mut(&conn) {
                    c.inflight.remove(&ack.pkid);
                }
            }
            (Packet::Subscribe(s), Some(id)) => {
                let session = self.sessions.entry(id.clone()).or_default();
                let mut codes = Vec::new();
                let mut added = Vec::new();
                for f in &s.filters {
                    // A session holds at most MAX_SUBSCRIPTIONS filters; one more is refused.
                    let kind = sub_kind(&id, &f.path).filter(|k| {
                        session.subs.contains_key(k) || session.subs.len() < MAX_SUBSCRIPTIONS
                    });
                    match kind {
                        Some(kind) => {
                            let q = if f.qos == QoS::AtMostOnce {
                                QoS::AtMostOnce
                            } else {
                                QoS::AtLeastOnce
                            };
                            let changed = session.subs.insert(kind.clone(), q) != Some(q);
                            // The state file keeps clean-session-0 subscriptions.
                            self.dirty |= changed && !session.clean;
                            added.push(kind);
                            codes.push(SubscribeReasonCode::Success(q));
                        }
                        None => codes.push(SubscribeReasonCode::Failure),
                    }
                }
                self.transmit(conn, &Packet::SubAck(SubAck::new(s.pkid, codes)));
                if added.contains(&Sub::C2d) {
                    self.deliver_c2d(now, &id.device);
                }
                if added
                    .iter()
                    .any(|k| matches!(k, Sub::Methods | Sub::Method(_)))
                {
                    self.deliver_calls(now, &id);
                }
                if added.contains(&Sub::Inputs) {
                    self.deliver_inputs(&id);
                }
            }
            (Packet::Unsubscribe(u), Some(id)) => {
                if let Some(session) = self.sessions.get_mut(&id) {
                    for t in &u.topics {
                        if let Some(kind) = sub_kind(&id, t) {
                            self.dirty |= session.subs.remove(&kind).is_some() && !session.clean;
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

    pub(super) fn refuse(&mut self, now: u64, conn: ConnId, code: ConnectReturnCode) {
        self.transmit(conn, &Packet::ConnAck(ConnAck::new(code, false)));
        self.close(now, conn, true);
    }

    pub(super) fn handle_connect(&mut self, now: u64, conn: ConnId, connect: v4::Connect) {
        if let Some(c) = self.conns.get_mut(&conn) {
            c.connect_seen = true;
        }
        if connect.protocol != mqttbytes::Protocol::V4 {
            return self.refuse(now, conn, ConnectReturnCode::RefusedProtocolVersion);
        }
        if connect
            .login
            .as_ref()
            .is_some_and(|l| Self::is_dps_username(&l.username))
        {
            return self.dps_connect(now, conn, connect);
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
        if self.registry.get(&identity).is_some() && !self.throttle.admit(now, &identity) {
            // Too many CONNECTs from this identity (core/throttle.rs): retryable refusal.
            return self.refuse(now, conn, ConnectReturnCode::ServiceUnavailable);
        }
        let token_expiry = match self.authenticate(now, conn, &identity, &login.password) {
            Ok(expiry) => expiry,
            Err(code) => return self.refuse(now, conn, code),
        };
        if !self.registry.get(&identity).is_some_and(|r| r.enabled) {
            // IoT Hub refuses a disabled device as "not authorized" (5), not 3: 3 is a
            // temporary outage that clients retry.
            return self.refuse(now, conn, ConnectReturnCode::NotAuthorized);
        }
        if let Some(code) = self.hostile_connack(&identity) {
            self.transmit_raw(conn, vec![0x20, 0x02, 0x00, code]);
            return self.close(now, conn, true);
        }
        if let Some(f) = self.faults.get_mut(&identity).filter(|f| f.unavailable > 0) {
            f.unavailable -= 1;
            return self.refuse(now, conn, ConnectReturnCode::ServiceUnavailable);
        }

        // One connection per identity: the newest wins.
        if let Some(old) = self.sessions.get(&identity).and_then(|s| s.conn) {
            self.close(now, old, true);
        }
        // A clean session drops the C2D queue, which belongs to the device (a
        // module's session has none): the messages are dead-lettered.
        if connect.clean_session && identity.module.is_none() {
            self.c2d_reject_all(now, &identity.device);
        }
        let session = self.sessions.entry(identity.clone()).or_default();
        let session_present = !connect.clean_session && session.connections > 0 && !session.clean;
        // The state file keeps clean-session-0 sessions: write when one starts or ends.
        let was_kept = session.connections > 0 && !session.clean;
        let kept = !connect.clean_session;
        self.dirty |= was_kept != kept;
        if connect.clean_session || session.clean {
            session.subs.clear();
        }
        session.clean = connect.clean_session;
        session.username = connect.login.as_ref().map(|l| l.username.clone());
        session.conn = Some(conn);
        session.connections += 1;
        if let Some(c) = self.conns.get_mut(&conn) {
            c.identity = Some(identity.clone());
            c.keep_alive_ms = u64::from(connect.keep_alive) * 1000;
            c.token_expiry_ms = token_expiry.map(|se| se.saturating_mul(1000));
            c.will = connect.last_will;
            c.clean = connect.clean_session;
        }
        self.transmit(
            conn,
            &Packet::ConnAck(ConnAck::new(ConnectReturnCode::Success, session_present)),
        );
        if identity.module.is_none() {
            self.deliver_c2d(now, &identity.device);
        }
        self.deliver_inputs(&identity);
        self.deliver_calls(now, &identity);
    }

    pub(super) fn handle_publish(&mut self, now: u64, conn: ConnId, id: &IdentityId, p: Publish) {
        if p.qos == QoS::ExactlyOnce {
            // IoT Hub does not support QoS 2 and closes the connection.
            return self.close(now, conn, false);
        }
        match hub_telemetry::parse_topic(&p.topic) {
            Ok(Some(t)) if t.device_id == id.device && t.module_id == id.module => {
                // Over the size limit, a spent quota, a throttle queue overflowing:
                // MQTT cannot refuse one PUBLISH, so the hub closes the connection.
                if telemetry_size(&t, p.payload.len()) > MAX_MESSAGE_BYTES
                    || self.quota_exceeded(now, id)
                {
                    return self.close(now, conn, false);
                }
                let shaping = self.shape_telemetry(now, id);
                if shaping == quota::Shaping::Refuse {
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
                match (p.qos, shaping) {
                    (QoS::AtLeastOnce, quota::Shaping::At(at)) => {
                        if let Some(c) = self.conns.get_mut(&conn) {
                            c.delayed_acks.push((at, p.pkid));
                        }
                    }
                    (QoS::AtLeastOnce, _) => self.ack(now, conn, id, p.pkid),
                    _ => {}
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
                if self.quota_exceeded(now, id) {
                    return self.twin_response(conn, id, 403, &rid, None, quota_body());
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
                if self.quota_exceeded(now, id) {
                    return self.twin_response(conn, id, 403, &rid, None, quota_body());
                }
                let Some(r) = self.registry.get_mut(id) else {
                    return;
                };
                return match r.twin.patch_reported(&p.payload) {
                    Ok(v) => {
                        self.dirty = true;
                        self.twin_response(conn, id, 204, &rid, Some(v), Vec::new())
                    }
                    // Malformed JSON or a broken twin rule: 400, nothing applied.
                    Err(e) => {
                        let body =
                            serde_json::json!({"errorCode": 400004, "message": e.to_string()});
                        self.twin_response(conn, id, 400, &rid, None, body.to_string().into_bytes())
                    }
                };
            }
            Err(_) => return self.close(now, conn, false),
            Ok(None) => {}
        }
        match hub_methods::parse_response_topic(&p.topic) {
            Ok(Some((status, rid))) => {
                self.ack_if_qos1(now, conn, id, &p);
                let found = self.calls.iter().find_map(|(k, c)| {
                    (matches!(c.state, CallState::Sent) && &c.identity == id && rid == call_rid(*k))
                        .then_some(*k)
                });
                if let Some(k) = found {
                    self.calls.remove(&k);
                    let result = if p.payload.len() > limits::MAX_METHOD_PAYLOAD_BYTES {
                        MethodResult::ResponseTooLarge
                    } else {
                        MethodResult::Response {
                            status,
                            payload: p.payload.to_vec(),
                        }
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

    pub(super) fn ack_if_qos1(&mut self, now: u64, conn: ConnId, id: &IdentityId, p: &Publish) {
        if p.qos == QoS::AtLeastOnce {
            self.ack(now, conn, id, p.pkid);
        }
    }

    pub(super) fn ack(&mut self, now: u64, conn: ConnId, id: &IdentityId, pkid: u16) {
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

    pub(super) fn throttled(&mut self, id: &IdentityId) -> bool {
        let f = self.faults.entry(id.clone()).or_default();
        if f.throttle > 0 {
            f.throttle -= 1;
            true
        } else {
            false
        }
    }

    pub(super) fn subscribed(&self, id: &IdentityId, kind: Sub) -> Option<(ConnId, QoS)> {
        let s = self.sessions.get(id)?;
        Some((s.conn?, *s.subs.get(&kind)?))
    }

    pub(super) fn twin_response(
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

    pub(super) fn record(
        &mut self,
        now: u64,
        id: &IdentityId,
        system: SystemProperties,
        mut properties: PropertyBag,
        retain: bool,
        body: Vec<u8>,
    ) {
        let mut system = system;
        telemetry::lift_creation_time(&mut system, &mut properties);
        // `$.cdid`/`$.cmid` are the hub's (the sender of a routed message): a device
        // cannot claim them.
        system.connection_device_id = None;
        system.connection_module_id = None;
        self.route_message(id, &system, &properties, &body);
        if retain {
            properties.push((limits::RETAIN_PROPERTY.into(), Some("true".into())));
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
}

/// A filter for one method's requests: `$iothub/methods/POST/{name}/#`.
const METHOD_PREFIX: &str = "$iothub/methods/POST/";

/// A telemetry message's size as IoT Hub measures it (body, system property
/// values, application property names and values).
fn telemetry_size(t: &hub_telemetry::TelemetryTopic, body: usize) -> usize {
    let system = telemetry::system_list(&t.system);
    limits::message_size(
        body,
        system.iter().map(|(_, v)| v.as_str()),
        t.properties.iter().map(|(k, v)| (k.as_str(), v.as_deref())),
    )
}

/// The body of a twin response refused for a spent quota.
fn quota_body() -> Vec<u8> {
    br#"{"errorCode":403002,"message":"IotHubQuotaExceeded: the daily message quota is spent"}"#
        .to_vec()
}

pub(super) fn sub_filter(id: &IdentityId, kind: Sub) -> String {
    match kind {
        Sub::C2d => format!("devices/{}/messages/devicebound/#", id.device),
        Sub::TwinRes => TWIN_RES.to_string(),
        Sub::TwinDesired => TWIN_DESIRED.to_string(),
        Sub::Methods => METHODS.to_string(),
        Sub::Inputs => hubwire::hub::c2d::subscribe_filter(&id.device, id.module.as_deref()),
        Sub::Method(name) => format!("{METHOD_PREFIX}{name}/#"),
    }
}

pub(super) fn sub_kind(id: &IdentityId, filter: &str) -> Option<Sub> {
    match filter {
        TWIN_RES => Some(Sub::TwinRes),
        TWIN_DESIRED => Some(Sub::TwinDesired),
        METHODS => Some(Sub::Methods),
        f if f.starts_with(METHOD_PREFIX) => f
            .strip_prefix(METHOD_PREFIX)
            .and_then(|rest| rest.strip_suffix("/#"))
            .filter(|name| !name.is_empty() && !name.contains(['/', '+', '#']))
            .map(|name| Sub::Method(name.to_string())),
        f if id.module.is_none()
            && f == format!("devices/{}/messages/devicebound/#", id.device) =>
        {
            Some(Sub::C2d)
        }
        f if id.module.is_some() && f == sub_filter(id, Sub::Inputs) => Some(Sub::Inputs),
        _ => None,
    }
}
