//! Byte-exact vectors and round trips of every packet the client sends or receives.

use bytes::Bytes;
use mqttbytes::v4::{
    ConnAck, Connect, ConnectReturnCode, LastWill, Login, PubAck, Publish, SubAck, Subscribe,
    SubscribeFilter, SubscribeReasonCode, UnsubAck, Unsubscribe,
};
use mqttbytes::{Protocol, QoS as CQoS};

use super::super::codec::{decode, encode_to_vec, Packet};
use super::super::{Error, Malformed};
use super::{cfg, sent};
use crate::mqtt::{Config, QoS, Session, Will};

/// CONNECT: client "dev1", username "hub/dev1", password "pw", keep-alive
/// 180, clean session 0, will "w/t" = "bye" QoS 1 retained.
pub(crate) const CONNECT_FULL: &[u8] = &[
    0x10, 0x28, 0x00, 0x04, b'M', b'Q', b'T', b'T', 0x04, 0xEC, 0x00, 0xB4, 0x00, 0x04, b'd', b'e',
    b'v', b'1', 0x00, 0x03, b'w', b'/', b't', 0x00, 0x03, b'b', b'y', b'e', 0x00, 0x08, b'h', b'u',
    b'b', b'/', b'd', b'e', b'v', b'1', 0x00, 0x02, b'p', b'w',
];

fn roundtrip(bytes: &[u8], packet: Packet) {
    assert_eq!(decode(bytes.to_vec()).unwrap(), packet, "decode");
    assert_eq!(encode_to_vec(&packet).unwrap(), bytes, "encode");
}

#[test]
fn encode_connect_with_will_username_password_succeeds() {
    let mut c = cfg();
    c.will = Some(Will {
        topic: "w/t".into(),
        payload: Bytes::from_static(b"bye"),
        qos: QoS::AtLeastOnce,
        retain: true,
    });
    let mut s = Session::new(c);
    s.connect(0, Some("pw".into())).unwrap();
    assert_eq!(s.poll_transmit().unwrap(), CONNECT_FULL);
    roundtrip(
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

#[test]
fn codec_publish_dup_qos1_retain_succeeds() {
    let bytes = [
        0x3B, 0x09, 0x00, 0x03, b'a', b'/', b'b', 0x12, 0x34, b'h', b'i',
    ];
    let mut p = Publish::new("a/b", CQoS::AtLeastOnce, "hi");
    p.dup = true;
    p.retain = true;
    p.pkid = 0x1234;
    roundtrip(&bytes, Packet::Publish(p));
}

#[test]
fn codec_publish_qos0_succeeds() {
    let bytes = [0x30, 0x07, 0x00, 0x03, b'a', b'/', b'b', b'h', b'i'];
    roundtrip(
        &bytes,
        Packet::Publish(Publish::new("a/b", CQoS::AtMostOnce, "hi")),
    );
}

#[test]
fn codec_publish_two_byte_remaining_length_succeeds() {
    let mut bytes = vec![0x30, 0xCB, 0x01, 0x00, 0x01, b't'];
    bytes.extend_from_slice(&[7u8; 200]);
    roundtrip(
        &bytes,
        Packet::Publish(Publish::new("t", CQoS::AtMostOnce, vec![7u8; 200])),
    );
}

#[test]
fn encode_publish_topic_too_long_fails() {
    let p = Publish::new("t".repeat(70_000), CQoS::AtMostOnce, "x");
    assert_eq!(
        encode_to_vec(&Packet::Publish(p)),
        Err(Error::StringTooLong {
            field: "topic",
            len: 70_000
        })
    );
}

#[test]
fn codec_subscribe_succeeds() {
    let bytes = [
        0x82, 0x0C, 0x00, 0x01, 0x00, 0x03, b'a', b'/', b'#', 0x01, 0x00, 0x01, b'b', 0x00,
    ];
    roundtrip(
        &bytes,
        Packet::Subscribe(Subscribe {
            pkid: 1,
            filters: vec![
                SubscribeFilter::new("a/#".into(), CQoS::AtLeastOnce),
                SubscribeFilter::new("b".into(), CQoS::AtMostOnce),
            ],
        }),
    );
}

#[test]
fn codec_unsubscribe_succeeds() {
    let bytes = [0xA2, 0x07, 0x00, 0x02, 0x00, 0x03, b'a', b'/', b'#'];
    roundtrip(
        &bytes,
        Packet::Unsubscribe(Unsubscribe {
            pkid: 2,
            topics: vec!["a/#".into()],
        }),
    );
}

#[test]
fn codec_fixed_packets_succeed() {
    roundtrip(&[0x40, 0x02, 0x00, 0x05], Packet::PubAck(PubAck::new(5)));
    roundtrip(
        &[0xB0, 0x02, 0x01, 0x02],
        Packet::UnsubAck(UnsubAck::new(0x0102)),
    );
    roundtrip(&[0xC0, 0x00], Packet::PingReq);
    roundtrip(&[0xD0, 0x00], Packet::PingResp);
    roundtrip(&[0xE0, 0x00], Packet::Disconnect);
    roundtrip(
        &[0x20, 0x02, 0x01, 0x00],
        Packet::ConnAck(ConnAck::new(ConnectReturnCode::Success, true)),
    );
    roundtrip(
        &[0x20, 0x02, 0x00, 0x05],
        Packet::ConnAck(ConnAck::new(ConnectReturnCode::NotAuthorized, false)),
    );
}

#[test]
fn codec_suback_with_failure_succeeds() {
    roundtrip(
        &[0x90, 0x05, 0x00, 0x01, 0x01, 0x00, 0x80],
        Packet::SubAck(SubAck::new(
            1,
            vec![
                SubscribeReasonCode::Success(CQoS::AtLeastOnce),
                SubscribeReasonCode::Success(CQoS::AtMostOnce),
                SubscribeReasonCode::Failure,
            ],
        )),
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
    // topic length past the end, topic not UTF-8, reserved packet type 15.
    assert_eq!(
        decode(vec![0x36, 0x04, 0x00, 0x01, b't', 0x00]),
        Err(Error::Malformed(Malformed::QoS(3)))
    );
    assert!(matches!(
        decode(vec![0x40, 0x03, 0x00, 0x01, 0x00]),
        Err(Error::Malformed(Malformed::Length { .. }))
    ));
    assert_eq!(
        decode(vec![0x90, 0x03, 0x00, 0x01, 0x03]),
        Err(Error::Malformed(Malformed::SubackReturn(3)))
    );
    assert_eq!(
        decode(vec![0x20, 0x02, 0x00, 0x06]),
        Err(Error::Malformed(Malformed::ConnectReturn(6)))
    );
    assert_eq!(
        decode(vec![0x30, 0x03, 0x00, 0x09, b't']),
        Err(Error::Malformed(Malformed::Truncated))
    );
    assert_eq!(
        decode(vec![0x30, 0x03, 0x00, 0x01, 0xFF]),
        Err(Error::Malformed(Malformed::NotUtf8))
    );
    assert_eq!(
        decode(vec![0x32, 0x05, 0x00, 0x01, b't', 0x00, 0x00]),
        Err(Error::Malformed(Malformed::PacketIdZero))
    );
    assert_eq!(
        decode(vec![0xF0, 0x00]),
        Err(Error::Malformed(Malformed::PacketType(15)))
    );
}

#[test]
fn session_sends_decodable_packets_succeeds() {
    let mut s = super::connected(cfg());
    s.subscribe(0, &[("a/#".into(), QoS::AtLeastOnce)]).unwrap();
    s.unsubscribe(0, &["a/#".into()]).unwrap();
    s.publish(0, "a/b", Bytes::from_static(b"x"), QoS::AtLeastOnce, true)
        .unwrap();
    s.disconnect(0);
    let packets = sent(&mut s);
    assert_eq!(packets.len(), 4);
    assert!(matches!(packets[3], Packet::Disconnect));
}
