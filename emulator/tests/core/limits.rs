//! Telemetry and connection limits: the message size (body plus properties),
//! the keep-alive range, the number of subscriptions, the retain marker.

use super::harness::*;

const EVENTS: &str = "devices/d1/messages/events/";

#[test]
fn telemetry_size_counts_properties_and_closes_over_256k_fails() {
    let mut h = hub();
    let c = online(&mut h, "d1", &[]);
    // $.mid=m1 (2) and k=vv (3): 5 bytes of properties.
    let topic = format!("{EVENTS}%24.mid=m1&k=vv");
    let body = vec![b'x'; 256 * 1024 - 5];
    let (pkts, closed, rest) = publish(&mut h, T0, c, &topic, QoS::AtLeastOnce, 1, &body);
    assert_eq!(closed, None, "exactly 256 KiB is accepted");
    assert!(matches!(pkts[..], [Packet::PubAck(PubAck { pkid: 1 })]));
    assert_eq!(rest.len(), 1);
    let body = vec![b'x'; 256 * 1024 - 4];
    let (pkts, closed, rest) = publish(&mut h, T0, c, &topic, QoS::AtLeastOnce, 2, &body);
    assert_eq!(
        closed,
        Some(false),
        "one byte over: the hub closes the connection"
    );
    assert!(
        pkts.is_empty() && rest.is_empty(),
        "not acknowledged, not recorded"
    );
}

#[test]
fn telemetry_retain_marked_mqtt_retain_succeeds() {
    let mut h = hub();
    let c = online(&mut h, "d1", &[]);
    let mut p = Publish::new(EVENTS, QoS::AtMostOnce, b"r".to_vec());
    p.retain = true;
    h.handle_bytes(T0, c, &encode(Packet::Publish(p)));
    let _ = drain(&mut h, c);
    let props = &h.telemetry_json(0, None, 10)["items"][0]["properties"];
    assert_eq!(props["mqtt-retain"], "true");
    assert!(props.get("x-opt-retain").is_none(), "not the old name");
}

fn connect_keep_alive(h: &mut Hub, keep_alive: u16) -> ConnId {
    let user = format!("{HOST}/d1/?api-version=2021-04-12");
    let pass = token(&format!("{HOST}/devices/d1"), KEY, EXP);
    let (c, code) = open(h, T0, &connect_with("d1", &user, &pass, false, keep_alive));
    assert_eq!(code, ConnectReturnCode::Success);
    c
}

#[test]
fn keepalive_timeout_is_one_and_a_half_times_capped_at_1767s_fails() {
    for (keep_alive, timeout_ms) in [
        (60, 90_000),
        (1177, 1_765_500),
        (1200, 1_767_000),
        (u16::MAX, 1_767_000),
        (0, 1_767_000),
    ] {
        let mut h = hub();
        let c = connect_keep_alive(&mut h, keep_alive);
        assert_eq!(
            h.poll_timeout(),
            Some(T0 + timeout_ms),
            "keep-alive {keep_alive}"
        );
        h.handle_timeout(T0 + timeout_ms - 1);
        assert!(is_connected(&h, "d1"), "keep-alive {keep_alive}");
        h.handle_timeout(T0 + timeout_ms);
        assert_eq!(drain(&mut h, c).1, Some(true), "keep-alive {keep_alive}");
        assert!(!is_connected(&h, "d1"));
    }
}

#[test]
fn subscriptions_beyond_five_refused_fails() {
    let mut h = hub();
    let c = online(&mut h, "d1", &[]);
    let filters = [
        "devices/d1/messages/devicebound/#",
        "$iothub/twin/res/#",
        "$iothub/twin/PATCH/properties/desired/#",
        "$iothub/methods/POST/a/#",
        "$iothub/methods/POST/b/#",
        "$iothub/methods/POST/#",
    ];
    let mut s = Subscribe::empty_subscribe();
    s.pkid = 4;
    for f in filters {
        s.add(f.to_string(), QoS::AtLeastOnce);
    }
    h.handle_bytes(T0, c, &encode(Packet::Subscribe(s)));
    let (pkts, closed, _) = drain(&mut h, c);
    assert_eq!(closed, None);
    let Packet::SubAck(ack) = &pkts[0] else {
        panic!("{pkts:?}")
    };
    use mqttbytes::v4::SubscribeReasonCode::{Failure, Success};
    let ok = Success(QoS::AtLeastOnce);
    assert_eq!(ack.return_codes, [ok, ok, ok, ok, ok, Failure]);
    assert_eq!(
        h.connection_info(&IdentityId::device("d1"))
            .unwrap()
            .subscriptions
            .len(),
        5
    );
    // Subscribing again to a filter the session holds is not a sixth one.
    let pkts = subscribe(&mut h, c, &["$iothub/twin/res/#"]);
    assert!(matches!(&pkts[0], Packet::SubAck(a) if a.return_codes == [ok]));
    // After an UNSUBSCRIBE there is room again.
    let mut u = v4::Unsubscribe::new("$iothub/methods/POST/a/#");
    u.pkid = 5;
    let mut b = BytesMut::new();
    u.write(&mut b).unwrap();
    h.handle_bytes(T0, c, &b);
    let _ = drain(&mut h, c);
    let pkts = subscribe(&mut h, c, &["$iothub/methods/POST/#"]);
    assert!(matches!(&pkts[0], Packet::SubAck(a) if a.return_codes == [ok]));
}
