//! IoT Hub's rules for twin documents: key names, value types and lengths,
//! nesting depth, and the size of the `tags`, `properties/desired` and
//! `properties/reported` sections ("Tags and properties format" and "Device
//! twin size" in IoT Hub's device twin guide; the constants match the ones
//! IoT Edge's hub copies from IoT Hub in its `ReportedPropertiesValidator`).

use std::fmt;

use serde_json::{Map, Value};

/// Longest key, in UTF-8 bytes.
pub const MAX_KEY_BYTES: usize = 1024;
/// Longest string value, in UTF-8 bytes.
pub const MAX_STRING_BYTES: usize = 4096;
/// Deepest nesting of objects (and arrays) under a section.
pub const MAX_DEPTH: usize = 10;
/// Smallest integer a twin holds (-2^52).
pub const MIN_INTEGER: i64 = -4_503_599_627_370_496;
/// Largest integer a twin holds (2^52 - 1).
pub const MAX_INTEGER: i64 = 4_503_599_627_370_495;
/// Largest `properties/desired` and `properties/reported` section.
pub const MAX_PROPERTIES_SIZE: usize = 32 * 1024;
/// Largest `tags` section.
pub const MAX_TAGS_SIZE: usize = 8 * 1024;

/// A twin section, for limits and messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Section {
    /// `properties/desired`.
    Desired,
    /// `properties/reported`.
    Reported,
    /// `tags`.
    Tags,
}

impl Section {
    /// The size limit of this section.
    pub fn max_size(self) -> usize {
        match self {
            Section::Desired | Section::Reported => MAX_PROPERTIES_SIZE,
            Section::Tags => MAX_TAGS_SIZE,
        }
    }

    fn name(self) -> &'static str {
        match self {
            Section::Desired => "properties/desired",
            Section::Reported => "properties/reported",
            Section::Tags => "tags",
        }
    }
}

/// Why a patch breaks a twin rule; the message names the key or the limit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RuleError {
    /// A key longer than [`MAX_KEY_BYTES`].
    KeyTooLong(String),
    /// A key holding `$`, `.`, a space or a control character.
    KeyCharacter(String, char),
    /// A string value longer than [`MAX_STRING_BYTES`].
    StringTooLong(String, usize),
    /// An integer outside [`MIN_INTEGER`]..=[`MAX_INTEGER`].
    IntegerOutOfRange(String),
    /// `null` inside an array.
    NullInArray(String),
    /// Objects nested deeper than [`MAX_DEPTH`].
    TooDeep(String),
    /// The section would grow past its limit (section, new size).
    TooLarge(Section, usize),
}

impl fmt::Display for RuleError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RuleError::KeyTooLong(k) => write!(
                f,
                "property name {:?}.. is longer than {MAX_KEY_BYTES} bytes",
                short(k)
            ),
            RuleError::KeyCharacter(k, c) => write!(
                f,
                "property name {:?} contains {c:?}: names may not contain '$', '.', spaces or control characters",
                short(k)
            ),
            RuleError::StringTooLong(k, n) => write!(
                f,
                "value of {:?} is {n} bytes long, more than {MAX_STRING_BYTES}",
                short(k)
            ),
            RuleError::IntegerOutOfRange(k) => write!(
                f,
                "value of {:?} is out of range: integers must be within [{MIN_INTEGER}; {MAX_INTEGER}]",
                short(k)
            ),
            RuleError::NullInArray(k) => {
                write!(f, "array {:?} contains null, which arrays may not hold", short(k))
            }
            RuleError::TooDeep(k) => write!(
                f,
                "{:?} nests objects deeper than {MAX_DEPTH} levels",
                short(k)
            ),
            RuleError::TooLarge(s, n) => write!(
                f,
                "{} would be {n} bytes, more than its {} byte limit",
                s.name(),
                s.max_size()
            ),
        }
    }
}

fn short(k: &str) -> String {
    k.chars().take(64).collect()
}

/// A character IoT Hub does not allow in a key: `$`, `.`, space, and the
/// Unicode control characters of segments C0 (U+0000–U+001F) and C1 (U+0080–U+009F).
fn bad_key_char(c: char) -> bool {
    matches!(c, '$' | '.' | ' ' | '\u{0}'..='\u{1f}' | '\u{80}'..='\u{9f}')
}

fn is_c0_c1(c: char) -> bool {
    matches!(c, '\u{0}'..='\u{1f}' | '\u{80}'..='\u{9f}')
}

/// Checks a patch (or a whole section) against the key, value and depth
/// rules. `null` members are allowed: in a patch they delete.
pub fn check(patch: &Map<String, Value>) -> Result<(), RuleError> {
    check_object(patch, 1)
}

fn check_object(m: &Map<String, Value>, depth: usize) -> Result<(), RuleError> {
    for (k, v) in m {
        if k.len() > MAX_KEY_BYTES {
            return Err(RuleError::KeyTooLong(k.clone()));
        }
        if let Some(c) = k.chars().find(|&c| bad_key_char(c)) {
            return Err(RuleError::KeyCharacter(k.clone(), c));
        }
        check_value(k, v, depth)?;
    }
    Ok(())
}

fn check_value(key: &str, v: &Value, depth: usize) -> Result<(), RuleError> {
    match v {
        Value::String(s) if s.len() > MAX_STRING_BYTES => {
            Err(RuleError::StringTooLong(key.to_string(), s.len()))
        }
        Value::Number(n) => {
            let out = match (n.as_i64(), n.as_u64()) {
                (Some(i), _) => !(MIN_INTEGER..=MAX_INTEGER).contains(&i),
                (None, Some(_)) => true, // above i64::MAX
                (None, None) => false,   // a float
            };
            if out {
                Err(RuleError::IntegerOutOfRange(key.to_string()))
            } else {
                Ok(())
            }
        }
        Value::Object(o) => {
            if depth > MAX_DEPTH {
                return Err(RuleError::TooDeep(key.to_string()));
            }
            check_object(o, depth + 1)
        }
        Value::Array(items) => {
            if depth > MAX_DEPTH {
                return Err(RuleError::TooDeep(key.to_string()));
            }
            for item in items {
                if item.is_null() {
                    return Err(RuleError::NullInArray(key.to_string()));
                }
                check_value(key, item, depth + 1)?;
            }
            Ok(())
        }
        _ => Ok(()),
    }
}

/// A section's size as IoT Hub computes it: for every member, the length of
/// its key plus the size of its value; strings count their characters except
/// C0/C1 control characters, numbers 8, booleans 4, objects and arrays the sum
/// of what they hold.
pub fn size(m: &Map<String, Value>) -> usize {
    m.iter().map(|(k, v)| text_size(k) + value_size(v)).sum()
}

fn text_size(s: &str) -> usize {
    s.chars().filter(|&c| !is_c0_c1(c)).count()
}

fn value_size(v: &Value) -> usize {
    match v {
        Value::Null => 0,
        Value::Bool(_) => 4,
        Value::Number(_) => 8,
        Value::String(s) => text_size(s),
        Value::Array(a) => a.iter().map(value_size).sum(),
        Value::Object(o) => size(o),
    }
}

/// Refuses a change that makes `section` larger than its limit. A section
/// already over the limit may still shrink.
pub fn check_size(section: Section, before: usize, after: usize) -> Result<(), RuleError> {
    if after > section.max_size() && after > before {
        Err(RuleError::TooLarge(section, after))
    } else {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn obj(v: Value) -> Map<String, Value> {
        v.as_object().cloned().expect("object")
    }

    #[test]
    fn keys_with_reserved_characters_fail() {
        for (k, c) in [
            ("$version", '$'),
            ("a$b", '$'),
            ("fw.version", '.'),
            ("my key", ' '),
            ("tab\tkey", '\t'),
            ("c1\u{85}", '\u{85}'),
        ] {
            let nested = obj(json!({ "ok": { k: 1 } }));
            assert_eq!(
                check(&nested),
                Err(RuleError::KeyCharacter(k.into(), c)),
                "{k:?}"
            );
        }
        let long = "k".repeat(MAX_KEY_BYTES + 1);
        assert_eq!(
            check(&obj(json!({ long.clone(): 1 }))),
            Err(RuleError::KeyTooLong(long))
        );
        assert_eq!(check(&obj(json!({ "k".repeat(MAX_KEY_BYTES): 1 }))), Ok(()));
    }

    #[test]
    fn values_in_range_succeed_out_of_range_fail() {
        let ok = json!({"i": MAX_INTEGER, "n": MIN_INTEGER, "f": 1.5e300, "b": true,
            "s": "x".repeat(MAX_STRING_BYTES), "a": [1, "two", {"three": 3}], "gone": null});
        assert_eq!(check(&obj(ok)), Ok(()));
        assert_eq!(
            check(&obj(json!({"i": MAX_INTEGER + 1}))),
            Err(RuleError::IntegerOutOfRange("i".into()))
        );
        assert_eq!(
            check(&obj(json!({"u": u64::MAX}))),
            Err(RuleError::IntegerOutOfRange("u".into()))
        );
        assert_eq!(
            check(&obj(json!({"s": "é".repeat(2049)}))),
            Err(RuleError::StringTooLong("s".into(), 4098))
        );
        assert_eq!(
            check(&obj(json!({"a": [1, null]}))),
            Err(RuleError::NullInArray("a".into()))
        );
    }

    fn nested(levels: usize) -> Value {
        let mut v = json!({"property": "value"});
        for i in (1..levels).rev() {
            v = json!({ format!("l{i}"): v });
        }
        v
    }

    #[test]
    fn depth_ten_succeeds_eleven_fails() {
        // The device twin guide's example: ten nested objects under the section.
        assert_eq!(check(&obj(nested(11))), Ok(()));
        assert_eq!(
            check(&obj(nested(12))),
            Err(RuleError::TooDeep("l11".into()))
        );
        assert!(check(&obj(json!({"a": [[[[[[[[[[1]]]]]]]]]]}))).is_ok());
        assert!(matches!(
            check(&obj(json!({"a": [[[[[[[[[[[1]]]]]]]]]]]}))),
            Err(RuleError::TooDeep(_))
        ));
    }

    #[test]
    fn size_counts_keys_characters_numbers_booleans_succeeds() {
        let m = obj(json!({"ab": "xyz", "n": 1, "t": true, "o": {"k": "é\u{1}"}, "a": [1, "zz"]}));
        // ab+xyz 5, n+8 9, t+4 5, o + (k + é) 3, a + 8 + zz 11
        assert_eq!(size(&m), 5 + 9 + 5 + 3 + 11);
        assert_eq!(check_size(Section::Tags, 0, MAX_TAGS_SIZE), Ok(()));
        assert_eq!(
            check_size(Section::Tags, 0, MAX_TAGS_SIZE + 1),
            Err(RuleError::TooLarge(Section::Tags, MAX_TAGS_SIZE + 1))
        );
        assert_eq!(
            check_size(Section::Reported, 40_000, 39_000),
            Ok(()),
            "shrinking is allowed"
        );
    }
}
