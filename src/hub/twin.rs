//! Device twin: topics, response parsing and a tiny `$version` scanner.
//!
//! JSON stays a string in the core. The one thing the core must read out of a
//! twin document is `desired.$version` (to reconcile after a reconnect), so
//! [`desired_version`] uses the small, allocation-light scanner in
//! `super::json` rather than a JSON library in the wasm bundle.

use crate::prelude::*;

use super::encoding::{decode_bag, percent_encode};
use super::error::MalformedError;
use super::json;
use crate::text::{concat, push_u64, u64_string};

/// SUBSCRIBE filter for twin responses.
pub const RESPONSE_SUBSCRIBE_FILTER: &str = "$iothub/twin/res/#";
/// SUBSCRIBE filter for desired-property notifications.
pub const DESIRED_SUBSCRIBE_FILTER: &str = "$iothub/twin/PATCH/properties/desired/#";

const RES_PREFIX: &str = "$iothub/twin/res/";
const DESIRED_PREFIX: &str = "$iothub/twin/PATCH/properties/desired/";
const GET_PREFIX: &str = "$iothub/twin/GET/";
const REPORTED_PREFIX: &str = "$iothub/twin/PATCH/properties/reported/";

/// `$iothub/twin/GET/?$rid={rid}`
pub fn get_topic(rid: &str) -> String {
    concat(&[GET_PREFIX, "?$rid=", &percent_encode(rid)])
}

/// `$iothub/twin/PATCH/properties/reported/?$rid={rid}`
pub fn patch_topic(rid: &str) -> String {
    concat(&[REPORTED_PREFIX, "?$rid=", &percent_encode(rid)])
}

/// `$iothub/twin/res/{status}/?$rid={rid}[&$version={v}]` (what the hub sends; for the emulator).
pub fn response_topic(status: u16, rid: &str, version: Option<u64>) -> String {
    let mut t = concat(&[
        RES_PREFIX,
        &u64_string(status.into()),
        "/?$rid=",
        &percent_encode(rid),
    ]);
    if let Some(v) = version {
        t.push_str("&$version=");
        push_u64(&mut t, v);
    }
    t
}

/// `$iothub/twin/PATCH/properties/desired/?$version={v}` (for the emulator).
pub fn desired_topic(version: u64) -> String {
    concat(&[DESIRED_PREFIX, "?$version=", &u64_string(version)])
}

/// A twin topic received by the device.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TwinTopic {
    /// A response to a GET or reported PATCH.
    Response {
        /// HTTP-like status (200, 204, 400, 429, 5xx ...).
        status: u16,
        /// The request id it answers.
        rid: String,
        /// New reported `$version` (on 204).
        version: Option<u64>,
    },
    /// A desired-properties patch notification.
    Desired {
        /// Desired `$version` after the patch.
        version: u64,
    },
}

/// A twin request topic sent by a device (for the emulator).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TwinRequest {
    /// GET the full twin.
    Get {
        /// Request id.
        rid: String,
    },
    /// PATCH reported properties.
    PatchReported {
        /// Request id.
        rid: String,
    },
}

/// The decoded query of `?k=v&…` (shared with `crate::dps::topics`).
pub(crate) fn query(rest: &str) -> Result<Vec<(String, Option<String>)>, MalformedError> {
    let q = rest.strip_prefix('?').ok_or(MalformedError::BadTopic)?;
    decode_bag(q)
}

/// The value of `k` in a decoded query.
pub(crate) fn field<'a>(bag: &'a [(String, Option<String>)], k: &str) -> Option<&'a str> {
    bag.iter()
        .find(|(n, _)| n == k)
        .and_then(|(_, v)| v.as_deref())
}

fn number(
    bag: &[(String, Option<String>)],
    k: &'static str,
) -> Result<Option<u64>, MalformedError> {
    field(bag, k)
        .map(|v| v.parse().map_err(|_| MalformedError::BadNumber(k)))
        .transpose()
}

/// Parses a received twin topic. `Ok(None)`: not a twin topic.
pub fn parse_topic(topic: &str) -> Result<Option<TwinTopic>, MalformedError> {
    if let Some(rest) = topic.strip_prefix(RES_PREFIX) {
        let (status, rest) = rest.split_once('/').ok_or(MalformedError::BadTopic)?;
        let status = status
            .parse()
            .map_err(|_| MalformedError::BadNumber("status"))?;
        let bag = query(rest)?;
        let rid = field(&bag, "$rid")
            .ok_or(MalformedError::MissingField("$rid"))?
            .to_owned();
        let version = number(&bag, "$version")?;
        return Ok(Some(TwinTopic::Response {
            status,
            rid,
            version,
        }));
    }
    if let Some(rest) = topic.strip_prefix(DESIRED_PREFIX) {
        let bag = query(rest)?;
        let version = number(&bag, "$version")?.ok_or(MalformedError::MissingField("$version"))?;
        return Ok(Some(TwinTopic::Desired { version }));
    }
    Ok(None)
}

/// Parses a device's twin request topic (for the emulator). `Ok(None)`: not a twin request.
pub fn parse_request_topic(topic: &str) -> Result<Option<TwinRequest>, MalformedError> {
    let (rest, get) = if let Some(r) = topic.strip_prefix(GET_PREFIX) {
        (r, true)
    } else if let Some(r) = topic.strip_prefix(REPORTED_PREFIX) {
        (r, false)
    } else {
        return Ok(None);
    };
    let bag = query(rest)?;
    let rid = field(&bag, "$rid")
        .ok_or(MalformedError::MissingField("$rid"))?
        .to_owned();
    Ok(Some(if get {
        TwinRequest::Get { rid }
    } else {
        TwinRequest::PatchReported { rid }
    }))
}

/// `desired.$version` of a full twin document `{"desired":{..,"$version":N},"reported":{..}}`.
/// `None` if the document is not an object with that member as an unsigned integer.
pub fn desired_version(doc: &str) -> Option<u64> {
    let desired = json::member(doc, "desired")?;
    json::member(desired, "$version").and_then(json::as_u64)
}

/// The raw JSON text of the `desired` section of a full twin document.
pub fn desired_section(doc: &str) -> Option<&str> {
    json::member(doc, "desired")
}

/// `$version` at the top level of a JSON object (a desired patch or a properties section).
pub fn version_of(obj: &str) -> Option<u64> {
    json::member(obj, "$version").and_then(json::as_u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn desired_version_nested_and_tricky_succeeds() {
        let doc = r#" { "reported": {"desired": {"$version": 99}, "$version": 3},
            "desired" : { "s": "}\"{ \\\" $version", "arr": [1, {"$version": 5}, "]"], "n": null,
                          "$version" : 12 } } "#;
        assert_eq!(desired_version(doc), Some(12));
    }

    #[test]
    fn desired_version_escaped_key_succeeds() {
        assert_eq!(
            desired_version(r#"{"d\u0065sired":{"\u0024version":7}}"#),
            Some(7)
        );
    }

    #[test]
    fn desired_version_absent_or_malformed_fails() {
        assert_eq!(desired_version(r#"{"reported":{"$version":1}}"#), None);
        assert_eq!(desired_version(r#"{"desired":{"$version":"1"}}"#), None);
        assert_eq!(desired_version(r#"{"desired":{"$version":-1}}"#), None);
        assert_eq!(desired_version(r#"{"desired":{"$version":1"#), None);
        assert_eq!(desired_version(r#"{"desired":{"a":[1,2}"#), None);
        assert_eq!(desired_version("[]"), None);
        assert_eq!(desired_version(""), None);
        assert_eq!(desired_version("{\"desired\""), None);
        assert_eq!(desired_version("{\"a\":\"\\"), None);
    }

    #[test]
    fn version_of_patch_succeeds() {
        assert_eq!(version_of(r#"{"fan":{"on":true},"$version":4}"#), Some(4));
    }

    #[test]
    fn parse_topic_response_without_rid_fails() {
        assert_eq!(
            parse_topic("$iothub/twin/res/200/?$version=1"),
            Err(MalformedError::MissingField("$rid"))
        );
        assert_eq!(
            parse_topic("$iothub/twin/res/abc/?$rid=1"),
            Err(MalformedError::BadNumber("status"))
        );
        assert_eq!(
            parse_topic("$iothub/twin/res/200"),
            Err(MalformedError::BadTopic)
        );
        assert_eq!(
            parse_topic("$iothub/twin/PATCH/properties/desired/?x=1"),
            Err(MalformedError::MissingField("$version"))
        );
        assert_eq!(
            parse_topic("$iothub/twin/res/204/?$rid=1&$version=x"),
            Err(MalformedError::BadNumber("$version"))
        );
    }

    #[test]
    fn request_topics_round_trip_succeeds() {
        assert_eq!(
            parse_request_topic(&get_topic("44b71eec-84d2")).unwrap(),
            Some(TwinRequest::Get {
                rid: "44b71eec-84d2".into()
            })
        );
        assert_eq!(
            parse_request_topic(&patch_topic("9")).unwrap(),
            Some(TwinRequest::PatchReported { rid: "9".into() })
        );
        assert_eq!(
            parse_request_topic("devices/d/messages/events/").unwrap(),
            None
        );
        assert_eq!(
            parse_topic(&response_topic(204, "r 1", Some(3))).unwrap(),
            Some(TwinTopic::Response {
                status: 204,
                rid: "r 1".into(),
                version: Some(3)
            })
        );
        assert_eq!(
            parse_topic(&desired_topic(4)).unwrap(),
            Some(TwinTopic::Desired { version: 4 })
        );
    }
}
