//! The fake-clock harness shared by the DPS client tests: a client, the clock, what it
//! sent (decoded back with mqttbytes) and what it reported; the "DPS server" is
//! hand-built packets.

use bytes::BytesMut;
use mqttbytes::v4::{
    self, ConnAck, ConnectReturnCode, Packet, Publish, SubAck, SubscribeReasonCode,
};
use mqttbytes::QoS as WireQoS;

use crate::dps::{Client, Config, DpsEvent, Error};

pub(super) const T0: u64 = 1_700_000_000_000;
pub(super) const KEY: &str = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";
pub(super) const SCOPE: &str = "0ne00000A0A";
pub(super) const REG: &str = "dev-01";
pub(super) const OP: &str = "4.d0a671905ea5b2c8.42d78160-4c78-479e-8be7-61d5e55dac0d";

pub(super) fn config() -> Config {
    let mut c = Config::from_symmetric_key(SCOPE, REG, KEY).unwrap();
    c.url = Some("ws://127.0.0.1:1/$iothub/websocket".into());
    c.keep_alive_secs = 0;
    c.random_seed = 7;
    c.request_id_seed = 100;
    c.client_version = Some("hubwire/test".into());
    c
}

pub(super) fn assigned_body(hub: &str, device: &str) -> String {
    format!(
        r#"{{"operationId":"{OP}","status":"assigned","registrationState":{{"registrationId":"{REG}","createdDateTimeUtc":"2023-11-14T22:13:20.123Z","assignedHub":"{hub}","deviceId":"{device}","status":"assigned","substatus":"initialAssignment","lastUpdatedDateTimeUtc":"2023-11-14T22:13:20.456Z","etag":"IjEi"}}}}"#
    )
}

pub(super) fn assigning_body() -> String {
    format!(r#"{{"operationId":"{OP}","status":"assigning"}}"#)
}

pub(super) fn encode(p: &Packet) -> Vec<u8> {
    let mut b = BytesMut::new();
    match p {
        Packet::ConnAck(x) => x.write(&mut b).unwrap(),
        Packet::Publish(x) => x.write(&mut b).unwrap(),
        Packet::SubAck(x) => x.write(&mut b).unwrap(),
        other => panic!("test server does not send {other:?}"),
    };
    b.to_vec()
}

/// A client under test, the fake clock, and what it has sent and reported.
pub(super) struct H {
    pub c: Client,
    pub now: u64,
    sent: Vec<Packet>,
    events: Vec<DpsEvent>,
}

impl H {
    pub(super) fn new(config: Config) -> H {
        H {
            c: Client::new(config, T0).unwrap(),
            now: T0,
            sent: Vec::new(),
            events: Vec::new(),
        }
    }

    pub(super) fn drain(&mut self) {
        while let Some(bytes) = self.c.poll_transmit() {
            let mut buf = BytesMut::from(&bytes[..]);
            while !buf.is_empty() {
                self.sent
                    .push(v4::read(&mut buf, 1 << 20).expect("client sent a valid packet"));
            }
        }
        while let Some(e) = self.c.poll_event() {
            self.events.push(e);
        }
    }

    pub(super) fn take_sent(&mut self) -> Vec<Packet> {
        self.drain();
        std::mem::take(&mut self.sent)
    }

    pub(super) fn take_events(&mut self) -> Vec<DpsEvent> {
        self.drain();
        std::mem::take(&mut self.events)
    }

    pub(super) fn feed(&mut self, p: Packet) {
        let bytes = encode(&p);
        self.c.handle_bytes(self.now, &bytes);
        self.drain();
    }

    /// Moves the clock to `t`, firing every timer due on the way.
    pub(super) fn run_until(&mut self, t: u64) {
        while let Some(next) = self.c.poll_timeout() {
            if next > t {
                break;
            }
            self.now = self.now.max(next);
            self.c.handle_timeout(self.now);
            self.drain();
        }
        self.now = t;
        self.c.handle_timeout(t);
        self.drain();
    }

    /// Expects `OpenTransport`, opens it, expects CONNECT, answers CONNACK(code).
    pub(super) fn open_and_connack(&mut self, code: ConnectReturnCode) -> v4::Connect {
        let ev = self.take_events();
        assert!(
            ev.iter()
                .any(|e| matches!(e, DpsEvent::OpenTransport { .. })),
            "no OpenTransport in {ev:?}"
        );
        self.c.transport_opened(self.now);
        let connect = match self.take_sent().as_slice() {
            [Packet::Connect(c)] => c.clone(),
            other => panic!("expected CONNECT, got {other:?}"),
        };
        self.feed(Packet::ConnAck(ConnAck::new(code, false)));
        connect
    }

    /// Expects SUBSCRIBE `$dps/registrations/res/#` and grants it.
    pub(super) fn suback(&mut self) {
        let sent = self.take_sent();
        let Some(Packet::Subscribe(s)) = sent.first() else {
            panic!("expected SUBSCRIBE, got {sent:?}")
        };
        assert_eq!(s.filters.len(), 1);
        assert_eq!(s.filters[0].path, "$dps/registrations/res/#");
        assert_eq!(s.filters[0].qos, WireQoS::AtLeastOnce);
        let pkid = s.pkid;
        self.sent = sent[1..].to_vec();
        self.feed(Packet::SubAck(SubAck::new(
            pkid,
            vec![SubscribeReasonCode::Success(WireQoS::AtLeastOnce)],
        )));
    }

    /// The one PUBLISH sent since the last look: (topic, body).
    pub(super) fn request(&mut self) -> (String, String) {
        let sent = self.take_sent();
        match sent.as_slice() {
            [Packet::Publish(p)] => {
                assert_eq!(p.qos, WireQoS::AtMostOnce);
                (
                    p.topic.clone(),
                    String::from_utf8(p.payload.to_vec()).unwrap(),
                )
            }
            other => panic!("expected one PUBLISH, got {other:?}"),
        }
    }

    pub(super) fn rid_of(topic: &str) -> String {
        let q = topic.split_once("?$rid=").expect("topic has $rid").1;
        q.split('&').next().unwrap().to_owned()
    }

    /// Answers the request on `topic` with `status` (+ `retry-after`) and `body`.
    pub(super) fn answer(
        &mut self,
        topic: &str,
        status: u16,
        retry_after: Option<u64>,
        body: &str,
    ) {
        let mut t = format!(
            "$dps/registrations/res/{status}/?$rid={}",
            Self::rid_of(topic)
        );
        if let Some(r) = retry_after {
            t.push_str(&format!("&retry-after={r}"));
        }
        self.feed(Packet::Publish(Publish::new(
            t,
            WireQoS::AtMostOnce,
            body.as_bytes().to_vec(),
        )));
    }

    /// register → CONNECT → SUBACK; returns the CONNECT and the register (topic, body).
    pub(super) fn start(&mut self) -> (v4::Connect, (String, String)) {
        self.c.register(self.now);
        let connect = self.open_and_connack(ConnectReturnCode::Success);
        self.suback();
        (connect, self.request())
    }

    pub(super) fn failed(&mut self) -> Error {
        let ev = self.take_events();
        let fails: Vec<&Error> = ev
            .iter()
            .filter_map(|e| match e {
                DpsEvent::Failed(e) => Some(e),
                _ => None,
            })
            .collect();
        assert_eq!(fails.len(), 1, "exactly one Failed in {ev:?}");
        assert!(
            ev.iter().all(|e| !matches!(e, DpsEvent::Assigned(_))),
            "{ev:?}"
        );
        fails[0].clone()
    }
}
