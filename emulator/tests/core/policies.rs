//! Shared access policies: devices connecting with a policy key (`skn`), the
//! service API's rights, and policies created, updated and deleted.

use super::harness::*;
use hubwire_emulator::core::policies::{derived_key, Rights};

fn policy_connect(id: &str, policy: &str, key: &str, sr: &str) -> Vec<u8> {
    let pw = make_token(sr, key, Some(policy), EXP).unwrap();
    connect_with(id, &format!("{HOST}/{id}/?api-version=1"), &pw, false, 0)
}

fn device_key(h: &Hub) -> String {
    h.policies().get("device").unwrap().primary_key.clone()
}

#[test]
fn connect_device_policy_token_any_resource_prefix_succeeds() {
    let mut h = hub();
    let key = device_key(&h);
    for sr in [
        HOST.to_string(),
        format!("{HOST}/devices"),
        format!("{HOST}/devices/d1"),
    ] {
        let c = policy_connect("d1", "device", &key, &sr);
        assert_eq!(
            open(&mut h, T0, &c).1,
            ConnectReturnCode::Success,
            "sr {sr}"
        );
    }
    let m = policy_connect(
        "d1/m1",
        "device",
        &key,
        &format!("{HOST}/devices/d1/modules/m1"),
    );
    assert_eq!(open(&mut h, T0, &m).1, ConnectReturnCode::Success);
}

#[test]
fn connect_device_policy_secondary_and_iothubowner_succeeds() {
    let mut h = hub();
    let secondary = h.policies().get("device").unwrap().secondary_key.clone();
    assert_eq!(secondary, derived_key(SERVICE_KEY, "device", "secondary"));
    let c = policy_connect("d2", "device", &secondary, HOST);
    assert_eq!(open(&mut h, T0, &c).1, ConnectReturnCode::Success);
    let c = policy_connect("d2", "iothubowner", SERVICE_KEY, HOST);
    assert_eq!(open(&mut h, T0, &c).1, ConnectReturnCode::Success);
}

#[test]
fn connect_policy_without_device_connect_fails() {
    let mut h = hub();
    let key = h.policies().get("service").unwrap().primary_key.clone();
    let c = policy_connect("d1", "service", &key, HOST);
    assert_eq!(open(&mut h, T0, &c).1, ConnectReturnCode::NotAuthorized);
}

#[test]
fn connect_policy_token_wrong_key_other_device_or_unknown_policy_fails() {
    let mut h = hub();
    let key = device_key(&h);
    let cases = [
        policy_connect("d1", "device", KEY, HOST),
        // sr names another device: not a prefix of /devices/d1.
        policy_connect("d1", "device", &key, &format!("{HOST}/devices/d2")),
        policy_connect("d1", "device", &key, &format!("{HOST}/devices/d")),
        policy_connect("d1", "nosuch", &key, HOST),
        // The device policy key for an identity that does not exist.
        policy_connect("ghost", "device", &key, HOST),
    ];
    for c in cases {
        assert_eq!(open(&mut h, T0, &c).1, ConnectReturnCode::NotAuthorized);
    }
}

#[test]
fn put_policy_create_connect_rotate_delete_succeeds() {
    let mut h = hub();
    let fresh = (KEY.to_string(), KEY2.to_string());
    let v = h
        .put_policy(
            "fleet",
            &json!({"rights": "DeviceConnect, RegistryRead"}),
            fresh,
        )
        .unwrap();
    assert_eq!(
        v,
        json!({"keyName": "fleet", "primaryKey": KEY, "secondaryKey": KEY2,
               "rights": "RegistryRead, DeviceConnect"})
    );
    let c = policy_connect("d1", "fleet", KEY, HOST);
    let (conn, code) = open(&mut h, T0, &c);
    assert_eq!(code, ConnectReturnCode::Success);
    // Keys absent keep, rights absent keep; a new primary key stops the old one working.
    let v = h
        .put_policy(
            "fleet",
            &json!({"primaryKey": KEY2}),
            (SERVICE_KEY.into(), SERVICE_KEY.into()),
        )
        .unwrap();
    assert_eq!(
        (v["primaryKey"].as_str(), v["secondaryKey"].as_str()),
        (Some(KEY2), Some(KEY2))
    );
    assert_eq!(v["rights"], "RegistryRead, DeviceConnect");
    let c = policy_connect("d1", "fleet", KEY, HOST);
    assert_eq!(open(&mut h, T0, &c).1, ConnectReturnCode::NotAuthorized);
    h.delete_policy("fleet").unwrap();
    assert_eq!(
        h.delete_policy("fleet"),
        Err(ServiceError::NotFound(
            "no shared access policy named \"fleet\"".into()
        ))
    );
    let c = policy_connect("d1", "fleet", KEY2, HOST);
    assert_eq!(open(&mut h, T0, &c).1, ConnectReturnCode::NotAuthorized);
    let _ = conn;
}

#[test]
fn put_policy_bad_input_fails() {
    let mut h = hub();
    let fresh = || (KEY.to_string(), KEY2.to_string());
    for (name, body, why) in [
        ("p", json!({}), "needs \"rights\""),
        ("p", json!({"rights": "Everything"}), "unknown right"),
        ("p", json!({"rights": 3}), "must be a string"),
        (
            "p",
            json!({"rights": "DeviceConnect", "primaryKey": "AAAA"}),
            "base64",
        ),
        (
            "bad name!",
            json!({"rights": "DeviceConnect"}),
            "policy name",
        ),
        (
            "iothubowner",
            json!({"rights": "DeviceConnect"}),
            "every right",
        ),
    ] {
        match h.put_policy(name, &body, fresh()) {
            Err(ServiceError::BadRequest(m)) => assert!(m.contains(why), "{body}: {m}"),
            other => panic!("{body}: {other:?}"),
        }
    }
    assert!(h.delete_policy("iothubowner").is_err());
    assert!(h.policies().get("p").is_none());
}

#[test]
fn service_token_rights_by_policy_succeeds() {
    let h = hub();
    let tok = |name: &str, key: &str| {
        hubwire_emulator::core::auth::SasToken::parse(
            &make_token(HOST, key, Some(name), EXP).unwrap(),
        )
        .unwrap()
    };
    let read = h
        .policies()
        .get("registryRead")
        .unwrap()
        .primary_key
        .clone();
    assert_eq!(
        h.service_token_rights(&tok("registryRead", &read), T0),
        Ok(Rights::parse("RegistryRead").unwrap())
    );
    assert_eq!(
        h.service_token_rights(&tok("iothubowner", SERVICE_KEY), T0),
        Ok(Rights::ALL)
    );
    assert!(h
        .service_token_rights(&tok("registryRead", KEY), T0)
        .is_err());
    assert!(h.service_token_rights(&tok("nosuch", KEY), T0).is_err());
    // Expired.
    assert!(h
        .service_token_rights(&tok("iothubowner", SERVICE_KEY), (EXP + 1) * 1000)
        .is_err());
}
