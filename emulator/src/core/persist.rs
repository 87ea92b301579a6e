//! What the hub keeps across its own restart, as JSON (docs/emulator.md,
//! "State file"): queued cloud-to-device messages, the sessions of
//! clean-session-0 identities (subscriptions, connection count), and telemetry
//! records. The registry and twins are [`Registry::export`]'s. The IO side
//! (`crate::persist`) decides when to write.

use base64::Engine as _;

use super::*;

const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::STANDARD;

fn sub_name(s: &Sub) -> String {
    match s {
        Sub::C2d => "c2d".into(),
        Sub::TwinRes => "twinResponses".into(),
        Sub::TwinDesired => "twinDesired".into(),
        Sub::Methods => "methods".into(),
        Sub::Inputs => "inputs".into(),
        Sub::Method(name) => format!("method:{name}"),
    }
}

fn sub_from(name: &str) -> Option<Sub> {
    Some(match name {
        "c2d" => Sub::C2d,
        "twinResponses" => Sub::TwinRes,
        "twinDesired" => Sub::TwinDesired,
        "methods" => Sub::Methods,
        "inputs" => Sub::Inputs,
        other => Sub::Method(other.strip_prefix("method:")?.to_string()),
    })
}

fn opt(v: &Value, k: &str) -> Option<String> {
    v.get(k).and_then(Value::as_str).map(str::to_string)
}

fn c2d_json(q: &QueuedC2d) -> Value {
    let m = &q.msg;
    serde_json::json!({
        "body": B64.encode(&m.payload),
        "messageId": m.message_id, "correlationId": m.correlation_id, "to": m.to,
        "expiry": m.expiry, "ack": m.ack, "contentType": m.content_type,
        "contentEncoding": m.content_encoding, "userId": m.user_id,
        "properties": m.properties,
        "deliveries": q.deliveries,
        "expiresMs": q.expires_ms,
    })
}

fn c2d_from(v: &Value) -> Option<QueuedC2d> {
    let properties = v["properties"]
        .as_array()?
        .iter()
        .map(|p| Some((p[0].as_str()?.to_string(), p[1].as_str()?.to_string())))
        .collect::<Option<Vec<_>>>()?;
    Some(QueuedC2d {
        msg: C2dMessage {
            payload: B64.decode(v["body"].as_str()?).ok()?,
            message_id: opt(v, "messageId"),
            correlation_id: opt(v, "correlationId"),
            to: opt(v, "to"),
            expiry: opt(v, "expiry"),
            ack: opt(v, "ack"),
            content_type: opt(v, "contentType"),
            content_encoding: opt(v, "contentEncoding"),
            user_id: opt(v, "userId"),
            properties,
        },
        inflight: None,
        deliveries: v["deliveries"].as_u64().unwrap_or(0) as u32,
        expires_ms: v["expiresMs"].as_u64()?,
    })
}

/// A telemetry record as one line of the telemetry journal.
pub fn telemetry_to_json(r: &TelemetryRecord) -> Value {
    serde_json::json!({
        "seq": r.seq, "deviceId": r.device_id, "moduleId": r.module_id,
        "enqueuedMs": r.enqueued_ms, "system": r.system, "properties": r.properties,
        "body": B64.encode(&r.body),
    })
}

/// The inverse of [`telemetry_to_json`]; `None` if `v` is not that shape.
pub fn telemetry_from_json(v: &Value) -> Option<TelemetryRecord> {
    let pairs = |k: &str| v[k].as_array().map(|a| a.iter());
    Some(TelemetryRecord {
        seq: v["seq"].as_u64()?,
        device_id: v["deviceId"].as_str()?.to_string(),
        module_id: opt(v, "moduleId"),
        enqueued_ms: v["enqueuedMs"].as_u64()?,
        system: pairs("system")?
            .map(|p| Some((p[0].as_str()?.to_string(), p[1].as_str()?.to_string())))
            .collect::<Option<_>>()?,
        properties: pairs("properties")?
            .map(|p| {
                Some((
                    p[0].as_str()?.to_string(),
                    p[1].as_str().map(str::to_string),
                ))
            })
            .collect::<Option<_>>()?,
        body: B64.decode(v["body"].as_str()?).ok()?,
    })
}

impl Hub {
    /// Queued cloud-to-device messages and clean-session-0 sessions, for the state file.
    pub fn export_runtime(&self) -> Value {
        let mut c2d = serde_json::Map::new();
        for (device, q) in &self.c2d {
            if !q.is_empty() {
                c2d.insert(device.clone(), q.iter().map(c2d_json).collect());
            }
        }
        let sessions: Vec<Value> = self
            .sessions
            .iter()
            .filter(|(_, s)| !s.clean && s.connections > 0)
            .map(|(id, s)| {
                let subs: serde_json::Map<String, Value> = s
                    .subs
                    .iter()
                    .map(|(k, q)| (sub_name(k), Value::from(*q as u8)))
                    .collect();
                serde_json::json!({
                    "deviceId": id.device, "moduleId": id.module,
                    "subscriptions": subs, "connections": s.connections, "username": s.username,
                })
            })
            .collect();
        serde_json::json!({ "c2d": c2d, "sessions": sessions })
    }

    /// Restores [`Hub::export_runtime`] output (after the registry is in place);
    /// entries of identities the registry lacks are dropped. Messages that were
    /// in flight are queued again and go out with DUP set.
    pub fn import_runtime(&mut self, v: &Value) -> Result<(), String> {
        if v.is_null() {
            return Ok(());
        }
        if let Some(map) = v["c2d"].as_object() {
            for (device, list) in map {
                if self.registry.get(&IdentityId::device(device)).is_none() {
                    continue;
                }
                let q = list
                    .as_array()
                    .ok_or("state file: c2d queue is not a list")?
                    .iter()
                    .map(|m| c2d_from(m).ok_or("state file: malformed c2d message"))
                    .collect::<Result<VecDeque<_>, _>>()?;
                self.c2d.insert(device.clone(), q);
            }
        }
        for s in v["sessions"].as_array().map(Vec::as_slice).unwrap_or(&[]) {
            let id = IdentityId {
                device: s["deviceId"]
                    .as_str()
                    .ok_or("state file: session without deviceId")?
                    .to_string(),
                module: opt(s, "moduleId"),
            };
            if self.registry.get(&id).is_none() {
                continue;
            }
            let mut subs = BTreeMap::new();
            for (k, q) in s["subscriptions"].as_object().into_iter().flatten() {
                let qos = if q.as_u64() == Some(1) {
                    QoS::AtLeastOnce
                } else {
                    QoS::AtMostOnce
                };
                if let Some(sub) = sub_from(k) {
                    subs.insert(sub, qos);
                }
            }
            self.sessions.insert(
                id,
                Session {
                    subs,
                    conn: None,
                    clean: false,
                    connections: s["connections"].as_u64().unwrap_or(1).max(1),
                    username: opt(s, "username"),
                },
            );
        }
        Ok(())
    }

    /// The telemetry record with this seq, if still retained.
    pub fn telemetry_record(&self, seq: u64) -> Option<&TelemetryRecord> {
        self.telemetry.get(seq)
    }

    /// Every retained telemetry record, oldest first.
    pub fn telemetry_records(&self) -> impl Iterator<Item = &TelemetryRecord> {
        self.telemetry.iter()
    }

    /// Puts back records read from the telemetry journal (oldest first); seqs continue after the last.
    pub fn restore_telemetry(&mut self, records: Vec<TelemetryRecord>) {
        self.telemetry.restore(records);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hub() -> Hub {
        let mut h = Hub::new(HubConfig {
            host_name: "h".into(),
            service_key: "k".into(),
            max_telemetry: 3,
        });
        for d in ["d1", "d2"] {
            h.put_identity(
                1,
                &IdentityId::device(d),
                None,
                None,
                ("AAAA".into(), "BBBB".into()),
            )
            .unwrap();
        }
        h
    }

    #[test]
    fn runtime_export_import_round_trip_succeeds() {
        let mut h = hub();
        let msg = C2dMessage {
            payload: vec![0, 159, 146, 150],
            message_id: Some("m1".into()),
            ack: Some("full".into()),
            properties: vec![("k".into(), "v w".into())],
            ..C2dMessage::default()
        };
        h.send_c2d(1, "d1", msg.clone()).unwrap();
        h.sessions.insert(
            IdentityId::device("d2"),
            Session {
                subs: [
                    (Sub::C2d, QoS::AtLeastOnce),
                    (Sub::Method("reboot".into()), QoS::AtMostOnce),
                ]
                .into(),
                conn: Some(7),
                clean: false,
                connections: 4,
                username: Some("u".into()),
            },
        );
        h.sessions.insert(
            IdentityId::device("d1"),
            Session {
                clean: true,
                connections: 1,
                ..Session::default()
            },
        );
        let state = h.export_runtime();
        let mut back = hub();
        back.import_runtime(&state).unwrap();
        assert_eq!(back.c2d_pending("d1"), 1);
        assert_eq!(back.c2d["d1"][0].msg, msg);
        let s = &back.sessions[&IdentityId::device("d2")];
        assert_eq!((s.conn, s.clean, s.connections), (None, false, 4));
        assert_eq!(s.subs.len(), 2);
        assert!(
            !back.sessions.contains_key(&IdentityId::device("d1")),
            "clean sessions end with their connection"
        );
        assert_eq!(back.export_runtime(), {
            let mut v = state.clone();
            v["c2d"]["d1"][0]["deliveries"] = 0.into();
            v
        });
    }

    #[test]
    fn telemetry_json_round_trip_succeeds() {
        let r = TelemetryRecord {
            seq: 9,
            device_id: "d".into(),
            module_id: Some("m".into()),
            enqueued_ms: 5,
            system: vec![("messageId".into(), "x".into())],
            properties: vec![("a".into(), None), ("b".into(), Some("c".into()))],
            body: vec![255, 0],
        };
        assert_eq!(telemetry_from_json(&telemetry_to_json(&r)), Some(r));
        assert_eq!(telemetry_from_json(&serde_json::json!({"seq": 1})), None);
    }

    #[test]
    fn import_runtime_drops_unknown_identities_succeeds() {
        let mut h = hub();
        let v = serde_json::json!({
            "c2d": {"ghost": [{"body": "", "properties": [], "expiresMs": 1}]},
            "sessions": [{"deviceId": "ghost", "subscriptions": {"c2d": 1}}]
        });
        h.import_runtime(&v).unwrap();
        assert_eq!(h.c2d_pending("ghost"), 0);
        assert!(h.sessions.is_empty());
        assert!(h
            .import_runtime(&serde_json::json!({"c2d": {"d1": 3}}))
            .is_err());
    }
}
