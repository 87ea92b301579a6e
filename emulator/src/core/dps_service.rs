//! The DPS service side, shaped like the DPS service REST API
//! (learn.microsoft.com "Individual Enrollment", "Enrollment Group",
//! "Device Registration State"): symmetric-key enrollments and groups,
//! registration states with the device's payload, and DPS faults.

use hubwire::dps::auth as dps_auth;
use hubwire::hub::ids::validate_device_id;

use super::dps::{key_of, EnrollmentGroup, EnrollmentRef, IndividualEnrollment, KeyPair};
use super::*;

/// A DPS service request refused, with DPS's error shape.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DpsServiceError {
    /// HTTP status.
    pub status: u16,
    /// DPS's numeric `errorCode` (404201 enrollment not found, 404202 registration not found,
    /// 400004 invalid argument, 412002 etag mismatch).
    pub error_code: u64,
    /// Human-readable message.
    pub message: String,
}

impl DpsServiceError {
    fn bad(message: impl Into<String>) -> Self {
        DpsServiceError {
            status: 400,
            error_code: 400_004,
            message: message.into(),
        }
    }

    fn not_found(error_code: u64, message: &str) -> Self {
        DpsServiceError {
            status: 404,
            error_code,
            message: message.into(),
        }
    }

    /// The JSON body DPS sends: `{errorCode, trackingId, message, timestampUtc}`.
    pub fn to_json(&self, now: u64) -> Value {
        serde_json::json!({
            "errorCode": self.error_code,
            "trackingId": format!("{now:016x}"),
            "message": self.message,
            "timestampUtc": super::time::iso8601(now),
        })
    }
}

/// What a PUT of an enrollment or a group carries, after checking.
struct EnrollmentBody {
    keys: Option<KeyPair>,
    enabled: bool,
    initial_twin: Option<Value>,
}

fn parse_enrollment_body(
    body: &Value,
    id_field: &str,
    id: &str,
) -> Result<EnrollmentBody, DpsServiceError> {
    let obj = body
        .as_object()
        .ok_or_else(|| DpsServiceError::bad("the body must be a JSON object"))?;
    if let Some(given) = obj.get(id_field) {
        if given.as_str() != Some(id) {
            return Err(DpsServiceError::bad(format!(
                "{id_field} in the body must match the path"
            )));
        }
    }
    let att = &body["attestation"];
    let kind = att["type"].as_str().unwrap_or("symmetricKey");
    if kind != "symmetricKey" {
        return Err(DpsServiceError::bad(
            "only symmetricKey attestation is emulated (not tpm or x509)",
        ));
    }
    let sk = &att["symmetricKey"];
    let keys = match (sk["primaryKey"].as_str(), sk["secondaryKey"].as_str()) {
        (Some(p), Some(s)) if !p.is_empty() && !s.is_empty() => Some(KeyPair {
            primary: p.into(),
            secondary: s.into(),
        }),
        (None | Some(""), None | Some("")) => None,
        _ => {
            return Err(DpsServiceError::bad(
                "give both primaryKey and secondaryKey, or neither",
            ))
        }
    };
    if let Some(k) = &keys {
        if !crate::keys::valid(&k.primary) || !crate::keys::valid(&k.secondary) {
            return Err(DpsServiceError::bad(
                "symmetric keys must be base64 of 16 to 64 bytes",
            ));
        }
    }
    let enabled = match body["provisioningStatus"].as_str() {
        None | Some("enabled") => true,
        Some("disabled") => false,
        Some(_) => {
            return Err(DpsServiceError::bad(
                "provisioningStatus must be enabled or disabled",
            ))
        }
    };
    let initial_twin = match body.get("initialTwin") {
        None | Some(Value::Null) => None,
        Some(t @ Value::Object(_)) => Some(t.clone()),
        Some(_) => return Err(DpsServiceError::bad("initialTwin must be an object")),
    };
    Ok(EnrollmentBody {
        keys,
        enabled,
        initial_twin,
    })
}

fn check_etag(if_match: Option<&str>, current: Option<u64>) -> Result<(), DpsServiceError> {
    match (if_match.map(str::trim), current) {
        (None | Some("*"), _) => Ok(()),
        (Some(tag), Some(n)) if tag.trim_matches('"') == n.to_string() => Ok(()),
        _ => Err(DpsServiceError {
            status: 412,
            error_code: 412_002,
            message: "If-Match does not match the current etag".into(),
        }),
    }
}

impl Hub {
    /// The ID scope devices must use.
    pub fn dps_id_scope(&self) -> &str {
        &self.dps.id_scope
    }

    /// Sets the ID scope (`--id-scope`).
    pub fn set_dps_id_scope(&mut self, scope: &str) {
        self.dps.id_scope = scope.to_string();
    }

    /// Sets the `retry-after` of `202 assigning` answers.
    pub fn set_dps_retry_after(&mut self, secs: u64) {
        self.dps.retry_after_secs = secs;
    }

    /// DPS state for the state file.
    pub fn dps_export(&self) -> Value {
        self.dps.export()
    }

    /// Restores DPS state from the state file; `false` if it is not that shape.
    pub fn dps_import(&mut self, v: &Value) -> bool {
        self.dps.import(v).is_some()
    }

    /// `PUT /enrollments/{id}`: creates or replaces an individual enrollment. `fresh` keys are
    /// used when the body has none (and the enrollment had none). Returns it with its keys.
    pub fn dps_put_enrollment(
        &mut self,
        now: u64,
        id: &str,
        body: &Value,
        if_match: Option<&str>,
        fresh: (String, String),
    ) -> Result<Value, DpsServiceError> {
        dps_auth::validate_registration_id(id)
            .map_err(|e| DpsServiceError::bad(format!("registrationId: {e}")))?;
        let b = parse_enrollment_body(body, "registrationId", id)?;
        let device_id = match body.get("deviceId") {
            None | Some(Value::Null) => None,
            Some(Value::String(d)) => {
                validate_device_id(d)
                    .map_err(|e| DpsServiceError::bad(format!("deviceId: {e}")))?;
                Some(d.clone())
            }
            Some(_) => return Err(DpsServiceError::bad("deviceId must be a string")),
        };
        let key = key_of(id);
        let old = self.dps.individual.get(&key);
        check_etag(if_match, old.map(|e| e.etag))?;
        let keys = b
            .keys
            .or_else(|| old.map(|e| e.keys.clone()))
            .unwrap_or(KeyPair {
                primary: fresh.0,
                secondary: fresh.1,
            });
        let e = IndividualEnrollment {
            registration_id: id.to_string(),
            device_id,
            keys,
            enabled: b.enabled,
            iot_hub_host_name: body["iotHubHostName"].as_str().map(str::to_string),
            initial_twin: b.initial_twin,
            created_ms: old.map_or(now, |e| e.created_ms),
            updated_ms: now,
            etag: old.map_or(1, |e| e.etag + 1),
        };
        let v = e.to_json();
        self.dps.individual.insert(key, e);
        self.dirty = true;
        Ok(v)
    }

    /// `GET /enrollments/{id}`.
    pub fn dps_enrollment(&self, id: &str) -> Result<Value, DpsServiceError> {
        self.dps
            .individual
            .get(&key_of(id))
            .map(IndividualEnrollment::to_json)
            .ok_or_else(|| DpsServiceError::not_found(404_201, "Enrollment not found."))
    }

    /// `DELETE /enrollments/{id}`: the enrollment (its registration state stays, as in DPS,
    /// until deleted through `/registrations/{id}`).
    pub fn dps_delete_enrollment(
        &mut self,
        id: &str,
        if_match: Option<&str>,
    ) -> Result<(), DpsServiceError> {
        let key = key_of(id);
        let e = self
            .dps
            .individual
            .get(&key)
            .ok_or_else(|| DpsServiceError::not_found(404_201, "Enrollment not found."))?;
        check_etag(if_match, Some(e.etag))?;
        self.dps.individual.remove(&key);
        self.dirty = true;
        Ok(())
    }

    /// `POST /enrollments/query`: every individual enrollment.
    pub fn dps_enrollments(&self) -> Value {
        Value::Array(
            self.dps
                .individual
                .values()
                .map(IndividualEnrollment::to_json)
                .collect(),
        )
    }

    /// `PUT /enrollmentGroups/{id}`: creates or replaces a symmetric-key group.
    pub fn dps_put_group(
        &mut self,
        now: u64,
        id: &str,
        body: &Value,
        if_match: Option<&str>,
        fresh: (String, String),
    ) -> Result<Value, DpsServiceError> {
        dps_auth::validate_registration_id(id)
            .map_err(|_| DpsServiceError::bad("enrollmentGroupId: 1 to 128 letters, digits and - . _ :, starting and ending with a letter or digit"))?;
        let b = parse_enrollment_body(body, "enrollmentGroupId", id)?;
        let old = self.dps.groups.get(id);
        check_etag(if_match, old.map(|g| g.etag))?;
        let keys = b
            .keys
            .or_else(|| old.map(|g| g.keys.clone()))
            .unwrap_or(KeyPair {
                primary: fresh.0,
                secondary: fresh.1,
            });
        let g = EnrollmentGroup {
            id: id.to_string(),
            keys,
            enabled: b.enabled,
            initial_twin: b.initial_twin,
            created_ms: old.map_or(now, |g| g.created_ms),
            updated_ms: now,
            etag: old.map_or(1, |g| g.etag + 1),
        };
        let v = g.to_json();
        self.dps.groups.insert(id.to_string(), g);
        self.dirty = true;
        Ok(v)
    }

    /// `GET /enrollmentGroups/{id}`.
    pub fn dps_group(&self, id: &str) -> Result<Value, DpsServiceError> {
        self.dps
            .groups
            .get(id)
            .map(EnrollmentGroup::to_json)
            .ok_or_else(|| DpsServiceError::not_found(404_201, "Enrollment group not found."))
    }

    /// `DELETE /enrollmentGroups/{id}`.
    pub fn dps_delete_group(
        &mut self,
        id: &str,
        if_match: Option<&str>,
    ) -> Result<(), DpsServiceError> {
        let g =
            self.dps.groups.get(id).ok_or_else(|| {
                DpsServiceError::not_found(404_201, "Enrollment group not found.")
            })?;
        check_etag(if_match, Some(g.etag))?;
        self.dps.groups.remove(id);
        self.dirty = true;
        Ok(())
    }

    /// `POST /enrollmentGroups/query`: every group.
    pub fn dps_groups(&self) -> Value {
        Value::Array(
            self.dps
                .groups
                .values()
                .map(EnrollmentGroup::to_json)
                .collect(),
        )
    }

    /// `GET /registrations/{id}`: the registration state, with the device's `payload`.
    pub fn dps_registration(&self, id: &str) -> Result<Value, DpsServiceError> {
        self.dps
            .registrations
            .get(&key_of(id))
            .map(|r| r.to_json(true))
            .ok_or_else(|| DpsServiceError::not_found(404_202, "Registration not found."))
    }

    /// `DELETE /registrations/{id}`: forgets the registration state (the hub device stays).
    pub fn dps_delete_registration(&mut self, id: &str) -> Result<(), DpsServiceError> {
        let key = key_of(id);
        self.dps
            .registrations
            .remove(&key)
            .ok_or_else(|| DpsServiceError::not_found(404_202, "Registration not found."))?;
        if let Some(op) = self.dps.latest_op.remove(&key) {
            self.dps.operations.remove(&op);
        }
        self.dirty = true;
        Ok(())
    }

    /// `POST /registrations/{groupId}/query`: the registration states of a group.
    pub fn dps_group_registrations(&self, group: &str) -> Result<Value, DpsServiceError> {
        if !self.dps.groups.contains_key(group) {
            return Err(DpsServiceError::not_found(
                404_201,
                "Enrollment group not found.",
            ));
        }
        Ok(Value::Array(
            self.dps
                .registrations
                .values()
                .filter(|r| r.enrollment == EnrollmentRef::Group(group.to_string()))
                .map(|r| r.to_json(true))
                .collect(),
        ))
    }

    /// `POST /emulator/dps/faults/{registrationId}`: `{kind: "throttle", count?,
    /// retryAfterSeconds?}`, `{kind: "slowAssignment", ms, count?}` or
    /// `{kind: "failAssignment", errorCode?, errorMessage?}`. Faults apply to the next
    /// requests of that registration id, whether or not it is enrolled yet.
    pub fn dps_inject_fault(
        &mut self,
        registration_id: &str,
        v: &Value,
    ) -> Result<(), DpsServiceError> {
        let count = v["count"]
            .as_u64()
            .map_or(1, |c| c.min(u64::from(u32::MAX)) as u32);
        let f = self.dps.faults.entry(key_of(registration_id)).or_default();
        match v["kind"].as_str() {
            Some("throttle") => {
                f.throttle = count;
                f.throttle_retry_after = v["retryAfterSeconds"].as_u64().unwrap_or(1).min(3600);
            }
            Some("slowAssignment") => {
                f.slow_ms = v["ms"]
                    .as_u64()
                    .ok_or_else(|| DpsServiceError::bad("slowAssignment needs ms"))?;
                f.slow_count = count;
            }
            Some("failAssignment") => {
                f.fail = Some((
                    v["errorCode"].as_u64().unwrap_or(400_207),
                    v["errorMessage"]
                        .as_str()
                        .unwrap_or("Custom allocation failed (emulator fault).")
                        .to_string(),
                ));
            }
            _ => {
                return Err(DpsServiceError::bad(
                    "kind must be throttle, slowAssignment or failAssignment",
                ))
            }
        }
        Ok(())
    }

    /// Forgets DPS state tied to a closed connection.
    pub(super) fn dps_connection_closed(&mut self, conn: ConnId) {
        self.dps.conns.remove(&conn);
    }

    /// Whether `conn` is a provisioning connection.
    pub(super) fn is_dps_conn(&self, conn: ConnId) -> bool {
        self.dps.conns.contains_key(&conn)
    }
}
