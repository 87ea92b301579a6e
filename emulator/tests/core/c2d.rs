//! Cloud-to-device queues across sessions.

use super::harness::*;

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

#[test]
fn c2d_kept_when_module_connects_with_clean_session_succeeds() {
    let mut h = hub();
    h.send_c2d("d1", c2d("for the device")).unwrap();
    let (_, code) = open(&mut h, T0, &connect_device("d1/m1", true));
    assert_eq!(code, ConnectReturnCode::Success);
    assert_eq!(h.c2d_pending("d1"), 1);
}
