//! A checked NVS name: the key of an entry or the name of a namespace.
//!
//! ESP-IDF stores names NUL-terminated in a 16-byte field, so a name has 1..=15 bytes and
//! no NUL. Names are limited to printable ASCII: the official generator counts a name's
//! length in characters but writes its UTF-8 bytes, so any other name would not be laid
//! out the same by both tools.

use std::fmt;

use crate::format::MAX_KEY_LEN;

/// A valid NVS key or namespace name.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Key(String);

/// Why a name cannot be an NVS key or namespace name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    #[error("an NVS key or namespace name cannot be empty")]
    Empty,
    #[error("NVS key or namespace {name:?} is {len} bytes long; shorten it to at most {MAX_KEY_LEN}")]
    TooLong { name: String, len: usize },
    #[error(
        "NVS key or namespace {name:?} has a character outside printable ASCII; use letters, digits and punctuation only"
    )]
    NotPrintableAscii { name: String },
}

impl Key {
    /// Checks `name` and makes it a key.
    pub fn new(name: &str) -> Result<Self, KeyError> {
        if name.is_empty() {
            return Err(KeyError::Empty);
        }
        if !name.bytes().all(|b| b.is_ascii_graphic() || b == b' ') {
            return Err(KeyError::NotPrintableAscii { name: name.to_owned() });
        }
        if name.len() > MAX_KEY_LEN {
            return Err(KeyError::TooLong { name: name.to_owned(), len: name.len() });
        }
        Ok(Self(name.to_owned()))
    }

    /// The name as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The 16-byte key field: the name, then NULs.
    pub fn field(&self) -> [u8; MAX_KEY_LEN + 1] {
        let mut field = [0u8; MAX_KEY_LEN + 1];
        field[..self.0.len()].copy_from_slice(self.0.as_bytes());
        field
    }
}

impl fmt::Display for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", self.0)
    }
}

impl TryFrom<&str> for Key {
    type Error = KeyError;
    fn try_from(name: &str) -> Result<Self, KeyError> {
        Key::new(name)
    }
}

#[cfg(test)]
mod tests {
    use super::{Key, KeyError};

    #[test]
    fn names_are_checked() {
        let cases: [(&str, Option<KeyError>); 6] = [
            ("wifi", None),
            ("a", None),
            ("fifteen_chars_x", None),
            ("", Some(KeyError::Empty)),
            ("sixteen_chars_xy", Some(KeyError::TooLong { name: "sixteen_chars_xy".into(), len: 16 })),
            ("caf\u{e9}", Some(KeyError::NotPrintableAscii { name: "caf\u{e9}".into() })),
        ];
        for (name, want) in cases {
            assert_eq!(Key::new(name).err(), want, "{name:?}");
        }
        assert!(Key::new("a\0b").is_err());
        assert!(Key::new("tab\there").is_err());
    }

    #[test]
    fn field_is_nul_padded() {
        let field = Key::new("abc").unwrap().field();
        assert_eq!(&field[..3], b"abc");
        assert!(field[3..].iter().all(|&b| b == 0));
        assert_eq!(Key::new("fifteen_chars_x").unwrap().field()[15], 0);
    }
}
