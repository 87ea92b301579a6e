//! The twin request table: GETs and reported PATCHes by `$rid`, each with its
//! deadline, retry count (429/5xx are retried with backoff) and resend time, and
//! the desired-properties bookkeeping (`$version` reconciliation after reconnects).

use crate::prelude::*;

use super::super::error::{from_status, Error};
use super::super::{telemetry, twin};
use super::{Client, Feature, HubEvent, OpId, OpResult, Phase};
use crate::mqtt::QoS;
use crate::text::utf8_lossy;

#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum TwinKind {
    Get,
    Patch(String),
}

#[derive(Debug)]
pub(super) struct TwinRequest {
    /// `None` for the client's own reconcile GET after a reconnect.
    pub(super) op: Option<OpId>,
    kind: TwinKind,
    pub(super) deadline: u64,
    attempt: u32,
    /// Not yet (re)sent; sent at this time or as soon as the twin subscription is ready.
    pub(super) send_at: Option<u64>,
}

/// Requests by `$rid`; a handful at a time, so a `Vec` (no map code in the wasm).
#[derive(Debug, Default)]
pub(super) struct TwinTable(Vec<(String, TwinRequest)>);

impl TwinTable {
    fn take(&mut self, rid: &str) -> Option<TwinRequest> {
        let i = self.0.iter().position(|(r, _)| r == rid)?;
        Some(self.0.remove(i).1)
    }

    pub(super) fn requests(&self) -> impl Iterator<Item = &TwinRequest> {
        self.0.iter().map(|(_, r)| r)
    }

    /// Every request, emptying the table.
    pub(super) fn take_all(&mut self) -> Vec<(String, TwinRequest)> {
        core::mem::take(&mut self.0)
    }

    /// The connection ended: QoS 0 responses are lost with it, so resend after reconnecting.
    pub(super) fn resend_all(&mut self) {
        for (_, r) in &mut self.0 {
            if r.send_at.is_none() {
                r.send_at = Some(0);
            }
        }
    }
}

impl Client {
    /// Requests the full twin; completes with [`OpResult::Twin`].
    pub fn get_twin(&mut self, now: u64) -> Result<OpId, Error> {
        self.usable()?;
        let op = self.new_op();
        self.start_twin(now, Some(op), TwinKind::Get);
        Ok(op)
    }

    /// Patches reported properties (`patch_json` is a JSON object); completes with [`OpResult::Reported`].
    pub fn update_reported(&mut self, now: u64, patch_json: String) -> Result<OpId, Error> {
        self.usable()?;
        if !patch_json.trim_start().starts_with('{') {
            return Err(Error::InvalidArgument(
                "reported patch must be a JSON object",
            ));
        }
        let size = twin::patch_topic("0000000000").len() + patch_json.len();
        if size > telemetry::MAX_MESSAGE_BYTES {
            return Err(Error::PayloadTooLarge {
                size,
                max: telemetry::MAX_MESSAGE_BYTES,
            });
        }
        let op = self.new_op();
        self.start_twin(now, Some(op), TwinKind::Patch(patch_json));
        Ok(op)
    }

    /// The last desired `$version` the app was shown.
    pub fn last_desired_version(&self) -> Option<u64> {
        self.last_desired_version
    }

    pub(super) fn start_twin(&mut self, now: u64, op: Option<OpId>, kind: TwinKind) {
        let rid = self.new_rid();
        let deadline = now.saturating_add(self.config.operation_timeout_ms);
        self.twin_requests.0.push((
            rid,
            TwinRequest {
                op,
                kind,
                deadline,
                attempt: 0,
                send_at: Some(0),
            },
        ));
        self.enable(now, Feature::TwinResponses);
        self.send_due_twin(now);
    }

    pub(super) fn send_due_twin(&mut self, now: u64) {
        if self.phase != Phase::Connected || !self.twin_ready {
            return;
        }
        for (rid, r) in &mut self.twin_requests.0 {
            if r.send_at.is_none_or(|t| t > now) {
                continue;
            }
            let (topic, body) = match &r.kind {
                TwinKind::Get => (twin::get_topic(rid), &b""[..]),
                TwinKind::Patch(json) => (twin::patch_topic(rid), json.as_bytes()),
            };
            if self
                .session
                .publish(now, &topic, body, QoS::AtMostOnce, false)
                .is_ok()
            {
                r.send_at = None;
            }
        }
    }

    /// Fails requests past their deadline, then sends those due.
    pub(super) fn twin_timers(&mut self, now: u64) {
        let mut i = 0;
        while i < self.twin_requests.0.len() {
            if now >= self.twin_requests.0[i].1.deadline {
                let (_, r) = self.twin_requests.0.remove(i);
                if let Some(op) = r.op {
                    self.complete(op, Err(Error::Timeout));
                }
            } else {
                i += 1;
            }
        }
        self.send_due_twin(now);
    }

    pub(super) fn on_twin(&mut self, now: u64, t: twin::TwinTopic, payload: Vec<u8>) {
        match t {
            twin::TwinTopic::Desired { version } => {
                if self
                    .last_desired_version
                    .is_some_and(|last| version <= last)
                {
                    return; // already shown (e.g. by the reconcile GET)
                }
                self.last_desired_version = Some(version);
                let json = utf8_lossy(payload);
                self.events.push(HubEvent::DesiredPatch {
                    version,
                    json,
                    full: false,
                });
            }
            twin::TwinTopic::Response {
                status,
                rid,
                version,
            } => {
                let Some(mut r) = self.twin_requests.take(&rid) else {
                    return;
                };
                if (status == 429 || status >= 500) && r.attempt < self.config.request_retries {
                    let delay = self
                        .config
                        .request_retry
                        .delay_ms(r.attempt, self.rng.next_u32());
                    r.attempt += 1;
                    r.send_at = Some(now.saturating_add(delay));
                    self.twin_requests.0.push((rid, r));
                    return;
                }
                let result = match from_status(status) {
                    Some(e) => Err(e),
                    None => match r.kind {
                        TwinKind::Get => {
                            let doc = utf8_lossy(payload);
                            self.observe_twin(&doc, r.op.is_none());
                            Ok(OpResult::Twin(doc))
                        }
                        TwinKind::Patch(_) => Ok(OpResult::Reported { version }),
                    },
                };
                if let Some(op) = r.op {
                    self.complete(op, result);
                }
            }
        }
    }

    /// A full twin document was received: track desired `$version`; for the reconcile GET
    /// emit the desired section once if it moved past what the app has seen.
    fn observe_twin(&mut self, doc: &str, reconcile: bool) {
        let Some(version) = twin::desired_version(doc) else {
            return;
        };
        match self.last_desired_version {
            Some(last) if version <= last => {}
            Some(_) if reconcile => {
                self.last_desired_version = Some(version);
                let json = twin::desired_section(doc).unwrap_or("{}").to_owned();
                self.events.push(HubEvent::DesiredPatch {
                    version,
                    json,
                    full: true,
                });
            }
            _ => self.last_desired_version = Some(version),
        }
    }

    /// Starts the reconcile GET after a connection, unless one is pending.
    pub(super) fn reconcile_desired(&mut self, now: u64) {
        if !self.enabled.contains(&Feature::TwinDesired) {
            return;
        }
        // The first GET sets the baseline, later ones emit a desired $version past the
        // last one seen, once.
        if !self.twin_requests.requests().any(|r| r.op.is_none()) {
            self.start_twin(now, None, TwinKind::Get);
        }
    }
}
