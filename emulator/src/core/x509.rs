//! X.509 self-signed authentication: thumbprints registered on an identity
//! (`authentication.type: "selfSigned"`, IoT Hub's registry shape) checked
//! against the client certificate the transport presented. The TLS layer
//! (`crate::x509`) proves the client holds the certificate's private key;
//! this side only compares thumbprints.

use serde_json::{json, Value};
use sha1::Sha1;
use sha2::{Digest, Sha256};

use super::registry::IdentityId;
use super::{ConnId, Hub, ServiceError};

/// A client certificate as the hub sees it: its thumbprints, upper-case hex.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientCert {
    /// SHA-1 of the DER certificate (40 hex digits), IoT Hub's classic thumbprint.
    pub sha1: String,
    /// SHA-256 of the DER certificate (64 hex digits).
    pub sha256: String,
}

fn hex_upper(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02X}")).collect()
}

impl ClientCert {
    /// Thumbprints of a DER-encoded certificate.
    pub fn from_der(der: &[u8]) -> ClientCert {
        ClientCert {
            sha1: hex_upper(&Sha1::digest(der)),
            sha256: hex_upper(&Sha256::digest(der)),
        }
    }

    fn has(&self, thumbprint: &str) -> bool {
        thumbprint == self.sha1 || thumbprint == self.sha256
    }
}

/// The thumbprints of a `selfSigned` identity (normalised: upper-case hex, no `:`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Thumbprints {
    /// `x509Thumbprint.primaryThumbprint`.
    pub primary: String,
    /// `x509Thumbprint.secondaryThumbprint`.
    pub secondary: Option<String>,
}

impl Thumbprints {
    /// True when `cert` is the primary or the secondary certificate.
    pub fn matches(&self, cert: &ClientCert) -> bool {
        cert.has(&self.primary) || self.secondary.as_deref().is_some_and(|s| cert.has(s))
    }

    /// `{primaryThumbprint, secondaryThumbprint}`.
    pub fn to_json(&self) -> Value {
        json!({ "primaryThumbprint": self.primary, "secondaryThumbprint": self.secondary })
    }
}

/// Normalises a thumbprint: SHA-1 (40) or SHA-256 (64) hex digits, `:` and spaces
/// ignored, any case.
pub fn normalize_thumbprint(t: &str) -> Result<String, String> {
    let hex: String = t
        .chars()
        .filter(|c| *c != ':' && !c.is_whitespace())
        .collect();
    if (hex.len() == 40 || hex.len() == 64) && hex.chars().all(|c| c.is_ascii_hexdigit()) {
        Ok(hex.to_ascii_uppercase())
    } else {
        Err(format!(
            "thumbprint {t:?} is not 40 (SHA-1) or 64 (SHA-256) hex digits"
        ))
    }
}

/// What a registry PUT says about authentication.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuthChange {
    /// No `authentication.type`: keep the identity's kind (keys may still change).
    Keep,
    /// `"sas"`: symmetric keys.
    Sas,
    /// `"selfSigned"` with these thumbprints.
    SelfSigned(Thumbprints),
}

/// Reads `authentication.type` and `authentication.x509Thumbprint` of a registry PUT body.
/// `certificateAuthority` and `none` are refused: the emulator has no CA store.
pub fn parse_authentication(body: &Value) -> Result<AuthChange, String> {
    let auth = &body["authentication"];
    match auth["type"].as_str() {
        None => Ok(AuthChange::Keep),
        Some(t) if t.eq_ignore_ascii_case("sas") => Ok(AuthChange::Sas),
        Some(t) if t.eq_ignore_ascii_case("selfSigned") => {
            let tp = &auth["x509Thumbprint"];
            let get = |k: &str| match &tp[k] {
                Value::Null => Ok(None),
                Value::String(s) if s.is_empty() => Ok(None),
                Value::String(s) => normalize_thumbprint(s).map(Some),
                _ => Err(format!("x509Thumbprint.{k} must be a string")),
            };
            let (primary, secondary) = (get("primaryThumbprint")?, get("secondaryThumbprint")?);
            let primary = primary.ok_or(
                "authentication.type selfSigned needs x509Thumbprint.primaryThumbprint",
            )?;
            Ok(AuthChange::SelfSigned(Thumbprints { primary, secondary }))
        }
        Some(t) => Err(format!(
            "authentication.type {t:?} is not supported by the emulator (use \"sas\" or \"selfSigned\")"
        )),
    }
}

impl Hub {
    /// The transport of `conn` presented this client certificate (call right after
    /// [`Hub::connection_opened`], before its bytes).
    pub fn set_client_cert(&mut self, conn: ConnId, cert: ClientCert) {
        if let Some(c) = self.conns.get_mut(&conn) {
            c.client_cert = Some(cert);
        }
    }

    /// Creates or updates an identity (as [`Hub::put_identity`]) and applies an
    /// authentication change; returns the identity's JSON.
    #[allow(clippy::too_many_arguments)]
    pub fn put_identity_auth(
        &mut self,
        now: u64,
        id: &IdentityId,
        enabled: Option<bool>,
        keys: Option<(String, String)>,
        fresh: (String, String),
        auth: AuthChange,
    ) -> Result<Value, ServiceError> {
        self.put_identity(now, id, enabled, keys, fresh)?;
        let changed = match (auth, self.registry.get_mut(id)) {
            (AuthChange::Keep, _) | (_, None) => false,
            (AuthChange::Sas, Some(r)) => r.x509.take().is_some(),
            (AuthChange::SelfSigned(t), Some(r)) => r.x509.replace(t.clone()) != Some(t),
        };
        if changed {
            // Credentials changed: a connection made with the old ones ends, as on IoT Hub.
            if let Some(conn) = self.sessions.get(id).and_then(|s| s.conn) {
                self.close(now, conn, true);
            }
        }
        self.identity_json(id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalize_thumbprint_forms_succeeds() {
        let t = "ab:CD:ef:01:23:45:67:89:ab:cd:ef:01:23:45:67:89:ab:cd:ef:01";
        assert_eq!(
            normalize_thumbprint(t).unwrap(),
            "ABCDEF0123456789ABCDEF0123456789ABCDEF01"
        );
        assert!(normalize_thumbprint(&"0".repeat(64)).is_ok());
    }

    #[test]
    fn normalize_thumbprint_bad_fails() {
        assert!(normalize_thumbprint("abc").is_err());
        assert!(normalize_thumbprint(&"g".repeat(40)).is_err());
    }

    #[test]
    fn parse_authentication_shapes_succeeds() {
        assert_eq!(parse_authentication(&json!({})), Ok(AuthChange::Keep));
        assert_eq!(
            parse_authentication(&json!({"authentication": {"type": "sas"}})),
            Ok(AuthChange::Sas)
        );
        let p = "a".repeat(40);
        let v = json!({"authentication": {"type": "selfSigned",
            "x509Thumbprint": {"primaryThumbprint": p, "secondaryThumbprint": null}}});
        assert_eq!(
            parse_authentication(&v),
            Ok(AuthChange::SelfSigned(Thumbprints {
                primary: "A".repeat(40),
                secondary: None
            }))
        );
    }

    #[test]
    fn parse_authentication_unsupported_or_missing_fails() {
        let ca = json!({"authentication": {"type": "certificateAuthority"}});
        assert!(parse_authentication(&ca)
            .unwrap_err()
            .contains("not supported"));
        let none = json!({"authentication": {"type": "selfSigned", "x509Thumbprint": {}}});
        assert!(parse_authentication(&none)
            .unwrap_err()
            .contains("primaryThumbprint"));
    }

    #[test]
    fn thumbprints_match_sha1_or_sha256_succeeds() {
        let cert = ClientCert::from_der(b"not really DER");
        assert_eq!(cert.sha1.len(), 40);
        assert_eq!(cert.sha256.len(), 64);
        let by_sha256 = Thumbprints {
            primary: "0".repeat(40),
            secondary: Some(cert.sha256.clone()),
        };
        assert!(by_sha256.matches(&cert));
        let other = Thumbprints {
            primary: "0".repeat(40),
            secondary: None,
        };
        assert!(!other.matches(&cert));
    }
}
