//! Scripted failure tests of `dps::Client` on a fake clock: DPS refusals and terminal
//! states, deadlines, transport failures and timeouts, malformed answers, bad config.

use mqttbytes::v4::{ConnectReturnCode, Packet, Publish, SubAck, SubscribeReasonCode};
use mqttbytes::QoS as WireQoS;

use super::harness::*;
use crate::dps::{Client, Config, DpsEvent, Error, Rejection, State};
use crate::hub::retry::Backoff;
use crate::hub::{self, TokenError, TransportError};

#[test]
fn unauthorized_401_fails_typed_without_retry_fails() {
    let mut h = H::new(config());
    let (_, (topic, _)) = h.start();
    h.answer(
        &topic,
        401,
        None,
        r#"{"errorCode":401002,"trackingId":"abc","message":"The request authorization key is not authorized","timestampUtc":"2023-11-14T22:13:20.123Z"}"#,
    );
    assert!(matches!(h.take_sent().as_slice(), [Packet::Disconnect]));
    let err = h.failed();
    assert_eq!(
        err,
        Error::Rejected(Box::new(Rejection {
            status: 401,
            error_code: Some(401_002),
            message: Some("The request authorization key is not authorized".into()),
            tracking_id: Some("abc".into()),
        }))
    );
    assert_eq!(
        err.dps_details(),
        (
            Some(401_002),
            Some("The request authorization key is not authorized"),
            Some("abc")
        )
    );
    assert!(!err.retryable());
    assert_eq!(err.code(), "UNAUTHORIZED");
    assert_eq!(h.c.state(), State::Failed);
    assert_eq!(h.c.poll_timeout(), None);
    h.run_until(T0 + 3_600_000);
    assert!(h.take_events().is_empty(), "no retry after a refusal");
    assert!(!format!("{err}").contains(KEY));
}

#[test]
fn not_found_and_bad_request_fail_typed_fails() {
    for (status, code) in [
        (404, "NOT_FOUND"),
        (400, "BAD_REQUEST"),
        (412, "BAD_REQUEST"),
    ] {
        let mut h = H::new(config());
        let (_, (topic, _)) = h.start();
        h.answer(&topic, status, None, "{\"errorCode\":1}");
        let err = h.failed();
        assert_eq!((err.code(), err.status()), (code, Some(status)));
    }
}

#[test]
fn failed_status_carries_dps_error_code_fails() {
    let mut h = H::new(config());
    let (_, (topic, _)) = h.start();
    h.answer(&topic, 202, Some(1), &assigning_body());
    h.run_until(T0 + 1000);
    let (poll, _) = h.request();
    h.answer(
        &poll,
        200,
        None,
        &format!(
            r#"{{"operationId":"{OP}","status":"failed","registrationState":{{"registrationId":"{REG}","status":"failed","errorCode":400207,"errorMessage":"Custom allocation failed with status code: 400"}}}}"#
        ),
    );
    let err = h.failed();
    assert_eq!(
        err,
        Error::RegistrationFailed {
            error_code: Some(400_207),
            error_message: Some("Custom allocation failed with status code: 400".into())
        }
    );
    assert_eq!(
        (err.code(), err.dps_details().0),
        ("REGISTRATION_FAILED", Some(400_207))
    );
}

#[test]
fn disabled_enrollment_fails() {
    let mut h = H::new(config());
    let (_, (topic, _)) = h.start();
    h.answer(
        &topic,
        200,
        None,
        &format!(
            r#"{{"operationId":"","status":"disabled","registrationState":{{"registrationId":"{REG}","status":"disabled"}}}}"#
        ),
    );
    let err = h.failed();
    assert_eq!(
        err,
        Error::RegistrationDisabled {
            error_code: None,
            error_message: None
        }
    );
    assert_eq!(err.code(), "REGISTRATION_DISABLED");
}

#[test]
fn deadline_while_throttled_times_out_fails() {
    let mut c = config();
    c.registration_timeout_ms = 10_000;
    let mut h = H::new(c);
    let (_, (mut topic, _)) = h.start();
    loop {
        h.answer(&topic, 429, Some(3), "{}");
        let at = h.now + 3000;
        h.run_until(at.min(T0 + 10_000));
        if h.c.state() != State::Registering {
            break;
        }
        topic = h.request().0;
    }
    assert_eq!(h.now, T0 + 10_000);
    let ev = h.take_events();
    let fails: Vec<_> = ev
        .iter()
        .filter(|e| matches!(e, DpsEvent::Failed(_)))
        .collect();
    assert_eq!(
        fails,
        [&DpsEvent::Failed(Error::Timeout {
            last_status: Some(429)
        })]
    );
    assert!(ev.contains(&DpsEvent::CloseTransport));
}

#[test]
fn transport_failed_retryable_kinds_retried_others_final_fails() {
    let mut c = config();
    c.retry = Backoff {
        min_ms: 1000,
        max_ms: 1000,
        jitter: 0.0,
    };
    let mut h = H::new(c);
    h.c.register(h.now);
    h.take_events();
    h.c.transport_failed(h.now, TransportError::NotOpened, None, None);
    assert!(matches!(
        h.take_events().as_slice(),
        [DpsEvent::Retrying {
            attempt: 1,
            delay_ms: 1000,
            ..
        }]
    ));
    h.run_until(h.now + 1000);
    assert!(matches!(
        h.take_events().as_slice(),
        [DpsEvent::OpenTransport { .. }]
    ));
    h.c.transport_failed(
        h.now,
        TransportError::CreateFailed,
        Some(503),
        Some("x".into()),
    );
    assert!(matches!(
        h.take_events().as_slice(),
        [DpsEvent::Retrying { attempt: 2, .. }]
    ));
    h.run_until(h.now + 1000);
    h.take_events();
    h.c.transport_failed(h.now, TransportError::Refused, Some(404), None);
    let ev = h.take_events();
    let failed = Error::transport(TransportError::Refused, Some(404), None);
    assert_eq!(
        ev,
        [DpsEvent::CloseTransport, DpsEvent::Failed(failed.clone())]
    );
    assert_eq!((failed.code(), failed.status()), ("TRANSPORT", Some(404)));
}

#[test]
fn open_timeout_closes_and_retries_succeeds() {
    let mut c = config();
    c.operation_timeout_ms = 5000;
    c.retry = Backoff {
        min_ms: 100,
        max_ms: 100,
        jitter: 0.0,
    };
    let mut h = H::new(c);
    h.c.register(h.now);
    h.take_events();
    h.run_until(T0 + 5000);
    let ev = h.take_events();
    assert!(
        matches!(
            ev.as_slice(),
            [DpsEvent::CloseTransport, DpsEvent::Retrying { .. }]
        ),
        "{ev:?}"
    );
    h.run_until(T0 + 5100);
    assert!(matches!(
        h.take_events().as_slice(),
        [DpsEvent::OpenTransport { .. }]
    ));
}

#[test]
fn no_answer_within_operation_timeout_reconnects_and_resends_succeeds() {
    let mut c = config();
    c.operation_timeout_ms = 4000;
    c.retry = Backoff {
        min_ms: 100,
        max_ms: 100,
        jitter: 0.0,
    };
    let mut h = H::new(c);
    let (_, (topic, _)) = h.start();
    h.run_until(T0 + 4000);
    assert!(matches!(h.take_sent().as_slice(), [Packet::Disconnect]));
    let ev = h.take_events();
    assert!(
        matches!(
            ev.as_slice(),
            [
                DpsEvent::CloseTransport,
                DpsEvent::Retrying {
                    reason: Error::Timeout { last_status: None },
                    ..
                }
            ]
        ),
        "{ev:?}"
    );
    h.run_until(T0 + 4100);
    h.open_and_connack(ConnectReturnCode::Success);
    h.suback();
    let (topic2, _) = h.request();
    assert!(topic2.contains("iotdps-register"));
    assert_ne!(H::rid_of(&topic), H::rid_of(&topic2));
    // A late answer to the first request is ignored.
    h.answer(&topic, 200, None, &assigned_body("stale", "stale"));
    assert!(h.take_events().is_empty());
    h.answer(&topic2, 200, None, &assigned_body("h", "dev-01"));
    assert_eq!(h.c.state(), State::Assigned);
}

#[test]
fn connack_refusals_final_or_retried_fails() {
    for (code, retried) in [
        (ConnectReturnCode::NotAuthorized, false),
        (ConnectReturnCode::BadUserNamePassword, false),
        (ConnectReturnCode::ServiceUnavailable, true),
    ] {
        let mut h = H::new(config());
        h.c.register(h.now);
        h.open_and_connack(code);
        let ev = h.take_events();
        assert_eq!(ev[0], DpsEvent::CloseTransport);
        if retried {
            assert!(
                matches!(
                    ev[1],
                    DpsEvent::Retrying {
                        reason: Error::Refused { code: 3 },
                        ..
                    }
                ),
                "{ev:?}"
            );
        } else {
            assert!(
                matches!(&ev[1], DpsEvent::Failed(e) if e.code() == "UNAUTHORIZED"),
                "{ev:?}"
            );
            assert_eq!(ev.len(), 2);
        }
    }
}

#[test]
fn suback_refused_fails() {
    let mut h = H::new(config());
    h.c.register(h.now);
    h.open_and_connack(ConnectReturnCode::Success);
    let Some(Packet::Subscribe(s)) = h.take_sent().first().cloned() else {
        panic!("no SUBSCRIBE")
    };
    h.feed(Packet::SubAck(SubAck::new(
        s.pkid,
        vec![SubscribeReasonCode::Failure],
    )));
    assert_eq!(h.failed(), Error::protocol("DPS refused the subscription"));
}

#[test]
fn malformed_answers_fail_typed_fails() {
    for (status, body) in [
        (200, "not json"),
        (202, "{\"operationId\":\"x\"}"),
        (200, "{\"status\":\"assigned\"}"),
        (
            200,
            "{\"status\":\"assigned\",\"registrationState\":{\"deviceId\":\"d\"}}",
        ),
        (202, "{\"status\":\"assigning\"}"),
        (200, "{\"status\":\"bogus\"}"),
    ] {
        let mut h = H::new(config());
        let (_, (topic, _)) = h.start();
        h.answer(&topic, status, None, body);
        let err = h.failed();
        assert_eq!(err.code(), "PROTOCOL_ERROR", "{body}: {err:?}");
    }
    // A broken answer topic while waiting.
    let mut h = H::new(config());
    h.start();
    h.feed(Packet::Publish(Publish::new(
        "$dps/registrations/res/abc/?$rid=100",
        WireQoS::AtMostOnce,
        b"{}".to_vec(),
    )));
    assert_eq!(h.failed().code(), "PROTOCOL_ERROR");
}

#[test]
fn token_provider_expired_token_fails() {
    let mut h = H::new(Config::from_token_provider(SCOPE, REG).unwrap());
    h.c.register(h.now);
    h.take_events();
    h.c.set_token(h.now, "t".into(), T0 / 1000);
    assert_eq!(h.failed(), Error::Hub(hub::Error::TokenRequired));
}

#[test]
fn token_provider_failure_ends_typed_fails() {
    let mut h = H::new(Config::from_token_provider(SCOPE, REG).unwrap());
    h.c.register(h.now);
    h.take_events();
    h.c.token_failed(h.now, TokenError::Failed, Some("backend down".into()));
    let err = h.failed();
    assert_eq!(err.code(), "UNAUTHORIZED");
    assert_eq!(err.message(), "getToken failed: backend down");
    assert_eq!(h.c.poll_timeout(), None);
    // A token failure outside WaitingToken is ignored.
    h.c.token_failed(h.now, TokenError::NotAToken, None);
    assert!(h.take_events().is_empty());
}

#[test]
fn socket_closed_before_open_is_retried_with_url_succeeds() {
    let mut c = config();
    c.retry = Backoff {
        min_ms: 100,
        max_ms: 100,
        jitter: 0.0,
    };
    let mut h = H::new(c);
    h.c.register(h.now);
    h.take_events();
    h.c.connection_lost(h.now);
    let ev = h.take_events();
    let [DpsEvent::Retrying { reason, .. }] = ev.as_slice() else {
        panic!("{ev:?}")
    };
    assert_eq!(reason.code(), "TRANSPORT");
    assert!(
        reason
            .message()
            .ends_with("ws://127.0.0.1:1/$iothub/websocket"),
        "{reason}"
    );
}

#[test]
fn cancel_closes_and_fails_cancelled_succeeds() {
    let mut h = H::new(config());
    h.start();
    h.c.cancel(h.now);
    assert!(matches!(h.take_sent().as_slice(), [Packet::Disconnect]));
    let ev = h.take_events();
    assert_eq!(
        ev,
        [DpsEvent::CloseTransport, DpsEvent::Failed(Error::Cancelled)]
    );
    h.c.cancel(h.now);
    assert!(h.take_events().is_empty(), "cancel is harmless once done");
}

#[test]
fn config_bad_values_fail() {
    let bad_key = Config::from_symmetric_key(SCOPE, REG, "not base64!").unwrap_err();
    assert_eq!(bad_key.code(), "INVALID_ARGUMENT");
    assert_eq!(
        bad_key.message(),
        "invalid argument: symmetric key is not valid base64"
    );
    assert_eq!(
        Config::from_symmetric_key(SCOPE, REG, "").unwrap_err(),
        bad_key
    );
    assert_eq!(
        Config::from_group_key(SCOPE, REG, "%%").unwrap_err(),
        Error::invalid("group key is not valid base64")
    );
    // The ID scope and registration id are checked when the client is made.
    let empty_scope = Config::from_symmetric_key("", REG, KEY).unwrap();
    assert_eq!(
        Client::new(empty_scope, T0).unwrap_err().code(),
        "INVALID_ARGUMENT"
    );
    let bad_id = Config::from_symmetric_key(SCOPE, "bad id", KEY).unwrap();
    assert!(Client::new(bad_id, T0).is_err());
    let mut c = config();
    c.payload_json = Some("{\"a\":".into());
    assert!(Client::new(c, T0).is_err());
    let mut c = config();
    c.model_id = Some("m".into());
    c.payload_json = Some("[1]".into());
    assert!(Client::new(c, T0).is_err());
    let mut c = config();
    c.poll_interval_ms = 0;
    assert!(Client::new(c, T0).is_err());
    let mut c = config();
    c.url = None;
    c.provisioning_host = "a/b".into();
    assert!(Client::new(c, T0).is_err());
    let mut c = config();
    c.url = Some("ws://dps.example.com/$iothub/websocket".into());
    assert_eq!(
        Client::new(c.clone(), T0).unwrap_err().code(),
        "INSECURE_URL"
    );
    c.allow_insecure = true;
    assert!(Client::new(c, T0).is_ok());
    let c = Config::from_symmetric_key(SCOPE, REG, KEY).unwrap();
    assert_eq!(
        c.websocket_url(),
        "wss://global.azure-devices-provisioning.net:443/$iothub/websocket"
    );
    assert!(!format!("{c:?}").contains(KEY), "Debug hides the key");
}

#[test]
fn suback_never_comes_reconnects_after_operation_timeout_succeeds() {
    let mut c = config();
    c.operation_timeout_ms = 3000;
    c.retry = Backoff {
        min_ms: 100,
        max_ms: 100,
        jitter: 0.0,
    };
    let mut h = H::new(c);
    h.c.register(h.now);
    h.open_and_connack(ConnectReturnCode::Success);
    assert!(matches!(h.take_sent().as_slice(), [Packet::Subscribe(_)]));
    assert_eq!(h.c.poll_timeout(), Some(T0 + 3000));
    h.run_until(T0 + 3000);
    assert!(matches!(h.take_sent().as_slice(), [Packet::Disconnect]));
    let ev = h.take_events();
    assert!(
        matches!(
            ev.as_slice(),
            [DpsEvent::CloseTransport, DpsEvent::Retrying { .. }]
        ),
        "{ev:?}"
    );
    h.run_until(T0 + 3100);
    h.open_and_connack(ConnectReturnCode::Success);
    h.suback();
    assert!(h.request().0.contains("iotdps-register"));
}
