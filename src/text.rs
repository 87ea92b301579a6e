//! Building text without `core::fmt`.
//!
//! `format!`, `to_string()` on numbers and `{:?}` pull the formatting machinery
//! (and, for `{:?}` on strings, Unicode tables) into the wasm: several KB that the
//! bundle budget cannot afford (docs/size.md). Topics, tokens and error messages
//! are built with these helpers instead.

use crate::prelude::*;

/// Appends the decimal form of `n`.
pub(crate) fn push_u64(out: &mut String, mut n: u64) {
    let mut buf = [0u8; 20];
    let mut i = buf.len();
    loop {
        i -= 1;
        buf[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    for &b in &buf[i..] {
        out.push(b as char);
    }
}

/// The decimal form of `n`.
pub(crate) fn u64_string(n: u64) -> String {
    let mut s = String::new();
    push_u64(&mut s, n);
    s
}

/// `bytes` as text; invalid UTF-8 (never seen from the hub) turns every non-ASCII
/// byte into U+FFFD. Smaller in the wasm than `String::from_utf8_lossy`.
pub(crate) fn utf8_lossy(bytes: Vec<u8>) -> String {
    String::from_utf8(bytes).unwrap_or_else(|e| {
        e.into_bytes()
            .into_iter()
            .map(|b| if b.is_ascii() { b as char } else { '\u{FFFD}' })
            .collect()
    })
}

/// The concatenation of `parts`.
pub(crate) fn concat(parts: &[&str]) -> String {
    let mut s = String::with_capacity(parts.iter().map(|p| p.len()).sum());
    for p in parts {
        s.push_str(p);
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn push_u64_matches_display_succeeds() {
        for n in [0, 1, 9, 10, 99, 100, 65_535, 1_700_000_000, u64::MAX] {
            assert_eq!(u64_string(n), n.to_string());
        }
        assert_eq!(concat(&["a", "", "bc"]), "abc");
        assert_eq!(utf8_lossy("zürich".into()), "zürich");
        assert_eq!(utf8_lossy(vec![b'a', 0xff, b'b']), "a\u{FFFD}b");
    }
}
