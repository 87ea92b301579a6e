//! The hub core driven by bytes and a fake clock: authentication, sessions,
//! telemetry, twins, methods, C2D and every fault. No sockets.

use bytes::BytesMut;
use hubwire_emulator::core::auth::make_token;
use hubwire_emulator::core::registry::IdentityId;
use hubwire_emulator::core::{
    malformed_bytes, parse_fault, C2dMessage, ConnId, Fault, Hub, HubConfig, MalformedVariant,
    MethodResult, Output, ServiceError,
};
use mqttbytes::v4::{
    self, Connect, ConnectReturnCode, LastWill, Packet, PubAck, Publish, Subscribe,
};
use mqttbytes::QoS;
use serde_json::json;

const HOST: &str = "h.example";
const KEY: &str = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";
const KEY2: &str = "ICEiIyQlJicoKSorLC0uLzAxMjM0NTY3ODk6Ozw9Pj8=";
const SERVICE_KEY: &str = "QEFCQ0RFRkdISUpLTE1OT1BRUlNUVVZXWFlaW1xdXl8=";
const T0: u64 = 1_800_000_000_000; // ms
const EXP: u64 = 1_800_003_600; // s, one hour after T0

fn hub() -> Hub {
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
        h.put_identity(
            T0,
            &id,
            None,
            Some((KEY.into(), KEY2.into())),
            (KEY.into(), KEY.into()),
        )
        .unwrap();
    }
    h
}

fn encode(p: Packet) -> Vec<u8> {
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

fn token(resource: &str, key: &str, expiry: u64) -> String {
    make_token(resource, key, None, expiry).unwrap()
}

fn connect_with(
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

fn connect_device(id: &str, clean: bool) -> Vec<u8> {
    let user = format!("{HOST}/{id}/?api-version=2021-04-12");
    let resource = match id.split_once('/') {
        Some((d, m)) => format!("{HOST}/devices/{d}/modules/{m}"),
        None => format!("{HOST}/devices/{id}"),
    };
    connect_with(id, &user, &token(&resource, KEY, EXP), clean, 60)
}

/// Drains outputs; returns (packets sent to `conn`, close of `conn`, everything else).
fn drain(h: &mut Hub, conn: ConnId) -> (Vec<Packet>, Option<bool>, Vec<Output>) {
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

fn connack(pkts: &[Packet]) -> (ConnectReturnCode, bool) {
    match pkts.first() {
        Some(Packet::ConnAck(a)) => (a.code, a.session_present),
        other => panic!("expected CONNACK, got {other:?}"),
    }
}

/// Opens a connection, sends CONNECT, returns the conn and the CONNACK code.
fn open(h: &mut Hub, now: u64, connect: &[u8]) -> (ConnId, ConnectReturnCode) {
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

fn online(h: &mut Hub, id: &str, filters: &[&str]) -> ConnId {
    let (c, code) = open(h, T0, &connect_device(id, false));
    assert_eq!(code, ConnectReturnCode::Success);
    if !filters.is_empty() {
        subscribe(h, c, filters);
    }
    c
}

fn subscribe(h: &mut Hub, c: ConnId, filters: &[&str]) -> Vec<Packet> {
    let mut s = Subscribe::empty_subscribe();
    s.pkid = 7;
    for f in filters {
        s.add(f.to_string(), QoS::AtLeastOnce);
    }
    h.handle_bytes(T0, c, &encode(Packet::Subscribe(s)));
    drain(h, c).0
}

fn publish(
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

fn publishes(pkts: &[Packet]) -> Vec<&Publish> {
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

// ------------------------------------------------------------------ authentication

#[test]
fn connect_valid_device_and_module_succeeds() {
    let mut h = hub();
    assert_eq!(
        open(&mut h, T0, &connect_device("d1", false)).1,
        ConnectReturnCode::Success
    );
    assert_eq!(
        open(&mut h, T0, &connect_device("d1/m1", false)).1,
        ConnectReturnCode::Success
    );
    assert!(
        h.connection_info(&IdentityId::device("d1"))
            .unwrap()
            .connected
    );
    assert!(
        h.connection_info(&IdentityId::module("d1", "m1"))
            .unwrap()
            .connected
    );
}

#[test]
fn connect_secondary_key_succeeds() {
    let mut h = hub();
    let pw = token(&format!("{HOST}/devices/d1"), KEY2, EXP);
    let c = connect_with("d1", &format!("{HOST}/d1/?api-version=1"), &pw, true, 0);
    assert_eq!(open(&mut h, T0, &c).1, ConnectReturnCode::Success);
}

#[test]
fn connect_node_lower_case_escape_in_sr_succeeds() {
    let mut h = hub();
    let id = IdentityId::device("dev*");
    h.put_identity(
        T0,
        &id,
        None,
        Some((KEY.into(), KEY.into())),
        (KEY.into(), KEY.into()),
    )
    .unwrap();
    // Node's encodeURIComponent leaves '*' alone and the SDK then writes %2a.
    let sr = format!("{HOST}%2Fdevices%2Fdev%2a");
    let sig = hubwire_emulator::core::auth::sign(KEY, &sr, EXP).unwrap();
    let pw = format!(
        "SharedAccessSignature sr={sr}&sig={}&se={EXP}",
        hubwire_emulator::core::props::percent_encode(&sig)
    );
    let c = connect_with(
        "dev*",
        &format!("{HOST}/dev*/?api-version=1"),
        &pw,
        false,
        0,
    );
    assert_eq!(open(&mut h, T0, &c).1, ConnectReturnCode::Success);
}

#[test]
fn connect_node_capture_username_succeeds() {
    let mut h = hub();
    let user = format!("{HOST}/d1/?api-version=2021-04-12&DeviceClientType=azure-iot-device%2F1.18.4%20(node%20v20.20.2%3B%20Debian%2012%3B%20x64)");
    let c = connect_with(
        "d1",
        &user,
        &token(&format!("{HOST}/devices/d1"), KEY, EXP),
        false,
        180,
    );
    assert_eq!(open(&mut h, T0, &c).1, ConnectReturnCode::Success);
}

#[test]
fn connect_wrong_key_fails() {
    let mut h = hub();
    let pw = token(&format!("{HOST}/devices/d1"), SERVICE_KEY, EXP);
    let c = connect_with("d1", &format!("{HOST}/d1/?api-version=1"), &pw, false, 0);
    assert_eq!(open(&mut h, T0, &c).1, ConnectReturnCode::NotAuthorized);
    assert_eq!(
        h.connection_info(&IdentityId::device("d1"))
            .unwrap()
            .connections,
        0
    );
}

#[test]
fn connect_expired_token_fails() {
    let mut h = hub();
    let pw = token(&format!("{HOST}/devices/d1"), KEY, T0 / 1000);
    let c = connect_with("d1", &format!("{HOST}/d1/?api-version=1"), &pw, false, 0);
    assert_eq!(open(&mut h, T0, &c).1, ConnectReturnCode::NotAuthorized);
}

#[test]
fn connect_token_for_other_identity_fails() {
    let mut h = hub();
    // d2 has the same key, so only the decoded sr tells them apart.
    let pw = token(&format!("{HOST}/devices/d2"), KEY, EXP);
    let c = connect_with("d1", &format!("{HOST}/d1/?api-version=1"), &pw, false, 0);
    assert_eq!(open(&mut h, T0, &c).1, ConnectReturnCode::NotAuthorized);
    let pw = token(&format!("{HOST}/devices/d1"), KEY, EXP);
    let c = connect_with(
        "d1/m1",
        &format!("{HOST}/d1/m1/?api-version=1"),
        &pw,
        false,
        0,
    );
    assert_eq!(open(&mut h, T0, &c).1, ConnectReturnCode::NotAuthorized);
}

#[test]
fn connect_bad_username_fails() {
    let mut h = hub();
    let pw = token(&format!("{HOST}/devices/d1"), KEY, EXP);
    for user in [
        "other.host/d1/?api-version=1",
        &format!("{HOST}/d2/?api-version=1"),
        "d1",
    ] {
        let c = connect_with("d1", user, &pw, false, 0);
        assert_eq!(
            open(&mut h, T0, &c).1,
            ConnectReturnCode::BadUserNamePassword,
            "{user}"
        );
    }
    let c = connect_with(
        "d1",
        &format!("{HOST}/d1/?api-version=1"),
        "not a token",
        false,
        0,
    );
    assert_eq!(
        open(&mut h, T0, &c).1,
        ConnectReturnCode::BadUserNamePassword
    );
}

#[test]
fn connect_unknown_device_fails() {
    let mut h = hub();
    assert_eq!(
        open(&mut h, T0, &connect_device("nobody", false)).1,
        ConnectReturnCode::NotAuthorized
    );
}

#[test]
fn connect_disabled_device_fails() {
    let mut h = hub();
    h.put_identity(
        T0,
        &IdentityId::device("d1"),
        Some(false),
        None,
        (KEY.into(), KEY.into()),
    )
    .unwrap();
    assert_eq!(
        open(&mut h, T0, &connect_device("d1", false)).1,
        ConnectReturnCode::ServiceUnavailable
    );
}

#[test]
fn connect_service_policy_token_succeeds() {
    let mut h = hub();
    let pw = make_token(HOST, SERVICE_KEY, Some("iothubowner"), EXP).unwrap();
    let c = connect_with("d1", &format!("{HOST}/d1/?api-version=1"), &pw, false, 0);
    assert_eq!(open(&mut h, T0, &c).1, ConnectReturnCode::Success);
    let pw = make_token(HOST, KEY, Some("somepolicy"), EXP).unwrap();
    let c = connect_with("d2", &format!("{HOST}/d2/?api-version=1"), &pw, false, 0);
    assert_eq!(open(&mut h, T0, &c).1, ConnectReturnCode::NotAuthorized);
}

#[test]
fn connect_split_at_every_byte_succeeds() {
    let mut h = hub();
    let bytes = connect_device("d1", false);
    let c = h.connection_opened(T0);
    for b in &bytes {
        h.handle_bytes(T0, c, std::slice::from_ref(b));
    }
    assert_eq!(connack(&drain(&mut h, c).0).0, ConnectReturnCode::Success);
}

#[test]
fn connect_protocol_level_3_fails() {
    let mut h = hub();
    let mut bytes = connect_device("d1", false);
    let level = bytes.windows(4).position(|w| w == b"MQTT").unwrap() + 4;
    bytes[level] = 3;
    let c = h.connection_opened(T0);
    h.handle_bytes(T0, c, &bytes);
    let (pkts, closed, _) = drain(&mut h, c);
    assert_eq!(connack(&pkts).0, ConnectReturnCode::RefusedProtocolVersion);
    assert!(closed.is_some());
}

#[test]
fn publish_before_connect_fails() {
    let mut h = hub();
    let c = h.connection_opened(T0);
    let (pkts, closed, _) = publish(
        &mut h,
        T0,
        c,
        "devices/d1/messages/events/",
        QoS::AtMostOnce,
        0,
        b"x",
    );
    assert!(pkts.is_empty());
    assert_eq!(closed, Some(false));
}

#[test]
fn token_expiry_closes_connection_succeeds() {
    let mut h = hub();
    let c = online(&mut h, "d1", &[]);
    assert_eq!(h.poll_timeout(), Some(T0 + 90_000)); // keep-alive 60 s * 1.5 comes first
    h.handle_bytes(T0 + 80_000, c, &encode(Packet::PingReq));
    assert!(matches!(drain(&mut h, c).0[..], [Packet::PingResp]));
    // Keep pinging; the token (EXP) still ends it.
    let mut now = T0 + 80_000;
    while now < EXP * 1000 - 50_000 {
        now += 50_000;
        h.handle_bytes(now, c, &encode(Packet::PingReq));
        h.handle_timeout(now);
        assert_eq!(drain(&mut h, c).1, None);
    }
    h.handle_timeout(EXP * 1000);
    assert_eq!(drain(&mut h, c).1, Some(true));
    assert!(
        !h.connection_info(&IdentityId::device("d1"))
            .unwrap()
            .connected
    );
}

#[test]
fn keepalive_silence_closes_connection_succeeds() {
    let mut h = hub();
    let c = online(&mut h, "d1", &[]);
    h.handle_timeout(T0 + 89_999);
    assert_eq!(drain(&mut h, c).1, None);
    h.handle_timeout(T0 + 90_000);
    assert_eq!(drain(&mut h, c).1, Some(true));
}

#[test]
fn second_connection_drops_first_succeeds() {
    let mut h = hub();
    let first = online(&mut h, "d1", &[]);
    let second = h.connection_opened(T0);
    h.handle_bytes(T0, second, &connect_device("d1", false));
    let mut first_closed = false;
    let mut second_ok = false;
    while let Some(o) = h.poll_output() {
        match o {
            Output::Close { conn, .. } if conn == first => first_closed = true,
            Output::Transmit { conn, bytes } if conn == second => {
                second_ok = bytes[..2] == [0x20, 0x02] && bytes[3] == 0
            }
            _ => {}
        }
    }
    assert!(first_closed && second_ok);
    let info = h.connection_info(&IdentityId::device("d1")).unwrap();
    assert!(info.connected);
    assert_eq!(info.connections, 2);
}

// ------------------------------------------------------------------ telemetry and topics

#[test]
fn telemetry_recorded_with_decoded_properties_succeeds() {
    let mut h = hub();
    let c = online(&mut h, "d1", &[]);
    let topic = "devices/d1/messages/events/%24.mid=mid%201%26x%3Dy&%24.cid=cid%2F1&%24.ct=application%2Fjson&%24.ce=utf-8&my%20key=a%20b&subdelims=!'()*~-_.&plus=1%2B2&%24.sub=thermostat1";
    let (pkts, closed, rest) =
        publish(&mut h, T0 + 5, c, topic, QoS::AtLeastOnce, 9, br#"{"t":2}"#);
    assert_eq!(closed, None);
    assert!(matches!(pkts[..], [Packet::PubAck(PubAck { pkid: 9 })]));
    assert_eq!(rest, vec![Output::Telemetry { seq: 1 }]);
    let t = h.telemetry_json(0, Some("d1"), 10);
    let item = &t["items"][0];
    assert_eq!(item["body"], r#"{"t":2}"#);
    assert_eq!(item["systemProperties"]["messageId"], "mid 1&x=y");
    assert_eq!(item["systemProperties"]["correlationId"], "cid/1");
    assert_eq!(item["systemProperties"]["contentType"], "application/json");
    assert_eq!(item["systemProperties"]["component"], "thermostat1");
    assert_eq!(
        item["properties"],
        json!({"my key": "a b", "subdelims": "!'()*~-_.", "plus": "1+2"})
    );
    assert_eq!(item["enqueuedTimeUtc"], "2027-01-15T08:00:00.005Z");
    assert_eq!(t["next"], 1);
}

#[test]
fn telemetry_module_and_qos0_succeeds() {
    let mut h = hub();
    let c = online(&mut h, "d1/m1", &[]);
    let (pkts, closed, _) = publish(
        &mut h,
        T0,
        c,
        "devices/d1/modules/m1/messages/events/",
        QoS::AtMostOnce,
        0,
        b"x",
    );
    assert!(pkts.is_empty() && closed.is_none());
    assert_eq!(h.telemetry_json(0, None, 10)["items"][0]["moduleId"], "m1");
}

#[test]
fn telemetry_retain_recorded_not_retained_succeeds() {
    let mut h = hub();
    let c = online(&mut h, "d1", &[]);
    let mut p = Publish::new(
        "devices/d1/messages/events/",
        QoS::AtMostOnce,
        b"r".to_vec(),
    );
    p.retain = true;
    h.handle_bytes(T0, c, &encode(Packet::Publish(p)));
    let _ = drain(&mut h, c);
    assert_eq!(
        h.telemetry_json(0, None, 10)["items"][0]["properties"]["x-opt-retain"],
        "true"
    );
}

#[test]
fn publish_qos2_closes_connection_fails() {
    let mut h = hub();
    let c = online(&mut h, "d1", &[]);
    let (_, closed, rest) = publish(
        &mut h,
        T0,
        c,
        "devices/d1/messages/events/",
        QoS::ExactlyOnce,
        3,
        b"x",
    );
    assert_eq!(closed, Some(false));
    assert!(rest.is_empty(), "not recorded");
}

#[test]
fn publish_other_device_topic_closes_connection_fails() {
    let mut h = hub();
    let c = online(&mut h, "d1", &[]);
    let (_, closed, _) = publish(
        &mut h,
        T0,
        c,
        "devices/d2/messages/events/",
        QoS::AtLeastOnce,
        3,
        b"x",
    );
    assert_eq!(closed, Some(false));
}

#[test]
fn publish_malformed_property_bag_closes_connection_fails() {
    let mut h = hub();
    let c = online(&mut h, "d1", &[]);
    let (_, closed, rest) = publish(
        &mut h,
        T0,
        c,
        "devices/d1/messages/events/k=%zz",
        QoS::AtLeastOnce,
        3,
        b"x",
    );
    assert_eq!(closed, Some(false));
    assert!(rest.is_empty(), "not recorded");
}

#[test]
fn telemetry_security_message_interface_id_succeeds() {
    let mut h = hub();
    let c = online(&mut h, "d1", &[]);
    let topic = "devices/d1/messages/events/%24.ifid=urn%3Aazureiot%3ASecurity%3ASecurityAgent%3A1";
    let (pkts, ..) = publish(&mut h, T0, c, topic, QoS::AtLeastOnce, 3, b"sec");
    assert!(matches!(pkts[..], [Packet::PubAck(_)]));
    let t = h.telemetry_json(0, None, 10);
    assert_eq!(
        t["items"][0]["systemProperties"]["interfaceId"],
        "urn:azureiot:Security:SecurityAgent:1"
    );
}

#[test]
fn publish_oversized_message_closes_connection_fails() {
    let mut h = hub();
    let c = online(&mut h, "d1", &[]);
    let big = vec![b'x'; 256 * 1024 + 1];
    let (_, closed, _) = publish(
        &mut h,
        T0,
        c,
        "devices/d1/messages/events/",
        QoS::AtLeastOnce,
        3,
        &big,
    );
    assert_eq!(closed, Some(false));
}

#[test]
fn subscribe_documented_topics_succeeds_and_others_fail() {
    let mut h = hub();
    let c = online(&mut h, "d1", &[]);
    let pkts = subscribe(
        &mut h,
        c,
        &[
            "devices/d1/messages/devicebound/#",
            "$iothub/twin/res/#",
            "$iothub/twin/PATCH/properties/desired/#",
            "$iothub/methods/POST/#",
            "devices/d2/messages/devicebound/#",
            "#",
            "$iothub/twin/res/200",
        ],
    );
    let Packet::SubAck(a) = &pkts[0] else {
        panic!("{pkts:?}")
    };
    use mqttbytes::v4::SubscribeReasonCode::{Failure, Success};
    assert_eq!(
        a.return_codes,
        vec![
            Success(QoS::AtLeastOnce),
            Success(QoS::AtLeastOnce),
            Success(QoS::AtLeastOnce),
            Success(QoS::AtLeastOnce),
            Failure,
            Failure,
            Failure
        ]
    );
}

#[test]
fn will_published_on_abrupt_close_succeeds() {
    let mut h = hub();
    let mut c = Connect::new("d1");
    c.keep_alive = 0;
    c.set_login(
        format!("{HOST}/d1/?api-version=1"),
        token(&format!("{HOST}/devices/d1"), KEY, EXP),
    );
    c.last_will = Some(LastWill::new(
        "devices/d1/messages/events/k=v",
        "gone",
        QoS::AtLeastOnce,
        false,
    ));
    let (conn, code) = open(&mut h, T0, &encode(Packet::Connect(c)));
    assert_eq!(code, ConnectReturnCode::Success);
    h.connection_closed(T0 + 1, conn);
    let item = &h.telemetry_json(0, None, 10)["items"][0];
    assert_eq!(item["body"], "gone");
    assert_eq!(
        item["properties"],
        json!({"k": "v", "iothub-MessageType": "Will"})
    );
}

#[test]
fn will_not_published_after_disconnect_succeeds() {
    let mut h = hub();
    let mut c = Connect::new("d1");
    c.set_login(
        format!("{HOST}/d1/?api-version=1"),
        token(&format!("{HOST}/devices/d1"), KEY, EXP),
    );
    c.last_will = Some(LastWill::new(
        "devices/d1/messages/events/",
        "gone",
        QoS::AtLeastOnce,
        false,
    ));
    let (conn, _) = open(&mut h, T0, &encode(Packet::Connect(c)));
    h.handle_bytes(T0, conn, &encode(Packet::Disconnect));
    assert_eq!(drain(&mut h, conn).1, Some(true));
    assert_eq!(h.telemetry_json(0, None, 10)["items"], json!([]));
}

// ------------------------------------------------------------------ twins

#[test]
fn twin_get_and_reported_patch_versions_succeeds() {
    let mut h = hub();
    let c = online(&mut h, "d1", &["$iothub/twin/res/#"]);
    // The Node SDK sends a single space as the GET body, at QoS 0.
    let (pkts, ..) = publish(
        &mut h,
        T0,
        c,
        "$iothub/twin/GET/?$rid=44b7",
        QoS::AtMostOnce,
        0,
        b" ",
    );
    let p = publishes(&pkts)[0];
    assert_eq!(p.topic, "$iothub/twin/res/200/?$rid=44b7");
    let doc: serde_json::Value = serde_json::from_slice(&p.payload).unwrap();
    assert_eq!(
        doc,
        json!({"desired": {"$version": 1}, "reported": {"$version": 1}})
    );

    let topic = "$iothub/twin/PATCH/properties/reported/?$rid=8d4f";
    let (pkts, ..) = publish(
        &mut h,
        T0,
        c,
        topic,
        QoS::AtMostOnce,
        0,
        br#"{"fw":"1.1","nested":{"a":1}}"#,
    );
    assert_eq!(
        publishes(&pkts)[0].topic,
        "$iothub/twin/res/204/?$rid=8d4f&$version=2"
    );
    let (pkts, ..) = publish(
        &mut h,
        T0,
        c,
        topic,
        QoS::AtLeastOnce,
        5,
        br#"{"fw":null,"nested":{"b":2}}"#,
    );
    assert!(matches!(pkts[0], Packet::PubAck(PubAck { pkid: 5 })));
    assert_eq!(
        publishes(&pkts)[0].topic,
        "$iothub/twin/res/204/?$rid=8d4f&$version=3"
    );
    let twin = h.twin_json(&IdentityId::device("d1")).unwrap();
    assert_eq!(
        twin["properties"]["reported"],
        json!({"nested": {"a": 1, "b": 2}, "$version": 3})
    );
    assert_eq!(twin["version"], 3);
}

#[test]
fn twin_reported_patch_not_json_fails() {
    let mut h = hub();
    let c = online(&mut h, "d1", &["$iothub/twin/res/#"]);
    let (pkts, closed, _) = publish(
        &mut h,
        T0,
        c,
        "$iothub/twin/PATCH/properties/reported/?$rid=1",
        QoS::AtMostOnce,
        0,
        b"nope",
    );
    assert_eq!(closed, None);
    assert_eq!(publishes(&pkts)[0].topic, "$iothub/twin/res/400/?$rid=1");
}

#[test]
fn twin_desired_patch_pushed_to_subscriber_succeeds() {
    let mut h = hub();
    let c = online(&mut h, "d1", &["$iothub/twin/PATCH/properties/desired/#"]);
    let twin = h
        .patch_twin(
            T0,
            &IdentityId::device("d1"),
            &json!({"properties": {"desired": {"interval": 5, "x": {"y": 1}}}}),
        )
        .unwrap();
    assert_eq!(twin["properties"]["desired"]["$version"], 2);
    let (pkts, ..) = drain(&mut h, c);
    let p = publishes(&pkts)[0];
    assert_eq!(p.topic, "$iothub/twin/PATCH/properties/desired/?$version=2");
    let body: serde_json::Value = serde_json::from_slice(&p.payload).unwrap();
    assert_eq!(body, json!({"interval": 5, "x": {"y": 1}, "$version": 2}));
    let twin = h
        .patch_twin(
            T0,
            &IdentityId::device("d1"),
            &json!({"properties": {"desired": {"interval": null}}}),
        )
        .unwrap();
    assert_eq!(
        twin["properties"]["desired"],
        json!({"x": {"y": 1}, "$version": 3})
    );
}

#[test]
fn twin_desired_patch_not_object_fails() {
    let mut h = hub();
    let r = h.patch_twin(
        T0,
        &IdentityId::device("d1"),
        &json!({"properties": {"desired": 3}}),
    );
    assert!(matches!(r, Err(ServiceError::BadRequest(_))));
    let r = h.patch_twin(
        T0,
        &IdentityId::device("zz"),
        &json!({"properties": {"desired": {}}}),
    );
    assert_eq!(r, Err(ServiceError::DeviceNotFound));
}

// ------------------------------------------------------------------ methods

#[test]
fn method_offline_fails() {
    let mut h = hub();
    let r = h.invoke_method(
        T0,
        &IdentityId::device("d1"),
        "reboot",
        b"null".to_vec(),
        30_000,
        0,
    );
    assert_eq!(r, Err(ServiceError::DeviceNotOnline));
}

#[test]
fn method_connect_timeout_expires_fails() {
    let mut h = hub();
    let call = h
        .invoke_method(
            T0,
            &IdentityId::device("d1"),
            "reboot",
            b"null".to_vec(),
            30_000,
            5_000,
        )
        .unwrap();
    assert_eq!(h.poll_timeout(), Some(T0 + 5_000));
    h.handle_timeout(T0 + 5_000);
    assert_eq!(
        h.poll_output(),
        Some(Output::MethodDone {
            call,
            result: MethodResult::NotOnline
        })
    );
}

#[test]
fn method_response_succeeds() {
    let mut h = hub();
    let c = online(&mut h, "d1", &["$iothub/methods/POST/#"]);
    let call = h
        .invoke_method(
            T0,
            &IdentityId::device("d1"),
            "reboot",
            br#"{"delay":1}"#.to_vec(),
            30_000,
            0,
        )
        .unwrap();
    let (pkts, ..) = drain(&mut h, c);
    let req = publishes(&pkts)[0];
    let rid = req
        .topic
        .strip_prefix("$iothub/methods/POST/reboot/?$rid=")
        .unwrap()
        .to_string();
    assert_eq!(&req.payload[..], br#"{"delay":1}"#);
    let (_, _, rest) = publish(
        &mut h,
        T0 + 10,
        c,
        &format!("$iothub/methods/res/200/?$rid={rid}"),
        QoS::AtMostOnce,
        0,
        br#"{"ok":1}"#,
    );
    assert_eq!(
        rest,
        vec![Output::MethodDone {
            call,
            result: MethodResult::Response {
                status: 200,
                payload: br#"{"ok":1}"#.to_vec()
            }
        }]
    );
}

#[test]
fn method_no_response_times_out_fails() {
    let mut h = hub();
    let c = online(&mut h, "d1", &["$iothub/methods/POST/#"]);
    let call = h
        .invoke_method(
            T0,
            &IdentityId::device("d1"),
            "reboot",
            b"null".to_vec(),
            2_000,
            0,
        )
        .unwrap();
    let _ = drain(&mut h, c);
    h.handle_timeout(T0 + 1_999);
    assert_eq!(h.poll_output(), None);
    h.handle_timeout(T0 + 2_000);
    assert_eq!(
        h.poll_output(),
        Some(Output::MethodDone {
            call,
            result: MethodResult::Timeout
        })
    );
    // A late answer is ignored.
    let (_, closed, rest) = publish(
        &mut h,
        T0 + 3_000,
        c,
        "$iothub/methods/res/200/?$rid=1",
        QoS::AtMostOnce,
        0,
        b"{}",
    );
    assert!(closed.is_none() && rest.is_empty());
}

#[test]
fn method_waits_for_device_to_subscribe_succeeds() {
    let mut h = hub();
    let call = h
        .invoke_method(
            T0,
            &IdentityId::device("d1"),
            "m",
            b"1".to_vec(),
            1_000,
            10_000,
        )
        .unwrap();
    let c = online(&mut h, "d1", &[]);
    let pkts = subscribe(&mut h, c, &["$iothub/methods/POST/#"]);
    assert_eq!(publishes(&pkts)[0].topic, "$iothub/methods/POST/m/?$rid=1");
    // The response timeout starts when the request is sent.
    assert_eq!(h.poll_timeout(), Some(T0 + 1_000));
    h.handle_timeout(T0 + 1_000);
    assert!(
        matches!(h.poll_output(), Some(Output::MethodDone { call: c2, result: MethodResult::Timeout }) if c2 == call)
    );
}

// ------------------------------------------------------------------ cloud-to-device

fn c2d(id: &str) -> C2dMessage {
    C2dMessage {
        payload: b"hi".to_vec(),
        message_id: Some(id.into()),
        correlation_id: Some("corr 1".into()),
        ack: Some("full".into()),
        properties: vec![("my key".into(), "a+b c&d=e".into())],
        ..C2dMessage::default()
    }
}

#[test]
fn c2d_delivered_and_removed_on_puback_succeeds() {
    let mut h = hub();
    let c = online(&mut h, "d1", &["devices/d1/messages/devicebound/#"]);
    h.send_c2d("d1", c2d("m1")).unwrap();
    let (pkts, ..) = drain(&mut h, c);
    let p = publishes(&pkts)[0];
    assert_eq!(
        p.topic,
        "devices/d1/messages/devicebound/%24.mid=m1&%24.cid=corr%201&%24.to=%2Fdevices%2Fd1%2Fmessages%2FdeviceBound&iothub-ack=full&my%20key=a%2Bb%20c%26d%3De"
    );
    assert_eq!((p.qos, p.dup), (QoS::AtLeastOnce, false));
    assert_eq!(h.c2d_pending("d1"), 1);
    h.handle_bytes(T0, c, &encode(Packet::PubAck(PubAck::new(p.pkid))));
    assert_eq!(h.c2d_pending("d1"), 0);
}

#[test]
fn c2d_kept_across_clean_session_0_reconnect_and_redelivered_succeeds() {
    let mut h = hub();
    h.send_c2d("d1", c2d("queued")).unwrap();
    let c = online(&mut h, "d1", &["devices/d1/messages/devicebound/#"]);
    let (pkts, ..) = drain(&mut h, c);
    assert_eq!(publishes(&pkts).len(), 0, "already delivered at SUBSCRIBE");
    h.connection_closed(T0, c); // not acked
    assert_eq!(h.c2d_pending("d1"), 1);
    // Reconnect with clean session 0: the session (subscription) is back and the
    // message is redelivered with DUP at once.
    let c2 = h.connection_opened(T0);
    h.handle_bytes(T0, c2, &connect_device("d1", false));
    let (pkts, ..) = drain(&mut h, c2);
    assert_eq!(connack(&pkts), (ConnectReturnCode::Success, true));
    let p = publishes(&pkts)[0];
    assert!(p.topic.contains("%24.mid=queued"));
    assert!(p.dup);
    h.handle_bytes(T0, c2, &encode(Packet::PubAck(PubAck::new(p.pkid))));
    assert_eq!(h.c2d_pending("d1"), 0);
}

#[test]
fn c2d_dropped_with_clean_session_1_succeeds() {
    let mut h = hub();
    h.send_c2d("d1", c2d("old")).unwrap();
    let (c, code) = open(&mut h, T0, &connect_device("d1", true));
    assert_eq!(code, ConnectReturnCode::Success);
    assert_eq!(h.c2d_pending("d1"), 0);
    let pkts = subscribe(&mut h, c, &["devices/d1/messages/devicebound/#"]);
    assert!(publishes(&pkts).is_empty());
}

#[test]
fn c2d_unknown_device_and_full_queue_fails() {
    let mut h = hub();
    assert_eq!(
        h.send_c2d("zz", c2d("x")),
        Err(ServiceError::DeviceNotFound)
    );
    for i in 0..50 {
        h.send_c2d("d1", c2d(&i.to_string())).unwrap();
    }
    assert_eq!(h.send_c2d("d1", c2d("51")), Err(ServiceError::QueueFull));
}

// ------------------------------------------------------------------ faults

#[test]
fn fault_drop_closes_with_close_frame_succeeds() {
    let mut h = hub();
    let c = online(&mut h, "d1", &[]);
    h.inject_fault(T0, &IdentityId::device("d1"), Fault::Drop)
        .unwrap();
    assert_eq!(drain(&mut h, c).1, Some(true));
    assert_eq!(
        h.inject_fault(T0, &IdentityId::device("d1"), Fault::Drop),
        Err(ServiceError::DeviceNotOnline)
    );
}

#[test]
fn fault_close_without_disconnect_is_abrupt_succeeds() {
    let mut h = hub();
    let c = online(&mut h, "d1", &[]);
    h.inject_fault(T0, &IdentityId::device("d1"), Fault::CloseWithoutDisconnect)
        .unwrap();
    assert_eq!(drain(&mut h, c).1, Some(false));
}

#[test]
fn fault_withhold_puback_succeeds() {
    let mut h = hub();
    let c = online(&mut h, "d1", &[]);
    h.inject_fault(
        T0,
        &IdentityId::device("d1"),
        Fault::WithholdPuback { count: 1 },
    )
    .unwrap();
    let (pkts, _, rest) = publish(
        &mut h,
        T0,
        c,
        "devices/d1/messages/events/",
        QoS::AtLeastOnce,
        1,
        b"a",
    );
    assert!(pkts.is_empty());
    assert_eq!(rest.len(), 1, "still recorded");
    let (pkts, ..) = publish(
        &mut h,
        T0,
        c,
        "devices/d1/messages/events/",
        QoS::AtLeastOnce,
        2,
        b"b",
    );
    assert!(matches!(pkts[..], [Packet::PubAck(PubAck { pkid: 2 })]));
}

#[test]
fn fault_delay_puback_succeeds() {
    let mut h = hub();
    let c = online(&mut h, "d1", &[]);
    h.inject_fault(
        T0,
        &IdentityId::device("d1"),
        Fault::DelayPuback { ms: 500, count: 1 },
    )
    .unwrap();
    let (pkts, ..) = publish(
        &mut h,
        T0,
        c,
        "devices/d1/messages/events/",
        QoS::AtLeastOnce,
        4,
        b"a",
    );
    assert!(pkts.is_empty());
    assert_eq!(h.poll_timeout(), Some(T0 + 500));
    h.handle_timeout(T0 + 499);
    assert!(drain(&mut h, c).0.is_empty());
    h.handle_timeout(T0 + 500);
    assert!(matches!(
        drain(&mut h, c).0[..],
        [Packet::PubAck(PubAck { pkid: 4 })]
    ));
}

#[test]
fn fault_expire_token_closes_succeeds() {
    let mut h = hub();
    let c = online(&mut h, "d1", &[]);
    h.inject_fault(T0 + 7, &IdentityId::device("d1"), Fault::ExpireToken)
        .unwrap();
    assert_eq!(drain(&mut h, c).1, Some(true));
    assert!(
        !h.connection_info(&IdentityId::device("d1"))
            .unwrap()
            .connected
    );
}

#[test]
fn fault_twin_throttle_answers_429_succeeds() {
    let mut h = hub();
    let c = online(&mut h, "d1", &["$iothub/twin/res/#"]);
    h.inject_fault(
        T0,
        &IdentityId::device("d1"),
        Fault::TwinThrottle { count: 2 },
    )
    .unwrap();
    for (rid, status) in [("1", 429), ("2", 429), ("3", 200)] {
        let (pkts, ..) = publish(
            &mut h,
            T0,
            c,
            &format!("$iothub/twin/GET/?$rid={rid}"),
            QoS::AtMostOnce,
            0,
            b" ",
        );
        assert_eq!(
            publishes(&pkts)[0].topic,
            format!("$iothub/twin/res/{status}/?$rid={rid}")
        );
    }
}

#[test]
fn fault_malformed_variants_succeeds() {
    let mut h = hub();
    let _c = online(&mut h, "d1", &[]);
    for (v, expect) in [
        (
            MalformedVariant::BadRemainingLength,
            mqttbytes::Error::MalformedRemainingLength,
        ),
        (
            MalformedVariant::Oversized,
            mqttbytes::Error::PayloadSizeLimitExceeded(128 << 20),
        ),
    ] {
        h.inject_fault(T0, &IdentityId::device("d1"), Fault::Malformed(v))
            .unwrap();
        let Some(Output::Transmit { bytes, .. }) = h.poll_output() else {
            panic!()
        };
        assert_eq!(bytes, malformed_bytes(v));
        let mut b = BytesMut::from(&bytes[..]);
        assert_eq!(v4::read(&mut b, 1 << 20), Err(expect));
    }
    h.inject_fault(
        T0,
        &IdentityId::device("d1"),
        Fault::Malformed(MalformedVariant::UnexpectedType),
    )
    .unwrap();
    let Some(Output::Transmit { bytes, .. }) = h.poll_output() else {
        panic!()
    };
    assert!(matches!(
        v4::read(&mut BytesMut::from(&bytes[..]), 1 << 20),
        Ok(Packet::Subscribe(_))
    ));
    assert!(
        h.connection_info(&IdentityId::device("d1"))
            .unwrap()
            .connected,
        "the client must close, not the hub"
    );
}

#[test]
fn parse_fault_bodies_succeeds() {
    assert_eq!(parse_fault(&json!({"kind": "drop"})), Ok(Fault::Drop));
    assert_eq!(
        parse_fault(&json!({"kind": "withholdPuback", "count": 3})),
        Ok(Fault::WithholdPuback { count: 3 })
    );
    assert_eq!(
        parse_fault(&json!({"kind": "delayPuback", "ms": 9})),
        Ok(Fault::DelayPuback { ms: 9, count: 1 })
    );
    assert_eq!(
        parse_fault(&json!({"kind": "malformed", "variant": "oversized"})),
        Ok(Fault::Malformed(MalformedVariant::Oversized))
    );
    assert!(parse_fault(&json!({"kind": "explode"})).is_err());
    assert!(parse_fault(&json!({"kind": "malformed", "variant": "x"})).is_err());
    assert!(parse_fault(&json!({"kind": "delayPuback"})).is_err());
}

// ------------------------------------------------------------------ registry

#[test]
fn delete_device_closes_its_connections_succeeds() {
    let mut h = hub();
    let c = online(&mut h, "d1", &[]);
    h.delete_identity(T0, &IdentityId::device("d1")).unwrap();
    assert_eq!(drain(&mut h, c).1, Some(true));
    assert!(h.identity_json(&IdentityId::module("d1", "m1")).is_err());
    assert_eq!(
        h.delete_identity(T0, &IdentityId::device("d1")),
        Err(ServiceError::DeviceNotFound)
    );
}

#[test]
fn module_of_unknown_device_fails() {
    let mut h = hub();
    let r = h.put_identity(
        T0,
        &IdentityId::module("zz", "m"),
        None,
        None,
        (KEY.into(), KEY.into()),
    );
    assert_eq!(r, Err(ServiceError::DeviceNotFound));
}

// ------------------------------------------------------------------ robustness

#[test]
fn random_and_mutated_input_never_panics_succeeds() {
    let mut seed = 0x9e37_79b9_7f4a_7c15u64;
    let mut rnd = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    let valid = [
        connect_device("d1", false),
        {
            let mut p = Publish::new(
                "devices/d1/messages/events/a=b",
                QoS::AtLeastOnce,
                b"x".to_vec(),
            );
            p.pkid = 1;
            encode(Packet::Publish(p))
        },
        {
            let mut s = Subscribe::new("$iothub/twin/res/#", QoS::AtMostOnce);
            s.pkid = 2;
            encode(Packet::Subscribe(s))
        },
        encode(Packet::Publish(Publish::new(
            "$iothub/twin/GET/?$rid=1",
            QoS::AtMostOnce,
            b" ".to_vec(),
        ))),
    ];
    let mut h = hub();
    let mut closed = 0;
    for round in 0..3000u64 {
        let now = T0 + round;
        let c = h.connection_opened(now);
        if round % 2 == 0 {
            h.handle_bytes(now, c, &valid[0]);
        }
        let mut data = valid[(rnd() % valid.len() as u64) as usize].clone();
        match rnd() % 3 {
            0 => {
                let i = (rnd() as usize) % data.len();
                data[i] = rnd() as u8;
            }
            1 => data.truncate((rnd() as usize) % data.len()),
            _ => data = (0..rnd() % 64).map(|_| rnd() as u8).collect(),
        }
        h.handle_bytes(now, c, &data);
        let (pkts, close, _) = drain(&mut h, c);
        let _ = pkts; // every transmitted packet decoded in drain()
        if close.is_some() {
            closed += 1;
        } else {
            h.connection_closed(now, c);
        }
        h.handle_timeout(now);
        while h.poll_output().is_some() {}
    }
    assert!(
        closed > 1000,
        "most garbage must end the connection ({closed})"
    );
}
