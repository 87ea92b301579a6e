//! Direct methods: pending calls, delivery when the device subscribes, deadlines.

use super::*;

impl Hub {
    pub(super) fn deliver_calls(&mut self, now: u64, id: &IdentityId) {
        let Some((conn, _)) = self.subscribed(id, Sub::Methods) else {
            return;
        };
        let mut out = Vec::new();
        for (k, c) in self.calls.iter_mut() {
            if &c.identity == id && matches!(c.state, CallState::WaitingForDevice) {
                c.state = CallState::Sent;
                c.deadline = now + c.response_timeout_ms;
                let topic = hub_methods::request_topic(&c.name, &call_rid(*k));
                out.push(Publish::new(topic, QoS::AtMostOnce, c.payload.clone()));
            }
        }
        for p in out {
            self.transmit(conn, &Packet::Publish(p));
        }
    }

    /// Starts a direct method call; the result arrives as [`Output::MethodDone`].
    /// A device that is offline with `connect_timeout_ms == 0` is refused at once.
    pub fn invoke_method(
        &mut self,
        now: u64,
        id: &IdentityId,
        name: &str,
        payload: Vec<u8>,
        response_timeout_ms: u64,
        connect_timeout_ms: u64,
    ) -> Result<CallId, ServiceError> {
        if self.registry.get(id).is_none() {
            return Err(not_found(id));
        }
        if name.is_empty() || name.contains('/') {
            return Err(ServiceError::BadRequest("invalid methodName".into()));
        }
        let online = self.subscribed(id, Sub::Methods).is_some();
        if !online && connect_timeout_ms == 0 {
            return Err(ServiceError::DeviceNotOnline);
        }
        let call = self.next_call;
        self.next_call += 1;
        self.calls.insert(
            call,
            PendingCall {
                identity: id.clone(),
                name: name.to_string(),
                payload,
                response_timeout_ms,
                deadline: now + connect_timeout_ms,
                state: CallState::WaitingForDevice,
            },
        );
        self.deliver_calls(now, id);
        Ok(call)
    }
}

/// The `$rid` a call is sent with.
pub(super) fn call_rid(call: CallId) -> String {
    format!("{call:x}")
}
