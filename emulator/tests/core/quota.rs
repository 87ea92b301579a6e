//! The throttling faults: a telemetry rate (traffic shaping, then refusal)
//! and a spent daily quota.

use super::harness::*;

const EVENTS: &str = "devices/d1/messages/events/";

fn inject(h: &mut Hub, body: serde_json::Value) {
    let f = parse_fault(&body).unwrap();
    h.inject_fault(T0, &IdentityId::device("d1"), f).unwrap();
}

/// The packet ids acknowledged on `c` by the timers up to `at`.
fn acks_until(h: &mut Hub, c: ConnId, at: u64) -> Vec<u16> {
    h.handle_timeout(at);
    drain(h, c)
        .0
        .iter()
        .filter_map(|p| match p {
            Packet::PubAck(a) => Some(a.pkid),
            _ => None,
        })
        .collect()
}

#[test]
fn message_rate_shapes_pubacks_to_the_rate_succeeds() {
    let mut h = hub();
    let c = online(&mut h, "d1", &[]);
    inject(&mut h, json!({"kind": "messageRate", "perSecond": 2}));
    let mut now_acked = Vec::new();
    for pkid in 1..=5 {
        let (pkts, closed, rest) = publish(&mut h, T0, c, EVENTS, QoS::AtLeastOnce, pkid, b"t");
        assert_eq!(closed, None);
        assert_eq!(rest.len(), 1, "every message is recorded");
        now_acked.extend(pkts.iter().filter_map(|p| match p {
            Packet::PubAck(a) => Some(a.pkid),
            _ => None,
        }));
    }
    assert_eq!(now_acked, [1, 2], "a second's worth at once");
    assert_eq!(acks_until(&mut h, c, T0 + 499), Vec::<u16>::new());
    assert_eq!(acks_until(&mut h, c, T0 + 500), [3]);
    assert_eq!(acks_until(&mut h, c, T0 + 1_500), [4, 5]);
    // Lifted: acknowledged at once again.
    inject(&mut h, json!({"kind": "messageRate", "perSecond": 0}));
    let (pkts, ..) = publish(&mut h, T0 + 1_500, c, EVENTS, QoS::AtLeastOnce, 6, b"t");
    assert!(matches!(pkts[..], [Packet::PubAck(PubAck { pkid: 6 })]));
}

#[test]
fn message_rate_backlog_over_max_delay_closes_fails() {
    let mut h = hub();
    let c = online(&mut h, "d1", &[]);
    inject(
        &mut h,
        json!({"kind": "messageRate", "perSecond": 1, "maxDelayMs": 2000}),
    );
    for pkid in 1..=3 {
        let (_, closed, _) = publish(&mut h, T0, c, EVENTS, QoS::AtLeastOnce, pkid, b"t");
        assert_eq!(closed, None, "delays 0, 1000, 2000 ms");
    }
    let (_, closed, rest) = publish(&mut h, T0, c, EVENTS, QoS::AtLeastOnce, 4, b"t");
    assert_eq!(closed, Some(false), "3000 ms: the hub refuses, MQTT closes");
    assert!(rest.is_empty(), "not recorded");
}

#[test]
fn quota_exceeded_closes_on_telemetry_403_for_the_rest_fails() {
    let mut h = hub();
    let id = IdentityId::device("d1");
    let c = online(&mut h, "d1", &["$iothub/twin/res/#"]);
    inject(&mut h, json!({"kind": "quotaExceeded", "ms": 60_000}));
    let (pkts, closed, _) = publish(
        &mut h,
        T0,
        c,
        "$iothub/twin/GET/?$rid=1",
        QoS::AtMostOnce,
        0,
        b"",
    );
    assert_eq!(closed, None);
    let p = publishes(&pkts)[0];
    assert_eq!(p.topic, "$iothub/twin/res/403/?$rid=1");
    let body: serde_json::Value = serde_json::from_slice(&p.payload).unwrap();
    assert_eq!(body["errorCode"], 403002);
    assert_eq!(
        h.send_c2d(T0, "d1", C2dMessage::default()),
        Err(ServiceError::QuotaExceeded)
    );
    assert_eq!(
        h.invoke_method(T0, &id, "m", b"1".to_vec(), 30_000, 0),
        Err(ServiceError::QuotaExceeded)
    );
    assert_eq!(ServiceError::QuotaExceeded.status(), 403);
    assert_eq!(ServiceError::QuotaExceeded.code(), "IotHubQuotaExceeded");
    let (_, closed, rest) = publish(&mut h, T0, c, EVENTS, QoS::AtLeastOnce, 1, b"t");
    assert_eq!(
        closed,
        Some(false),
        "telemetry: the hub drops the connection"
    );
    assert!(rest.is_empty());
    // The quota renews after ms.
    let c = online(&mut h, "d1", &[]);
    let (pkts, closed, _) = publish(&mut h, T0 + 60_000, c, EVENTS, QoS::AtLeastOnce, 2, b"t");
    assert_eq!(closed, None);
    assert!(matches!(pkts[..], [Packet::PubAck(PubAck { pkid: 2 })]));
}

#[test]
fn quota_exceeded_default_lasts_until_utc_midnight_succeeds() {
    let mut h = hub();
    inject(&mut h, json!({"kind": "quotaExceeded"}));
    let midnight = (T0 / 86_400_000 + 1) * 86_400_000;
    let c2d = || C2dMessage::default();
    assert_eq!(
        h.send_c2d(midnight - 1, "d1", c2d()),
        Err(ServiceError::QuotaExceeded)
    );
    assert_eq!(h.send_c2d(midnight, "d1", c2d()), Ok(()));
    // ms: 0 renews at once.
    inject(&mut h, json!({"kind": "quotaExceeded"}));
    inject(&mut h, json!({"kind": "quotaExceeded", "ms": 0}));
    assert_eq!(h.send_c2d(T0, "d1", c2d()), Ok(()));
}

#[test]
fn message_rate_without_per_second_fails() {
    assert!(matches!(
        parse_fault(&json!({"kind": "messageRate"})),
        Err(ServiceError::BadRequest(_))
    ));
}
