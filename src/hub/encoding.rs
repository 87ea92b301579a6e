//! Percent-encoding and property bags (`k=v&k2&k3=`).
//!
//! Encoding matches every official SDK vector: UTF-8 bytes outside RFC 3986
//! *unreserved* (`A-Z a-z 0-9 - _ . ~`) become `%XX` with upper-case hex, and
//! a space is `%20`, never `+`. Decoding accepts `%xx` in either case (Node
//! sends `%2a`) and leaves `+` alone: IoT Hub puts a literal `+` in C2D bags.

use crate::prelude::*;

use super::error::MalformedError;

/// Whether `b` is an RFC 3986 unreserved byte (never encoded).
pub fn is_unreserved(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~')
}

const HEX: &[u8; 16] = b"0123456789ABCDEF";

/// Appends `s` percent-encoded to `out`.
pub fn percent_encode_into(out: &mut String, s: &str) {
    for &b in s.as_bytes() {
        if is_unreserved(b) {
            out.push(b as char);
        } else {
            out.push('%');
            out.push(HEX[(b >> 4) as usize] as char);
            out.push(HEX[(b & 0x0f) as usize] as char);
        }
    }
}

/// Returns `s` percent-encoded (upper-case hex, space as `%20`).
pub fn percent_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    percent_encode_into(&mut out, s);
    out
}

fn hex_val(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// Decodes `%XX` escapes (either case); every other byte, `+` included, is kept.
pub fn percent_decode(s: &str) -> Result<String, MalformedError> {
    if !s.bytes().any(|b| b == b'%') {
        return Ok(s.to_owned());
    }
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hi = bytes.get(i + 1).copied().and_then(hex_val);
            let lo = bytes.get(i + 2).copied().and_then(hex_val);
            match (hi, lo) {
                (Some(h), Some(l)) => out.push(h << 4 | l),
                _ => return Err(MalformedError::BadPercentEscape),
            }
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).map_err(|_| MalformedError::NotUtf8)
}

/// An ordered property bag: keys may repeat, a value may be absent (bare key).
pub type PropertyBag = Vec<(String, Option<String>)>;

/// Appends one `key[=value]` pair, with a leading `&` unless `out` ends where the bag starts.
pub fn push_pair(out: &mut String, bag_start: usize, key: &str, value: Option<&str>) {
    if out.len() > bag_start {
        out.push('&');
    }
    percent_encode_into(out, key);
    if let Some(v) = value {
        out.push('=');
        percent_encode_into(out, v);
    }
}

/// Encodes pairs as `k=v&k2&k3=` (a `None` value is written as a bare key).
pub fn encode_bag<K: AsRef<str>, V: AsRef<str>>(pairs: &[(K, Option<V>)]) -> String {
    let mut out = String::new();
    for (k, v) in pairs {
        push_pair(&mut out, 0, k.as_ref(), v.as_ref().map(|v| v.as_ref()));
    }
    out
}

/// Decodes `k=v&k2&k3=`: a bare key gives `None`, `key=` gives `Some("")`.
/// Empty segments (`a=1&&b=2`, a trailing `&`) are skipped.
pub fn decode_bag(s: &str) -> Result<PropertyBag, MalformedError> {
    let mut out = Vec::new();
    for seg in s.split('&') {
        if seg.is_empty() {
            continue;
        }
        match seg.split_once('=') {
            Some((k, v)) => out.push((percent_decode(k)?, Some(percent_decode(v)?))),
            None => out.push((percent_decode(seg)?, None)),
        }
    }
    Ok(out)
}

/// Finds the first value of `key` in a raw (still encoded) query such as `$rid=1&$version=2`.
/// Keys are compared after decoding, so `$rid` matches both `$rid` and `%24rid`.
pub fn query_value(query: &str, key: &str) -> Result<Option<String>, MalformedError> {
    for (k, v) in decode_bag(query)? {
        if k == key {
            return Ok(Some(v.unwrap_or_default()));
        }
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percent_encode_reserved_and_unicode_succeeds() {
        assert_eq!(percent_encode("a b"), "a%20b");
        assert_eq!(percent_encode("&=/+%#?$"), "%26%3D%2F%2B%25%23%3F%24");
        assert_eq!(percent_encode("ü☃"), "%C3%BC%E2%98%83");
        assert_eq!(percent_encode("AZaz09-_.~"), "AZaz09-_.~");
        assert_eq!(percent_encode("!'()*"), "%21%27%28%29%2A");
    }

    #[test]
    fn percent_decode_plus_stays_plus_succeeds() {
        assert_eq!(percent_decode("1+2").unwrap(), "1+2");
        assert_eq!(percent_decode("a%2Bb%20c").unwrap(), "a+b c");
    }

    #[test]
    fn percent_decode_lower_case_hex_succeeds() {
        assert_eq!(percent_decode("%2a%c3%bc").unwrap(), "*ü");
    }

    #[test]
    fn percent_decode_truncated_escape_fails() {
        assert_eq!(
            percent_decode("abc%2"),
            Err(MalformedError::BadPercentEscape)
        );
        assert_eq!(percent_decode("%"), Err(MalformedError::BadPercentEscape));
        assert_eq!(percent_decode("%zz"), Err(MalformedError::BadPercentEscape));
    }

    #[test]
    fn percent_decode_invalid_utf8_fails() {
        assert_eq!(percent_decode("%FF%FE"), Err(MalformedError::NotUtf8));
    }

    #[test]
    fn bag_round_trip_tricky_values_succeeds() {
        let pairs: PropertyBag = vec![
            ("my key".into(), Some("a b".into())),
            ("amp&".into(), Some("x&y".into())),
            ("eq=".into(), Some("p=q".into())),
            ("slash/".into(), Some("a/b".into())),
            ("plus".into(), Some("1+2".into())),
            ("pct%".into(), Some("100%".into())),
            ("hash#".into(), Some("#?".into())),
            ("dollar$".into(), Some("$x#?%".into())),
            ("unicode".into(), Some("ü☃日本".into())),
            ("empty".into(), Some(String::new())),
            ("bare".into(), None),
            ("dup".into(), Some("1".into())),
            ("dup".into(), Some("2".into())),
        ];
        let encoded = encode_bag(&pairs);
        assert!(!encoded.contains('+'), "never '+' for anything: {encoded}");
        assert!(!encoded.contains(' '));
        assert_eq!(decode_bag(&encoded).unwrap(), pairs);
    }

    #[test]
    fn bag_decode_bare_and_empty_values_succeeds() {
        let bag = decode_bag("a&b=&c=1&&").unwrap();
        assert_eq!(
            bag,
            vec![
                ("a".into(), None),
                ("b".into(), Some(String::new())),
                ("c".into(), Some("1".into()))
            ]
        );
        assert!(decode_bag("").unwrap().is_empty());
    }

    #[test]
    fn bag_decode_node_subdelims_succeeds() {
        // The Node SDK leaves !'()* raw in user properties; decoding must take them as-is.
        let bag = decode_bag("subdelims=!'()*~-_.&plus=1%2B2").unwrap();
        assert_eq!(bag[0].1.as_deref(), Some("!'()*~-_."));
        assert_eq!(bag[1].1.as_deref(), Some("1+2"));
    }

    #[test]
    fn bag_decode_bad_escape_fails() {
        assert_eq!(decode_bag("a=%G1"), Err(MalformedError::BadPercentEscape));
    }

    #[test]
    fn query_value_encoded_dollar_succeeds() {
        assert_eq!(
            query_value("%24rid=7&$version=3", "$rid")
                .unwrap()
                .as_deref(),
            Some("7")
        );
        assert_eq!(
            query_value("$rid=7&$version=3", "$version")
                .unwrap()
                .as_deref(),
            Some("3")
        );
        assert_eq!(query_value("$rid=7", "$version").unwrap(), None);
    }
}
