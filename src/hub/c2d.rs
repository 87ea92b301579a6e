//! Cloud-to-device messages: subscription filter and received-topic decoding.
//!
//! Devices receive on `devices/{id}/messages/devicebound/{bag}`; modules on
//! `devices/{id}/modules/{mid}/inputs/{input}/{bag}`.

use crate::prelude::*;

use super::encoding::{decode_bag, push_pair, PropertyBag};
use super::error::MalformedError;
use super::telemetry::SystemProperties;
use crate::text::concat;

/// The SUBSCRIBE filter for C2D (devices) or module inputs (modules).
pub fn subscribe_filter(device_id: &str, module_id: Option<&str>) -> String {
    match module_id {
        Some(m) => concat(&["devices/", device_id, "/modules/", m, "/inputs/#"]),
        None => concat(&["devices/", device_id, "/messages/devicebound/#"]),
    }
}

/// A decoded C2D (or module input) topic.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct C2dTopic {
    /// Module input name (module identities only).
    pub input_name: Option<String>,
    /// System properties (`$.mid`, `$.cid`, `$.to`, `$.exp`, ...).
    pub system: SystemProperties,
    /// Application properties in order, `iothub-ack` included; a bare key has `None`.
    pub properties: PropertyBag,
}

/// Parses a received topic addressed to this identity. `Ok(None)`: not a C2D topic for it.
pub fn parse_topic(
    topic: &str,
    device_id: &str,
    module_id: Option<&str>,
) -> Result<Option<C2dTopic>, MalformedError> {
    let Some(rest) = topic
        .strip_prefix("devices/")
        .and_then(|r| r.strip_prefix(device_id))
    else {
        return Ok(None);
    };
    let (input_name, bag) = match module_id {
        None => match rest.strip_prefix("/messages/devicebound") {
            Some("") => (None, ""),
            Some(b) => match b.strip_prefix('/') {
                Some(b) => (None, b),
                None => return Ok(None),
            },
            None => return Ok(None),
        },
        Some(m) => {
            let Some(r) = rest
                .strip_prefix("/modules/")
                .and_then(|r| r.strip_prefix(m))
            else {
                return Ok(None);
            };
            let Some(r) = r.strip_prefix("/inputs/") else {
                return Ok(None);
            };
            let (input, bag) = r.split_once('/').unwrap_or((r, ""));
            if input.is_empty() {
                return Err(MalformedError::BadTopic);
            }
            (Some(input.to_owned()), bag)
        }
    };
    let (system, properties) = SystemProperties::split_bag(decode_bag(bag)?);
    Ok(Some(C2dTopic {
        input_name,
        system,
        properties,
    }))
}

/// Builds the topic the hub publishes a C2D message on (for the emulator).
pub fn topic(
    device_id: &str,
    system: &SystemProperties,
    properties: &[(String, Option<String>)],
) -> String {
    let mut out = concat(&["devices/", device_id, "/messages/devicebound/"]);
    let start = out.len();
    system.encode_into(&mut out, start);
    for (k, v) in properties {
        push_pair(&mut out, start, k, v.as_deref());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_topic_capture_plus_stays_succeeds() {
        let t = "devices/dev1/messages/devicebound/%24.mid=c2d-mid-1&%24.to=%2Fdevices%2Fdev1%2Fmessages%2Fdevicebound&%24.cid=corr%201&%24.ct=application%2Fjson&%24.ce=utf-8&iothub-ack=full&my%20key=a%2Bb%20c%26d%3De&plus=1+2";
        let c = parse_topic(t, "dev1", None).unwrap().unwrap();
        assert_eq!(c.system.message_id.as_deref(), Some("c2d-mid-1"));
        assert_eq!(c.system.correlation_id.as_deref(), Some("corr 1"));
        assert_eq!(
            c.system.to.as_deref(),
            Some("/devices/dev1/messages/devicebound")
        );
        assert_eq!(c.system.content_type.as_deref(), Some("application/json"));
        assert_eq!(c.system.content_encoding.as_deref(), Some("utf-8"));
        assert_eq!(
            c.properties,
            vec![
                ("iothub-ack".into(), Some("full".into())),
                ("my key".into(), Some("a+b c&d=e".into())),
                ("plus".into(), Some("1+2".into())),
            ]
        );
    }

    #[test]
    fn parse_topic_module_input_succeeds() {
        let c = parse_topic("devices/d/modules/m/inputs/in1/k=v", "d", Some("m"))
            .unwrap()
            .unwrap();
        assert_eq!(c.input_name.as_deref(), Some("in1"));
        assert_eq!(c.properties, vec![("k".into(), Some("v".into()))]);
        assert_eq!(
            parse_topic("devices/d/modules/m/inputs//k=v", "d", Some("m")),
            Err(MalformedError::BadTopic)
        );
    }

    #[test]
    fn parse_topic_not_mine_succeeds() {
        assert_eq!(
            parse_topic("devices/other/messages/devicebound/", "dev1", None).unwrap(),
            None
        );
        assert_eq!(
            parse_topic("devices/dev10/messages/devicebound/", "dev1", None).unwrap(),
            None
        );
        assert_eq!(
            parse_topic("$iothub/methods/POST/x/?$rid=1", "dev1", None).unwrap(),
            None
        );
    }

    #[test]
    fn topic_round_trip_succeeds() {
        let sys = SystemProperties {
            message_id: Some("m 1".into()),
            expiry: Some("0".into()),
            ..Default::default()
        };
        let props = vec![
            ("iothub-ack".to_string(), Some("full".to_string())),
            ("bare".to_string(), None),
        ];
        let t = topic("d", &sys, &props);
        let c = parse_topic(&t, "d", None).unwrap().unwrap();
        assert_eq!(c.system, sys);
        assert_eq!(c.properties, props);
    }

    #[test]
    fn parse_topic_bad_escape_fails() {
        assert_eq!(
            parse_topic("devices/d/messages/devicebound/a=%4", "d", None),
            Err(MalformedError::BadPercentEscape)
        );
    }
}
