//! The register request body and the `RegistrationOperationStatus` answer
//! (learn.microsoft.com "Runtime Registration - Register Device" and
//! "Operation Status Lookup"), read with the hub's JSON scanner.
//!
//! ```text
//! register  {"registrationId":"dev1","payload":{"modelId":"dtmi:…;1"}}
//! 202       {"operationId":"4.d0a6…","status":"assigning"}
//! 200       {"operationId":"4.d0a6…","status":"assigned","registrationState":{
//!              "registrationId":"dev1","assignedHub":"h.azure-devices.net","deviceId":"dev1",
//!              "status":"assigned","substatus":"initialAssignment",…}}
//! 200       {"operationId":"…","status":"failed","registrationState":{…,"errorCode":400207,"errorMessage":"…"}}
//! 4xx       {"errorCode":401002,"trackingId":"…","message":"…","timestampUtc":"…"}
//! ```

use crate::prelude::*;

use crate::hub::error::MalformedError;
use crate::hub::json;

use super::error::{Error, Rejection};

/// The status of a registration operation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Status {
    /// Not assigned (yet).
    Unassigned,
    /// DPS is working on it: poll again after `retry-after`.
    Assigning,
    /// Done: `registrationState` names the hub and the device.
    Assigned,
    /// Done: DPS could not assign it.
    Failed,
    /// Done: the enrollment is disabled.
    Disabled,
    /// A status this client does not know.
    Other,
}

impl Status {
    /// Parses DPS's status text (case-insensitive, as the Node SDK compares it).
    pub fn parse(s: &str) -> Status {
        match s.to_ascii_lowercase().as_str() {
            "assigning" => Status::Assigning,
            "assigned" => Status::Assigned,
            "failed" => Status::Failed,
            "disabled" => Status::Disabled,
            "unassigned" => Status::Unassigned,
            _ => Status::Other,
        }
    }
}

/// `registrationState` of an answer, every field this client knows (for native callers:
/// `Assignment::state`; the client itself reads only what it needs).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RegistrationState {
    /// `registrationId`.
    pub registration_id: Option<String>,
    /// `assignedHub`: the IoT Hub host name.
    pub assigned_hub: Option<String>,
    /// `deviceId` in that hub.
    pub device_id: Option<String>,
    /// `status`.
    pub status: Option<Status>,
    /// `substatus` (`initialAssignment`, `deviceDataMigrated`, `deviceDataReset`, …).
    pub substatus: Option<String>,
    /// `errorCode` (e.g. 400207).
    pub error_code: Option<u64>,
    /// `errorMessage`.
    pub error_message: Option<String>,
    /// `payload` (data returned by a custom allocation webhook) as raw JSON.
    pub payload: Option<String>,
}

/// A `RegistrationOperationStatus` answer; `registration_state` stays raw JSON text.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OperationStatus<'a> {
    /// `operationId` (empty or absent when DPS answered at once, e.g. `disabled`).
    pub operation_id: Option<String>,
    /// `status`.
    pub status: Status,
    /// `registrationState` (an object), when present and not `null`.
    pub registration_state: Option<&'a str>,
}

/// A string member of the object `obj`, decoded; empty counts as absent.
pub(crate) fn string_member(obj: &str, key: &str) -> Option<String> {
    json::member(obj, key)
        .and_then(json::as_str)
        .filter(|s| !s.is_empty())
        .map(|s| s.into_owned())
}

/// A whole-number member of the object `obj`.
pub(crate) fn number_member(obj: &str, key: &str) -> Option<u64> {
    json::member(obj, key).and_then(json::as_u64)
}

/// Parses a `registrationState` object.
pub fn parse_registration_state(obj: &str) -> Result<RegistrationState, MalformedError> {
    if !json::is_object(obj) {
        return Err(MalformedError::BadBody);
    }
    Ok(RegistrationState {
        registration_id: string_member(obj, "registrationId"),
        assigned_hub: string_member(obj, "assignedHub"),
        device_id: string_member(obj, "deviceId"),
        status: string_member(obj, "status").map(|s| Status::parse(&s)),
        substatus: string_member(obj, "substatus"),
        error_code: number_member(obj, "errorCode"),
        error_message: string_member(obj, "errorMessage"),
        payload: json::member(obj, "payload")
            .filter(|p| *p != "null")
            .map(str::to_owned),
    })
}

/// Parses a 200/202 answer body. A body that is not an object (or whose
/// `registrationState` is not one) is `BadBody`; one without `status` is `MissingField`.
pub fn parse_operation_status(body: &str) -> Result<OperationStatus<'_>, MalformedError> {
    if !json::is_object(body) {
        return Err(MalformedError::BadBody);
    }
    let status = json::member(body, "status")
        .and_then(json::as_str)
        .map(|s| Status::parse(&s))
        .ok_or(MalformedError::MissingField("status"))?;
    let registration_state = match json::member(body, "registrationState") {
        None | Some("null") => None,
        Some(obj) if json::is_object(obj) => Some(obj),
        Some(_) => return Err(MalformedError::BadBody),
    };
    Ok(OperationStatus {
        operation_id: string_member(body, "operationId"),
        status,
        registration_state,
    })
}

/// Reads an error answer's `errorCode`, `message` and `trackingId` into a [`Rejection`].
/// Lenient: a body that is empty or not JSON still gives the status.
pub fn parse_rejection(status: u16, body: &str) -> Rejection {
    let obj = json::is_object(body).then_some(body);
    Rejection {
        status,
        error_code: obj.and_then(|b| number_member(b, "errorCode")),
        message: obj
            .and_then(|b| string_member(b, "message").or_else(|| string_member(b, "Message"))),
        tracking_id: obj.and_then(|b| string_member(b, "trackingId")),
    }
}

/// The register body: `{"registrationId":"…"[,"payload":<payload_json>]}`.
///
/// `payload_json` is any JSON value (checked structurally); with `model_id` it must be an
/// object (or absent), and `"modelId"` is added to it unless it already has one — the shape
/// IoT Central reads.
pub fn request_body(
    registration_id: &str,
    payload_json: Option<&str>,
    model_id: Option<&str>,
) -> Result<String, Error> {
    let payload = match (payload_json.map(str::trim), model_id) {
        (None, None) => None,
        (Some(p), None) => {
            if !json::is_value(p) {
                return Err(Error::invalid("payload must be one JSON value"));
            }
            Some(p.to_owned())
        }
        (p, Some(m)) => {
            let p = p.unwrap_or("{}");
            if !json::is_object(p) {
                return Err(Error::invalid(
                    "payload must be a JSON object when modelId is given",
                ));
            }
            if json::member(p, "modelId").is_some() {
                Some(p.to_owned())
            } else {
                let inner = p
                    .strip_prefix('{')
                    .and_then(|r| r.strip_suffix('}'))
                    .unwrap_or_default()
                    .trim();
                let mut out = String::from("{\"modelId\":");
                json::push_string(&mut out, m);
                if !inner.is_empty() {
                    out.push(',');
                    out.push_str(inner);
                }
                out.push('}');
                Some(out)
            }
        }
    };
    let mut out = String::from("{\"registrationId\":");
    json::push_string(&mut out, registration_id);
    if let Some(p) = payload {
        out.push_str(",\"payload\":");
        out.push_str(&p);
    }
    out.push('}');
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    const OP: &str = "4.d0a671905ea5b2c8.42d78160-4c78-479e-8be7-61d5e55dac0d";

    #[test]
    fn parse_operation_status_assigning_succeeds() {
        let body = format!(r#"{{"operationId":"{OP}","status":"assigning"}}"#);
        let s = parse_operation_status(&body).unwrap();
        assert_eq!(s.operation_id.as_deref(), Some(OP));
        assert_eq!(s.status, Status::Assigning);
        assert_eq!(s.registration_state, None);
    }

    #[test]
    fn parse_operation_status_assigned_succeeds() {
        // The assigned answer of azure-sdk-for-c's parser test.
        let body = format!(
            r#"{{"operationId":"{OP}","status":"assigned","registrationState":{{"x509":{{}},"registrationId":"myRegistrationId","createdDateTimeUtc":"2020-04-10T03:11:13.0276997Z","assignedHub":"contoso.azure-devices.net","deviceId":"my-device-id1","status":"assigned","substatus":"initialAssignment","lastUpdatedDateTimeUtc":"2020-04-10T03:11:13.2096201Z","etag":"IjYxMDA4ZDQ2LTAwMDAtMDEwMC0wMDAwLTVlOGZlM2QxMDAwMCI=","payload":{{"a":[1]}}}}}}"#
        );
        let s = parse_operation_status(&body).unwrap();
        assert_eq!(s.status, Status::Assigned);
        let raw = s.registration_state.unwrap();
        assert!(raw.starts_with("{\"x509\""));
        let r = parse_registration_state(raw).unwrap();
        assert_eq!(r.assigned_hub.as_deref(), Some("contoso.azure-devices.net"));
        assert_eq!(r.device_id.as_deref(), Some("my-device-id1"));
        assert_eq!(r.substatus.as_deref(), Some("initialAssignment"));
        assert_eq!(r.status, Some(Status::Assigned));
        assert_eq!(r.payload.as_deref(), Some(r#"{"a":[1]}"#));
        assert_eq!((r.error_code, r.error_message), (None, None));
    }

    #[test]
    fn parse_operation_status_failed_and_disabled_succeeds() {
        let body = format!(
            r#"{{"operationId":"{OP}","status":"failed","registrationState":{{"registrationId":"r","status":"failed","errorCode":400207,"errorMessage":"Custom allocation failed with status code: 400"}}}}"#
        );
        let s = parse_operation_status(&body).unwrap();
        assert_eq!(s.status, Status::Failed);
        let r = parse_registration_state(s.registration_state.unwrap()).unwrap();
        assert_eq!(r.error_code, Some(400_207));
        assert_eq!(
            r.error_message.as_deref(),
            Some("Custom allocation failed with status code: 400")
        );
        let d = parse_operation_status(
            r#"{"operationId":"","status":"Disabled","registrationState":{"registrationId":"r","status":"disabled"}}"#,
        )
        .unwrap();
        assert_eq!((d.operation_id, d.status), (None, Status::Disabled));
    }

    #[test]
    fn parse_operation_status_malformed_fails() {
        assert_eq!(parse_operation_status(""), Err(MalformedError::BadBody));
        assert_eq!(
            parse_operation_status("{\"operationId\":\"x\"}"),
            Err(MalformedError::MissingField("status"))
        );
        assert_eq!(
            parse_operation_status("{\"status\":\"assigned\",\"registrationState\":[1]}"),
            Err(MalformedError::BadBody)
        );
        assert_eq!(
            parse_operation_status("{\"status\":\"assigned\"").map(|_| ()),
            Err(MalformedError::BadBody)
        );
        assert_eq!(
            parse_operation_status("{\"status\":\"weird\"}")
                .unwrap()
                .status,
            Status::Other
        );
    }

    #[test]
    fn parse_rejection_lenient_succeeds() {
        let r = parse_rejection(
            401,
            r#"{"errorCode":401002,"trackingId":"8ad0463c","message":"Invalid certificate.","timestampUtc":"2020-04-10T05:24:22.4718526Z"}"#,
        );
        assert_eq!(r.error_code, Some(401_002));
        assert_eq!(r.message.as_deref(), Some("Invalid certificate."));
        assert_eq!(r.tracking_id.as_deref(), Some("8ad0463c"));
        let e = parse_rejection(429, "");
        assert_eq!((e.status, e.error_code, e.message), (429, None, None));
        assert_eq!(parse_rejection(500, "oops").status, 500);
    }

    #[test]
    fn request_body_shapes_succeeds() {
        assert_eq!(
            request_body("dev1", None, None).unwrap(),
            r#"{"registrationId":"dev1"}"#
        );
        assert_eq!(
            request_body("dev1", Some(" [1,2] "), None).unwrap(),
            r#"{"registrationId":"dev1","payload":[1,2]}"#
        );
        assert_eq!(
            request_body("d", None, Some("dtmi:com:example:Thermostat;1")).unwrap(),
            r#"{"registrationId":"d","payload":{"modelId":"dtmi:com:example:Thermostat;1"}}"#
        );
        assert_eq!(
            request_body("d", Some(r#"{ "a" : 1 }"#), Some("m")).unwrap(),
            r#"{"registrationId":"d","payload":{"modelId":"m","a" : 1}}"#
        );
        assert_eq!(
            request_body("d", Some(r#"{"modelId":"x"}"#), Some("m")).unwrap(),
            r#"{"registrationId":"d","payload":{"modelId":"x"}}"#
        );
    }

    #[test]
    fn request_body_bad_payload_fails() {
        assert!(request_body("d", Some("{\"a\":"), None).is_err());
        assert!(request_body("d", Some(""), None).is_err());
        assert!(request_body("d", Some("[1]"), Some("m")).is_err());
    }
}
