//! Twin GET, reported and desired patches, versions, IoT Hub's twin rules
//! (keys, values, depth, section sizes) and `If-Match`.

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

const REPORTED: &str = "$iothub/twin/PATCH/properties/reported/?$rid=9";

/// Sends a reported patch; returns the response topic and body.
fn report(h: &mut Hub, c: ConnId, body: &[u8]) -> (String, serde_json::Value) {
    let (pkts, closed, _) = publish(h, T0, c, REPORTED, QoS::AtMostOnce, 0, body);
    assert_eq!(closed, None, "a refused patch keeps the connection");
    let p = publishes(&pkts)[0];
    let body = serde_json::from_slice(&p.payload).unwrap_or(serde_json::Value::Null);
    (p.topic.clone(), body)
}

fn nested(levels: usize) -> serde_json::Value {
    let mut v = json!({"leaf": 1});
    for i in (1..levels).rev() {
        v = json!({ format!("l{i}"): v });
    }
    v
}

#[test]
fn twin_reported_patch_breaking_rules_answered_400_fails() {
    let mut h = hub();
    let c = online(&mut h, "d1", &["$iothub/twin/res/#"]);
    let long_key = format!(r#"{{"{}":1}}"#, "k".repeat(1025));
    let long_value = format!(r#"{{"s":"{}"}}"#, "v".repeat(4097));
    let cases: Vec<(Vec<u8>, &str)> = vec![
        (br#"{"$meta":1}"#.to_vec(), "'$'"),
        (br#"{"ok":{"$version":1}}"#.to_vec(), "'$'"),
        (br#"{"fw.version":"1"}"#.to_vec(), "'.'"),
        (br#"{"my key":1}"#.to_vec(), "' '"),
        (b"{\"tab\\tkey\":1}".to_vec(), "'\\t'"),
        (long_key.into_bytes(), "1024"),
        (long_value.into_bytes(), "4096"),
        (br#"{"n":4503599627370496}"#.to_vec(), "out of range"),
        (br#"{"a":[1,null]}"#.to_vec(), "null"),
        (nested(12).to_string().into_bytes(), "deeper than 10"),
        (b"[1]".to_vec(), "JSON object"),
        (b"nope".to_vec(), "not valid JSON"),
    ];
    for (body, why) in cases {
        let (topic, answer) = report(&mut h, c, &body);
        let text = String::from_utf8_lossy(&body);
        assert_eq!(topic, "$iothub/twin/res/400/?$rid=9", "{text}");
        assert_eq!(answer["errorCode"], 400004, "{text}");
        let message = answer["message"].as_str().unwrap();
        assert!(
            message.contains(why),
            "{text}: {message:?} should say {why}"
        );
    }
    let twin = h.twin_json(&IdentityId::device("d1")).unwrap();
    assert_eq!(
        twin["properties"]["reported"],
        json!({"$version": 1}),
        "nothing applied"
    );
    // At the limits: ten levels, a 1024-byte key, a 4096-byte string, 2^52-1.
    let edge = json!({
        "deep": nested(10), // deep + l1..l9: ten objects
        "k".repeat(1024): "v".repeat(4096),
        "n": 4503599627370495i64,
        "m": -4503599627370496i64,
    });
    let (topic, _) = report(&mut h, c, edge.to_string().as_bytes());
    assert_eq!(topic, "$iothub/twin/res/204/?$rid=9&$version=2");
}

#[test]
fn twin_reported_section_over_32k_answered_400_fails() {
    let mut h = hub();
    let c = online(&mut h, "d1", &["$iothub/twin/res/#"]);
    // Eight 4092-character strings under two-character keys: 32 752 of 32 768.
    let mut patch = serde_json::Map::new();
    for i in 0..8 {
        patch.insert(format!("s{i}"), json!("x".repeat(4092)));
    }
    let (topic, _) = report(
        &mut h,
        c,
        serde_json::Value::Object(patch).to_string().as_bytes(),
    );
    assert_eq!(topic, "$iothub/twin/res/204/?$rid=9&$version=2");
    let (topic, _) = report(&mut h, c, br#"{"n":1,"b":true}"#);
    assert_eq!(
        topic, "$iothub/twin/res/204/?$rid=9&$version=3",
        "+9 +5: 32 766"
    );
    let (topic, answer) = report(&mut h, c, br#"{"x":"yy"}"#);
    assert_eq!(topic, "$iothub/twin/res/400/?$rid=9");
    assert!(
        answer["message"].as_str().unwrap().contains("32768"),
        "{answer}"
    );
    // Replacing a value with a shorter one is always allowed.
    let (topic, _) = report(&mut h, c, br#"{"s0":"short"}"#);
    assert_eq!(topic, "$iothub/twin/res/204/?$rid=9&$version=4");
}

#[test]
fn twin_desired_and_tags_breaking_rules_fail() {
    let mut h = hub();
    let id = IdentityId::device("d1");
    for body in [
        json!({"properties": {"desired": {"a.b": 1}}}),
        json!({"properties": {"desired": {"ok": {"$x": 1}}}}),
        json!({"properties": {"desired": nested(12)}}),
        json!({"tags": {"sp ace": 1}}),
        json!({"tags": {"big": "x".repeat(4096), "big2": "x".repeat(4096), "b3": "x".repeat(10)}}),
    ] {
        let r = h.patch_twin(T0, &id, &body);
        assert!(
            matches!(r, Err(ServiceError::BadRequest(_))),
            "{body}: {r:?}"
        );
    }
    let twin = h.twin_json(&id).unwrap();
    assert_eq!(twin["version"], 1, "nothing applied");
    // The read-only $version and $metadata of desired are ignored.
    let twin = h
        .patch_twin(
            T0,
            &id,
            &json!({"properties": {"desired": {"$version": 9, "$metadata": {}, "x": 1}}}),
        )
        .unwrap();
    assert_eq!(
        twin["properties"]["desired"],
        json!({"x": 1, "$version": 2})
    );
}

#[test]
fn twin_patch_with_stale_if_match_412_fails() {
    let mut h = hub();
    let id = IdentityId::device("d1");
    let patch = json!({"properties": {"desired": {"a": 1}}});
    let etag = h.twin_json(&id).unwrap()["etag"]
        .as_str()
        .unwrap()
        .to_string();
    let twin = h.patch_twin_if_match(T0, &id, &patch, Some(&etag)).unwrap();
    assert_ne!(twin["etag"].as_str().unwrap(), etag, "the etag changed");
    let r = h.patch_twin_if_match(
        T0,
        &id,
        &json!({"properties": {"desired": {"a": 2}}}),
        Some(&etag),
    );
    assert_eq!(r, Err(ServiceError::PreconditionFailed));
    assert_eq!(ServiceError::PreconditionFailed.status(), 412);
    assert_eq!(h.twin_json(&id).unwrap()["properties"]["desired"]["a"], 1);
    assert!(h.patch_twin_if_match(T0, &id, &patch, Some("*")).is_ok());
    // A device's reported patch changes the etag too.
    let etag = h.twin_json(&id).unwrap()["etag"]
        .as_str()
        .unwrap()
        .to_string();
    let c = online(&mut h, "d1", &["$iothub/twin/res/#"]);
    report(&mut h, c, br#"{"r":1}"#);
    assert_eq!(
        h.patch_twin_if_match(T0, &id, &patch, Some(&etag)),
        Err(ServiceError::PreconditionFailed)
    );
}
