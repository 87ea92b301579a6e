//! Every injected fault.

use super::harness::*;

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
    assert!(!is_connected(&h, "d1"));
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
    assert!(is_connected(&h, "d1"), "the client must close, not the hub");
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

#[test]
fn server_unavailable_fault_refuses_next_connects_with_3_succeeds() {
    let mut h = hub();
    assert_eq!(
        parse_fault(&json!({"kind": "serverUnavailable", "count": 2})),
        Ok(Fault::ServerUnavailable { count: 2 })
    );
    h.inject_fault(
        T0,
        &IdentityId::device("d1"),
        Fault::ServerUnavailable { count: 2 },
    )
    .unwrap();
    for _ in 0..2 {
        assert_eq!(
            open(&mut h, T0, &connect_device("d1", false)).1,
            ConnectReturnCode::ServiceUnavailable
        );
    }
    assert_eq!(
        open(&mut h, T0, &connect_device("d1", false)).1,
        ConnectReturnCode::Success
    );
}
