//! Shared access policies: hub-level keys with rights, as IoT Hub has them
//! (`iothubowner`, `service`, `device`, `registryRead`, `registryReadWrite` and
//! any a user adds). A token signed with a policy key carries `skn={policy}`;
//! with `DeviceConnect` it may connect as any device or module, with the
//! other rights it may use the service API (docs/service-api.md).

use std::collections::BTreeMap;

use base64::Engine as _;
use hmac::{Hmac, Mac};
use serde_json::{json, Value};
use sha2::Sha256;

use super::registry::IdentityId;
use super::{Hub, ServiceError, SERVICE_POLICY};

/// What a policy may do (IoT Hub's `AccessRights`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Rights {
    /// Read the identity registry.
    pub registry_read: bool,
    /// Change the identity registry (implies read).
    pub registry_write: bool,
    /// The service-facing endpoints: C2D, twins, methods, telemetry.
    pub service_connect: bool,
    /// Connect as any device or module.
    pub device_connect: bool,
}

impl Rights {
    /// Every right (`iothubowner`).
    pub const ALL: Rights = Rights {
        registry_read: true,
        registry_write: true,
        service_connect: true,
        device_connect: true,
    };

    const NAMES: [&'static str; 4] = [
        "RegistryRead",
        "RegistryWrite",
        "ServiceConnect",
        "DeviceConnect",
    ];

    fn flags(&self) -> [bool; 4] {
        [
            self.registry_read,
            self.registry_write,
            self.service_connect,
            self.device_connect,
        ]
    }

    /// Parses IoT Hub's text form, `"RegistryRead, ServiceConnect"` (any order, any
    /// case, `,` separated); unknown names and an empty list are errors.
    pub fn parse(text: &str) -> Result<Rights, String> {
        let mut r = Rights::default();
        for name in text.split(',').map(str::trim).filter(|s| !s.is_empty()) {
            match Rights::NAMES
                .iter()
                .position(|n| n.eq_ignore_ascii_case(name))
            {
                Some(0) => r.registry_read = true,
                Some(1) => r.registry_write = true,
                Some(2) => r.service_connect = true,
                Some(3) => r.device_connect = true,
                _ => {
                    return Err(format!(
                        "unknown right {name:?}; rights are {}",
                        Rights::NAMES.join(", ")
                    ))
                }
            }
        }
        if r == Rights::default() {
            return Err("a policy needs at least one right".into());
        }
        Ok(r)
    }

    /// True when every right in `needed` is granted (`RegistryWrite` includes read).
    pub fn covers(&self, needed: Rights) -> bool {
        let have = Rights {
            registry_read: self.registry_read || self.registry_write,
            ..*self
        };
        have.flags()
            .iter()
            .zip(needed.flags())
            .all(|(h, n)| *h || !n)
    }
}

impl std::fmt::Display for Rights {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let names: Vec<&str> = Rights::NAMES
            .iter()
            .zip(self.flags())
            .filter_map(|(n, on)| on.then_some(*n))
            .collect();
        f.write_str(&names.join(", "))
    }
}

/// One shared access policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Policy {
    /// `keyName` (the token's `skn`).
    pub key_name: String,
    /// Base64 primary key.
    pub primary_key: String,
    /// Base64 secondary key.
    pub secondary_key: String,
    /// What it may do.
    pub rights: Rights,
}

impl Policy {
    /// As IoT Hub's `SharedAccessSignatureAuthorizationRule`.
    pub fn to_json(&self) -> Value {
        json!({
            "keyName": self.key_name,
            "primaryKey": self.primary_key,
            "secondaryKey": self.secondary_key,
            "rights": self.rights.to_string(),
        })
    }
}

/// The hub's policies by key name (case-sensitive, as IoT Hub's).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Policies {
    by_name: BTreeMap<String, Policy>,
}

/// IoT Hub's built-in policies besides `iothubowner`, with their rights.
const DEFAULTS: [(&str, Rights); 4] = [
    (
        "service",
        Rights {
            registry_read: false,
            registry_write: false,
            service_connect: true,
            device_connect: false,
        },
    ),
    (
        "device",
        Rights {
            registry_read: false,
            registry_write: false,
            service_connect: false,
            device_connect: true,
        },
    ),
    (
        "registryRead",
        Rights {
            registry_read: true,
            registry_write: false,
            service_connect: false,
            device_connect: false,
        },
    ),
    (
        "registryReadWrite",
        Rights {
            registry_read: true,
            registry_write: true,
            service_connect: false,
            device_connect: false,
        },
    ),
];

/// A key derived from the service key, so the built-in policies keep their keys
/// across restarts with a state file (which keeps the service key) and the core
/// needs no randomness: base64(HMAC-SHA256(service key, "hubwire policy {name} {slot}")).
pub fn derived_key(service_key: &str, name: &str, slot: &str) -> String {
    let engine = base64::engine::general_purpose::STANDARD;
    let secret = engine
        .decode(service_key)
        .unwrap_or_else(|_| service_key.as_bytes().to_vec());
    let mut mac = Hmac::<Sha256>::new_from_slice(&secret).expect("HMAC takes any key length");
    mac.update(format!("hubwire policy {name} {slot}").as_bytes());
    engine.encode(mac.finalize().into_bytes())
}

/// The longest policy name IoT Hub accepts.
pub const MAX_POLICY_NAME: usize = 64;

impl Policies {
    /// `iothubowner` (primary key = the service key) and IoT Hub's other built-in policies.
    pub fn with_defaults(service_key: &str) -> Policies {
        let mut by_name = BTreeMap::new();
        let mut add = |name: &str, primary: String, rights: Rights| {
            let p = Policy {
                key_name: name.to_string(),
                primary_key: primary,
                secondary_key: derived_key(service_key, name, "secondary"),
                rights,
            };
            by_name.insert(name.to_string(), p);
        };
        add(SERVICE_POLICY, service_key.to_string(), Rights::ALL);
        for (name, rights) in DEFAULTS {
            add(name, derived_key(service_key, name, "primary"), rights);
        }
        Policies { by_name }
    }

    /// Looks a policy up by its `skn`.
    pub fn get(&self, key_name: &str) -> Option<&Policy> {
        self.by_name.get(key_name)
    }

    /// Every policy in name order.
    pub fn iter(&self) -> impl Iterator<Item = &Policy> {
        self.by_name.values()
    }

    /// The policies as the state file keeps them (all of them: keys may have been replaced).
    pub fn export(&self) -> Value {
        Value::Array(self.iter().map(Policy::to_json).collect())
    }

    /// Rebuilds from [`Policies::export`]; `None` if the shape is wrong. `iothubowner`
    /// always keeps `service_key` and every right.
    pub fn import(v: &Value, service_key: &str) -> Option<Policies> {
        let mut p = Policies::with_defaults(service_key);
        for item in v.as_array()? {
            let name = item["keyName"].as_str()?;
            if name == SERVICE_POLICY {
                continue;
            }
            let policy = Policy {
                key_name: name.to_string(),
                primary_key: item["primaryKey"].as_str()?.to_string(),
                secondary_key: item["secondaryKey"].as_str()?.to_string(),
                rights: Rights::parse(item["rights"].as_str()?).ok()?,
            };
            p.by_name.insert(name.to_string(), policy);
        }
        Some(p)
    }
}

/// True for base64 of 16 to 64 bytes, as IoT Hub requires of keys.
fn valid_key(key: &str) -> bool {
    base64::engine::general_purpose::STANDARD
        .decode(key)
        .is_ok_and(|k| (16..=64).contains(&k.len()))
}

/// Checks a policy name: 1 to 64 of `A-Z a-z 0-9 - . _`.
fn valid_name(name: &str) -> bool {
    (1..=MAX_POLICY_NAME).contains(&name.len())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_'))
}

impl Hub {
    /// The shared access policies.
    pub fn policies(&self) -> &Policies {
        &self.policies
    }

    /// Replaces the policies (state file load).
    pub fn set_policies(&mut self, p: Policies) {
        self.policies = p;
    }

    /// `{"value": [rule, ...]}`, the shape of IoT Hub's `listkeys`.
    pub fn policies_json(&self) -> Value {
        json!({ "value": self.policies.export() })
    }

    /// One policy as JSON.
    pub fn policy_json(&self, key_name: &str) -> Result<Value, ServiceError> {
        self.policies
            .get(key_name)
            .map(Policy::to_json)
            .ok_or_else(|| policy_not_found(key_name))
    }

    /// Creates or updates a policy from `{rights, primaryKey?, secondaryKey?}`; keys
    /// absent keep the current ones (or take `fresh` when creating). `iothubowner`
    /// keeps every right and its primary key (the emulator's service key).
    pub fn put_policy(
        &mut self,
        key_name: &str,
        body: &Value,
        fresh: (String, String),
    ) -> Result<Value, ServiceError> {
        let bad = |m: String| ServiceError::BadRequest(m);
        if !valid_name(key_name) {
            return Err(bad(format!(
                "policy name must be 1 to {MAX_POLICY_NAME} of A-Z a-z 0-9 - . _"
            )));
        }
        if !body.is_object() {
            return Err(bad("expected {\"rights\": \"DeviceConnect, ...\"}".into()));
        }
        let existing = self.policies.get(key_name).cloned();
        let rights = match (body.get("rights"), &existing) {
            (Some(Value::String(r)), _) => Rights::parse(r).map_err(bad)?,
            (None | Some(Value::Null), Some(p)) => p.rights,
            (None | Some(Value::Null), None) => {
                return Err(bad("a new policy needs \"rights\"".into()))
            }
            (Some(_), _) => return Err(bad("\"rights\" must be a string".into())),
        };
        let key = |k: &str| -> Result<Option<String>, ServiceError> {
            match body.get(k) {
                None | Some(Value::Null) => Ok(None),
                Some(Value::String(s)) if valid_key(s) => Ok(Some(s.clone())),
                Some(_) => Err(bad(format!("{k} must be base64 of 16 to 64 bytes"))),
            }
        };
        let (primary, secondary) = (key("primaryKey")?, key("secondaryKey")?);
        let (old_p, old_s) = existing
            .map(|p| (p.primary_key, p.secondary_key))
            .unwrap_or(fresh);
        let mut policy = Policy {
            key_name: key_name.to_string(),
            primary_key: primary.unwrap_or(old_p),
            secondary_key: secondary.unwrap_or(old_s),
            rights,
        };
        if key_name == SERVICE_POLICY {
            if policy.rights != Rights::ALL || policy.primary_key != self.config.service_key {
                return Err(bad(
                    "iothubowner keeps every right and the emulator's service key".into(),
                ));
            }
            policy.primary_key = self.config.service_key.clone();
        }
        let json = policy.to_json();
        self.policies.by_name.insert(key_name.to_string(), policy);
        self.dirty = true;
        Ok(json)
    }

    /// Deletes a policy; `iothubowner` cannot be deleted.
    pub fn delete_policy(&mut self, key_name: &str) -> Result<(), ServiceError> {
        if key_name == SERVICE_POLICY {
            return Err(ServiceError::BadRequest(
                "iothubowner cannot be deleted".into(),
            ));
        }
        self.policies
            .by_name
            .remove(key_name)
            .map(|_| self.dirty = true)
            .ok_or_else(|| policy_not_found(key_name))
    }

    /// The rights of the policy that signed `token` for this hub (`sr` = the hub host),
    /// or why not. Used by the service API.
    pub fn service_token_rights(
        &self,
        token: &super::auth::SasToken,
        now: u64,
    ) -> Result<Rights, &'static str> {
        let Some(name) = token.key_name() else {
            return Err("the token must be signed by a shared access policy (skn=...)");
        };
        let Some(p) = self.policies.get(name) else {
            return Err("no shared access policy of that name (skn)");
        };
        if !token.names(&self.config.host_name, "") {
            return Err("the token's sr must be the hub host name");
        }
        match token.verify(&[&p.primary_key, &p.secondary_key], now) {
            Ok(()) => Ok(p.rights),
            Err(super::auth::AuthError::Expired) => Err("the token has expired"),
            Err(_) => Err("the token's signature does not match"),
        }
    }

    /// True when `token` (with `skn`) is signed by a policy with `DeviceConnect` and its
    /// `sr` is the host or a segment prefix of the identity's resource path.
    pub(super) fn policy_may_connect(
        &self,
        token: &super::auth::SasToken,
        id: &IdentityId,
        now: u64,
    ) -> bool {
        let Some(p) = token.key_name().and_then(|n| self.policies.get(n)) else {
            return false;
        };
        let host = &self.config.host_name;
        let path = id.resource_path();
        // `/devices/d/modules/m` → "", "/devices", "/devices/d", "/devices/d/modules", itself.
        let mut prefixes = vec![String::new()];
        let mut acc = String::new();
        for seg in path.split('/').skip(1) {
            acc.push('/');
            acc.push_str(seg);
            prefixes.push(acc.clone());
        }
        p.rights.device_connect
            && prefixes.iter().any(|pre| token.names(host, pre))
            && token
                .verify(&[&p.primary_key, &p.secondary_key], now)
                .is_ok()
    }
}

fn policy_not_found(key_name: &str) -> ServiceError {
    ServiceError::NotFound(format!("no shared access policy named {key_name:?}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rights_parse_display_round_trip_succeeds() {
        let r = Rights::parse("serviceconnect,  DeviceConnect").unwrap();
        assert!(r.service_connect && r.device_connect && !r.registry_read);
        assert_eq!(r.to_string(), "ServiceConnect, DeviceConnect");
        assert_eq!(
            Rights::parse(&Rights::ALL.to_string()).unwrap(),
            Rights::ALL
        );
    }

    #[test]
    fn rights_parse_unknown_or_empty_fails() {
        assert!(Rights::parse("DeviceConnect, Root").is_err());
        assert!(Rights::parse(" , ").is_err());
    }

    #[test]
    fn rights_write_covers_read_succeeds() {
        let rw = Rights::parse("RegistryWrite").unwrap();
        assert!(rw.covers(Rights::parse("RegistryRead").unwrap()));
        assert!(!rw.covers(Rights::parse("ServiceConnect").unwrap()));
    }

    #[test]
    fn defaults_are_iot_hubs_and_stable_succeeds() {
        let key = "QEFCQ0RFRkdISUpLTE1OT1BRUlNUVVZXWFlaW1xdXl8=";
        let a = Policies::with_defaults(key);
        let names: Vec<&str> = a.iter().map(|p| p.key_name.as_str()).collect();
        assert_eq!(
            names,
            [
                "device",
                "iothubowner",
                "registryRead",
                "registryReadWrite",
                "service"
            ]
        );
        assert_eq!(a.get("iothubowner").unwrap().primary_key, key);
        assert_eq!(a, Policies::with_defaults(key));
        assert!(valid_key(&a.get("device").unwrap().primary_key));
        assert_ne!(
            a.get("device").unwrap().primary_key,
            a.get("service").unwrap().primary_key
        );
        assert_eq!(Policies::import(&a.export(), key), Some(a));
    }
}
