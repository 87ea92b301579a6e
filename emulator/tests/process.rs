//! The `hubwire-emulator` binary over real loopback sockets: READY file,
//! static files, the WebSocket endpoint, service authentication, Server-Sent
//! Events, and the state file across a restart.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use bytes::BytesMut;
use futures_util::{SinkExt, StreamExt};
use mqttbytes::v4::{self, Connect, ConnectReturnCode, Packet, Publish};
use mqttbytes::QoS;
use serde_json::Value;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::Message;

struct Emulator {
    child: Child,
    ready: Value,
}

impl Drop for Emulator {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn temp_dir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("hubwire-emu-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

// The child is killed and waited for by `Emulator::drop` (or before the panic).
#[allow(clippy::zombie_processes)]
fn start(dir: &Path, extra: &[&str]) -> Emulator {
    let ready_file = dir.join("ready.json");
    let _ = std::fs::remove_file(&ready_file);
    let mut args = vec!["--port", "0", "--ready-file", ready_file.to_str().unwrap()];
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
                return Emulator { child, ready };
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

impl Emulator {
    fn addr(&self) -> String {
        self.ready["httpUrl"]
            .as_str()
            .unwrap()
            .trim_start_matches("http://")
            .to_string()
    }

    fn service_token(&self) -> String {
        let cs = self.ready["serviceConnectionString"].as_str().unwrap();
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs();
        hubwire_emulator::sas_cli::token_from_connection_string(cs, now, 600).unwrap()
    }

    /// One HTTP/1.1 request with `Connection: close`; returns (status, headers, body).
    fn http(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: &str,
    ) -> (u16, String, String) {
        let mut s = TcpStream::connect(self.addr()).unwrap();
        let mut req = format!("{method} {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\nContent-Length: {}\r\n", body.len());
        for (k, v) in headers {
            req.push_str(&format!("{k}: {v}\r\n"));
        }
        req.push_str("\r\n");
        req.push_str(body);
        s.write_all(req.as_bytes()).unwrap();
        let mut out = Vec::new();
        s.read_to_end(&mut out).unwrap();
        let text = String::from_utf8_lossy(&out).into_owned();
        let (head, body) = text.split_once("\r\n\r\n").unwrap();
        let status = head[9..12].parse().unwrap();
        (status, head.to_ascii_lowercase(), body.to_string())
    }

    fn api(&self, method: &str, path: &str, body: &str) -> (u16, Value) {
        let token = self.service_token();
        let (status, _, body) = self.http(method, path, &[("Authorization", &token)], body);
        (status, serde_json::from_str(&body).unwrap_or(Value::Null))
    }
}

#[test]
fn process_ready_file_and_static_files_succeeds() {
    let dir = temp_dir("static");
    std::fs::create_dir_all(dir.join("www/js")).unwrap();
    std::fs::create_dir_all(dir.join("pkg")).unwrap();
    std::fs::write(dir.join("www/index.html"), "<h1>hi</h1>").unwrap();
    std::fs::write(dir.join("www/js/app.js"), "export {}").unwrap();
    std::fs::write(dir.join("pkg/hubwire_bg.wasm"), b"\0asm\x01\0\0\0").unwrap();
    let www = dir.join("www");
    let pkg = dir.join("pkg");
    let e = start(
        &dir,
        &[
            "--static",
            www.to_str().unwrap(),
            "--pkg",
            pkg.to_str().unwrap(),
        ],
    );
    assert_eq!(e.ready["hostName"], "localhost");
    assert!(e.ready["wsUrl"]
        .as_str()
        .unwrap()
        .ends_with("/$iothub/websocket"));
    assert_eq!(e.ready["tlsPort"], Value::Null);
    assert!(e.ready["demoDevice"]["connectionString"]
        .as_str()
        .unwrap()
        .starts_with("HostName=localhost;DeviceId=demo;SharedAccessKey="));

    let (status, head, body) = e.http("GET", "/", &[], "");
    assert_eq!((status, body.as_str()), (200, "<h1>hi</h1>"));
    assert!(head.contains("content-type: text/html"));
    let (status, head, _) = e.http("GET", "/js/app.js", &[], "");
    assert_eq!(status, 200);
    assert!(head.contains("content-type: text/javascript"));
    let (status, head, _) = e.http("GET", "/pkg/hubwire_bg.wasm", &[], "");
    assert_eq!(status, 200);
    assert!(head.contains("content-type: application/wasm"));
    assert_eq!(e.http("GET", "/pkg/../www/index.html", &[], "").0, 404);
    assert_eq!(e.http("GET", "/nope.txt", &[], "").0, 404);
    let (status, _, info) = e.http("GET", "/emulator/info", &[], "");
    assert_eq!(status, 200);
    assert_eq!(serde_json::from_str::<Value>(&info).unwrap(), e.ready);
    drop(e);
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn process_service_api_without_valid_token_fails() {
    let dir = temp_dir("auth");
    let e = start(&dir, &[]);
    assert_eq!(e.http("GET", "/devices", &[], "").0, 401);
    let (status, head, _) = e.http(
        "OPTIONS",
        "/devices",
        &[
            ("Origin", "http://127.0.0.1:9"),
            (
                "Access-Control-Request-Headers",
                "authorization,content-type",
            ),
        ],
        "",
    );
    assert_eq!(status, 204);
    assert!(head.contains("access-control-allow-origin: *"));
    assert!(head.contains("access-control-allow-headers: authorization,content-type"));
    assert!(head.contains("access-control-max-age: 600"));
    let cs = e.ready["serviceConnectionString"]
        .as_str()
        .unwrap()
        .replace("SharedAccessKey=", "SharedAccessKey=AAAA");
    let bad = hubwire_emulator::sas_cli::token_from_connection_string(&cs, 4_000_000_000, 1);
    if let Ok(bad) = bad {
        assert_eq!(
            e.http("GET", "/devices", &[("Authorization", &bad)], "").0,
            401
        );
    }
    let expired = hubwire_emulator::sas_cli::token_from_connection_string(
        e.ready["serviceConnectionString"].as_str().unwrap(),
        1_000,
        1,
    )
    .unwrap();
    let (status, _, body) = e.http("GET", "/devices", &[("Authorization", &expired)], "");
    assert_eq!(status, 401);
    assert!(body.contains("IotHubUnauthorizedAccess"));
    let (status, list) = e.api("GET", "/devices", "");
    assert_eq!(status, 200);
    assert_eq!(list[0]["deviceId"], "demo");
    let (status, err) = e.api("GET", "/devices/nobody", "");
    assert_eq!(
        (status, err["ErrorCode"].as_str()),
        (404, Some("DeviceNotFound"))
    );
    drop(e);
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn process_websocket_without_mqtt_subprotocol_fails() {
    let dir = temp_dir("noproto");
    let e = start(&dir, &[]);
    let upgrade = [
        ("Upgrade", "websocket"),
        ("Connection", "Upgrade"),
        ("Sec-WebSocket-Version", "13"),
        ("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ=="),
    ];
    assert_eq!(e.http("GET", "/$iothub/websocket", &upgrade, "").0, 400);
    let mut with = upgrade.to_vec();
    with.push(("Sec-WebSocket-Protocol", "mqtt"));
    let mut s = TcpStream::connect(e.addr()).unwrap();
    let mut req = String::from("GET /$iothub/websocket HTTP/1.1\r\nHost: localhost\r\n");
    for (k, v) in &with {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("\r\n");
    s.write_all(req.as_bytes()).unwrap();
    let mut buf = [0u8; 512];
    let n = s.read(&mut buf).unwrap();
    let head = String::from_utf8_lossy(&buf[..n]).to_ascii_lowercase();
    assert!(head.starts_with("http/1.1 101"), "{head}");
    assert!(head.contains("sec-websocket-protocol: mqtt"));
    assert!(head.contains("sec-websocket-accept: s3pplmbitxaq9kygzzhzrbk+xoo="));
    drop(e);
    let _ = std::fs::remove_dir_all(dir);
}

fn mqtt_bytes(p: Packet) -> Vec<u8> {
    let mut b = BytesMut::new();
    match p {
        Packet::Connect(c) => c.write(&mut b).unwrap(),
        Packet::Publish(c) => c.write(&mut b).unwrap(),
        _ => unreachable!(),
    };
    b.to_vec()
}

#[test]
fn process_websocket_device_session_and_sse_succeeds() {
    let dir = temp_dir("ws");
    let e = start(&dir, &[]);
    let cs = e.ready["demoDevice"]["connectionString"]
        .as_str()
        .unwrap()
        .to_string();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let password = hubwire_emulator::sas_cli::token_from_connection_string(&cs, now, 600).unwrap();
    let ws_url = e.ready["wsUrl"].as_str().unwrap().to_string();

    // An SSE reader, started before the message exists.
    let token = e.service_token();
    let mut sse = TcpStream::connect(e.addr()).unwrap();
    write!(sse, "GET /emulator/telemetry/stream?after=0 HTTP/1.1\r\nHost: localhost\r\nAuthorization: {token}\r\n\r\n").unwrap();
    sse.set_read_timeout(Some(Duration::from_secs(10))).unwrap();

    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let mut req = ws_url.into_client_request().unwrap();
        req.headers_mut()
            .insert("Sec-WebSocket-Protocol", "mqtt".parse().unwrap());
        let (mut ws, resp) = tokio_tungstenite::connect_async(req).await.unwrap();
        assert_eq!(resp.headers()["sec-websocket-protocol"], "mqtt");
        let mut c = Connect::new("demo");
        c.keep_alive = 30;
        c.clean_session = false;
        c.set_login(
            "localhost/demo/?api-version=2021-04-12".to_string(),
            password,
        );
        // CONNECT and a QoS 1 PUBLISH coalesced in one WebSocket message.
        let mut p = Publish::new(
            "devices/demo/messages/events/k=v%20w",
            QoS::AtLeastOnce,
            b"hello".to_vec(),
        );
        p.pkid = 3;
        let mut both = mqtt_bytes(Packet::Connect(c));
        both.extend(mqtt_bytes(Packet::Publish(p)));
        ws.send(Message::Binary(both)).await.unwrap();
        let mut got = BytesMut::new();
        let mut packets = Vec::new();
        while packets.len() < 2 {
            match ws.next().await.unwrap().unwrap() {
                Message::Binary(b) => got.extend_from_slice(&b),
                other => panic!("unexpected {other:?}"),
            }
            while let Ok(p) = v4::read(&mut got, 1 << 20) {
                packets.push(p);
            }
        }
        assert!(matches!(&packets[0], Packet::ConnAck(a) if a.code == ConnectReturnCode::Success));
        assert!(matches!(&packets[1], Packet::PubAck(a) if a.pkid == 3));
        ws.close(None).await.unwrap();
    });

    let mut seen = Vec::new();
    let mut buf = [0u8; 4096];
    while !String::from_utf8_lossy(&seen).contains("\"body\":\"hello\"") {
        let n = sse.read(&mut buf).expect("SSE data within 10 s");
        assert!(n > 0, "SSE stream ended");
        seen.extend_from_slice(&buf[..n]);
    }
    let text = String::from_utf8_lossy(&seen).to_ascii_lowercase();
    assert!(text.contains("content-type: text/event-stream"));
    assert!(text.contains("data: {"));
    assert!(String::from_utf8_lossy(&seen).contains("\"properties\":{\"k\":\"v w\"}"));

    let (_, conn) = e.api("GET", "/emulator/devices/demo/connection", "");
    assert_eq!(conn["connections"], 1);
    drop(e);
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn process_state_file_survives_restart_succeeds() {
    let dir = temp_dir("state");
    let state = dir.join("state.json");
    let args = ["--state-file", state.to_str().unwrap()];
    let e = start(&dir, &args);
    let key = "ICEiIyQlJicoKSorLC0uLzAxMjM0NTY3ODk6Ozw9Pj8=";
    let body = format!(
        r#"{{"deviceId":"keep","authentication":{{"symmetricKey":{{"primaryKey":"{key}","secondaryKey":"{key}"}}}}}}"#
    );
    assert_eq!(e.api("PUT", "/devices/keep", &body).0, 200);
    assert_eq!(e.api("PUT", "/devices/keep/modules/m", "{}").0, 200);
    let (status, twin) = e.api(
        "PATCH",
        "/twins/keep",
        r#"{"properties":{"desired":{"interval":7}}}"#,
    );
    assert_eq!(
        (status, twin["properties"]["desired"]["$version"].as_u64()),
        (200, Some(2))
    );
    let ready_before = e.ready.clone();
    // The snapshot is written before the service API answers: read it right away, then kill hard.
    let saved: Value = serde_json::from_str(&std::fs::read_to_string(&state).unwrap()).unwrap();
    assert!(
        saved.to_string().contains("\"interval\":7"),
        "the twin patch is on disk when the PATCH is answered"
    );
    assert_eq!(saved["version"], 2);
    assert!(!dir.read_dir().unwrap().any(|f| f
        .unwrap()
        .file_name()
        .to_string_lossy()
        .contains(".tmp")));
    drop(e);

    let e = start(&dir, &args);
    assert_eq!(
        e.ready["serviceConnectionString"],
        ready_before["serviceConnectionString"]
    );
    assert_eq!(e.ready["demoDevice"], ready_before["demoDevice"]);
    let (status, dev) = e.api("GET", "/devices/keep", "");
    assert_eq!(status, 200);
    assert_eq!(dev["authentication"]["symmetricKey"]["primaryKey"], key);
    assert_eq!(e.api("GET", "/devices/keep/modules/m", "").0, 200);
    let (_, twin) = e.api("GET", "/twins/keep", "");
    assert_eq!(twin["properties"]["desired"]["interval"], 7);
    assert_eq!(twin["properties"]["desired"]["$version"], 2);
    drop(e);
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn process_method_offline_404_and_unanswered_504_fails() {
    let dir = temp_dir("methods");
    let e = start(&dir, &[]);
    let call = r#"{"methodName":"reboot","payload":{"n":1},"responseTimeoutInSeconds":5,"connectTimeoutInSeconds":0}"#;

    // Nobody connected: 404 DeviceNotOnline at once.
    let t0 = Instant::now();
    let (status, body) = e.api("POST", "/twins/demo/methods", call);
    assert_eq!(status, 404, "{body}");
    assert_eq!(body["ErrorCode"], "DeviceNotOnline");
    assert!(t0.elapsed() < Duration::from_millis(900), "404 waited");

    // Connected and subscribed to methods, but never answering: 504 GatewayTimeout
    // after responseTimeoutInSeconds.
    let cs = e.ready["demoDevice"]["connectionString"]
        .as_str()
        .unwrap()
        .to_string();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let password = hubwire_emulator::sas_cli::token_from_connection_string(&cs, now, 600).unwrap();
    let ws_url = e.ready["wsUrl"].as_str().unwrap().to_string();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let ws = rt.block_on(async {
        let mut req = ws_url.into_client_request().unwrap();
        req.headers_mut()
            .insert("Sec-WebSocket-Protocol", "mqtt".parse().unwrap());
        let (mut ws, _) = tokio_tungstenite::connect_async(req).await.unwrap();
        let mut c = Connect::new("demo");
        c.keep_alive = 60;
        c.set_login(
            "localhost/demo/?api-version=2021-04-12".to_string(),
            password,
        );
        let mut out = mqtt_bytes(Packet::Connect(c));
        let mut b = BytesMut::new();
        v4::Subscribe::new("$iothub/methods/POST/#", QoS::AtMostOnce)
            .write(&mut b)
            .unwrap();
        out.extend_from_slice(&b);
        ws.send(Message::Binary(out)).await.unwrap();
        let mut got = BytesMut::new();
        let mut packets = Vec::new();
        while packets.len() < 2 {
            match ws.next().await.unwrap().unwrap() {
                Message::Binary(b) => got.extend_from_slice(&b),
                other => panic!("unexpected {other:?}"),
            }
            while let Ok(p) = v4::read(&mut got, 1 << 20) {
                packets.push(p);
            }
        }
        assert!(matches!(&packets[0], Packet::ConnAck(a) if a.code == ConnectReturnCode::Success));
        assert!(matches!(&packets[1], Packet::SubAck(_)), "{packets:?}");
        ws
    });
    let t0 = Instant::now();
    let (status, body) = e.api("POST", "/twins/demo/methods", call);
    let took = t0.elapsed();
    assert_eq!(status, 504, "{body}");
    assert_eq!(body["ErrorCode"], "GatewayTimeout");
    assert!(
        took >= Duration::from_millis(4900) && took < Duration::from_secs(15),
        "504 after {took:?}, responseTimeoutInSeconds is 5 (IoT Hub's minimum)"
    );
    drop(ws);
    drop(rt);
    drop(e);
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn process_limits_refused_over_http_fails() {
    let dir = temp_dir("limits");
    let e = start(&dir, &[]);
    let token = e.service_token();
    let auth = [("Authorization", token.as_str())];

    // Direct methods: IoT Hub's ranges, refused before anything is sent.
    for (call, message) in [
        (
            r#"{"methodName":"m","responseTimeoutInSeconds":4}"#,
            "responseTimeoutInSeconds must be within [5; 300].",
        ),
        (
            r#"{"methodName":"m","connectTimeoutInSeconds":301}"#,
            "connectTimeoutInSeconds must be within [0; 300].",
        ),
    ] {
        let (status, body) = e.api("POST", "/twins/demo/methods", call);
        assert_eq!(status, 400, "{call}: {body}");
        assert_eq!(body["ErrorCode"], "ArgumentInvalid");
        assert_eq!(body["Message"], message);
    }

    // Twins: a stale If-Match is 412, the current etag and * pass, a bad key is 400.
    let (_, twin) = e.api("GET", "/twins/demo", "");
    let etag = twin["etag"].as_str().unwrap().to_string();
    let patch = r#"{"properties":{"desired":{"a":1}}}"#;
    let with_etag = |tag: &str| {
        let (status, _, body) =
            e.http("PATCH", "/twins/demo", &[auth[0], ("If-Match", tag)], patch);
        (status, body)
    };
    assert_eq!(with_etag(&etag).0, 200);
    let (status, body) = with_etag(&etag);
    assert_eq!(status, 412, "{body}");
    assert!(body.contains("PreconditionFailed"), "{body}");
    assert_eq!(with_etag("*").0, 200);
    let (status, body) = e.api(
        "PATCH",
        "/twins/demo",
        r#"{"properties":{"desired":{"a.b":1}}}"#,
    );
    assert_eq!(
        (status, body["ErrorCode"].as_str()),
        (400, Some("ArgumentInvalid")),
        "{body}"
    );

    // Cloud-to-device: 64 KB, iothub-ack values, and feedback for an expired message.
    let c2d = "/devices/demo/messages/deviceBound";
    let (status, _, body) = e.http("POST", c2d, &auth, &"x".repeat(64 * 1024 + 1));
    assert_eq!(status, 413, "{body}");
    assert!(body.contains("MessageTooLarge"), "{body}");
    let (status, _, body) = e.http("POST", c2d, &[auth[0], ("iothub-ack", "always")], "x");
    assert_eq!(status, 400, "{body}");
    let (status, _, body) = e.http(
        "POST",
        c2d,
        &[
            auth[0],
            ("iothub-ack", "full"),
            ("iothub-messageid", "gone"),
            ("iothub-expiry", "2001-01-01T00:00:00Z"),
        ],
        "x",
    );
    assert_eq!(status, 204, "{body}");
    let (status, fb) = e.api("GET", "/messages/serviceBound/feedback?after=0", "");
    assert_eq!(status, 200, "{fb}");
    assert_eq!(fb["items"][0]["originalMessageId"], "gone");
    assert_eq!(fb["items"][0]["statusCode"], "Expired");
    assert_eq!(fb["items"][0]["deviceId"], "demo");
    assert_eq!(fb["next"], 1);
    let (status, _, _) = e.http("GET", "/messages/serviceBound/feedback", &[], "");
    assert_eq!(status, 401, "the service SAS is required");
    drop(e);
    let _ = std::fs::remove_dir_all(dir);
}
