//! Peer test: the sans-IO MQTT core, driven by a tiny blocking TCP driver,
//! against Debian's Mosquitto (a broker nobody here wrote).
//!
//! The test starts `mosquitto` itself on a free loopback port. If the binary
//! is missing it prints a skip line, or fails when `HUBWIRE_REQUIRE_PEERS=1`.
//! The clock is a millisecond counter from `Instant`, read here in the test
//! driver only; the core receives it as `now`.
#![cfg(not(target_arch = "wasm32"))]

use std::io::{ErrorKind, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use hubwire::mqtt::codec;
use hubwire::mqtt::{Config, Event, Framer, QoS, Session, State};

fn find_mosquitto() -> Option<PathBuf> {
    let candidates = [
        "/usr/sbin/mosquitto",
        "/usr/bin/mosquitto",
        "/usr/local/sbin/mosquitto",
    ];
    candidates.iter().map(PathBuf::from).find(|p| p.is_file())
}

/// Kills and reaps the broker when the test ends, pass or fail.
struct Broker {
    child: Child,
    dir: PathBuf,
}

impl Drop for Broker {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn start_broker(bin: &Path) -> (Broker, u16) {
    let port = TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port();
    let dir = std::env::temp_dir().join(format!("hubwire-mosquitto-{}-{port}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let conf = dir.join("mosquitto.conf");
    std::fs::write(
        &conf,
        format!(
            "listener {port} 127.0.0.1\nallow_anonymous true\npersistence false\nlog_dest stderr\nlog_type error\nlog_type warning\n"
        ),
    )
    .expect("write config");
    let child = Command::new(bin)
        .arg("-c")
        .arg(&conf)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("spawn mosquitto");
    let broker = Broker { child, dir };
    let start = Instant::now();
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "mosquitto did not listen on {port}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    (broker, port)
}

/// The blocking driver: a socket, the session, a clock, and a record of
/// the packet types that crossed the wire in each direction.
struct Driver {
    sock: TcpStream,
    session: Session,
    epoch: Instant,
    events: Vec<Event>,
    sent: Vec<u8>,
    received: Vec<u8>,
    out_framer: Framer,
    in_framer: Framer,
    eof: bool,
}

impl Driver {
    fn now(&self) -> u64 {
        self.epoch.elapsed().as_millis() as u64
    }

    /// One turn: transmit, read what arrives within 20 ms, run timers.
    fn turn(&mut self) {
        while let Some(buf) = self.session.poll_transmit() {
            let mut input = &buf[..];
            while let Some(f) = self.out_framer.next_frame(&mut input).unwrap() {
                self.sent.push(f[0] >> 4);
            }
            self.sock.write_all(&buf).expect("write");
        }
        let mut buf = [0u8; 4096];
        match self.sock.read(&mut buf) {
            Ok(0) => {
                if !self.eof {
                    self.eof = true;
                    let now = self.now();
                    self.session.connection_lost(now);
                }
            }
            Ok(n) => {
                let mut input = &buf[..n];
                while let Some(f) = self.in_framer.next_frame(&mut input).unwrap() {
                    self.received.push(codec::decode(f).unwrap().packet_type());
                }
                let now = self.now();
                self.session
                    .handle_bytes(now, &buf[..n])
                    .expect("broker bytes");
            }
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
            Err(e) => panic!("read: {e}"),
        }
        let now = self.now();
        if self.session.poll_timeout().is_some_and(|t| t <= now) {
            self.session.handle_timeout(now);
        }
        while let Some(ev) = self.session.poll_event() {
            self.events.push(ev);
        }
    }

    /// Turn until `done` holds, failing after `secs`.
    fn until(&mut self, secs: u64, what: &str, done: impl Fn(&Driver) -> bool) {
        let deadline = Instant::now() + Duration::from_secs(secs);
        while !done(self) {
            assert!(
                Instant::now() < deadline,
                "timed out waiting for {what}; events {:?}",
                self.events
            );
            self.turn();
        }
    }
}

#[test]
fn peer_mosquitto_connect_subscribe_publish_ping_disconnect_succeeds() {
    let Some(bin) = find_mosquitto() else {
        if std::env::var("HUBWIRE_REQUIRE_PEERS").as_deref() == Ok("1") {
            panic!("mosquitto not found and HUBWIRE_REQUIRE_PEERS=1");
        }
        println!("SKIP peer_mosquitto: mosquitto not installed (apt-get install -y mosquitto)");
        return;
    };
    let (_broker, port) = start_broker(&bin);
    let sock = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    sock.set_read_timeout(Some(Duration::from_millis(20)))
        .unwrap();
    sock.set_nodelay(true).unwrap();

    let mut cfg = Config::new(format!("hubwire-peer-{}", std::process::id()));
    cfg.keep_alive_secs = 1;
    cfg.ping_timeout_ms = 2_000;
    cfg.clean_session = true;
    let mut d = Driver {
        sock,
        session: Session::new(cfg),
        epoch: Instant::now(),
        events: Vec::new(),
        sent: Vec::new(),
        received: Vec::new(),
        out_framer: Framer::new(usize::MAX),
        in_framer: Framer::new(usize::MAX),
        eof: false,
    };

    // CONNECT / CONNACK
    let now = d.now();
    d.session.connect(now, None).unwrap();
    d.until(5, "CONNACK", |d| d.session.state() == State::Connected);
    assert_eq!(
        d.events.remove(0),
        Event::Connected {
            session_present: false
        }
    );

    // SUBSCRIBE / SUBACK
    let now = d.now();
    let sub = d
        .session
        .subscribe(now, &[("hubwire/peer/#".into(), QoS::AtLeastOnce)])
        .unwrap();
    d.until(5, "SUBACK", |d| {
        d.events.iter().any(|e| matches!(e, Event::SubAck { .. }))
    });
    assert_eq!(
        d.events.remove(0),
        Event::SubAck {
            pkid: sub,
            granted: vec![Some(QoS::AtLeastOnce)]
        }
    );

    // PUBLISH QoS 0 and QoS 1 to ourselves.
    let now = d.now();
    let q0 = d
        .session
        .publish(now, "hubwire/peer/q0", b"zero", QoS::AtMostOnce, false)
        .unwrap();
    assert_eq!(q0, None);
    let q1 = d
        .session
        .publish(now, "hubwire/peer/q1", b"one", QoS::AtLeastOnce, false)
        .unwrap()
        .expect("QoS 1 has a packet id");
    d.until(5, "both messages and the PUBACK", |d| {
        let msgs = d
            .events
            .iter()
            .filter(|e| matches!(e, Event::Message(_)))
            .count();
        msgs == 2 && d.events.contains(&Event::PubAck(q1))
    });
    let mut got: Vec<(String, Vec<u8>, QoS)> = d
        .events
        .iter()
        .filter_map(|e| match e {
            Event::Message(m) => Some((m.topic.clone(), m.payload.to_vec(), m.qos)),
            _ => None,
        })
        .collect();
    got.sort();
    assert_eq!(
        got,
        vec![
            ("hubwire/peer/q0".into(), b"zero".to_vec(), QoS::AtMostOnce),
            ("hubwire/peer/q1".into(), b"one".to_vec(), QoS::AtLeastOnce),
        ]
    );
    assert_eq!(d.session.inflight_free(), d.session.config().max_inflight);
    // The broker's QoS 1 delivery was acknowledged by us.
    d.turn();
    assert!(
        d.sent.contains(&codec::packet_type::PUBACK),
        "sent {:?}",
        d.sent
    );

    // Keep-alive of 1 s: idle, the core sends PINGREQ and Mosquitto answers.
    d.until(5, "PINGREQ and PINGRESP", |d| {
        d.sent.contains(&codec::packet_type::PINGREQ)
            && d.received.contains(&codec::packet_type::PINGRESP)
    });
    // Stay idle through two more keep-alive periods: still connected.
    let until = d.now() + 2_500;
    d.until(5, "2.5 s idle", |d| d.now() >= until);
    assert_eq!(d.session.state(), State::Connected, "events {:?}", d.events);
    let pings = d
        .sent
        .iter()
        .filter(|&&t| t == codec::packet_type::PINGREQ)
        .count();
    assert!(
        pings >= 2,
        "expected a ping per idle second, sent {:?}",
        d.sent
    );

    // Clean DISCONNECT: the broker closes the socket, no loss event.
    let before = d.events.len();
    let now = d.now();
    d.session.disconnect(now);
    assert_eq!(d.session.state(), State::Closed);
    d.until(5, "broker to close the socket", |d| d.eof);
    assert_eq!(d.sent.last(), Some(&codec::packet_type::DISCONNECT));
    assert_eq!(d.events.len(), before, "no event after a clean disconnect");
    assert_eq!(d.session.state(), State::Closed);
    println!(
        "peer mosquitto: sent {:?}, received {:?}",
        d.sent, d.received
    );
}
