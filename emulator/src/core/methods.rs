//! Direct methods: the invocation's limits, pending calls, delivery when the
//! device subscribes (to all methods or to this one), deadlines.

use super::limits::{
    MAX_METHOD_PAYLOAD_BYTES, METHOD_DEFAULT_RESPONSE_TIMEOUT_S, METHOD_MAX_TIMEOUT_S,
    METHOD_MIN_RESPONSE_TIMEOUT_S,
};
use super::*;

/// A direct method invocation as the service API receives it.
#[derive(Debug, Clone, PartialEq)]
pub struct Invocation {
    /// `methodName`.
    pub name: String,
    /// `payload`, serialized.
    pub payload: Vec<u8>,
    /// `responseTimeoutInSeconds`, in ms.
    pub response_timeout_ms: u64,
    /// `connectTimeoutInSeconds`, in ms.
    pub connect_timeout_ms: u64,
}

/// Reads `{methodName, payload, responseTimeoutInSeconds, connectTimeoutInSeconds}`,
/// refusing what IoT Hub refuses with 400 (its own messages for the timeouts).
pub fn parse_invocation(v: &Value) -> Result<Invocation, ServiceError> {
    let bad = |m: String| Err(ServiceError::BadRequest(m));
    let Some(name) = v.get("methodName").and_then(Value::as_str) else {
        return bad("methodName is required".into());
    };
    let secs = |key: &str, default: u64, min: u64| match v.get(key) {
        None | Some(Value::Null) => Ok(default),
        Some(n) => match n.as_u64() {
            Some(s) if (min..=METHOD_MAX_TIMEOUT_S).contains(&s) => Ok(s),
            _ => Err(ServiceError::BadRequest(format!(
                "{key} must be within [{min}; {METHOD_MAX_TIMEOUT_S}]."
            ))),
        },
    };
    let response = secs(
        "responseTimeoutInSeconds",
        METHOD_DEFAULT_RESPONSE_TIMEOUT_S,
        METHOD_MIN_RESPONSE_TIMEOUT_S,
    )?;
    let connect = secs("connectTimeoutInSeconds", 0, 0)?;
    let payload = v
        .get("payload")
        .cloned()
        .unwrap_or(Value::Null)
        .to_string()
        .into_bytes();
    Ok(Invocation {
        name: name.to_string(),
        payload,
        response_timeout_ms: response * 1000,
        connect_timeout_ms: connect * 1000,
    })
}

impl Hub {
    pub(super) fn deliver_calls(&mut self, now: u64, id: &IdentityId) {
        let mut out = Vec::new();
        let waiting: Vec<(CallId, String)> = self
            .calls
            .iter()
            .filter(|(_, c)| &c.identity == id && matches!(c.state, CallState::WaitingForDevice))
            .map(|(k, c)| (*k, c.name.clone()))
            .collect();
        for (k, name) in waiting {
            let Some(conn) = self.method_subscriber(id, &name) else {
                continue;
            };
            if let Some(c) = self.calls.get_mut(&k) {
                c.state = CallState::Sent;
                c.deadline = now + c.response_timeout_ms;
                let topic = hub_methods::request_topic(&c.name, &call_rid(k));
                out.push((
                    conn,
                    Publish::new(topic, QoS::AtMostOnce, c.payload.clone()),
                ));
            }
        }
        for (conn, p) in out {
            self.transmit(conn, &Packet::Publish(p));
        }
    }

    /// The connection subscribed to this method's requests (`$iothub/methods/POST/#`
    /// or `$iothub/methods/POST/{name}/#`).
    fn method_subscriber(&self, id: &IdentityId, name: &str) -> Option<ConnId> {
        self.subscribed(id, Sub::Methods)
            .or_else(|| self.subscribed(id, Sub::Method(name.to_string())))
            .map(|(conn, _)| conn)
    }

    /// Starts a direct method call; the result arrives as [`Output::MethodDone`].
    ///
    /// Refused as IoT Hub refuses: a spent quota (403); a response timeout
    /// outside 5..=300 s or a connect timeout over 300 s, a payload over 128 KB
    /// (400); a device that is offline with `connect_timeout_ms == 0` (404).
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
        self.check_quota(now, id)?;
        if name.is_empty() || name.contains(['/', '+', '#']) {
            return Err(ServiceError::BadRequest("invalid methodName".into()));
        }
        let max_ms = METHOD_MAX_TIMEOUT_S * 1000;
        if !(METHOD_MIN_RESPONSE_TIMEOUT_S * 1000..=max_ms).contains(&response_timeout_ms) {
            return Err(ServiceError::BadRequest(format!(
                "responseTimeoutInSeconds must be within [{METHOD_MIN_RESPONSE_TIMEOUT_S}; {METHOD_MAX_TIMEOUT_S}]."
            )));
        }
        if connect_timeout_ms > max_ms {
            return Err(ServiceError::BadRequest(format!(
                "connectTimeoutInSeconds must be within [0; {METHOD_MAX_TIMEOUT_S}]."
            )));
        }
        if payload.len() > MAX_METHOD_PAYLOAD_BYTES {
            return Err(ServiceError::BadRequest(format!(
                "'payload' is {} bytes; it must be at most {MAX_METHOD_PAYLOAD_BYTES} bytes",
                payload.len()
            )));
        }
        let online = self.method_subscriber(id, name).is_some();
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

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn parse_invocation_defaults_and_ranges_succeeds() {
        let i = parse_invocation(&json!({"methodName": "m", "payload": {"a": 1}})).unwrap();
        assert_eq!((i.response_timeout_ms, i.connect_timeout_ms), (30_000, 0));
        assert_eq!(i.payload, br#"{"a":1}"#);
        let i = parse_invocation(&json!({"methodName": "m", "responseTimeoutInSeconds": 300,
            "connectTimeoutInSeconds": 300}))
        .unwrap();
        assert_eq!(
            (i.response_timeout_ms, i.connect_timeout_ms),
            (300_000, 300_000)
        );
    }

    #[test]
    fn parse_invocation_out_of_range_fails() {
        for (body, message) in [
            (
                json!({"methodName": "m", "responseTimeoutInSeconds": 4}),
                "responseTimeoutInSeconds must be within [5; 300].",
            ),
            (
                json!({"methodName": "m", "responseTimeoutInSeconds": 0}),
                "responseTimeoutInSeconds must be within [5; 300].",
            ),
            (
                json!({"methodName": "m", "responseTimeoutInSeconds": 301}),
                "responseTimeoutInSeconds must be within [5; 300].",
            ),
            (
                json!({"methodName": "m", "responseTimeoutInSeconds": 7.5}),
                "responseTimeoutInSeconds must be within [5; 300].",
            ),
            (
                json!({"methodName": "m", "connectTimeoutInSeconds": -1}),
                "connectTimeoutInSeconds must be within [0; 300].",
            ),
            (
                json!({"methodName": "m", "connectTimeoutInSeconds": 301}),
                "connectTimeoutInSeconds must be within [0; 300].",
            ),
            (json!({"payload": 1}), "methodName is required"),
        ] {
            assert_eq!(
                parse_invocation(&body),
                Err(ServiceError::BadRequest(message.into())),
                "{body}"
            );
        }
    }
}
