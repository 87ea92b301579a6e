//! The harness of the scripted `hub::Client` tests (client.rs, connect.rs): a fake
//! clock, a "server" of hand-built mqttbytes packets, and everything the client
//! transmits decoded back.
#![allow(unused_imports)]

pub(super) use bytes::BytesMut;
pub(super) use mqttbytes::v4::{
    self, ConnAck, ConnectReturnCode, Packet, PubAck, Publish, SubAck, SubscribeReasonCode,
};
pub(super) use mqttbytes::QoS as WireQoS;

pub(super) use crate::hub::error::{
    ConnectionStringError, IdError, IdKind, TokenError, TransportError,
};
pub(super) use crate::hub::retry::Backoff;
pub(super) use crate::hub::{
    sas, Client, ClientConfig, ConnectionState, Error, HubEvent, OpId, OpResult, Telemetry,
};
pub(super) use crate::mqtt::QoS;

pub(super) const KEY: &str = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";
pub(super) const T0: u64 = 1_700_000_000_000;

pub(super) fn cs() -> String {
    format!("HostName=myhub.azure-devices.net;DeviceId=dev1;SharedAccessKey={KEY}")
}

pub(super) fn config() -> ClientConfig {
    let mut c = ClientConfig::from_connection_string(&cs()).unwrap();
    c.keep_alive_secs = 0;
    c.url = Some("ws://127.0.0.1:1/$iothub/websocket".into());
    c.random_seed = 7;
    c.request_id_seed = 100;
    c
}

pub(super) fn encode(p: &Packet) -> Vec<u8> {
    let mut b = BytesMut::new();
    match p {
        Packet::ConnAck(x) => x.write(&mut b).unwrap(),
        Packet::Publish(x) => x.write(&mut b).unwrap(),
        Packet::PubAck(x) => x.write(&mut b).unwrap(),
        Packet::SubAck(x) => x.write(&mut b).unwrap(),
        Packet::PingResp => {
            b.extend_from_slice(&[0xd0, 0]);
            2
        }
        other => panic!("test server does not send {other:?}"),
    };
    b.to_vec()
}

/// A client under test, the fake clock, and what it has sent and reported.
pub(super) struct H {
    pub(super) c: Client,
    pub(super) now: u64,
    pub(super) sent: Vec<Packet>,
    pub(super) events: Vec<HubEvent>,
}

impl H {
    pub(super) fn new(config: ClientConfig) -> H {
        let c = Client::new(config, T0).unwrap();
        H {
            c,
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

    pub(super) fn take_events(&mut self) -> Vec<HubEvent> {
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
                .any(|e| matches!(e, HubEvent::OpenTransport { .. })),
            "no OpenTransport in {ev:?}"
        );
        self.c.transport_opened(self.now);
        let sent = self.take_sent();
        let connect = match sent.as_slice() {
            [Packet::Connect(c)] => c.clone(),
            other => panic!("expected CONNECT, got {other:?}"),
        };
        self.feed(Packet::ConnAck(ConnAck::new(code, false)));
        connect
    }

    pub(super) fn connect(&mut self) -> v4::Connect {
        self.c.connect(self.now).unwrap();
        self.open_and_connack(ConnectReturnCode::Success)
    }

    pub(super) fn suback_all(&mut self) -> Vec<String> {
        let mut filters = Vec::new();
        for p in self.take_sent() {
            match p {
                Packet::Subscribe(s) => {
                    filters.extend(s.filters.iter().map(|f| f.path.clone()));
                    let codes = s
                        .filters
                        .iter()
                        .map(|f| SubscribeReasonCode::Success(f.qos))
                        .collect();
                    self.feed(Packet::SubAck(SubAck::new(s.pkid, codes)));
                }
                other => self.sent.push(other),
            }
        }
        filters
    }
}

pub(super) fn publishes(sent: &[Packet]) -> Vec<&Publish> {
    sent.iter()
        .filter_map(|p| match p {
            Packet::Publish(p) => Some(p),
            _ => None,
        })
        .collect()
}

pub(super) fn completed(events: &[HubEvent]) -> Vec<(OpId, Result<OpResult, Error>)> {
    events
        .iter()
        .filter_map(|e| match e {
            HubEvent::Completed { op, result } => Some((*op, result.clone())),
            _ => None,
        })
        .collect()
}

pub(super) fn rid_of(topic: &str) -> String {
    topic
        .split("$rid=")
        .nth(1)
        .unwrap()
        .split('&')
        .next()
        .unwrap()
        .to_owned()
}

pub(super) fn twin_response(status: u16, rid: &str, body: &str) -> Packet {
    Packet::Publish(Publish::new(
        crate::hub::twin::response_topic(status, rid, None),
        WireQoS::AtMostOnce,
        body,
    ))
}
