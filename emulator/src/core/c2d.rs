//! Cloud-to-device messages: per-device queues, QoS 1 delivery, completion on
//! PUBACK, expiry (TTL), the maximum delivery count, dead-lettering and
//! `iothub-ack` feedback ([`super::feedback`]).

use super::feedback::{self, FeedbackRecord, Outcome};
use super::limits::{
    message_size, C2D_DEFAULT_TTL_MS, C2D_MAX_DELIVERY_COUNT, MAX_C2D_MESSAGE_BYTES,
};
use super::time::parse_iso8601;
use super::*;

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
    /// `$.exp`: the absolute expiry time, ISO 8601 (default: one hour after sending).
    pub expiry: Option<String>,
    /// `iothub-ack`: `none`, `positive`, `negative` or `full`.
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

    /// The size IoT Hub measures: body, system property values, application
    /// property names and values.
    pub fn size(&self) -> usize {
        let system = [
            &self.message_id,
            &self.correlation_id,
            &self.to,
            &self.expiry,
            &self.ack,
            &self.content_type,
            &self.content_encoding,
            &self.user_id,
        ];
        message_size(
            self.payload.len(),
            system.into_iter().flatten().map(String::as_str),
            self.properties
                .iter()
                .map(|(k, v)| (k.as_str(), Some(v.as_str()))),
        )
    }
}

impl Hub {
    pub(super) fn deliver_c2d(&mut self, now: u64, device: &str) {
        self.expire_c2d_of(now, device);
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
            // Sent at most once: complete as they leave (what IoT Hub's MQTT
            // adapter does for a QoS 0 subscription).
            let sent: Vec<QueuedC2d> = queue.drain(..).collect();
            for m in sent {
                self.c2d_outcome(now, device, &m, Outcome::Success);
            }
        }
        for p in out {
            self.transmit(conn, &Packet::Publish(p));
        }
    }

    /// Queues a cloud-to-device message and delivers it if the device listens.
    ///
    /// Refused as IoT Hub refuses: unknown device (404), a spent daily quota
    /// (403), a bad `iothub-ack` or `iothub-expiry` (400), more than 64 KB
    /// (413), a full queue (403). A message already expired is accepted and
    /// dead-lettered at once.
    pub fn send_c2d(
        &mut self,
        now: u64,
        device: &str,
        msg: C2dMessage,
    ) -> Result<(), ServiceError> {
        if self.registry.get(&IdentityId::device(device)).is_none() {
            return Err(ServiceError::DeviceNotFound);
        }
        self.check_quota(now, &IdentityId::device(device))?;
        if let Some(a) = msg.ack.as_deref() {
            if !feedback::ACK_VALUES.contains(&a) {
                return Err(ServiceError::BadRequest(format!(
                    "iothub-ack must be none, positive, negative or full, not {a:?}"
                )));
            }
        }
        let expires_ms = match msg.expiry.as_deref() {
            None => now.saturating_add(C2D_DEFAULT_TTL_MS),
            Some(e) => parse_iso8601(e).ok_or_else(|| {
                ServiceError::BadRequest(format!(
                    "iothub-expiry must be an ISO 8601 UTC time such as 2030-01-01T00:00:00.000Z, not {e:?}"
                ))
            })?,
        };
        let size = msg.size();
        if size > MAX_C2D_MESSAGE_BYTES {
            return Err(ServiceError::MessageTooLarge(format!(
                "the message is {size} bytes; cloud-to-device messages are at most {MAX_C2D_MESSAGE_BYTES}"
            )));
        }
        if msg.topic(device).len() > usize::from(u16::MAX) {
            return Err(ServiceError::BadRequest(
                "message properties too long for an MQTT topic".into(),
            ));
        }
        self.expire_c2d_of(now, device);
        if self.c2d.get(device).map_or(0, VecDeque::len) >= MAX_C2D_QUEUE {
            return Err(ServiceError::QueueFull);
        }
        self.c2d
            .entry(device.to_string())
            .or_default()
            .push_back(QueuedC2d {
                msg,
                inflight: None,
                deliveries: 0,
                expires_ms,
            });
        self.dirty = true;
        self.deliver_c2d(now, device);
        Ok(())
    }

    /// Messages waiting (including in flight) for a device.
    pub fn c2d_pending(&self, device: &str) -> usize {
        self.c2d.get(device).map_or(0, VecDeque::len)
    }

    /// Feedback records after `after` as `{items, next}`
    /// (`GET /messages/serviceBound/feedback`).
    pub fn feedback_json(&mut self, now: u64, after: u64, limit: usize) -> Value {
        let (items, next) = self.feedback.query(now, after, limit);
        serde_json::json!({
            "items": items.iter().map(|r| r.to_json()).collect::<Vec<_>>(),
            "next": next,
        })
    }

    /// The device acknowledged the QoS 1 PUBLISH `pkid` on `conn`: *Completed*.
    pub(super) fn c2d_acknowledged(&mut self, now: u64, device: &str, conn: ConnId, pkid: u16) {
        let Some(q) = self.c2d.get_mut(device) else {
            return;
        };
        let Some(i) = q.iter().position(|m| m.inflight == Some((conn, pkid))) else {
            return;
        };
        if let Some(m) = q.remove(i) {
            self.c2d_outcome(now, device, &m, Outcome::Success);
        }
    }

    /// `conn` is gone: its unacknowledged messages go back to the queue, or are
    /// dead-lettered when expired or delivered the maximum number of times.
    pub(super) fn c2d_connection_lost(&mut self, now: u64, device: &str, conn: ConnId) {
        let Some(q) = self.c2d.get_mut(device) else {
            return;
        };
        let mut dead = Vec::new();
        q.retain_mut(|m| {
            if m.inflight.is_none_or(|(c, _)| c != conn) {
                return true;
            }
            m.inflight = None;
            if m.expires_ms <= now {
                dead.push((m.clone_for_feedback(), Outcome::Expired));
                false
            } else if m.deliveries >= C2D_MAX_DELIVERY_COUNT {
                dead.push((m.clone_for_feedback(), Outcome::DeliveryCountExceeded));
                false
            } else {
                true
            }
        });
        for (m, outcome) in dead {
            self.c2d_outcome(now, device, &m, outcome);
        }
    }

    /// Drops a device's whole queue (a clean-session CONNECT): each message is
    /// dead-lettered as *Rejected*.
    pub(super) fn c2d_reject_all(&mut self, now: u64, device: &str) {
        for m in self.c2d.remove(device).unwrap_or_default() {
            self.c2d_outcome(now, device, &m, Outcome::Rejected);
        }
    }

    /// Dead-letters the expired messages of every queue that are not in flight.
    pub(super) fn expire_c2d(&mut self, now: u64) {
        let due: Vec<String> = self
            .c2d
            .iter()
            .filter(|(_, q)| {
                q.iter()
                    .any(|m| m.inflight.is_none() && m.expires_ms <= now)
            })
            .map(|(d, _)| d.clone())
            .collect();
        for d in due {
            self.expire_c2d_of(now, &d);
        }
    }

    fn expire_c2d_of(&mut self, now: u64, device: &str) {
        let Some(q) = self.c2d.get_mut(device) else {
            return;
        };
        let mut dead = Vec::new();
        q.retain(|m| {
            let expired = m.inflight.is_none() && m.expires_ms <= now;
            if expired {
                dead.push(m.clone_for_feedback());
            }
            !expired
        });
        if q.is_empty() {
            self.c2d.remove(device);
        }
        for m in dead {
            self.c2d_outcome(now, device, &m, Outcome::Expired);
        }
    }

    /// The next expiry of a queued message not in flight.
    pub(super) fn next_c2d_expiry(&self) -> Option<u64> {
        self.c2d
            .values()
            .flatten()
            .filter(|m| m.inflight.is_none())
            .map(|m| m.expires_ms)
            .min()
    }

    fn c2d_outcome(&mut self, now: u64, device: &str, m: &QueuedC2d, outcome: Outcome) {
        // Every path that takes a message off a queue ends here: the state file keeps queues.
        self.dirty = true;
        if !feedback::wanted(m.msg.ack.as_deref(), outcome) {
            return;
        }
        let generation = self
            .registry
            .get(&IdentityId::device(device))
            .map(|r| r.generation_id.clone())
            .unwrap_or_default();
        self.feedback.push(FeedbackRecord {
            seq: 0,
            original_message_id: m.msg.message_id.clone(),
            enqueued_ms: now,
            outcome,
            device_id: device.to_string(),
            device_generation_id: generation,
        });
    }
}

impl QueuedC2d {
    /// The parts a feedback record needs (the body is not copied).
    fn clone_for_feedback(&self) -> QueuedC2d {
        QueuedC2d {
            msg: C2dMessage {
                message_id: self.msg.message_id.clone(),
                ack: self.msg.ack.clone(),
                ..C2dMessage::default()
            },
            inflight: None,
            deliveries: self.deliveries,
            expires_ms: self.expires_ms,
        }
    }
}
