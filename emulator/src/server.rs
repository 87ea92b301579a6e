//! Process wiring: options, start-up (state file, demo device, certificate),
//! listeners, the READY line.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;

use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use serde_json::{json, Value};
use tokio::net::TcpListener;

use crate::core::registry::{IdentityId, Registry};
use crate::core::throttle::{ConnectLimit, DEFAULT_CONNECT_LIMIT};
use crate::core::{Hub, HubConfig};
use crate::http::{Ctx, StaticDirs};
use crate::shared::{now_ms, Shared};

/// Command-line options (see docs/service-api.md and docs/emulator.md).
#[derive(Debug, Clone)]
pub struct Options {
    /// Plain HTTP/ws port; 0 picks a free one.
    pub port: u16,
    /// TLS port; `None` disables TLS, 0 picks a free one.
    pub tls_port: Option<u16>,
    /// Address to bind.
    pub bind: IpAddr,
    /// Host name devices use in usernames and `sr`.
    pub host_name: String,
    /// Static files at `/`.
    pub static_dir: Option<PathBuf>,
    /// Package files at `/pkg/`.
    pub pkg_dir: Option<PathBuf>,
    /// Persistence across restarts (crate::persist).
    pub state_file: Option<PathBuf>,
    /// Telemetry records retained (`--max-telemetry`, default 10,000).
    pub max_telemetry: usize,
    /// Per-identity CONNECT limit (`--connect-throttle`; `None` = off).
    pub connect_throttle: Option<ConnectLimit>,
    /// Where to write the READY JSON.
    pub ready_file: Option<PathBuf>,
    /// Demo device id (`None`: no demo device).
    pub demo_device: Option<String>,
    /// Where the certificate PEM goes.
    pub cert_dir: Option<PathBuf>,
    /// The TLS listener asks for an optional client certificate (X.509 devices).
    pub client_certs: bool,
    /// The DPS ID scope provisioning devices must use.
    pub id_scope: String,
}

impl Default for Options {
    fn default() -> Options {
        Options {
            port: 0,
            tls_port: None,
            bind: IpAddr::V4(Ipv4Addr::LOCALHOST),
            host_name: "localhost".into(),
            static_dir: None,
            pkg_dir: None,
            state_file: None,
            max_telemetry: DEFAULT_MAX_TELEMETRY,
            connect_throttle: Some(DEFAULT_CONNECT_LIMIT),
            ready_file: None,
            demo_device: Some("demo".into()),
            cert_dir: None,
            client_certs: false,
            id_scope: crate::core::dps::DEFAULT_ID_SCOPE.into(),
        }
    }
}

/// Telemetry records the emulator keeps unless `--max-telemetry` says otherwise.
pub const DEFAULT_MAX_TELEMETRY: usize = 10_000;

/// Parses arguments after the program name.
pub fn parse_args(args: &[String]) -> Result<Options, String> {
    let mut o = Options::default();
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let (flag, inline) = match a.split_once('=') {
            Some((f, v)) if f.starts_with("--") => (f.to_string(), Some(v.to_string())),
            _ => (a.clone(), None),
        };
        let mut val = || {
            inline
                .clone()
                .or_else(|| it.next().cloned())
                .ok_or(format!("{flag} needs a value"))
        };
        let port = |v: String| {
            v.parse::<u16>()
                .map_err(|_| format!("{flag}: not a port: {v}"))
        };
        match flag.as_str() {
            "--port" => o.port = port(val()?)?,
            "--tls-port" => o.tls_port = Some(port(val()?)?),
            "--bind" => {
                o.bind = val()?
                    .parse()
                    .map_err(|_| "--bind: not an IP address".to_string())?
            }
            "--host-name" => o.host_name = val()?,
            "--static" => o.static_dir = Some(val()?.into()),
            "--pkg" => o.pkg_dir = Some(val()?.into()),
            "--state-file" => o.state_file = Some(val()?.into()),
            "--max-telemetry" => {
                let v = val()?;
                o.max_telemetry = v
                    .parse()
                    .ok()
                    .filter(|n| *n > 0)
                    .ok_or(format!("--max-telemetry: not a positive number: {v}"))?
            }
            "--connect-throttle" => o.connect_throttle = ConnectLimit::parse(&val()?)?,
            "--ready-file" => o.ready_file = Some(val()?.into()),
            "--demo-device" => {
                let v = val()?;
                o.demo_device = (!v.is_empty()).then_some(v);
            }
            "--no-demo-device" => o.demo_device = None,
            "--cert-dir" => o.cert_dir = Some(val()?.into()),
            "--id-scope" => {
                o.id_scope = val()?;
                hubwire::dps::auth::validate_id_scope(&o.id_scope)
                    .map_err(|e| format!("--id-scope: {e}"))?;
            }
            "--client-certs" => o.client_certs = true,
            other => return Err(format!("unknown option {other}")),
        }
    }
    Ok(o)
}

/// Starts everything and serves until the process ends.
pub async fn run(o: Options) -> Result<(), String> {
    let fds = crate::fdlimit::raise();
    eprintln!("hubwire-emulator: {}", fds.describe());
    let state = match &o.state_file {
        Some(p) => crate::persist::load(p)?,
        None => None,
    };
    let (service_key, registry, policies, dps, runtime, telemetry) = match state {
        Some(l) => (
            l.service_key,
            l.registry,
            l.policies,
            l.dps,
            l.runtime,
            l.telemetry,
        ),
        None => (
            crate::keys::generate(),
            Registry::default(),
            None,
            None,
            Value::Null,
            Vec::new(),
        ),
    };
    let mut hub = Hub::new(HubConfig {
        host_name: o.host_name.clone(),
        service_key: service_key.clone(),
        max_telemetry: o.max_telemetry,
    });
    hub.set_registry(registry);
    if let Some(p) = policies {
        hub.set_policies(p);
    }
    hub.set_dps_id_scope(&o.id_scope);
    if let Some(d) = dps {
        if !hub.dps_import(&d) {
            return Err("state file dps section is malformed".into());
        }
    }
    hub.import_runtime(&runtime)?;
    hub.restore_telemetry(telemetry);
    hub.set_connect_throttle(o.connect_throttle);
    let mut demo = Value::Null;
    if let Some(d) = &o.demo_device {
        let id = IdentityId::device(d);
        let now = now_ms();
        if hub.registry().get(&id).is_none() {
            hub.put_identity(
                now,
                &id,
                None,
                None,
                (crate::keys::generate(), crate::keys::generate()),
            )
            .map_err(|e| format!("demo device: {}", e.message()))?;
        }
        let key = hub
            .registry()
            .get(&id)
            .map(|i| i.primary_key.clone())
            .unwrap_or_default();
        demo = json!({
            "deviceId": d,
            "connectionString": format!("HostName={};DeviceId={d};SharedAccessKey={key}", o.host_name),
        });
    }
    let persist = match &o.state_file {
        Some(p) => Some(
            crate::persist::Persist::open(p, &service_key, o.max_telemetry, &hub)
                .map_err(|e| format!("state file {}: {e}", p.display()))?,
        ),
        None => None,
    };
    let shared = Shared::new(hub);
    if let Some(p) = persist {
        shared.enable_persistence(p);
    }

    let listener = TcpListener::bind(SocketAddr::new(o.bind, o.port))
        .await
        .map_err(|e| format!("bind: {e}"))?;
    let addr = listener.local_addr().map_err(|e| e.to_string())?;
    let mut tls = None;
    if let Some(tp) = o.tls_port {
        let dir = o.cert_dir.clone().unwrap_or_else(|| {
            std::env::temp_dir().join(format!("hubwire-emulator-{}", std::process::id()))
        });
        let (acceptor, cert_path) =
            crate::tls::setup(&dir, &o.host_name, o.client_certs).map_err(|e| e.to_string())?;
        let l = TcpListener::bind(SocketAddr::new(o.bind, tp))
            .await
            .map_err(|e| format!("bind TLS: {e}"))?;
        let tls_addr = l.local_addr().map_err(|e| e.to_string())?;
        tls = Some((l, acceptor, cert_path, tls_addr));
    }

    let host = if o.bind.is_unspecified() {
        IpAddr::V4(Ipv4Addr::LOCALHOST)
    } else {
        o.bind
    };
    let base = SocketAddr::new(host, addr.port());
    let info = json!({
        "httpUrl": format!("http://{base}"),
        "wsUrl": format!("ws://{base}/$iothub/websocket"),
        "tlsPort": tls.as_ref().map(|t| t.3.port()),
        "httpsUrl": tls.as_ref().map(|t| format!("https://localhost:{}", t.3.port())),
        "wssUrl": tls.as_ref().map(|t| format!("wss://localhost:{}/$iothub/websocket", t.3.port())),
        "certPath": tls.as_ref().map(|t| t.2.display().to_string()),
        "hostName": o.host_name,
        "serviceConnectionString": format!("HostName={};SharedAccessKeyName=iothubowner;SharedAccessKey={service_key}", o.host_name),
        "demoDevice": demo,
        "fdLimit": fds.to_json(),
        "dps": { "idScope": o.id_scope, "provisioningHost": o.host_name },
    });
    if let Ok(mut i) = shared.info.lock() {
        *i = info.clone();
    }

    let ctx = Arc::new(Ctx {
        shared: shared.clone(),
        dirs: StaticDirs {
            www: o.static_dir.clone(),
            pkg: o.pkg_dir.clone(),
        },
    });
    tokio::spawn(shared.clone().run_timer());
    tokio::spawn(accept_plain(listener, ctx.clone()));
    if let Some((l, acceptor, _, _)) = tls {
        tokio::spawn(accept_tls(l, acceptor, ctx.clone()));
    }

    eprintln!(
        "hubwire-emulator: devices   {}",
        info["wsUrl"].as_str().unwrap_or("")
    );
    if let Some(w) = info["wssUrl"].as_str() {
        eprintln!(
            "hubwire-emulator: devices   {w} (certificate {})",
            info["certPath"].as_str().unwrap_or("")
        );
    }
    eprintln!(
        "hubwire-emulator: service   {}",
        info["serviceConnectionString"].as_str().unwrap_or("")
    );
    if let Some(cs) = info["demoDevice"]["connectionString"].as_str() {
        eprintln!("hubwire-emulator: device    {cs}");
    }
    if let Some(p) = &o.ready_file {
        crate::shared::write_atomic(p, info.to_string().as_bytes())
            .map_err(|e| format!("ready file: {e}"))?;
    }
    println!("HUBWIRE_EMULATOR_READY {info}");

    wait_for_shutdown().await;
    let _ = shared.persist_now();
    Ok(())
}

async fn wait_for_shutdown() {
    #[cfg(unix)]
    {
        if let Ok(mut term) =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
            return;
        }
    }
    let _ = tokio::signal::ctrl_c().await;
}

/// Waits after a failed `accept` so that running out of file descriptors
/// (EMFILE) does not spin; says so once per burst.
async fn accept_failed(e: std::io::Error, quiet_until: &mut std::time::Instant) {
    let now = std::time::Instant::now();
    if now >= *quiet_until {
        eprintln!("hubwire-emulator: accept failed: {e} (too many connections for the file-descriptor limit?)");
        *quiet_until = now + std::time::Duration::from_secs(10);
    }
    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
}

async fn accept_plain(listener: TcpListener, ctx: Arc<Ctx>) {
    let mut quiet_until = std::time::Instant::now();
    loop {
        let (stream, remote) = match listener.accept().await {
            Ok(s) => s,
            Err(e) => {
                accept_failed(e, &mut quiet_until).await;
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        let ctx = ctx.clone();
        tokio::spawn(async move {
            let svc = service_fn(move |req| crate::http::handle(ctx.clone(), remote, req));
            let _ = http1::Builder::new()
                .serve_connection(TokioIo::new(stream), svc)
                .with_upgrades()
                .await;
        });
    }
}

async fn accept_tls(listener: TcpListener, acceptor: tokio_rustls::TlsAcceptor, ctx: Arc<Ctx>) {
    let mut quiet_until = std::time::Instant::now();
    loop {
        let (stream, remote) = match listener.accept().await {
            Ok(s) => s,
            Err(e) => {
                accept_failed(e, &mut quiet_until).await;
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        let ctx = ctx.clone();
        let acceptor = acceptor.clone();
        tokio::spawn(async move {
            let Ok(tls) = acceptor.accept(stream).await else {
                return;
            };
            let cert = crate::x509::peer_cert(tls.get_ref().1);
            let svc = service_fn(move |mut req: hyper::Request<hyper::body::Incoming>| {
                if let Some(c) = &cert {
                    req.extensions_mut().insert(c.clone());
                }
                crate::http::handle(ctx.clone(), remote, req)
            });
            let _ = http1::Builder::new()
                .serve_connection(TokioIo::new(tls), svc)
                .with_upgrades()
                .await;
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(s: &str) -> Vec<String> {
        s.split_whitespace().map(str::to_string).collect()
    }

    #[test]
    fn parse_args_all_flags_succeeds() {
        let o = parse_args(&args("--port 0 --tls-port=8443 --host-name myhub --static www --pkg pkg --state-file s.json --ready-file r.json --demo-device d1 --cert-dir c --client-certs --max-telemetry 5 --connect-throttle 3:4")).unwrap();
        assert!(o.client_certs);
        assert_eq!(o.max_telemetry, 5);
        assert_eq!(
            o.connect_throttle,
            Some(ConnectLimit {
                per_sec: 3,
                burst: 4
            })
        );
        let d = parse_args(&[]).unwrap();
        assert_eq!(
            (d.max_telemetry, d.connect_throttle),
            (10_000, Some(DEFAULT_CONNECT_LIMIT))
        );
        assert_eq!(
            parse_args(&args("--connect-throttle 0"))
                .unwrap()
                .connect_throttle,
            None
        );
        assert_eq!(
            (o.port, o.tls_port, o.host_name.as_str()),
            (0, Some(8443), "myhub")
        );
        assert_eq!(o.static_dir, Some("www".into()));
        assert_eq!(o.demo_device.as_deref(), Some("d1"));
        assert_eq!(o.cert_dir, Some("c".into()));
    }

    #[test]
    fn parse_args_bad_flag_fails() {
        assert!(parse_args(&args("--nope")).is_err());
        assert!(parse_args(&args("--port")).is_err());
        assert!(parse_args(&args("--port x")).is_err());
        assert!(parse_args(&args("--max-telemetry 0")).is_err());
        assert!(parse_args(&args("--connect-throttle x")).is_err());
    }
}
