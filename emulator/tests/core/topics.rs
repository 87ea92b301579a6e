//! Telemetry recording, QoS 2, retain, topic and subscription rules, wills.

use super::harness::*;

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
        h.telemetry_json(0, None, 10)["items"][0]["properties"]["mqtt-retain"],
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
