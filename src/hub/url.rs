//! The `ws://` guard: plain WebSocket only to loopback unless `allow_insecure`.

use super::error::Error;

/// Checks a device endpoint URL: `wss://` anywhere, `ws://` only to loopback
/// (`localhost`, `*.localhost`, `127.0.0.0/8`, `[::1]`) unless `allow_insecure`.
/// Anything else is [`Error::InvalidArgument`]; `ws://` elsewhere is [`Error::InsecureUrl`].
pub fn check(url: &str, allow_insecure: bool) -> Result<(), Error> {
    let lower = url.trim().to_ascii_lowercase();
    if lower.starts_with("wss://") {
        return Ok(());
    }
    let Some(rest) = lower.strip_prefix("ws://") else {
        return Err(Error::InvalidArgument("url must be a ws:// or wss:// URL"));
    };
    if allow_insecure || is_loopback(host_of(rest)) {
        Ok(())
    } else {
        Err(Error::InsecureUrl)
    }
}

/// The host part of `authority/path...` (no userinfo, no port, no brackets).
fn host_of(rest: &str) -> &str {
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    let authority = authority
        .rfind('@')
        .map_or(authority, |i| authority.get(i + 1..).unwrap_or(""));
    if let Some(v6) = authority.strip_prefix('[') {
        return v6.split(']').next().unwrap_or("");
    }
    authority.split(':').next().unwrap_or("")
}

fn is_loopback(host: &str) -> bool {
    if host == "localhost" || host.ends_with(".localhost") || host == "::1" {
        return true;
    }
    // 127.a.b.c: four dot-separated decimal octets (0..=255), the first 127.
    let mut n = 0;
    let all_octets = host.split('.').all(|o| {
        n += 1;
        !o.is_empty() && o.len() <= 3 && o.bytes().all(|b| b.is_ascii_digit()) && {
            let v = o.bytes().fold(0u32, |a, b| a * 10 + u32::from(b - b'0'));
            v <= 255
        }
    });
    all_octets && n == 4 && host.starts_with("127.")
}

#[cfg(test)]
mod tests {
    use super::*;

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
            assert_eq!(check(u, false), Err(Error::InsecureUrl), "{u}");
        }
    }

    #[test]
    fn check_remote_ws_with_allow_insecure_succeeds() {
        assert_eq!(check("ws://example.com/", true), Ok(()));
        assert_eq!(check("wss://example.com/", false), Ok(()));
    }

    #[test]
    fn check_other_scheme_fails() {
        for u in ["http://localhost/", "example.com"] {
            assert!(
                matches!(check(u, true), Err(Error::InvalidArgument(_))),
                "{u}"
            );
        }
    }
}
