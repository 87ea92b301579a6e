//! Cloud-to-device messages: per-device queues, QoS 1 delivery, removal on PUBACK.

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
    /// `$.exp`.
    pub expiry: Option<String>,
    /// `iothub-ack`.
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
}

impl Hub {
    pub(super) fn deliver_c2d(&mut self, device: &str) {
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
            queue.clear();
        }
        for p in out {
            self.transmit(conn, &Packet::Publish(p));
        }
    }

    /// Queues a cloud-to-device message and delivers it if the device listens.
    pub fn send_c2d(&mut self, device: &str, msg: C2dMessage) -> Result<(), ServiceError> {
        if self.registry.get(&IdentityId::device(device)).is_none() {
            return Err(ServiceError::DeviceNotFound);
        }
        if msg.topic(device).len() > usize::from(u16::MAX) {
            return Err(ServiceError::BadRequest(
                "message properties too long for an MQTT topic".into(),
            ));
        }
        let q = self.c2d.entry(device.to_string()).or_default();
        if q.len() >= MAX_C2D_QUEUE {
            return Err(ServiceError::QueueFull);
        }
        q.push_back(QueuedC2d {
            msg,
            inflight: None,
            deliveries: 0,
        });
        self.dirty = true;
        self.deliver_c2d(device);
        Ok(())
    }

    /// Messages waiting (including in flight) for a device.
    pub fn c2d_pending(&self, device: &str) -> usize {
        self.c2d.get(device).map_or(0, VecDeque::len)
    }
}
