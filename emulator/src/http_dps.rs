//! The DPS service routes, shaped like the DPS service REST API
//! (docs/service-api.md "Device Provisioning Service"). Authorized like every
//! service route (the `iothubowner` token) before they get here.

use std::sync::Arc;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::header::{HeaderMap, HeaderValue};
use hyper::{Method, Response, StatusCode};
use serde_json::{json, Value};

use crate::core::DpsServiceError;
use crate::http::Body;
use crate::shared::{now_ms, Shared};

/// Whether these segments are a DPS route.
pub fn owns(segs: &[&str]) -> bool {
    matches!(
        segs,
        ["enrollments", ..]
            | ["enrollmentGroups", ..]
            | ["registrations", ..]
            | ["emulator", "dps", ..]
    )
}

fn json_response(status: u16, v: &Value) -> Response<Body> {
    let mut r = Response::new(Full::new(Bytes::from(v.to_string())).boxed());
    *r.status_mut() = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    r.headers_mut().insert(
        "content-type",
        HeaderValue::from_static("application/json; charset=utf-8"),
    );
    r
}

fn no_content() -> Response<Body> {
    let mut r = Response::new(Full::new(Bytes::new()).boxed());
    *r.status_mut() = StatusCode::NO_CONTENT;
    r
}

fn dps_error(e: &DpsServiceError) -> Response<Body> {
    let mut r = json_response(e.status, &e.to_json(now_ms()));
    if let Ok(v) = HeaderValue::from_str(&e.error_code.to_string()) {
        r.headers_mut().insert("x-ms-error-code", v);
    }
    r
}

fn bad(message: &str) -> Response<Body> {
    dps_error(&DpsServiceError {
        status: 400,
        error_code: 400_004,
        message: message.into(),
    })
}

fn method_not_allowed(allowed: &str) -> Response<Body> {
    dps_error(&DpsServiceError {
        status: 405,
        error_code: 405_000,
        message: format!("use {allowed}"),
    })
}

fn ok(r: Result<Value, DpsServiceError>) -> Response<Body> {
    match r {
        Ok(v) => json_response(200, &v),
        Err(e) => dps_error(&e),
    }
}

fn done(r: Result<(), DpsServiceError>) -> Response<Body> {
    match r {
        Ok(()) => no_content(),
        Err(e) => dps_error(&e),
    }
}

fn body_json(body: &[u8]) -> Result<Value, Box<Response<Body>>> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(json!({}));
    }
    serde_json::from_slice(body).map_err(|e| Box::new(bad(&format!("invalid JSON: {e}"))))
}

fn attestation(v: Value) -> Value {
    v["attestation"].clone()
}

/// Handles a DPS route (see [`owns`]).
pub fn route(
    sh: &Arc<Shared>,
    m: &Method,
    segs: &[&str],
    headers: &HeaderMap,
    body: &[u8],
) -> Response<Body> {
    let if_match = headers.get("if-match").and_then(|v| v.to_str().ok());
    let fresh = || (crate::keys::generate(), crate::keys::generate());
    match segs {
        ["emulator", "dps"] if m == Method::GET => {
            let (scope, host) =
                sh.with(|h, _| (h.dps_id_scope().to_string(), h.config().host_name.clone()));
            json_response(200, &json!({ "idScope": scope, "provisioningHost": host }))
        }
        ["emulator", "dps", "faults", reg] if m == Method::POST => match body_json(body) {
            Ok(v) => done(sh.with(|h, _| h.dps_inject_fault(reg, &v))),
            Err(r) => *r,
        },
        ["enrollments", "query"] if m == Method::POST => {
            json_response(200, &sh.with(|h, _| h.dps_enrollments()))
        }
        ["enrollmentGroups", "query"] if m == Method::POST => {
            json_response(200, &sh.with(|h, _| h.dps_groups()))
        }
        ["enrollments", id, "attestationmechanism"] if m == Method::POST => {
            ok(sh.with(|h, _| h.dps_enrollment(id)).map(attestation))
        }
        ["enrollmentGroups", id, "attestationmechanism"] if m == Method::POST => {
            ok(sh.with(|h, _| h.dps_group(id)).map(attestation))
        }
        ["enrollments", id] => match *m {
            Method::GET => ok(sh.with(|h, _| h.dps_enrollment(id))),
            Method::DELETE => done(sh.with(|h, _| h.dps_delete_enrollment(id, if_match))),
            Method::PUT => match body_json(body) {
                Ok(v) => ok(sh.with(|h, now| h.dps_put_enrollment(now, id, &v, if_match, fresh()))),
                Err(r) => *r,
            },
            _ => method_not_allowed("GET, PUT or DELETE"),
        },
        ["enrollmentGroups", id] => match *m {
            Method::GET => ok(sh.with(|h, _| h.dps_group(id))),
            Method::DELETE => done(sh.with(|h, _| h.dps_delete_group(id, if_match))),
            Method::PUT => match body_json(body) {
                Ok(v) => ok(sh.with(|h, now| h.dps_put_group(now, id, &v, if_match, fresh()))),
                Err(r) => *r,
            },
            _ => method_not_allowed("GET, PUT or DELETE"),
        },
        ["registrations", group, "query"] if m == Method::POST => {
            ok(sh.with(|h, _| h.dps_group_registrations(group)))
        }
        ["registrations", id] => match *m {
            Method::GET => ok(sh.with(|h, _| h.dps_registration(id))),
            Method::DELETE => done(sh.with(|h, _| h.dps_delete_registration(id))),
            _ => method_not_allowed("GET or DELETE"),
        },
        _ => dps_error(&DpsServiceError {
            status: 404,
            error_code: 404_000,
            message: format!("no DPS route for {m} /{}", segs.join("/")),
        }),
    }
}
