//! Device and module id validation.
//!
//! Ids go into topics and the client id unencoded, so they are checked up
//! front against IoT Hub's rule: at most 128 characters of ASCII letters,
//! digits and `-.%_*?!(),:=@$'`.

use super::error::{IdError, IdKind};

/// Longest id IoT Hub accepts.
pub const MAX_ID_LEN: usize = 128;

/// Whether `c` may appear in a device or module id.
pub fn is_id_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || (c.is_ascii() && b"-.%_*?!(),:=@$'".contains(&(c as u8)))
}

fn validate(kind: IdKind, id: &str) -> Result<(), IdError> {
    if id.is_empty() {
        return Err(IdError::Empty(kind));
    }
    if let Some(c) = id.chars().find(|&c| !is_id_char(c)) {
        return Err(IdError::InvalidChar(kind, c));
    }
    // All characters are ASCII now, so bytes == characters.
    if id.len() > MAX_ID_LEN {
        return Err(IdError::TooLong(kind, id.len()));
    }
    Ok(())
}

/// Checks a device id.
pub fn validate_device_id(id: &str) -> Result<(), IdError> {
    validate(IdKind::Device, id)
}

/// Checks a module id.
pub fn validate_module_id(id: &str) -> Result<(), IdError> {
    validate(IdKind::Module, id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validate_device_id_all_allowed_chars_succeeds() {
        assert_eq!(validate_device_id("Dev-1.%_*?!(),:=@$'z9"), Ok(()));
        assert_eq!(validate_device_id(&"a".repeat(128)), Ok(()));
    }

    #[test]
    fn validate_device_id_empty_fails() {
        assert_eq!(validate_device_id(""), Err(IdError::Empty(IdKind::Device)));
    }

    #[test]
    fn validate_device_id_too_long_fails() {
        assert_eq!(
            validate_device_id(&"a".repeat(129)),
            Err(IdError::TooLong(IdKind::Device, 129))
        );
    }

    #[test]
    fn validate_device_id_bad_chars_fails() {
        for (id, c) in [
            ("a/b", '/'),
            ("a b", ' '),
            ("a#", '#'),
            ("a+", '+'),
            ("dé", 'é'),
            ("a&b", '&'),
        ] {
            assert_eq!(
                validate_device_id(id),
                Err(IdError::InvalidChar(IdKind::Device, c)),
                "{id}"
            );
        }
    }

    #[test]
    fn validate_module_id_bad_char_fails() {
        assert_eq!(
            validate_module_id("m/1"),
            Err(IdError::InvalidChar(IdKind::Module, '/'))
        );
        assert_eq!(validate_module_id(""), Err(IdError::Empty(IdKind::Module)));
    }
}
