//! Shared access signatures.
//!
//! `sig = base64(HMAC-SHA256(key, "{sr}\n{se}"))` where `sr` is the
//! percent-encoded resource `{host}/devices/{id}[/modules/{mid}]` and `se` the
//! expiry in seconds since the Unix epoch (passed in: the core reads no clock).

use crate::prelude::*;

use super::encoding::{decode_bag, percent_encode, percent_encode_into};
use super::error::MalformedError;
use crate::text::{concat, push_u64, u64_string};

/// Default token lifetime in seconds.
pub const DEFAULT_TTL_SECS: u64 = 3600;

/// The scheme word every token starts with.
pub const SCHEME: &str = "SharedAccessSignature";

/// The unencoded resource URI: `{host}/devices/{device}[/modules/{module}]`.
pub fn resource(host: &str, device_id: &str, module_id: Option<&str>) -> String {
    match module_id {
        Some(m) => concat(&[host, "/devices/", device_id, "/modules/", m]),
        None => concat(&[host, "/devices/", device_id]),
    }
}

/// The text that is signed: `{percent-encoded resource}\n{expiry}`.
pub fn string_to_sign(encoded_resource: &str, expiry_secs: u64) -> String {
    concat(&[encoded_resource, "\n", &u64_string(expiry_secs)])
}

/// `base64(HMAC-SHA256(key, message))`.
pub fn sign(key: &[u8], message: &str) -> String {
    super::base64::encode(&super::hmac::hmac_sha256(key, message.as_bytes()))
}

/// Builds a device/module token for `resource` (unencoded) expiring at `expiry_secs`.
///
/// Field order follows the Node SDK: `sr`, `sig`, `skn` (if any), `se`.
pub fn token(key: &[u8], resource: &str, expiry_secs: u64, key_name: Option<&str>) -> String {
    let sr = percent_encode(resource);
    let sig = sign(key, &string_to_sign(&sr, expiry_secs));
    let mut out = String::with_capacity(96 + sr.len());
    out.push_str(SCHEME);
    out.push_str(" sr=");
    out.push_str(&sr);
    out.push_str("&sig=");
    percent_encode_into(&mut out, &sig);
    if let Some(n) = key_name {
        out.push_str("&skn=");
        percent_encode_into(&mut out, n);
    }
    out.push_str("&se=");
    push_u64(&mut out, expiry_secs);
    out
}

/// A parsed token (what the emulator checks against its registry).
#[derive(Clone, PartialEq, Eq)]
pub struct SasToken {
    /// `sr` exactly as sent (still percent-encoded): the signed text uses this form.
    pub raw_resource: String,
    /// `sr` decoded, e.g. `myhub.azure-devices.net/devices/dev1`.
    pub resource: String,
    /// `sig` decoded (base64 text).
    pub signature: String,
    /// `se`, seconds since the Unix epoch.
    pub expiry_secs: u64,
    /// `skn`, the policy name, decoded.
    pub key_name: Option<String>,
}

impl core::fmt::Debug for SasToken {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("SasToken")
            .field("resource", &self.resource)
            .field("signature", &"<redacted>")
            .field("expiry_secs", &self.expiry_secs)
            .field("key_name", &self.key_name)
            .finish()
    }
}

impl SasToken {
    /// Parses `SharedAccessSignature sr=..&sig=..&se=..[&skn=..]` (fields in any order).
    pub fn parse(s: &str) -> Result<Self, MalformedError> {
        let rest = s
            .trim()
            .strip_prefix(SCHEME)
            .and_then(|r| r.strip_prefix(' '))
            .ok_or(MalformedError::MissingField(SCHEME))?;
        let mut raw_resource = None;
        for seg in rest.split('&') {
            if let Some(v) = seg.strip_prefix("sr=") {
                raw_resource = Some(v.to_owned());
            }
        }
        let bag = decode_bag(rest)?;
        let get = |k: &str| {
            bag.iter()
                .find(|(n, _)| n == k)
                .and_then(|(_, v)| v.clone())
        };
        let resource = get("sr").ok_or(MalformedError::MissingField("sr"))?;
        let signature = get("sig").ok_or(MalformedError::MissingField("sig"))?;
        let se = get("se").ok_or(MalformedError::MissingField("se"))?;
        let expiry_secs = se.parse().map_err(|_| MalformedError::BadNumber("se"))?;
        Ok(SasToken {
            raw_resource: raw_resource.unwrap_or_else(|| percent_encode(&resource)),
            resource,
            signature,
            expiry_secs,
            key_name: get("skn"),
        })
    }

    /// Whether `sig` was made with `key`. The signed `sr` may be the form as sent
    /// (Node sends `%2a` lower-case) or our canonical encoding; both are accepted.
    pub fn signature_matches(&self, key: &[u8]) -> bool {
        let as_sent = sign(key, &string_to_sign(&self.raw_resource, self.expiry_secs));
        if ct_eq(as_sent.as_bytes(), self.signature.as_bytes()) {
            return true;
        }
        let canonical = sign(
            key,
            &string_to_sign(&percent_encode(&self.resource), self.expiry_secs),
        );
        ct_eq(canonical.as_bytes(), self.signature.as_bytes())
    }
}

fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// The `se` (expiry, seconds since the epoch) of a `SharedAccessSignature` token
/// that has `sr`, `sig` and a numeric `se`; nothing else is decoded. What a
/// connection string's token or a token provider's answer says about its own
/// lifetime (a byte scan, not [`SasToken::parse`], which the wasm build then
/// does without).
pub fn expiry_of(token: &str) -> Option<u64> {
    let rest = token.trim().strip_prefix(SCHEME)?.strip_prefix(' ')?;
    let (mut sr, mut sig, mut se) = (false, false, None);
    for seg in rest.as_bytes().split(|&c| c == b'&') {
        sr |= seg.starts_with(b"sr=");
        sig |= seg.starts_with(b"sig=");
        if let Some(d) = seg.strip_prefix(b"se=") {
            se = Some(d);
        }
    }
    let se = se.filter(|d| sr && sig && !d.is_empty())?;
    se.iter().try_fold(0u64, |n, &d| {
        d.is_ascii_digit().then_some(())?;
        n.checked_mul(10)?.checked_add(u64::from(d - b'0'))
    })
}

/// When to reconnect with a fresh token: `margin_secs` before `expiry_secs`, in ms since the epoch.
pub fn renew_at_ms(expiry_secs: u64, margin_secs: u64) -> u64 {
    expiry_secs.saturating_sub(margin_secs).saturating_mul(1000)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expiry_of_reads_se_only_succeeds() {
        let t = token(b"k", "h/devices/d", 1_700_000_000, None);
        assert_eq!(expiry_of(&t), Some(1_700_000_000));
        assert_eq!(
            expiry_of(&t),
            SasToken::parse(&t).ok().map(|t| t.expiry_secs)
        );
        assert_eq!(
            expiry_of("SharedAccessSignature se=12&sr=x&sig=y"),
            Some(12)
        );
        for bad in [
            "",
            "se=12",
            "SharedAccessSignature sr=x",
            "SharedAccessSignature sr=x&se=12",
            "SharedAccessSignature sig=x&se=12",
            "SharedAccessSignature sr=x&sig=y&se=",
            "SharedAccessSignature sr=x&sig=y&se=1x",
            "SharedAccessSignature sr=x&sig=y&se=99999999999999999999999",
            "SharedAccessSignaturese=12",
        ] {
            assert_eq!(expiry_of(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn token_lower_case_resource_verifies_succeeds() {
        let key = [7u8; 32];
        let res = "h/devices/a*b";
        let node_sr = "h%2Fdevices%2Fa%2ab";
        let sig = sign(&key, &string_to_sign(node_sr, 5));
        let tok = format!(
            "SharedAccessSignature sr={node_sr}&sig={}&se=5",
            percent_encode(&sig)
        );
        let parsed = SasToken::parse(&tok).unwrap();
        assert_eq!(parsed.resource, res);
        assert!(parsed.signature_matches(&key));
        assert!(!parsed.signature_matches(&[8u8; 32]));
    }

    #[test]
    fn token_parse_missing_fields_fails() {
        assert_eq!(
            SasToken::parse("sr=a&sig=b&se=1"),
            Err(MalformedError::MissingField(SCHEME))
        );
        assert_eq!(
            SasToken::parse("SharedAccessSignature sig=b&se=1"),
            Err(MalformedError::MissingField("sr"))
        );
        assert_eq!(
            SasToken::parse("SharedAccessSignature sr=a&se=1"),
            Err(MalformedError::MissingField("sig"))
        );
        assert_eq!(
            SasToken::parse("SharedAccessSignature sr=a&sig=b"),
            Err(MalformedError::MissingField("se"))
        );
        assert_eq!(
            SasToken::parse("SharedAccessSignature sr=a&sig=b&se=x"),
            Err(MalformedError::BadNumber("se"))
        );
    }

    #[test]
    fn token_debug_hides_signature_succeeds() {
        let t = token(&[1; 32], "h/devices/d", 10, None);
        let parsed = SasToken::parse(&t).unwrap();
        assert!(!format!("{parsed:?}").contains(&parsed.signature));
    }

    #[test]
    fn renew_at_ms_margin_succeeds() {
        assert_eq!(renew_at_ms(1_700_003_600, 900), 1_700_002_700_000);
        assert_eq!(renew_at_ms(10, 900), 0);
    }
}
