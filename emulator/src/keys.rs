//! Symmetric keys: random generation (the core takes keys as parameters).

use base64::Engine as _;

/// A fresh base64 key of 32 random bytes.
pub fn generate() -> String {
    let mut b = [0u8; 32];
    // getrandom only fails when the OS has no entropy source at all; a
    // time-seeded fallback keeps the emulator usable for local testing.
    if getrandom::getrandom(&mut b).is_err() {
        let t = crate::shared::now_ms().to_le_bytes();
        for (i, x) in b.iter_mut().enumerate() {
            *x = t[i % 8] ^ (i as u8).wrapping_mul(151);
        }
    }
    base64::engine::general_purpose::STANDARD.encode(b)
}

/// True for base64 of 16 to 64 bytes, as IoT Hub requires.
pub fn valid(key: &str) -> bool {
    base64::engine::general_purpose::STANDARD
        .decode(key)
        .is_ok_and(|k| (16..=64).contains(&k.len()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generate_is_valid_and_random_succeeds() {
        let (a, b) = (generate(), generate());
        assert!(valid(&a) && valid(&b));
        assert_ne!(a, b);
    }

    #[test]
    fn valid_short_or_garbage_fails() {
        assert!(!valid("AAAA"));
        assert!(!valid("not base64!"));
    }
}
