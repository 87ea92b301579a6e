//! The DPS service side of the core: faults, errors and etags of the enrollment
//! routes, state-file export/import, `--id-scope`.

use serde_json::Value;

use super::dps::*;
use super::harness::*;

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
