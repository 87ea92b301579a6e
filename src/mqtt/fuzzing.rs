//! Entry points for fuzzing (cargo-fuzz targets in fuzz/) and the
//! deterministic random-input test. Each asserts invariants and must never
//! panic, whatever the input. What the session transmits is checked with
//! `mqttbytes`, an MQTT codec nobody here wrote (compiled only for tests and
//! `--cfg fuzzing`).

use crate::prelude::*;

use alloc::collections::BTreeSet;

use super::codec;
use super::{Config, Event, Framer, QoS, Session, State};

/// Largest packet the fuzz session accepts, so oversize input is exercised.
pub const FUZZ_MAX_PACKET: usize = 1024;

/// The first byte picks a chunk size (1..=8); the rest is fed to a framer in
/// chunks. Every complete frame is decoded; a decoded packet that encodes
/// must decode again to the same packet.
pub fn framer(data: &[u8]) {
    let Some((&first, data)) = data.split_first() else {
        return;
    };
    let chunk = usize::from(first % 8) + 1;
    let mut framer = Framer::new(FUZZ_MAX_PACKET);
    for c in data.chunks(chunk) {
        let mut input = c;
        loop {
            match framer.next_frame(&mut input) {
                Ok(Some(frame)) => {
                    assert!(frame.len() <= FUZZ_MAX_PACKET, "frame over the limit");
                    roundtrip(frame);
                }
                Ok(None) => break,
                Err(_) => return,
            }
        }
        assert!(
            framer.buffered() <= FUZZ_MAX_PACKET,
            "buffered over the limit"
        );
    }
}

/// Decode `frame`; a decoded PUBLISH (the one packet both sides send) must
/// encode again and decode to an equal packet.
pub fn roundtrip(frame: Vec<u8>) {
    let Ok(codec::ServerPacket::Publish(p)) = codec::decode(frame) else {
        return;
    };
    if let Ok(bytes) = codec::publish(&p) {
        match codec::decode(bytes) {
            Ok(codec::ServerPacket::Publish(again)) => {
                assert_eq!(again, p, "decode(encode(p)) != p")
            }
            other => panic!("re-encoded {p:?} does not decode: {other:?}"),
        }
    }
}

/// A connected session driven by `data` read as a script of operations:
/// received bytes, publishes, subscribes, clock steps, losses, reconnects.
/// Checks that everything the session transmits is well-formed MQTT, that
/// the window and packet identifiers stay consistent, and that nothing panics.
/// Returns what happened, so tests can check the input reached deep states.
pub fn session(data: &[u8]) -> Stats {
    let mut cfg = Config::new("fuzz");
    cfg.username = Some("user".into());
    cfg.keep_alive_secs = 2;
    cfg.ping_timeout_ms = 700;
    cfg.connack_timeout_ms = 900;
    cfg.max_inflight = 3;
    cfg.max_incoming_packet = FUZZ_MAX_PACKET;
    cfg.coalesce = data.first().is_some_and(|b| b & 1 == 1);
    let mut h = Harness {
        s: Session::new(cfg),
        now: 0,
        wire: Framer::new(usize::MAX),
        stats: Stats::default(),
    };
    h.reconnect();
    let mut rest = data;
    while let Some((&op, tail)) = rest.split_first() {
        rest = tail;
        let arg = op & 0x1f;
        match op >> 5 {
            0..=3 => {
                let n = usize::from(arg).min(rest.len());
                let (bytes, tail) = rest.split_at(n);
                rest = tail;
                let _ = h.s.handle_bytes(h.now, bytes);
            }
            4 => {
                let qos = if arg & 1 == 1 {
                    QoS::AtLeastOnce
                } else {
                    QoS::AtMostOnce
                };
                let payload = vec![arg; usize::from(arg)];
                let _ = h.s.publish(h.now, "t/x", &payload, qos, arg & 2 != 0);
            }
            5 => {
                h.now += u64::from(arg) * 50;
                h.s.handle_timeout(h.now);
            }
            6 => match arg & 3 {
                0 => {
                    let _ = h.s.subscribe(h.now, &[("a/#".into(), QoS::AtLeastOnce)]);
                }
                1 => {
                    let _ = h.s.unsubscribe(h.now, &["a/#".into()]);
                }
                2 => h.s.connection_lost(h.now),
                _ => h.reconnect(),
            },
            _ => match arg & 3 {
                0 => h.s.disconnect(h.now),
                1 => {
                    let _ = h.s.connect(h.now, Some("pw".into()));
                }
                _ => {
                    if let Some(t) = h.s.poll_timeout() {
                        h.now = h.now.max(t);
                        h.s.handle_timeout(h.now);
                    }
                }
            },
        }
        h.drain();
    }
    h.stats
}

/// Counts of what a fuzzed session went through.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Stats {
    /// `Event::Message` received.
    pub messages: usize,
    /// `Event::PubAck`, `SubAck` and `UnsubAck` received.
    pub acks: usize,
    /// `Event::ConnectionLost` of any reason.
    pub lost: usize,
    /// Packets the session transmitted.
    pub sent: usize,
}

impl core::ops::AddAssign for Stats {
    fn add_assign(&mut self, o: Stats) {
        self.messages += o.messages;
        self.acks += o.acks;
        self.lost += o.lost;
        self.sent += o.sent;
    }
}

struct Harness {
    s: Session,
    now: u64,
    wire: Framer,
    stats: Stats,
}

impl Harness {
    fn reconnect(&mut self) {
        self.s.connection_lost(self.now);
        self.drain();
        self.wire.reset();
        if self.s.connect(self.now, Some("pw".into())).is_ok() {
            let _ = self.s.handle_bytes(self.now, &[0x20, 0x02, 0x00, 0x00]);
        }
        self.drain();
    }

    fn drain(&mut self) {
        while let Some(buf) = self.s.poll_transmit() {
            let mut input = &buf[..];
            let mut frames = 0;
            while let Some(frame) = self.wire.next_frame(&mut input).expect("we framed badly") {
                frames += 1;
                self.stats.sent += 1;
                let mut buf = bytes::BytesMut::from(&frame[..]);
                let p = mqttbytes::v4::read(&mut buf, usize::MAX)
                    .expect("we sent a packet that does not decode");
                assert!(buf.is_empty(), "we framed badly");
                if let mqttbytes::v4::Packet::Publish(p) = p {
                    assert_ne!(p.qos, mqttbytes::QoS::ExactlyOnce, "we sent QoS 2");
                }
            }
            assert!(
                frames > 0 && input.is_empty(),
                "transmit held a partial packet"
            );
        }
        while let Some(ev) = self.s.poll_event() {
            match ev {
                Event::Message(m) => {
                    assert_ne!(m.qos, QoS::ExactlyOnce, "QoS 2 message surfaced");
                    self.stats.messages += 1;
                }
                Event::PubAck(_) | Event::SubAck { .. } | Event::UnsubAck(_) => {
                    self.stats.acks += 1
                }
                Event::ConnectionLost(_) => self.stats.lost += 1,
                Event::Connected { .. } | Event::Refused(_) => {}
            }
        }
        let ids = self.s.inflight_ids();
        let unique: BTreeSet<u16> = ids.iter().copied().collect();
        assert_eq!(unique.len(), ids.len(), "duplicate in-flight id");
        assert!(!unique.contains(&0), "packet id 0 in flight");
        assert!(ids.len() <= 3 && usize::from(self.s.inflight_free()) == 3 - ids.len());
        if matches!(self.s.state(), State::Idle | State::Closed) {
            assert_eq!(
                self.s.poll_timeout(),
                None,
                "timer armed without a connection"
            );
        }
    }
}
