//! The Content-Security-Policy the emulator serves `www/` and `pkg/` with: the
//! dashboard and the wasm client must work without inline scripts, inline
//! styles or `eval` (docs/dashboard.md, "Content-Security-Policy").

use hyper::header::{HeaderMap, HeaderValue};

/// Scripts only from the emulator's origin, plus WebAssembly compilation
/// (`'wasm-unsafe-eval'`, which is not `'unsafe-eval'`); styles only from files.
/// `connect-src` lets the page reach the emulator (`'self'`, its `ws:`), real
/// hubs (`wss:`, `https:`) and a token server on loopback.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; \
    script-src 'self' 'wasm-unsafe-eval'; \
    style-src 'self'; \
    img-src 'self' data: blob:; \
    connect-src 'self' ws: wss: https: http://127.0.0.1:* http://localhost:*; \
    object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

/// Adds the policy and its companions to a static file's response headers.
pub fn secure_headers(h: &mut HeaderMap) {
    h.insert(
        "content-security-policy",
        HeaderValue::from_static(CONTENT_SECURITY_POLICY),
    );
    h.insert(
        "x-content-type-options",
        HeaderValue::from_static("nosniff"),
    );
    h.insert("referrer-policy", HeaderValue::from_static("no-referrer"));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csp_is_strict_succeeds() {
        let p = CONTENT_SECURITY_POLICY;
        assert!(p.contains("script-src 'self' 'wasm-unsafe-eval';"));
        assert!(!p.contains("'unsafe-inline'") && !p.contains("'unsafe-eval'"));
        let mut h = HeaderMap::new();
        secure_headers(&mut h);
        assert!(HeaderValue::from_str(p).is_ok());
        assert_eq!(h.len(), 3);
    }
}
