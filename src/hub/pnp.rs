//! IoT Plug and Play conventions over twin JSON text (no JSON library).
//!
//! The conventions (learn.microsoft.com "IoT Plug and Play conventions"):
//! - a component's properties live under its name with the marker
//!   `"__t":"c"`: reported `{"thermostat1":{"__t":"c","maxTempSinceLastReboot":38.2}}`,
//!   and the service's desired patches for a component carry the marker too;
//! - a writable property is acknowledged in reported properties as
//!   `{"targetTemperature":{"value":21,"ac":200,"av":7,"ad":"done"}}` where `ac`
//!   is an HTTP-like status, `av` the desired `$version` being acknowledged and
//!   `ad` an optional description (inside the component object for components);
//! - commands are `{component}*{command}` (split by `methods::split_name`) and
//!   component telemetry carries `$.sub` (`SystemProperties::component`).
//!
//! Values stay raw JSON text: the caller's `JSON.stringify`/`JSON.parse` (or
//! `serde_json` natively) does the rest. Every input is checked structurally
//! and a bad one is `Error::InvalidArgument` naming the argument.

use crate::prelude::*;

use super::error::Error;
use super::json;

/// The member that marks a component object.
pub const COMPONENT_MARKER: &str = "__t";
/// The marker's value.
pub const COMPONENT_MARKER_VALUE: &str = "c";

fn check_name(name: &str, what: &'static str) -> Result<(), Error> {
    if name.is_empty() {
        return Err(Error::InvalidArgument(what));
    }
    Ok(())
}

/// Appends the members of the object `obj` (without braces) to `out`.
fn push_members(out: &mut String, obj: &str) {
    let inner = obj.trim();
    let inner = inner[1..inner.len() - 1].trim();
    if !inner.is_empty() {
        out.push(',');
        out.push_str(inner);
    }
}

/// Reported properties of one component: `{"<component>":{"__t":"c",<members of properties_json>}}`.
///
/// `properties_json` must be a JSON object; a `__t` member in it is refused (the marker is
/// added here).
pub fn component_reported(component: &str, properties_json: &str) -> Result<String, Error> {
    check_name(component, "component name is empty")?;
    let members = json::members(properties_json).ok_or(Error::InvalidArgument(
        "component properties must be a JSON object",
    ))?;
    if members.iter().any(|(k, _)| k == COMPONENT_MARKER) {
        return Err(Error::InvalidArgument(
            "component properties must not contain __t (it is added)",
        ));
    }
    let mut out = String::with_capacity(properties_json.len() + component.len() + 16);
    out.push('{');
    json::push_string(&mut out, component);
    out.push_str(":{\"__t\":\"c\"");
    push_members(&mut out, properties_json);
    out.push_str("}}");
    Ok(out)
}

/// A writable-property acknowledgement for a reported PATCH:
/// `{"<name>":{"value":<value_json>,"ac":<ac>,"av":<av>[,"ad":"<ad>"]}}`, inside
/// `{"<component>":{"__t":"c",…}}` when `component` is given.
///
/// `ac` is an HTTP-like status (200 accepted, 202 pending, 400 invalid …), `av` the desired
/// `$version` being acknowledged.
pub fn writable_ack(
    component: Option<&str>,
    name: &str,
    value_json: &str,
    ac: u16,
    av: u64,
    ad: Option<&str>,
) -> Result<String, Error> {
    check_name(name, "property name is empty")?;
    if !json::is_value(value_json) {
        return Err(Error::InvalidArgument(
            "acknowledged value must be one JSON value",
        ));
    }
    let mut ack = String::with_capacity(value_json.len() + name.len() + 48);
    json::push_string(&mut ack, name);
    ack.push_str(":{\"value\":");
    ack.push_str(value_json.trim());
    ack.push_str(",\"ac\":");
    ack.push_str(&ac.to_string());
    ack.push_str(",\"av\":");
    ack.push_str(&av.to_string());
    if let Some(ad) = ad {
        ack.push_str(",\"ad\":");
        json::push_string(&mut ack, ad);
    }
    ack.push('}');
    match component {
        None => Ok(format!("{{{ack}}}")),
        Some(c) => {
            check_name(c, "component name is empty")?;
            let mut out = String::with_capacity(ack.len() + c.len() + 16);
            out.push('{');
            json::push_string(&mut out, c);
            out.push_str(":{\"__t\":\"c\",");
            out.push_str(&ack);
            out.push_str("}}");
            Ok(out)
        }
    }
}

/// One writable property from a desired patch.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DesiredProperty {
    /// The component, or `None` for the default component (root).
    pub component: Option<String>,
    /// Property name.
    pub name: String,
    /// The desired value as raw JSON (`null` means the service removed it).
    pub value: String,
}

fn is_component(value: &str) -> bool {
    json::member(value, COMPONENT_MARKER)
        .and_then(json::as_str)
        .is_some_and(|m| m == COMPONENT_MARKER_VALUE)
}

fn is_meta(key: &str) -> bool {
    key.starts_with('$')
}

/// Splits a desired patch (or a full `desired` section) into properties per component.
///
/// A top-level member whose value is an object carrying `"__t":"c"` is a component and each
/// of its other members is one of its properties; any other top-level member is a property of
/// the default component. `$version`, `$metadata` and other `$` members are skipped. The
/// order is the patch's.
pub fn split_desired(patch_json: &str) -> Result<Vec<DesiredProperty>, Error> {
    let bad = Error::InvalidArgument("desired patch must be a JSON object");
    let members = json::members(patch_json).ok_or(bad.clone())?;
    let mut out = Vec::new();
    for (key, value) in members {
        if is_meta(&key) {
            continue;
        }
        if is_component(value) {
            let inner = json::members(value).ok_or(bad.clone())?;
            for (name, v) in inner {
                if name == COMPONENT_MARKER || is_meta(&name) {
                    continue;
                }
                out.push(DesiredProperty {
                    component: Some(key.clone().into_owned()),
                    name: name.into_owned(),
                    value: v.to_owned(),
                });
            }
        } else {
            out.push(DesiredProperty {
                component: None,
                name: key.into_owned(),
                value: value.to_owned(),
            });
        }
    }
    Ok(out)
}

/// `av` of the acknowledgement of `prop` in the reported section, if any.
fn acked_version(reported: Option<&str>, prop: &DesiredProperty) -> Option<u64> {
    let mut scope = reported?;
    if let Some(c) = &prop.component {
        scope = json::member(scope, c)?;
    }
    let ack = json::member(scope, &prop.name)?;
    json::member(ack, "av").and_then(json::as_u64)
}

/// The desired `$version` and the writable properties a device has not acknowledged yet, from a
/// full twin document `{"desired":{…},"reported":{…}}`: every desired property whose reported
/// acknowledgement is missing or has an `av` older than the desired `$version`. Hand these to
/// the property handlers at start-up so a device that was offline catches up.
pub fn unacknowledged(twin_json: &str) -> Result<(u64, Vec<DesiredProperty>), Error> {
    let bad = Error::InvalidArgument("twin must be {\"desired\":{..,\"$version\":N},..}");
    if !json::is_object(twin_json) {
        return Err(bad);
    }
    let desired = json::member(twin_json, "desired").ok_or(bad.clone())?;
    let version = json::member(desired, "$version")
        .and_then(json::as_u64)
        .ok_or(bad)?;
    let reported = json::member(twin_json, "reported");
    let pending = split_desired(desired)?
        .into_iter()
        .filter(|p| !matches!(acked_version(reported, p), Some(av) if av >= version))
        .collect();
    Ok((version, pending))
}

/// The component a `{component}*{command}` method name addresses, and the command.
/// (Same as `methods::split_name`; here so the PnP helpers are in one place.)
pub fn split_command(name: &str) -> (Option<&str>, &str) {
    super::methods::split_name(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &str) -> serde_json::Value {
        serde_json::from_str(s).unwrap_or_else(|e| panic!("{s}: {e}"))
    }

    #[test]
    fn component_reported_wraps_with_marker_succeeds() {
        let r = component_reported(
            "thermostat1",
            r#" {"maxTempSinceLastReboot": 38.2, "s":"a\"b"} "#,
        )
        .unwrap();
        assert_eq!(
            parse(&r),
            serde_json::json!({"thermostat1": {"__t": "c", "maxTempSinceLastReboot": 38.2, "s": "a\"b"}})
        );
        assert_eq!(
            parse(&component_reported("c\"1", "{}").unwrap()),
            serde_json::json!({"c\"1": {"__t": "c"}})
        );
    }

    #[test]
    fn component_reported_bad_input_fails() {
        assert!(component_reported("", "{}").is_err());
        assert!(component_reported("c", "[]").is_err());
        assert!(component_reported("c", "{\"a\":1").is_err());
        assert!(component_reported("c", "{\"a\":1} {}").is_err());
        assert!(component_reported("c", "{\"__t\":\"c\"}").is_err());
    }

    #[test]
    fn writable_ack_root_and_component_succeeds() {
        let root = writable_ack(None, "targetTemperature", "21.5", 200, 7, Some("ok")).unwrap();
        assert_eq!(
            parse(&root),
            serde_json::json!({"targetTemperature": {"value": 21.5, "ac": 200, "av": 7, "ad": "ok"}})
        );
        let comp = writable_ack(
            Some("thermostat2"),
            "targetTemperature",
            "{\"a\":[1]}",
            400,
            3,
            None,
        )
        .unwrap();
        assert_eq!(
            parse(&comp),
            serde_json::json!({"thermostat2": {"__t": "c", "targetTemperature": {"value": {"a": [1]}, "ac": 400, "av": 3}}})
        );
    }

    #[test]
    fn writable_ack_bad_value_fails() {
        assert!(writable_ack(None, "p", "", 200, 1, None).is_err());
        assert!(writable_ack(None, "p", "1,2", 200, 1, None).is_err());
        assert!(writable_ack(None, "p", "{\"a\"}", 200, 1, None).is_err());
        assert!(writable_ack(None, "", "1", 200, 1, None).is_err());
        assert!(writable_ack(Some(""), "p", "1", 200, 1, None).is_err());
    }

    #[test]
    fn split_desired_per_component_succeeds() {
        let patch = r#"{"targetTemperature":21,"thermostat1":{"__t":"c","targetTemperature":22,"mode":{"x":1}},
            "obj":{"a":1},"thermostat2":{"__t":"c","targetTemperature":null},"$version":9}"#;
        let p = split_desired(patch).unwrap();
        let flat: Vec<(Option<&str>, &str, &str)> = p
            .iter()
            .map(|d| (d.component.as_deref(), d.name.as_str(), d.value.as_str()))
            .collect();
        assert_eq!(
            flat,
            [
                (None, "targetTemperature", "21"),
                (Some("thermostat1"), "targetTemperature", "22"),
                (Some("thermostat1"), "mode", "{\"x\":1}"),
                (None, "obj", "{\"a\":1}"),
                (Some("thermostat2"), "targetTemperature", "null"),
            ]
        );
        assert!(split_desired("[1]").is_err());
        assert!(split_desired("{\"a\":").is_err());
    }

    #[test]
    fn unacknowledged_compares_av_with_desired_version_succeeds() {
        let twin = r#"{"desired":{"targetTemperature":21,"thermostat1":{"__t":"c","targetTemperature":22},
                        "thermostat2":{"__t":"c","targetTemperature":23},"fan":true,"$version":5},
                       "reported":{"targetTemperature":{"value":21,"ac":200,"av":5},
                        "thermostat1":{"__t":"c","targetTemperature":{"value":20,"ac":200,"av":4}},
                        "thermostat2":{"__t":"c","targetTemperature":{"value":23,"ac":200,"av":5}},
                        "$version":8}}"#;
        let (v, pending) = unacknowledged(twin).unwrap();
        assert_eq!(v, 5);
        let names: Vec<(Option<&str>, &str)> = pending
            .iter()
            .map(|d| (d.component.as_deref(), d.name.as_str()))
            .collect();
        assert_eq!(
            names,
            [(Some("thermostat1"), "targetTemperature"), (None, "fan")]
        );
    }

    #[test]
    fn unacknowledged_bad_twin_fails() {
        assert!(unacknowledged("{}").is_err());
        assert!(unacknowledged(r#"{"desired":{"a":1}}"#).is_err());
        assert!(unacknowledged(r#"{"desired":{"$version":1}"#).is_err());
        let (v, p) = unacknowledged(r#"{"desired":{"$version":1}}"#).unwrap();
        assert_eq!((v, p.len()), (1, 0));
    }

    #[test]
    fn split_command_component_succeeds() {
        assert_eq!(
            split_command("thermostat1*getMaxMinReport"),
            (Some("thermostat1"), "getMaxMinReport")
        );
        assert_eq!(split_command("reboot"), (None, "reboot"));
    }
}
