//! The offline queue: telemetry waiting for a connection or for room in the QoS 1
//! window, bounded by count and bytes, and the pump that drains it into the session.

use crate::prelude::*;

use alloc::collections::VecDeque;

use super::super::error::Error;
use super::super::telemetry::{self, Telemetry};
use super::{Client, OpId, OpResult, Phase};
use crate::mqtt::{PublishError, QoS};

/// One accepted message not yet handed to the session.
#[derive(Debug)]
pub(super) struct Queued {
    pub(super) op: OpId,
    pub(super) topic: String,
    pub(super) payload: Vec<u8>,
    pub(super) qos: QoS,
}

impl Queued {
    fn size(&self) -> usize {
        self.topic.len() + self.payload.len()
    }
}

/// Messages in send order, with their total size (topic + body).
#[derive(Debug, Default)]
pub(super) struct OfflineQueue {
    items: VecDeque<Queued>,
    bytes: usize,
}

impl OfflineQueue {
    pub(super) fn len(&self) -> usize {
        self.items.len()
    }

    pub(super) fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// Whether one more message of `size` bytes fits within the bounds.
    pub(super) fn admit(
        &self,
        size: usize,
        max_messages: usize,
        max_bytes: usize,
    ) -> Result<(), Error> {
        if self.items.len() >= max_messages || self.bytes.saturating_add(size) > max_bytes {
            return Err(Error::QueueFull {
                messages: self.items.len(),
                bytes: self.bytes,
            });
        }
        Ok(())
    }

    pub(super) fn push(&mut self, q: Queued) {
        self.bytes += q.size();
        self.items.push_back(q);
    }

    pub(super) fn front(&self) -> Option<&Queued> {
        self.items.front()
    }

    pub(super) fn pop(&mut self) -> Option<Queued> {
        let q = self.items.pop_front()?;
        self.bytes -= q.size();
        Some(q)
    }

    /// Empties the queue, oldest first.
    pub(super) fn take_all(&mut self) -> VecDeque<Queued> {
        self.bytes = 0;
        core::mem::take(&mut self.items)
    }
}

impl Client {
    /// Sends telemetry (a module's output event when `msg.system.output_name` is set).
    /// QoS 1 completes on PUBACK, QoS 0 when handed to the transport.
    /// While disconnected (or with a full QoS 1 window) the message is queued, bounded by
    /// `queue_max_messages`/`queue_max_bytes` ([`Error::QueueFull`]).
    pub fn send_event(&mut self, now: u64, msg: Telemetry) -> Result<OpId, Error> {
        self.usable()?;
        let topic = telemetry::topic(
            &self.config.device_id,
            self.config.module_id.as_deref(),
            &msg.system,
            &msg.properties,
        );
        telemetry::check(topic.len(), msg.payload.len(), msg.qos, &msg.properties)?;
        let direct = self.phase == Phase::Connected && self.queue.is_empty();
        let must_queue =
            !direct || (self.session.inflight_free() == 0 && msg.qos == QoS::AtLeastOnce);
        if must_queue {
            self.queue.admit(
                topic.len() + msg.payload.len(),
                self.config.queue_max_messages,
                self.config.queue_max_bytes,
            )?;
        }
        let op = self.new_op();
        self.queue.push(Queued {
            op,
            topic,
            payload: msg.payload,
            qos: msg.qos,
        });
        self.pump(now);
        Ok(op)
    }

    /// Telemetry messages waiting for a connection or for room in the QoS 1 window.
    pub fn queued_messages(&self) -> usize {
        self.queue.len()
    }

    /// Publishes queued telemetry while connected and the window has room.
    pub(super) fn pump(&mut self, now: u64) {
        if self.phase != Phase::Connected {
            return;
        }
        while let Some(q) = self.queue.front() {
            let r = self
                .session
                .publish(now, &q.topic, &q.payload, q.qos, false);
            if matches!(
                r,
                Err(PublishError::InflightFull) | Err(PublishError::NotConnected)
            ) {
                break;
            }
            let Some(q) = self.queue.pop() else { break };
            match r {
                Ok(Some(pkid)) => self.inflight.push((pkid, q.op)),
                Ok(None) => self.complete(q.op, Ok(OpResult::Sent)),
                Err(e) => {
                    let err = match e {
                        PublishError::QosNotSupported => Error::QosNotSupported,
                        _ => Error::InvalidArgument("telemetry could not be encoded"),
                    };
                    self.complete(q.op, Err(err));
                }
            }
        }
    }

    /// A PUBACK arrived: complete the telemetry it acknowledges and refill the window.
    pub(super) fn on_puback(&mut self, now: u64, pkid: u16) {
        if let Some(i) = self.inflight.iter().position(|(p, _)| *p == pkid) {
            let (_, op) = self.inflight.remove(i);
            self.complete(op, Ok(OpResult::Sent));
        }
        self.pump(now);
    }
}
