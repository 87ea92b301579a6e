//! The service side: identities, twins, telemetry and connection facts, as the
//! service API (docs/service-api.md) needs them.

use super::*;

impl Hub {
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
            self.throttle.forget(&gone);
            self.routing_forget(&gone);
            self.throttles.remove(&gone);
            if gone.module.is_none() {
                self.c2d.remove(&gone.device);
                self.feedback.forget_device(&gone.device);
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
        now: u64,
        id: &IdentityId,
        body: &Value,
    ) -> Result<Value, ServiceError> {
        self.patch_twin_if_match(now, id, body, None)
    }

    /// [`Hub::patch_twin`] with the request's `If-Match`: a stale etag is
    /// refused with 412 (`*` matches any). A patch breaking IoT Hub's twin
    /// rules (keys, values, depth, section size) is refused with 400 and
    /// changes nothing; the read-only `$version` and `$metadata` members of
    /// `desired` are ignored.
    pub fn patch_twin_if_match(
        &mut self,
        _now: u64,
        id: &IdentityId,
        body: &Value,
        if_match: Option<&str>,
    ) -> Result<Value, ServiceError> {
        let bad = || ServiceError::BadRequest("expected {properties: {desired: {...}}}".into());
        let body = body.as_object().ok_or_else(bad)?;
        let desired = match body.get("properties").and_then(|p| p.get("desired")) {
            None | Some(Value::Null) => None,
            Some(Value::Object(d)) => {
                let mut d = d.clone();
                d.remove("$version");
                d.remove("$metadata");
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
        if let Some(tag) = if_match {
            if !twin::etag_matches(tag, r.twin.version) {
                return Err(ServiceError::PreconditionFailed);
            }
        }
        let rule = |e: twin_rules::RuleError| ServiceError::BadRequest(e.to_string());
        if let Some(d) = &desired {
            r.twin.check_desired(d).map_err(rule)?;
        }
        if let Some(t) = &tags {
            r.twin.check_tags(t).map_err(rule)?;
        }
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
                s.subs.keys().map(|k| sub_filter(id, k.clone())).collect()
            }),
            username: s.and_then(|s| s.username.clone()),
            throttled_connects: self.throttle.refused(id),
        })
    }

    pub(super) fn is_connected(&self, id: &IdentityId) -> bool {
        self.sessions.get(id).is_some_and(|s| s.conn.is_some())
    }
}

pub(super) fn not_found(id: &IdentityId) -> ServiceError {
    if id.module.is_some() {
        ServiceError::ModuleNotFound
    } else {
        ServiceError::DeviceNotFound
    }
}

/// Reads `{properties: {desired}}`-style objects from JSON text.
pub fn parse_json(body: &[u8]) -> Result<Value, ServiceError> {
    serde_json::from_slice(body).map_err(|e| ServiceError::BadRequest(format!("invalid JSON: {e}")))
}
