//! The `ws://` guard: plain WebSocket only to loopback unless `allowInsecure`.

/// Why a URL was refused.
#[derive(Debug, PartialEq, Eq)]
pub enum UrlError {
    /// Not a `ws://` or `wss://` URL.
    Scheme,
    /// `ws://` to a non-loopback host without `allowInsecure`.
    Insecure,
}

/// Checks a device endpoint URL: `wss://` anywhere, `ws://` only to loopback
/// (`localhost`, `*.localhost`, `127.0.0.0/8`, `[::1]`) unless `allow_insecure`.
pub fn check(url: &str, allow_insecure: bool) -> Result<(), UrlError> {
    let lower = url.trim().to_ascii_lowercase();
    if lower.starts_with("wss://") {
        return Ok(());
    }
    let Some(rest) = lower.strip_prefix("ws://") else {
        return Err(UrlError::Scheme);
    };
    if allow_insecure || is_loopback(host_of(rest)) {
        Ok(())
    } else {
        Err(UrlError::Insecure)
    }
}

/// The host part of `authority/path...` (no userinfo, no port, no brackets).
fn host_of(rest: &str) -> &str {
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    let authority = authority.rsplit('@').next().unwrap_or("");
    if let Some(v6) = authority.strip_prefix('[') {
        return v6.split(']').next().unwrap_or("");
    }
    authority.split(':').next().unwrap_or("")
}

fn is_loopback(host: &str) -> bool {
    if host == "localhost" || host.ends_with(".localhost") || host == "::1" {
        return true;
    }
    let octets: Vec<&str> = host.split('.').collect();
    octets.len() == 4
        && octets[0] == "127"
        && octets
            .iter()
            .all(|o| !o.is_empty() && o.parse::<u8>().is_ok())
}

#[cfg(test)]
mod tests {
    use super::*;
    use wasm_bindgen_test::wasm_bindgen_test as test;

    #[test]
    fn check_loopback_ws_succeeds() {
        for u in [
            "ws://127.0.0.1:8080/$iothub/websocket",
            "ws://localhost/$iothub/websocket",
            "WS://LocalHost:1",
            "ws://[::1]:9/x",
            "ws://user@127.5.6.7:1/",
            "ws://dev.localhost/",
        ] {
            assert_eq!(check(u, false), Ok(()), "{u}");
        }
    }

    #[test]
    fn check_remote_ws_fails() {
        for u in [
            "ws://example.com/$iothub/websocket",
            "ws://127.0.0.1.example.com/",
            "ws://localhost.evil.com:80/",
            "ws://10.0.0.1/",
            "ws://[::2]/",
            "ws://127.0.0.1@example.com/",
        ] {
            assert_eq!(check(u, false), Err(UrlError::Insecure), "{u}");
        }
    }

    #[test]
    fn check_remote_ws_with_allow_insecure_succeeds() {
        assert_eq!(check("ws://example.com/", true), Ok(()));
        assert_eq!(check("wss://example.com/", false), Ok(()));
    }

    #[test]
    fn check_other_scheme_fails() {
        assert_eq!(check("http://localhost/", true), Err(UrlError::Scheme));
        assert_eq!(check("example.com", true), Err(UrlError::Scheme));
    }
}
