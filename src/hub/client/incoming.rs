//! Subscriptions on demand, and what arrives on them: cloud-to-device messages,
//! twin responses and desired patches, direct method calls and their answers.

use crate::prelude::*;

use super::super::error::Error;
use super::super::{c2d, methods, twin};
use super::{C2dMessage, Client, HubEvent, Phase};
use crate::mqtt::{self, QoS};
use crate::text::utf8_lossy;

/// A subscription the app turns on by listening.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Feature {
    C2d,
    Methods,
    TwinResponses,
    TwinDesired,
}

impl Client {
    /// Receive cloud-to-device messages (module: input messages).
    pub fn enable_c2d(&mut self, now: u64) {
        self.enable(now, Feature::C2d);
    }

    /// Receive desired-property notifications (and missed changes after a reconnect).
    pub fn enable_twin_desired(&mut self, now: u64) {
        self.enable(now, Feature::TwinResponses);
        self.enable(now, Feature::TwinDesired);
    }

    /// Receive direct method calls.
    pub fn enable_methods(&mut self, now: u64) {
        self.enable(now, Feature::Methods);
    }

    /// Answers a method call with `status` and an optional JSON body (empty body if `None`).
    /// A call is open for 300 s, IoT Hub's longest `responseTimeoutInSeconds` (the
    /// device cannot know the caller's own): every hub has stopped waiting after that.
    /// A body over IoT Hub's 128 KiB method payload limit is not sent: the call is
    /// answered 500 with a short JSON message instead (the caller is not left waiting)
    /// and `PayloadTooLarge` is returned.
    pub fn respond_method(
        &mut self,
        now: u64,
        rid: &str,
        status: u16,
        body_json: Option<String>,
    ) -> Result<(), Error> {
        let Some(i) = self
            .open_methods
            .iter()
            .position(|m| m.0 == rid && now < m.2)
        else {
            return Err(Error::InvalidArgument(
                "no open method call with this request id",
            ));
        };
        let (_, gen, _) = self.open_methods.swap_remove(i);
        if self.phase != Phase::Connected || gen != self.conn_gen {
            // The call arrived on a connection that is gone; the hub has given up on it.
            return Err(Error::Disconnected);
        }
        let body = body_json.unwrap_or_default();
        let size = body.len();
        let big = size > methods::MAX_PAYLOAD_BYTES;
        let (status, body) = match big {
            true => (500, r#"{"message":"payload over 128 KiB"}"#),
            false => (status, body.as_str()),
        };
        let topic = methods::response_topic(status, rid);
        self.session
            .publish(now, &topic, body.as_bytes(), QoS::AtMostOnce, false)
            .map_err(|_| Error::Disconnected)?;
        match big {
            true => Err(Error::PayloadTooLarge {
                size,
                max: methods::MAX_PAYLOAD_BYTES,
            }),
            false => Ok(()),
        }
    }

    /// Method calls kept: received and not answered. Those over 300 s old are dropped
    /// when the next call arrives, so this is at most the calls of the last 300 s + 1.
    pub fn open_method_calls(&self) -> usize {
        self.open_methods.len()
    }

    pub(super) fn enable(&mut self, now: u64, f: Feature) {
        if self.enabled.contains(&f) {
            return;
        }
        self.enabled.push(f);
        if self.phase == Phase::Connected {
            self.subscribe(now, &[f]);
        }
    }

    fn filter(&self, f: Feature) -> (String, QoS) {
        match f {
            Feature::C2d => (
                c2d::subscribe_filter(&self.config.device_id, self.config.module_id.as_deref()),
                QoS::AtLeastOnce,
            ),
            Feature::Methods => (methods::SUBSCRIBE_FILTER.to_owned(), QoS::AtMostOnce),
            Feature::TwinResponses => (twin::RESPONSE_SUBSCRIBE_FILTER.to_owned(), QoS::AtMostOnce),
            Feature::TwinDesired => (twin::DESIRED_SUBSCRIBE_FILTER.to_owned(), QoS::AtMostOnce),
        }
    }

    /// Subscribes to every enabled feature (after a CONNACK) or to newly enabled ones.
    pub(super) fn subscribe(&mut self, now: u64, features: &[Feature]) {
        if features.is_empty() {
            return;
        }
        let filters: Vec<(String, QoS)> = features.iter().map(|&f| self.filter(f)).collect();
        if let Ok(pkid) = self.session.subscribe(now, &filters) {
            self.pending_subs.push((pkid, features.to_vec()));
        }
    }

    pub(super) fn on_suback(&mut self, now: u64, pkid: u16, granted: Vec<Option<QoS>>) {
        let Some(i) = self.pending_subs.iter().position(|(p, _)| *p == pkid) else {
            return;
        };
        let (_, features) = self.pending_subs.swap_remove(i);
        for (i, f) in features.iter().enumerate() {
            match granted.get(i).copied().flatten() {
                Some(_) => {
                    if *f == Feature::TwinResponses {
                        self.twin_ready = true;
                    }
                }
                None => {
                    let filter = self.filter(*f).0;
                    self.events.push(HubEvent::SubscriptionRefused { filter });
                }
            }
        }
        self.send_due_twin(now);
    }

    pub(super) fn on_message(&mut self, now: u64, m: mqtt::Incoming) {
        match twin::parse_topic(&m.topic) {
            Ok(Some(t)) => return self.on_twin(now, t, m.payload),
            Ok(None) => {}
            Err(_) => return,
        }
        match methods::parse_request_topic(&m.topic) {
            Ok(Some(req)) => {
                let (component, command) = req.split();
                let (component, command) = (component.map(str::to_owned), command.to_owned());
                // Calls older than 300 s are forgotten here: no timer, and what is
                // kept is bounded by the calls of the last 300 s.
                let until = now.saturating_add(methods::MAX_RESPONSE_TIMEOUT_MS);
                self.open_methods.retain(|m| m.0 != req.rid && now < m.2);
                self.open_methods
                    .push((req.rid.clone(), self.conn_gen, until));
                self.events.push(HubEvent::MethodCall {
                    rid: req.rid,
                    name: req.name,
                    component,
                    command,
                    payload: utf8_lossy(m.payload),
                });
                return;
            }
            Ok(None) => {}
            Err(_) => return,
        }
        if let Ok(Some(c)) = c2d::parse_topic(
            &m.topic,
            &self.config.device_id,
            self.config.module_id.as_deref(),
        ) {
            self.events.push(HubEvent::C2d(Box::new(C2dMessage {
                payload: m.payload,
                input_name: c.input_name,
                system: c.system,
                properties: c.properties,
            })));
        }
    }
}
