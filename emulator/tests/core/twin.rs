//! Twin GET, reported and desired patches, versions.

use super::harness::*;

#[test]
fn twin_get_and_reported_patch_versions_succeeds() {
    let mut h = hub();
    let c = online(&mut h, "d1", &["$iothub/twin/res/#"]);
    // The Node SDK sends a single space as the GET body, at QoS 0.
    let (pkts, ..) = publish(
        &mut h,
        T0,
        c,
        "$iothub/twin/GET/?$rid=44b7",
        QoS::AtMostOnce,
        0,
        b" ",
    );
    let p = publishes(&pkts)[0];
    assert_eq!(p.topic, "$iothub/twin/res/200/?$rid=44b7");
    let doc: serde_json::Value = serde_json::from_slice(&p.payload).unwrap();
    assert_eq!(
        doc,
        json!({"desired": {"$version": 1}, "reported": {"$version": 1}})
    );

    let topic = "$iothub/twin/PATCH/properties/reported/?$rid=8d4f";
    let (pkts, ..) = publish(
        &mut h,
        T0,
        c,
        topic,
        QoS::AtMostOnce,
        0,
        br#"{"fw":"1.1","nested":{"a":1}}"#,
    );
    assert_eq!(
        publishes(&pkts)[0].topic,
        "$iothub/twin/res/204/?$rid=8d4f&$version=2"
    );
    let (pkts, ..) = publish(
        &mut h,
        T0,
        c,
        topic,
        QoS::AtLeastOnce,
        5,
        br#"{"fw":null,"nested":{"b":2}}"#,
    );
    assert!(matches!(pkts[0], Packet::PubAck(PubAck { pkid: 5 })));
    assert_eq!(
        publishes(&pkts)[0].topic,
        "$iothub/twin/res/204/?$rid=8d4f&$version=3"
    );
    let twin = h.twin_json(&IdentityId::device("d1")).unwrap();
    assert_eq!(
        twin["properties"]["reported"],
        json!({"nested": {"a": 1, "b": 2}, "$version": 3})
    );
    assert_eq!(twin["version"], 3);
}

#[test]
fn twin_reported_patch_not_json_fails() {
    let mut h = hub();
    let c = online(&mut h, "d1", &["$iothub/twin/res/#"]);
    let (pkts, closed, _) = publish(
        &mut h,
        T0,
        c,
        "$iothub/twin/PATCH/properties/reported/?$rid=1",
        QoS::AtMostOnce,
        0,
        b"nope",
    );
    assert_eq!(closed, None);
    assert_eq!(publishes(&pkts)[0].topic, "$iothub/twin/res/400/?$rid=1");
}

#[test]
fn twin_desired_patch_pushed_to_subscriber_succeeds() {
    let mut h = hub();
    let c = online(&mut h, "d1", &["$iothub/twin/PATCH/properties/desired/#"]);
    let twin = h
        .patch_twin(
            T0,
            &IdentityId::device("d1"),
            &json!({"properties": {"desired": {"interval": 5, "x": {"y": 1}}}}),
        )
        .unwrap();
    assert_eq!(twin["properties"]["desired"]["$version"], 2);
    let (pkts, ..) = drain(&mut h, c);
    let p = publishes(&pkts)[0];
    assert_eq!(p.topic, "$iothub/twin/PATCH/properties/desired/?$version=2");
    let body: serde_json::Value = serde_json::from_slice(&p.payload).unwrap();
    assert_eq!(body, json!({"interval": 5, "x": {"y": 1}, "$version": 2}));
    let twin = h
        .patch_twin(
            T0,
            &IdentityId::device("d1"),
            &json!({"properties": {"desired": {"interval": null}}}),
        )
        .unwrap();
    assert_eq!(
        twin["properties"]["desired"],
        json!({"x": {"y": 1}, "$version": 3})
    );
}

#[test]
fn twin_desired_patch_not_object_fails() {
    let mut h = hub();
    let r = h.patch_twin(
        T0,
        &IdentityId::device("d1"),
        &json!({"properties": {"desired": 3}}),
    );
    assert!(matches!(r, Err(ServiceError::BadRequest(_))));
    let r = h.patch_twin(
        T0,
        &IdentityId::device("zz"),
        &json!({"properties": {"desired": {}}}),
    );
    assert_eq!(r, Err(ServiceError::DeviceNotFound));
}
