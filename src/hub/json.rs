//! Just enough JSON for the core, without a JSON library in the wasm bundle
//! (docs/hub.md: `serde_json` would cost ~26 KB for what these ~200 lines do).
//!
//! The scanner walks one object's members and returns their *raw* text; it
//! skips nested values with a depth counter (no recursion, so hostile nesting
//! cannot exhaust the stack), honours string escapes (including `\uXXXX` and
//! surrogate pairs), and allocates only for keys or strings that contain
//! escapes. It checks structure (quotes, brackets, `:` and `,`), not every
//! literal: `tru` passes as a value. Writers escape what they embed.
//!
//! Used by `twin` (`desired.$version`), `pnp` (component properties, acks)
//! and `crate::dps` (registration request and response bodies).

use crate::prelude::*;

use alloc::borrow::Cow;

fn ws(s: &[u8], mut i: usize) -> usize {
    while i < s.len() && matches!(s[i], b' ' | b'\t' | b'\n' | b'\r') {
        i += 1;
    }
    i
}

/// Index just past the string starting at `i` (which must be `"`).
fn string_end(s: &[u8], i: usize) -> Option<usize> {
    let mut j = i + 1;
    while j < s.len() {
        match s[j] {
            b'\\' => j += 2,
            b'"' => return Some(j + 1),
            _ => j += 1,
        }
    }
    None
}

fn hex4(it: &mut core::str::Chars<'_>) -> Option<u32> {
    let mut v = 0u32;
    for _ in 0..4 {
        v = v * 16 + it.next()?.to_digit(16)?;
    }
    Some(v)
}

/// Decodes the JSON string body `raw` (without quotes).
fn unescape(raw: &str) -> Option<String> {
    let mut out = String::with_capacity(raw.len());
    let mut it = raw.chars();
    while let Some(c) = it.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match it.next()? {
            '"' => out.push('"'),
            '\\' => out.push('\\'),
            '/' => out.push('/'),
            'b' => out.push('\u{8}'),
            'f' => out.push('\u{c}'),
            'n' => out.push('\n'),
            'r' => out.push('\r'),
            't' => out.push('\t'),
            'u' => {
                let hi = hex4(&mut it)?;
                let cp = if (0xD800..0xDC00).contains(&hi) {
                    if it.next()? != '\\' || it.next()? != 'u' {
                        return None;
                    }
                    let lo = hex4(&mut it)?;
                    if !(0xDC00..0xE000).contains(&lo) {
                        return None;
                    }
                    0x10000 + ((hi - 0xD800) << 10) + (lo - 0xDC00)
                } else {
                    hi
                };
                out.push(char::from_u32(cp)?);
            }
            _ => return None,
        }
    }
    Some(out)
}

/// Index just past the value starting at `i`.
fn value_end(s: &[u8], i: usize) -> Option<usize> {
    match *s.get(i)? {
        b'"' => string_end(s, i),
        b'{' | b'[' => {
            let mut depth = 0usize;
            let mut j = i;
            while j < s.len() {
                match s[j] {
                    b'"' => {
                        j = string_end(s, j)?;
                        continue;
                    }
                    b'{' | b'[' => depth += 1,
                    b'}' | b']' => {
                        depth -= 1;
                        if depth == 0 {
                            return Some(j + 1);
                        }
                    }
                    _ => {}
                }
                j += 1;
            }
            None
        }
        _ => {
            let mut j = i;
            while j < s.len() && !matches!(s[j], b',' | b'}' | b']' | b' ' | b'\t' | b'\n' | b'\r')
            {
                j += 1;
            }
            (j > i).then_some(j)
        }
    }
}

/// Walks the members of the object `obj`, calling `f(raw_key, raw_value)` until it
/// returns `true`. `None`: `obj` is not an object or is malformed before the stop.
fn walk<'a>(obj: &'a str, mut f: impl FnMut(&'a str, &'a str) -> bool) -> Option<()> {
    let s = obj.as_bytes();
    let mut i = ws(s, 0);
    if s.get(i) != Some(&b'{') {
        return None;
    }
    i = ws(s, i + 1);
    if s.get(i) == Some(&b'}') {
        return Some(());
    }
    loop {
        if s.get(i) != Some(&b'"') {
            return None;
        }
        let kend = string_end(s, i)?;
        // `get`, not indexing: no str-slicing panic path in the wasm (docs/size.md).
        let raw_key = obj.get(i + 1..kend - 1)?;
        i = ws(s, kend);
        if s.get(i) != Some(&b':') {
            return None;
        }
        i = ws(s, i + 1);
        let vend = value_end(s, i)?;
        if f(raw_key, obj.get(i..vend)?) {
            return Some(());
        }
        i = ws(s, vend);
        match s.get(i) {
            Some(b',') => i = ws(s, i + 1),
            Some(b'}') => return Some(()),
            _ => return None,
        }
    }
}

fn key_text(raw_key: &str) -> Option<Cow<'_, str>> {
    if raw_key.bytes().any(|b| b == b'\\') {
        unescape(raw_key).map(Cow::Owned)
    } else {
        Some(Cow::Borrowed(raw_key))
    }
}

/// The raw text of member `key` of the object `obj`.
pub(crate) fn member<'a>(obj: &'a str, key: &str) -> Option<&'a str> {
    let mut found = None;
    let mut bad_key = false;
    walk(obj, |k, v| match key_text(k) {
        Some(k) if k == key => {
            found = Some(v);
            true
        }
        Some(_) => false,
        None => {
            bad_key = true;
            true
        }
    })?;
    if bad_key {
        return None;
    }
    found
}

/// Every member of the object `obj` in order: decoded key and raw value text.
/// `None` if `obj` is not a well-formed object (unbalanced, trailing text, bad key escape).
pub(crate) fn members(obj: &str) -> Option<Vec<(Cow<'_, str>, &str)>> {
    if !is_object(obj) {
        return None;
    }
    let mut out = Vec::new();
    let mut bad_key = false;
    walk(obj, |k, v| match key_text(k) {
        Some(k) => {
            out.push((k, v));
            false
        }
        None => {
            bad_key = true;
            true
        }
    })?;
    (!bad_key).then_some(out)
}

/// Whether `v` (surrounding whitespace allowed) is exactly one object: `{`, members, `}`,
/// nothing after it.
pub(crate) fn is_object(v: &str) -> bool {
    let s = v.as_bytes();
    let i = ws(s, 0);
    if s.get(i) != Some(&b'{') {
        return false;
    }
    match value_end(s, i) {
        Some(end) => ws(s, end) == s.len() && walk(v, |_, _| false).is_some(),
        None => false,
    }
}

/// Whether `v` (surrounding whitespace allowed) is one complete JSON value by the
/// scanner's structural rules.
pub(crate) fn is_value(v: &str) -> bool {
    let s = v.as_bytes();
    let i = ws(s, 0);
    match value_end(s, i) {
        Some(end) => ws(s, end) == s.len() && (s[i] != b'{' || is_object(v)),
        None => false,
    }
}

/// A JSON unsigned integer.
pub(crate) fn as_u64(v: &str) -> Option<u64> {
    if v.is_empty() || !v.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    v.parse().ok()
}

/// A JSON string value, decoded.
pub(crate) fn as_str(v: &str) -> Option<Cow<'_, str>> {
    let raw = v.strip_prefix('"')?.strip_suffix('"')?;
    if v.len() < 2 || string_end(v.as_bytes(), 0) != Some(v.len()) {
        return None;
    }
    key_text(raw)
}

/// Appends `s` as a quoted JSON string.
pub(crate) fn push_string(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => {
                const HEX: &[u8; 16] = b"0123456789abcdef";
                out.push_str("\\u00");
                out.push(HEX[(c as usize) >> 4] as char);
                out.push(HEX[(c as usize) & 15] as char);
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn member_nested_and_escaped_succeeds() {
        let doc = r#" { "a": {"b": 1}, "s": "}\"{", "k\u0065y" : [1, {"x": "]"}], "n": null } "#;
        assert_eq!(member(doc, "a"), Some(r#"{"b": 1}"#));
        assert_eq!(member(doc, "key"), Some(r#"[1, {"x": "]"}]"#));
        assert_eq!(member(doc, "n"), Some("null"));
        assert_eq!(member(doc, "missing"), None);
        assert_eq!(member("[]", "a"), None);
    }

    #[test]
    fn members_in_order_succeeds() {
        let m = members(r#"{"b":1,"a":"x","\u00e9":{"c":[]}}"#).unwrap();
        let keys: Vec<&str> = m.iter().map(|(k, _)| k.as_ref()).collect();
        assert_eq!(keys, ["b", "a", "é"]);
        assert_eq!(m[2].1, r#"{"c":[]}"#);
        assert_eq!(members("{}").unwrap().len(), 0);
    }

    #[test]
    fn members_malformed_fails() {
        for bad in [
            "",
            "[]",
            "{",
            r#"{"a":1"#,
            r#"{"a":1,}"#,
            r#"{"a" 1}"#,
            r#"{"a":1} x"#,
            r#"{"a":1}}"#,
            r#"{a:1}"#,
            r#"{"a":[1,2}"#,
        ] {
            assert!(members(bad).is_none(), "{bad}");
            assert!(!is_object(bad), "{bad}");
        }
        // Structurally an object, but a key escape that does not decode.
        assert!(members(r#"{"\x":1}"#).is_none());
    }

    #[test]
    fn as_str_decodes_escapes_succeeds() {
        assert_eq!(
            as_str(r#""a\"b\\c\u00e9\ud83d\ude00""#).unwrap(),
            "a\"b\\cé😀"
        );
        assert_eq!(as_str(r#""plain""#).unwrap(), "plain");
        assert!(matches!(as_str(r#""plain""#), Some(Cow::Borrowed(_))));
        assert_eq!(as_str("\"").as_deref(), None);
        assert_eq!(as_str(r#""a"b""#).as_deref(), None);
        assert_eq!(as_str(r#""\ud83d""#).as_deref(), None);
        assert_eq!(as_str("12").as_deref(), None);
    }

    #[test]
    fn push_string_round_trips_succeeds() {
        for s in [
            "",
            "plain",
            "q\"uote",
            "back\\slash",
            "nl\n\r\t",
            "\u{1}\u{1f}",
            "é😀",
        ] {
            let mut quoted = String::new();
            push_string(&mut quoted, s);
            assert_eq!(as_str(&quoted).unwrap(), s, "{quoted}");
            assert!(quoted.bytes().all(|b| b >= 0x20), "{quoted}");
        }
    }

    #[test]
    fn is_value_shapes_succeeds() {
        for ok in [
            "1",
            " \"s\" ",
            "{}",
            "[1,{\"a\":2}]",
            "null",
            "{\"a\":{\"b\":[]}}",
        ] {
            assert!(is_value(ok), "{ok}");
        }
        for bad in ["", "{", "\"s", "1 2", "{\"a\"}", "[1,2"] {
            assert!(!is_value(bad), "{bad}");
        }
    }
}
