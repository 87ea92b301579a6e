//! `hubwire-emulator`: a local Azure IoT Hub (see docs/emulator.md).
#![forbid(unsafe_code)]

use hubwire_emulator::{sas_cli, server};

const USAGE: &str = "usage:
  hubwire-emulator [--port 0] [--tls-port N] [--bind 127.0.0.1] [--host-name localhost]
                   [--static www --pkg pkg] [--state-file path] [--ready-file path]
                   [--max-telemetry 10000] [--connect-throttle PER_SEC[:BURST] | 0]
                   [--demo-device demo | --no-demo-device] [--cert-dir dir] [--client-certs]
                   [--id-scope 0ne00000E00]
  hubwire-emulator sas --connection-string CS [--ttl 3600]
  hubwire-emulator cert --subject DEVICE_ID [--out-dir .]   (self-signed X.509 device certificate)";

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.iter().any(|a| a == "--help" || a == "-h") {
        println!("{USAGE}");
        return;
    }
    if args.first().map(String::as_str) == Some("sas") {
        std::process::exit(sas(&args[1..]));
    }
    if args.first().map(String::as_str) == Some("cert") {
        match hubwire_emulator::x509::cert_cli(&args[1..]) {
            Ok(json) => println!("{json}"),
            Err(e) => {
                eprintln!("hubwire-emulator cert: {e}\n{USAGE}");
                std::process::exit(2);
            }
        }
        return;
    }
    let opts = match server::parse_args(&args) {
        Ok(o) => o,
        Err(e) => {
            eprintln!("hubwire-emulator: {e}\n{USAGE}");
            std::process::exit(2);
        }
    };
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("hubwire-emulator: cannot start runtime: {e}");
            std::process::exit(1);
        }
    };
    if let Err(e) = rt.block_on(server::run(opts)) {
        eprintln!("hubwire-emulator: {e}");
        std::process::exit(1);
    }
}

fn sas(args: &[String]) -> i32 {
    let mut cs = None;
    let mut ttl = 3600u64;
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--connection-string" => cs = it.next().cloned(),
            "--ttl" => ttl = it.next().and_then(|v| v.parse().ok()).unwrap_or(ttl),
            _ => {
                eprintln!("{USAGE}");
                return 2;
            }
        }
    }
    let Some(cs) = cs else {
        eprintln!("{USAGE}");
        return 2;
    };
    let now = hubwire_emulator::shared::now_ms() / 1000;
    match sas_cli::token_from_connection_string(&cs, now, ttl) {
        Ok(t) => {
            println!("{t}");
            0
        }
        Err(e) => {
            eprintln!("hubwire-emulator sas: {e}");
            1
        }
    }
}
