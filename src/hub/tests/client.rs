//! Scripted tests of `hub::Client` operations on a fake clock: telemetry and the
//! offline queue, twin requests, methods, C2D. Connecting: connect.rs.

use super::harness::*;

#[test]
fn client_subscribes_only_enabled_features_succeeds() {
    let mut h = H::new(config());
    h.c.enable_c2d(h.now);
    h.c.enable_methods(h.now);
    h.connect();
    let sent = h.take_sent();
    let subs: Vec<(String, WireQoS)> = sent
        .iter()
        .flat_map(|p| match p {
            Packet::Subscribe(s) => s.filters.iter().map(|f| (f.path.clone(), f.qos)).collect(),
            _ => vec![],
        })
        .collect();
    assert_eq!(
        subs,
        vec![
            (
                "devices/dev1/messages/devicebound/#".to_string(),
                WireQoS::AtLeastOnce
            ),
            ("$iothub/methods/POST/#".to_string(), WireQoS::AtMostOnce)
        ]
    );
}

#[test]
fn client_twin_request_times_out_fails() {
    let mut cfg = config();
    cfg.operation_timeout_ms = 5_000;
    let mut h = H::new(cfg);
    h.connect();
    let op = h.c.get_twin(h.now).unwrap();
    // The GET waits for the twin subscription.
    assert_eq!(h.suback_all(), vec!["$iothub/twin/res/#".to_string()]);
    let sent = h.take_sent();
    let p = publishes(&sent);
    assert_eq!(p.len(), 1);
    assert_eq!(p[0].topic, "$iothub/twin/GET/?$rid=100");
    assert_eq!(p[0].qos, WireQoS::AtMostOnce);
    h.take_events();
    h.run_until(T0 + 4_999);
    assert!(completed(&h.take_events()).is_empty());
    h.run_until(T0 + 5_000);
    assert_eq!(completed(&h.take_events()), vec![(op, Err(Error::Timeout))]);
    // A late answer is ignored.
    h.feed(twin_response(200, "100", "{}"));
    assert!(h.take_events().is_empty());
}

#[test]
fn client_twin_get_and_reported_patch_succeeds() {
    let mut h = H::new(config());
    h.connect();
    let get = h.c.get_twin(h.now).unwrap();
    let patch =
        h.c.update_reported(h.now, r#"{"fw":"1.1"}"#.into())
            .unwrap();
    h.suback_all();
    let sent = h.take_sent();
    let p = publishes(&sent);
    assert_eq!(p[0].topic, "$iothub/twin/GET/?$rid=100");
    assert_eq!(
        p[1].topic,
        "$iothub/twin/PATCH/properties/reported/?$rid=101"
    );
    assert_eq!(&p[1].payload[..], br#"{"fw":"1.1"}"#);
    h.take_events();
    let doc = r#"{"desired":{"$version":2},"reported":{"$version":7}}"#;
    h.feed(Packet::Publish(Publish::new(
        crate::hub::twin::response_topic(204, "101", Some(8)),
        WireQoS::AtMostOnce,
        "",
    )));
    h.feed(twin_response(200, "100", doc));
    assert_eq!(
        completed(&h.take_events()),
        vec![
            (patch, Ok(OpResult::Reported { version: Some(8) })),
            (get, Ok(OpResult::Twin(doc.into())))
        ]
    );
    assert_eq!(h.c.last_desired_version(), Some(2));
}

#[test]
fn client_twin_throttled_retried_with_backoff_then_fails() {
    let mut cfg = config();
    cfg.request_retries = 2;
    cfg.request_retry = Backoff {
        min_ms: 100,
        max_ms: 1000,
        jitter: 0.0,
    };
    cfg.operation_timeout_ms = 60_000;
    let mut h = H::new(cfg);
    h.connect();
    let op = h.c.get_twin(h.now).unwrap();
    h.suback_all();
    let mut times = Vec::new();
    for _ in 0..3 {
        let sent = h.take_sent();
        let p = publishes(&sent);
        assert_eq!(p.len(), 1, "{sent:?}");
        times.push(h.now);
        let rid = rid_of(&p[0].topic);
        h.feed(twin_response(429, &rid, ""));
        if let Some(t) = h.c.poll_timeout() {
            h.run_until(t);
        }
    }
    assert_eq!(times, vec![T0, T0 + 100, T0 + 300]);
    assert_eq!(
        completed(&h.take_events()),
        vec![(op, Err(Error::Throttled { status: 429 }))]
    );
}

#[test]
fn client_twin_server_error_retried_then_succeeds() {
    let mut cfg = config();
    cfg.request_retry = Backoff {
        min_ms: 100,
        max_ms: 1000,
        jitter: 0.0,
    };
    let mut h = H::new(cfg);
    h.connect();
    let op = h.c.update_reported(h.now, "{}".into()).unwrap();
    h.suback_all();
    let rid = rid_of(&publishes(&h.take_sent())[0].topic);
    h.feed(twin_response(503, &rid, ""));
    h.run_until(h.now + 100);
    let again = rid_of(&publishes(&h.take_sent())[0].topic);
    assert_eq!(again, rid, "a retry keeps its request id");
    h.feed(twin_response(204, &rid, ""));
    assert_eq!(
        completed(&h.take_events()),
        vec![(op, Ok(OpResult::Reported { version: None }))]
    );
}

#[test]
fn client_twin_bad_request_fails() {
    let mut h = H::new(config());
    h.connect();
    let op = h.c.update_reported(h.now, "{}".into()).unwrap();
    h.suback_all();
    let rid = rid_of(&publishes(&h.take_sent())[0].topic);
    h.feed(twin_response(400, &rid, ""));
    assert_eq!(
        completed(&h.take_events()),
        vec![(op, Err(Error::BadRequest { status: 400 }))]
    );
    assert_eq!(
        h.c.update_reported(h.now, "[1]".into()),
        Err(Error::InvalidArgument(
            "reported patch must be a JSON object"
        ))
    );
}

#[test]
fn client_missed_desired_emitted_once_after_reconnect_succeeds() {
    let mut cfg = config();
    cfg.retry = Backoff {
        min_ms: 1000,
        max_ms: 1000,
        jitter: 0.0,
    };
    let mut h = H::new(cfg);
    h.c.enable_twin_desired(h.now);
    h.connect();
    assert_eq!(
        h.suback_all(),
        vec![
            "$iothub/twin/res/#".to_string(),
            "$iothub/twin/PATCH/properties/desired/#".to_string()
        ]
    );
    // The first connection's GET sets the baseline silently.
    let rid = rid_of(&publishes(&h.take_sent())[0].topic);
    h.feed(twin_response(
        200,
        &rid,
        r#"{"desired":{"fan":1,"$version":3},"reported":{"$version":1}}"#,
    ));
    assert_eq!(h.take_events(), vec![HubEvent::Connected]);
    // A live notification.
    h.feed(Packet::Publish(Publish::new(
        "$iothub/twin/PATCH/properties/desired/?$version=4",
        WireQoS::AtMostOnce,
        r#"{"fan":2,"$version":4}"#,
    )));
    assert_eq!(
        h.take_events(),
        vec![HubEvent::DesiredPatch {
            version: 4,
            json: r#"{"fan":2,"$version":4}"#.into(),
            full: false,
        }]
    );
    // Offline while versions 5 and 6 happen.
    h.c.connection_lost(h.now);
    h.take_events();
    h.run_until(h.now + 1000);
    h.open_and_connack(ConnectReturnCode::Success);
    h.suback_all();
    let rid = rid_of(&publishes(&h.take_sent())[0].topic);
    let doc = r#"{"desired":{"fan":{"speed":3},"$version":6},"reported":{"$version":1}}"#;
    h.feed(twin_response(200, &rid, doc));
    let desired: Vec<_> = h
        .take_events()
        .into_iter()
        .filter(|e| matches!(e, HubEvent::DesiredPatch { .. }))
        .collect();
    assert_eq!(
        desired,
        vec![HubEvent::DesiredPatch {
            version: 6,
            json: r#"{"fan":{"speed":3},"$version":6}"#.into(),
            full: true,
        }]
    );
    // The hub's own (late) notification of version 6 is not shown twice.
    h.feed(Packet::Publish(Publish::new(
        "$iothub/twin/PATCH/properties/desired/?$version=6",
        WireQoS::AtMostOnce,
        r#"{"fan":{"speed":3},"$version":6}"#,
    )));
    assert!(h.take_events().is_empty());
    // Another reconnect with nothing new: nothing emitted.
    h.c.connection_lost(h.now);
    h.run_until(h.now + 1000);
    h.open_and_connack(ConnectReturnCode::Success);
    h.suback_all();
    let rid = rid_of(&publishes(&h.take_sent())[0].topic);
    h.feed(twin_response(200, &rid, doc));
    assert!(!h
        .take_events()
        .iter()
        .any(|e| matches!(e, HubEvent::DesiredPatch { .. })));
}

#[test]
fn client_method_answered_with_right_rid_succeeds() {
    let mut h = H::new(config());
    h.c.enable_methods(h.now);
    h.connect();
    h.suback_all();
    h.take_events();
    h.feed(Packet::Publish(Publish::new(
        "$iothub/methods/POST/thermostat1*getMaxMinReport/?$rid=42",
        WireQoS::AtMostOnce,
        r#"{"since":"2030"}"#,
    )));
    assert_eq!(
        h.take_events(),
        vec![HubEvent::MethodCall {
            rid: "42".into(),
            name: "thermostat1*getMaxMinReport".into(),
            component: Some("thermostat1".into()),
            command: "getMaxMinReport".into(),
            payload: r#"{"since":"2030"}"#.into(),
        }]
    );
    h.c.respond_method(h.now, "42", 200, Some(r#"{"result":"ok"}"#.into()))
        .unwrap();
    let sent = h.take_sent();
    let p = publishes(&sent);
    assert_eq!(p[0].topic, "$iothub/methods/res/200/?$rid=42");
    assert_eq!(&p[0].payload[..], br#"{"result":"ok"}"#);
    assert!(matches!(
        h.c.respond_method(h.now, "42", 200, None),
        Err(Error::InvalidArgument(_))
    ));
    // An empty body is allowed.
    h.feed(Packet::Publish(Publish::new(
        "$iothub/methods/POST/reboot/?$rid=43",
        WireQoS::AtMostOnce,
        "",
    )));
    h.c.respond_method(h.now, "43", 501, None).unwrap();
    let sent = h.take_sent();
    assert_eq!(
        publishes(&sent)[0].topic,
        "$iothub/methods/res/501/?$rid=43"
    );
    assert!(publishes(&sent)[0].payload.is_empty());
}

#[test]
fn client_c2d_message_decoded_and_acked_succeeds() {
    let mut h = H::new(config());
    h.c.enable_c2d(h.now);
    h.connect();
    h.suback_all();
    h.take_events();
    let mut p = Publish::new(
        "devices/dev1/messages/devicebound/%24.mid=c1&%24.cid=x&iothub-ack=full&plus=1+2&bare",
        WireQoS::AtLeastOnce,
        "hello",
    );
    p.pkid = 9;
    h.feed(Packet::Publish(p));
    assert_eq!(h.take_sent(), vec![Packet::PubAck(PubAck::new(9))]);
    let ev = h.take_events();
    let [HubEvent::C2d(m)] = ev.as_slice() else {
        panic!("{ev:?}")
    };
    assert_eq!(&m.payload[..], b"hello");
    assert_eq!(m.system.message_id.as_deref(), Some("c1"));
    assert_eq!(m.system.correlation_id.as_deref(), Some("x"));
    assert_eq!(
        m.properties,
        vec![
            ("iothub-ack".into(), Some("full".into())),
            ("plus".into(), Some("1+2".into())),
            ("bare".into(), None)
        ]
    );
}

#[test]
fn client_telemetry_topic_and_qos_succeeds() {
    let mut h = H::new(config());
    h.connect();
    h.take_events();
    let mut m = Telemetry::new(r#"{"t":1}"#).property("k", "v 1");
    m.system.message_id = Some("m4".into());
    m.system.content_type = Some("application/json;charset=utf-8".into());
    let op1 = h.c.send_event(h.now, m).unwrap();
    let mut m0 = Telemetry::new("x");
    m0.qos = QoS::AtMostOnce;
    let op0 = h.c.send_event(h.now, m0).unwrap();
    let sent = h.take_sent();
    let p = publishes(&sent);
    assert_eq!(p[0].topic, "devices/dev1/messages/events/%24.mid=m4&%24.ct=application%2Fjson%3Bcharset%3Dutf-8&k=v%201");
    assert_eq!(p[0].qos, WireQoS::AtLeastOnce);
    assert_eq!(p[1].qos, WireQoS::AtMostOnce);
    // QoS 0 completes when written, QoS 1 on PUBACK.
    assert_eq!(completed(&h.take_events()), vec![(op0, Ok(OpResult::Sent))]);
    h.feed(Packet::PubAck(PubAck::new(p[0].pkid)));
    assert_eq!(completed(&h.take_events()), vec![(op1, Ok(OpResult::Sent))]);
}

#[test]
fn client_offline_qos1_delivered_in_order_after_reconnect_succeeds() {
    let mut cfg = config();
    cfg.retry = Backoff {
        min_ms: 500,
        max_ms: 500,
        jitter: 0.0,
    };
    let mut h = H::new(cfg);
    h.connect();
    h.take_events();
    let mut ops = Vec::new();
    for i in 0..2 {
        ops.push(
            h.c.send_event(h.now, Telemetry::new(format!("m{i}")))
                .unwrap(),
        );
    }
    let first = h.take_sent();
    assert_eq!(publishes(&first).len(), 2);
    // Lost before any PUBACK; more telemetry is accepted while offline.
    h.c.connection_lost(h.now);
    for i in 2..6 {
        ops.push(
            h.c.send_event(h.now, Telemetry::new(format!("m{i}")))
                .unwrap(),
        );
    }
    assert_eq!(h.c.queued_messages(), 4);
    assert!(h.take_sent().is_empty());
    h.run_until(h.now + 500);
    h.open_and_connack(ConnectReturnCode::Success);
    let sent = h.take_sent();
    let p = publishes(&sent);
    let bodies: Vec<&[u8]> = p.iter().map(|p| &p.payload[..]).collect();
    assert_eq!(bodies, vec![&b"m0"[..], b"m1", b"m2", b"m3", b"m4", b"m5"]);
    assert!(p[0].dup && p[1].dup, "in-flight ones are resent with DUP");
    assert!(!p[2].dup);
    assert!(p.iter().all(|p| p.qos == WireQoS::AtLeastOnce));
    assert_eq!(h.c.queued_messages(), 0);
    h.take_events();
    for p in &p {
        h.feed(Packet::PubAck(PubAck::new(p.pkid)));
    }
    let done: Vec<OpId> = completed(&h.take_events())
        .into_iter()
        .map(|(op, r)| {
            assert_eq!(r, Ok(OpResult::Sent));
            op
        })
        .collect();
    assert_eq!(done, ops);
}

#[test]
fn client_full_window_queues_in_order_succeeds() {
    let mut cfg = config();
    cfg.max_inflight = 2;
    let mut h = H::new(cfg);
    h.connect();
    for i in 0..5 {
        h.c.send_event(h.now, Telemetry::new(format!("w{i}")))
            .unwrap();
    }
    let mut bodies = Vec::new();
    let mut sent = h.take_sent();
    assert_eq!(publishes(&sent).len(), 2);
    assert_eq!(h.c.queued_messages(), 3);
    while !publishes(&sent).is_empty() {
        let pk: Vec<u16> = publishes(&sent).iter().map(|p| p.pkid).collect();
        bodies.extend(
            publishes(&sent)
                .iter()
                .map(|p| String::from_utf8(p.payload.to_vec()).unwrap()),
        );
        for id in pk {
            h.feed(Packet::PubAck(PubAck::new(id)));
        }
        sent = h.take_sent();
    }
    assert_eq!(bodies, ["w0", "w1", "w2", "w3", "w4"]);
}

#[test]
fn client_offline_queue_full_fails() {
    let mut cfg = config();
    cfg.queue_max_messages = 2;
    let mut h = H::new(cfg);
    h.c.send_event(h.now, Telemetry::new("a")).unwrap();
    h.c.send_event(h.now, Telemetry::new("b")).unwrap();
    let e = h.c.send_event(h.now, Telemetry::new("c")).unwrap_err();
    assert!(matches!(e, Error::QueueFull { messages: 2, .. }), "{e:?}");
    assert_eq!(e.code(), "QUEUE_FULL");

    let mut cfg = config();
    cfg.queue_max_bytes = 100;
    let mut h = H::new(cfg);
    h.c.send_event(h.now, Telemetry::new(vec![0u8; 50]))
        .unwrap();
    let e =
        h.c.send_event(h.now, Telemetry::new(vec![0u8; 50]))
            .unwrap_err();
    assert!(
        matches!(
            e,
            Error::QueueFull {
                messages: 1,
                bytes: 79
            }
        ),
        "{e:?}"
    );
}

#[test]
fn client_send_event_bad_inputs_fails() {
    let mut h = H::new(config());
    h.connect();
    let mut m = Telemetry::new("x");
    m.qos = QoS::ExactlyOnce;
    assert_eq!(h.c.send_event(h.now, m), Err(Error::QosNotSupported));
    let big = Telemetry::new(vec![0u8; 256 * 1024]);
    let e = h.c.send_event(h.now, big).unwrap_err();
    assert_eq!(
        e,
        Error::PayloadTooLarge {
            size: 256 * 1024 + 29,
            max: 256 * 1024
        }
    );
    assert_eq!(e.code(), "PAYLOAD_TOO_LARGE");
    // The hub would read `$.ct` as the content type: not an application property.
    let spoof = Telemetry::new("x").property("$.ct", "text/evil");
    let e = h.c.send_event(h.now, spoof).unwrap_err();
    assert_eq!(e.code(), "INVALID_ARGUMENT");
    assert!(publishes(&h.take_sent()).is_empty());
    assert_eq!(h.c.queued_messages(), 0);
}

#[test]
fn client_disconnect_fails_pending_and_refuses_new_fails() {
    let mut h = H::new(config());
    h.connect();
    h.take_events();
    let op = h.c.send_event(h.now, Telemetry::new("x")).unwrap();
    let tw = h.c.get_twin(h.now).unwrap();
    h.take_sent();
    h.c.disconnect(h.now);
    assert_eq!(h.take_sent(), vec![Packet::Disconnect]);
    let ev = h.take_events();
    assert_eq!(ev[0], HubEvent::CloseTransport);
    let done = completed(&ev);
    assert!(done.contains(&(op, Err(Error::Closed))));
    assert!(done.contains(&(tw, Err(Error::Closed))));
    assert_eq!(h.c.state(), ConnectionState::Closed);
    assert_eq!(
        h.c.send_event(h.now, Telemetry::new("y")),
        Err(Error::Closed)
    );
    assert_eq!(h.c.get_twin(h.now), Err(Error::Closed));
}

#[test]
fn client_method_answer_after_reconnect_fails() {
    let mut cfg = config();
    cfg.retry = Backoff {
        min_ms: 10,
        max_ms: 10,
        jitter: 0.0,
    };
    let mut h = H::new(cfg);
    h.c.enable_methods(h.now);
    h.connect();
    h.suback_all();
    h.feed(Packet::Publish(Publish::new(
        "$iothub/methods/POST/reboot/?$rid=5",
        WireQoS::AtMostOnce,
        "",
    )));
    h.c.connection_lost(h.now);
    assert_eq!(
        h.c.respond_method(h.now, "5", 200, None),
        Err(Error::Disconnected)
    );
    h.feed(Packet::Publish(Publish::new(
        "$iothub/methods/POST/reboot/?$rid=6",
        WireQoS::AtMostOnce,
        "",
    )));
    h.run_until(h.now + 10);
    h.open_and_connack(ConnectReturnCode::Success);
    h.take_sent();
    // Bytes fed while disconnected were ignored: rid 6 never arrived.
    assert!(matches!(
        h.c.respond_method(h.now, "6", 200, None),
        Err(Error::InvalidArgument(_))
    ));
}
