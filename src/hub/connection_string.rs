//! Device connection strings: `HostName=..;DeviceId=..;SharedAccessKey=..`.
//!
//! Keys are case-sensitive, unknown keys are ignored, and every missing or
//! contradictory field is a typed error that names the field. Secrets are
//! wrapped in [`Secret`] whose `Debug` never shows them.

use crate::prelude::*;

use core::fmt;

use super::error::ConnectionStringError as E;
use super::ids::{validate_device_id, validate_module_id};
use super::sas;

/// A secret string (key or token). `Debug` prints `<redacted>`; read it with [`Secret::expose`].
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps a secret.
    pub fn new(s: impl Into<String>) -> Self {
        Secret(s.into())
    }
    /// The secret itself; do not log it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

/// A symmetric key: its base64 text and decoded bytes. `Debug` never shows either.
#[derive(Clone, PartialEq, Eq)]
pub struct SymmetricKey {
    bytes: Vec<u8>,
}

impl SymmetricKey {
    /// Decodes a base64 key; the error never echoes the key.
    pub fn from_base64(key: &str) -> Result<Self, E> {
        super::base64::decode(key.trim())
            .map(|bytes| SymmetricKey { bytes })
            .ok_or(E::Invalid("SharedAccessKey", "not valid base64"))
    }
    /// The decoded key bytes (the HMAC key).
    pub fn bytes(&self) -> &[u8] {
        &self.bytes
    }
}

impl fmt::Debug for SymmetricKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SymmetricKey(<redacted>)")
    }
}

/// How the device proves its identity.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Credential {
    /// A shared access key; the client signs its own tokens and renews them.
    SharedAccessKey {
        /// The key.
        key: SymmetricKey,
        /// `SharedAccessKeyName` (the `skn` of a policy key), if any.
        key_name: Option<String>,
    },
    /// A ready-made token; the client cannot renew it.
    SharedAccessSignature {
        /// The whole `SharedAccessSignature sr=..&sig=..&se=..` text.
        token: Secret,
        /// Its `se` (seconds since the Unix epoch).
        expiry_secs: u64,
    },
    /// `x509=true` (as the official SDKs write it): the transport presents an X.509 client
    /// certificate in the TLS handshake; CONNECT carries no password.
    X509,
}

/// A parsed device (or module) connection string.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConnectionString {
    /// `HostName`: goes into the username and the SAS `sr`.
    pub host_name: String,
    /// `DeviceId`.
    pub device_id: String,
    /// `ModuleId`, for a module identity.
    pub module_id: Option<String>,
    /// `GatewayHostName`: where to connect (e.g. an IoT Edge gateway); `HostName` stays in username and SAS.
    pub gateway_host_name: Option<String>,
    /// The key or token.
    pub credential: Credential,
}

const KNOWN: [&str; 8] = [
    "HostName",
    "DeviceId",
    "ModuleId",
    "SharedAccessKey",
    "SharedAccessKeyName",
    "SharedAccessSignature",
    "GatewayHostName",
    "x509",
];

fn check_host(field: &'static str, h: &str) -> Result<(), E> {
    if h.chars()
        .any(|c| c.is_whitespace() || c == '/' || c.is_control())
    {
        return Err(E::Invalid(
            field,
            "must be a bare host name (no '/', no spaces)",
        ));
    }
    Ok(())
}

impl ConnectionString {
    /// Parses a connection string. Errors name the field and never quote secret values.
    pub fn parse(s: &str) -> Result<Self, E> {
        let mut vals: [Option<&str>; 8] = [None; 8];
        for (i, seg) in s.split(';').enumerate() {
            if seg.trim().is_empty() {
                continue;
            }
            let (k, v) = seg.split_once('=').ok_or(E::MalformedSegment(i))?;
            let k = k.trim();
            if let Some(idx) = KNOWN.iter().position(|&n| n == k) {
                if vals[idx].is_some() {
                    return Err(E::Duplicate(KNOWN[idx]));
                }
                let v = v.trim();
                if v.is_empty() {
                    return Err(E::Empty(KNOWN[idx]));
                }
                vals[idx] = Some(v);
            }
        }
        let [host, device, module, key, key_name, sig, gateway, x509] = vals;
        let host = host.ok_or(E::Missing("HostName"))?;
        check_host("HostName", host)?;
        let device = device.ok_or(E::Missing("DeviceId"))?;
        validate_device_id(device).map_err(E::Id)?;
        if let Some(m) = module {
            validate_module_id(m).map_err(E::Id)?;
        }
        if let Some(g) = gateway {
            check_host("GatewayHostName", g)?;
        }
        let x509 = match x509 {
            None | Some("false") => false,
            Some("true") => true,
            Some(_) => return Err(E::Invalid("x509", "must be true or false")),
        };
        let credential = match (key, sig) {
            (None, None) if x509 && key_name.is_none() => Credential::X509,
            _ if x509 => {
                return Err(E::Contradictory(
                    "x509",
                    "SharedAccessKey or SharedAccessSignature",
                ))
            }
            (Some(_), Some(_)) => {
                return Err(E::Contradictory("SharedAccessKey", "SharedAccessSignature"))
            }
            (None, None) => return Err(E::Missing("SharedAccessKey")),
            (Some(k), None) => Credential::SharedAccessKey {
                key: SymmetricKey::from_base64(k)?,
                key_name: key_name.map(str::to_owned),
            },
            (None, Some(t)) => {
                if key_name.is_some() {
                    return Err(E::Contradictory(
                        "SharedAccessKeyName",
                        "SharedAccessSignature",
                    ));
                }
                let expiry_secs = sas::expiry_of(t).ok_or(E::Invalid(
                    "SharedAccessSignature",
                    "not a SharedAccessSignature token",
                ))?;
                Credential::SharedAccessSignature {
                    token: Secret::new(t),
                    expiry_secs,
                }
            }
        };
        Ok(ConnectionString {
            host_name: host.to_owned(),
            device_id: device.to_owned(),
            module_id: module.map(str::to_owned),
            gateway_host_name: gateway.map(str::to_owned),
            credential,
        })
    }

    /// The host to open the WebSocket to: `GatewayHostName` if set, else `HostName`.
    pub fn connect_host(&self) -> &str {
        self.gateway_host_name.as_deref().unwrap_or(&self.host_name)
    }
}

impl core::str::FromStr for ConnectionString {
    type Err = E;
    fn from_str(s: &str) -> Result<Self, E> {
        Self::parse(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hub::error::{IdError, IdKind};

    const KEY: &str = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";

    #[test]
    fn parse_device_key_succeeds() {
        let cs = ConnectionString::parse(&format!(
            "HostName=h.azure-devices.net;DeviceId=dev1;SharedAccessKey={KEY}"
        ))
        .unwrap();
        assert_eq!(cs.host_name, "h.azure-devices.net");
        assert_eq!(cs.device_id, "dev1");
        assert_eq!(cs.module_id, None);
        assert_eq!(cs.connect_host(), "h.azure-devices.net");
        match &cs.credential {
            Credential::SharedAccessKey { key, key_name } => {
                assert_eq!(key.bytes(), &(0u8..32).collect::<Vec<_>>()[..]);
                assert_eq!(key_name, &None);
            }
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn parse_module_gateway_keyname_unknown_keys_succeeds() {
        let cs = ConnectionString::parse(&format!(
            "x509=false;HostName=h;DeviceId=d;ModuleId=m;SharedAccessKeyName=pol;SharedAccessKey={KEY};GatewayHostName=edge.local;"
        ))
        .unwrap();
        assert_eq!(cs.module_id.as_deref(), Some("m"));
        assert_eq!(cs.connect_host(), "edge.local");
        assert_eq!(cs.host_name, "h");
        assert!(
            matches!(&cs.credential, Credential::SharedAccessKey { key_name: Some(n), .. } if n == "pol")
        );
    }

    #[test]
    fn parse_signature_succeeds() {
        let tok = "SharedAccessSignature sr=h%2Fdevices%2Fd&sig=abc%3D&se=1700000000";
        let cs = ConnectionString::parse(&format!(
            "HostName=h;DeviceId=d;SharedAccessSignature={tok}"
        ))
        .unwrap();
        match cs.credential {
            Credential::SharedAccessSignature { token, expiry_secs } => {
                assert_eq!(token.expose(), tok);
                assert_eq!(expiry_secs, 1_700_000_000);
            }
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn parse_keys_are_case_sensitive_fails() {
        assert_eq!(
            ConnectionString::parse(&format!("hostname=h;DeviceId=d;SharedAccessKey={KEY}")),
            Err(E::Missing("HostName"))
        );
    }

    #[test]
    fn parse_bad_inputs_fails() {
        let cases: Vec<(String, E)> = vec![
            (format!("DeviceId=d;SharedAccessKey={KEY}"), E::Missing("HostName")),
            (format!("HostName=h;SharedAccessKey={KEY}"), E::Missing("DeviceId")),
            ("HostName=h;DeviceId=d".into(), E::Missing("SharedAccessKey")),
            (format!("HostName=;DeviceId=d;SharedAccessKey={KEY}"), E::Empty("HostName")),
            (format!("HostName=h;HostName=g;DeviceId=d;SharedAccessKey={KEY}"), E::Duplicate("HostName")),
            (
                format!("HostName=h;DeviceId=d;SharedAccessKey={KEY};SharedAccessSignature=SharedAccessSignature sr=a&sig=b&se=1"),
                E::Contradictory("SharedAccessKey", "SharedAccessSignature"),
            ),
            (
                "HostName=h;DeviceId=d;SharedAccessKeyName=p;SharedAccessSignature=SharedAccessSignature sr=a&sig=b&se=1".into(),
                E::Contradictory("SharedAccessKeyName", "SharedAccessSignature"),
            ),
            ("HostName=h;DeviceId=d;SharedAccessKey=not base64!".into(), E::Invalid("SharedAccessKey", "not valid base64")),
            (
                "HostName=h;DeviceId=d;SharedAccessSignature=garbage".into(),
                E::Invalid("SharedAccessSignature", "not a SharedAccessSignature token"),
            ),
            (format!("HostName=h;DeviceId=d;junk;SharedAccessKey={KEY}"), E::MalformedSegment(2)),
            (format!("HostName=h/x;DeviceId=d;SharedAccessKey={KEY}"), E::Invalid("HostName", "must be a bare host name (no '/', no spaces)")),
            (format!("HostName=h;DeviceId=a/b;SharedAccessKey={KEY}"), E::Id(IdError::InvalidChar(IdKind::Device, '/'))),
            (format!("HostName=h;DeviceId=d;ModuleId=m#;SharedAccessKey={KEY}"), E::Id(IdError::InvalidChar(IdKind::Module, '#'))),
        ];
        for (s, want) in cases {
            assert_eq!(ConnectionString::parse(&s), Err(want), "{s}");
        }
    }

    #[test]
    fn parse_secrets_never_formatted_succeeds() {
        let secret_key = "c2VjcmV0LWtleS12YWx1ZS0xMjM0NTY3ODkwYWJjZGVm";
        let secret_sig = "SharedAccessSignature sr=h&sig=TOPSECRETSIG&se=99";
        let mut outputs = Vec::new();
        let ok = ConnectionString::parse(&format!(
            "HostName=h;DeviceId=d;SharedAccessKey={secret_key}"
        ))
        .unwrap();
        outputs.push(format!("{ok:?} {:#?}", ok));
        let ok2 = ConnectionString::parse(&format!(
            "HostName=h;DeviceId=d;SharedAccessSignature={secret_sig}"
        ))
        .unwrap();
        outputs.push(format!("{ok2:?} {:#?}", ok2.credential));
        for bad in [
            format!("HostName=h;DeviceId=d;SharedAccessKey={secret_key};SharedAccessKey={secret_key}"),
            format!("HostName=h;DeviceId=d;SharedAccessKey={secret_key};SharedAccessSignature={secret_sig}"),
            format!("HostName=h;DeviceId=d;SharedAccessKey={secret_key}!!"),
            format!("HostName=h;DeviceId=d;SharedAccessSignature=x{secret_sig}"),
            format!("DeviceId=d;SharedAccessKey={secret_key}"),
            format!("{secret_key};HostName=h"),
        ] {
            let e = ConnectionString::parse(&bad).unwrap_err();
            let he = crate::hub::Error::from(e.clone());
            outputs.push(format!("{e:?} {e} {he:?} {he}"));
        }
        for o in &outputs {
            assert!(!o.contains(secret_key), "key leaked: {o}");
            assert!(!o.contains("TOPSECRETSIG"), "signature leaked: {o}");
        }
    }
}
