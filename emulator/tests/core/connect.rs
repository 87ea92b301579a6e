//! CONNECT: SAS verification, CONNACK codes, token expiry, keep-alive, one connection per identity.

use super::harness::*;

#[test]
fn connect_valid_device_and_module_succeeds() {
    let mut h = hub();
    assert_eq!(
        open(&mut h, T0, &connect_device("d1", false)).1,
        ConnectReturnCode::Success
    );
    assert_eq!(
        open(&mut h, T0, &connect_device("d1/m1", false)).1,
        ConnectReturnCode::Success
    );
    assert!(is_connected(&h, "d1"));
    assert!(
        h.connection_info(&IdentityId::module("d1", "m1"))
            .unwrap()
            .connected
    );
}

#[test]
fn connect_secondary_key_succeeds() {
    let mut h = hub();
    let pw = token(&format!("{HOST}/devices/d1"), KEY2, EXP);
    let c = connect_with("d1", &format!("{HOST}/d1/?api-version=1"), &pw, true, 0);
    assert_eq!(open(&mut h, T0, &c).1, ConnectReturnCode::Success);
}

#[test]
fn connect_node_lower_case_escape_in_sr_succeeds() {
    let mut h = hub();
    let id = IdentityId::device("dev*");
    add_identity(&mut h, &id, KEY);
    // Node's encodeURIComponent leaves '*' alone and the SDK then writes %2a.
    let sr = format!("{HOST}%2Fdevices%2Fdev%2a");
    let sig = hubwire_emulator::core::auth::sign(KEY, &sr, EXP).unwrap();
    let pw = format!(
        "SharedAccessSignature sr={sr}&sig={}&se={EXP}",
        hubwire_emulator::core::props::percent_encode(&sig)
    );
    let c = connect_with(
        "dev*",
        &format!("{HOST}/dev*/?api-version=1"),
        &pw,
        false,
        0,
    );
    assert_eq!(open(&mut h, T0, &c).1, ConnectReturnCode::Success);
}

#[test]
fn connect_node_capture_username_succeeds() {
    let mut h = hub();
    let user = format!("{HOST}/d1/?api-version=2021-04-12&DeviceClientType=azure-iot-device%2F1.18.4%20(node%20v20.20.2%3B%20Debian%2012%3B%20x64)");
    let c = connect_with(
        "d1",
        &user,
        &token(&format!("{HOST}/devices/d1"), KEY, EXP),
        false,
        180,
    );
    assert_eq!(open(&mut h, T0, &c).1, ConnectReturnCode::Success);
}

#[test]
fn connect_wrong_key_fails() {
    let mut h = hub();
    let pw = token(&format!("{HOST}/devices/d1"), SERVICE_KEY, EXP);
    let c = connect_with("d1", &format!("{HOST}/d1/?api-version=1"), &pw, false, 0);
    assert_eq!(open(&mut h, T0, &c).1, ConnectReturnCode::NotAuthorized);
    assert_eq!(
        h.connection_info(&IdentityId::device("d1"))
            .unwrap()
            .connections,
        0
    );
}

#[test]
fn connect_expired_token_fails() {
    let mut h = hub();
    let pw = token(&format!("{HOST}/devices/d1"), KEY, T0 / 1000);
    let c = connect_with("d1", &format!("{HOST}/d1/?api-version=1"), &pw, false, 0);
    assert_eq!(open(&mut h, T0, &c).1, ConnectReturnCode::NotAuthorized);
}

#[test]
fn connect_token_for_other_identity_fails() {
    let mut h = hub();
    // d2 has the same key, so only the decoded sr tells them apart.
    let pw = token(&format!("{HOST}/devices/d2"), KEY, EXP);
    let c = connect_with("d1", &format!("{HOST}/d1/?api-version=1"), &pw, false, 0);
    assert_eq!(open(&mut h, T0, &c).1, ConnectReturnCode::NotAuthorized);
    let pw = token(&format!("{HOST}/devices/d1"), KEY, EXP);
    let c = connect_with(
        "d1/m1",
        &format!("{HOST}/d1/m1/?api-version=1"),
        &pw,
        false,
        0,
    );
    assert_eq!(open(&mut h, T0, &c).1, ConnectReturnCode::NotAuthorized);
}

#[test]
fn connect_bad_username_fails() {
    let mut h = hub();
    let pw = token(&format!("{HOST}/devices/d1"), KEY, EXP);
    for user in [
        "other.host/d1/?api-version=1",
        &format!("{HOST}/d2/?api-version=1"),
        "d1",
    ] {
        let c = connect_with("d1", user, &pw, false, 0);
        assert_eq!(
            open(&mut h, T0, &c).1,
            ConnectReturnCode::BadUserNamePassword,
            "{user}"
        );
    }
    let c = connect_with(
        "d1",
        &format!("{HOST}/d1/?api-version=1"),
        "not a token",
        false,
        0,
    );
    assert_eq!(
        open(&mut h, T0, &c).1,
        ConnectReturnCode::BadUserNamePassword
    );
}

#[test]
fn connect_unknown_device_fails() {
    let mut h = hub();
    assert_eq!(
        open(&mut h, T0, &connect_device("nobody", false)).1,
        ConnectReturnCode::NotAuthorized
    );
}

#[test]
fn connect_disabled_device_fails() {
    let mut h = hub();
    h.put_identity(
        T0,
        &IdentityId::device("d1"),
        Some(false),
        None,
        (KEY.into(), KEY.into()),
    )
    .unwrap();
    assert_eq!(
        open(&mut h, T0, &connect_device("d1", false)).1,
        ConnectReturnCode::NotAuthorized
    );
}

#[test]
fn connect_service_policy_token_succeeds() {
    let mut h = hub();
    let pw = make_token(HOST, SERVICE_KEY, Some("iothubowner"), EXP).unwrap();
    let c = connect_with("d1", &format!("{HOST}/d1/?api-version=1"), &pw, false, 0);
    assert_eq!(open(&mut h, T0, &c).1, ConnectReturnCode::Success);
    let pw = make_token(HOST, KEY, Some("somepolicy"), EXP).unwrap();
    let c = connect_with("d2", &format!("{HOST}/d2/?api-version=1"), &pw, false, 0);
    assert_eq!(open(&mut h, T0, &c).1, ConnectReturnCode::NotAuthorized);
}

#[test]
fn connect_split_at_every_byte_succeeds() {
    let mut h = hub();
    let bytes = connect_device("d1", false);
    let c = h.connection_opened(T0);
    for b in &bytes {
        h.handle_bytes(T0, c, std::slice::from_ref(b));
    }
    assert_eq!(connack(&drain(&mut h, c).0).0, ConnectReturnCode::Success);
}

#[test]
fn connect_protocol_level_3_fails() {
    let mut h = hub();
    let mut bytes = connect_device("d1", false);
    let level = bytes.windows(4).position(|w| w == b"MQTT").unwrap() + 4;
    bytes[level] = 3;
    let c = h.connection_opened(T0);
    h.handle_bytes(T0, c, &bytes);
    let (pkts, closed, _) = drain(&mut h, c);
    assert_eq!(connack(&pkts).0, ConnectReturnCode::RefusedProtocolVersion);
    assert!(closed.is_some());
}

#[test]
fn publish_before_connect_fails() {
    let mut h = hub();
    let c = h.connection_opened(T0);
    let (pkts, closed, _) = publish(
        &mut h,
        T0,
        c,
        "devices/d1/messages/events/",
        QoS::AtMostOnce,
        0,
        b"x",
    );
    assert!(pkts.is_empty());
    assert_eq!(closed, Some(false));
}

#[test]
fn token_expiry_closes_connection_succeeds() {
    let mut h = hub();
    let c = online(&mut h, "d1", &[]);
    assert_eq!(h.poll_timeout(), Some(T0 + 90_000)); // keep-alive 60 s * 1.5 comes first
    h.handle_bytes(T0 + 80_000, c, &encode(Packet::PingReq));
    assert!(matches!(drain(&mut h, c).0[..], [Packet::PingResp]));
    // Keep pinging; the token (EXP) still ends it.
    let mut now = T0 + 80_000;
    while now < EXP * 1000 - 50_000 {
        now += 50_000;
        h.handle_bytes(now, c, &encode(Packet::PingReq));
        h.handle_timeout(now);
        assert_eq!(drain(&mut h, c).1, None);
    }
    h.handle_timeout(EXP * 1000);
    assert_eq!(drain(&mut h, c).1, Some(true));
    assert!(!is_connected(&h, "d1"));
}

#[test]
fn keepalive_silence_closes_connection_succeeds() {
    let mut h = hub();
    let c = online(&mut h, "d1", &[]);
    h.handle_timeout(T0 + 89_999);
    assert_eq!(drain(&mut h, c).1, None);
    h.handle_timeout(T0 + 90_000);
    assert_eq!(drain(&mut h, c).1, Some(true));
}

#[test]
fn second_connection_drops_first_succeeds() {
    let mut h = hub();
    let first = online(&mut h, "d1", &[]);
    let second = h.connection_opened(T0);
    h.handle_bytes(T0, second, &connect_device("d1", false));
    let mut first_closed = false;
    let mut second_ok = false;
    while let Some(o) = h.poll_output() {
        match o {
            Output::Close { conn, .. } if conn == first => first_closed = true,
            Output::Transmit { conn, bytes } if conn == second => {
                second_ok = bytes[..2] == [0x20, 0x02] && bytes[3] == 0
            }
            _ => {}
        }
    }
    assert!(first_closed && second_ok);
    let info = h.connection_info(&IdentityId::device("d1")).unwrap();
    assert!(info.connected);
    assert_eq!(info.connections, 2);
}

#[test]
fn connection_info_reports_username_succeeds() {
    let mut h = hub();
    let id = IdentityId::device("d1");
    assert_eq!(h.connection_info(&id).unwrap().username, None);
    let user =
        format!("{HOST}/d1/?api-version=2021-04-12&DeviceClientType=x%2F1&model-id=dtmi%3Aa%3Bb;1");
    let c = connect_with(
        "d1",
        &user,
        &token(&format!("{HOST}/devices/d1"), KEY, EXP),
        false,
        0,
    );
    assert_eq!(open(&mut h, T0, &c).1, ConnectReturnCode::Success);
    assert_eq!(h.connection_info(&id).unwrap().username, Some(user));
}
