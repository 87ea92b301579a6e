//! Device and module twins: desired and reported sections, each with its own
//! `$version`, merged with JSON merge-patch rules (`null` deletes a member).
//! Every change is checked against IoT Hub's twin rules first
//! ([`super::twin_rules`]): a refused patch changes nothing.

use serde_json::{Map, Value};

use super::twin_rules::{self, RuleError, Section};

/// One twin: two property sections and the overall version.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Twin {
    /// Desired properties without `$version`.
    pub desired: Map<String, Value>,
    /// Reported properties without `$version`.
    pub reported: Map<String, Value>,
    /// Desired `$version`, starts at 1.
    pub desired_version: u64,
    /// Reported `$version`, starts at 1.
    pub reported_version: u64,
    /// Overall twin version, bumped by every change.
    pub version: u64,
    /// Twin tags (service-side only).
    pub tags: Map<String, Value>,
}

/// Why a patch was refused; the caller (device or service) is at fault.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PatchError {
    /// The body is not JSON.
    NotJson,
    /// The body is JSON but not an object.
    NotObject,
    /// The patch breaks one of IoT Hub's twin rules.
    Rule(RuleError),
}

impl std::fmt::Display for PatchError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PatchError::NotJson => f.write_str("the patch is not valid JSON"),
            PatchError::NotObject => f.write_str("the patch must be a JSON object"),
            PatchError::Rule(e) => e.fmt(f),
        }
    }
}

impl From<RuleError> for PatchError {
    fn from(e: RuleError) -> Self {
        PatchError::Rule(e)
    }
}

impl Twin {
    /// A new, empty twin at versions 1.
    pub fn new() -> Twin {
        Twin {
            desired_version: 1,
            reported_version: 1,
            version: 1,
            ..Twin::default()
        }
    }

    /// `{desired: {.., $version}, reported: {.., $version}}`, the device's GET answer.
    pub fn document(&self) -> Value {
        serde_json::json!({
            "desired": with_version(&self.desired, self.desired_version),
            "reported": with_version(&self.reported, self.reported_version),
        })
    }

    /// Applies a reported patch from the device; returns the new reported `$version`.
    pub fn patch_reported(&mut self, body: &[u8]) -> Result<u64, PatchError> {
        let patch = parse_object(body)?;
        self.reported = checked_merge(Section::Reported, &self.reported, &patch)?;
        self.reported_version += 1;
        self.version += 1;
        Ok(self.reported_version)
    }

    /// Checks a desired patch from the service without applying it.
    pub fn check_desired(&self, patch: &Map<String, Value>) -> Result<(), RuleError> {
        checked_merge(Section::Desired, &self.desired, patch).map(drop)
    }

    /// Checks a tags patch from the service without applying it.
    pub fn check_tags(&self, patch: &Map<String, Value>) -> Result<(), RuleError> {
        checked_merge(Section::Tags, &self.tags, patch).map(drop)
    }

    /// Applies a desired patch from the service (checked with
    /// [`Twin::check_desired`]); returns the new desired `$version`.
    pub fn patch_desired(&mut self, patch: &Map<String, Value>) -> u64 {
        merge(&mut self.desired, patch);
        self.desired_version += 1;
        self.version += 1;
        self.desired_version
    }

    /// Applies a tags patch from the service (checked with [`Twin::check_tags`]).
    pub fn patch_tags(&mut self, patch: &Map<String, Value>) {
        merge(&mut self.tags, patch);
        self.version += 1;
    }
}

/// The section after `patch`, if the patch and the result keep IoT Hub's rules.
fn checked_merge(
    section: Section,
    current: &Map<String, Value>,
    patch: &Map<String, Value>,
) -> Result<Map<String, Value>, RuleError> {
    twin_rules::check(patch)?;
    let mut next = current.clone();
    merge(&mut next, patch);
    twin_rules::check_size(section, twin_rules::size(current), twin_rules::size(&next))?;
    Ok(next)
}

/// Parses a JSON object body, keys as sent (a `$` key breaks the key rules).
pub fn parse_object(body: &[u8]) -> Result<Map<String, Value>, PatchError> {
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(m)) => Ok(m),
        Ok(_) => Err(PatchError::NotObject),
        Err(_) => Err(PatchError::NotJson),
    }
}

/// Whether an `If-Match` header value matches the etag of a twin at
/// `version` (shown as `"{version}"`): `*`, or one of its comma-separated
/// etags, quoted or not, weak (`W/`) or not.
pub fn etag_matches(if_match: &str, version: u64) -> bool {
    let want = version.to_string();
    if_match.split(',').any(|tag| {
        let tag = tag.trim();
        let tag = tag.strip_prefix("W/").unwrap_or(tag);
        tag == "*" || tag.trim_matches('"') == want
    })
}

/// Copies `m` and adds `$version`.
pub fn with_version(m: &Map<String, Value>, version: u64) -> Value {
    let mut m = m.clone();
    m.insert("$version".into(), Value::from(version));
    Value::Object(m)
}

/// JSON merge patch (RFC 7396) restricted to objects: `null` deletes.
pub fn merge(target: &mut Map<String, Value>, patch: &Map<String, Value>) {
    for (k, v) in patch {
        match v {
            Value::Null => {
                target.remove(k);
            }
            Value::Object(p) => {
                let entry = target
                    .entry(k.clone())
                    .or_insert_with(|| Value::Object(Map::new()));
                if !entry.is_object() {
                    *entry = Value::Object(Map::new());
                }
                if let Value::Object(t) = entry {
                    merge(t, p);
                }
            }
            other => {
                target.insert(k.clone(), other.clone());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn twin_patch_reported_versions_and_null_delete_succeeds() {
        let mut t = Twin::new();
        assert_eq!(
            t.patch_reported(br#"{"fw":"1.1","nested":{"a":1,"b":2}}"#),
            Ok(2)
        );
        assert_eq!(
            t.patch_reported(br#"{"nested":{"a":null,"c":3},"fw":null}"#),
            Ok(3)
        );
        assert_eq!(
            t.document()["reported"],
            json!({"nested":{"b":2,"c":3},"$version":3})
        );
        assert_eq!(t.document()["desired"], json!({"$version":1}));
        assert_eq!(t.version, 3);
    }

    #[test]
    fn twin_patch_reported_not_object_fails() {
        let mut t = Twin::new();
        assert_eq!(t.patch_reported(b" "), Err(PatchError::NotJson));
        assert_eq!(t.patch_reported(b"[1]"), Err(PatchError::NotObject));
        assert_eq!(t.reported_version, 1);
    }

    #[test]
    fn twin_patch_floats_round_trip_exactly_succeeds() {
        let mut t = Twin::new();
        t.patch_reported(br#"{"t":22.759999999999998,"u":0.1,"big":4503599627370495}"#)
            .unwrap();
        let text = t.document()["reported"].to_string();
        assert!(text.contains("22.759999999999998"), "{text}");
        assert!(text.contains("0.1"), "{text}");
        assert!(text.contains("4503599627370495"), "{text}");
    }

    #[test]
    fn twin_patch_reported_breaking_a_rule_changes_nothing_fails() {
        let mut t = Twin::new();
        t.patch_reported(br#"{"keep":1}"#).unwrap();
        for body in [
            &br#"{"$ver":1}"#[..],
            br#"{"ok":2,"a.b":1}"#,
            br#"{"big":12345678901234567}"#,
        ] {
            assert!(
                matches!(t.patch_reported(body), Err(PatchError::Rule(_))),
                "{}",
                String::from_utf8_lossy(body)
            );
        }
        assert_eq!(t.document()["reported"], json!({"keep":1,"$version":2}));
        let big = format!(
            r#"{{"s1":"{0}","s2":"{0}","s3":"{0}","s4":"{0}","s5":"{0}","s6":"{0}","s7":"{0}","s8":"{0}"}}"#,
            "x".repeat(4092)
        );
        assert_eq!(t.patch_reported(big.as_bytes()), Ok(3), "32764 of 32768");
        assert!(matches!(
            t.patch_reported(br#"{"more":"x"}"#),
            Err(PatchError::Rule(RuleError::TooLarge(Section::Reported, _)))
        ));
        assert_eq!(
            t.patch_reported(br#"{"s1":null}"#),
            Ok(4),
            "shrinking is allowed"
        );
    }

    #[test]
    fn etag_matches_quoted_weak_star_and_lists_succeeds() {
        assert!(etag_matches("\"3\"", 3));
        assert!(etag_matches("3", 3));
        assert!(etag_matches("W/\"3\"", 3));
        assert!(etag_matches("*", 3));
        assert!(etag_matches("\"1\", \"3\"", 3));
        assert!(!etag_matches("\"2\"", 3));
        assert!(!etag_matches("", 3));
    }

    #[test]
    fn twin_patch_desired_replaces_scalar_with_object_succeeds() {
        let mut t = Twin::new();
        let p = json!({"x": 1}).as_object().unwrap().clone();
        assert_eq!(t.patch_desired(&p), 2);
        let p = json!({"x": {"y": true}}).as_object().unwrap().clone();
        assert_eq!(t.patch_desired(&p), 3);
        assert_eq!(
            t.document()["desired"],
            json!({"x":{"y":true},"$version":3})
        );
    }
}
