//! Shared access signatures and CONNECT usernames, checked the way IoT Hub
//! checks them: the HMAC covers `sr` exactly as the client sent it (Node sends
//! `%2a` in lower case), then the decoded `sr` must name the identity.

use base64::Engine as _;
use hubwire::hub::sas;

/// A parsed `SharedAccessSignature sr=..&sig=..&se=..[&skn=..]` token
/// (`hubwire::hub::sas::SasToken`, checked against the registry's keys).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SasToken(sas::SasToken);

/// Why a token or username was refused. The client is at fault in every case.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuthError {
    /// The token is not `SharedAccessSignature k=v&...` or lacks `sr`, `sig` or `se`.
    Malformed,
    /// The signature does not match any key of the identity.
    BadSignature,
    /// `se` is not in the future.
    Expired,
}

fn key_bytes(key_base64: &str) -> Option<Vec<u8>> {
    base64::engine::general_purpose::STANDARD
        .decode(key_base64)
        .ok()
}

impl SasToken {
    /// Parses a token; fields may come in any order.
    pub fn parse(token: &str) -> Result<SasToken, AuthError> {
        sas::SasToken::parse(token)
            .map(SasToken)
            .map_err(|_| AuthError::Malformed)
    }

    /// Expiry (`se`), seconds since the Unix epoch.
    pub fn expiry(&self) -> u64 {
        self.0.expiry_secs
    }

    /// Policy name (`skn`), decoded, for shared access policy tokens.
    pub fn key_name(&self) -> Option<&str> {
        self.0.key_name.as_deref()
    }

    /// The decoded resource (`sr`).
    pub fn resource(&self) -> &str {
        &self.0.resource
    }

    /// True when `key_base64` signed this token. As IoT Hub, the HMAC must cover
    /// `sr` exactly as received (Node's lower-case `%2a` included), not a
    /// re-encoding of it.
    pub fn signed_by(&self, key_base64: &str) -> bool {
        let Some(key) = key_bytes(key_base64) else {
            return false;
        };
        let expected = sas::sign(
            &key,
            &sas::string_to_sign(&self.0.raw_resource, self.0.expiry_secs),
        );
        let (a, b) = (expected.as_bytes(), self.0.signature.as_bytes());
        a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
    }

    /// Checks signature against any of `keys`, then expiry against `now_ms`.
    pub fn verify(&self, keys: &[&str], now_ms: u64) -> Result<(), AuthError> {
        if !keys.iter().any(|k| self.signed_by(k)) {
            return Err(AuthError::BadSignature);
        }
        if self.0.expiry_secs.saturating_mul(1000) <= now_ms {
            return Err(AuthError::Expired);
        }
        Ok(())
    }

    /// True when the decoded resource is `host[/path]` (host case-insensitive,
    /// a trailing `/` tolerated).
    pub fn names(&self, host: &str, path: &str) -> bool {
        let r = self.0.resource.trim_end_matches('/');
        let Some(head) = r.get(..host.len()) else {
            return false;
        };
        head.eq_ignore_ascii_case(host) && &r[host.len()..] == path
    }
}

/// Signs `sr_raw\nexpiry` with a base64 key, returning the base64 signature.
pub fn sign(key_base64: &str, sr_raw: &str, expiry: u64) -> Option<String> {
    Some(sas::sign(
        &key_bytes(key_base64)?,
        &sas::string_to_sign(sr_raw, expiry),
    ))
}

/// Builds a complete token for `resource` (decoded), as the SDKs do.
pub fn make_token(
    resource: &str,
    key_base64: &str,
    key_name: Option<&str>,
    expiry: u64,
) -> Option<String> {
    Some(sas::token(
        &key_bytes(key_base64)?,
        resource,
        expiry,
        key_name,
    ))
}

/// Checks a CONNECT username `{host}/{client_id}/?api-version=..` (or the older
/// `{host}/{client_id}/api-version=..`) against the hub host and client id.
pub fn username_matches(username: &str, host: &str, client_id: &str) -> bool {
    let Some(head) = username.get(..host.len()) else {
        return false;
    };
    if !head.eq_ignore_ascii_case(host) {
        return false;
    }
    let rest = &username[host.len()..];
    let Some(rest) = rest.strip_prefix('/') else {
        return false;
    };
    let Some(rest) = rest.strip_prefix(client_id) else {
        return false;
    };
    rest.is_empty() || rest == "/" || rest.starts_with("/?") || rest.starts_with("/api-version=")
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";

    #[test]
    fn sas_parse_vector_device_succeeds() {
        let t = SasToken::parse("SharedAccessSignature sr=myhub.azure-devices.net%2Fdevices%2Fdev1&sig=i%2BYmMcSSZc4KzBi6ejz3l0iL%2B2sN0CE3q6vSm837h2g%3D&se=1700000000").unwrap();
        assert!(t.names("myhub.azure-devices.net", "/devices/dev1"));
        assert!(t.verify(&[KEY], 1_699_999_999_000).is_ok());
        assert_eq!(t.verify(&[KEY], 1_700_000_000_000), Err(AuthError::Expired));
        assert_eq!(
            t.verify(&["AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="], 0),
            Err(AuthError::BadSignature)
        );
    }

    #[test]
    fn sas_parse_vector_module_and_skn_order_succeeds() {
        let t = SasToken::parse("SharedAccessSignature sr=myhub.azure-devices.net%2Fdevices%2Fdev1%2Fmodules%2Fmod1&sig=kA6xjFLkZvk4Cdh0nD8uWAzassq6PB47f7BepMMtmlY%3D&se=1700000000").unwrap();
        assert!(t.names("myhub.azure-devices.net", "/devices/dev1/modules/mod1"));
        assert!(t.signed_by(KEY));
        let t = SasToken::parse("SharedAccessSignature sr=myhub.azure-devices.net%2Fdevices%2Fdev1&sig=i%2BYmMcSSZc4KzBi6ejz3l0iL%2B2sN0CE3q6vSm837h2g%3D&skn=device%20policy&se=1700000000").unwrap();
        assert_eq!(t.key_name(), Some("device policy"));
        assert!(t.signed_by(KEY));
    }

    #[test]
    fn sas_lower_case_escape_signed_as_received_succeeds() {
        let sr = "h%2fdevices%2fdev%2a";
        let sig = sign(KEY, sr, 2_000_000_000).unwrap();
        let tok = format!(
            "SharedAccessSignature sr={sr}&sig={}&se=2000000000",
            super::super::props::percent_encode(&sig)
        );
        let t = SasToken::parse(&tok).unwrap();
        assert!(t.signed_by(KEY));
        assert!(t.names("h", "/devices/dev*"));
        assert!(!t.names("h", "/devices/dev"));
    }

    #[test]
    fn sas_signed_over_other_encoding_of_sr_fails() {
        // Signed over the canonical `%2A`, sent as `%2a`: not what was received.
        let sig = sign(KEY, "h%2Fdevices%2Fdev%2A", 2_000_000_000).unwrap();
        let tok = format!(
            "SharedAccessSignature sr=h%2fdevices%2fdev%2a&sig={}&se=2000000000",
            super::super::props::percent_encode(&sig)
        );
        let t = SasToken::parse(&tok).unwrap();
        assert!(t.names("h", "/devices/dev*"));
        assert!(!t.signed_by(KEY));
    }

    #[test]
    fn sas_parse_garbage_fails() {
        assert_eq!(SasToken::parse("Bearer x"), Err(AuthError::Malformed));
        assert_eq!(
            SasToken::parse("SharedAccessSignature sr=a&sig=b"),
            Err(AuthError::Malformed)
        );
        assert_eq!(
            SasToken::parse("SharedAccessSignature sr=a&sig=%%%&se=1"),
            Err(AuthError::Malformed)
        );
        assert_eq!(
            SasToken::parse("SharedAccessSignature sr=a&sig=AA==&se=x"),
            Err(AuthError::Malformed)
        );
    }

    #[test]
    fn make_token_round_trip_succeeds() {
        let t = make_token("localhost", KEY, Some("iothubowner"), 1_800_000_000).unwrap();
        let p = SasToken::parse(&t).unwrap();
        assert!(p.signed_by(KEY));
        assert!(p.names("localhost", ""));
        assert_eq!(p.key_name(), Some("iothubowner"));
    }

    #[test]
    fn username_matches_forms_succeeds() {
        let node = "myhub.azure-devices.net/dev1/?api-version=2021-04-12&DeviceClientType=azure-iot-device%2F1.18.4";
        assert!(username_matches(node, "myhub.azure-devices.net", "dev1"));
        assert!(username_matches(
            "MyHub.azure-devices.net/dev1/api-version=2016-11-14",
            "myhub.azure-devices.net",
            "dev1"
        ));
        assert!(username_matches(
            "h/dev1/mod1/?api-version=1",
            "h",
            "dev1/mod1"
        ));
    }

    #[test]
    fn username_matches_wrong_host_or_id_fails() {
        assert!(!username_matches("other/dev1/?api-version=1", "h", "dev1"));
        assert!(!username_matches("h/dev2/?api-version=1", "h", "dev1"));
        assert!(!username_matches("h/dev10/?api-version=1", "h", "dev1"));
        assert!(!username_matches("h", "h", "dev1"));
    }
}
