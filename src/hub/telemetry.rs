//! Device-to-cloud telemetry: topics, system properties, size limit.
//!
//! Topic: `devices/{id}/messages/events/{bag}` (modules:
//! `devices/{id}/modules/{mid}/messages/events/{bag}`), where the bag holds
//! the system properties (`$.mid`, `$.cid`, ...) and then the application
//! properties in insertion order.

use crate::prelude::*;

use crate::mqtt::QoS;

use super::encoding::{decode_bag, push_pair, PropertyBag};
use super::error::{Error, MalformedError};
use crate::text::concat;

/// IoT Hub's largest device-to-cloud message (topic + body), in bytes.
pub const MAX_MESSAGE_BYTES: usize = 256 * 1024;

/// Bag key of the creation time: what IoT Hub maps to the `iothub-creation-time-utc`
/// system property (azure-sdk-for-c, the C and .NET SDKs; docs/hub.md).
pub const CREATION_TIME_KEY: &str = "$.ctime";

/// The creation time's system-property *name*, which hubwire used to send as a bag key
/// before it sent [`CREATION_TIME_KEY`]; the emulator still reads it (docs/hub.md).
pub const LEGACY_CREATION_TIME_KEY: &str = "iothub-creation-time-utc";

/// System properties shared by telemetry and cloud-to-device messages.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SystemProperties {
    /// `$.mid`
    pub message_id: Option<String>,
    /// `$.cid`
    pub correlation_id: Option<String>,
    /// `$.uid`
    pub user_id: Option<String>,
    /// `$.to`
    pub to: Option<String>,
    /// `$.ct`
    pub content_type: Option<String>,
    /// `$.ce`
    pub content_encoding: Option<String>,
    /// `$.exp` (ISO 8601 text for telemetry; C2D carries what the hub sends)
    pub expiry: Option<String>,
    /// `$.ctime`: creation time (ISO 8601), the hub's `iothub-creation-time-utc`
    pub creation_time_utc: Option<String>,
    /// `$.on`: a module's output name
    pub output_name: Option<String>,
    /// `$.ifid`: interface id (security messages)
    pub interface_id: Option<String>,
    /// `$.sub`: Plug and Play component name
    pub component: Option<String>,
    /// `$.cdid`: the device that sent a message routed to a module input (set by the hub)
    pub connection_device_id: Option<String>,
    /// `$.cmid`: the module that sent a message routed to a module input (set by the hub)
    pub connection_module_id: Option<String>,
}

/// Every system property as `(bag key on the wire, name in the service API)`, in encoding
/// order: `("$.mid", "messageId")`, ... The service-side names are what a received
/// message's `systemProperties` show (docs/service-api.md).
pub const SYSTEM_PROPERTY_NAMES: [(&str, &str); 13] = [
    ("$.mid", "messageId"),
    ("$.cid", "correlationId"),
    ("$.uid", "userId"),
    ("$.to", "to"),
    ("$.ct", "contentType"),
    ("$.ce", "contentEncoding"),
    ("$.exp", "expiryTimeUtc"),
    (CREATION_TIME_KEY, "creationTimeUtc"),
    ("$.on", "outputName"),
    ("$.ifid", "interfaceId"),
    ("$.sub", "component"),
    ("$.cdid", "connectionDeviceId"),
    ("$.cmid", "connectionModuleId"),
];

/// The wire keys alone, in [`SYSTEM_PROPERTY_NAMES`] order: what encoding and decoding
/// use, so that the service names (used only by the emulator) stay out of the wasm.
const SYSTEM_PROPERTY_KEYS: [&str; 13] = {
    let mut keys = [""; 13];
    let mut i = 0;
    while i < 13 {
        keys[i] = SYSTEM_PROPERTY_NAMES[i].0;
        i += 1;
    }
    keys
};

impl SystemProperties {
    /// The fields in [`SYSTEM_PROPERTY_NAMES`] order.
    fn values(&self) -> [&Option<String>; 13] {
        [
            &self.message_id,
            &self.correlation_id,
            &self.user_id,
            &self.to,
            &self.content_type,
            &self.content_encoding,
            &self.expiry,
            &self.creation_time_utc,
            &self.output_name,
            &self.interface_id,
            &self.component,
            &self.connection_device_id,
            &self.connection_module_id,
        ]
    }

    /// The fields in [`SYSTEM_PROPERTY_NAMES`] order, mutable.
    fn values_mut(&mut self) -> [&mut Option<String>; 13] {
        [
            &mut self.message_id,
            &mut self.correlation_id,
            &mut self.user_id,
            &mut self.to,
            &mut self.content_type,
            &mut self.content_encoding,
            &mut self.expiry,
            &mut self.creation_time_utc,
            &mut self.output_name,
            &mut self.interface_id,
            &mut self.component,
            &mut self.connection_device_id,
            &mut self.connection_module_id,
        ]
    }

    /// The set properties as `((wire key, service name), value)`, in encoding order.
    pub fn iter(&self) -> impl Iterator<Item = ((&'static str, &'static str), &str)> + '_ {
        SYSTEM_PROPERTY_NAMES
            .into_iter()
            .zip(self.values())
            .filter_map(|(names, v)| v.as_deref().map(|v| (names, v)))
    }

    fn slot(&mut self, key: &str) -> Option<&mut Option<String>> {
        let i = SYSTEM_PROPERTY_KEYS.iter().position(|k| *k == key)?;
        self.values_mut().into_iter().nth(i)
    }

    /// Appends the set system properties to a bag being built in `out`.
    pub fn encode_into(&self, out: &mut String, bag_start: usize) {
        for (k, v) in SYSTEM_PROPERTY_KEYS.into_iter().zip(self.values()) {
            if let Some(v) = v {
                push_pair(out, bag_start, k, Some(v));
            }
        }
    }

    /// Splits a decoded bag into system properties and the remaining application properties (in order).
    /// The first occurrence of a system key wins; a bare system key is kept as an application property.
    pub fn split_bag(bag: PropertyBag) -> (SystemProperties, PropertyBag) {
        let mut sys = SystemProperties::default();
        let mut app = Vec::new();
        for (k, v) in bag {
            match (sys.slot(&k), v) {
                (Some(slot), Some(v)) if slot.is_none() => *slot = Some(v),
                (_, v) => app.push((k, v)),
            }
        }
        (sys, app)
    }
}

/// A telemetry message to send.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Telemetry {
    /// The body.
    pub payload: Vec<u8>,
    /// QoS 1 (default, resolved on PUBACK) or 0; QoS 2 is refused with [`Error::QosNotSupported`].
    pub qos: QoS,
    /// System properties.
    pub system: SystemProperties,
    /// Application properties, sent in this order.
    pub properties: Vec<(String, String)>,
}

impl Telemetry {
    /// A QoS 1 message with this body and no properties.
    pub fn new(payload: impl Into<Vec<u8>>) -> Self {
        Telemetry {
            payload: payload.into(),
            qos: QoS::AtLeastOnce,
            system: SystemProperties::default(),
            properties: Vec::new(),
        }
    }

    /// Adds an application property (kept in insertion order).
    pub fn property(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.properties.push((key.into(), value.into()));
        self
    }
}

/// `devices/{id}/messages/events/` or `devices/{id}/modules/{mid}/messages/events/`.
pub fn topic_prefix(device_id: &str, module_id: Option<&str>) -> String {
    match module_id {
        Some(m) => concat(&["devices/", device_id, "/modules/", m, "/messages/events/"]),
        None => concat(&["devices/", device_id, "/messages/events/"]),
    }
}

/// The full telemetry topic with its property bag.
pub fn topic(
    device_id: &str,
    module_id: Option<&str>,
    system: &SystemProperties,
    properties: &[(String, String)],
) -> String {
    let mut out = topic_prefix(device_id, module_id);
    let start = out.len();
    system.encode_into(&mut out, start);
    for (k, v) in properties {
        push_pair(&mut out, start, k, Some(v));
    }
    out
}

/// Refuses a message IoT Hub would refuse (topic + body above 256 KiB, QoS 2) or
/// misread: an application property with an empty name, or one starting with `$.`,
/// which the hub reads as a system property (`$.ct` would set the content type).
pub fn check(
    topic_len: usize,
    payload_len: usize,
    qos: QoS,
    properties: &[(String, String)],
) -> Result<(), Error> {
    if qos == QoS::ExactlyOnce {
        return Err(Error::QosNotSupported);
    }
    if properties
        .iter()
        .any(|(k, _)| k.is_empty() || k.starts_with("$."))
    {
        return Err(Error::InvalidArgument(
            "a property name is empty or starts with \"$.\"",
        ));
    }
    let size = topic_len.saturating_add(payload_len);
    if size > MAX_MESSAGE_BYTES {
        return Err(Error::PayloadTooLarge {
            size,
            max: MAX_MESSAGE_BYTES,
        });
    }
    Ok(())
}

/// A received telemetry topic, decoded (what the emulator records).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TelemetryTopic {
    /// Device id from the topic.
    pub device_id: String,
    /// Module id, if the topic is a module's.
    pub module_id: Option<String>,
    /// System properties.
    pub system: SystemProperties,
    /// Application properties in order (a bare key has `None`).
    pub properties: PropertyBag,
}

/// Parses a telemetry topic. `Ok(None)` if the topic is not a telemetry topic.
pub fn parse_topic(topic: &str) -> Result<Option<TelemetryTopic>, MalformedError> {
    let Some(rest) = topic.strip_prefix("devices/") else {
        return Ok(None);
    };
    let Some((device, rest)) = rest.split_once('/') else {
        return Ok(None);
    };
    let (module, rest) = match rest.strip_prefix("modules/") {
        Some(r) => match r.split_once('/') {
            Some((m, r)) => (Some(m), r),
            None => return Ok(None),
        },
        None => (None, rest),
    };
    let bag = match rest.strip_prefix("messages/events") {
        Some("") => "",
        // The Node SDK ends output-event topics with `/` after the bag
        // (`.../events/%24.on=out&k=v/`): one trailing `/` closes the bag.
        Some(b) => match b.strip_prefix('/') {
            Some(b) => b.strip_suffix('/').unwrap_or(b),
            None => return Ok(None),
        },
        None => return Ok(None),
    };
    if device.is_empty() || module == Some("") {
        return Err(MalformedError::BadTopic);
    }
    let (system, properties) = SystemProperties::split_bag(decode_bag(bag)?);
    Ok(Some(TelemetryTopic {
        device_id: device.to_owned(),
        module_id: module.map(str::to_owned),
        system,
        properties,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_topic_trailing_slash_after_bag_succeeds() {
        let t = parse_topic("devices/d/modules/m/messages/events/%24.on=temperature&unit=C/")
            .unwrap()
            .unwrap();
        assert_eq!(t.system.output_name.as_deref(), Some("temperature"));
        assert_eq!(
            t.properties,
            vec![("unit".to_string(), Some("C".to_string()))]
        );
        let t = parse_topic("devices/d/messages/events//").unwrap().unwrap();
        assert!(t.properties.is_empty());
    }

    #[test]
    fn system_property_names_every_field_round_trips_succeeds() {
        // Each field set to its own wire key: a table row paired with the wrong field shows.
        let mut sys = SystemProperties::default();
        for (slot, (wire, _)) in sys.values_mut().into_iter().zip(SYSTEM_PROPERTY_NAMES) {
            *slot = Some(wire.to_string());
        }
        let named: Vec<_> = sys.iter().collect();
        assert_eq!(named.len(), 13);
        assert!(named.iter().all(|((wire, _), v)| wire == v));
        assert_eq!(sys.message_id.as_deref(), Some("$.mid"));
        assert_eq!(sys.creation_time_utc.as_deref(), Some(CREATION_TIME_KEY));
        assert_eq!(sys.component.as_deref(), Some("$.sub"));
        assert_eq!(sys.connection_module_id.as_deref(), Some("$.cmid"));
        let parsed = parse_topic(&topic("d", None, &sys, &[])).unwrap().unwrap();
        assert_eq!(parsed.system, sys);
        assert!(parsed.properties.is_empty());
    }

    #[test]
    fn topic_module_output_and_component_succeeds() {
        let sys = SystemProperties {
            output_name: Some("out 1".into()),
            component: Some("thermostat1".into()),
            creation_time_utc: Some("2030-01-02T03:04:05.006Z".into()),
            ..Default::default()
        };
        let t = topic(
            "d",
            Some("m"),
            &sys,
            &[("b".into(), "2".into()), ("a".into(), "1".into())],
        );
        assert_eq!(
            t,
            "devices/d/modules/m/messages/events/%24.ctime=2030-01-02T03%3A04%3A05.006Z&%24.on=out%201&%24.sub=thermostat1&b=2&a=1"
        );
        let parsed = parse_topic(&t).unwrap().unwrap();
        assert_eq!(parsed.module_id.as_deref(), Some("m"));
        assert_eq!(parsed.system, sys);
        assert_eq!(
            parsed.properties,
            vec![
                ("b".into(), Some("2".into())),
                ("a".into(), Some("1".into()))
            ]
        );
    }

    #[test]
    fn parse_topic_node_capture_succeeds() {
        let t = "devices/dev1/messages/events/%24.mid=mid%201%26x%3Dy&%24.cid=cid%2F1&%24.ct=application%2Fjson&%24.ce=utf-8&my%20key=a%20b&amp%26=x%26y&eq%3D=p%3Dq&slash%2F=a%2Fb&unicode=%C3%BC%E2%98%83&plus=1%2B2&subdelims=!'()*~-_.&dollar%24=%24x%23%3F%25&%24.sub=thermostat1";
        let p = parse_topic(t).unwrap().unwrap();
        assert_eq!(p.device_id, "dev1");
        assert_eq!(p.system.message_id.as_deref(), Some("mid 1&x=y"));
        assert_eq!(p.system.correlation_id.as_deref(), Some("cid/1"));
        assert_eq!(p.system.component.as_deref(), Some("thermostat1"));
        let keys: Vec<_> = p.properties.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(
            keys,
            [
                "my key",
                "amp&",
                "eq=",
                "slash/",
                "unicode",
                "plus",
                "subdelims",
                "dollar$"
            ]
        );
        assert_eq!(p.properties[4].1.as_deref(), Some("ü☃"));
        assert_eq!(p.properties[5].1.as_deref(), Some("1+2"));
        assert_eq!(p.properties[7].1.as_deref(), Some("$x#?%"));
    }

    #[test]
    fn parse_topic_other_topics_succeeds() {
        assert_eq!(parse_topic("$iothub/twin/res/200/?$rid=1").unwrap(), None);
        assert_eq!(
            parse_topic("devices/d/messages/devicebound/").unwrap(),
            None
        );
        assert_eq!(parse_topic("devices/d/messages/eventsX").unwrap(), None);
        assert!(parse_topic("devices/d/messages/events").unwrap().is_some());
    }

    #[test]
    fn parse_topic_bad_escape_fails() {
        assert_eq!(
            parse_topic("devices/d/messages/events/a=%zz"),
            Err(MalformedError::BadPercentEscape)
        );
    }

    #[test]
    fn check_limits_fails() {
        assert_eq!(
            check(10, 100, QoS::ExactlyOnce, &[]),
            Err(Error::QosNotSupported)
        );
        assert_eq!(
            check(30, MAX_MESSAGE_BYTES - 29, QoS::AtLeastOnce, &[]),
            Err(Error::PayloadTooLarge {
                size: MAX_MESSAGE_BYTES + 1,
                max: MAX_MESSAGE_BYTES
            })
        );
        assert_eq!(
            check(30, MAX_MESSAGE_BYTES - 30, QoS::AtMostOnce, &[]),
            Ok(())
        );
    }

    #[test]
    fn check_reserved_property_names_fails() {
        let props = |k: &str| vec![(k.to_owned(), "v".to_owned())];
        for bad in ["", "$.ct", "$.mid", CREATION_TIME_KEY] {
            let r = check(30, 1, QoS::AtLeastOnce, &props(bad));
            assert!(
                matches!(r, Err(Error::InvalidArgument(_))),
                "{bad:?}: {r:?}"
            );
        }
        // Encoded on the wire and read back as application properties.
        for ok in ["$ct", "a b", "&=/%", "\u{fc}", LEGACY_CREATION_TIME_KEY] {
            assert_eq!(check(30, 1, QoS::AtLeastOnce, &props(ok)), Ok(()), "{ok:?}");
        }
    }
}
