//! CONNECT/CONNACK, publish, subscribe, acks, resend, disconnect.

use mqttbytes::v4::{PubAck, Publish};

use super::super::{
    ConnectReturn, Error, Event, Incoming, LostReason, Malformed, PublishError, QoS, Session, State,
};
use super::Packet;
use super::{cfg, connected, events, sent, CONNACK_OK};

fn publish(s: &mut Session, qos: QoS) -> Result<Option<u16>, PublishError> {
    s.publish(0, "t", b"x", qos, false)
}

fn puback(pkid: u16) -> [u8; 4] {
    [0x40, 0x02, (pkid >> 8) as u8, pkid as u8]
}

#[test]
fn connect_accepted_succeeds() {
    let mut s = Session::new(cfg());
    assert_eq!(s.state(), State::Idle);
    s.connect(10, Some("pw".into())).unwrap();
    assert_eq!(s.state(), State::Connecting);
    assert!(
        matches!(sent(&mut s)[..], [Packet::Connect(ref c)] if c.client_id == "dev1" && c.login.as_ref().is_some_and(|l| l.password == "pw"))
    );
    s.handle_bytes(20, &[0x20, 0x02, 0x01, 0x00]).unwrap();
    assert_eq!(s.state(), State::Connected);
    assert_eq!(
        events(&mut s),
        vec![Event::Connected {
            session_present: true
        }]
    );
}

#[test]
fn connect_twice_fails() {
    let mut s = connected(cfg());
    assert_eq!(s.connect(1, None), Err(Error::AlreadyConnected));
}

#[test]
fn connect_refused_codes_map_to_typed_enum_succeeds() {
    let expected = [
        ConnectReturn::UnacceptableProtocolVersion,
        ConnectReturn::IdentifierRejected,
        ConnectReturn::ServerUnavailable,
        ConnectReturn::BadUsernameOrPassword,
        ConnectReturn::NotAuthorized,
    ];
    for (code, want) in (1u8..=5).zip(expected) {
        let mut s = Session::new(cfg());
        s.connect(0, None).unwrap();
        let _ = s.poll_transmit();
        s.handle_bytes(1, &[0x20, 0x02, 0x00, code]).unwrap();
        assert_eq!(events(&mut s), vec![Event::Refused(want)]);
        assert_eq!(want.code(), code);
        assert_eq!(s.state(), State::Idle);
        assert_eq!(s.poll_timeout(), None);
    }
}

#[test]
fn connack_return_code_six_fails() {
    let mut s = Session::new(cfg());
    s.connect(0, None).unwrap();
    let err = s.handle_bytes(1, &[0x20, 0x02, 0x00, 0x06]).unwrap_err();
    assert_eq!(err, Error::Malformed(Malformed::ConnectReturn(6)));
    assert_eq!(
        events(&mut s),
        vec![Event::ConnectionLost(LostReason::Protocol(err))]
    );
}

#[test]
fn publish_before_connack_fails() {
    let mut s = Session::new(cfg());
    s.connect(0, None).unwrap();
    assert_eq!(
        publish(&mut s, QoS::AtMostOnce),
        Err(PublishError::NotConnected)
    );
    assert_eq!(
        s.subscribe(0, &[("a".into(), QoS::AtMostOnce)]),
        Err(Error::NotConnected)
    );
    // A PUBLISH from the broker before CONNACK is a protocol error.
    let err = s
        .handle_bytes(1, &[0x30, 0x03, 0x00, 0x01, b't'])
        .unwrap_err();
    assert_eq!(err, Error::UnexpectedPacket(3));
}

#[test]
fn publish_qos0_succeeds() {
    let mut s = connected(cfg());
    assert_eq!(publish(&mut s, QoS::AtMostOnce), Ok(None));
    let mut expected = Publish::new("t", mqttbytes::QoS::AtMostOnce, "x");
    expected.retain = false;
    assert_eq!(sent(&mut s), vec![Packet::Publish(expected)]);
    assert_eq!(s.inflight_free(), 64);
}

#[test]
fn publish_qos1_puback_matched_succeeds() {
    let mut s = connected(cfg());
    assert_eq!(publish(&mut s, QoS::AtLeastOnce), Ok(Some(1)));
    assert_eq!(s.inflight_free(), 63);
    s.handle_bytes(1, &puback(1)).unwrap();
    assert_eq!(events(&mut s), vec![Event::PubAck(1)]);
    assert_eq!(s.inflight_free(), 64);
}

#[test]
fn ack_for_unknown_packet_id_ends_connection_fails() {
    for (bytes, packet_type) in [
        (puback(99).to_vec(), 4u8),
        (vec![0x90, 0x03, 0xFF, 0xFF, 0x01], 9),
        (vec![0xB0, 0x02, 0x00, 0x07], 11),
    ] {
        let mut s = connected(cfg());
        assert_eq!(publish(&mut s, QoS::AtLeastOnce), Ok(Some(1)));
        let _ = sent(&mut s);
        let pkid = u16::from_be_bytes([bytes[2], bytes[3]]);
        let e = Error::UnknownPacketId { packet_type, pkid };
        assert_eq!(s.handle_bytes(1, &bytes), Err(e.clone()));
        assert_eq!(
            events(&mut s),
            vec![Event::ConnectionLost(LostReason::Protocol(e))]
        );
        assert_eq!(s.state(), State::Idle);
        assert_eq!(
            s.inflight_ids(),
            vec![1],
            "the publish is kept for a resend"
        );
    }
}

#[test]
fn publish_qos2_fails() {
    let mut s = connected(cfg());
    assert_eq!(
        publish(&mut s, QoS::ExactlyOnce),
        Err(PublishError::QosNotSupported)
    );
    assert_eq!(sent(&mut s), vec![]);
}

#[test]
fn publish_wildcard_topic_fails() {
    let mut s = connected(cfg());
    for t in ["", "a/+", "a/#"] {
        assert_eq!(
            s.publish(0, t, b"", QoS::AtMostOnce, false),
            Err(PublishError::InvalidTopic)
        );
    }
}

#[test]
fn publish_inflight_full_fails_and_loses_nothing() {
    let mut c = cfg();
    c.max_inflight = 3;
    let mut s = connected(c);
    for id in 1..=3 {
        assert_eq!(publish(&mut s, QoS::AtLeastOnce), Ok(Some(id)));
    }
    assert_eq!(s.inflight_free(), 0);
    assert_eq!(
        publish(&mut s, QoS::AtLeastOnce),
        Err(PublishError::InflightFull)
    );
    // QoS 0 does not use the window.
    assert_eq!(publish(&mut s, QoS::AtMostOnce), Ok(None));
    assert_eq!(s.inflight_ids(), vec![1, 2, 3]);
    assert_eq!(sent(&mut s).len(), 4);
    s.handle_bytes(1, &puback(2)).unwrap();
    assert_eq!(s.inflight_free(), 1);
    assert_eq!(publish(&mut s, QoS::AtLeastOnce), Ok(Some(4)));
    assert_eq!(s.inflight_ids(), vec![1, 3, 4]);
}

#[test]
fn publish_resent_with_dup_in_order_after_reconnect_succeeds() {
    let mut s = connected(cfg());
    for (i, body) in [b"A", b"B", b"C"].iter().enumerate() {
        let id = s.publish(0, "t", *body, QoS::AtLeastOnce, false).unwrap();
        assert_eq!(id, Some(i as u16 + 1));
    }
    let first = sent(&mut s);
    assert!(first
        .iter()
        .all(|p| matches!(p, Packet::Publish(p) if !p.dup)));
    s.handle_bytes(1, &puback(2)).unwrap();
    let _ = events(&mut s);

    s.connection_lost(2);
    assert_eq!(
        events(&mut s),
        vec![Event::ConnectionLost(LostReason::Transport)]
    );
    assert_eq!(s.state(), State::Idle);
    assert_eq!(
        publish(&mut s, QoS::AtLeastOnce),
        Err(PublishError::NotConnected)
    );

    s.connect(3, Some("pw".into())).unwrap();
    // Only CONNECT until the CONNACK.
    assert!(matches!(sent(&mut s)[..], [Packet::Connect(_)]));
    s.handle_bytes(4, CONNACK_OK).unwrap();
    s.publish(4, "t", b"D", QoS::AtLeastOnce, false).unwrap();
    let resent: Vec<(u16, bool, Vec<u8>)> = sent(&mut s)
        .into_iter()
        .map(|p| match p {
            Packet::Publish(p) => (p.pkid, p.dup, p.payload.to_vec()),
            other => panic!("unexpected {other:?}"),
        })
        .collect();
    assert_eq!(
        resent,
        vec![
            (1, true, b"A".to_vec()),
            (3, true, b"C".to_vec()),
            (4, false, b"D".to_vec()),
        ]
    );
}

#[test]
fn subscribe_suback_with_failure_succeeds() {
    let mut s = connected(cfg());
    let filters = [
        ("a/#".to_string(), QoS::AtLeastOnce),
        ("b".to_string(), QoS::AtMostOnce),
    ];
    assert_eq!(s.subscribe(0, &filters), Ok(1));
    assert!(
        matches!(sent(&mut s)[..], [Packet::Subscribe(ref p)] if p.pkid == 1 && p.filters.len() == 2)
    );
    s.handle_bytes(1, &[0x90, 0x04, 0x00, 0x01, 0x01, 0x80])
        .unwrap();
    assert_eq!(
        events(&mut s),
        vec![Event::SubAck {
            pkid: 1,
            granted: vec![Some(QoS::AtLeastOnce), None]
        }]
    );
}

#[test]
fn subscribe_bad_arguments_fails() {
    let mut s = connected(cfg());
    assert_eq!(s.subscribe(0, &[]), Err(Error::NoFilters));
    assert_eq!(
        s.subscribe(0, &[(String::new(), QoS::AtMostOnce)]),
        Err(Error::InvalidFilter)
    );
    assert_eq!(
        s.subscribe(0, &[("a".into(), QoS::ExactlyOnce)]),
        Err(Error::QosNotSupported)
    );
    assert_eq!(s.unsubscribe(0, &[]), Err(Error::NoFilters));
    assert_eq!(sent(&mut s), vec![]);
}

#[test]
fn unsubscribe_unsuback_succeeds() {
    let mut s = connected(cfg());
    assert_eq!(s.unsubscribe(0, &["a/#".into()]), Ok(1));
    assert!(matches!(sent(&mut s)[..], [Packet::Unsubscribe(ref u)] if u.pkid == 1));
    s.handle_bytes(1, &[0xB0, 0x02, 0x00, 0x01]).unwrap();
    assert_eq!(events(&mut s), vec![Event::UnsubAck(1)]);
}

#[test]
fn incoming_qos1_publish_queues_puback_succeeds() {
    let mut s = connected(cfg());
    s.handle_bytes(1, &[0x3B, 0x06, 0x00, 0x01, b't', 0x01, 0x02, b'!'])
        .unwrap();
    assert_eq!(
        events(&mut s),
        vec![Event::Message(Incoming {
            topic: "t".into(),
            payload: b"!".to_vec(),
            qos: QoS::AtLeastOnce,
            dup: true,
            retain: true,
            pkid: 0x0102,
        })]
    );
    assert_eq!(sent(&mut s), vec![Packet::PubAck(PubAck::new(0x0102))]);
}

#[test]
fn incoming_qos2_publish_fails() {
    let mut s = connected(cfg());
    let err = s
        .handle_bytes(1, &[0x34, 0x06, 0x00, 0x01, b't', 0x00, 0x01, b'!'])
        .unwrap_err();
    assert_eq!(err, Error::IncomingQos2);
    assert_eq!(
        events(&mut s),
        vec![Event::ConnectionLost(LostReason::Protocol(
            Error::IncomingQos2
        ))]
    );
    assert_eq!(s.state(), State::Idle);
    assert_eq!(sent(&mut s), vec![], "no PUBREC");
}

#[test]
fn protocol_error_stops_processing_rest_of_message_succeeds() {
    let mut s = connected(cfg());
    // A SUBSCRIBE (server must never send it) followed by a valid PUBLISH.
    let err = s
        .handle_bytes(1, &[0x82, 0x02, 0x00, 0x01, 0x30, 0x03, 0x00, 0x01, b't'])
        .unwrap_err();
    assert_eq!(err, Error::UnexpectedPacket(8));
    assert_eq!(events(&mut s).len(), 1);
    // Bytes after the loss are ignored.
    assert_eq!(s.handle_bytes(2, &[0x30, 0x03, 0x00, 0x01, b't']), Ok(()));
    assert_eq!(events(&mut s), vec![]);
}

#[test]
fn disconnect_queues_disconnect_succeeds() {
    let mut s = connected(cfg());
    s.disconnect(5);
    assert_eq!(s.state(), State::Closed);
    assert_eq!(sent(&mut s), vec![Packet::Disconnect]);
    assert_eq!(s.poll_timeout(), None);
    // The transport then closes: no event, still Closed.
    s.connection_lost(6);
    assert_eq!(events(&mut s), vec![]);
    assert_eq!(s.state(), State::Closed);
    // And the session can connect again.
    s.connect(7, None).unwrap();
    assert_eq!(s.state(), State::Connecting);
}

#[test]
fn coalesce_off_gives_one_packet_per_buffer_succeeds() {
    let mut c = cfg();
    c.coalesce = false;
    let mut s = connected(c);
    publish(&mut s, QoS::AtMostOnce).unwrap();
    publish(&mut s, QoS::AtLeastOnce).unwrap();
    assert_eq!(
        s.poll_transmit().unwrap(),
        [0x30, 0x04, 0x00, 0x01, b't', b'x']
    );
    assert_eq!(
        s.poll_transmit().unwrap(),
        [0x32, 0x06, 0x00, 0x01, b't', 0x00, 0x01, b'x']
    );
    assert_eq!(s.poll_transmit(), None);
}

#[test]
fn coalesce_on_gives_one_buffer_succeeds() {
    let mut s = connected(cfg());
    publish(&mut s, QoS::AtMostOnce).unwrap();
    publish(&mut s, QoS::AtLeastOnce).unwrap();
    assert_eq!(
        s.poll_transmit().unwrap(),
        [0x30, 0x04, 0x00, 0x01, b't', b'x', 0x32, 0x06, 0x00, 0x01, b't', 0x00, 0x01, b'x']
    );
    assert_eq!(s.poll_transmit(), None);
}
