//! DPS MQTT topics (learn.microsoft.com "Communicate with DPS using the MQTT
//! protocol").
//!
//! Device side: subscribe [`SUBSCRIBE_FILTER`], publish [`register_topic`] and
//! [`status_topic`], read answers with [`parse_response_topic`]. Service side
//! (the emulator): [`parse_request_topic`] and [`response_topic`]. As in
//! `hub`, a topic that is not DPS's gives `Ok(None)`, one that is but is
//! broken gives `Err`.

use crate::prelude::*;

use crate::hub::encoding::{percent_encode, percent_encode_into};
use crate::hub::error::MalformedError;
use crate::hub::twin::{field, query};

/// SUBSCRIBE filter for every DPS answer.
pub const SUBSCRIBE_FILTER: &str = "$dps/registrations/res/#";

const RES_PREFIX: &str = "$dps/registrations/res/";
const REGISTER_PREFIX: &str = "$dps/registrations/PUT/iotdps-register/";
const STATUS_PREFIX: &str = "$dps/registrations/GET/iotdps-get-operationstatus/";

/// `$dps/registrations/PUT/iotdps-register/?$rid={rid}`
pub fn register_topic(rid: &str) -> String {
    let mut t = String::from(REGISTER_PREFIX);
    t.push_str("?$rid=");
    percent_encode_into(&mut t, rid);
    t
}

/// `$dps/registrations/GET/iotdps-get-operationstatus/?$rid={rid}&operationId={id}`
pub fn status_topic(rid: &str, operation_id: &str) -> String {
    let mut t = String::from(STATUS_PREFIX);
    t.push_str("?$rid=");
    percent_encode_into(&mut t, rid);
    t.push_str("&operationId=");
    percent_encode_into(&mut t, operation_id);
    t
}

/// A DPS answer, from its topic `$dps/registrations/res/{status}/?$rid={rid}[&retry-after={s}]`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Response {
    /// HTTP-like status: 200, 202, 400, 401, 404, 429, 5xx …
    pub status: u16,
    /// The request id it answers.
    pub rid: String,
    /// `retry-after` in seconds, when DPS sent one.
    pub retry_after_secs: Option<u64>,
}

/// Parses a received topic. `Ok(None)`: not a DPS answer.
///
/// A `retry-after` that is not a whole number of seconds is ignored (the caller's default
/// applies) rather than refused: the answer itself is still good.
pub fn parse_response_topic(topic: &str) -> Result<Option<Response>, MalformedError> {
    let Some(rest) = topic.strip_prefix(RES_PREFIX) else {
        return Ok(None);
    };
    let (status, rest) = rest.split_once('/').ok_or(MalformedError::BadTopic)?;
    let status = status
        .parse()
        .map_err(|_| MalformedError::BadNumber("status"))?;
    let bag = query(rest)?;
    let rid = field(&bag, "$rid")
        .ok_or(MalformedError::MissingField("$rid"))?
        .to_owned();
    let retry_after_secs = field(&bag, "retry-after").and_then(|v| v.trim().parse().ok());
    Ok(Some(Response {
        status,
        rid,
        retry_after_secs,
    }))
}

/// A device's request (for the emulator).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Request {
    /// PUT `iotdps-register`.
    Register {
        /// Request id.
        rid: String,
    },
    /// GET `iotdps-get-operationstatus`.
    OperationStatus {
        /// Request id.
        rid: String,
        /// The operation asked about (empty if the device sent none).
        operation_id: String,
    },
}

/// Parses a device's request topic (for the emulator). `Ok(None)`: not a DPS request.
pub fn parse_request_topic(topic: &str) -> Result<Option<Request>, MalformedError> {
    let (rest, register) = if let Some(r) = topic.strip_prefix(REGISTER_PREFIX) {
        (r, true)
    } else if let Some(r) = topic.strip_prefix(STATUS_PREFIX) {
        (r, false)
    } else {
        return Ok(None);
    };
    let bag = query(rest)?;
    let rid = field(&bag, "$rid")
        .ok_or(MalformedError::MissingField("$rid"))?
        .to_owned();
    Ok(Some(if register {
        Request::Register { rid }
    } else {
        Request::OperationStatus {
            rid,
            operation_id: field(&bag, "operationId").unwrap_or_default().to_owned(),
        }
    }))
}

/// `$dps/registrations/res/{status}/?$rid={rid}[&retry-after={s}]` (for the emulator).
pub fn response_topic(status: u16, rid: &str, retry_after_secs: Option<u64>) -> String {
    let mut t = format!("{RES_PREFIX}{status}/?$rid={}", percent_encode(rid));
    if let Some(s) = retry_after_secs {
        t.push_str(&format!("&retry-after={s}"));
    }
    t
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_response_topic_forms_succeeds() {
        // The shapes azure-sdk-for-c's parser tests use: retry-after before or after $rid.
        assert_eq!(
            parse_response_topic("$dps/registrations/res/202/?$rid=1&retry-after=3").unwrap(),
            Some(Response {
                status: 202,
                rid: "1".into(),
                retry_after_secs: Some(3)
            })
        );
        assert_eq!(
            parse_response_topic("$dps/registrations/res/202/?retry-after=120&$rid=1")
                .unwrap()
                .unwrap()
                .retry_after_secs,
            Some(120)
        );
        assert_eq!(
            parse_response_topic("$dps/registrations/res/200/?$rid=a%20b")
                .unwrap()
                .unwrap(),
            Response {
                status: 200,
                rid: "a b".into(),
                retry_after_secs: None
            }
        );
        assert_eq!(
            parse_response_topic("$dps/registrations/res/429/?$rid=1&retry-after=x")
                .unwrap()
                .unwrap()
                .retry_after_secs,
            None
        );
    }

    #[test]
    fn parse_response_topic_not_dps_or_broken_fails() {
        assert_eq!(
            parse_response_topic("$iothub/twin/res/200/?$rid=1"),
            Ok(None)
        );
        assert_eq!(parse_response_topic("$dps/registrations/unknown"), Ok(None));
        assert_eq!(
            parse_response_topic("$dps/registrations/res/abc/?$rid=1"),
            Err(MalformedError::BadNumber("status"))
        );
        assert_eq!(
            parse_response_topic("$dps/registrations/res/200/?retry-after=1"),
            Err(MalformedError::MissingField("$rid"))
        );
        assert_eq!(
            parse_response_topic("$dps/registrations/res/200"),
            Err(MalformedError::BadTopic)
        );
        assert_eq!(
            parse_response_topic("$dps/registrations/res/200/$rid=1"),
            Err(MalformedError::BadTopic)
        );
    }

    #[test]
    fn request_topics_round_trip_succeeds() {
        assert_eq!(
            register_topic("7"),
            "$dps/registrations/PUT/iotdps-register/?$rid=7"
        );
        assert_eq!(
            status_topic("8", "4.d0a6.42d7-8160"),
            "$dps/registrations/GET/iotdps-get-operationstatus/?$rid=8&operationId=4.d0a6.42d7-8160"
        );
        assert_eq!(
            parse_request_topic(&register_topic("r 1")).unwrap(),
            Some(Request::Register { rid: "r 1".into() })
        );
        assert_eq!(
            parse_request_topic(&status_topic("2", "op&x")).unwrap(),
            Some(Request::OperationStatus {
                rid: "2".into(),
                operation_id: "op&x".into()
            })
        );
        assert_eq!(
            parse_request_topic("$dps/registrations/PUT/iotdps-register/?x=1"),
            Err(MalformedError::MissingField("$rid"))
        );
        assert_eq!(parse_request_topic("devices/d/messages/events/"), Ok(None));
        assert_eq!(
            parse_response_topic(&response_topic(202, "9", Some(2))).unwrap(),
            Some(Response {
                status: 202,
                rid: "9".into(),
                retry_after_secs: Some(2)
            })
        );
    }
}
