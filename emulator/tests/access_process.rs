//! The `hubwire-emulator` binary over real loopback sockets, for how devices and
//! services get in: shared access policies (service API rights, a device
//! connecting with a policy key), X.509 client certificates on the TLS
//! listener (`--client-certs`), `?iothub-no-client-cert=true`, and the route
//! table endpoint.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::BytesMut;
use futures_util::{SinkExt, StreamExt};
use mqttbytes::v4::{self, Connect, ConnectReturnCode, Packet};
use serde_json::{json, Value};
use tokio_rustls::rustls;
use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::Message;

struct Emulator {
    child: Child,
    ready: Value,
    dir: PathBuf,
}

impl Drop for Emulator {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

// The child is killed and waited for by `Emulator::drop` (or before the panic).
#[allow(clippy::zombie_processes)]
fn start(name: &str, extra: &[&str]) -> Emulator {
    let dir = std::env::temp_dir().join(format!("hubwire-emu-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let ready_file = dir.join("ready.json");
    let cert_dir = dir.join("cert");
    let mut args = vec![
        "--port",
        "0",
        "--ready-file",
        ready_file.to_str().unwrap(),
        "--cert-dir",
        cert_dir.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    let mut child = Command::new(env!("CARGO_BIN_EXE_hubwire-emulator"))
        .args(&args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if let Ok(text) = std::fs::read_to_string(&ready_file) {
            if let Ok(ready) = serde_json::from_str(&text) {
                return Emulator { child, ready, dir };
            }
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("no READY file within 20 s");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn now_secs() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

impl Emulator {
    fn addr(&self) -> String {
        self.ready["httpUrl"]
            .as_str()
            .unwrap()
            .trim_start_matches("http://")
            .to_string()
    }

    fn host(&self) -> String {
        self.ready["hostName"].as_str().unwrap().to_string()
    }

    /// A service token signed by policy `name` with `key` (sr = the hub host).
    fn policy_token(&self, name: &str, key: &str) -> String {
        hubwire_emulator::core::auth::make_token(&self.host(), key, Some(name), now_secs() + 600)
            .unwrap()
    }

    fn owner_token(&self) -> String {
        let cs = self.ready["serviceConnectionString"].as_str().unwrap();
        hubwire_emulator::sas_cli::token_from_connection_string(cs, now_secs(), 600).unwrap()
    }

    /// One HTTP/1.1 request with `Connection: close` and this token; returns (status, JSON body).
    fn api_as(&self, token: &str, method: &str, path: &str, body: &str) -> (u16, Value) {
        let mut s = TcpStream::connect(self.addr()).unwrap();
        write!(
            s,
            "{method} {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\nAuthorization: {token}\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        )
        .unwrap();
        let mut out = Vec::new();
        s.read_to_end(&mut out).unwrap();
        let text = String::from_utf8_lossy(&out).into_owned();
        let (head, body) = text.split_once("\r\n\r\n").unwrap();
        let status = head[9..12].parse().unwrap();
        (status, serde_json::from_str(body).unwrap_or(Value::Null))
    }

    fn api(&self, method: &str, path: &str, body: &str) -> (u16, Value) {
        self.api_as(&self.owner_token(), method, path, body)
    }

    fn policy_key(&self, name: &str) -> String {
        let (status, v) = self.api("GET", &format!("/emulator/policies/{name}"), "");
        assert_eq!(status, 200, "{v}");
        v["primaryKey"].as_str().unwrap().to_string()
    }
}

fn mqtt_connect(id: &str, username: &str, password: &str) -> Vec<u8> {
    let mut c = Connect::new(id);
    c.keep_alive = 30;
    c.set_login(username.to_string(), password.to_string());
    let mut b = BytesMut::new();
    c.write(&mut b).unwrap();
    b.to_vec()
}

/// Sends CONNECT on an open WebSocket and returns the CONNACK code.
async fn connack<S>(
    ws: &mut tokio_tungstenite::WebSocketStream<S>,
    connect: Vec<u8>,
) -> ConnectReturnCode
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    ws.send(Message::Binary(connect)).await.unwrap();
    let mut got = BytesMut::new();
    loop {
        match ws.next().await.expect("an answer").expect("a message") {
            Message::Binary(b) => got.extend_from_slice(&b),
            other => panic!("unexpected {other:?}"),
        }
        if let Ok(p) = v4::read(&mut got, 1 << 20) {
            match p {
                Packet::ConnAck(a) => return a.code,
                other => panic!("expected CONNACK, got {other:?}"),
            }
        }
    }
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

/// CONNECT over plain `ws://` at `url`; returns the CONNACK code.
fn ws_connack(url: &str, connect: Vec<u8>) -> ConnectReturnCode {
    runtime().block_on(async {
        let mut req = url.into_client_request().unwrap();
        req.headers_mut()
            .insert("Sec-WebSocket-Protocol", "mqtt".parse().unwrap());
        let (mut ws, _) = tokio_tungstenite::connect_async(req).await.unwrap();
        connack(&mut ws, connect).await
    })
}

/// CONNECT over `wss://127.0.0.1:{tls}{path}` trusting the emulator's certificate and
/// presenting `client` (certificate DER, PKCS#8 key DER) if given.
fn wss_connack(
    e: &Emulator,
    path: &str,
    client: Option<(Vec<u8>, Vec<u8>)>,
    connect: Vec<u8>,
) -> ConnectReturnCode {
    let cert_path = Path::new(e.ready["certPath"].as_str().unwrap());
    let mut roots = rustls::RootCertStore::empty();
    for c in CertificateDer::pem_file_iter(cert_path).unwrap() {
        roots.add(c.unwrap()).unwrap();
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots);
    let config = match client {
        Some((cert, key)) => builder
            .with_client_auth_cert(
                vec![CertificateDer::from(cert)],
                PrivateKeyDer::Pkcs8(key.into()),
            )
            .unwrap(),
        None => builder.with_no_client_auth(),
    };
    let port = e.ready["tlsPort"].as_u64().unwrap();
    runtime().block_on(async {
        let tcp = tokio::net::TcpStream::connect(("127.0.0.1", port as u16))
            .await
            .unwrap();
        let tls = tokio_rustls::TlsConnector::from(Arc::new(config))
            .connect(ServerName::try_from("localhost").unwrap(), tcp)
            .await
            .unwrap();
        let mut req = format!("wss://localhost:{port}{path}")
            .into_client_request()
            .unwrap();
        req.headers_mut()
            .insert("Sec-WebSocket-Protocol", "mqtt".parse().unwrap());
        let (mut ws, _) = tokio_tungstenite::client_async(req, tls).await.unwrap();
        connack(&mut ws, connect).await
    })
}

/// A fresh self-signed certificate: (DER, PKCS#8 key DER, SHA-1 thumbprint hex).
fn device_cert(name: &str) -> (Vec<u8>, Vec<u8>, String) {
    let ck = rcgen::generate_simple_self_signed(vec![name.to_string()]).unwrap();
    let der = ck.cert.der().to_vec();
    let thumb = hubwire_emulator::core::x509::ClientCert::from_der(&der).sha1;
    (der, ck.key_pair.serialize_der(), thumb)
}

#[test]
fn process_policies_listed_created_and_rights_enforced_succeeds() {
    let e = start("policies", &[]);
    let (status, list) = e.api("GET", "/emulator/policies", "");
    assert_eq!(status, 200);
    let names: Vec<&str> = list["value"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["keyName"].as_str().unwrap())
        .collect();
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
    assert_eq!(
        list["value"][1]["rights"],
        "RegistryRead, RegistryWrite, ServiceConnect, DeviceConnect"
    );

    // registryRead reads the registry, nothing more.
    let read = e.policy_token("registryRead", &e.policy_key("registryRead"));
    assert_eq!(e.api_as(&read, "GET", "/devices", "").0, 200);
    let (status, err) = e.api_as(&read, "PUT", "/devices/x", r#"{"deviceId":"x"}"#);
    assert_eq!(
        (status, err["ErrorCode"].as_str()),
        (401, Some("IotHubUnauthorizedAccess"))
    );
    assert!(
        err["Message"].as_str().unwrap().contains("RegistryWrite"),
        "{err}"
    );
    assert_eq!(e.api_as(&read, "GET", "/emulator/policies", "").0, 401);
    // service sends C2D and reads twins, but cannot touch the registry.
    let service = e.policy_token("service", &e.policy_key("service"));
    assert_eq!(e.api_as(&service, "GET", "/twins/demo", "").0, 200);
    assert_eq!(
        e.api_as(&service, "POST", "/devices/demo/messages/deviceBound", "hi")
            .0,
        204
    );
    assert_eq!(e.api_as(&service, "DELETE", "/devices/demo", "").0, 401);
    assert_eq!(
        e.api_as(&service, "GET", "/messages/serviceBound/feedback", "")
            .0,
        200
    );
    // A token for a policy that does not exist, or with the wrong key.
    assert_eq!(
        e.api_as(
            &e.policy_token("nosuch", &e.policy_key("service")),
            "GET",
            "/devices",
            ""
        )
        .0,
        401
    );
    assert_eq!(
        e.api_as(
            &e.policy_token("service", &e.policy_key("device")),
            "GET",
            "/twins/demo",
            ""
        )
        .0,
        401
    );

    // A new policy with DeviceConnect: a device connects with its key (no device key).
    let (status, p) = e.api(
        "PUT",
        "/emulator/policies/fleet",
        r#"{"rights":"DeviceConnect"}"#,
    );
    assert_eq!(status, 200, "{p}");
    let key = p["primaryKey"].as_str().unwrap();
    let pw =
        hubwire_emulator::core::auth::make_token(&e.host(), key, Some("fleet"), now_secs() + 600)
            .unwrap();
    let user = format!("{}/demo/?api-version=2021-04-12", e.host());
    let url = e.ready["wsUrl"].as_str().unwrap();
    assert_eq!(
        ws_connack(url, mqtt_connect("demo", &user, &pw)),
        ConnectReturnCode::Success
    );
    assert_eq!(e.api("DELETE", "/emulator/policies/fleet", "").0, 204);
    assert_eq!(e.api("GET", "/emulator/policies/fleet", "").0, 404);
    assert_eq!(
        ws_connack(url, mqtt_connect("demo", &user, &pw)),
        ConnectReturnCode::NotAuthorized
    );
    let (status, err) = e.api("PUT", "/emulator/policies/bad", r#"{"rights":"Root"}"#);
    assert_eq!(
        (status, err["ErrorCode"].as_str()),
        (400, Some("ArgumentInvalid"))
    );
    assert_eq!(e.api("DELETE", "/emulator/policies/iothubowner", "").0, 400);
}

#[test]
fn process_no_client_cert_query_accepted_succeeds() {
    let e = start("nocert", &["--tls-port", "0"]);
    let cs = e.ready["demoDevice"]["connectionString"].as_str().unwrap();
    let pw = hubwire_emulator::sas_cli::token_from_connection_string(cs, now_secs(), 600).unwrap();
    let user = format!("{}/demo/?api-version=2021-04-12", e.host());
    let url = format!(
        "{}?iothub-no-client-cert=true",
        e.ready["wsUrl"].as_str().unwrap()
    );
    assert_eq!(
        ws_connack(&url, mqtt_connect("demo", &user, &pw)),
        ConnectReturnCode::Success
    );
    assert_eq!(
        wss_connack(
            &e,
            "/$iothub/websocket?iothub-no-client-cert=true",
            None,
            mqtt_connect("demo", &user, &pw)
        ),
        ConnectReturnCode::Success
    );
}

#[test]
fn process_x509_client_certificate_connects_without_password_succeeds() {
    let e = start("x509", &["--tls-port", "0", "--client-certs"]);
    let (der, key, thumb) = device_cert("x509dev");
    let body = json!({"deviceId": "x509dev", "authentication": {"type": "selfSigned",
        "x509Thumbprint": {"primaryThumbprint": thumb, "secondaryThumbprint": null}}});
    let (status, dev) = e.api("PUT", "/devices/x509dev", &body.to_string());
    assert_eq!(status, 200, "{dev}");
    assert_eq!(dev["authentication"]["type"], "selfSigned");
    assert_eq!(
        dev["authentication"]["x509Thumbprint"]["primaryThumbprint"],
        thumb.as_str()
    );
    let user = format!("{}/x509dev/?api-version=2021-04-12", e.host());
    let path = "/$iothub/websocket";
    assert_eq!(
        wss_connack(
            &e,
            path,
            Some((der.clone(), key.clone())),
            mqtt_connect("x509dev", &user, "")
        ),
        ConnectReturnCode::Success
    );
    let (_, conn) = e.api("GET", "/emulator/devices/x509dev/connection", "");
    assert_eq!(conn["connections"], 1);
    // The same certificate, but the URL says it presents none: no credentials.
    assert_eq!(
        wss_connack(
            &e,
            "/$iothub/websocket?iothub-no-client-cert=true",
            Some((der, key)),
            mqtt_connect("x509dev", &user, "")
        ),
        ConnectReturnCode::BadUserNamePassword
    );
    // Another certificate, and none at all.
    let (other, other_key, _) = device_cert("other");
    assert_eq!(
        wss_connack(
            &e,
            path,
            Some((other, other_key)),
            mqtt_connect("x509dev", &user, "")
        ),
        ConnectReturnCode::NotAuthorized
    );
    assert_eq!(
        wss_connack(&e, path, None, mqtt_connect("x509dev", &user, "")),
        ConnectReturnCode::BadUserNamePassword
    );
    let bad = json!({"deviceId": "ca", "authentication": {"type": "certificateAuthority"}});
    assert_eq!(e.api("PUT", "/devices/ca", &bad.to_string()).0, 400);
}

#[test]
fn process_x509_without_client_certs_flag_not_requested_fails() {
    let e = start("x509off", &["--tls-port", "0"]);
    let (der, key, thumb) = device_cert("x509dev");
    let body = json!({"deviceId": "x509dev", "authentication": {"type": "selfSigned",
        "x509Thumbprint": {"primaryThumbprint": thumb}}});
    assert_eq!(e.api("PUT", "/devices/x509dev", &body.to_string()).0, 200);
    let user = format!("{}/x509dev/?api-version=2021-04-12", e.host());
    // The listener never asked, so the client sent no certificate.
    assert_eq!(
        wss_connack(
            &e,
            "/$iothub/websocket",
            Some((der, key)),
            mqtt_connect("x509dev", &user, "")
        ),
        ConnectReturnCode::BadUserNamePassword
    );
}

#[test]
fn process_route_table_put_get_succeeds() {
    let e = start("routes", &[]);
    assert_eq!(e.api("PUT", "/devices/demo/modules/n", "{}").0, 200);
    let table = json!({"routes": {"r1": "FROM /messages/modules/m/outputs/o INTO BrokeredEndpoint(\"/modules/n/inputs/i\")"}});
    let (status, v) = e.api("PUT", "/emulator/routes/demo", &table.to_string());
    assert_eq!((status, &v), (200, &table));
    let (status, v) = e.api("GET", "/emulator/routes/demo", "");
    assert_eq!(status, 200);
    assert_eq!(v["routes"], table["routes"]);
    assert_eq!(v["inputQueues"]["n"], json!({"pending": 0, "dropped": 0}));
    let (status, err) = e.api(
        "PUT",
        "/emulator/routes/demo",
        r#"{"routes":{"r":"FROM /x INTO $upstream"}}"#,
    );
    assert_eq!(status, 400);
    assert!(
        err["Message"]
            .as_str()
            .unwrap()
            .contains("unsupported route source"),
        "{err}"
    );
    assert_eq!(e.api("GET", "/emulator/routes/ghost", "").0, 404);
}

#[test]
fn process_policies_and_thumbprints_survive_restart_succeeds() {
    let state_dir =
        std::env::temp_dir().join(format!("hubwire-emu-{}-accstate", std::process::id()));
    let _ = std::fs::remove_dir_all(&state_dir);
    std::fs::create_dir_all(&state_dir).unwrap();
    let state = state_dir.join("state.json");
    let args = ["--state-file", state.to_str().unwrap()];
    let e = start("accstate1", &args);
    let (_, p) = e.api(
        "PUT",
        "/emulator/policies/fleet",
        r#"{"rights":"DeviceConnect"}"#,
    );
    let thumb = "AB".repeat(20);
    let body = json!({"deviceId": "x", "authentication": {"type": "selfSigned",
        "x509Thumbprint": {"primaryThumbprint": thumb}}});
    assert_eq!(e.api("PUT", "/devices/x", &body.to_string()).0, 200);
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let text = std::fs::read_to_string(&state).unwrap_or_default();
        if text.contains("\"fleet\"") && text.contains(&thumb) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "state file never got the policy and thumbprint"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    drop(e);
    let e = start("accstate2", &args);
    let (status, again) = e.api("GET", "/emulator/policies/fleet", "");
    assert_eq!((status, &again), (200, &p));
    let (_, dev) = e.api("GET", "/devices/x", "");
    assert_eq!(
        dev["authentication"]["x509Thumbprint"]["primaryThumbprint"],
        thumb.as_str()
    );
    drop(e);
    let _ = std::fs::remove_dir_all(state_dir);
}
