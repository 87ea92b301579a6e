//! Client certificates on the TLS listener (`--client-certs`): the handshake asks
//! for an optional certificate and accepts any, as long as the client proves it
//! holds the private key (rustls checks the CertificateVerify signature with
//! the provider's algorithms). Whether the certificate may act as a device is
//! decided later, at CONNECT, by its thumbprint (`core::x509`).
//!
//! IoT Hub asks for a certificate on `:443` unless the WebSocket URL carries
//! `?iothub-no-client-cert=true`; it can decide after reading the URL, rustls
//! cannot (no renegotiation), so here the query makes the hub ignore a
//! certificate the transport did present.

use std::sync::Arc;

use tokio_rustls::rustls;
use tokio_rustls::rustls::client::danger::HandshakeSignatureValid;
use tokio_rustls::rustls::crypto::{
    verify_tls12_signature, verify_tls13_signature, CryptoProvider, WebPkiSupportedAlgorithms,
};
use tokio_rustls::rustls::pki_types::{CertificateDer, UnixTime};
use tokio_rustls::rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use tokio_rustls::rustls::{DigitallySignedStruct, DistinguishedName, SignatureScheme};

use crate::core::x509::ClientCert;

/// The WebSocket query with which a client says it presents no certificate.
pub const NO_CLIENT_CERT_QUERY: &str = "iothub-no-client-cert";

/// Accepts any client certificate (optional), checking only the handshake signatures.
#[derive(Debug)]
pub struct AnyClientCert {
    algorithms: WebPkiSupportedAlgorithms,
}

impl AnyClientCert {
    /// A verifier using `provider`'s signature algorithms.
    pub fn new(provider: &CryptoProvider) -> Arc<AnyClientCert> {
        Arc::new(AnyClientCert {
            algorithms: provider.signature_verification_algorithms,
        })
    }
}

impl ClientCertVerifier for AnyClientCert {
    fn offer_client_auth(&self) -> bool {
        true
    }

    fn client_auth_mandatory(&self) -> bool {
        false
    }

    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        // Self-signed device certificates have no common issuer to hint at.
        &[]
    }

    fn verify_client_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        // Trust is by thumbprint at CONNECT (as IoT Hub's selfSigned identities), not by chain.
        Ok(ClientCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls12_signature(message, cert, dss, &self.algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(message, cert, dss, &self.algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algorithms.supported_schemes()
    }
}

/// The thumbprints of the certificate a TLS client presented, if it did.
pub fn peer_cert(conn: &rustls::ServerConnection) -> Option<Arc<ClientCert>> {
    let der = conn.peer_certificates()?.first()?;
    Some(Arc::new(ClientCert::from_der(der)))
}

/// A device certificate made by `hubwire-emulator cert`.
#[derive(Debug, Clone)]
pub struct DeviceCert {
    /// The certificate, PEM.
    pub cert_pem: String,
    /// Its private key (PKCS#8), PEM.
    pub key_pem: String,
    /// SHA-1 thumbprint, upper-case hex: what `x509Thumbprint.primaryThumbprint` takes.
    pub thumbprint: String,
}

/// Generates a self-signed client certificate (P-256, `CN={subject}`, extended key
/// usage clientAuth), as `openssl req -x509` would for IoT Hub's selfSigned devices.
pub fn generate_device_cert(subject: &str) -> Result<DeviceCert, String> {
    let mut params =
        rcgen::CertificateParams::new(Vec::<String>::new()).map_err(|e| e.to_string())?;
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, subject);
    params.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::ClientAuth];
    let key = rcgen::KeyPair::generate().map_err(|e| e.to_string())?;
    let cert = params.self_signed(&key).map_err(|e| e.to_string())?;
    Ok(DeviceCert {
        cert_pem: cert.pem(),
        key_pem: key.serialize_pem(),
        thumbprint: ClientCert::from_der(cert.der()).sha1,
    })
}

/// `hubwire-emulator cert --subject ID [--out-dir DIR]`: writes `DIR/{ID}.cert.pem` and
/// `DIR/{ID}.key.pem` and prints `{"subject", "certPath", "keyPath", "thumbprint"}`.
pub fn cert_cli(args: &[String]) -> Result<String, String> {
    let (mut subject, mut dir) = (None, std::path::PathBuf::from("."));
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--subject" => subject = it.next().cloned(),
            "--out-dir" => dir = it.next().ok_or("--out-dir needs a value")?.into(),
            other => return Err(format!("unknown option {other}")),
        }
    }
    let subject = subject.ok_or("--subject is required (the device id)")?;
    if subject.is_empty() || subject.contains(['/', '\\']) || subject.starts_with('.') {
        return Err("--subject must be a device id (no '/', not starting with '.')".into());
    }
    let c = generate_device_cert(&subject)?;
    std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let cert_path = dir.join(format!("{subject}.cert.pem"));
    let key_path = dir.join(format!("{subject}.key.pem"));
    crate::shared::write_atomic(&cert_path, c.cert_pem.as_bytes()).map_err(|e| e.to_string())?;
    crate::shared::write_atomic(&key_path, c.key_pem.as_bytes()).map_err(|e| e.to_string())?;
    Ok(serde_json::json!({
        "subject": subject,
        "certPath": cert_path.display().to_string(),
        "keyPath": key_path.display().to_string(),
        "thumbprint": c.thumbprint,
    })
    .to_string())
}

/// True when a WebSocket request's query says `iothub-no-client-cert=true`.
pub fn no_client_cert(query: &str) -> bool {
    query.split('&').any(|kv| {
        kv.split_once('=')
            .is_some_and(|(k, v)| k == NO_CLIENT_CERT_QUERY && v.eq_ignore_ascii_case("true"))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generate_device_cert_thumbprint_matches_der_succeeds() {
        let c = generate_device_cert("dev1").unwrap();
        assert!(c.cert_pem.starts_with("-----BEGIN CERTIFICATE-----"));
        assert!(c.key_pem.contains("PRIVATE KEY"));
        let der =
            tokio_rustls::rustls::pki_types::pem::PemObject::from_pem_slice(c.cert_pem.as_bytes())
                .map(|d: CertificateDer<'_>| d.to_vec())
                .unwrap();
        assert_eq!(ClientCert::from_der(&der).sha1, c.thumbprint);
    }

    #[test]
    fn no_client_cert_query_succeeds() {
        assert!(no_client_cert("iothub-no-client-cert=true"));
        assert!(no_client_cert("a=1&iothub-no-client-cert=TRUE"));
    }

    #[test]
    fn no_client_cert_other_query_fails() {
        assert!(!no_client_cert(""));
        assert!(!no_client_cert("iothub-no-client-cert=false"));
        assert!(!no_client_cert("iothub-no-client-cert"));
    }
}
