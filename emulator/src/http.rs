//! One HTTP listener for everything: the device WebSocket endpoint, the
//! service API (docs/service-api.md) and static files (`www/`, `pkg/`).

use std::convert::Infallible;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full, Limited, StreamBody};
use hyper::body::{Frame, Incoming};
use hyper::header::{HeaderMap, HeaderValue};
use hyper::{Method, Request, Response, StatusCode};
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::handshake::derive_accept_key;

use crate::core::props::percent_decode;
use crate::core::registry::IdentityId;
use crate::core::{parse_fault, C2dMessage, MethodResult, ServiceError};
use crate::shared::Shared;

/// The response body type of every route.
pub type Body = BoxBody<Bytes, Infallible>;

/// Where static files come from.
#[derive(Debug, Clone, Default)]
pub struct StaticDirs {
    /// Served at `/`.
    pub www: Option<PathBuf>,
    /// Served at `/pkg/`.
    pub pkg: Option<PathBuf>,
}

/// Per-listener context.
pub struct Ctx {
    /// The hub.
    pub shared: Arc<Shared>,
    /// Static directories.
    pub dirs: StaticDirs,
}

const MAX_BODY: usize = 1 << 20;

fn full(b: impl Into<Bytes>) -> Body {
    Full::new(b.into()).boxed()
}

pub(crate) fn json_response(status: u16, v: &Value) -> Response<Body> {
    let mut r = Response::new(full(v.to_string()));
    *r.status_mut() = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    r.headers_mut().insert(
        "content-type",
        HeaderValue::from_static("application/json; charset=utf-8"),
    );
    r
}

pub(crate) fn error(status: u16, code: &str, message: &str) -> Response<Body> {
    json_response(status, &json!({ "Message": message, "ErrorCode": code }))
}

pub(crate) fn service_error(e: ServiceError) -> Response<Body> {
    error(e.status(), e.code(), &e.message())
}

pub(crate) fn no_content() -> Response<Body> {
    let mut r = Response::new(full(Bytes::new()));
    *r.status_mut() = StatusCode::NO_CONTENT;
    r
}

const DEFAULT_ALLOW_HEADERS: &str =
    "authorization, content-type, iothub-messageid, iothub-correlationid, \
     iothub-to, iothub-expiry, iothub-ack, iothub-userid, content-encoding, if-match";

/// CORS on every answer; the preflight's requested headers are echoed back
/// because `*` does not cover `Authorization` in browsers.
fn with_cors(mut r: Response<Body>, requested: Option<HeaderValue>) -> Response<Body> {
    let h = r.headers_mut();
    h.insert("access-control-allow-origin", HeaderValue::from_static("*"));
    h.insert(
        "access-control-allow-methods",
        HeaderValue::from_static("GET, POST, PUT, PATCH, DELETE, OPTIONS"),
    );
    h.insert(
        "access-control-allow-headers",
        requested.unwrap_or_else(|| HeaderValue::from_static(DEFAULT_ALLOW_HEADERS)),
    );
    h.insert("access-control-max-age", HeaderValue::from_static("600"));
    r
}

/// Handles one request (the hyper service).
pub async fn handle(
    ctx: Arc<Ctx>,
    remote: SocketAddr,
    req: Request<Incoming>,
) -> Result<Response<Body>, Infallible> {
    let requested = req.headers().get("access-control-request-headers").cloned();
    let r = route(&ctx, remote, req).await;
    Ok(with_cors(r, requested))
}

async fn route(ctx: &Arc<Ctx>, remote: SocketAddr, req: Request<Incoming>) -> Response<Body> {
    let path = req.uri().path().to_string();
    let query = req.uri().query().unwrap_or("").to_string();
    let method = req.method().clone();
    if method == Method::OPTIONS {
        return no_content();
    }
    if path == "/$iothub/websocket" || path == "/%24iothub/websocket" {
        // `?iothub-no-client-cert=true` (SAS clients, e.g. the Java SDK): ignore a certificate.
        let cert = (!crate::x509::no_client_cert(&query))
            .then(|| {
                req.extensions()
                    .get::<Arc<crate::core::x509::ClientCert>>()
                    .cloned()
            })
            .flatten();
        return websocket(ctx, req, cert);
    }
    let segs: Vec<String> = path
        .trim_matches('/')
        .split('/')
        .map(percent_decode)
        .collect();
    let segs: Vec<&str> = segs.iter().map(String::as_str).collect();
    let api = matches!(
        segs.first(),
        Some(&"devices") | Some(&"twins") | Some(&"emulator") | Some(&"messages")
    ) || crate::http_dps::owns(&segs);
    if !api {
        return static_file(&ctx.dirs, &method, &path).await;
    }
    if segs == ["emulator", "info"] && method == Method::GET {
        if !remote.ip().is_loopback() {
            return error(
                403,
                "Forbidden",
                "/emulator/info is served to loopback clients only",
            );
        }
        let info = ctx
            .shared
            .info
            .lock()
            .map(|v| v.clone())
            .unwrap_or(Value::Null);
        return json_response(200, &info);
    }
    let needed = crate::policies_api::required(&method, &segs);
    if let Err(r) = crate::policies_api::authorize(&ctx.shared, req.headers(), needed) {
        return *r;
    }
    let headers = req.headers().clone();
    let body = match Limited::new(req.into_body(), MAX_BODY).collect().await {
        Ok(b) => b.to_bytes(),
        Err(_) => {
            return error(
                413,
                "MessageTooLarge",
                "request body too large or unreadable",
            )
        }
    };
    let sh = &ctx.shared;
    let m = &method;
    match segs.as_slice() {
        ["devices"] if m == Method::GET => ok(sh.with(|h, _| h.list_json(None))),
        ["devices"] if m == Method::POST => match crate::core::parse_json(&body).and_then(|v| {
            sh.with(|h, now| crate::bulk::run(h, now, &v, &mut crate::keys::generate))
        }) {
            Ok((status, v)) => json_response(status, &v),
            Err(e) => service_error(e),
        },
        ["devices", d] => identity_route(sh, m, IdentityId::device(d), &body),
        ["devices", d, "modules"] if m == Method::GET => ok(sh.with(|h, _| h.list_json(Some(d)))),
        ["devices", d, "modules", mid] => identity_route(sh, m, IdentityId::module(d, mid), &body),
        ["devices", d, "messages", dbound]
            if m == Method::POST && dbound.eq_ignore_ascii_case("devicebound") =>
        {
            let msg = c2d_from_http(&headers, &body);
            match sh.with(|h, now| h.send_c2d(now, d, msg)) {
                Ok(()) => no_content(),
                Err(e) => service_error(e),
            }
        }
        ["messages", sbound, "feedback"]
            if m == Method::GET && sbound.eq_ignore_ascii_case("servicebound") =>
        {
            let after = param(&query, "after").and_then(|v| v.parse().ok());
            let limit = param(&query, "limit").and_then(|v| v.parse().ok());
            json_response(
                200,
                &sh.with(|h, now| h.feedback_json(now, after.unwrap_or(0), limit.unwrap_or(1000))),
            )
        }
        ["twins", d] => twin_route(sh, m, IdentityId::device(d), &body, &headers),
        ["twins", d, "modules", mid] => {
            twin_route(sh, m, IdentityId::module(d, mid), &body, &headers)
        }
        ["twins", d, "methods"] if m == Method::POST => {
            invoke(sh, IdentityId::device(d), &body).await
        }
        ["twins", d, "modules", mid, "methods"] if m == Method::POST => {
            invoke(sh, IdentityId::module(d, mid), &body).await
        }
        ["emulator", "telemetry"] if m == Method::GET => {
            let after = param(&query, "after")
                .and_then(|v| v.parse().ok())
                .unwrap_or(0);
            let device = param(&query, "deviceId").filter(|d| !d.is_empty());
            let limit = param(&query, "limit")
                .and_then(|v| v.parse().ok())
                .unwrap_or(1000);
            json_response(
                200,
                &sh.with(|h, _| h.telemetry_json(after, device.as_deref(), limit)),
            )
        }
        ["emulator", "telemetry", "stream"] if m == Method::GET => {
            let after = param(&query, "after")
                .and_then(|v| v.parse().ok())
                .unwrap_or(0);
            let device = param(&query, "deviceId").filter(|d| !d.is_empty());
            sse(sh.clone(), after, device)
        }
        ["emulator", "devices", d, "connection"] if m == Method::GET => {
            connection(sh, IdentityId::device(d))
        }
        ["emulator", "devices", d, "modules", mid, "connection"] if m == Method::GET => {
            connection(sh, IdentityId::module(d, mid))
        }
        ["emulator", "routes", d] => crate::routes_api::route(sh, m, d, &body),
        ["emulator", "policies"] => crate::policies_api::route(sh, m, None, &body),
        ["emulator", "policies", n] => crate::policies_api::route(sh, m, Some(n), &body),
        ["emulator", "faults", d] if m == Method::POST => fault(sh, IdentityId::device(d), &body),
        ["emulator", "faults", d, "modules", mid] if m == Method::POST => {
            fault(sh, IdentityId::module(d, mid), &body)
        }
        s if crate::http_dps::owns(s) => crate::http_dps::route(sh, m, s, &headers, &body),
        _ => error(404, "NotFound", &format!("no route for {method} {path}")),
    }
}

fn ok(r: Result<Value, ServiceError>) -> Response<Body> {
    match r {
        Ok(v) => json_response(200, &v),
        Err(e) => service_error(e),
    }
}

fn param(query: &str, name: &str) -> Option<String> {
    query.split('&').find_map(|kv| {
        let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
        (k == name).then(|| percent_decode(v))
    })
}

fn identity_route(sh: &Arc<Shared>, m: &Method, id: IdentityId, body: &[u8]) -> Response<Body> {
    match *m {
        Method::GET => ok(sh.with(|h, _| h.identity_json(&id))),
        Method::DELETE => match sh.with(|h, now| h.delete_identity(now, &id)) {
            Ok(()) => no_content(),
            Err(e) => service_error(e),
        },
        Method::PUT => {
            let v: Value = if body.is_empty() {
                json!({})
            } else {
                match crate::core::parse_json(body) {
                    Ok(v) => v,
                    Err(e) => return service_error(e),
                }
            };
            let enabled = match v.get("status").and_then(Value::as_str) {
                Some("disabled") => Some(false),
                Some("enabled") => Some(true),
                _ => None,
            };
            let sk = &v["authentication"]["symmetricKey"];
            let keys = match (sk["primaryKey"].as_str(), sk["secondaryKey"].as_str()) {
                (Some(p), Some(s)) if !p.is_empty() && !s.is_empty() => {
                    Some((p.to_string(), s.to_string()))
                }
                (Some(p), _) if !p.is_empty() => Some((p.to_string(), crate::keys::generate())),
                _ => None,
            };
            if let Some((p, s)) = &keys {
                if !crate::keys::valid(p) || !crate::keys::valid(s) {
                    return error(
                        400,
                        "ArgumentInvalid",
                        "symmetric keys must be base64 of 16 to 64 bytes",
                    );
                }
            }
            let fresh = (crate::keys::generate(), crate::keys::generate());
            let auth = match crate::core::x509::parse_authentication(&v) {
                Ok(a) => a,
                Err(m) => return error(400, "ArgumentInvalid", &m),
            };
            ok(sh.with(|h, now| h.put_identity_auth(now, &id, enabled, keys, fresh, auth)))
        }
        _ => error(405, "MethodNotAllowed", "use GET, PUT or DELETE"),
    }
}

fn twin_route(
    sh: &Arc<Shared>,
    m: &Method,
    id: IdentityId,
    body: &[u8],
    headers: &HeaderMap,
) -> Response<Body> {
    let if_match = headers.get("if-match").and_then(|v| v.to_str().ok());
    match *m {
        Method::GET => ok(sh.with(|h, _| h.twin_json(&id))),
        Method::PATCH | Method::PUT => match crate::core::parse_json(body) {
            Ok(v) => ok(sh.with(|h, now| h.patch_twin_if_match(now, &id, &v, if_match))),
            Err(e) => service_error(e),
        },
        _ => error(405, "MethodNotAllowed", "use GET or PATCH"),
    }
}

async fn invoke(sh: &Arc<Shared>, id: IdentityId, body: &[u8]) -> Response<Body> {
    let v = match crate::core::parse_json(body) {
        Ok(v) => v,
        Err(e) => return service_error(e),
    };
    let call = match crate::core::parse_invocation(&v) {
        Ok(c) => c,
        Err(e) => return service_error(e),
    };
    let rx = match sh.invoke_method(
        &id,
        &call.name,
        call.payload,
        call.response_timeout_ms,
        call.connect_timeout_ms,
    ) {
        Ok(rx) => rx,
        Err(e) => return service_error(e),
    };
    match rx.await {
        Ok(MethodResult::Response { status, payload }) => {
            let payload = if payload.iter().all(u8::is_ascii_whitespace) {
                Value::Null
            } else {
                serde_json::from_slice(&payload)
                    .unwrap_or_else(|_| Value::from(String::from_utf8_lossy(&payload).into_owned()))
            };
            json_response(200, &json!({ "status": status, "payload": payload }))
        }
        Ok(MethodResult::ResponseTooLarge) => error(
            413,
            "MessageTooLarge",
            "the device answered with a payload over 128 KB",
        ),
        Ok(MethodResult::NotOnline) => error(
            404,
            "DeviceNotOnline",
            "the device is not connected and subscribed to methods",
        ),
        Ok(MethodResult::Timeout) | Err(_) => {
            error(504, "GatewayTimeout", "the device did not answer in time")
        }
    }
}

fn c2d_from_http(headers: &HeaderMap, body: &[u8]) -> C2dMessage {
    let get = |k: &str| {
        headers
            .get(k)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    };
    let mut properties = Vec::new();
    for (k, v) in headers {
        if let (Some(name), Ok(v)) = (k.as_str().strip_prefix("iothub-app-"), v.to_str()) {
            properties.push((name.to_string(), v.to_string()));
        }
    }
    C2dMessage {
        payload: body.to_vec(),
        message_id: get("iothub-messageid"),
        correlation_id: get("iothub-correlationid"),
        to: get("iothub-to"),
        expiry: get("iothub-expiry"),
        ack: get("iothub-ack"),
        content_type: get("content-type"),
        content_encoding: get("content-encoding"),
        user_id: get("iothub-userid"),
        properties,
    }
}

fn connection(sh: &Arc<Shared>, id: IdentityId) -> Response<Body> {
    match sh.with(|h, _| h.connection_info(&id)) {
        Ok(c) => json_response(
            200,
            &json!({
                "connected": c.connected,
                "cleanSession": c.clean_session,
                "connections": c.connections,
                "subscriptions": c.subscriptions,
                "username": c.username,
                "throttledConnects": c.throttled_connects,
            }),
        ),
        Err(e) => service_error(e),
    }
}

fn fault(sh: &Arc<Shared>, id: IdentityId, body: &[u8]) -> Response<Body> {
    let f = match crate::core::parse_json(body).and_then(|v| parse_fault(&v)) {
        Ok(f) => f,
        Err(e) => return service_error(e),
    };
    match sh.with(|h, now| h.inject_fault(now, &id, f)) {
        Ok(()) => no_content(),
        Err(e) => service_error(e),
    }
}

fn sse(sh: Arc<Shared>, after: u64, device: Option<String>) -> Response<Body> {
    struct St {
        sh: Arc<Shared>,
        rx: tokio::sync::broadcast::Receiver<u64>,
        last: u64,
        device: Option<String>,
        pending: std::collections::VecDeque<Value>,
    }
    let rx = sh.telemetry.subscribe();
    let st = St {
        sh,
        rx,
        last: after,
        device,
        pending: Default::default(),
    };
    let stream = futures_util::stream::unfold(st, |mut st| async move {
        loop {
            if let Some(item) = st.pending.pop_front() {
                let frame = Frame::data(Bytes::from(format!("data: {item}\n\n")));
                return Some((Ok::<_, Infallible>(frame), st));
            }
            let v = st
                .sh
                .with(|h, _| h.telemetry_json(st.last, st.device.as_deref(), 1000));
            st.last = v["next"].as_u64().unwrap_or(st.last);
            if let Some(items) = v["items"].as_array() {
                st.pending.extend(items.iter().cloned());
            }
            if !st.pending.is_empty() {
                continue;
            }
            match tokio::time::timeout(Duration::from_secs(15), st.rx.recv()).await {
                Ok(Ok(_)) | Ok(Err(tokio::sync::broadcast::error::RecvError::Lagged(_))) => {}
                Ok(Err(tokio::sync::broadcast::error::RecvError::Closed)) => return None,
                Err(_) => {
                    let frame = Frame::data(Bytes::from_static(b": keep-alive\n\n"));
                    return Some((Ok(frame), st));
                }
            }
        }
    });
    let mut r = Response::new(StreamBody::new(stream).boxed());
    let h = r.headers_mut();
    h.insert(
        "content-type",
        HeaderValue::from_static("text/event-stream"),
    );
    h.insert("cache-control", HeaderValue::from_static("no-cache"));
    r
}

fn websocket(
    ctx: &Arc<Ctx>,
    mut req: Request<Incoming>,
    cert: Option<Arc<crate::core::x509::ClientCert>>,
) -> Response<Body> {
    let h = req.headers();
    let upgrade = h
        .get("upgrade")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("websocket"));
    let key = h
        .get("sec-websocket-key")
        .map(|k| derive_accept_key(k.as_bytes()));
    let mqtt = h
        .get_all("sec-websocket-protocol")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|p| p.trim() == "mqtt");
    let (Some(accept), true, true) = (key, upgrade, mqtt) else {
        return error(
            400,
            "BadRequest",
            "a WebSocket upgrade with Sec-WebSocket-Protocol: mqtt is required",
        );
    };
    let shared = ctx.shared.clone();
    let on_upgrade = hyper::upgrade::on(&mut req);
    tokio::spawn(async move {
        if let Ok(upgraded) = on_upgrade.await {
            crate::ws::serve(shared, upgraded, cert).await;
        }
    });
    let mut r = Response::new(full(Bytes::new()));
    *r.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
    let h = r.headers_mut();
    h.insert("upgrade", HeaderValue::from_static("websocket"));
    h.insert("connection", HeaderValue::from_static("Upgrade"));
    h.insert("sec-websocket-protocol", HeaderValue::from_static("mqtt"));
    if let Ok(v) = HeaderValue::from_str(&accept) {
        h.insert("sec-websocket-accept", v);
    }
    r
}

/// MIME type by file extension.
pub fn mime(path: &Path) -> &'static str {
    match path.extension().and_then(|e| e.to_str()).unwrap_or("") {
        "html" | "htm" => "text/html; charset=utf-8",
        "js" | "mjs" => "text/javascript; charset=utf-8",
        "css" => "text/css; charset=utf-8",
        "json" | "map" => "application/json; charset=utf-8",
        "wasm" => "application/wasm",
        "svg" => "image/svg+xml",
        "png" => "image/png",
        "jpg" | "jpeg" => "image/jpeg",
        "ico" => "image/x-icon",
        "txt" | "md" => "text/plain; charset=utf-8",
        "ts" => "text/plain; charset=utf-8",
        "woff2" => "font/woff2",
        _ => "application/octet-stream",
    }
}

async fn static_file(dirs: &StaticDirs, method: &Method, path: &str) -> Response<Body> {
    if method != Method::GET && method != Method::HEAD {
        return error(405, "MethodNotAllowed", "static files are GET only");
    }
    let (root, rel) = match path.strip_prefix("/pkg/") {
        Some(rest) => (dirs.pkg.as_ref(), rest),
        None => (dirs.www.as_ref(), path.trim_start_matches('/')),
    };
    let Some(root) = root else {
        return error(404, "NotFound", &format!("nothing at {path}"));
    };
    let rel = percent_decode(rel);
    if rel
        .split('/')
        .any(|s| s == ".." || s.starts_with('.') && s.len() > 1 && s != ".well-known")
        || rel.contains('\\')
    {
        return error(404, "NotFound", "no such file");
    }
    let mut file = root.join(&rel);
    if rel.is_empty()
        || rel.ends_with('/')
        || tokio::fs::metadata(&file).await.is_ok_and(|m| m.is_dir())
    {
        file = file.join("index.html");
    }
    match tokio::fs::read(&file).await {
        Ok(data) => {
            let mut r = Response::new(if method == Method::HEAD {
                full(Bytes::new())
            } else {
                full(data)
            });
            r.headers_mut()
                .insert("content-type", HeaderValue::from_static(mime(&file)));
            r.headers_mut()
                .insert("cache-control", HeaderValue::from_static("no-cache"));
            crate::csp::secure_headers(r.headers_mut());
            r
        }
        Err(_) => error(404, "NotFound", &format!("nothing at {path}")),
    }
}
