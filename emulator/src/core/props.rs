//! Percent-encoding for the emulator, on top of `hubwire::hub::encoding`
//! (the client's own, vector-tested implementation).

pub use hubwire::hub::encoding::percent_encode;

/// Decodes `%XX` escapes leniently (HTTP paths and queries): where the strict
/// decoder refuses (bad escape, not UTF-8), the text is kept as received.
pub fn percent_decode(s: &str) -> String {
    hubwire::hub::encoding::percent_decode(s).unwrap_or_else(|_| s.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percent_decode_either_case_succeeds() {
        assert_eq!(percent_decode("%2a%2A%20+"), "** +");
    }

    #[test]
    fn percent_decode_bad_escape_kept_fails() {
        assert_eq!(percent_decode("a%2"), "a%2");
        assert_eq!(percent_decode("a%zz"), "a%zz");
    }
}
