//! Shared helpers: a hub with three identities, an MQTT encoder, CONNECT
//! builders and an output drain that decodes every packet the hub sent.

pub use bytes::BytesMut;
pub use hubwire_emulator::core::auth::make_token;
pub use hubwire_emulator::core::registry::IdentityId;
pub use hubwire_emulator::core::time::iso8601;
pub use hubwire_emulator::core::{
    malformed_bytes, parse_fault, C2dMessage, ConnId, Fault, Hub, HubConfig, MalformedVariant,
    MethodResult, Output, ServiceError,
};
pub use mqttbytes::v4::{
    self, Connect, ConnectReturnCode, LastWill, Packet, PubAck, Publish, Subscribe,
};
pub use mqttbytes::QoS;
pub use serde_json::json;

pub const HOST: &str = "h.example";
pub const KEY: &str = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";
pub const KEY2: &str = "ICEiIyQlJicoKSorLC0uLzAxMjM0NTY3ODk6Ozw9Pj8=";
pub const SERVICE_KEY: &str = "QEFCQ0RFRkdISUpLTE1OT1BRUlNUVVZXWFlaW1xdXl8=";
pub const T0: u64 = 1_800_000_000_000; // ms
pub const EXP: u64 = 1_800_003_600; // s, one hour after T0

pub fn hub() -> Hub {
    let mut h = Hub::new(HubConfig {
        host_name: HOST.into(),
        service_key: SERVICE_KEY.into(),
        max_telemetry: 100,
    });
    for id in [
        IdentityId::device("d1"),
        IdentityId::device("d2"),
        IdentityId::module("d1", "m1"),
    ] {
        add_identity(&mut h, &id, KEY2);
    }
    h
}

/// Creates `id` (enabled) with primary key [`KEY`] and this secondary key.
pub fn add_identity(h: &mut Hub, id: &IdentityId, secondary: &str) {
    h.put_identity(
        T0,
        id,
        None,
        Some((KEY.into(), secondary.into())),
        (KEY.into(), KEY.into()),
    )
    .unwrap();
}

/// Whether the hub reports the device as connected.
pub fn is_connected(h: &Hub, device: &str) -> bool {
    h.connection_info(&IdentityId::device(device))
        .unwrap()
        .connected
}

pub fn encode(p: Packet) -> Vec<u8> {
    let mut b = BytesMut::new();
    match p {
        Packet::Connect(x) => x.write(&mut b),
        Packet::Publish(x) => x.write(&mut b),
        Packet::PubAck(x) => x.write(&mut b),
        Packet::Subscribe(x) => x.write(&mut b),
        Packet::PingReq => v4::PingReq.write(&mut b),
        Packet::Disconnect => v4::Disconnect.write(&mut b),
        other => panic!("test encoder lacks {other:?}"),
    }
    .unwrap();
    b.to_vec()
}

pub fn token(resource: &str, key: &str, expiry: u64) -> String {
    make_token(resource, key, None, expiry).unwrap()
}

pub fn connect_with(
    client_id: &str,
    username: &str,
    password: &str,
    clean: bool,
    keep_alive: u16,
) -> Vec<u8> {
    let mut c = Connect::new(client_id);
    c.keep_alive = keep_alive;
    c.clean_session = clean;
    c.set_login(username, password);
    encode(Packet::Connect(c))
}

pub fn connect_device(id: &str, clean: bool) -> Vec<u8> {
    let user = format!("{HOST}/{id}/?api-version=2021-04-12");
    let resource = match id.split_once('/') {
        Some((d, m)) => format!("{HOST}/devices/{d}/modules/{m}"),
        None => format!("{HOST}/devices/{id}"),
    };
    connect_with(id, &user, &token(&resource, KEY, EXP), clean, 60)
}

/// Drains outputs; returns (packets sent to `conn`, close of `conn`, everything else).
pub fn drain(h: &mut Hub, conn: ConnId) -> (Vec<Packet>, Option<bool>, Vec<Output>) {
    let (mut pkts, mut closed, mut rest) = (Vec::new(), None, Vec::new());
    while let Some(o) = h.poll_output() {
        match o {
            Output::Transmit { conn: c, bytes } if c == conn => {
                let mut b = BytesMut::from(&bytes[..]);
                while !b.is_empty() {
                    pkts.push(v4::read(&mut b, 1 << 20).expect("hub sent a valid packet"));
                }
            }
            Output::Close { conn: c, graceful } if c == conn => closed = Some(graceful),
            other => rest.push(other),
        }
    }
    (pkts, closed, rest)
}

pub fn connack(pkts: &[Packet]) -> (ConnectReturnCode, bool) {
    match pkts.first() {
        Some(Packet::ConnAck(a)) => (a.code, a.session_present),
        other => panic!("expected CONNACK, got {other:?}"),
    }
}

/// Opens a connection, sends CONNECT, returns the conn and the CONNACK code.
pub fn open(h: &mut Hub, now: u64, connect: &[u8]) -> (ConnId, ConnectReturnCode) {
    let c = h.connection_opened(now);
    h.handle_bytes(now, c, connect);
    let (pkts, closed, _) = drain(h, c);
    let (code, _) = connack(&pkts);
    assert_eq!(
        closed.is_some(),
        code != ConnectReturnCode::Success,
        "refusals close, accepts keep open"
    );
    (c, code)
}

pub fn online(h: &mut Hub, id: &str, filters: &[&str]) -> ConnId {
    let (c, code) = open(h, T0, &connect_device(id, false));
    assert_eq!(code, ConnectReturnCode::Success);
    if !filters.is_empty() {
        subscribe(h, c, filters);
    }
    c
}

pub fn subscribe(h: &mut Hub, c: ConnId, filters: &[&str]) -> Vec<Packet> {
    let mut s = Subscribe::empty_subscribe();
    s.pkid = 7;
    for f in filters {
        s.add(f.to_string(), QoS::AtLeastOnce);
    }
    h.handle_bytes(T0, c, &encode(Packet::Subscribe(s)));
    drain(h, c).0
}

pub fn publish(
    h: &mut Hub,
    now: u64,
    c: ConnId,
    topic: &str,
    qos: QoS,
    pkid: u16,
    payload: &[u8],
) -> (Vec<Packet>, Option<bool>, Vec<Output>) {
    let mut p = Publish::new(topic, qos, payload.to_vec());
    p.pkid = pkid;
    h.handle_bytes(now, c, &encode(Packet::Publish(p)));
    drain(h, c)
}

pub fn publishes(pkts: &[Packet]) -> Vec<&Publish> {
    pkts.iter()
        .filter_map(|p| {
            if let Packet::Publish(p) = p {
                Some(p)
            } else {
                None
            }
        })
        .collect()
}
