//! Device and module twins: desired and reported sections, each with its own
//! `$version`, merged with JSON merge-patch rules (`null` deletes a member).

use serde_json::{Map, Value};

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
        merge(&mut self.reported, &patch);
        self.reported_version += 1;
        self.version += 1;
        Ok(self.reported_version)
    }

    /// Applies a desired patch from the service; returns the new desired `$version`.
    pub fn patch_desired(&mut self, patch: &Map<String, Value>) -> u64 {
        merge(&mut self.desired, patch);
        self.desired_version += 1;
        self.version += 1;
        self.desired_version
    }

    /// Applies a tags patch from the service.
    pub fn patch_tags(&mut self, patch: &Map<String, Value>) {
        merge(&mut self.tags, patch);
        self.version += 1;
    }
}

/// Parses a JSON object body; `$`-prefixed metadata keys are dropped.
pub fn parse_object(body: &[u8]) -> Result<Map<String, Value>, PatchError> {
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(mut m)) => {
            m.retain(|k, _| !k.starts_with('$'));
            Ok(m)
        }
        Ok(_) => Err(PatchError::NotObject),
        Err(_) => Err(PatchError::NotJson),
    }
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
        t.patch_reported(br#"{"t":22.759999999999998,"u":0.1,"big":12345678901234567}"#)
            .unwrap();
        let text = t.document()["reported"].to_string();
        assert!(text.contains("22.759999999999998"), "{text}");
        assert!(text.contains("0.1"), "{text}");
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
