//! Registry operations that touch connections.

use super::harness::*;

#[test]
fn delete_device_closes_its_connections_succeeds() {
    let mut h = hub();
    let c = online(&mut h, "d1", &[]);
    h.delete_identity(T0, &IdentityId::device("d1")).unwrap();
    assert_eq!(drain(&mut h, c).1, Some(true));
    assert!(h.identity_json(&IdentityId::module("d1", "m1")).is_err());
    assert_eq!(
        h.delete_identity(T0, &IdentityId::device("d1")),
        Err(ServiceError::DeviceNotFound)
    );
}

#[test]
fn module_of_unknown_device_fails() {
    let mut h = hub();
    let r = h.put_identity(
        T0,
        &IdentityId::module("zz", "m"),
        None,
        None,
        (KEY.into(), KEY.into()),
    );
    assert_eq!(r, Err(ServiceError::DeviceNotFound));
}

#[test]
fn disabling_connected_device_closes_it_succeeds() {
    let mut h = hub();
    let c = online(&mut h, "d1", &[]);
    h.put_identity(
        T0,
        &IdentityId::device("d1"),
        Some(false),
        None,
        (KEY.into(), KEY.into()),
    )
    .unwrap();
    assert_eq!(drain(&mut h, c).1, Some(true));
    assert!(!is_connected(&h, "d1"));
    assert_eq!(
        open(&mut h, T0, &connect_device("d1", false)).1,
        ConnectReturnCode::NotAuthorized
    );
}
