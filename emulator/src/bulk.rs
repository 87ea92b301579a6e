//! IoT Hub's bulk registry operation: `POST /devices?api-version=…` with a JSON
//! array of `ExportImportDevice` (at most 100), answering a
//! `BulkRegistryOperationResult`. Like the hub, entries are applied one by one
//! (not as a transaction): the ones that fail are listed in `errors` and the
//! answer is 400, the others stay applied.

use serde_json::{json, Value};

use crate::core::registry::IdentityId;
use crate::core::{Hub, ServiceError};

/// Most identities one bulk request may name (IoT Hub's limit).
pub const MAX_BULK_DEVICES: usize = 100;

/// What one entry asks for (`importMode`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    Create,
    CreateOrUpdate,
    Update,
    UpdateIfMatchETag,
    Delete,
    DeleteIfMatchETag,
    UpdateTwin,
    UpdateTwinIfMatchETag,
}

impl Mode {
    fn parse(s: &str) -> Option<Mode> {
        Some(match s.to_ascii_lowercase().as_str() {
            "create" => Mode::Create,
            "createorupdate" => Mode::CreateOrUpdate,
            "update" => Mode::Update,
            "updateifmatchetag" => Mode::UpdateIfMatchETag,
            "delete" => Mode::Delete,
            "deleteifmatchetag" => Mode::DeleteIfMatchETag,
            "updatetwin" => Mode::UpdateTwin,
            "updatetwinifmatchetag" => Mode::UpdateTwinIfMatchETag,
            _ => return None,
        })
    }

    fn name(self) -> &'static str {
        match self {
            Mode::Create => "create",
            Mode::CreateOrUpdate => "createOrUpdate",
            Mode::Update => "update",
            Mode::UpdateIfMatchETag => "updateIfMatchETag",
            Mode::Delete => "delete",
            Mode::DeleteIfMatchETag => "deleteIfMatchETag",
            Mode::UpdateTwin => "updateTwin",
            Mode::UpdateTwinIfMatchETag => "updateTwinIfMatchETag",
        }
    }
}

/// One parsed entry of the request.
#[derive(Debug)]
struct Op {
    id: IdentityId,
    mode: Mode,
    etag: Option<String>,
    twin_etag: Option<String>,
    enabled: Option<bool>,
    keys: Option<(String, String)>,
    /// `{properties: {desired}}` and/or `tags`, for the twin modes.
    twin: Value,
}

/// One failed entry, as `DeviceRegistryOperationError`.
fn entry_error(id: &IdentityId, op: &str, code: &str, status: &str) -> Value {
    json!({
        "deviceId": id.device,
        "moduleId": id.module,
        "errorCode": code,
        "errorStatus": status,
        "operation": op,
    })
}

/// Parses and checks the whole request; an error refuses all of it (HTTP 400).
fn parse(body: &Value, fresh_key: &mut dyn FnMut() -> String) -> Result<Vec<Op>, ServiceError> {
    let bad = |m: String| Err(ServiceError::BadRequest(m));
    let Some(list) = body.as_array() else {
        return bad("expected a JSON array of ExportImportDevice".into());
    };
    if list.is_empty() {
        return bad("the request names no device".into());
    }
    if list.len() > MAX_BULK_DEVICES {
        return bad(format!(
            "too many devices: {} (at most {MAX_BULK_DEVICES} per request)",
            list.len()
        ));
    }
    let mut seen = std::collections::HashSet::new();
    let mut ops = Vec::with_capacity(list.len());
    for (i, e) in list.iter().enumerate() {
        let Some(device) = e
            .get("id")
            .and_then(Value::as_str)
            .filter(|d| !d.is_empty())
        else {
            return bad(format!("entry {i}: id is required"));
        };
        let id = match e.get("moduleId").and_then(Value::as_str) {
            Some(m) if !m.is_empty() => IdentityId::module(device, m),
            _ => IdentityId::device(device),
        };
        if !seen.insert(id.clone()) {
            return bad(format!(
                "entry {i}: {} is named twice (each identity at most once per request)",
                id.client_id()
            ));
        }
        let mode = match e.get("importMode").and_then(Value::as_str) {
            None => Mode::CreateOrUpdate,
            Some(m) => match Mode::parse(m) {
                Some(m) => m,
                None => return bad(format!("entry {i}: unknown importMode {m:?}")),
            },
        };
        let enabled = match e.get("status").and_then(Value::as_str) {
            Some("enabled") => Some(true),
            Some("disabled") => Some(false),
            None => None,
            Some(s) => {
                return bad(format!(
                    "entry {i}: status must be enabled or disabled, not {s:?}"
                ))
            }
        };
        let auth = &e["authentication"];
        match auth.get("type").and_then(Value::as_str) {
            None | Some("sas") => {}
            Some(t) => {
                return bad(format!(
                "entry {i}: authentication type {t:?} is not supported by the emulator (sas only)"
            ))
            }
        }
        let sk = &auth["symmetricKey"];
        let keys = match (sk["primaryKey"].as_str(), sk["secondaryKey"].as_str()) {
            (Some(p), Some(s)) if !p.is_empty() && !s.is_empty() => {
                Some((p.to_string(), s.to_string()))
            }
            (Some(p), _) if !p.is_empty() => Some((p.to_string(), fresh_key())),
            _ => None,
        };
        if let Some((p, s)) = &keys {
            if !crate::keys::valid(p) || !crate::keys::valid(s) {
                return bad(format!(
                    "entry {i}: symmetric keys must be base64 of 16 to 64 bytes"
                ));
            }
        }
        let text = |k: &str| {
            e.get(k)
                .and_then(Value::as_str)
                .map(|s| s.trim_matches('"').to_string())
        };
        let mut twin = json!({});
        if let Some(d) = e.get("properties").and_then(|p| p.get("desired")) {
            twin["properties"] = json!({ "desired": d });
        }
        if let Some(t) = e.get("tags") {
            twin["tags"] = t.clone();
        }
        ops.push(Op {
            id,
            mode,
            etag: text("eTag"),
            twin_etag: text("twinETag"),
            enabled,
            keys,
            twin,
        });
    }
    Ok(ops)
}

/// Applies one entry; `Err((code, status))` names why it failed.
fn apply(
    hub: &mut Hub,
    now: u64,
    op: Op,
    fresh: (String, String),
) -> Result<(), (&'static str, String)> {
    let existing = hub.registry().get(&op.id).map(|i| (i.etag, i.twin.version));
    let who = op.id.client_id();
    let missing = || {
        let code = if op.id.module.is_some() {
            "ModuleNotFound"
        } else {
            "DeviceNotFound"
        };
        Err((code, format!("{who} is not registered")))
    };
    let etag_matches =
        |want: &Option<String>, have: u64| want.as_deref() == Some(have.to_string().as_str());
    let service = |e: ServiceError| (e.code(), e.message());
    match op.mode {
        Mode::Create if existing.is_some() => {
            return Err((
                "DeviceAlreadyExists",
                format!("{who} is already registered"),
            ))
        }
        Mode::Update
        | Mode::UpdateIfMatchETag
        | Mode::Delete
        | Mode::DeleteIfMatchETag
        | Mode::UpdateTwin
        | Mode::UpdateTwinIfMatchETag
            if existing.is_none() =>
        {
            return missing()
        }
        _ => {}
    }
    let (etag, twin_version) = existing.unwrap_or((0, 0));
    match op.mode {
        Mode::UpdateIfMatchETag | Mode::DeleteIfMatchETag if !etag_matches(&op.etag, etag) => {
            return Err((
                "PreconditionFailed",
                format!("{who}: eTag does not match (now \"{etag}\")"),
            ));
        }
        Mode::UpdateTwinIfMatchETag if !etag_matches(&op.twin_etag, twin_version) => {
            return Err((
                "PreconditionFailed",
                format!("{who}: twinETag does not match (now \"{twin_version}\")"),
            ));
        }
        _ => {}
    }
    match op.mode {
        Mode::Delete | Mode::DeleteIfMatchETag => hub.delete_identity(now, &op.id).map_err(service),
        Mode::UpdateTwin | Mode::UpdateTwinIfMatchETag => hub
            .patch_twin(now, &op.id, &op.twin)
            .map(drop)
            .map_err(service),
        Mode::Create | Mode::CreateOrUpdate | Mode::Update | Mode::UpdateIfMatchETag => {
            hub.put_identity(now, &op.id, op.enabled, op.keys, fresh)
                .map_err(service)?;
            let has_twin = op.twin.as_object().is_some_and(|o| !o.is_empty());
            if has_twin && matches!(op.mode, Mode::Create | Mode::CreateOrUpdate) {
                hub.patch_twin(now, &op.id, &op.twin).map_err(service)?;
            }
            Ok(())
        }
    }
}

/// Runs a bulk request: `(HTTP status, BulkRegistryOperationResult)`, or an
/// error for a request that is refused as a whole. `fresh_key` makes a new key
/// for identities created without one.
pub fn run(
    hub: &mut Hub,
    now: u64,
    body: &Value,
    fresh_key: &mut dyn FnMut() -> String,
) -> Result<(u16, Value), ServiceError> {
    let ops = parse(body, fresh_key)?;
    let mut errors = Vec::new();
    for op in ops {
        let (id, mode) = (op.id.clone(), op.mode);
        let fresh = (fresh_key(), fresh_key());
        if let Err((code, status)) = apply(hub, now, op, fresh) {
            errors.push(entry_error(&id, mode.name(), code, &status));
        }
    }
    let ok = errors.is_empty();
    let result = json!({ "isSuccessful": ok, "errors": errors, "warnings": [] });
    Ok((if ok { 200 } else { 400 }, result))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::HubConfig;

    const KEY: &str = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=";
    const KEY2: &str = "BBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBA=";

    fn hub() -> Hub {
        Hub::new(HubConfig {
            host_name: "h".into(),
            service_key: KEY.into(),
            max_telemetry: 10,
        })
    }

    fn fresh() -> impl FnMut() -> String {
        let mut n = 0u8;
        move || {
            n += 1;
            base64::Engine::encode(&base64::engine::general_purpose::STANDARD, [n; 32])
        }
    }

    fn bulk(h: &mut Hub, body: Value) -> Result<(u16, Value), ServiceError> {
        run(h, 1000, &body, &mut fresh())
    }

    fn key_of(h: &Hub, id: &str) -> String {
        h.registry()
            .get(&IdentityId::device(id))
            .unwrap()
            .primary_key
            .clone()
    }

    #[test]
    fn bulk_create_with_and_without_keys_succeeds() {
        let mut h = hub();
        let (status, r) = bulk(
            &mut h,
            json!([
                {"id": "a", "importMode": "create", "authentication": {"type": "sas", "symmetricKey": {"primaryKey": KEY, "secondaryKey": KEY2}}},
                {"id": "b", "importMode": "create", "status": "disabled"},
                {"id": "b", "moduleId": "m", "importMode": "create"},
            ]),
        )
        .unwrap();
        assert_eq!((status, r["isSuccessful"].as_bool()), (200, Some(true)));
        assert_eq!(r["errors"], json!([]));
        assert_eq!(key_of(&h, "a"), KEY);
        assert!(crate::keys::valid(&key_of(&h, "b")));
        assert!(!h.registry().get(&IdentityId::device("b")).unwrap().enabled);
        assert!(h.registry().get(&IdentityId::module("b", "m")).is_some());
    }

    #[test]
    fn bulk_create_existing_reports_device_already_exists_and_keeps_others_fails() {
        let mut h = hub();
        bulk(&mut h, json!([{"id": "a", "importMode": "create", "authentication": {"symmetricKey": {"primaryKey": KEY}}}])).unwrap();
        let (status, r) = bulk(
            &mut h,
            json!([
                {"id": "a", "importMode": "create", "authentication": {"symmetricKey": {"primaryKey": KEY2}}},
                {"id": "c", "importMode": "create"},
            ]),
        )
        .unwrap();
        assert_eq!(status, 400);
        assert_eq!(r["isSuccessful"], json!(false));
        let errors = r["errors"].as_array().unwrap();
        assert_eq!(errors.len(), 1);
        assert_eq!(errors[0]["deviceId"], "a");
        assert_eq!(errors[0]["errorCode"], "DeviceAlreadyExists");
        assert_eq!(errors[0]["operation"], "create");
        assert_eq!(key_of(&h, "a"), KEY, "a failed create changes nothing");
        assert!(
            h.registry().get(&IdentityId::device("c")).is_some(),
            "the other entry is applied"
        );
    }

    #[test]
    fn bulk_update_delete_and_etag_modes_succeeds() {
        let mut h = hub();
        bulk(
            &mut h,
            json!([{"id": "a", "importMode": "create"}, {"id": "b", "importMode": "create"}]),
        )
        .unwrap();
        let etag = h.registry().get(&IdentityId::device("a")).unwrap().etag;
        let (status, r) = bulk(
            &mut h,
            json!([
                {"id": "a", "importMode": "updateIfMatchETag", "eTag": format!("\"{etag}\""), "authentication": {"symmetricKey": {"primaryKey": KEY, "secondaryKey": KEY2}}},
                {"id": "b", "importMode": "deleteIfMatchETag", "eTag": "\"99\""},
                {"id": "zz", "importMode": "update"},
                {"id": "a", "moduleId": "m", "importMode": "delete"},
            ]),
        )
        .unwrap();
        assert_eq!(status, 400);
        let codes: Vec<&str> = r["errors"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["errorCode"].as_str().unwrap())
            .collect();
        assert_eq!(
            codes,
            ["PreconditionFailed", "DeviceNotFound", "ModuleNotFound"]
        );
        assert_eq!(key_of(&h, "a"), KEY);
        let (status, _) = bulk(&mut h, json!([{"id": "b", "importMode": "delete"}, {"id": "a", "importMode": "createOrUpdate", "authentication": {"symmetricKey": {"primaryKey": KEY2}}}])).unwrap();
        assert_eq!(status, 200);
        assert!(h.registry().get(&IdentityId::device("b")).is_none());
        assert_eq!(key_of(&h, "a"), KEY2);
    }

    #[test]
    fn bulk_update_twin_sets_desired_and_tags_succeeds() {
        let mut h = hub();
        let (status, _) = bulk(
            &mut h,
            json!([{"id": "a", "importMode": "create", "tags": {"site": "x"}, "properties": {"desired": {"interval": 5}}}]),
        )
        .unwrap();
        assert_eq!(status, 200);
        let twin = h.twin_json(&IdentityId::device("a")).unwrap();
        assert_eq!(twin["tags"]["site"], "x");
        assert_eq!(twin["properties"]["desired"]["interval"], 5);
        let v = twin["version"].as_u64().unwrap();
        let (status, r) = bulk(&mut h, json!([{"id": "a", "importMode": "updateTwinIfMatchETag", "twinETag": "\"0\"", "properties": {"desired": {"interval": 9}}}])).unwrap();
        assert_eq!(
            (status, r["errors"][0]["errorCode"].as_str()),
            (400, Some("PreconditionFailed"))
        );
        let (status, _) = bulk(&mut h, json!([{"id": "a", "importMode": "updateTwinIfMatchETag", "twinETag": v.to_string(), "properties": {"desired": {"interval": 9}}}])).unwrap();
        assert_eq!(status, 200);
        assert_eq!(
            h.twin_json(&IdentityId::device("a")).unwrap()["properties"]["desired"]["interval"],
            9
        );
    }

    #[test]
    fn bulk_malformed_requests_fail_whole() {
        let mut h = hub();
        let many: Vec<Value> = (0..101)
            .map(|i| json!({"id": format!("d{i}"), "importMode": "create"}))
            .collect();
        for body in [
            json!({"id": "a"}),
            json!([]),
            Value::Array(many),
            json!([{"importMode": "create"}]),
            json!([{"id": "a", "importMode": "create"}, {"id": "a", "importMode": "delete"}]),
            json!([{"id": "a", "importMode": "explode"}]),
            json!([{"id": "a", "status": "sleepy"}]),
            json!([{"id": "a", "authentication": {"type": "selfSigned"}}]),
            json!([{"id": "a", "authentication": {"symmetricKey": {"primaryKey": "short"}}}]),
        ] {
            let e = bulk(&mut h, body.clone()).unwrap_err();
            assert_eq!(e.status(), 400, "{body}");
        }
        assert_eq!(
            h.registry().devices().count(),
            0,
            "nothing of a refused request is applied"
        );
    }
}
