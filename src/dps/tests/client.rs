//! Scripted tests of `dps::Client` on a fake clock: the "DPS server" is hand-built
//! mqttbytes packets, and everything the client transmits is decoded back.

use mqttbytes::v4::{ConnectReturnCode, Packet, Publish};
use mqttbytes::QoS as WireQoS;

use super::harness::*;
use crate::dps::{Auth, Config, DpsEvent, Error, State};
use crate::hub;
use crate::hub::client::Auth as HubAuth;
use crate::hub::connection_string::SymmetricKey;
use crate::hub::retry::Backoff;
use crate::hub::sas::SasToken;

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
    assert_eq!(
        a.state().unwrap().substatus.as_deref(),
        Some("initialAssignment")
    );
    assert_eq!(a.operation_id.as_deref(), Some(OP));
    assert!(a.registration_state.contains("\"etag\":\"IjEi\""));
    let hub_config = a.hub_config().unwrap();
    assert_eq!(hub_config.host_name, "contoso.azure-devices.net");
    assert_eq!(hub_config.device_id, "dev-01");
    assert_eq!(
        hub_config.auth,
        HubAuth::Key {
            key: SymmetricKey::from_base64(KEY).unwrap(),
            key_name: None
        }
    );
    assert_eq!(
        hub_config.websocket_url(),
        "wss://contoso.azure-devices.net:443/$iothub/websocket?iothub-no-client-cert=true"
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
                reason: Error::Hub(hub::Error::Disconnected)
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
fn token_provider_asks_then_connects_succeeds() {
    let mut c = Config::from_token_provider(SCOPE, REG).unwrap();
    c.url = Some("ws://localhost/$iothub/websocket".into());
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
    assert_eq!(a.hub_config().unwrap().auth, HubAuth::Provider);
}

#[test]
fn group_key_derived_key_signs_and_goes_to_hub_succeeds() {
    let mut c = Config::from_group_key(SCOPE, REG, KEY).unwrap();
    c.url = Some("ws://localhost/$iothub/websocket".into());
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
        a.hub_config().unwrap().auth,
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
    let username = a.hub_config().unwrap().username();
    assert!(
        username.ends_with("&model-id=dtmi%3Acom%3Aexample%3ATemperatureController%3B2"),
        "{username}"
    );
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
