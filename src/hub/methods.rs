//! Direct methods: subscription, request parsing, response topics.
//!
//! Requests arrive on `$iothub/methods/POST/{name}/?$rid={rid}`; the device
//! answers on `$iothub/methods/res/{status}/?$rid={rid}`. Plug and Play
//! commands are named `{component}*{command}`.

use crate::prelude::*;

use super::encoding::{decode_bag, percent_decode, percent_encode};
use super::error::MalformedError;
use crate::text::{concat, u64_string};

/// SUBSCRIBE filter for method requests.
pub const SUBSCRIBE_FILTER: &str = "$iothub/methods/POST/#";

/// IoT Hub's largest method request or response payload, in bytes.
pub const MAX_PAYLOAD_BYTES: usize = 128 * 1024;

/// IoT Hub's largest `responseTimeoutInSeconds` (300 s), in ms: no caller waits
/// longer than this for a device's answer.
pub const MAX_RESPONSE_TIMEOUT_MS: u64 = 300_000;

const POST_PREFIX: &str = "$iothub/methods/POST/";
const RES_PREFIX: &str = "$iothub/methods/res/";

/// A method request topic, decoded.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MethodRequest {
    /// Full method name as sent (`reboot`, or `thermostat1*getMaxMinReport`).
    pub name: String,
    /// Request id to answer with.
    pub rid: String,
}

impl MethodRequest {
    /// `(component, command)`: the PnP split of [`MethodRequest::name`].
    pub fn split(&self) -> (Option<&str>, &str) {
        split_name(&self.name)
    }
}

/// Splits `{component}*{command}`; a name without `*` is a root command.
pub fn split_name(name: &str) -> (Option<&str>, &str) {
    match name.split_once('*') {
        Some((c, cmd)) => (Some(c), cmd),
        None => (None, name),
    }
}

fn rid_of(rest: &str) -> Result<String, MalformedError> {
    let q = rest.strip_prefix('?').ok_or(MalformedError::BadTopic)?;
    decode_bag(q)?
        .into_iter()
        .find(|(k, _)| k == "$rid")
        .and_then(|(_, v)| v)
        .ok_or(MalformedError::MissingField("$rid"))
}

/// Parses a method request topic. `Ok(None)`: not a method request.
pub fn parse_request_topic(topic: &str) -> Result<Option<MethodRequest>, MalformedError> {
    let Some(rest) = topic.strip_prefix(POST_PREFIX) else {
        return Ok(None);
    };
    let (name, rest) = rest.split_once('/').ok_or(MalformedError::BadTopic)?;
    if name.is_empty() {
        return Err(MalformedError::BadTopic);
    }
    Ok(Some(MethodRequest {
        name: percent_decode(name)?,
        rid: rid_of(rest)?,
    }))
}

/// `$iothub/methods/res/{status}/?$rid={rid}`
pub fn response_topic(status: u16, rid: &str) -> String {
    concat(&[
        RES_PREFIX,
        &u64_string(status.into()),
        "/?$rid=",
        &percent_encode(rid),
    ])
}

/// `$iothub/methods/POST/{name}/?$rid={rid}` (what the hub sends; for the emulator).
pub fn request_topic(name: &str, rid: &str) -> String {
    concat(&[
        POST_PREFIX,
        &percent_encode(name),
        "/?$rid=",
        &percent_encode(rid),
    ])
}

/// Parses a device's method response topic into `(status, rid)` (for the emulator). `Ok(None)`: not one.
pub fn parse_response_topic(topic: &str) -> Result<Option<(u16, String)>, MalformedError> {
    let Some(rest) = topic.strip_prefix(RES_PREFIX) else {
        return Ok(None);
    };
    let (status, rest) = rest.split_once('/').ok_or(MalformedError::BadTopic)?;
    let status = status
        .parse()
        .map_err(|_| MalformedError::BadNumber("status"))?;
    Ok(Some((status, rid_of(rest)?)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_request_topic_pnp_succeeds() {
        let r = parse_request_topic("$iothub/methods/POST/thermostat1*getMaxMinReport/?$rid=3")
            .unwrap()
            .unwrap();
        assert_eq!(r.split(), (Some("thermostat1"), "getMaxMinReport"));
        assert_eq!(r.rid, "3");
        assert_eq!(split_name("reboot"), (None, "reboot"));
    }

    #[test]
    fn parse_request_topic_malformed_fails() {
        assert_eq!(
            parse_request_topic("$iothub/methods/POST/reboot"),
            Err(MalformedError::BadTopic)
        );
        assert_eq!(
            parse_request_topic("$iothub/methods/POST//?$rid=1"),
            Err(MalformedError::BadTopic)
        );
        assert_eq!(
            parse_request_topic("$iothub/methods/POST/x/?a=1"),
            Err(MalformedError::MissingField("$rid"))
        );
        assert_eq!(
            parse_request_topic("$iothub/twin/res/200/?$rid=1"),
            Ok(None)
        );
    }

    #[test]
    fn response_topic_round_trip_succeeds() {
        assert_eq!(
            parse_response_topic(&response_topic(501, "a b")).unwrap(),
            Some((501, "a b".into()))
        );
        assert_eq!(
            parse_request_topic(&request_topic("c*d", "9"))
                .unwrap()
                .unwrap()
                .name,
            "c*d"
        );
        assert_eq!(
            parse_response_topic("$iothub/methods/res/x/?$rid=1"),
            Err(MalformedError::BadNumber("status"))
        );
    }
}
