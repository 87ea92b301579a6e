//! Byte-exact vectors of every packet the client sends or receives, each also
//! checked against mqttbytes (a codec nobody here wrote): what we encode it
//! decodes to the expected packet, what it encodes we decode.

use bytes::BytesMut;
use mqttbytes::v4::{
    ConnAck, Connect, ConnectReturnCode, LastWill, Login, PubAck, Publish as PeerPublish, SubAck,
    Subscribe, SubscribeFilter, SubscribeReasonCode, UnsubAck, Unsubscribe,
};
use mqttbytes::{Protocol, QoS as CQoS};

use super::super::codec::{self, decode, Publish, ServerPacket};
use super::super::{Error, Malformed};
use super::{cfg, peer_decode, sent, Packet};
use crate::mqtt::{Config, QoS, Session, Will};

/// CONNECT: client "dev1", username "hub/dev1", password "pw", keep-alive
/// 180, clean session 0, will "w/t" = "bye" QoS 1 retained.
pub(crate) const CONNECT_FULL: &[u8] = &[
    0x10, 0x28, 0x00, 0x04, b'M', b'Q', b'T', b'T', 0x04, 0xEC, 0x00, 0xB4, 0x00, 0x04, b'd', b'e',
    b'v', b'1', 0x00, 0x03, b'w', b'/', b't', 0x00, 0x03, b'b', b'y', b'e', 0x00, 0x08, b'h', b'u',
    b'b', b'/', b'd', b'e', b'v', b'1', 0x00, 0x02, b'p', b'w',
];

/// What mqttbytes encodes `p` to.
fn peer_encode(p: &Packet) -> Vec<u8> {
    let mut b = BytesMut::new();
    match p {
        Packet::ConnAck(x) => x.write(&mut b),
        Packet::Publish(x) => x.write(&mut b),
        Packet::PubAck(x) => x.write(&mut b),
        Packet::SubAck(x) => x.write(&mut b),
        Packet::UnsubAck(x) => x.write(&mut b),
        Packet::PingResp => {
            b.extend_from_slice(&[0xd0, 0]);
            Ok(2)
        }
        other => panic!("a server does not send {other:?}"),
    }
    .expect("mqttbytes encodes");
    b.to_vec()
}

/// A client packet: our bytes are `bytes`, and mqttbytes reads them as `peer`.
fn sends(ours: Result<Vec<u8>, Error>, bytes: &[u8], peer: Packet) {
    assert_eq!(ours.expect("encodes"), bytes, "encode");
    assert_eq!(peer_decode(bytes), peer, "mqttbytes reads it");
}

/// A server packet: mqttbytes writes `peer` as `bytes`, and we read them as `ours`.
fn receives(bytes: &[u8], peer: Packet, ours: ServerPacket) {
    assert_eq!(peer_encode(&peer), bytes, "mqttbytes writes it");
    assert_eq!(decode(bytes.to_vec()), Ok(ours), "decode");
}

#[test]
fn encode_connect_with_will_username_password_succeeds() {
    let mut c = cfg();
    c.will = Some(Will {
        topic: "w/t".into(),
        payload: b"bye".to_vec(),
        qos: QoS::AtLeastOnce,
        retain: true,
    });
    let mut s = Session::new(c);
    s.connect(0, Some("pw".into())).unwrap();
    sends(
        s.poll_transmit().ok_or(Error::NotConnected),
        CONNECT_FULL,
        Packet::Connect(Connect {
            protocol: Protocol::V4,
            keep_alive: 180,
            client_id: "dev1".into(),
            clean_session: false,
            last_will: Some(LastWill::new("w/t", "bye", CQoS::AtLeastOnce, true)),
            login: Some(Login::new("hub/dev1", "pw")),
        }),
    );
}

#[test]
fn encode_connect_minimal_clean_session_succeeds() {
    let mut c = Config::new("x");
    c.clean_session = true;
    c.keep_alive_secs = 0;
    let mut s = Session::new(c);
    s.connect(0, None).unwrap();
    let expected = [
        0x10, 0x0D, 0x00, 0x04, b'M', b'Q', b'T', b'T', 0x04, 0x02, 0x00, 0x00, 0x00, 0x01, b'x',
    ];
    assert_eq!(s.poll_transmit().unwrap(), expected);
    assert!(
        matches!(peer_decode(&expected), Packet::Connect(c) if c.clean_session && c.login.is_none())
    );
}

#[test]
fn encode_connect_password_without_username_fails() {
    let mut s = Session::new(Config::new("x"));
    assert_eq!(
        s.connect(0, Some("secret".into())),
        Err(Error::PasswordWithoutUsername)
    );
    assert_eq!(s.poll_transmit(), None);
}

#[test]
fn encode_connect_client_id_too_long_fails() {
    let mut s = Session::new(Config::new("x".repeat(65_536)));
    assert_eq!(
        s.connect(0, None),
        Err(Error::StringTooLong {
            field: "client id",
            len: 65_536
        })
    );
}

fn publish(topic: &str, payload: &[u8], qos: QoS, pkid: u16) -> Publish {
    Publish {
        topic: topic.into(),
        payload: payload.to_vec(),
        qos,
        dup: false,
        retain: false,
        pkid,
    }
}

#[test]
fn codec_publish_dup_qos1_retain_succeeds() {
    let bytes = [
        0x3B, 0x09, 0x00, 0x03, b'a', b'/', b'b', 0x12, 0x34, b'h', b'i',
    ];
    let mut p = PeerPublish::new("a/b", CQoS::AtLeastOnce, "hi");
    p.dup = true;
    p.retain = true;
    p.pkid = 0x1234;
    let ours = Publish {
        dup: true,
        retain: true,
        ..publish("a/b", b"hi", QoS::AtLeastOnce, 0x1234)
    };
    sends(codec::publish(&ours), &bytes, Packet::Publish(p.clone()));
    receives(&bytes, Packet::Publish(p), ServerPacket::Publish(ours));
}

#[test]
fn codec_publish_qos0_succeeds() {
    let bytes = [0x30, 0x07, 0x00, 0x03, b'a', b'/', b'b', b'h', b'i'];
    let peer = Packet::Publish(PeerPublish::new("a/b", CQoS::AtMostOnce, "hi"));
    let ours = publish("a/b", b"hi", QoS::AtMostOnce, 0);
    sends(codec::publish(&ours), &bytes, peer.clone());
    receives(&bytes, peer, ServerPacket::Publish(ours));
}

#[test]
fn codec_publish_two_byte_remaining_length_succeeds() {
    let mut bytes = vec![0x30, 0xCB, 0x01, 0x00, 0x01, b't'];
    bytes.extend_from_slice(&[7u8; 200]);
    let peer = Packet::Publish(PeerPublish::new("t", CQoS::AtMostOnce, vec![7u8; 200]));
    let ours = publish("t", &[7u8; 200], QoS::AtMostOnce, 0);
    sends(codec::publish(&ours), &bytes, peer.clone());
    receives(&bytes, peer, ServerPacket::Publish(ours));
}

#[test]
fn codec_publish_large_payload_succeeds() {
    // A 300 KB body needs a 3-byte remaining length.
    let body = vec![0x5a; 300_000];
    let bytes = codec::publish(&publish("t", &body, QoS::AtLeastOnce, 9)).unwrap();
    assert_eq!(&bytes[..4], &[0x32, 0xe5, 0xa7, 0x12]);
    match peer_decode(&bytes) {
        Packet::Publish(p) => assert_eq!((p.pkid, p.payload.len()), (9, 300_000)),
        other => panic!("{other:?}"),
    }
    assert!(matches!(decode(bytes), Ok(ServerPacket::Publish(p)) if p.payload == body));
}

#[test]
fn encode_publish_topic_too_long_or_pkid_zero_fails() {
    let long = "t".repeat(70_000);
    assert_eq!(
        codec::publish(&publish(&long, b"x", QoS::AtMostOnce, 0)),
        Err(Error::StringTooLong {
            field: "topic",
            len: 70_000
        })
    );
    assert_eq!(
        codec::publish(&publish("t", b"x", QoS::AtLeastOnce, 0)),
        Err(Error::Malformed(Malformed::PacketIdZero))
    );
}

#[test]
fn encode_subscribe_and_unsubscribe_succeeds() {
    let bytes = [
        0x82, 0x0C, 0x00, 0x01, 0x00, 0x03, b'a', b'/', b'#', 0x01, 0x00, 0x01, b'b', 0x00,
    ];
    sends(
        codec::subscribe(
            1,
            &[
                ("a/#".into(), QoS::AtLeastOnce),
                ("b".into(), QoS::AtMostOnce),
            ],
        ),
        &bytes,
        Packet::Subscribe(Subscribe {
            pkid: 1,
            filters: vec![
                SubscribeFilter::new("a/#".into(), CQoS::AtLeastOnce),
                SubscribeFilter::new("b".into(), CQoS::AtMostOnce),
            ],
        }),
    );
    sends(
        codec::unsubscribe(2, &["a/#".into()]),
        &[0xA2, 0x07, 0x00, 0x02, 0x00, 0x03, b'a', b'/', b'#'],
        Packet::Unsubscribe(Unsubscribe {
            pkid: 2,
            topics: vec!["a/#".into()],
        }),
    );
    assert_eq!(codec::subscribe(1, &[]), Err(Error::NoFilters));
    assert_eq!(codec::unsubscribe(1, &[]), Err(Error::NoFilters));
}

#[test]
fn codec_fixed_packets_succeed() {
    sends(
        Ok(codec::puback(5)),
        &[0x40, 0x02, 0x00, 0x05],
        Packet::PubAck(PubAck::new(5)),
    );
    sends(Ok(codec::PINGREQ.to_vec()), &[0xC0, 0x00], Packet::PingReq);
    sends(
        Ok(codec::DISCONNECT.to_vec()),
        &[0xE0, 0x00],
        Packet::Disconnect,
    );
    receives(
        &[0x40, 0x02, 0x00, 0x05],
        Packet::PubAck(PubAck::new(5)),
        ServerPacket::PubAck(5),
    );
    receives(
        &[0xB0, 0x02, 0x01, 0x02],
        Packet::UnsubAck(UnsubAck::new(0x0102)),
        ServerPacket::UnsubAck(0x0102),
    );
    receives(&[0xD0, 0x00], Packet::PingResp, ServerPacket::PingResp);
    receives(
        &[0x20, 0x02, 0x01, 0x00],
        Packet::ConnAck(ConnAck::new(ConnectReturnCode::Success, true)),
        ServerPacket::ConnAck {
            session_present: true,
            code: 0,
        },
    );
    receives(
        &[0x20, 0x02, 0x00, 0x05],
        Packet::ConnAck(ConnAck::new(ConnectReturnCode::NotAuthorized, false)),
        ServerPacket::ConnAck {
            session_present: false,
            code: 5,
        },
    );
}

#[test]
fn codec_suback_with_failure_succeeds() {
    receives(
        &[0x90, 0x05, 0x00, 0x01, 0x01, 0x00, 0x80],
        Packet::SubAck(SubAck::new(
            1,
            vec![
                SubscribeReasonCode::Success(CQoS::AtLeastOnce),
                SubscribeReasonCode::Success(CQoS::AtMostOnce),
                SubscribeReasonCode::Failure,
            ],
        )),
        ServerPacket::SubAck {
            pkid: 1,
            codes: vec![1, 0, 0x80],
        },
    );
}

#[test]
fn decode_reserved_flags_fails() {
    // PUBACK with flag bits, PINGRESP with a body, CONNACK with reserved ack flags.
    assert_eq!(
        decode(vec![0x41, 0x02, 0x00, 0x01]),
        Err(Error::Malformed(Malformed::Flags(0x41)))
    );
    assert!(matches!(
        decode(vec![0xD0, 0x01, 0x00]),
        Err(Error::Malformed(Malformed::Length { .. }))
    ));
    assert_eq!(
        decode(vec![0x20, 0x02, 0x02, 0x00]),
        Err(Error::Malformed(Malformed::Flags(0x02)))
    );
}

#[test]
fn decode_bad_fields_fails() {
    // QoS 3, PUBACK of 3 bytes, SUBACK return code 3, CONNACK code 6,
    // topic length past the end, topic not UTF-8, packet id 0, reserved types 0 and 15.
    let cases: [(&[u8], Error); 9] = [
        (
            &[0x36, 0x04, 0x00, 0x01, b't', 0x00],
            Error::Malformed(Malformed::QoS(3)),
        ),
        (
            &[0x40, 0x03, 0x00, 0x01, 0x00],
            Error::Malformed(Malformed::Length {
                packet_type: 4,
                remaining: 3,
            }),
        ),
        (
            &[0x90, 0x03, 0x00, 0x01, 0x03],
            Error::Malformed(Malformed::SubackReturn(3)),
        ),
        (
            &[0x20, 0x02, 0x00, 0x06],
            Error::Malformed(Malformed::ConnectReturn(6)),
        ),
        (
            &[0x30, 0x03, 0x00, 0x09, b't'],
            Error::Malformed(Malformed::Truncated),
        ),
        (
            &[0x30, 0x03, 0x00, 0x01, 0xFF],
            Error::Malformed(Malformed::NotUtf8),
        ),
        (
            &[0x32, 0x05, 0x00, 0x01, b't', 0x00, 0x00],
            Error::Malformed(Malformed::PacketIdZero),
        ),
        (&[0xF0, 0x00], Error::Malformed(Malformed::PacketType(15))),
        (&[0x00, 0x00], Error::Malformed(Malformed::PacketType(0))),
    ];
    for (bytes, want) in cases {
        assert_eq!(decode(bytes.to_vec()), Err(want), "{bytes:02x?}");
    }
    // A frame whose remaining length disagrees with its size.
    assert_eq!(
        decode(vec![0x40, 0x02, 0x00]),
        Err(Error::Malformed(Malformed::Truncated))
    );
}

#[test]
fn decode_packets_a_server_never_sends_fails() {
    for (bytes, t) in [
        (CONNECT_FULL.to_vec(), 1),
        (vec![0x50, 0x02, 0x00, 0x01], 5),
        (vec![0x62, 0x02, 0x00, 0x01], 6),
        (vec![0x70, 0x02, 0x00, 0x01], 7),
        (vec![0x82, 0x06, 0x00, 0x01, 0x00, 0x01, b'a', 0x00], 8),
        (vec![0xA2, 0x05, 0x00, 0x01, 0x00, 0x01, b'a'], 10),
        (vec![0xC0, 0x00], 12),
        (vec![0xE0, 0x00], 14),
    ] {
        assert_eq!(decode(bytes), Err(Error::UnexpectedPacket(t)));
    }
}

#[test]
fn session_sends_decodable_packets_succeeds() {
    let mut s = super::connected(cfg());
    s.subscribe(0, &[("a/#".into(), QoS::AtLeastOnce)]).unwrap();
    s.unsubscribe(0, &["a/#".into()]).unwrap();
    s.publish(0, "a/b", b"x", QoS::AtLeastOnce, true).unwrap();
    s.disconnect(0);
    let packets = sent(&mut s);
    assert_eq!(packets.len(), 4);
    assert!(matches!(packets[3], Packet::Disconnect));
}
