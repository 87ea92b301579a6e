//! The Device Provisioning Service: enrollments, registrations, operations
//! and DPS faults, kept beside the hub it assigns devices to (the emulator is
//! its own provisioning host, so `assignedHub` is the hub's host name).
//!
//! The device side (MQTT) is `dps_device.rs`, the service side (shaped like
//! the DPS service REST API) `dps_service.rs`; docs/emulator.md and
//! docs/service-api.md describe both.

use std::collections::{BTreeMap, HashMap};

use serde_json::{json, Value};

use super::auth::SasToken;
use super::time::iso8601;
use super::ConnId;

/// The ID scope the emulator answers to unless `--id-scope` says otherwise.
pub const DEFAULT_ID_SCOPE: &str = "0ne00000E00";
/// `retry-after` (seconds) of `202 assigning` answers unless changed.
pub const DEFAULT_RETRY_AFTER_SECS: u64 = 1;

/// A symmetric-key pair (base64).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyPair {
    /// Primary key.
    pub primary: String,
    /// Secondary key.
    pub secondary: String,
}

/// An individual enrollment (symmetric key attestation).
#[derive(Debug, Clone, PartialEq)]
pub struct IndividualEnrollment {
    /// Registration id as created.
    pub registration_id: String,
    /// Device id to create in the hub (`None`: the registration id).
    pub device_id: Option<String>,
    /// The enrollment's keys; the device signs with one of them.
    pub keys: KeyPair,
    /// `provisioningStatus == "enabled"`.
    pub enabled: bool,
    /// `iotHubHostName` as given (echoed; assignment always goes to this emulator).
    pub iot_hub_host_name: Option<String>,
    /// `initialTwin` (`{tags, properties: {desired}}`), applied when the device is created.
    pub initial_twin: Option<Value>,
    /// Created, ms since the epoch.
    pub created_ms: u64,
    /// Last update, ms since the epoch.
    pub updated_ms: u64,
    /// Bumped by every update.
    pub etag: u64,
}

/// An enrollment group (symmetric key attestation: devices sign with derived keys).
#[derive(Debug, Clone, PartialEq)]
pub struct EnrollmentGroup {
    /// `enrollmentGroupId`.
    pub id: String,
    /// The group keys (devices use `HMAC(groupKey, registrationId)`).
    pub keys: KeyPair,
    /// `provisioningStatus == "enabled"`.
    pub enabled: bool,
    /// `initialTwin`, applied when a device is created.
    pub initial_twin: Option<Value>,
    /// Created, ms since the epoch.
    pub created_ms: u64,
    /// Last update, ms since the epoch.
    pub updated_ms: u64,
    /// Bumped by every update.
    pub etag: u64,
}

/// Which enrollment a registration belongs to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EnrollmentRef {
    /// The individual enrollment of the registration id.
    Individual,
    /// This enrollment group.
    Group(String),
}

/// A device registration state, as the service API shows it.
#[derive(Debug, Clone, PartialEq)]
pub struct Registration {
    /// Registration id as the device sent it.
    pub registration_id: String,
    /// Its enrollment.
    pub enrollment: EnrollmentRef,
    /// `assigning`, `assigned`, `failed` or `disabled`.
    pub status: String,
    /// `substatus` once assigned.
    pub substatus: Option<String>,
    /// The hub device id once assigned.
    pub device_id: Option<String>,
    /// `assignedHub` once assigned.
    pub assigned_hub: Option<String>,
    /// `errorCode` when failed.
    pub error_code: Option<u64>,
    /// `errorMessage` when failed.
    pub error_message: Option<String>,
    /// The `payload` of the device's last register request (e.g. `{"modelId": …}`).
    pub payload: Option<Value>,
    /// Created, ms since the epoch.
    pub created_ms: u64,
    /// Last update, ms since the epoch.
    pub updated_ms: u64,
    /// Bumped by every update.
    pub etag: u64,
}

impl Registration {
    /// `DeviceRegistrationState` JSON. `with_payload`: the service API shows the request
    /// payload; the device's answer does not (DPS returns only a webhook's payload there).
    pub fn to_json(&self, with_payload: bool) -> Value {
        let mut v = json!({
            "registrationId": self.registration_id,
            "createdDateTimeUtc": iso8601(self.created_ms),
            "status": self.status,
            "lastUpdatedDateTimeUtc": iso8601(self.updated_ms),
            "etag": etag(self.etag),
        });
        let o = v.as_object_mut().expect("a JSON object");
        if let Some(h) = &self.assigned_hub {
            o.insert("assignedHub".into(), h.as_str().into());
        }
        if let Some(d) = &self.device_id {
            o.insert("deviceId".into(), d.as_str().into());
        }
        if let Some(s) = &self.substatus {
            o.insert("substatus".into(), s.as_str().into());
        }
        if let Some(c) = self.error_code {
            o.insert("errorCode".into(), c.into());
        }
        if let Some(m) = &self.error_message {
            o.insert("errorMessage".into(), m.as_str().into());
        }
        if let EnrollmentRef::Group(g) = &self.enrollment {
            o.insert("symmetricKey".into(), json!({ "enrollmentGroupId": g }));
        }
        if with_payload {
            if let Some(p) = &self.payload {
                o.insert("payload".into(), p.clone());
            }
        }
        v
    }
}

/// A registration operation: created by `iotdps-register`, polled by
/// `iotdps-get-operationstatus`, finished when first polled at or after `ready_at`.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Operation {
    /// Lower-case registration id it belongs to.
    pub key: String,
    /// When assignment may complete (the slow-assignment fault moves it).
    pub ready_at: u64,
    /// The finished answer (`RegistrationOperationStatus` body), once done.
    pub result: Option<Value>,
}

/// DPS faults of one registration id.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct DpsFaults {
    /// Answer the next `throttle` requests 429.
    pub throttle: u32,
    /// `retry-after` of those 429s.
    pub throttle_retry_after: u64,
    /// Delay the next `slow_count` assignments by `slow_ms`.
    pub slow_ms: u64,
    /// How many.
    pub slow_count: u32,
    /// Finish the next assignment `failed` with this code and message.
    pub fail: Option<(u64, String)>,
}

/// A DPS device connection.
#[derive(Debug, Clone)]
pub(crate) struct DpsConn {
    /// Registration id from the username.
    pub registration_id: String,
    /// ID scope from the username.
    pub id_scope: String,
    /// The MQTT client id (must equal the registration id).
    pub client_id: String,
    /// The CONNECT password.
    pub token: SasToken,
    /// Subscribed to `$dps/registrations/res/#`.
    pub subscribed: bool,
}

/// All DPS state.
#[derive(Debug, Clone)]
pub struct Dps {
    /// The ID scope devices must use.
    pub id_scope: String,
    /// `retry-after` of `202` answers.
    pub retry_after_secs: u64,
    pub(crate) individual: BTreeMap<String, IndividualEnrollment>,
    pub(crate) groups: BTreeMap<String, EnrollmentGroup>,
    pub(crate) registrations: BTreeMap<String, Registration>,
    pub(crate) operations: HashMap<String, Operation>,
    /// The latest operation of each registration (older ones are dropped: memory stays
    /// bounded by the number of registrations).
    pub(crate) latest_op: HashMap<String, String>,
    pub(crate) conns: HashMap<ConnId, DpsConn>,
    pub(crate) faults: HashMap<String, DpsFaults>,
    pub(crate) next_op: u64,
}

impl Default for Dps {
    fn default() -> Dps {
        Dps {
            id_scope: DEFAULT_ID_SCOPE.into(),
            retry_after_secs: DEFAULT_RETRY_AFTER_SECS,
            individual: BTreeMap::new(),
            groups: BTreeMap::new(),
            registrations: BTreeMap::new(),
            operations: HashMap::new(),
            latest_op: HashMap::new(),
            conns: HashMap::new(),
            faults: HashMap::new(),
            next_op: 1,
        }
    }
}

/// Registration ids are case-insensitive in DPS: maps are keyed by the lower-case form.
pub(crate) fn key_of(registration_id: &str) -> String {
    registration_id.to_ascii_lowercase()
}

pub(crate) fn etag(n: u64) -> String {
    format!("\"{n}\"")
}

fn keys_json(k: &KeyPair) -> Value {
    json!({ "primaryKey": k.primary, "secondaryKey": k.secondary })
}

fn keys_from(v: &Value) -> Option<KeyPair> {
    Some(KeyPair {
        primary: v["primaryKey"].as_str()?.to_string(),
        secondary: v["secondaryKey"].as_str()?.to_string(),
    })
}

impl IndividualEnrollment {
    /// `IndividualEnrollment` JSON, keys included.
    pub fn to_json(&self) -> Value {
        let mut v = json!({
            "registrationId": self.registration_id,
            "attestation": { "type": "symmetricKey", "symmetricKey": keys_json(&self.keys) },
            "provisioningStatus": if self.enabled { "enabled" } else { "disabled" },
            "createdDateTimeUtc": iso8601(self.created_ms),
            "lastUpdatedDateTimeUtc": iso8601(self.updated_ms),
            "etag": etag(self.etag),
            "capabilities": { "iotEdge": false },
            "allocationPolicy": "static",
        });
        let o = v.as_object_mut().expect("a JSON object");
        if let Some(d) = &self.device_id {
            o.insert("deviceId".into(), d.as_str().into());
        }
        if let Some(h) = &self.iot_hub_host_name {
            o.insert("iotHubHostName".into(), h.as_str().into());
        }
        if let Some(t) = &self.initial_twin {
            o.insert("initialTwin".into(), t.clone());
        }
        v
    }
}

impl EnrollmentGroup {
    /// `EnrollmentGroup` JSON, keys included.
    pub fn to_json(&self) -> Value {
        let mut v = json!({
            "enrollmentGroupId": self.id,
            "attestation": { "type": "symmetricKey", "symmetricKey": keys_json(&self.keys) },
            "provisioningStatus": if self.enabled { "enabled" } else { "disabled" },
            "createdDateTimeUtc": iso8601(self.created_ms),
            "lastUpdatedDateTimeUtc": iso8601(self.updated_ms),
            "etag": etag(self.etag),
            "capabilities": { "iotEdge": false },
            "allocationPolicy": "static",
        });
        if let Some(t) = &self.initial_twin {
            v["initialTwin"] = t.clone();
        }
        v
    }
}

impl Dps {
    /// Enrollments, groups and registrations as JSON for the state file.
    pub fn export(&self) -> Value {
        let regs: Vec<Value> = self
            .registrations
            .values()
            .map(|r| {
                let mut v = r.to_json(true);
                v["enrollmentGroupId"] = match &r.enrollment {
                    EnrollmentRef::Group(g) => Value::from(g.as_str()),
                    EnrollmentRef::Individual => Value::Null,
                };
                v["createdMs"] = r.created_ms.into();
                v["updatedMs"] = r.updated_ms.into();
                v["etagN"] = r.etag.into();
                v
            })
            .collect();
        let stamp = |v: &mut Value, created: u64, updated: u64, etag: u64| {
            v["createdMs"] = created.into();
            v["updatedMs"] = updated.into();
            v["etagN"] = etag.into();
        };
        let individual: Vec<Value> = self
            .individual
            .values()
            .map(|e| {
                let mut v = e.to_json();
                stamp(&mut v, e.created_ms, e.updated_ms, e.etag);
                v
            })
            .collect();
        let groups: Vec<Value> = self
            .groups
            .values()
            .map(|g| {
                let mut v = g.to_json();
                stamp(&mut v, g.created_ms, g.updated_ms, g.etag);
                v
            })
            .collect();
        json!({ "idScope": self.id_scope, "enrollments": individual, "enrollmentGroups": groups, "registrations": regs })
    }

    /// Rebuilds the state from [`Dps::export`] output (the id scope is kept from `self`:
    /// the command line decides it). `None` if it is not that shape.
    pub fn import(&mut self, v: &Value) -> Option<()> {
        let u = |x: &Value, k: &str| x[k].as_u64().unwrap_or(0);
        let s = |x: &Value, k: &str| x[k].as_str().map(str::to_string);
        let mut individual = BTreeMap::new();
        for e in v["enrollments"].as_array()? {
            let en = IndividualEnrollment {
                registration_id: s(e, "registrationId")?,
                device_id: s(e, "deviceId"),
                keys: keys_from(&e["attestation"]["symmetricKey"])?,
                enabled: e["provisioningStatus"] != "disabled",
                iot_hub_host_name: s(e, "iotHubHostName"),
                initial_twin: e.get("initialTwin").cloned(),
                created_ms: u(e, "createdMs"),
                updated_ms: u(e, "updatedMs"),
                etag: u(e, "etagN").max(1),
            };
            individual.insert(key_of(&en.registration_id), en);
        }
        let mut groups = BTreeMap::new();
        for g in v["enrollmentGroups"].as_array()? {
            let gr = EnrollmentGroup {
                id: s(g, "enrollmentGroupId")?,
                keys: keys_from(&g["attestation"]["symmetricKey"])?,
                enabled: g["provisioningStatus"] != "disabled",
                initial_twin: g.get("initialTwin").cloned(),
                created_ms: u(g, "createdMs"),
                updated_ms: u(g, "updatedMs"),
                etag: u(g, "etagN").max(1),
            };
            groups.insert(gr.id.clone(), gr);
        }
        let mut registrations = BTreeMap::new();
        for r in v["registrations"].as_array()? {
            let reg = Registration {
                registration_id: s(r, "registrationId")?,
                enrollment: match s(r, "enrollmentGroupId") {
                    Some(g) => EnrollmentRef::Group(g),
                    None => EnrollmentRef::Individual,
                },
                status: s(r, "status")?,
                substatus: s(r, "substatus"),
                device_id: s(r, "deviceId"),
                assigned_hub: s(r, "assignedHub"),
                error_code: r["errorCode"].as_u64(),
                error_message: s(r, "errorMessage"),
                payload: r.get("payload").cloned(),
                created_ms: u(r, "createdMs"),
                updated_ms: u(r, "updatedMs"),
                etag: u(r, "etagN").max(1),
            };
            registrations.insert(key_of(&reg.registration_id), reg);
        }
        self.individual = individual;
        self.groups = groups;
        self.registrations = registrations;
        Some(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dps_export_import_round_trip_succeeds() {
        let mut d = Dps::default();
        let keys = KeyPair {
            primary: "AAAA".into(),
            secondary: "BBBB".into(),
        };
        d.individual.insert(
            "dev1".into(),
            IndividualEnrollment {
                registration_id: "Dev1".into(),
                device_id: Some("device-1".into()),
                keys: keys.clone(),
                enabled: false,
                iot_hub_host_name: None,
                initial_twin: Some(json!({"tags": {"a": 1}})),
                created_ms: 5,
                updated_ms: 6,
                etag: 3,
            },
        );
        d.groups.insert(
            "g".into(),
            EnrollmentGroup {
                id: "g".into(),
                keys,
                enabled: true,
                initial_twin: None,
                created_ms: 7,
                updated_ms: 8,
                etag: 2,
            },
        );
        d.registrations.insert(
            "r1".into(),
            Registration {
                registration_id: "r1".into(),
                enrollment: EnrollmentRef::Group("g".into()),
                status: "assigned".into(),
                substatus: Some("initialAssignment".into()),
                device_id: Some("r1".into()),
                assigned_hub: Some("h".into()),
                error_code: None,
                error_message: None,
                payload: Some(json!({"modelId": "dtmi:x;1"})),
                created_ms: 9,
                updated_ms: 10,
                etag: 4,
            },
        );
        let mut back = Dps::default();
        back.import(&d.export()).unwrap();
        assert_eq!(back.individual, d.individual);
        assert_eq!(back.groups, d.groups);
        assert_eq!(back.registrations, d.registrations);
        assert!(Dps::default().import(&json!({"enrollments": 1})).is_none());
    }
}
