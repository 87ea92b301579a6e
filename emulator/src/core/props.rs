//! Property bags: the `k=v&k=v` tails of telemetry and cloud-to-device topics,
//! and the `?$rid=..&$version=..` queries of twin and method topics.

/// Decodes `%XX` escapes; `+` stays `+` (IoT Hub does not use form encoding).
/// Invalid escapes are kept literally; invalid UTF-8 is replaced, never an error,
/// because the hub records what it can rather than dropping a device's message.
pub fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' && i + 2 < b.len() {
            if let (Some(h), Some(l)) = (hex(b[i + 1]), hex(b[i + 2])) {
                out.push(h << 4 | l);
                i += 3;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn hex(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}

/// Percent-encodes everything outside RFC 3986 unreserved, upper-case hex.
pub fn percent_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for &c in s.as_bytes() {
        if c.is_ascii_alphanumeric() || matches!(c, b'-' | b'_' | b'.' | b'~') {
            out.push(c as char);
        } else {
            out.push_str(&format!("%{c:02X}"));
        }
    }
    out
}

/// Splits a property bag into decoded `(key, value)` pairs, in order.
/// A key without `=` has no value (`None`); empty segments are skipped.
pub fn decode_bag(bag: &str) -> Vec<(String, Option<String>)> {
    bag.split('&')
        .filter(|seg| !seg.is_empty())
        .map(|seg| match seg.split_once('=') {
            Some((k, v)) => (percent_decode(k), Some(percent_decode(v))),
            None => (percent_decode(seg), None),
        })
        .collect()
}

/// Encodes `(key, value)` pairs as a property bag.
pub fn encode_bag<'a>(pairs: impl IntoIterator<Item = (&'a str, Option<&'a str>)>) -> String {
    let mut out = String::new();
    for (k, v) in pairs {
        if !out.is_empty() {
            out.push('&');
        }
        out.push_str(&percent_encode(k));
        if let Some(v) = v {
            out.push('=');
            out.push_str(&percent_encode(v));
        }
    }
    out
}

/// Finds a raw (undecoded) parameter in a `?a=b&c=d` query tail.
pub fn query_param<'a>(query: &'a str, name: &str) -> Option<&'a str> {
    query.trim_start_matches('?').split('&').find_map(|seg| {
        seg.split_once('=')
            .filter(|(k, _)| *k == name)
            .map(|(_, v)| v)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decode_bag_node_capture_succeeds() {
        let bag = "%24.mid=mid%201%26x%3Dy&%24.cid=cid%2F1&my%20key=a%20b&amp%26=x%26y&eq%3D=p%3Dq&unicode=%C3%BC%E2%98%83&plus=1%2B2&subdelims=!'()*~-_.&dollar%24=%24x%23%3F%25&flag";
        let got = decode_bag(bag);
        let want: Vec<(&str, Option<&str>)> = vec![
            ("$.mid", Some("mid 1&x=y")),
            ("$.cid", Some("cid/1")),
            ("my key", Some("a b")),
            ("amp&", Some("x&y")),
            ("eq=", Some("p=q")),
            ("unicode", Some("ü☃")),
            ("plus", Some("1+2")),
            ("subdelims", Some("!'()*~-_.")),
            ("dollar$", Some("$x#?%")),
            ("flag", None),
        ];
        let got: Vec<(&str, Option<&str>)> = got
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_deref()))
            .collect();
        assert_eq!(got, want);
    }

    #[test]
    fn percent_decode_bad_escape_kept_succeeds() {
        assert_eq!(percent_decode("a%2"), "a%2");
        assert_eq!(percent_decode("a%zz%41"), "a%zzA");
        assert_eq!(percent_decode("%2a%2A"), "**");
    }

    #[test]
    fn encode_bag_round_trip_succeeds() {
        let bag = encode_bag([("$.mid", Some("a b&c")), ("k", None), ("ü", Some("1+2"))]);
        assert_eq!(bag, "%24.mid=a%20b%26c&k&%C3%BC=1%2B2");
        let back = decode_bag(&bag);
        assert_eq!(back[0], ("$.mid".into(), Some("a b&c".into())));
        assert_eq!(back[1], ("k".into(), None));
        assert_eq!(back[2], ("ü".into(), Some("1+2".into())));
    }

    #[test]
    fn query_param_rid_succeeds() {
        assert_eq!(query_param("?$rid=42&$version=3", "$rid"), Some("42"));
        assert_eq!(query_param("?$rid=42&$version=3", "$version"), Some("3"));
        assert_eq!(query_param("?$rid=42", "$version"), None);
    }
}
