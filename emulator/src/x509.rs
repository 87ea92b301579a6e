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
