//! IoT Edge routes: module outputs delivered to module inputs.

use super::harness::*;

const INPUTS_M2: &str = "devices/d1/modules/m2/inputs/#";
const OUT_M1: &str = "devices/d1/modules/m1/messages/events/%24.on=temp&%24.mid=x1&unit=C";

/// The publishes among `outputs` (drained for another connection) sent to `conn`.
fn sent_to(outputs: &[Output], conn: ConnId) -> Vec<Publish> {
    let mut out = Vec::new();
    for o in outputs {
        if let Output::Transmit { conn: c, bytes } = o {
            if *c == conn {
                let mut b = BytesMut::from(&bytes[..]);
                while !b.is_empty() {
                    if let Packet::Publish(p) = v4::read(&mut b, 1 << 20).unwrap() {
                        out.push(p);
                    }
                }
            }
        }
    }
    out
}

fn routed_hub(route: &str) -> Hub {
    let mut h = hub();
    add_identity(&mut h, &IdentityId::module("d1", "m2"), KEY2);
    h.put_routes("d1", &json!({"routes": {"r1": route}}))
        .unwrap();
    h
}

const M1_TO_M2: &str =
    r#"FROM /messages/modules/m1/outputs/temp INTO BrokeredEndpoint("/modules/m2/inputs/in1")"#;

#[test]
fn route_output_to_input_delivered_qos1_until_puback_succeeds() {
    let mut h = routed_hub(M1_TO_M2);
    let m2 = online(&mut h, "d1/m2", &[INPUTS_M2]);
    let m1 = online(&mut h, "d1/m1", &[]);
    let (acks, _, rest) = publish(&mut h, T0, m1, OUT_M1, QoS::AtLeastOnce, 5, b"21.5");
    assert!(matches!(acks[..], [Packet::PubAck(ref a)] if a.pkid == 5));
    let sent = sent_to(&rest, m2);
    let p = &sent[0];
    assert_eq!(
        p.topic,
        "devices/d1/modules/m2/inputs/in1/%24.mid=x1&%24.cdid=d1&%24.cmid=m1&unit=C"
    );
    assert_eq!((&p.payload[..], p.qos), (&b"21.5"[..], QoS::AtLeastOnce));
    assert_eq!(h.input_queue_info(&IdentityId::module("d1", "m2")), (1, 0));
    h.handle_bytes(T0, m2, &encode(Packet::PubAck(PubAck::new(p.pkid))));
    assert_eq!(h.input_queue_info(&IdentityId::module("d1", "m2")).0, 0);
    // The message is in the telemetry log too, with its output name.
    let items = h.telemetry_json(0, Some("d1"), 10)["items"].clone();
    assert_eq!(items[0]["systemProperties"]["outputName"], "temp");
}

#[test]
fn route_queued_while_offline_delivered_on_subscribe_and_redelivered_succeeds() {
    let mut h = routed_hub(M1_TO_M2);
    let m1 = online(&mut h, "d1/m1", &[]);
    publish(&mut h, T0, m1, OUT_M1, QoS::AtLeastOnce, 1, b"a");
    let m2 = online(&mut h, "d1/m2", &[]);
    assert!(
        publishes(&drain(&mut h, m2).0).is_empty(),
        "not subscribed yet"
    );
    let pkts = subscribe(&mut h, m2, &[INPUTS_M2]);
    let first = publishes(&pkts)[0].clone();
    assert!(!first.dup);
    // Not acked, the connection drops; after reconnecting (session kept) it comes again with DUP.
    h.connection_closed(T0, m2);
    let c = h.connection_opened(T0);
    h.handle_bytes(T0, c, &connect_device("d1/m2", false));
    let (pkts, ..) = drain(&mut h, c);
    let again = publishes(&pkts);
    assert_eq!(again.len(), 1);
    assert!(again[0].dup);
    assert_eq!(again[0].payload, first.payload);
}

#[test]
fn route_non_matching_output_or_other_sources_not_delivered_fails() {
    let mut h = routed_hub(M1_TO_M2);
    let m2 = online(&mut h, "d1/m2", &[INPUTS_M2]);
    let m1 = online(&mut h, "d1/m1", &[]);
    let d = online(&mut h, "d1", &[]);
    let mut rest = Vec::new();
    for (c, topic) in [
        (m1, "devices/d1/modules/m1/messages/events/%24.on=other"),
        (m1, "devices/d1/modules/m1/messages/events/"),
        (d, "devices/d1/messages/events/%24.on=temp"),
    ] {
        rest.extend(publish(&mut h, T0, c, topic, QoS::AtLeastOnce, 1, b"x").2);
    }
    assert!(sent_to(&rest, m2).is_empty());
    assert_eq!(
        h.telemetry_json(0, Some("d1"), 10)["items"]
            .as_array()
            .unwrap()
            .len(),
        3
    );
}

#[test]
fn route_wildcard_sources_and_two_sinks_succeeds() {
    let mut h = hub();
    add_identity(&mut h, &IdentityId::module("d1", "m2"), KEY2);
    h.put_routes(
        "d1",
        &json!({"routes": {
            "all": r#"FROM /messages/modules/* INTO BrokeredEndpoint("/modules/m2/inputs/all")"#,
            "outs": {"route": r#"FROM /messages/modules/m1/outputs/* INTO BrokeredEndpoint("/modules/m2/inputs/outs")"#, "priority": 0},
            "up": "FROM /messages/* INTO $upstream"
        }}),
    )
    .unwrap();
    let m2 = online(&mut h, "d1/m2", &[INPUTS_M2]);
    let m1 = online(&mut h, "d1/m1", &[]);
    let (_, _, rest) = publish(&mut h, T0, m1, OUT_M1, QoS::AtMostOnce, 0, b"1");
    let topics: Vec<String> = sent_to(&rest, m2).iter().map(|p| p.topic.clone()).collect();
    assert_eq!(topics.len(), 2, "{topics:?}");
    assert!(topics[0].starts_with("devices/d1/modules/m2/inputs/all/"));
    assert!(topics[1].starts_with("devices/d1/modules/m2/inputs/outs/"));
}

#[test]
fn put_routes_bad_table_fails() {
    let mut h = hub();
    for body in [
        json!({}),
        json!({"routes": {"r": 1}}),
        json!({"routes": {"r": "FROM /messages/* WHERE a=1 INTO $upstream"}}),
        json!({"routes": {"r": "FROM /nope INTO $upstream"}}),
    ] {
        assert!(
            matches!(h.put_routes("d1", &body), Err(ServiceError::BadRequest(_))),
            "{body}"
        );
    }
    assert_eq!(
        h.put_routes("ghost", &json!({"routes": {}})),
        Err(ServiceError::DeviceNotFound)
    );
    assert_eq!(h.routes_json("d1").unwrap(), json!({"routes": {}}));
}

#[test]
fn module_subscribes_inputs_filter_granted_device_refused_succeeds() {
    let mut h = hub();
    let m1 = online(&mut h, "d1/m1", &[]);
    let pkts = subscribe(
        &mut h,
        m1,
        &[
            "devices/d1/modules/m1/inputs/#",
            "devices/d1/modules/m2/inputs/#",
        ],
    );
    match &pkts[..] {
        [Packet::SubAck(a)] => assert_eq!(
            a.return_codes,
            vec![
                v4::SubscribeReasonCode::Success(QoS::AtLeastOnce),
                v4::SubscribeReasonCode::Failure
            ]
        ),
        other => panic!("{other:?}"),
    }
    let info = h.connection_info(&IdentityId::module("d1", "m1")).unwrap();
    assert_eq!(info.subscriptions, vec!["devices/d1/modules/m1/inputs/#"]);
}

#[test]
fn route_sender_claimed_in_cdid_cmid_replaced_by_the_real_one_fails() {
    let mut h = routed_hub(M1_TO_M2);
    let m2 = online(&mut h, "d1/m2", &[INPUTS_M2]);
    let m1 = online(&mut h, "d1/m1", &[]);
    let spoof = "devices/d1/modules/m1/messages/events/%24.on=temp&%24.cdid=other&%24.cmid=boss&%24.ctime=2030-01-02T03%3A04%3A05Z";
    let (_, _, rest) = publish(&mut h, T0, m1, spoof, QoS::AtMostOnce, 0, b"x");
    let sent = sent_to(&rest, m2);
    assert_eq!(
        sent[0].topic,
        "devices/d1/modules/m2/inputs/in1/%24.ctime=2030-01-02T03%3A04%3A05Z&%24.cdid=d1&%24.cmid=m1"
    );
    // The log has the creation time, and neither the claimed ids nor the hub's own.
    let item = h.telemetry_json(0, Some("d1"), 10)["items"][0].clone();
    let sys = item["systemProperties"].as_object().unwrap();
    assert_eq!(sys["creationTimeUtc"], "2030-01-02T03:04:05Z");
    assert!(!sys.contains_key("connectionDeviceId") && !sys.contains_key("connectionModuleId"));
    assert!(item["properties"].as_object().unwrap().is_empty());
}
