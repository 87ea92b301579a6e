//! Credentials for DPS: registration id rules, the CONNECT username, the SAS
//! resource and token, and group-key derivation.
//!
//! - username: `{idScope}/registrations/{registrationId}/api-version=2019-03-31[&ClientVersion={enc}]`
//!   (the Node SDK adds `ClientVersion`; note there is no `?` as in IoT Hub usernames);
//! - SAS: `sr` = `{idScope}/registrations/{registrationId}`, `skn=registration`, signed
//!   like any IoT Hub token ([`crate::hub::sas::token`]);
//! - a device in an enrollment group signs with its *derived* key
//!   `base64(HMAC-SHA256(base64decode(groupKey), registrationId))`.

use crate::prelude::*;

use crate::hub::connection_string::SymmetricKey;
use crate::hub::encoding::percent_encode_into;
use crate::hub::sas;
use crate::text::concat;

use super::error::Error;

/// The DPS device API version (the only one DPS's MQTT endpoint documents).
pub const API_VERSION: &str = "2019-03-31";
/// `skn` of a registration token.
pub const KEY_NAME: &str = "registration";
/// Longest registration id DPS accepts.
pub const MAX_REGISTRATION_ID_LEN: usize = 128;

/// Checks a registration id against DPS's rule: 1 to 128 ASCII letters, digits and
/// `- . _ :`, starting and ending with a letter or digit.
pub fn validate_registration_id(id: &str) -> Result<(), Error> {
    let b = id.as_bytes();
    let ok = !b.is_empty()
        && b.len() <= MAX_REGISTRATION_ID_LEN
        && b.iter()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'-' | b'.' | b'_' | b':'))
        && b.first().is_some_and(u8::is_ascii_alphanumeric)
        && b.last().is_some_and(u8::is_ascii_alphanumeric);
    if ok {
        return Ok(());
    }
    Err(Error::invalid(
        "registration id must be 1 to 128 ASCII letters, digits and - . _ :, \
         starting and ending with a letter or digit",
    ))
}

/// Checks an ID scope: not empty, no `/`, spaces or control characters.
pub fn validate_id_scope(scope: &str) -> Result<(), Error> {
    if scope.is_empty() || scope.bytes().any(|b| b == b'/' || b <= b' ' || b == 0x7f) {
        return Err(Error::invalid(
            "ID scope must not be empty nor contain '/' or spaces",
        ));
    }
    Ok(())
}

/// The CONNECT username.
pub fn username(id_scope: &str, registration_id: &str, client_version: Option<&str>) -> String {
    let mut out = concat(&[
        id_scope,
        "/registrations/",
        registration_id,
        "/api-version=",
        API_VERSION,
    ]);
    if let Some(v) = client_version {
        out.push_str("&ClientVersion=");
        percent_encode_into(&mut out, v);
    }
    out
}

/// Splits a DPS CONNECT username into `(id scope, registration id)` (for the emulator).
/// `None`: not a DPS username (e.g. an IoT Hub one, `{host}/{device}/?api-version=…`).
pub fn parse_username(username: &str) -> Option<(&str, &str)> {
    let (scope, rest) = username.split_once('/')?;
    let rest = rest.strip_prefix("registrations/")?;
    let (registration_id, tail) = rest.split_once('/')?;
    if scope.is_empty() || registration_id.is_empty() {
        return None;
    }
    tail.starts_with("api-version=")
        .then_some((scope, registration_id))
}

/// The SAS resource: `{idScope}/registrations/{registrationId}` (unencoded).
pub fn resource(id_scope: &str, registration_id: &str) -> String {
    concat(&[id_scope, "/registrations/", registration_id])
}

/// A registration token signed with `key`, expiring at `expiry_secs`
/// (`SharedAccessSignature sr=…&sig=…&skn=registration&se=…`, the Node SDK's field order).
pub fn token(
    key: &SymmetricKey,
    id_scope: &str,
    registration_id: &str,
    expiry_secs: u64,
) -> String {
    sas::token(
        key.bytes(),
        &resource(id_scope, registration_id),
        expiry_secs,
        Some(KEY_NAME),
    )
}

/// The device key of a registration in a symmetric-key enrollment group:
/// `base64(HMAC-SHA256(groupKey, registrationId))`.
pub fn derive_device_key(group_key: &SymmetricKey, registration_id: &str) -> SymmetricKey {
    let derived = sas::sign(group_key.bytes(), registration_id);
    match SymmetricKey::from_base64(&derived) {
        Ok(k) => k,
        // `sign` returns standard base64, which always decodes.
        Err(_) => unreachable!("sas::sign returns valid base64"),
    }
}

/// [`derive_device_key`] on base64 text, returning base64 text (what the dashboard and the
/// emulator's group enrollments need).
pub fn derive_device_key_base64(
    group_key_base64: &str,
    registration_id: &str,
) -> Result<String, Error> {
    let key = SymmetricKey::from_base64(group_key_base64)
        .map_err(|_| Error::invalid("group key is not valid base64"))?;
    Ok(sas::sign(key.bytes(), registration_id))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validate_registration_id_rules_succeeds() {
        for ok in ["a", "dev-1", "my.device_01:x", &"a".repeat(128), "A1"] {
            assert_eq!(validate_registration_id(ok), Ok(()), "{ok}");
        }
    }

    #[test]
    fn validate_registration_id_bad_fails() {
        for bad in [
            "",
            "-a",
            "a-",
            "a b",
            "a/b",
            "é",
            "a*",
            &"a".repeat(129),
            ".",
        ] {
            assert!(validate_registration_id(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn validate_id_scope_bad_fails() {
        assert!(validate_id_scope("0ne00000001").is_ok());
        for bad in ["", "a/b", "a b", "a\n"] {
            assert!(validate_id_scope(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn username_with_client_version_succeeds() {
        assert_eq!(
            username("0ne00FEEDC0DE", "dev1", None),
            "0ne00FEEDC0DE/registrations/dev1/api-version=2019-03-31"
        );
        assert_eq!(
            username("s", "d", Some("hubwire/0.1.0 (x)")),
            "s/registrations/d/api-version=2019-03-31&ClientVersion=hubwire%2F0.1.0%20%28x%29"
        );
    }

    #[test]
    fn parse_username_dps_and_hub_forms_succeeds() {
        assert_eq!(
            parse_username("0ne1/registrations/dev1/api-version=2019-03-31&ClientVersion=x"),
            Some(("0ne1", "dev1"))
        );
        assert_eq!(
            parse_username("0ne1/registrations/dev1/api-version=2019-03-31"),
            Some(("0ne1", "dev1"))
        );
        assert_eq!(parse_username("0ne1/registrations/dev1"), None);
        assert_eq!(
            parse_username("localhost/dev1/?api-version=2021-04-12"),
            None
        );
        // A device literally named "registrations" on a hub is not DPS.
        assert_eq!(
            parse_username("localhost/registrations/?api-version=2021-04-12"),
            None
        );
        assert_eq!(parse_username("/registrations/d/api-version=1"), None);
        assert_eq!(parse_username("s/registrations/d/?api-version=1"), None);
    }

    #[test]
    fn derive_device_key_known_answer_succeeds() {
        // HMAC-SHA256 with key 0x00..0x1f over "sample-device-01", base64 (checked
        // against Node's crypto in tests/vectors, see dps/tests/vectors.rs).
        let group =
            SymmetricKey::from_base64("AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=").unwrap();
        let a = derive_device_key(&group, "sample-device-01");
        let b = derive_device_key(&group, "sample-device-02");
        assert_ne!(a, b);
        assert_eq!(a.bytes().len(), 32);
        assert_eq!(
            derive_device_key_base64(
                "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=",
                "sample-device-01"
            )
            .unwrap(),
            sas::sign(group.bytes(), "sample-device-01")
        );
        assert_eq!(
            derive_device_key_base64("not base64!", "x"),
            Err(Error::invalid("group key is not valid base64"))
        );
    }
}
