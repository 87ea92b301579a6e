//! The DPS side of the core: enrollments through the service methods, devices
//! speaking DPS MQTT on the same endpoint, faults, and the service views.

use hubwire::dps::auth::{derive_device_key_base64, token as dps_token};
use hubwire::hub::connection_string::SymmetricKey;
use hubwire_emulator::core::dps::DEFAULT_ID_SCOPE;
use serde_json::Value;

use super::harness::*;

const SCOPE: &str = DEFAULT_ID_SCOPE;

fn enroll(h: &mut Hub, reg: &str, body: Value) -> Value {
    h.dps_put_enrollment(T0, reg, &body, None, (KEY.into(), KEY2.into()))
        .unwrap()
}

fn group(h: &mut Hub, id: &str, body: Value) -> Value {
    h.dps_put_group(T0, id, &body, None, (KEY.into(), KEY2.into()))
        .unwrap()
}

fn reg_token(reg: &str, key: &str, expiry: u64) -> String {
    dps_token(&SymmetricKey::from_base64(key).unwrap(), SCOPE, reg, expiry)
}

fn dps_user(scope: &str, reg: &str) -> String {
    format!("{scope}/registrations/{reg}/api-version=2019-03-31&ClientVersion=test")
}

/// A DPS connection, CONNACKed and subscribed.
fn dps_online(h: &mut Hub, reg: &str, password: &str) -> ConnId {
    let (c, code) = open(
        h,
        T0,
        &connect_with(reg, &dps_user(SCOPE, reg), password, true, 60),
    );
    assert_eq!(code, ConnectReturnCode::Success);
    let pkts = subscribe(h, c, &["$dps/registrations/res/#"]);
    assert!(
        matches!(&pkts[..], [Packet::SubAck(a)] if a.return_codes == [v4::SubscribeReasonCode::Success(QoS::AtLeastOnce)]),
        "{pkts:?}"
    );
    c
}

/// One answer: (status, topic query, JSON body).
fn answer(pkts: &[Packet]) -> (u16, String, Value) {
    let p = publishes(pkts);
    assert_eq!(p.len(), 1, "one answer in {pkts:?}");
    assert_eq!(p[0].qos, QoS::AtMostOnce);
    let t = p[0]
        .topic
        .strip_prefix("$dps/registrations/res/")
        .expect("a DPS answer topic");
    let (status, query) = t.split_once("/?").unwrap();
    (
        status.parse().unwrap(),
        query.to_string(),
        serde_json::from_slice(&p[0].payload).expect("answers are JSON (Node parses every one)"),
    )
}

fn register(
    h: &mut Hub,
    now: u64,
    c: ConnId,
    reg: &str,
    payload: Option<Value>,
) -> (u16, String, Value) {
    let mut body = json!({ "registrationId": reg });
    if let Some(p) = payload {
        body["payload"] = p;
    }
    let (pkts, closed, _) = publish(
        h,
        now,
        c,
        "$dps/registrations/PUT/iotdps-register/?$rid=r1",
        QoS::AtLeastOnce,
        3,
        body.to_string().as_bytes(),
    );
    assert_eq!(closed, None);
    assert!(
        pkts.iter()
            .any(|p| matches!(p, Packet::PubAck(a) if a.pkid == 3)),
        "QoS 1 requests are acknowledged: {pkts:?}"
    );
    answer(&pkts)
}

fn status(h: &mut Hub, now: u64, c: ConnId, op: &str) -> (u16, String, Value) {
    let (pkts, closed, _) = publish(
        h,
        now,
        c,
        &format!("$dps/registrations/GET/iotdps-get-operationstatus/?$rid=r2&operationId={op}"),
        QoS::AtMostOnce,
        0,
        b" ",
    );
    assert_eq!(closed, None);
    answer(&pkts)
}

/// register → 202 → status → 200: the final body.
fn provision(h: &mut Hub, c: ConnId, reg: &str, payload: Option<Value>) -> Value {
    let (s, q, body) = register(h, T0, c, reg, payload);
    assert_eq!((s, q.as_str()), (202, "$rid=r1&retry-after=1"), "{body}");
    assert_eq!(body["status"], "assigning");
    let op = body["operationId"].as_str().unwrap().to_string();
    let (s, q, done) = status(h, T0 + 1000, c, &op);
    assert_eq!((s, q.as_str()), (200, "$rid=r2"), "{done}");
    assert_eq!(done["operationId"], op.as_str());
    done
}

fn hub_connects(h: &mut Hub, device: &str, key: &str) -> ConnectReturnCode {
    let user = format!("{HOST}/{device}/?api-version=2021-04-12");
    let pass = token(&format!("{HOST}/devices/{device}"), key, EXP);
    open(h, T0, &connect_with(device, &user, &pass, false, 60)).1
}

#[test]
fn dps_individual_enrollment_assigns_and_creates_device_succeeds() {
    let mut h = hub();
    let e = enroll(
        &mut h,
        "reg-1",
        json!({"registrationId": "reg-1", "attestation": {"type": "symmetricKey"}}),
    );
    assert_eq!(e["attestation"]["symmetricKey"]["primaryKey"], KEY);
    assert_eq!(e["provisioningStatus"], "enabled");
    let c = dps_online(&mut h, "reg-1", &reg_token("reg-1", KEY, EXP));
    let done = provision(
        &mut h,
        c,
        "reg-1",
        Some(json!({"modelId": "dtmi:com:example:Thermostat;1"})),
    );
    assert_eq!(done["status"], "assigned");
    let state = &done["registrationState"];
    assert_eq!(state["assignedHub"], HOST);
    assert_eq!(state["deviceId"], "reg-1");
    assert_eq!(state["substatus"], "initialAssignment");
    assert!(
        state.get("payload").is_none(),
        "the request payload is not echoed to the device"
    );

    // The device exists in the hub with the enrollment's keys, and connects.
    let dev = h.identity_json(&IdentityId::device("reg-1")).unwrap();
    assert_eq!(dev["authentication"]["symmetricKey"]["primaryKey"], KEY);
    assert_eq!(
        hub_connects(&mut h, "reg-1", KEY),
        ConnectReturnCode::Success
    );

    // The service sees the registration with its payload.
    let r = h.dps_registration("REG-1").unwrap();
    assert_eq!(r["status"], "assigned");
    assert_eq!(
        r["payload"],
        json!({"modelId": "dtmi:com:example:Thermostat;1"})
    );
    assert_eq!(r["deviceId"], "reg-1");
}

#[test]
fn dps_group_enrollment_checks_derived_key_succeeds() {
    let mut h = hub();
    group(
        &mut h,
        "fleet",
        json!({"enrollmentGroupId": "fleet", "attestation": {"type": "symmetricKey", "symmetricKey": {"primaryKey": KEY2, "secondaryKey": KEY}}}),
    );
    let derived = derive_device_key_base64(KEY2, "truck-7").unwrap();
    let c = dps_online(&mut h, "truck-7", &reg_token("truck-7", &derived, EXP));
    let done = provision(&mut h, c, "truck-7", None);
    assert_eq!(done["status"], "assigned");
    assert_eq!(
        done["registrationState"]["symmetricKey"]["enrollmentGroupId"],
        "fleet"
    );
    // The secondary group key derives a valid key too.
    let derived2 = derive_device_key_base64(KEY, "truck-8").unwrap();
    let c2 = dps_online(&mut h, "truck-8", &reg_token("truck-8", &derived2, EXP));
    assert_eq!(provision(&mut h, c2, "truck-8", None)["status"], "assigned");
    // The hub device got the derived keys.
    let dev = h.identity_json(&IdentityId::device("truck-7")).unwrap();
    assert_eq!(
        dev["authentication"]["symmetricKey"]["primaryKey"],
        derived.as_str()
    );
    assert_eq!(
        hub_connects(&mut h, "truck-7", &derived),
        ConnectReturnCode::Success
    );
    let regs = h.dps_group_registrations("fleet").unwrap();
    assert_eq!(regs.as_array().unwrap().len(), 2);
    // The group key itself is not a device key.
    let c3 = dps_online(&mut h, "truck-9", &reg_token("truck-9", KEY2, EXP));
    assert_eq!(register(&mut h, T0, c3, "truck-9", None).0, 401);
}

#[test]
fn dps_bad_key_unknown_registration_expired_token_401_fails() {
    let mut h = hub();
    enroll(&mut h, "reg-1", json!({}));
    for (reg, key, exp) in [
        ("reg-1", SERVICE_KEY, EXP), // wrong key (the enrollment has KEY and KEY2)
        ("reg-unknown", KEY, EXP),   // no enrollment
        ("reg-1", KEY, T0 / 1000 + 1), // expires before the request (at T0 + 5 s)
    ] {
        let c = dps_online(&mut h, reg, &reg_token(reg, key, exp));
        let (pkts, _, _) = {
            let body = json!({ "registrationId": reg }).to_string();
            publish(
                &mut h,
                T0 + 5000,
                c,
                "$dps/registrations/PUT/iotdps-register/?$rid=x",
                QoS::AtMostOnce,
                0,
                body.as_bytes(),
            )
        };
        let (s, q, body) = answer(&pkts);
        assert_eq!((s, q.as_str()), (401, "$rid=x"), "{reg}: {body}");
        assert_eq!(body["errorCode"], 401_002);
        assert!(
            body["message"].as_str().unwrap().contains("authoriz")
                || body["message"].as_str().unwrap().contains("expired")
        );
        assert!(body["trackingId"].is_string() && body["timestampUtc"].is_string());
    }
    assert!(h.identity_json(&IdentityId::device("reg-unknown")).is_err());
    assert!(
        h.dps_registration("reg-1").is_err(),
        "no registration state for refused requests"
    );
}

#[test]
fn dps_wrong_scope_client_id_or_policy_401_fails() {
    let mut h = hub();
    enroll(&mut h, "reg-1", json!({}));
    let good = reg_token("reg-1", KEY, EXP);
    let cases = [
        (
            connect_with("reg-1", &dps_user("0neOTHER", "reg-1"), &good, true, 60),
            "scope",
        ),
        (
            connect_with("other", &dps_user(SCOPE, "reg-1"), &good, true, 60),
            "client id",
        ),
        (
            connect_with(
                "reg-1",
                &dps_user(SCOPE, "reg-1"),
                &make_token(&format!("{SCOPE}/registrations/reg-1"), KEY, None, EXP).unwrap(),
                true,
                60,
            ),
            "no skn",
        ),
        (
            connect_with(
                "reg-1",
                &dps_user(SCOPE, "reg-1"),
                &reg_token("reg-2", KEY, EXP),
                true,
                60,
            ),
            "sr of another registration",
        ),
    ];
    for (connect, why) in cases {
        let (c, code) = open(&mut h, T0, &connect);
        assert_eq!(
            code,
            ConnectReturnCode::Success,
            "{why}: CONNECT is accepted, requests are refused"
        );
        subscribe(&mut h, c, &["$dps/registrations/res/#"]);
        assert_eq!(register(&mut h, T0, c, "reg-1", None).0, 401, "{why}");
    }
    // A password that is not a token is refused at CONNECT (4), as the hub does.
    let (_, code) = open(
        &mut h,
        T0,
        &connect_with("reg-1", &dps_user(SCOPE, "reg-1"), "nope", true, 60),
    );
    assert_eq!(code, ConnectReturnCode::BadUserNamePassword);
}

#[test]
fn dps_node_style_unencoded_sr_accepted_succeeds() {
    // azure-iot-security-symmetric-key signs `sr` unencoded: sr=0ne…/registrations/reg-1.
    let mut h = hub();
    enroll(&mut h, "reg-1", json!({}));
    let sr = format!("{SCOPE}/registrations/reg-1");
    let sig = hubwire_emulator::core::auth::sign(KEY, &sr, EXP).unwrap();
    let tok = format!(
        "SharedAccessSignature sr={sr}&sig={}&skn=registration&se={EXP}",
        hubwire::hub::encoding::percent_encode(&sig)
    );
    let c = dps_online(&mut h, "reg-1", &tok);
    assert_eq!(provision(&mut h, c, "reg-1", None)["status"], "assigned");
}

#[test]
fn dps_disabled_enrollment_and_group_answer_disabled_fails() {
    let mut h = hub();
    enroll(&mut h, "reg-off", json!({"provisioningStatus": "disabled"}));
    group(
        &mut h,
        "g-off",
        json!({"provisioningStatus": "disabled", "attestation": {"symmetricKey": {"primaryKey": KEY2, "secondaryKey": KEY2}}}),
    );
    let derived = derive_device_key_base64(KEY2, "member").unwrap();
    for (reg, key) in [("reg-off", KEY.to_string()), ("member", derived)] {
        let c = dps_online(&mut h, reg, &reg_token(reg, &key, EXP));
        let (s, _, body) = register(&mut h, T0, c, reg, None);
        assert_eq!(s, 200, "{body}");
        assert_eq!(body["status"], "disabled");
        assert_eq!(body["registrationState"]["status"], "disabled");
        assert_eq!(h.dps_registration(reg).unwrap()["status"], "disabled");
        assert!(
            h.identity_json(&IdentityId::device(reg)).is_err(),
            "no device for a disabled enrollment"
        );
    }
    // Disabled between register and assignment: the poll answers disabled.
    enroll(&mut h, "reg-late", json!({}));
    let c = dps_online(&mut h, "reg-late", &reg_token("reg-late", KEY, EXP));
    let (_, _, body) = register(&mut h, T0, c, "reg-late", None);
    enroll(
        &mut h,
        "reg-late",
        json!({"provisioningStatus": "disabled"}),
    );
    let (s, _, done) = status(&mut h, T0 + 1000, c, body["operationId"].as_str().unwrap());
    assert_eq!((s, done["status"].as_str()), (200, Some("disabled")));
}

#[test]
fn dps_throttle_fault_429_retry_after_then_succeeds() {
    let mut h = hub();
    enroll(&mut h, "reg-t", json!({}));
    h.dps_inject_fault(
        "reg-t",
        &json!({"kind": "throttle", "count": 2, "retryAfterSeconds": 4}),
    )
    .unwrap();
    let c = dps_online(&mut h, "reg-t", &reg_token("reg-t", KEY, EXP));
    for _ in 0..2 {
        let (s, q, body) = register(&mut h, T0, c, "reg-t", None);
        assert_eq!((s, q.as_str()), (429, "$rid=r1&retry-after=4"));
        assert_eq!(body["errorCode"], 429_001);
    }
    assert_eq!(provision(&mut h, c, "reg-t", None)["status"], "assigned");
}

#[test]
fn dps_slow_assignment_keeps_assigning_until_ready_succeeds() {
    let mut h = hub();
    enroll(&mut h, "reg-s", json!({}));
    h.dps_inject_fault("reg-s", &json!({"kind": "slowAssignment", "ms": 5000}))
        .unwrap();
    let c = dps_online(&mut h, "reg-s", &reg_token("reg-s", KEY, EXP));
    let (_, _, body) = register(&mut h, T0, c, "reg-s", None);
    let op = body["operationId"].as_str().unwrap().to_string();
    for t in [1000, 4999] {
        let (s, q, b) = status(&mut h, T0 + t, c, &op);
        assert_eq!(
            (s, q.as_str(), b["status"].as_str()),
            (202, "$rid=r2&retry-after=1", Some("assigning"))
        );
    }
    assert!(
        h.identity_json(&IdentityId::device("reg-s")).is_err(),
        "not created before assignment"
    );
    let (s, _, b) = status(&mut h, T0 + 5000, c, &op);
    assert_eq!((s, b["status"].as_str()), (200, Some("assigned")));
    // Asking again gives the same answer.
    let (_, _, again) = status(&mut h, T0 + 6000, c, &op);
    assert_eq!(again, b);
}

#[test]
fn dps_fail_assignment_fault_answers_failed_with_code_fails() {
    let mut h = hub();
    enroll(&mut h, "reg-f", json!({}));
    h.dps_inject_fault(
        "reg-f",
        &json!({"kind": "failAssignment", "errorCode": 400209, "errorMessage": "no hub"}),
    )
    .unwrap();
    let c = dps_online(&mut h, "reg-f", &reg_token("reg-f", KEY, EXP));
    let done = provision(&mut h, c, "reg-f", None);
    assert_eq!(done["status"], "failed");
    assert_eq!(done["registrationState"]["errorCode"], 400_209);
    assert_eq!(done["registrationState"]["errorMessage"], "no hub");
    assert_eq!(h.dps_registration("reg-f").unwrap()["status"], "failed");
    // The fault is used up: the next registration succeeds.
    assert_eq!(provision(&mut h, c, "reg-f", None)["status"], "assigned");
    assert!(h
        .dps_inject_fault("reg-f", &json!({"kind": "nope"}))
        .is_err());
    assert!(h
        .dps_inject_fault("reg-f", &json!({"kind": "slowAssignment"}))
        .is_err());
}

#[test]
fn dps_device_id_and_initial_twin_applied_succeeds() {
    let mut h = hub();
    enroll(
        &mut h,
        "reg-d",
        json!({"deviceId": "thermostat-1", "initialTwin": {"tags": {"site": "lab"}, "properties": {"desired": {"interval": 5}}}}),
    );
    let c = dps_online(&mut h, "reg-d", &reg_token("reg-d", KEY, EXP));
    let done = provision(&mut h, c, "reg-d", None);
    assert_eq!(done["registrationState"]["deviceId"], "thermostat-1");
    let twin = h.twin_json(&IdentityId::device("thermostat-1")).unwrap();
    assert_eq!(twin["tags"]["site"], "lab");
    assert_eq!(twin["properties"]["desired"]["interval"], 5);
}

#[test]
fn dps_reprovision_reuses_device_and_updates_keys_succeeds() {
    let mut h = hub();
    // The device exists already with other keys: DPS gives it the enrollment's.
    add_identity(&mut h, &IdentityId::device("reg-r"), KEY);
    h.put_identity(
        T0,
        &IdentityId::device("reg-r"),
        None,
        Some((KEY2.into(), KEY2.into())),
        (KEY.into(), KEY.into()),
    )
    .unwrap();
    enroll(&mut h, "reg-r", json!({}));
    let c = dps_online(&mut h, "reg-r", &reg_token("reg-r", KEY, EXP));
    assert_eq!(provision(&mut h, c, "reg-r", None)["status"], "assigned");
    let dev = h.identity_json(&IdentityId::device("reg-r")).unwrap();
    assert_eq!(dev["authentication"]["symmetricKey"]["primaryKey"], KEY);
    // Registering again keeps the creation time and bumps the etag.
    let first = h.dps_registration("reg-r").unwrap();
    provision(&mut h, c, "reg-r", Some(json!({"v": 2})));
    let second = h.dps_registration("reg-r").unwrap();
    assert_eq!(first["createdDateTimeUtc"], second["createdDateTimeUtc"]);
    assert_ne!(first["etag"], second["etag"]);
    assert_eq!(second["payload"], json!({"v": 2}));
}

#[test]
fn dps_protocol_rules_fails() {
    let mut h = hub();
    enroll(&mut h, "reg-p", json!({}));
    let c = dps_online(&mut h, "reg-p", &reg_token("reg-p", KEY, EXP));
    // Another filter is refused; the body must name this registration.
    let pkts = subscribe(&mut h, c, &["devices/reg-p/messages/devicebound/#"]);
    assert!(
        matches!(&pkts[..], [Packet::SubAck(a)] if a.return_codes == [v4::SubscribeReasonCode::Failure])
    );
    let (pkts, _, _) = publish(
        &mut h,
        T0,
        c,
        "$dps/registrations/PUT/iotdps-register/?$rid=b",
        QoS::AtMostOnce,
        0,
        br#"{"registrationId":"someone-else"}"#,
    );
    let (s, _, body) = answer(&pkts);
    assert_eq!((s, body["errorCode"].as_u64()), (400, Some(400_004)));
    // An unknown operation is 404.
    let (s, _, _) = status(&mut h, T0, c, "4.nope");
    assert_eq!(s, 404);
    // Answers go only to subscribed connections.
    let (c2, _) = open(
        &mut h,
        T0,
        &connect_with(
            "reg-p",
            &dps_user(SCOPE, "reg-p"),
            &reg_token("reg-p", KEY, EXP),
            true,
            60,
        ),
    );
    let (pkts, _, _) = publish(
        &mut h,
        T0,
        c2,
        "$dps/registrations/PUT/iotdps-register/?$rid=1",
        QoS::AtMostOnce,
        0,
        br#"{"registrationId":"reg-p"}"#,
    );
    assert!(publishes(&pkts).is_empty());
    // Telemetry or any other topic closes the connection, as DPS supports only its topics.
    let (_, closed, _) = publish(
        &mut h,
        T0,
        c,
        "devices/reg-p/messages/events/",
        QoS::AtMostOnce,
        0,
        b"x",
    );
    assert_eq!(closed, Some(false));
    // PINGREQ is answered; DISCONNECT closes.
    h.handle_bytes(T0, c2, &encode(Packet::PingReq));
    assert!(matches!(&drain(&mut h, c2).0[..], [Packet::PingResp]));
    h.handle_bytes(T0, c2, &encode(Packet::Disconnect));
    assert_eq!(drain(&mut h, c2).1, Some(true));
}

#[test]
fn dps_connection_closed_when_token_expires_succeeds() {
    let mut h = hub();
    enroll(&mut h, "reg-x", json!({}));
    let c = dps_online(&mut h, "reg-x", &reg_token("reg-x", KEY, T0 / 1000 + 10));
    h.handle_timeout(T0 + 10_000);
    assert_eq!(drain(&mut h, c).1, Some(true));
}

#[test]
fn dps_service_api_errors_and_etags_fails() {
    let mut h = hub();
    let e = |r: Result<Value, hubwire_emulator::core::DpsServiceError>| r.unwrap_err();
    assert_eq!(e(h.dps_enrollment("nope")).error_code, 404_201);
    assert_eq!(e(h.dps_group("nope")).error_code, 404_201);
    assert_eq!(e(h.dps_registration("nope")).error_code, 404_202);
    let bad = [
        json!({"attestation": {"type": "x509"}}),
        json!({"registrationId": "other"}),
        json!({"provisioningStatus": "maybe"}),
        json!({"attestation": {"symmetricKey": {"primaryKey": "AAAA", "secondaryKey": "AAAA"}}}),
        json!({"attestation": {"symmetricKey": {"primaryKey": KEY}}}),
        json!({"deviceId": "a b"}),
        json!({"initialTwin": 3}),
        json!([1]),
    ];
    for b in bad {
        let err = h
            .dps_put_enrollment(T0, "reg-e", &b, None, (KEY.into(), KEY.into()))
            .unwrap_err();
        assert_eq!((err.status, err.error_code), (400, 400_004), "{b}");
    }
    assert_eq!(
        h.dps_put_enrollment(T0, "bad id!", &json!({}), None, (KEY.into(), KEY.into()))
            .unwrap_err()
            .status,
        400
    );
    let v = enroll(&mut h, "reg-e", json!({}));
    assert_eq!(v["etag"], "\"1\"");
    let err = h
        .dps_put_enrollment(
            T0,
            "reg-e",
            &json!({}),
            Some("\"7\""),
            (KEY.into(), KEY.into()),
        )
        .unwrap_err();
    assert_eq!((err.status, err.error_code), (412, 412_002));
    let v = h
        .dps_put_enrollment(
            T0,
            "reg-e",
            &json!({}),
            Some("\"1\""),
            (KEY2.into(), KEY2.into()),
        )
        .unwrap();
    assert_eq!(v["etag"], "\"2\"");
    assert_eq!(
        v["attestation"]["symmetricKey"]["primaryKey"], KEY,
        "existing keys are kept"
    );
    assert_eq!(h.dps_enrollments().as_array().unwrap().len(), 1);
    assert_eq!(
        h.dps_delete_enrollment("reg-e", Some("\"1\""))
            .unwrap_err()
            .status,
        412
    );
    h.dps_delete_enrollment("REG-E", None).unwrap();
    assert!(h.dps_enrollment("reg-e").is_err());
    assert!(h.dps_group_registrations("nope").is_err());
}

#[test]
fn dps_state_survives_export_import_succeeds() {
    let mut h = hub();
    enroll(&mut h, "reg-1", json!({"deviceId": "dev-a"}));
    group(&mut h, "g", json!({}));
    let c = dps_online(&mut h, "reg-1", &reg_token("reg-1", KEY, EXP));
    provision(&mut h, c, "reg-1", Some(json!({"modelId": "m"})));
    let saved = h.dps_export();
    let mut back = hub();
    assert!(back.dps_import(&saved));
    assert_eq!(
        back.dps_enrollment("reg-1").unwrap(),
        h.dps_enrollment("reg-1").unwrap()
    );
    assert_eq!(back.dps_group("g").unwrap(), h.dps_group("g").unwrap());
    assert_eq!(
        back.dps_registration("reg-1").unwrap(),
        h.dps_registration("reg-1").unwrap()
    );
    assert!(!back.dps_import(&json!({"enrollments": "x"})));
}

#[test]
fn dps_id_scope_flag_parsed_succeeds() {
    let args: Vec<String> = ["--id-scope", "0ne12345678"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    let o = hubwire_emulator::server::parse_args(&args).unwrap();
    assert_eq!(o.id_scope, "0ne12345678");
    let bad: Vec<String> = ["--id-scope", "a/b"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    assert!(hubwire_emulator::server::parse_args(&bad).is_err());
    let mut h = hub();
    h.set_dps_id_scope("0ne12345678");
    assert_eq!(h.dps_id_scope(), "0ne12345678");
}
