//! The binary killed with SIGKILL and started again on the same port with its
//! `--state-file`: acknowledged telemetry, queued cloud-to-device messages and
//! clean-session-0 sessions survive; seqs continue; `--max-telemetry` bounds
//! what is kept. Also the connect throttle as a device sees it.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use bytes::BytesMut;
use futures_util::{SinkExt, StreamExt};
use mqttbytes::v4::{self, Connect, ConnectReturnCode, Packet, PubAck, Publish, Subscribe};
use mqttbytes::QoS;
use serde_json::Value;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::Message;

const KEY: &str = "ICEiIyQlJicoKSorLC0uLzAxMjM0NTY3ODk6Ozw9Pj8=";

struct Emu {
    child: Child,
    ready: Value,
}

impl Drop for Emu {
    fn drop(&mut self) {
        let _ = self.child.kill(); // SIGKILL: no shutdown write
        let _ = self.child.wait();
    }
}

#[allow(clippy::zombie_processes)]
fn start(dir: &Path, port: u16, extra: &[&str]) -> Emu {
    let ready_file = dir.join("ready.json");
    let _ = std::fs::remove_file(&ready_file);
    let state = dir.join("state.json");
    let port = port.to_string();
    let mut args = vec![
        "--port",
        &port,
        "--ready-file",
        ready_file.to_str().unwrap(),
        "--state-file",
        state.to_str().unwrap(),
        "--no-demo-device",
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
        if let Some(ready) = std::fs::read_to_string(&ready_file)
            .ok()
            .and_then(|t| serde_json::from_str(&t).ok())
        {
            return Emu { child, ready };
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("no READY file within 20 s");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn temp_dir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("hubwire-restart-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn now_secs() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

impl Emu {
    fn addr(&self) -> String {
        self.ready["httpUrl"]
            .as_str()
            .unwrap()
            .trim_start_matches("http://")
            .to_string()
    }

    fn port(&self) -> u16 {
        self.addr().rsplit(':').next().unwrap().parse().unwrap()
    }

    fn api(&self, method: &str, path: &str, body: &str) -> (u16, Value) {
        let cs = self.ready["serviceConnectionString"].as_str().unwrap();
        let token =
            hubwire_emulator::sas_cli::token_from_connection_string(cs, now_secs(), 600).unwrap();
        let mut s = TcpStream::connect(self.addr()).unwrap();
        let req = format!("{method} {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\nAuthorization: {token}\r\nContent-Length: {}\r\n\r\n{body}", body.len());
        s.write_all(req.as_bytes()).unwrap();
        let mut out = Vec::new();
        s.read_to_end(&mut out).unwrap();
        let text = String::from_utf8_lossy(&out).into_owned();
        let (head, body) = text.split_once("\r\n\r\n").unwrap();
        (
            head[9..12].parse().unwrap(),
            serde_json::from_str(body).unwrap_or(Value::Null),
        )
    }

    fn telemetry_ids(&self) -> Vec<(u64, String)> {
        let (_, v) = self.api("GET", "/emulator/telemetry?after=0&deviceId=d", "");
        v["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| {
                (
                    i["seq"].as_u64().unwrap(),
                    i["systemProperties"]["messageId"]
                        .as_str()
                        .unwrap()
                        .to_string(),
                )
            })
            .collect()
    }
}

fn bytes(p: Packet) -> Vec<u8> {
    let mut b = BytesMut::new();
    match p {
        Packet::Connect(c) => c.write(&mut b).unwrap(),
        Packet::Publish(c) => c.write(&mut b).unwrap(),
        Packet::PubAck(c) => c.write(&mut b).unwrap(),
        Packet::Subscribe(c) => c.write(&mut b).unwrap(),
        _ => unreachable!(),
    };
    b.to_vec()
}

type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

struct Device {
    ws: Ws,
    buf: BytesMut,
}

impl Device {
    /// Connects device `d`; returns the device and the CONNACK (code, session present).
    async fn connect(e: &Emu, clean: bool) -> (Device, ConnectReturnCode, bool) {
        let mut req = e.ready["wsUrl"]
            .as_str()
            .unwrap()
            .into_client_request()
            .unwrap();
        req.headers_mut()
            .insert("Sec-WebSocket-Protocol", "mqtt".parse().unwrap());
        let (ws, _) = tokio_tungstenite::connect_async(req).await.unwrap();
        let mut d = Device {
            ws,
            buf: BytesMut::new(),
        };
        let host = e.ready["hostName"].as_str().unwrap();
        let sr = format!("{host}/devices/d");
        let pw =
            hubwire_emulator::core::auth::make_token(&sr, KEY, None, now_secs() + 600).unwrap();
        let mut c = Connect::new("d");
        c.keep_alive = 60;
        c.clean_session = clean;
        c.set_login(format!("{host}/d/?api-version=2021-04-12"), pw);
        d.send(Packet::Connect(c)).await;
        match d.next().await {
            Packet::ConnAck(a) => (d, a.code, a.session_present),
            other => panic!("expected CONNACK, got {other:?}"),
        }
    }

    async fn send(&mut self, p: Packet) {
        self.ws.send(Message::Binary(bytes(p))).await.unwrap();
    }

    async fn next(&mut self) -> Packet {
        loop {
            if let Ok(p) = v4::read(&mut self.buf, 1 << 20) {
                return p;
            }
            let m = tokio::time::timeout(Duration::from_secs(10), self.ws.next())
                .await
                .expect("a packet within 10 s");
            match m.unwrap().unwrap() {
                Message::Binary(b) => self.buf.extend_from_slice(&b),
                Message::Close(_) => panic!("closed"),
                _ => {}
            }
        }
    }

    async fn telemetry(&mut self, mid: &str, pkid: u16) {
        let mut p = Publish::new(
            format!("devices/d/messages/events/%24.mid={mid}"),
            QoS::AtLeastOnce,
            b"x".to_vec(),
        );
        p.pkid = pkid;
        self.send(Packet::Publish(p)).await;
        assert!(matches!(self.next().await, Packet::PubAck(a) if a.pkid == pkid));
    }
}

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

#[test]
fn process_kill_9_keeps_telemetry_c2d_and_session_succeeds() {
    let dir = temp_dir("kill9");
    let e = start(&dir, 0, &[]);
    let port = e.port();
    let body = format!(
        r#"{{"deviceId":"d","authentication":{{"symmetricKey":{{"primaryKey":"{KEY}"}}}}}}"#
    );
    assert_eq!(e.api("PUT", "/devices/d", &body).0, 200);
    assert_eq!(
        e.api("POST", "/devices/d/messages/devicebound", "c1").0,
        204
    );
    rt().block_on(async {
        let (mut d, code, present) = Device::connect(&e, false).await;
        assert_eq!((code, present), (ConnectReturnCode::Success, false));
        for (i, mid) in ["t1", "t2", "t3"].iter().enumerate() {
            d.telemetry(mid, i as u16 + 1).await;
        }
        d.send(Packet::Subscribe(Subscribe::new(
            "devices/d/messages/devicebound/#",
            QoS::AtLeastOnce,
        )))
        .await;
        assert!(matches!(d.next().await, Packet::SubAck(_)));
        // c1 arrives; it is not acknowledged before the hub dies.
        assert!(matches!(d.next().await, Packet::Publish(p) if p.payload.as_ref() == b"c1"));
    });
    drop(e); // SIGKILL

    let e = start(&dir, port, &[]);
    assert_eq!(e.port(), port, "same port after the restart");
    assert_eq!(
        e.telemetry_ids(),
        vec![(1, "t1".into()), (2, "t2".into()), (3, "t3".into())],
        "every acknowledged message survived kill -9"
    );
    rt().block_on(async {
        // No SUBSCRIBE: the clean-session-0 session (its subscription) survived, so the
        // unacknowledged C2D message comes again, marked DUP.
        let (mut d, code, present) = Device::connect(&e, false).await;
        assert_eq!((code, present), (ConnectReturnCode::Success, true));
        let Packet::Publish(p) = d.next().await else {
            panic!("c1 redelivered")
        };
        assert_eq!((p.payload.as_ref(), p.dup), (&b"c1"[..], true));
        d.send(Packet::PubAck(PubAck::new(p.pkid))).await;
        d.telemetry("t4", 9).await;
    });
    let (_, dev) = e.api("GET", "/devices/d", "");
    assert_eq!(dev["cloudToDeviceMessageCount"], 0, "the PUBACK removed c1");
    drop(e);

    let e = start(&dir, port, &["--max-telemetry", "2"]);
    assert_eq!(
        e.telemetry_ids(),
        vec![(3, "t3".into()), (4, "t4".into())],
        "seqs continue; --max-telemetry keeps the newest"
    );
    let (_, dev) = e.api("GET", "/devices/d", "");
    assert_eq!(dev["cloudToDeviceMessageCount"], 0, "c1 stays acknowledged");
    drop(e);
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn process_connect_throttle_refuses_a_storm_with_connack_3_succeeds() {
    let dir = temp_dir("throttle");
    let e = start(&dir, 0, &["--connect-throttle", "1:3"]);
    let body = format!(
        r#"{{"deviceId":"d","authentication":{{"symmetricKey":{{"primaryKey":"{KEY}"}}}}}}"#
    );
    assert_eq!(e.api("PUT", "/devices/d", &body).0, 200);
    let codes: Vec<ConnectReturnCode> = rt().block_on(async {
        let mut codes = Vec::new();
        for _ in 0..6 {
            codes.push(Device::connect(&e, true).await.1);
        }
        codes
    });
    // A burst of 3, then 1 per second: six CONNECTs within well under a second.
    assert!(
        codes[..3].iter().all(|c| *c == ConnectReturnCode::Success),
        "{codes:?}"
    );
    let refused = codes
        .iter()
        .filter(|c| **c == ConnectReturnCode::ServiceUnavailable)
        .count();
    assert!(refused >= 2, "{codes:?}");
    let (_, conn) = e.api("GET", "/emulator/devices/d/connection", "");
    assert_eq!(conn["throttledConnects"], refused);
    drop(e);
    let _ = std::fs::remove_dir_all(dir);
}
