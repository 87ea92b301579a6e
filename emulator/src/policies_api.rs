//! The service API's side of shared access policies: which rights each route
//! needs, checking a request's `Authorization` against them, and
//! `/emulator/policies` (list, read, create or update, delete).

use hyper::header::HeaderMap;
use hyper::Method;
use serde_json::Value;

use crate::core::policies::Rights;
use crate::core::ServiceError;
use crate::http::{error, json_response, no_content, service_error, Body};
use crate::shared::{now_ms, Shared};

const READ: Rights = Rights {
    registry_read: true,
    registry_write: false,
    service_connect: false,
    device_connect: false,
};
const WRITE: Rights = Rights {
    registry_read: false,
    registry_write: true,
    service_connect: false,
    device_connect: false,
};
const SERVICE: Rights = Rights {
    registry_read: false,
    registry_write: false,
    service_connect: true,
    device_connect: false,
};

/// The rights a request needs, as alternatives (any one suffices). IoT Hub's split:
/// the registry needs `RegistryRead`/`RegistryWrite`; C2D and its feedback, methods,
/// twin updates and the telemetry log (the events endpoint) `ServiceConnect`; reading a twin
/// either. The emulator's own controls (faults, policies, routes, anything not
/// listed) need every right, i.e. `iothubowner`.
pub fn required(method: &Method, segs: &[&str]) -> &'static [Rights] {
    let get = method == Method::GET;
    match segs {
        ["devices", _, "messages", ..] | ["messages", ..] => &[SERVICE],
        ["devices", ..] if get => &[READ],
        ["devices", ..] => &[WRITE],
        ["twins", .., "methods"] => &[SERVICE],
        ["twins", ..] if get => &[READ, SERVICE],
        ["twins", ..] => &[SERVICE],
        ["emulator", "telemetry", ..] => &[SERVICE],
        ["emulator", "devices", .., "connection"] => &[READ],
        _ => &[Rights::ALL],
    }
}

/// Checks `Authorization: SharedAccessSignature ...&skn={policy}` against the hub's
/// policies and the rights `needed` (any one of them).
pub fn authorize(
    shared: &Shared,
    headers: &HeaderMap,
    needed: &[Rights],
) -> Result<(), Box<hyper::Response<Body>>> {
    let unauthorized = |m: &str| Err(Box::new(error(401, "IotHubUnauthorizedAccess", m)));
    let Some(value) = headers.get("authorization").and_then(|v| v.to_str().ok()) else {
        return unauthorized("missing Authorization: SharedAccessSignature ...");
    };
    let Ok(token) = crate::core::auth::SasToken::parse(value) else {
        return unauthorized("malformed SharedAccessSignature");
    };
    let rights = match shared.with(|h, _| h.service_token_rights(&token, now_ms())) {
        Ok(r) => r,
        Err(why) => return unauthorized(why),
    };
    if needed.iter().any(|n| rights.covers(*n)) {
        return Ok(());
    }
    let want: Vec<String> = needed.iter().map(Rights::to_string).collect();
    unauthorized(&format!(
        "policy {:?} has {rights}; this request needs {}",
        token.key_name().unwrap_or(""),
        want.join(" or ")
    ))
}

/// `/emulator/policies[/{keyName}]`.
pub fn route(sh: &Shared, m: &Method, name: Option<&str>, body: &[u8]) -> hyper::Response<Body> {
    let answer = |r: Result<Value, ServiceError>| match r {
        Ok(v) => json_response(200, &v),
        Err(e) => service_error(e),
    };
    match (m.clone(), name) {
        (Method::GET, None) => json_response(200, &sh.with(|h, _| h.policies_json())),
        (Method::GET, Some(n)) => answer(sh.with(|h, _| h.policy_json(n))),
        (Method::PUT, Some(n)) => {
            let v = if body.is_empty() {
                Value::Object(Default::default())
            } else {
                match crate::core::parse_json(body) {
                    Ok(v) => v,
                    Err(e) => return service_error(e),
                }
            };
            let fresh = (crate::keys::generate(), crate::keys::generate());
            answer(sh.with(|h, _| h.put_policy(n, &v, fresh)))
        }
        (Method::DELETE, Some(n)) => match sh.with(|h, _| h.delete_policy(n)) {
            Ok(()) => no_content(),
            Err(e) => service_error(e),
        },
        _ => error(
            405,
            "MethodNotAllowed",
            "GET /emulator/policies; GET, PUT or DELETE /emulator/policies/{keyName}",
        ),
    }
}
