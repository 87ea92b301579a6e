//! The DPS device side of the core: enrollments made through the service methods,
//! devices speaking DPS MQTT on the same endpoint (helpers shared with dps_service.rs).

use hubwire::dps::auth::{derive_device_key_base64, token as dps_token};
use hubwire::hub::connection_string::SymmetricKey;
use hubwire_emulator::core::dps::DEFAULT_ID_SCOPE;
use serde_json::Value;

use super::harness::*;

pub(super) const SCOPE: &str = DEFAULT_ID_SCOPE;

pub(super) fn enroll(h: &mut Hub, reg: &str, body: Value) -> Value {
    h.dps_put_enrollment(T0, reg, &body, None, (KEY.into(), KEY2.into()))
        .unwrap()
}

pub(super) fn group(h: &mut Hub, id: &str, body: Value) -> Value {
    h.dps_put_group(T0, id, &body, None, (KEY.into(), KEY2.into()))
        .unwrap()
}

pub(super) fn reg_token(reg: &str, key: &str, expiry: u64) -> String {
    dps_token(&SymmetricKey::from_base64(key).unwrap(), SCOPE, reg, expiry)
}

pub(super) fn dps_user(scope: &str, reg: &str) -> String {
    format!("{scope}/registrations/{reg}/api-version=2019-03-31&ClientVersion=test")
}

/// A DPS connection, CONNACKed and subscribed.
pub(super) fn dps_online(h: &mut Hub, reg: &str, password: &str) -> ConnId {
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
pub(super) fn answer(pkts: &[Packet]) -> (u16, String, Value) {
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

pub(super) fn register(
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

pub(super) fn status(h: &mut Hub, now: u64, c: ConnId, op: &str) -> (u16, String, Value) {
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
pub(super) fn provision(h: &mut Hub, c: ConnId, reg: &str, payload: Option<Value>) -> Value {
    let (s, q, body) = register(h, T0, c, reg, payload);
    assert_eq!((s, q.as_str()), (202, "$rid=r1&retry-after=1"), "{body}");
    assert_eq!(body["status"], "assigning");
    let op = body["operationId"].as_str().unwrap().to_string();
    let (s, q, done) = status(h, T0 + 1000, c, &op);
    assert_eq!((s, q.as_str()), (200, "$rid=r2"), "{done}");
    assert_eq!(done["operationId"], op.as_str());
    done
}

pub(super) fn hub_connects(h: &mut Hub, device: &str, key: &str) -> ConnectReturnCode {
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
