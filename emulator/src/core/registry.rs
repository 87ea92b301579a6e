//! The identity registry: devices and modules with symmetric keys and twins.

use std::collections::BTreeMap;

use serde_json::{json, Map, Value};

use super::time::iso8601;
use super::twin::Twin;
use super::x509::Thumbprints;

/// A device (`module == None`) or module identity.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct IdentityId {
    /// Device id.
    pub device: String,
    /// Module id, for module identities.
    pub module: Option<String>,
}

impl IdentityId {
    /// A device identity.
    pub fn device(id: &str) -> IdentityId {
        IdentityId {
            device: id.to_string(),
            module: None,
        }
    }

    /// A module identity.
    pub fn module(device: &str, module: &str) -> IdentityId {
        IdentityId {
            device: device.to_string(),
            module: Some(module.to_string()),
        }
    }

    /// From an MQTT client id: `dev` or `dev/mod`.
    pub fn from_client_id(client_id: &str) -> IdentityId {
        match client_id.split_once('/') {
            Some((d, m)) => IdentityId::module(d, m),
            None => IdentityId::device(client_id),
        }
    }

    /// The MQTT client id for this identity.
    pub fn client_id(&self) -> String {
        match &self.module {
            Some(m) => format!("{}/{}", self.device, m),
            None => self.device.clone(),
        }
    }

    /// The resource path a SAS token for this identity names, after the host.
    pub fn resource_path(&self) -> String {
        match &self.module {
            Some(m) => format!("/devices/{}/modules/{}", self.device, m),
            None => format!("/devices/{}", self.device),
        }
    }

    /// The topic prefix of this identity's telemetry.
    pub fn events_prefix(&self) -> String {
        match &self.module {
            Some(m) => format!("devices/{}/modules/{}/messages/events", self.device, m),
            None => format!("devices/{}/messages/events", self.device),
        }
    }
}

/// A registered identity.
#[derive(Debug, Clone, PartialEq)]
pub struct Identity {
    /// Who it is.
    pub id: IdentityId,
    /// Base64 primary key.
    pub primary_key: String,
    /// Base64 secondary key.
    pub secondary_key: String,
    /// `false` refuses connections (CONNACK 5 not authorized, as IoT Hub does for disabled devices).
    pub enabled: bool,
    /// Changes when the identity is re-created.
    pub generation_id: String,
    /// Bumped on every identity update.
    pub etag: u64,
    /// The twin.
    pub twin: Twin,
    /// Milliseconds since the epoch of the last status change.
    pub status_updated_ms: u64,
    /// `Some`: a `selfSigned` X.509 identity (its keys are not used); `None`: `sas`.
    pub x509: Option<Thumbprints>,
}

impl Identity {
    /// The identity as the service API shows it (`connected` comes from the hub).
    pub fn to_json(&self, connected: bool, c2d_count: usize) -> Value {
        let mut v = json!({
            "deviceId": self.id.device,
            "generationId": self.generation_id,
            "etag": format!("\"{}\"", self.etag),
            "connectionState": if connected { "Connected" } else { "Disconnected" },
            "status": if self.enabled { "enabled" } else { "disabled" },
            "statusReason": null,
            "statusUpdatedTime": iso8601(self.status_updated_ms),
            "cloudToDeviceMessageCount": c2d_count,
            "authentication": match &self.x509 {
                None => json!({
                    "symmetricKey": { "primaryKey": self.primary_key, "secondaryKey": self.secondary_key },
                    "x509Thumbprint": { "primaryThumbprint": null, "secondaryThumbprint": null },
                    "type": "sas"
                }),
                Some(t) => json!({
                    "symmetricKey": { "primaryKey": null, "secondaryKey": null },
                    "x509Thumbprint": t.to_json(),
                    "type": "selfSigned"
                }),
            },
            "capabilities": { "iotEdge": false }
        });
        if let Some(m) = &self.id.module {
            v["moduleId"] = Value::from(m.as_str());
            v["managedBy"] = Value::Null;
            if let Some(o) = v.as_object_mut() {
                o.remove("capabilities");
                o.remove("cloudToDeviceMessageCount");
            }
        }
        v
    }

    /// The twin as the service API shows it.
    pub fn twin_json(&self, connected: bool) -> Value {
        let mut v = json!({
            "deviceId": self.id.device,
            "etag": format!("\"{}\"", self.twin.version),
            "version": self.twin.version,
            "status": if self.enabled { "enabled" } else { "disabled" },
            "connectionState": if connected { "Connected" } else { "Disconnected" },
            "tags": Value::Object(self.twin.tags.clone()),
            "properties": self.twin.document(),
        });
        if let Some(m) = &self.id.module {
            v["moduleId"] = Value::from(m.as_str());
        }
        v
    }
}

/// All identities, ordered by device then module.
#[derive(Debug, Clone, Default)]
pub struct Registry {
    identities: BTreeMap<IdentityId, Identity>,
    generation: u64,
}

impl Registry {
    /// Looks an identity up.
    pub fn get(&self, id: &IdentityId) -> Option<&Identity> {
        self.identities.get(id)
    }

    /// Looks an identity up for change.
    pub fn get_mut(&mut self, id: &IdentityId) -> Option<&mut Identity> {
        self.identities.get_mut(id)
    }

    /// Devices (not modules), in id order.
    pub fn devices(&self) -> impl Iterator<Item = &Identity> {
        self.identities.values().filter(|i| i.id.module.is_none())
    }

    /// Modules of one device, in id order.
    pub fn modules<'a>(&'a self, device: &'a str) -> impl Iterator<Item = &'a Identity> + 'a {
        self.identities
            .values()
            .filter(move |i| i.id.device == device && i.id.module.is_some())
    }

    /// Creates or updates; keys given replace, absent keep (or use `fresh` when creating).
    /// Returns whether it was created.
    pub fn put(
        &mut self,
        now: u64,
        id: &IdentityId,
        enabled: Option<bool>,
        keys: Option<(String, String)>,
        fresh: (String, String),
    ) -> bool {
        if let Some(existing) = self.identities.get_mut(id) {
            if let Some((p, s)) = keys {
                existing.primary_key = p;
                existing.secondary_key = s;
            }
            if let Some(e) = enabled {
                if e != existing.enabled {
                    existing.status_updated_ms = now;
                }
                existing.enabled = e;
            }
            existing.etag += 1;
            return false;
        }
        self.generation += 1;
        let (primary_key, secondary_key) = keys.unwrap_or(fresh);
        self.identities.insert(
            id.clone(),
            Identity {
                id: id.clone(),
                primary_key,
                secondary_key,
                enabled: enabled.unwrap_or(true),
                generation_id: format!("{}{:06}", now, self.generation),
                etag: 1,
                twin: Twin::new(),
                status_updated_ms: now,
                x509: None,
            },
        );
        true
    }

    /// Removes an identity and, for a device, its modules. Returns the removed ids.
    pub fn remove(&mut self, id: &IdentityId) -> Vec<IdentityId> {
        let doomed: Vec<IdentityId> = self
            .identities
            .keys()
            .filter(|k| {
                *k == id || (id.module.is_none() && k.device == id.device && k.module.is_some())
            })
            .cloned()
            .collect();
        for k in &doomed {
            self.identities.remove(k);
        }
        doomed
    }

    /// The registry and twins as JSON for the state file.
    pub fn export(&self) -> Value {
        let list: Vec<Value> = self
            .identities
            .values()
            .map(|i| {
                json!({
                    "deviceId": i.id.device,
                    "moduleId": i.id.module,
                    "primaryKey": i.primary_key,
                    "secondaryKey": i.secondary_key,
                    "enabled": i.enabled,
                    "generationId": i.generation_id,
                    "etag": i.etag,
                    "statusUpdatedMs": i.status_updated_ms,
                    "x509": i.x509.as_ref().map(Thumbprints::to_json),
                    "twin": {
                        "desired": Value::Object(i.twin.desired.clone()),
                        "reported": Value::Object(i.twin.reported.clone()),
                        "tags": Value::Object(i.twin.tags.clone()),
                        "desiredVersion": i.twin.desired_version,
                        "reportedVersion": i.twin.reported_version,
                        "version": i.twin.version,
                    }
                })
            })
            .collect();
        json!({ "identities": list, "generation": self.generation })
    }

    /// Rebuilds a registry from [`Registry::export`] output; `None` if it is not that shape.
    pub fn import(v: &Value) -> Option<Registry> {
        let mut r = Registry {
            generation: v["generation"].as_u64().unwrap_or(0),
            ..Registry::default()
        };
        for i in v["identities"].as_array()? {
            let id = IdentityId {
                device: i["deviceId"].as_str()?.to_string(),
                module: i["moduleId"].as_str().map(str::to_string),
            };
            let t = &i["twin"];
            let obj = |v: &Value| v.as_object().cloned().unwrap_or_else(Map::new);
            let twin = Twin {
                desired: obj(&t["desired"]),
                reported: obj(&t["reported"]),
                tags: obj(&t["tags"]),
                desired_version: t["desiredVersion"].as_u64()?,
                reported_version: t["reportedVersion"].as_u64()?,
                version: t["version"].as_u64()?,
            };
            r.identities.insert(
                id.clone(),
                Identity {
                    id,
                    primary_key: i["primaryKey"].as_str()?.to_string(),
                    secondary_key: i["secondaryKey"].as_str()?.to_string(),
                    enabled: i["enabled"].as_bool().unwrap_or(true),
                    generation_id: i["generationId"].as_str().unwrap_or("0").to_string(),
                    etag: i["etag"].as_u64().unwrap_or(1),
                    twin,
                    status_updated_ms: i["statusUpdatedMs"].as_u64().unwrap_or(0),
                    x509: i["x509"]["primaryThumbprint"]
                        .as_str()
                        .map(|p| Thumbprints {
                            primary: p.to_string(),
                            secondary: i["x509"]["secondaryThumbprint"]
                                .as_str()
                                .map(str::to_string),
                        }),
                },
            );
        }
        Some(r)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys() -> (String, String) {
        ("AAAA".into(), "BBBB".into())
    }

    #[test]
    fn registry_put_remove_device_with_modules_succeeds() {
        let mut r = Registry::default();
        assert!(r.put(1, &IdentityId::device("d"), None, None, keys()));
        assert!(r.put(1, &IdentityId::module("d", "m"), None, None, keys()));
        assert!(r.put(1, &IdentityId::device("e"), None, None, keys()));
        assert!(!r.put(
            2,
            &IdentityId::device("d"),
            Some(false),
            Some(("X".into(), "Y".into())),
            keys()
        ));
        let d = r.get(&IdentityId::device("d")).unwrap();
        assert_eq!((d.primary_key.as_str(), d.enabled, d.etag), ("X", false, 2));
        assert_eq!(r.devices().count(), 2);
        assert_eq!(r.modules("d").count(), 1);
        let gone = r.remove(&IdentityId::device("d"));
        assert_eq!(gone.len(), 2);
        assert_eq!(r.devices().count(), 1);
    }

    #[test]
    fn registry_export_import_round_trip_succeeds() {
        let mut r = Registry::default();
        r.put(5, &IdentityId::module("d", "m"), None, None, keys());
        r.get_mut(&IdentityId::module("d", "m"))
            .unwrap()
            .twin
            .patch_reported(br#"{"a":1}"#)
            .unwrap();
        let back = Registry::import(&r.export()).unwrap();
        assert_eq!(
            back.get(&IdentityId::module("d", "m")),
            r.get(&IdentityId::module("d", "m"))
        );
        assert!(Registry::import(&serde_json::json!({"identities": 3})).is_none());
    }

    #[test]
    fn identity_client_id_round_trip_succeeds() {
        assert_eq!(
            IdentityId::from_client_id("d/m"),
            IdentityId::module("d", "m")
        );
        assert_eq!(IdentityId::module("d", "m").client_id(), "d/m");
        assert_eq!(
            IdentityId::module("d", "m").resource_path(),
            "/devices/d/modules/m"
        );
        assert_eq!(
            IdentityId::device("d").events_prefix(),
            "devices/d/messages/events"
        );
    }
}
