//! Scripted tests of `dps::Client` on a fake clock: the "DPS server" is hand-built
//! mqttbytes packets, and everything the client transmits is decoded back.

use mqttbytes::v4::{ConnectReturnCode, Packet, Publish, SubAck, SubscribeReasonCode};
use mqttbytes::QoS as WireQoS;

use super::harness::{encode, H, T0};
use crate::dps::{Auth, Client, Config, DpsEvent, Error, Rejection, State, TransportFailure};
use crate::hub::client::Auth as HubAuth;
use crate::hub::connection_string::SymmetricKey;
use crate::hub::retry::Backoff;
use crate::hub::sas::SasToken;

const KEY: &str = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";
const SCOPE: &str = "0ne00000A0A";
const REG: &str = "dev-01";
const OP: &str = "4.d0a671905ea5b2c8.42d78160-4c78-479e-8be7-61d5e55dac0d";

fn config() -> Config {
    let mut c = Config::from_symmetric_key(SCOPE, REG, KEY).unwrap();
    c.url = Some("ws://127.0.0.1:1/$iothub/websocket".into());
    c.keep_alive_secs = 0;
    c.random_seed = 7;
    c.request_id_seed = 100;
    c.client_version = Some("hubwire/test".into());
    c
}

fn assigned_body(hub: &str, device: &str) -> String {
    format!(
        r#"{{"operationId":"{OP}","status":"assigned","registrationState":{{"registrationId":"{REG}","createdDateTimeUtc":"2023-11-14T22:13:20.123Z","assignedHub":"{hub}","deviceId":"{device}","status":"assigned","substatus":"initialAssignment","lastUpdatedDateTimeUtc":"2023-11-14T22:13:20.456Z","etag":"IjEi"}}}}"#
    )
}

fn assigning_body() -> String {
    format!(r#"{{"operationId":"{OP}","status":"assigning"}}"#)
}

#[test]
fn register_individual_key_wire_and_assignment_succeeds() {
    let mut h = H::new(config());
    assert_eq!(h.c.state(), State::Idle);
    let (connect, (topic, body)) = h.start();
    assert_eq!(h.c.state(), State::Registering);

    // CONNECT as the registration, clean session, with a registration SAS.
    assert_eq!(connect.client_id, REG);
    assert!(connect.clean_session);
    let login = connect.login.unwrap();
    assert_eq!(
        login.username,
        format!("{SCOPE}/registrations/{REG}/api-version=2019-03-31&ClientVersion=hubwire%2Ftest")
    );
    let sas = SasToken::parse(&login.password).unwrap();
    assert_eq!(sas.resource, format!("{SCOPE}/registrations/{REG}"));
    assert_eq!(sas.key_name.as_deref(), Some("registration"));
    assert_eq!(sas.expiry_secs, T0 / 1000 + 3600);
    assert!(sas.signature_matches(SymmetricKey::from_base64(KEY).unwrap().bytes()));

    // PUT iotdps-register with the body.
    assert_eq!(topic, "$dps/registrations/PUT/iotdps-register/?$rid=100");
    assert_eq!(body, format!(r#"{{"registrationId":"{REG}"}}"#));

    // 202 + retry-after 3: poll after exactly 3 s, with the operation id.
    h.answer(&topic, 202, Some(3), &assigning_body());
    assert_eq!(
        h.take_events(),
        [DpsEvent::Assigning {
            operation_id: OP.into(),
            retry_after_ms: 3000
        }]
    );
    assert_eq!(h.c.operation_id(), Some(OP));
    assert_eq!(h.c.poll_timeout(), Some(T0 + 3000));
    h.run_until(T0 + 2999);
    assert!(h.take_sent().is_empty(), "no poll before retry-after");
    h.run_until(T0 + 3000);
    let (topic, body) = h.request();
    assert_eq!(
        topic,
        format!("$dps/registrations/GET/iotdps-get-operationstatus/?$rid=101&operationId={OP}")
    );
    assert_eq!(body, "");

    // 200 assigned: DISCONNECT, CloseTransport, Assigned with a ready hub config.
    h.answer(
        &topic,
        200,
        None,
        &assigned_body("contoso.azure-devices.net", "dev-01"),
    );
    assert!(matches!(h.take_sent().as_slice(), [Packet::Disconnect]));
    let ev = h.take_events();
    assert_eq!(ev[0], DpsEvent::CloseTransport);
    let DpsEvent::Assigned(a) = &ev[1] else {
        panic!("expected Assigned, got {ev:?}")
    };
    assert_eq!(a.assigned_hub, "contoso.azure-devices.net");
    assert_eq!(a.device_id, "dev-01");
    assert_eq!(a.substatus.as_deref(), Some("initialAssignment"));
    assert_eq!(a.operation_id.as_deref(), Some(OP));
    assert!(a.registration_state.contains("\"etag\":\"IjEi\""));
    assert_eq!(a.hub_config.host_name, "contoso.azure-devices.net");
    assert_eq!(a.hub_config.device_id, "dev-01");
    assert_eq!(
        a.hub_config.auth,
        HubAuth::Key {
            key: SymmetricKey::from_base64(KEY).unwrap(),
            key_name: None
        }
    );
    assert_eq!(
        a.hub_config.websocket_url(),
        "wss://contoso.azure-devices.net:443/$iothub/websocket"
    );
    assert_eq!(h.c.state(), State::Assigned);
    assert_eq!(h.c.poll_timeout(), None);
}

#[test]
fn register_assigned_at_once_succeeds() {
    let mut h = H::new(config());
    let (_, (topic, _)) = h.start();
    h.answer(&topic, 200, None, &assigned_body("h.example", "other-id"));
    let ev = h.take_events();
    assert!(
        matches!(&ev[..], [DpsEvent::CloseTransport, DpsEvent::Assigned(a)] if a.device_id == "other-id"),
        "{ev:?}"
    );
}

#[test]
fn poll_without_retry_after_waits_default_2s_succeeds() {
    let mut h = H::new(config());
    let (_, (topic, _)) = h.start();
    h.answer(&topic, 202, None, &assigning_body());
    assert_eq!(
        h.take_events(),
        [DpsEvent::Assigning {
            operation_id: OP.into(),
            retry_after_ms: 2000
        }]
    );
    h.run_until(T0 + 1999);
    assert!(h.take_sent().is_empty());
    h.run_until(T0 + 2000);
    let (topic, _) = h.request();
    assert!(topic.contains("iotdps-get-operationstatus"));
    // Still assigning, and this time the answer has no operationId: keep the known one.
    h.answer(&topic, 202, Some(1), r#"{"status":"assigning"}"#);
    h.run_until(T0 + 3000);
    let (topic, _) = h.request();
    assert!(topic.ends_with(&format!("operationId={OP}")), "{topic}");
}

#[test]
fn throttled_429_honours_retry_after_then_succeeds() {
    let mut h = H::new(config());
    let (_, (topic, _)) = h.start();
    h.answer(
        &topic,
        429,
        Some(5),
        r#"{"errorCode":429001,"trackingId":"t","message":"Operations are being throttled for this tenant."}"#,
    );
    let ev = h.take_events();
    let [DpsEvent::Retrying {
        attempt: 1,
        delay_ms: 5000,
        reason: Error::Rejected(r),
    }] = ev.as_slice()
    else {
        panic!("expected Retrying after 5 s, got {ev:?}")
    };
    assert_eq!((r.status, r.error_code), (429, Some(429_001)));
    h.run_until(T0 + 4999);
    assert!(h.take_sent().is_empty(), "retry-after honoured");
    h.run_until(T0 + 5000);
    // The same step again (register), with a new request id, on the same connection.
    let (topic2, body) = h.request();
    assert_eq!(topic2, "$dps/registrations/PUT/iotdps-register/?$rid=101");
    assert!(body.contains(REG));
    h.answer(&topic2, 202, Some(1), &assigning_body());
    h.run_until(T0 + 6000);
    let (poll, _) = h.request();
    // 429 while polling: the poll is repeated, not the registration.
    h.answer(&poll, 429, Some(2), "");
    h.run_until(T0 + 8000);
    let (poll2, _) = h.request();
    assert!(poll2.contains("iotdps-get-operationstatus"), "{poll2}");
    h.answer(&poll2, 200, None, &assigned_body("h", "dev-01"));
    assert_eq!(h.c.state(), State::Assigned);
}

#[test]
fn server_error_5xx_backs_off_with_growing_delay_succeeds() {
    let mut c = config();
    c.retry = Backoff {
        min_ms: 1000,
        max_ms: 8000,
        jitter: 0.0,
    };
    let mut h = H::new(c);
    let (_, (mut topic, _)) = h.start();
    let mut delays = Vec::new();
    for _ in 0..5 {
        h.answer(
            &topic,
            503,
            None,
            r#"{"errorCode":503000,"message":"busy"}"#,
        );
        let ev = h.take_events();
        let [DpsEvent::Retrying {
            delay_ms, reason, ..
        }] = ev.as_slice()
        else {
            panic!("{ev:?}")
        };
        assert_eq!(reason.code(), "SERVER_ERROR");
        delays.push(*delay_ms);
        let at = h.now + delay_ms;
        h.run_until(at);
        topic = h.request().0;
    }
    assert_eq!(delays, [1000, 2000, 4000, 8000, 8000]);
    // Progress resets the count.
    h.answer(&topic, 202, Some(1), &assigning_body());
    h.take_events();
    h.run_until(h.now + 1000);
    let (poll, _) = h.request();
    h.answer(&poll, 500, None, "");
    let ev = h.take_events();
    assert!(
        matches!(
            ev.as_slice(),
            [DpsEvent::Retrying {
                attempt: 1,
                delay_ms: 1000,
                ..
            }]
        ),
        "{ev:?}"
    );
}

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
        Error::Rejected(Rejection {
            status: 401,
            error_code: Some(401_002),
            message: Some("The request authorization key is not authorized".into()),
            tracking_id: Some("abc".into()),
        })
    );
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
        (err.code(), err.dps_error_code()),
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
fn transport_lost_while_polling_reconnects_and_polls_same_operation_succeeds() {
    let mut c = config();
    c.retry = Backoff {
        min_ms: 500,
        max_ms: 500,
        jitter: 0.0,
    };
    let mut h = H::new(c);
    let (_, (topic, _)) = h.start();
    h.answer(&topic, 202, Some(1), &assigning_body());
    h.take_events();
    h.c.connection_lost(h.now);
    let ev = h.take_events();
    assert!(
        matches!(
            ev.as_slice(),
            [DpsEvent::Retrying {
                attempt: 1,
                delay_ms: 500,
                reason: Error::Transport(TransportFailure::Unreachable)
            }]
        ),
        "{ev:?}"
    );
    h.run_until(h.now + 500);
    let connect = h.open_and_connack(ConnectReturnCode::Success);
    assert!(connect.clean_session);
    h.suback();
    let (poll, _) = h.request();
    assert!(poll.ends_with(&format!("operationId={OP}")), "{poll}");
    h.answer(&poll, 200, None, &assigned_body("h", "dev-01"));
    assert_eq!(h.c.state(), State::Assigned);
}

#[test]
fn transport_failed_unreachable_retried_tls_final_fails() {
    let mut c = config();
    c.retry = Backoff {
        min_ms: 1000,
        max_ms: 1000,
        jitter: 0.0,
    };
    let mut h = H::new(c);
    h.c.register(h.now);
    h.take_events();
    h.c.transport_failed(h.now, TransportFailure::Unreachable);
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
    h.c.transport_failed(h.now, TransportFailure::HttpStatus(503));
    assert!(matches!(
        h.take_events().as_slice(),
        [DpsEvent::Retrying { attempt: 2, .. }]
    ));
    h.run_until(h.now + 1000);
    h.take_events();
    h.c.transport_failed(h.now, TransportFailure::Tls);
    let ev = h.take_events();
    assert_eq!(
        ev,
        [
            DpsEvent::CloseTransport,
            DpsEvent::Failed(Error::Transport(TransportFailure::Tls))
        ]
    );
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
    assert_eq!(h.failed(), Error::Protocol("DPS refused the subscription"));
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
fn token_provider_asks_then_connects_succeeds() {
    let mut c = Config::from_token_provider(SCOPE, REG).unwrap();
    c.url = Some("ws://x/$iothub/websocket".into());
    assert_eq!(c.sas_resource(), format!("{SCOPE}/registrations/{REG}"));
    let mut h = H::new(c);
    h.c.register(h.now);
    assert_eq!(
        h.take_events(),
        [DpsEvent::NeedToken {
            expiry_secs: T0 / 1000 + 3600
        }]
    );
    h.c.set_token(
        h.now,
        "SharedAccessSignature sr=x&sig=y&se=1&skn=registration".into(),
        T0 / 1000 + 600,
    );
    let connect = h.open_and_connack(ConnectReturnCode::Success);
    assert_eq!(
        connect.login.unwrap().password,
        "SharedAccessSignature sr=x&sig=y&se=1&skn=registration"
    );
    h.suback();
    let (topic, _) = h.request();
    h.answer(&topic, 200, None, &assigned_body("h", "dev-01"));
    let ev = h.take_events();
    let Some(DpsEvent::Assigned(a)) = ev.last() else {
        panic!("{ev:?}")
    };
    assert_eq!(a.hub_config.auth, HubAuth::Provider);
}

#[test]
fn token_provider_expired_token_fails() {
    let mut h = H::new(Config::from_token_provider(SCOPE, REG).unwrap());
    h.c.register(h.now);
    h.take_events();
    h.c.set_token(h.now, "t".into(), T0 / 1000);
    assert_eq!(h.failed(), Error::TokenRequired);
}

#[test]
fn group_key_derived_key_signs_and_goes_to_hub_succeeds() {
    let mut c = Config::from_group_key(SCOPE, REG, KEY).unwrap();
    c.url = Some("ws://x/$iothub/websocket".into());
    let derived = crate::dps::derive_device_key(&SymmetricKey::from_base64(KEY).unwrap(), REG);
    assert_eq!(c.auth, Auth::SymmetricKey(derived.clone()));
    let mut h = H::new(c);
    let (connect, (topic, _)) = h.start();
    let sas = SasToken::parse(&connect.login.unwrap().password).unwrap();
    assert!(sas.signature_matches(derived.bytes()));
    assert!(!sas.signature_matches(SymmetricKey::from_base64(KEY).unwrap().bytes()));
    h.answer(&topic, 200, None, &assigned_body("h", "dev-01"));
    let ev = h.take_events();
    let Some(DpsEvent::Assigned(a)) = ev.last() else {
        panic!("{ev:?}")
    };
    assert_eq!(
        a.hub_config.auth,
        HubAuth::Key {
            key: derived,
            key_name: None
        }
    );
}

#[test]
fn model_id_in_payload_and_hub_username_succeeds() {
    let mut c = config();
    c.model_id = Some("dtmi:com:example:TemperatureController;2".into());
    c.payload_json = Some(r#"{"site":"lab"}"#.into());
    let mut h = H::new(c);
    let (_, (topic, body)) = h.start();
    assert_eq!(
        body,
        format!(
            r#"{{"registrationId":"{REG}","payload":{{"modelId":"dtmi:com:example:TemperatureController;2","site":"lab"}}}}"#
        )
    );
    h.answer(&topic, 200, None, &assigned_body("h.example", "dev-01"));
    let ev = h.take_events();
    let Some(DpsEvent::Assigned(a)) = ev.last() else {
        panic!("{ev:?}")
    };
    assert!(
        a.hub_config
            .username()
            .ends_with("&model-id=dtmi%3Acom%3Aexample%3ATemperatureController%3B2"),
        "{}",
        a.hub_config.username()
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
fn register_again_after_failure_starts_afresh_succeeds() {
    let mut h = H::new(config());
    let (_, (topic, _)) = h.start();
    h.answer(&topic, 401, None, "{}");
    h.failed();
    h.take_sent();
    h.c.register(h.now);
    assert_eq!(h.c.state(), State::Registering);
    h.open_and_connack(ConnectReturnCode::Success);
    h.suback();
    let (topic, _) = h.request();
    assert!(topic.contains("iotdps-register"));
    // register() while running is harmless.
    h.c.register(h.now);
    assert!(h.take_events().is_empty());
}

#[test]
fn config_bad_values_fail() {
    assert_eq!(
        Config::from_symmetric_key(SCOPE, REG, "not base64!").unwrap_err(),
        Error::InvalidKey
    );
    assert_eq!(
        Config::from_symmetric_key(SCOPE, REG, "").unwrap_err(),
        Error::InvalidKey
    );
    assert_eq!(
        Config::from_group_key(SCOPE, REG, "%%").unwrap_err(),
        Error::InvalidKey
    );
    assert_eq!(
        Config::from_symmetric_key("", REG, KEY).unwrap_err().code(),
        "INVALID_ARGUMENT"
    );
    assert!(Config::from_symmetric_key(SCOPE, "bad id", KEY).is_err());
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
    let c = Config::from_symmetric_key(SCOPE, REG, KEY).unwrap();
    assert_eq!(
        c.websocket_url(),
        "wss://global.azure-devices-provisioning.net:443/$iothub/websocket"
    );
    assert!(!format!("{c:?}").contains(KEY), "Debug hides the key");
}

#[test]
fn split_and_coalesced_bytes_succeed() {
    // The answer split at every byte, then coalesced with another packet.
    for split in 1..40 {
        let mut h = H::new(config());
        let (_, (topic, _)) = h.start();
        let t = format!(
            "$dps/registrations/res/202/?$rid={}&retry-after=1",
            H::rid_of(&topic)
        );
        let bytes = encode(&Packet::Publish(Publish::new(
            t,
            WireQoS::AtMostOnce,
            assigning_body().into_bytes(),
        )));
        let (a, b) = bytes.split_at(split.min(bytes.len() - 1));
        h.c.handle_bytes(h.now, a);
        h.c.handle_bytes(h.now, b);
        assert!(
            matches!(h.take_events().as_slice(), [DpsEvent::Assigning { .. }]),
            "split {split}"
        );
    }
}
