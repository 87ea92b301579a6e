//! X.509 self-signed identities: CONNECT without a password on a transport that
//! presented a certificate whose thumbprint is registered.

use super::harness::*;
use hubwire_emulator::core::x509::{AuthChange, ClientCert, Thumbprints};

const CERT_DER: &[u8] = b"a device certificate (the hub only hashes it)";
const OTHER_DER: &[u8] = b"another certificate";

fn x509_hub(secondary: Option<&[u8]>) -> Hub {
    let mut h = hub();
    let cert = ClientCert::from_der(CERT_DER);
    let auth = AuthChange::SelfSigned(Thumbprints {
        primary: cert.sha1,
        secondary: secondary.map(|d| ClientCert::from_der(d).sha256),
    });
    let v = h
        .put_identity_auth(
            T0,
            &IdentityId::device("x1"),
            None,
            None,
            (KEY.into(), KEY.into()),
            auth,
        )
        .unwrap();
    assert_eq!(v["authentication"]["type"], "selfSigned");
    assert_eq!(
        v["authentication"]["symmetricKey"]["primaryKey"],
        json!(null)
    );
    h
}

/// CONNECT as `id` with a username and no password, on a transport with `cert`.
fn open_with_cert(h: &mut Hub, id: &str, cert: Option<&[u8]>, password: &str) -> ConnectReturnCode {
    let c = h.connection_opened(T0);
    if let Some(der) = cert {
        h.set_client_cert(c, ClientCert::from_der(der));
    }
    let mut connect = Connect::new(id);
    connect.keep_alive = 60;
    connect.set_login(
        format!("{HOST}/{id}/?api-version=2021-04-12"),
        password.to_string(),
    );
    h.handle_bytes(T0, c, &encode(Packet::Connect(connect)));
    let (pkts, ..) = drain(h, c);
    connack(&pkts).0
}

#[test]
fn connect_x509_primary_or_secondary_thumbprint_succeeds() {
    let mut h = x509_hub(Some(OTHER_DER));
    assert_eq!(
        open_with_cert(&mut h, "x1", Some(CERT_DER), ""),
        ConnectReturnCode::Success
    );
    assert_eq!(
        open_with_cert(&mut h, "x1", Some(OTHER_DER), ""),
        ConnectReturnCode::Success
    );
    assert!(is_connected(&h, "x1"));
    // A certificate connection has no token to expire.
    assert_eq!(
        h.poll_timeout(),
        Some(T0 + 90_000),
        "only the keep-alive deadline"
    );
}

#[test]
fn connect_x509_wrong_or_missing_certificate_fails() {
    let mut h = x509_hub(None);
    assert_eq!(
        open_with_cert(&mut h, "x1", Some(OTHER_DER), ""),
        ConnectReturnCode::NotAuthorized
    );
    assert_eq!(
        open_with_cert(&mut h, "x1", None, ""),
        ConnectReturnCode::BadUserNamePassword
    );
    // A SAS device does not accept a certificate in place of a token.
    assert_eq!(
        open_with_cert(&mut h, "d1", Some(CERT_DER), ""),
        ConnectReturnCode::NotAuthorized
    );
    assert!(!is_connected(&h, "x1"));
}

#[test]
fn connect_x509_identity_with_its_generated_key_token_fails() {
    let mut h = x509_hub(None);
    let key = h
        .registry()
        .get(&IdentityId::device("x1"))
        .unwrap()
        .primary_key
        .clone();
    let pw = token(&format!("{HOST}/devices/x1"), &key, EXP);
    assert_eq!(
        open_with_cert(&mut h, "x1", None, &pw),
        ConnectReturnCode::NotAuthorized
    );
    // A policy with DeviceConnect may still connect it, as on IoT Hub.
    let device = h.policies().get("device").unwrap().primary_key.clone();
    let pw = make_token(HOST, &device, Some("device"), EXP).unwrap();
    assert_eq!(
        open_with_cert(&mut h, "x1", None, &pw),
        ConnectReturnCode::Success
    );
}

#[test]
fn put_identity_auth_switch_to_sas_closes_and_refuses_certificate_succeeds() {
    let mut h = x509_hub(None);
    let c = h.connection_opened(T0);
    h.set_client_cert(c, ClientCert::from_der(CERT_DER));
    let mut connect = Connect::new("x1");
    connect.set_login(format!("{HOST}/x1/?api-version=1"), String::new());
    h.handle_bytes(T0, c, &encode(Packet::Connect(connect)));
    assert_eq!(connack(&drain(&mut h, c).0).0, ConnectReturnCode::Success);
    let v = h
        .put_identity_auth(
            T0,
            &IdentityId::device("x1"),
            None,
            None,
            (KEY.into(), KEY.into()),
            AuthChange::Sas,
        )
        .unwrap();
    assert_eq!(v["authentication"]["type"], "sas");
    assert_eq!(
        drain(&mut h, c).1,
        Some(true),
        "the certificate connection is closed"
    );
    assert_eq!(
        open_with_cert(&mut h, "x1", Some(CERT_DER), ""),
        ConnectReturnCode::NotAuthorized
    );
}

#[test]
fn registry_export_import_keeps_thumbprints_succeeds() {
    let h = x509_hub(Some(OTHER_DER));
    let back = hubwire_emulator::core::registry::Registry::import(&h.registry().export()).unwrap();
    let id = IdentityId::device("x1");
    assert_eq!(back.get(&id), h.registry().get(&id));
    assert!(back.get(&id).unwrap().x509.is_some());
}
