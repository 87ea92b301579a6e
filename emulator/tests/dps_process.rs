//! DPS against the `hubwire-emulator` binary over real loopback sockets:
//! `hubwire::dps::Client` driven by a small tokio WebSocket shell (real timers,
//! real clock) provisions through the service routes' enrollments, then
//! `hubwire::hub::Client` connects with the assigned identity; `--id-scope`
//! and the DPS state in `--state-file` across a restart.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use futures_util::{SinkExt, StreamExt};
use hubwire::dps::{self, DpsEvent};
use hubwire::hub::client::HubEvent;
use hubwire::hub::Client as HubClient;
use serde_json::{json, Value};
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
    let d = std::env::temp_dir().join(format!("hubwire-dps-{}-{name}", std::process::id()));
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

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64
}

impl Emulator {
    fn api(&self, method: &str, path: &str, body: &str) -> (u16, Value) {
        let cs = self.ready["serviceConnectionString"].as_str().unwrap();
        let token =
            hubwire_emulator::sas_cli::token_from_connection_string(cs, now_ms() / 1000, 600)
                .unwrap();
        let addr = self.ready["httpUrl"]
            .as_str()
            .unwrap()
            .trim_start_matches("http://");
        let mut s = TcpStream::connect(addr).unwrap();
        write!(
            s,
            "{method} {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\nAuthorization: {token}\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        )
        .unwrap();
        let mut out = String::new();
        s.read_to_string(&mut out).unwrap();
        let (head, body) = out.split_once("\r\n\r\n").unwrap();
        (
            head[9..12].parse().unwrap(),
            serde_json::from_str(body).unwrap_or(Value::Null),
        )
    }
}

type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

async fn open_ws(url: &str) -> Ws {
    let mut req = url.into_client_request().unwrap();
    req.headers_mut()
        .insert("Sec-WebSocket-Protocol", "mqtt".parse().unwrap());
    tokio_tungstenite::connect_async(req).await.unwrap().0
}

/// A minimal native shell for `dps::Client`: one WebSocket, one timer, the wall clock.
async fn provision(mut c: dps::Client) -> (Vec<DpsEvent>, dps::Client) {
    let mut ws: Option<Ws> = None;
    let mut events = Vec::new();
    c.register(now_ms());
    loop {
        while let Some(b) = c.poll_transmit() {
            if let Some(w) = ws.as_mut() {
                w.send(Message::Binary(b)).await.unwrap();
            }
        }
        let mut acted = false;
        while let Some(ev) = c.poll_event() {
            acted = true;
            match &ev {
                DpsEvent::OpenTransport { url } => {
                    ws = Some(open_ws(url).await);
                    c.transport_opened(now_ms());
                }
                DpsEvent::CloseTransport => {
                    if let Some(mut w) = ws.take() {
                        let _ = w.close(None).await;
                    }
                }
                DpsEvent::Assigned(_) | DpsEvent::Failed(_) => {
                    events.push(ev);
                    return (events, c);
                }
                _ => {}
            }
            events.push(ev);
        }
        if acted {
            continue; // events may have queued bytes (CONNECT after transport_opened)
        }
        let wait = c.poll_timeout().map_or(Duration::from_secs(30), |t| {
            Duration::from_millis(t.saturating_sub(now_ms()))
        });
        let msg = async {
            match ws.as_mut() {
                Some(w) => w.next().await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            m = msg => match m {
                Some(Ok(Message::Binary(b))) => c.handle_bytes(now_ms(), &b),
                Some(Ok(_)) => {}
                _ => {
                    ws = None;
                    c.connection_lost(now_ms());
                }
            },
            _ = tokio::time::sleep(wait) => c.handle_timeout(now_ms()),
        }
    }
}

/// The same for `hub::Client`, until `Connected`.
async fn connect_hub(mut c: HubClient) -> (HubClient, Ws) {
    c.connect(now_ms()).unwrap();
    let mut ws: Option<Ws> = None;
    loop {
        while let Some(b) = c.poll_transmit() {
            ws.as_mut().unwrap().send(Message::Binary(b)).await.unwrap();
        }
        let mut acted = false;
        while let Some(ev) = c.poll_event() {
            acted = true;
            match ev {
                HubEvent::OpenTransport { url } => {
                    ws = Some(open_ws(&url).await);
                    c.transport_opened(now_ms());
                }
                HubEvent::Connected => return (c, ws.unwrap()),
                HubEvent::Disconnected { reason, .. } => panic!("hub refused: {reason:?}"),
                _ => {}
            }
        }
        if acted {
            continue;
        }
        let Some(w) = ws.as_mut() else { continue };
        if let Some(Ok(Message::Binary(b))) =
            tokio::time::timeout(Duration::from_secs(10), w.next())
                .await
                .expect("hub answers within 10 s")
        {
            c.handle_bytes(now_ms(), &b);
        }
    }
}

#[test]
fn process_dps_client_over_websocket_then_hub_and_state_survives_restart_succeeds() {
    let dir = temp_dir("dps");
    let state = dir.join("state.json");
    let args = [
        "--state-file",
        state.to_str().unwrap(),
        "--id-scope",
        "0ne0000FEED",
    ];
    let e = start(&dir, &args);
    assert_eq!(
        e.ready["dps"],
        json!({"idScope": "0ne0000FEED", "provisioningHost": "localhost"})
    );
    let (status, info) = e.api("GET", "/emulator/dps", "");
    assert_eq!(
        (status, info["idScope"].as_str()),
        (200, Some("0ne0000FEED"))
    );

    let (status, g) = e.api(
        "PUT",
        "/enrollmentGroups/proc-fleet?api-version=2021-10-01",
        r#"{"enrollmentGroupId":"proc-fleet","attestation":{"type":"symmetricKey"},"initialTwin":{"properties":{"desired":{"interval":9}}}}"#,
    );
    assert_eq!(status, 200, "{g}");
    let group_key = g["attestation"]["symmetricKey"]["primaryKey"]
        .as_str()
        .unwrap()
        .to_string();
    let ws_url = e.ready["wsUrl"].as_str().unwrap().to_string();

    let mut cfg = dps::Config::from_group_key("0ne0000FEED", "proc-truck-1", &group_key).unwrap();
    cfg.url = Some(ws_url.clone());
    cfg.model_id = Some("dtmi:com:example:Truck;1".into());
    let client = dps::Client::new(cfg, now_ms()).unwrap();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let started = Instant::now();
    let (events, _) = rt.block_on(provision(client));
    let Some(DpsEvent::Assigned(a)) = events.last() else {
        panic!("{events:?}")
    };
    assert!(
        events.iter().any(|e| matches!(
            e,
            DpsEvent::Assigning {
                retry_after_ms: 1000,
                ..
            }
        )),
        "{events:?}"
    );
    assert!(
        started.elapsed() >= Duration::from_millis(900),
        "waited for retry-after"
    );
    assert_eq!(
        (a.assigned_hub.as_str(), a.device_id.as_str()),
        ("localhost", "proc-truck-1")
    );

    let mut hub_config = a.hub_config().unwrap();
    hub_config.url = Some(ws_url);
    let hub = HubClient::new(hub_config, now_ms()).unwrap();
    let (_hub, _ws) = rt.block_on(connect_hub(hub));
    let (_, conn) = e.api("GET", "/emulator/devices/proc-truck-1/connection", "");
    assert_eq!(conn["connected"], true);
    assert!(conn["username"]
        .as_str()
        .unwrap()
        .contains("model-id=dtmi%3Acom%3Aexample%3ATruck%3B1"));
    let (_, twin) = e.api("GET", "/twins/proc-truck-1", "");
    assert_eq!(
        twin["properties"]["desired"]["interval"], 9,
        "initial twin of the group"
    );

    // A wrong key over the real socket: typed 401, no retry.
    let mut bad =
        dps::Config::from_symmetric_key("0ne0000FEED", "proc-nobody", &group_key).unwrap();
    bad.url = Some(e.ready["wsUrl"].as_str().unwrap().to_string());
    let (events, _) = rt.block_on(provision(dps::Client::new(bad, now_ms()).unwrap()));
    let Some(DpsEvent::Failed(err)) = events.last() else {
        panic!("{events:?}")
    };
    assert_eq!(
        (err.code(), err.dps_details().0),
        ("UNAUTHORIZED", Some(401_002))
    );

    // The state file keeps groups and registrations (with the payload) across a restart.
    let deadline = Instant::now() + Duration::from_secs(10);
    while !std::fs::read_to_string(&state)
        .unwrap_or_default()
        .contains("\"assignedHub\":\"localhost\"")
    {
        assert!(
            Instant::now() < deadline,
            "state file never got the registration"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    drop(e);
    let e = start(&dir, &args);
    let (status, g2) = e.api("GET", "/enrollmentGroups/proc-fleet", "");
    assert_eq!(status, 200);
    assert_eq!(g2["attestation"], g["attestation"]);
    let (status, r) = e.api("GET", "/registrations/proc-truck-1", "");
    assert_eq!(status, 200);
    assert_eq!(r["payload"], json!({"modelId": "dtmi:com:example:Truck;1"}));
    assert_eq!(r["status"], "assigned");
    drop(e);
    let _ = std::fs::remove_dir_all(dir);
}
