//! The self-signed certificate for `wss://`/`https://` (SAN localhost and 127.0.0.1).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use tokio_rustls::rustls;
use tokio_rustls::TlsAcceptor;

/// Why TLS could not be set up.
#[derive(Debug)]
pub enum TlsError {
    /// Certificate generation failed.
    Generate(String),
    /// Writing the PEM failed.
    Io(std::io::Error),
    /// rustls refused the configuration.
    Config(String),
}

impl std::fmt::Display for TlsError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            TlsError::Generate(e) => write!(f, "certificate generation failed: {e}"),
            TlsError::Io(e) => write!(f, "cannot write certificate: {e}"),
            TlsError::Config(e) => write!(f, "TLS configuration failed: {e}"),
        }
    }
}

/// Generates a certificate for `host_name`, localhost and 127.0.0.1, writes
/// its PEM to `dir/cert.pem`, and returns the acceptor and the PEM path. With
/// `client_certs` the handshake asks for an optional client certificate (`crate::x509`).
pub fn setup(
    dir: &Path,
    host_name: &str,
    client_certs: bool,
) -> Result<(TlsAcceptor, PathBuf), TlsError> {
    let mut names = vec!["localhost".to_string(), "127.0.0.1".to_string()];
    if !names.iter().any(|n| n.eq_ignore_ascii_case(host_name)) {
        names.push(host_name.to_string());
    }
    let ck =
        rcgen::generate_simple_self_signed(names).map_err(|e| TlsError::Generate(e.to_string()))?;
    std::fs::create_dir_all(dir).map_err(TlsError::Io)?;
    let path = dir.join("cert.pem");
    crate::shared::write_atomic(&path, ck.cert.pem().as_bytes()).map_err(TlsError::Io)?;
    let cert = ck.cert.der().clone();
    let key = rustls::pki_types::PrivateKeyDer::Pkcs8(ck.key_pair.serialize_der().into());
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ServerConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| TlsError::Config(e.to_string()))?;
    let builder = if client_certs {
        builder.with_client_cert_verifier(crate::x509::AnyClientCert::new(&provider))
    } else {
        builder.with_no_client_auth()
    };
    let config = builder
        .with_single_cert(vec![cert], key)
        .map_err(|e| TlsError::Config(e.to_string()))?;
    Ok((TlsAcceptor::from(Arc::new(config)), path))
}
