//! Cloud-to-device queues across sessions, expiry, the delivery count,
//! dead-lettering and `iothub-ack` feedback.

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
    h.send_c2d(T0, "d1", c2d("m1")).unwrap();
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
    h.send_c2d(T0, "d1", c2d("queued")).unwrap();
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
    h.send_c2d(T0, "d1", c2d("old")).unwrap();
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
        h.send_c2d(T0, "zz", c2d("x")),
        Err(ServiceError::DeviceNotFound)
    );
    for i in 0..50 {
        h.send_c2d(T0, "d1", c2d(&i.to_string())).unwrap();
    }
    assert_eq!(
        h.send_c2d(T0, "d1", c2d("51")),
        Err(ServiceError::QueueFull)
    );
}

#[test]
fn c2d_kept_when_module_connects_with_clean_session_succeeds() {
    let mut h = hub();
    h.send_c2d(T0, "d1", c2d("for the device")).unwrap();
    let (_, code) = open(&mut h, T0, &connect_device("d1/m1", true));
    assert_eq!(code, ConnectReturnCode::Success);
    assert_eq!(h.c2d_pending("d1"), 1);
}

const C2D_SUB: &str = "devices/d1/messages/devicebound/#";
const HOUR: u64 = 3_600_000;

fn msg(id: &str, ack: Option<&str>, expiry: Option<String>) -> C2dMessage {
    C2dMessage {
        payload: b"x".to_vec(),
        message_id: Some(id.into()),
        ack: ack.map(str::to_string),
        expiry,
        ..C2dMessage::default()
    }
}

/// (originalMessageId, statusCode) of every feedback record readable at `now`.
fn feedback(h: &mut Hub, now: u64) -> Vec<(String, String)> {
    let v = h.feedback_json(now, 0, 100);
    v["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            assert_eq!(r["description"], r["statusCode"]);
            (
                r["originalMessageId"].as_str().unwrap_or("").to_string(),
                r["statusCode"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

fn pair(id: &str, status: &str) -> (String, String) {
    (id.to_string(), status.to_string())
}

#[test]
fn c2d_expired_never_delivered_and_feedback_says_expired_fails() {
    let mut h = hub();
    let exp = iso8601(T0 + 1_000);
    h.send_c2d(T0, "d1", msg("short", Some("negative"), Some(exp.clone())))
        .unwrap();
    assert_eq!(h.poll_timeout(), Some(T0 + 1_000));
    h.handle_timeout(T0 + 1_000);
    assert_eq!(h.c2d_pending("d1"), 0);
    let r = h.feedback_json(T0 + 1_000, 0, 10)["items"][0].clone();
    assert_eq!(r["originalMessageId"], "short");
    assert_eq!(r["statusCode"], "Expired");
    assert_eq!(r["deviceId"], "d1");
    assert_eq!(r["enqueuedTimeUtc"], iso8601(T0 + 1_000));
    assert!(r["deviceGenerationId"]
        .as_str()
        .is_some_and(|g| !g.is_empty()));
    let c = online(&mut h, "d1", &[C2D_SUB]);
    assert!(publishes(&drain(&mut h, c).0).is_empty(), "never delivered");
    // A message sent already expired is accepted and dead-lettered at once.
    h.send_c2d(T0, "d1", msg("late", Some("full"), Some(iso8601(T0 - 1))))
        .unwrap();
    assert!(publishes(&drain(&mut h, c).0).is_empty());
    assert_eq!(feedback(&mut h, T0)[1], pair("late", "Expired"));
}

#[test]
fn c2d_default_ttl_is_one_hour_succeeds() {
    let mut h = hub();
    h.send_c2d(T0, "d1", msg("m", Some("full"), None)).unwrap();
    h.handle_timeout(T0 + HOUR - 1);
    assert_eq!(h.c2d_pending("d1"), 1);
    assert_eq!(h.poll_timeout(), Some(T0 + HOUR));
    h.handle_timeout(T0 + HOUR);
    assert_eq!(h.c2d_pending("d1"), 0);
    assert_eq!(feedback(&mut h, T0 + HOUR), [pair("m", "Expired")]);
}

#[test]
fn c2d_expired_while_in_flight_dead_lettered_on_disconnect_fails() {
    let mut h = hub();
    let c = online(&mut h, "d1", &[C2D_SUB]);
    h.send_c2d(T0, "d1", msg("m", Some("full"), Some(iso8601(T0 + 500))))
        .unwrap();
    assert_eq!(publishes(&drain(&mut h, c).0).len(), 1);
    h.handle_timeout(T0 + 600);
    assert_eq!(h.c2d_pending("d1"), 1, "in flight: waits for its PUBACK");
    h.connection_closed(T0 + 600, c);
    assert_eq!(h.c2d_pending("d1"), 0);
    assert_eq!(feedback(&mut h, T0 + 600), [pair("m", "Expired")]);
}

#[test]
fn c2d_delivered_max_times_unacknowledged_dead_lettered_fails() {
    let mut h = hub();
    h.send_c2d(T0, "d1", msg("m", Some("negative"), None))
        .unwrap();
    let mut now = T0;
    for delivery in 1..=10 {
        let c = h.connection_opened(now);
        h.handle_bytes(now, c, &connect_device("d1", false));
        if delivery == 1 {
            let _ = drain(&mut h, c);
            subscribe(&mut h, c, &[C2D_SUB]);
        } else {
            let pkts = drain(&mut h, c).0;
            let p = publishes(&pkts);
            assert_eq!(p.len(), 1, "delivery {delivery}");
            assert!(p[0].dup);
        }
        now += 1_000;
        h.connection_closed(now, c); // never acknowledged
    }
    assert_eq!(
        h.c2d_pending("d1"),
        0,
        "dead-lettered after the 10th delivery"
    );
    assert_eq!(feedback(&mut h, now), [pair("m", "DeliveryCountExceeded")]);
    let c = h.connection_opened(now);
    h.handle_bytes(now, c, &connect_device("d1", false));
    assert!(
        publishes(&drain(&mut h, c).0).is_empty(),
        "no 11th delivery"
    );
}

#[test]
fn c2d_feedback_by_ack_value_succeeds() {
    let mut h = hub();
    let c = online(&mut h, "d1", &[C2D_SUB]);
    for (id, ack) in [
        ("pos", Some("positive")),
        ("neg", Some("negative")),
        ("full", Some("full")),
        ("none", Some("none")),
        ("unset", None),
    ] {
        h.send_c2d(T0, "d1", msg(id, ack, None)).unwrap();
    }
    let pkts = drain(&mut h, c).0;
    for p in publishes(&pkts) {
        h.handle_bytes(T0 + 5, c, &encode(Packet::PubAck(PubAck::new(p.pkid))));
    }
    assert_eq!(h.c2d_pending("d1"), 0);
    assert_eq!(
        feedback(&mut h, T0 + 5),
        [pair("pos", "Success"), pair("full", "Success")]
    );
    // Negative outcomes: the clean-session CONNECT drops the queue (Rejected).
    for (id, ack) in [
        ("pos2", "positive"),
        ("neg2", "negative"),
        ("full2", "full"),
    ] {
        h.send_c2d(T0, "d1", msg(id, Some(ack), None)).unwrap();
    }
    h.connection_closed(T0 + 6, c);
    let (_, code) = open(&mut h, T0 + 7, &connect_device("d1", true));
    assert_eq!(code, ConnectReturnCode::Success);
    assert_eq!(
        feedback(&mut h, T0 + 7)[2..],
        [pair("neg2", "Rejected"), pair("full2", "Rejected")]
    );
    // The cursor: only what came after.
    let v = h.feedback_json(T0 + 7, 3, 100);
    assert_eq!(v["items"].as_array().unwrap().len(), 1);
    assert_eq!(v["next"], 4);
}

#[test]
fn c2d_qos0_subscription_completes_on_send_succeeds() {
    let mut h = hub();
    let c = online(&mut h, "d1", &[]);
    let mut s = Subscribe::empty_subscribe();
    s.pkid = 3;
    s.add(C2D_SUB.to_string(), QoS::AtMostOnce);
    h.handle_bytes(T0, c, &encode(Packet::Subscribe(s)));
    let _ = drain(&mut h, c);
    h.send_c2d(T0, "d1", msg("q0", Some("positive"), None))
        .unwrap();
    assert_eq!(publishes(&drain(&mut h, c).0)[0].qos, QoS::AtMostOnce);
    assert_eq!(h.c2d_pending("d1"), 0);
    assert_eq!(feedback(&mut h, T0), [pair("q0", "Success")]);
}

#[test]
fn c2d_bad_ack_expiry_and_size_fail() {
    let mut h = hub();
    let r = h.send_c2d(T0, "d1", msg("m", Some("always"), None));
    assert!(matches!(r, Err(ServiceError::BadRequest(_))), "{r:?}");
    let r = h.send_c2d(T0, "d1", msg("m", None, Some("tomorrow".into())));
    assert!(matches!(r, Err(ServiceError::BadRequest(_))), "{r:?}");
    // 64 KB counts the body and the property names and values.
    let sized = |body: usize| C2dMessage {
        payload: vec![b'x'; body],
        message_id: Some("m".into()),
        properties: vec![("k".into(), "vv".into())],
        ..C2dMessage::default()
    };
    h.send_c2d(T0, "d1", sized(64 * 1024 - 4)).unwrap();
    let r = h.send_c2d(T0, "d1", sized(64 * 1024 - 3));
    assert!(matches!(r, Err(ServiceError::MessageTooLarge(_))), "{r:?}");
    assert_eq!(r.unwrap_err().status(), 413);
    assert_eq!(h.c2d_pending("d1"), 1);
}

#[test]
fn c2d_deleted_device_loses_its_feedback_succeeds() {
    let mut h = hub();
    h.send_c2d(T0, "d1", msg("m", Some("full"), Some(iso8601(T0))))
        .unwrap();
    h.send_c2d(T0, "d2", msg("m2", Some("full"), Some(iso8601(T0))))
        .unwrap();
    assert_eq!(feedback(&mut h, T0).len(), 2);
    h.delete_identity(T0, &IdentityId::device("d1")).unwrap();
    assert_eq!(feedback(&mut h, T0), [pair("m2", "Expired")]);
}
