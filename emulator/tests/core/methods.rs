//! Direct methods: offline, timeouts, responses, per-method subscriptions,
//! and the limits IoT Hub puts on an invocation.

use super::harness::*;

#[test]
fn method_offline_fails() {
    let mut h = hub();
    let r = h.invoke_method(
        T0,
        &IdentityId::device("d1"),
        "reboot",
        b"null".to_vec(),
        30_000,
        0,
    );
    assert_eq!(r, Err(ServiceError::DeviceNotOnline));
}

#[test]
fn method_connect_timeout_expires_fails() {
    let mut h = hub();
    let call = h
        .invoke_method(
            T0,
            &IdentityId::device("d1"),
            "reboot",
            b"null".to_vec(),
            30_000,
            5_000,
        )
        .unwrap();
    assert_eq!(h.poll_timeout(), Some(T0 + 5_000));
    h.handle_timeout(T0 + 5_000);
    assert_eq!(
        h.poll_output(),
        Some(Output::MethodDone {
            call,
            result: MethodResult::NotOnline
        })
    );
}

#[test]
fn method_response_succeeds() {
    let mut h = hub();
    let c = online(&mut h, "d1", &["$iothub/methods/POST/#"]);
    let call = h
        .invoke_method(
            T0,
            &IdentityId::device("d1"),
            "reboot",
            br#"{"delay":1}"#.to_vec(),
            30_000,
            0,
        )
        .unwrap();
    let (pkts, ..) = drain(&mut h, c);
    let req = publishes(&pkts)[0];
    let rid = req
        .topic
        .strip_prefix("$iothub/methods/POST/reboot/?$rid=")
        .unwrap()
        .to_string();
    assert_eq!(&req.payload[..], br#"{"delay":1}"#);
    let (_, _, rest) = publish(
        &mut h,
        T0 + 10,
        c,
        &format!("$iothub/methods/res/200/?$rid={rid}"),
        QoS::AtMostOnce,
        0,
        br#"{"ok":1}"#,
    );
    assert_eq!(
        rest,
        vec![Output::MethodDone {
            call,
            result: MethodResult::Response {
                status: 200,
                payload: br#"{"ok":1}"#.to_vec()
            }
        }]
    );
}

#[test]
fn method_no_response_times_out_fails() {
    let mut h = hub();
    let c = online(&mut h, "d1", &["$iothub/methods/POST/#"]);
    let call = h
        .invoke_method(
            T0,
            &IdentityId::device("d1"),
            "reboot",
            b"null".to_vec(),
            5_000,
            0,
        )
        .unwrap();
    let _ = drain(&mut h, c);
    h.handle_timeout(T0 + 4_999);
    assert_eq!(h.poll_output(), None);
    h.handle_timeout(T0 + 5_000);
    assert_eq!(
        h.poll_output(),
        Some(Output::MethodDone {
            call,
            result: MethodResult::Timeout
        })
    );
    // A late answer is ignored.
    let (_, closed, rest) = publish(
        &mut h,
        T0 + 3_000,
        c,
        "$iothub/methods/res/200/?$rid=1",
        QoS::AtMostOnce,
        0,
        b"{}",
    );
    assert!(closed.is_none() && rest.is_empty());
}

#[test]
fn method_waits_for_device_to_subscribe_succeeds() {
    let mut h = hub();
    let call = h
        .invoke_method(
            T0,
            &IdentityId::device("d1"),
            "m",
            b"1".to_vec(),
            5_000,
            10_000,
        )
        .unwrap();
    let c = online(&mut h, "d1", &[]);
    let pkts = subscribe(&mut h, c, &["$iothub/methods/POST/#"]);
    assert_eq!(publishes(&pkts)[0].topic, "$iothub/methods/POST/m/?$rid=1");
    // The response timeout starts when the request is sent.
    assert_eq!(h.poll_timeout(), Some(T0 + 5_000));
    h.handle_timeout(T0 + 5_000);
    assert!(
        matches!(h.poll_output(), Some(Output::MethodDone { call: c2, result: MethodResult::Timeout }) if c2 == call)
    );
}

#[test]
fn method_timeouts_out_of_range_fail() {
    let mut h = hub();
    let _c = online(&mut h, "d1", &["$iothub/methods/POST/#"]);
    let id = IdentityId::device("d1");
    for (response, connect, message) in [
        (
            4_999,
            0,
            "responseTimeoutInSeconds must be within [5; 300].",
        ),
        (0, 0, "responseTimeoutInSeconds must be within [5; 300]."),
        (
            300_001,
            0,
            "responseTimeoutInSeconds must be within [5; 300].",
        ),
        (
            30_000,
            300_001,
            "connectTimeoutInSeconds must be within [0; 300].",
        ),
    ] {
        assert_eq!(
            h.invoke_method(T0, &id, "m", b"null".to_vec(), response, connect),
            Err(ServiceError::BadRequest(message.into())),
            "{response} {connect}"
        );
    }
    // The bounds themselves are accepted.
    assert!(h
        .invoke_method(T0, &id, "m", b"null".to_vec(), 5_000, 300_000)
        .is_ok());
    assert!(h
        .invoke_method(T0, &id, "m", b"null".to_vec(), 300_000, 0)
        .is_ok());
}

#[test]
fn method_payload_over_128k_fails() {
    let mut h = hub();
    let c = online(&mut h, "d1", &["$iothub/methods/POST/#"]);
    let id = IdentityId::device("d1");
    let at_limit = format!("\"{}\"", "x".repeat(128 * 1024 - 2)).into_bytes();
    assert!(h.invoke_method(T0, &id, "m", at_limit, 30_000, 0).is_ok());
    let over = format!("\"{}\"", "x".repeat(128 * 1024 - 1)).into_bytes();
    let r = h.invoke_method(T0, &id, "m", over, 30_000, 0);
    assert!(
        matches!(&r, Err(ServiceError::BadRequest(m)) if m.contains("131072")),
        "{r:?}"
    );
    let _ = drain(&mut h, c);
}

#[test]
fn method_response_over_128k_fails() {
    let mut h = hub();
    let c = online(&mut h, "d1", &["$iothub/methods/POST/#"]);
    let call = h
        .invoke_method(T0, &IdentityId::device("d1"), "m", b"1".to_vec(), 30_000, 0)
        .unwrap();
    let _ = drain(&mut h, c);
    let body = format!("\"{}\"", "x".repeat(128 * 1024 - 1));
    let (_, closed, rest) = publish(
        &mut h,
        T0,
        c,
        "$iothub/methods/res/200/?$rid=1",
        QoS::AtMostOnce,
        0,
        body.as_bytes(),
    );
    assert_eq!(closed, None);
    assert_eq!(
        rest,
        vec![Output::MethodDone {
            call,
            result: MethodResult::ResponseTooLarge
        }]
    );
}

#[test]
fn method_per_method_subscription_gets_only_its_method_succeeds() {
    let mut h = hub();
    let c = online(&mut h, "d1", &["$iothub/methods/POST/reboot/#"]);
    let id = IdentityId::device("d1");
    h.invoke_method(T0, &id, "reboot", b"1".to_vec(), 30_000, 0)
        .unwrap();
    let (pkts, ..) = drain(&mut h, c);
    assert_eq!(
        publishes(&pkts)[0].topic,
        "$iothub/methods/POST/reboot/?$rid=1"
    );
    // Not subscribed to this one: offline for it.
    assert_eq!(
        h.invoke_method(T0, &id, "reset", b"1".to_vec(), 30_000, 0),
        Err(ServiceError::DeviceNotOnline)
    );
    assert_eq!(
        h.connection_info(&id).unwrap().subscriptions,
        vec!["$iothub/methods/POST/reboot/#".to_string()]
    );
}
