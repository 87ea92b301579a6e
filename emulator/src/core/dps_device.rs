//! The DPS device side on the hub's WebSocket endpoint, as the DPS MQTT docs
//! describe it: a CONNECT whose username is `{idScope}/registrations/{id}/api-version=…`
//! is a provisioning connection; it may SUBSCRIBE `$dps/registrations/res/#` and
//! PUBLISH `iotdps-register` / `iotdps-get-operationstatus`, answered on
//! `$dps/registrations/res/{status}/?$rid=…[&retry-after=…]`.
//!
//! Like DPS, the CONNECT is accepted for any well-formed token and each request is
//! authorized on its own: a key that signs for no enrollment gets `401` (errorCode
//! 401002) on the register request, not a CONNACK refusal.

use hubwire::dps::auth as dps_auth;
use hubwire::dps::topics as dps_topics;

use super::dps::{key_of, DpsConn, EnrollmentRef, Operation, Registration};
use super::*;

/// Why an assignment did not happen.
enum NotAssigned {
    Disabled,
    Failed(u64, String),
}

/// The hub device an assignment creates or reuses: id, keys, initial twin.
type Target = (String, (String, String), Option<Value>);

/// Who a request is authorized as.
struct Authorized {
    enrollment: EnrollmentRef,
    enabled: bool,
}

fn error_body(now: u64, code: u64, message: &str, tracking: u64) -> Vec<u8> {
    serde_json::json!({
        "errorCode": code,
        "trackingId": format!("{tracking:016x}"),
        "message": message,
        "timestampUtc": super::time::iso8601(now),
    })
    .to_string()
    .into_bytes()
}

impl Hub {
    /// Whether a CONNECT username is DPS's (`{idScope}/registrations/{id}/api-version=…`).
    pub(super) fn is_dps_username(username: &str) -> bool {
        dps_auth::parse_username(username).is_some()
    }

    /// A provisioning CONNECT: accepted for any parseable token (checked per request).
    pub(super) fn dps_connect(&mut self, now: u64, conn: ConnId, connect: v4::Connect) {
        let Some(login) = &connect.login else {
            return self.refuse(now, conn, ConnectReturnCode::BadUserNamePassword);
        };
        let Some((scope, registration_id)) = dps_auth::parse_username(&login.username) else {
            return self.refuse(now, conn, ConnectReturnCode::BadUserNamePassword);
        };
        let token = match SasToken::parse(&login.password) {
            Ok(t) => t,
            Err(_) => return self.refuse(now, conn, ConnectReturnCode::BadUserNamePassword),
        };
        if connect.client_id.is_empty() {
            return self.refuse(now, conn, ConnectReturnCode::BadClientId);
        }
        self.dps.conns.insert(
            conn,
            DpsConn {
                registration_id: registration_id.to_string(),
                id_scope: scope.to_string(),
                client_id: connect.client_id.clone(),
                token: token.clone(),
                subscribed: false,
            },
        );
        if let Some(c) = self.conns.get_mut(&conn) {
            c.keep_alive_ms = u64::from(connect.keep_alive) * 1000;
            c.token_expiry_ms = Some(token.expiry().saturating_mul(1000));
            c.clean = true;
        }
        // DPS keeps no sessions: session-present is always 0.
        self.transmit(
            conn,
            &Packet::ConnAck(ConnAck::new(ConnectReturnCode::Success, false)),
        );
    }

    /// A packet on a provisioning connection.
    pub(super) fn dps_packet(&mut self, now: u64, conn: ConnId, p: Packet) {
        match p {
            Packet::Subscribe(s) => {
                let mut codes = Vec::new();
                let mut ok = false;
                for f in &s.filters {
                    if f.path == dps_topics::SUBSCRIBE_FILTER {
                        ok = true;
                        // DPS grants at most QoS 1 (a QoS 2 request gets 1).
                        let q = if f.qos == QoS::AtMostOnce {
                            QoS::AtMostOnce
                        } else {
                            QoS::AtLeastOnce
                        };
                        codes.push(SubscribeReasonCode::Success(q));
                    } else {
                        codes.push(SubscribeReasonCode::Failure);
                    }
                }
                if ok {
                    if let Some(d) = self.dps.conns.get_mut(&conn) {
                        d.subscribed = true;
                    }
                }
                self.transmit(conn, &Packet::SubAck(SubAck::new(s.pkid, codes)));
            }
            Packet::Unsubscribe(u) => {
                if u.topics.iter().any(|t| t == dps_topics::SUBSCRIBE_FILTER) {
                    if let Some(d) = self.dps.conns.get_mut(&conn) {
                        d.subscribed = false;
                    }
                }
                self.transmit(conn, &Packet::UnsubAck(UnsubAck::new(u.pkid)));
            }
            Packet::Publish(p) => self.dps_publish(now, conn, p),
            Packet::PingReq => self.transmit(conn, &Packet::PingResp),
            Packet::PubAck(_) => {}
            Packet::Disconnect => {
                if let Some(c) = self.conns.get_mut(&conn) {
                    c.disconnect_seen = true;
                }
                self.close(now, conn, true);
            }
            // A second CONNECT, QoS 2 flows, server packets: DPS closes.
            _ => self.close(now, conn, false),
        }
    }

    fn dps_publish(&mut self, now: u64, conn: ConnId, p: Publish) {
        if p.qos == QoS::ExactlyOnce {
            return self.close(now, conn, false);
        }
        let request = match dps_topics::parse_request_topic(&p.topic) {
            Ok(Some(r)) => r,
            // DPS supports only its documented topics.
            Ok(None) | Err(_) => return self.close(now, conn, false),
        };
        if p.qos == QoS::AtLeastOnce {
            self.transmit(conn, &Packet::PubAck(PubAck::new(p.pkid)));
        }
        let Some(d) = self.dps.conns.get(&conn).cloned() else {
            return;
        };
        let key = key_of(&d.registration_id);
        let (rid, op_id) = match request {
            dps_topics::Request::Register { rid } => (rid, None),
            dps_topics::Request::OperationStatus { rid, operation_id } => (rid, Some(operation_id)),
        };
        let tracking = self.dps.next_op;
        if let Some(f) = self.dps.faults.get_mut(&key).filter(|f| f.throttle > 0) {
            f.throttle -= 1;
            let retry = f.throttle_retry_after;
            let body = error_body(
                now,
                429_001,
                "Operations are being throttled for this registration (emulator fault).",
                tracking,
            );
            return self.dps_answer(conn, 429, &rid, Some(retry), body);
        }
        let auth = match self.dps_authorize(now, &d) {
            Ok(a) => a,
            Err(message) => {
                let body = error_body(now, 401_002, message, tracking);
                return self.dps_answer(conn, 401, &rid, None, body);
            }
        };
        match op_id {
            None => self.dps_register(now, conn, &d, &rid, auth, &p.payload),
            Some(op) => self.dps_status(now, conn, &d, &rid, &op),
        }
    }

    /// Checks the connection's token against the enrollments, as DPS does per request.
    fn dps_authorize(&self, now: u64, d: &DpsConn) -> Result<Authorized, &'static str> {
        if !d.id_scope.eq_ignore_ascii_case(&self.dps.id_scope) {
            return Err("Unknown ID scope.");
        }
        if d.client_id != d.registration_id {
            return Err("The MQTT client id must be the registration id.");
        }
        if d.token.key_name() != Some(dps_auth::KEY_NAME) {
            return Err("The token must name the registration policy (skn=registration).");
        }
        let path = format!("/registrations/{}", d.registration_id);
        if !d.token.names(&d.id_scope, &path) {
            return Err("The token's sr is not {idScope}/registrations/{registrationId}.");
        }
        let key = key_of(&d.registration_id);
        let verify = |keys: &[&str]| match d.token.verify(keys, now) {
            Ok(()) => Ok(()),
            Err(super::auth::AuthError::Expired) => Err("The token has expired."),
            Err(_) => Err("The request authorization key is not authorized."),
        };
        // An individual enrollment takes precedence over any group.
        if let Some(e) = self.dps.individual.get(&key) {
            verify(&[&e.keys.primary, &e.keys.secondary])?;
            return Ok(Authorized {
                enrollment: EnrollmentRef::Individual,
                enabled: e.enabled,
            });
        }
        for g in self.dps.groups.values() {
            let derived: Vec<String> = [&g.keys.primary, &g.keys.secondary]
                .iter()
                .filter_map(|k| dps_auth::derive_device_key_base64(k, &d.registration_id).ok())
                .collect();
            let refs: Vec<&str> = derived.iter().map(String::as_str).collect();
            if verify(&refs).is_ok() {
                return Ok(Authorized {
                    enrollment: EnrollmentRef::Group(g.id.clone()),
                    enabled: g.enabled,
                });
            }
        }
        // Unknown registration, or a key that signs for no enrollment.
        Err("The request authorization key is not authorized.")
    }

    fn dps_register(
        &mut self,
        now: u64,
        conn: ConnId,
        d: &DpsConn,
        rid: &str,
        auth: Authorized,
        body: &[u8],
    ) {
        let tracking = self.dps.next_op;
        let payload = match serde_json::from_slice::<Value>(body) {
            Ok(v)
                if v["registrationId"]
                    .as_str()
                    .is_some_and(|r| r.eq_ignore_ascii_case(&d.registration_id)) =>
            {
                v.get("payload").filter(|p| !p.is_null()).cloned()
            }
            _ => {
                let body = error_body(
                    now,
                    400_004,
                    "The body must be {\"registrationId\": <the connection's registration id>, \"payload\"?}.",
                    tracking,
                );
                return self.dps_answer(conn, 400, rid, None, body);
            }
        };
        let key = key_of(&d.registration_id);
        let previous = self.dps.registrations.remove(&key);
        let mut reg = Registration {
            registration_id: d.registration_id.clone(),
            enrollment: auth.enrollment,
            status: "assigning".into(),
            substatus: None,
            device_id: None,
            assigned_hub: None,
            error_code: None,
            error_message: None,
            payload,
            created_ms: previous.as_ref().map_or(now, |p| p.created_ms),
            updated_ms: now,
            etag: previous.as_ref().map_or(1, |p| p.etag + 1),
        };
        self.dirty = true;
        if !auth.enabled {
            // A disabled enrollment is answered at once, with no operation.
            reg.status = "disabled".into();
            let state =
                serde_json::json!({ "registrationId": reg.registration_id, "status": "disabled" });
            self.dps.registrations.insert(key, reg);
            let body = serde_json::json!({ "operationId": "", "status": "disabled", "registrationState": state });
            return self.dps_answer(conn, 200, rid, None, body.to_string().into_bytes());
        }
        self.dps.registrations.insert(key.clone(), reg);
        let n = self.dps.next_op;
        self.dps.next_op += 1;
        let op_id = format!("4.{now:016x}.{n:08x}-0000-4000-8000-{:012x}", n ^ now);
        let mut ready_at = now;
        if let Some(f) = self.dps.faults.get_mut(&key).filter(|f| f.slow_count > 0) {
            f.slow_count -= 1;
            ready_at = now.saturating_add(f.slow_ms);
        }
        if let Some(old) = self.dps.latest_op.insert(key.clone(), op_id.clone()) {
            self.dps.operations.remove(&old);
        }
        self.dps.operations.insert(
            op_id.clone(),
            Operation {
                key,
                ready_at,
                result: None,
            },
        );
        let body = serde_json::json!({ "operationId": op_id, "status": "assigning" });
        let retry = self.dps.retry_after_secs;
        self.dps_answer(conn, 202, rid, Some(retry), body.to_string().into_bytes());
    }

    fn dps_status(&mut self, now: u64, conn: ConnId, d: &DpsConn, rid: &str, op_id: &str) {
        let key = key_of(&d.registration_id);
        let tracking = self.dps.next_op;
        let Some(op) = self
            .dps
            .operations
            .get(op_id)
            .filter(|o| o.key == key)
            .cloned()
        else {
            let body = error_body(now, 404_203, "Operation not found.", tracking);
            return self.dps_answer(conn, 404, rid, None, body);
        };
        if let Some(done) = op.result {
            return self.dps_answer(conn, 200, rid, None, done.to_string().into_bytes());
        }
        if now < op.ready_at {
            let body = serde_json::json!({ "operationId": op_id, "status": "assigning" });
            let retry = self.dps.retry_after_secs;
            return self.dps_answer(conn, 202, rid, Some(retry), body.to_string().into_bytes());
        }
        let result = self.dps_assign(now, &key, op_id);
        if let Some(o) = self.dps.operations.get_mut(op_id) {
            o.result = Some(result.clone());
        }
        self.dps_answer(conn, 200, rid, None, result.to_string().into_bytes())
    }

    /// Finishes an operation: creates or reuses the device, records the registration state,
    /// returns the `RegistrationOperationStatus` body.
    fn dps_assign(&mut self, now: u64, key: &str, op_id: &str) -> Value {
        self.dirty = true;
        let Some(mut reg) = self.dps.registrations.get(key).cloned() else {
            return serde_json::json!({ "operationId": op_id, "status": "failed" });
        };
        reg.updated_ms = now;
        reg.etag += 1;
        let fail = self.dps.faults.get_mut(key).and_then(|f| f.fail.take());
        let target: Result<Target, NotAssigned> = match (&reg.enrollment, fail) {
            (_, Some((code, message))) => Err(NotAssigned::Failed(code, message)),
            (EnrollmentRef::Individual, None) => match self.dps.individual.get(key) {
                Some(e) if e.enabled => Ok((
                    e.device_id
                        .clone()
                        .unwrap_or_else(|| reg.registration_id.clone()),
                    (e.keys.primary.clone(), e.keys.secondary.clone()),
                    e.initial_twin.clone(),
                )),
                Some(_) => Err(NotAssigned::Disabled),
                None => Err(NotAssigned::Failed(
                    404_201,
                    "The enrollment was deleted.".into(),
                )),
            },
            (EnrollmentRef::Group(g), None) => match self.dps.groups.get(g) {
                Some(g) if g.enabled => {
                    let derive = |k: &str| {
                        dps_auth::derive_device_key_base64(k, &reg.registration_id)
                            .unwrap_or_default()
                    };
                    Ok((
                        reg.registration_id.clone(),
                        (derive(&g.keys.primary), derive(&g.keys.secondary)),
                        g.initial_twin.clone(),
                    ))
                }
                Some(_) => Err(NotAssigned::Disabled),
                None => Err(NotAssigned::Failed(
                    404_201,
                    "The enrollment group was deleted.".into(),
                )),
            },
        };
        let outcome = target.and_then(|(device, keys, twin)| {
            let id = IdentityId::device(&device);
            let created = self.registry.get(&id).is_none();
            // DPS gives the hub device the enrollment's (or the derived) keys.
            self.put_identity(now, &id, None, Some(keys.clone()), keys)
                .map_err(|e| {
                    NotAssigned::Failed(
                        400_000,
                        format!("The hub refused the device: {}", e.message()),
                    )
                })?;
            if created {
                if let Some(t) = twin.filter(Value::is_object) {
                    let _ = self.patch_twin(now, &id, &t);
                }
            }
            Ok(device)
        });
        let status = match outcome {
            Ok(device) => {
                reg.status = "assigned".into();
                reg.substatus = Some("initialAssignment".into());
                reg.assigned_hub = Some(self.config.host_name.clone());
                reg.device_id = Some(device);
                reg.error_code = None;
                reg.error_message = None;
                "assigned"
            }
            Err(NotAssigned::Disabled) => {
                reg.status = "disabled".into();
                "disabled"
            }
            Err(NotAssigned::Failed(code, message)) => {
                reg.status = "failed".into();
                reg.error_code = Some(code);
                reg.error_message = Some(message);
                "failed"
            }
        };
        let state = reg.to_json(false);
        self.dps.registrations.insert(key.to_string(), reg);
        serde_json::json!({ "operationId": op_id, "status": status, "registrationState": state })
    }

    /// Sends an answer (QoS 0) if the connection subscribed to the response filter.
    fn dps_answer(
        &mut self,
        conn: ConnId,
        status: u16,
        rid: &str,
        retry_after_secs: Option<u64>,
        body: Vec<u8>,
    ) {
        if !self.dps.conns.get(&conn).is_some_and(|d| d.subscribed) {
            return;
        }
        let topic = dps_topics::response_topic(status, rid, retry_after_secs);
        self.transmit(
            conn,
            &Packet::Publish(Publish::new(topic, QoS::AtMostOnce, body)),
        );
    }
}
