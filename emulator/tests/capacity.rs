//! What a large fleet needs from the `hubwire-emulator` process: its own
//! file-descriptor limit raised at start (and reported), and IoT Hub's bulk
//! registry API over HTTP.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

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

/// Starts the emulator, optionally through `prlimit` with a low soft `RLIMIT_NOFILE`.
// The child is killed and waited for by `Emulator::drop` (or before the panic).
#[allow(clippy::zombie_processes)]
fn start(name: &str, soft_nofile: Option<u64>) -> Emulator {
    let dir = std::env::temp_dir().join(format!("hubwire-emu-cap-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let ready_file = dir.join("ready.json");
    let bin = env!("CARGO_BIN_EXE_hubwire-emulator");
    let args = [
        "--port",
        "0",
        "--no-demo-device",
        "--ready-file",
        ready_file.to_str().unwrap(),
    ];
    let mut cmd = match soft_nofile {
        Some(soft) => {
            let hard = rlimit::Resource::NOFILE.get().unwrap().1;
            let mut c = Command::new("prlimit");
            c.arg(format!("--nofile={soft}:{hard}")).arg("--").arg(bin);
            c
        }
        None => Command::new(bin),
    };
    let mut child = cmd
        .args(args)
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

impl Emulator {
    fn api(&self, method: &str, path: &str, body: &str, token: Option<&str>) -> (u16, Value) {
        let addr = self.ready["httpUrl"]
            .as_str()
            .unwrap()
            .trim_start_matches("http://");
        let mut s = TcpStream::connect(addr).unwrap();
        let auth = token
            .map(|t| format!("Authorization: {t}\r\n"))
            .unwrap_or_default();
        let req = format!(
            "{method} {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n{auth}Content-Length: {}\r\n\r\n{body}",
            body.len()
        );
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

    fn token(&self) -> String {
        let cs = self.ready["serviceConnectionString"].as_str().unwrap();
        let now = hubwire_emulator::shared::now_ms() / 1000;
        hubwire_emulator::sas_cli::token_from_connection_string(cs, now, 600).unwrap()
    }
}

fn prlimit_available() -> bool {
    Command::new("prlimit")
        .arg("--version")
        .stdout(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

#[test]
fn process_raises_its_file_descriptor_limit_succeeds() {
    if !prlimit_available() {
        assert!(
            std::env::var("HUBWIRE_REQUIRE_PEERS").as_deref() != Ok("1"),
            "prlimit (util-linux) is missing"
        );
        println!("SKIP: prlimit (util-linux) is missing");
        return;
    }
    let hard = rlimit::Resource::NOFILE.get().unwrap().1;
    let emu = start("fd", Some(256));
    let fd = &emu.ready["fdLimit"];
    assert_eq!(fd["before"], 256, "{fd}");
    assert_eq!(fd["soft"], hard, "{fd}");
    assert_eq!(fd["hard"], hard, "{fd}");
    assert_eq!(fd["error"], Value::Null);
    assert_eq!(
        fd["maxConnections"],
        hard - hubwire_emulator::fdlimit::RESERVED
    );
}

#[test]
fn process_bulk_registry_create_then_rerun_reports_existing_fails() {
    let emu = start("bulk", None);
    let token = emu.token();
    let body: Vec<Value> = (1..=100)
        .map(|i| serde_json::json!({"id": format!("bulk{i:03}"), "importMode": "create"}))
        .collect();
    let body = Value::Array(body).to_string();
    let (status, r) = emu.api(
        "POST",
        "/devices?api-version=2021-04-12",
        &body,
        Some(&token),
    );
    assert_eq!(
        (status, &r["isSuccessful"]),
        (200, &Value::Bool(true)),
        "{r}"
    );
    let (status, list) = emu.api("GET", "/devices", "", Some(&token));
    assert_eq!((status, list.as_array().map(Vec::len)), (200, Some(100)));
    let (status, r) = emu.api(
        "POST",
        "/devices?api-version=2021-04-12",
        &body,
        Some(&token),
    );
    assert_eq!(status, 400);
    assert_eq!(r["isSuccessful"], false);
    let errors = r["errors"].as_array().unwrap();
    assert_eq!(errors.len(), 100);
    assert!(errors
        .iter()
        .all(|e| e["errorCode"] == "DeviceAlreadyExists"));
    let too_many = format!(
        "[{}]",
        vec![r#"{"id":"x","importMode":"delete"}"#; 101].join(",")
    );
    let (status, r) = emu.api("POST", "/devices", &too_many, Some(&token));
    assert_eq!(
        (status, r["ErrorCode"].as_str()),
        (400, Some("ArgumentInvalid"))
    );
    let (status, _) = emu.api("POST", "/devices", &body, None);
    assert_eq!(status, 401, "the bulk API needs the service token");
}
