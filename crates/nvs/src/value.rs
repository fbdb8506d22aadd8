//! The value of one NVS entry and the text encodings the official generator accepts for
//! binary data (`hex2bin`, `base64`).

use std::fmt;

use base64::Engine as _;

use crate::format::item_type;

/// A value NVS can store.
#[derive(Clone, PartialEq, Eq)]
pub enum Value {
    U8(u8),
    I8(i8),
    U16(u16),
    I16(i16),
    U32(u32),
    I32(i32),
    U64(u64),
    I64(i64),
    /// A NUL-terminated string (`nvs_get_str`); the NUL is added when stored.
    Str(String),
    /// A binary blob (`nvs_get_blob`), stored as chunks plus an index in format version 2.
    Blob(Vec<u8>),
}

/// Why encoded text is not binary data.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EncodingError {
    #[error("hex2bin value has an odd number of hex digits ({digits}); give two digits per byte")]
    OddHexLength { digits: usize },
    #[error("hex2bin value has {found:?} at position {position}, which is not a hex digit")]
    NotHex { found: char, position: usize },
    #[error("base64 value does not decode: {reason}")]
    Base64 { reason: String },
}

impl Value {
    /// A blob from hex text as the `hex2bin` encoding reads it (surrounding whitespace ignored).
    pub fn blob_from_hex(text: &str) -> Result<Self, EncodingError> {
        let digits = text.trim();
        if !digits.len().is_multiple_of(2) {
            return Err(EncodingError::OddHexLength { digits: digits.chars().count() });
        }
        let nibble = |position: usize, c: char| c.to_digit(16).ok_or(EncodingError::NotHex { found: c, position });
        let chars: Vec<char> = digits.chars().collect();
        let mut bytes = Vec::with_capacity(chars.len() / 2);
        for (i, pair) in chars.chunks(2).enumerate() {
            let hi = nibble(2 * i, pair[0])?;
            let lo = nibble(2 * i + 1, pair[1])?;
            bytes.push((hi * 16 + lo) as u8);
        }
        Ok(Value::Blob(bytes))
    }

    /// A blob from base64 text (standard alphabet, padded; whitespace and line breaks ignored).
    pub fn blob_from_base64(text: &str) -> Result<Self, EncodingError> {
        let compact: String = text.chars().filter(|c| !c.is_ascii_whitespace()).collect();
        base64::engine::general_purpose::STANDARD
            .decode(compact.as_bytes())
            .map(Value::Blob)
            .map_err(|e| EncodingError::Base64 { reason: e.to_string() })
    }

    /// The entry type byte of a fixed-size value, `None` for strings and blobs.
    pub(crate) fn primitive(&self) -> Option<(u8, [u8; 8])> {
        let mut data = [0xFFu8; 8];
        let (kind, bytes): (u8, &[u8]) = match self {
            Value::U8(v) => (item_type::U8, &v.to_le_bytes()[..]),
            Value::I8(v) => (item_type::I8, &v.to_le_bytes()[..]),
            Value::U16(v) => (item_type::U16, &v.to_le_bytes()[..]),
            Value::I16(v) => (item_type::I16, &v.to_le_bytes()[..]),
            Value::U32(v) => (item_type::U32, &v.to_le_bytes()[..]),
            Value::I32(v) => (item_type::I32, &v.to_le_bytes()[..]),
            Value::U64(v) => (item_type::U64, &v.to_le_bytes()[..]),
            Value::I64(v) => (item_type::I64, &v.to_le_bytes()[..]),
            Value::Str(_) | Value::Blob(_) => return None,
        };
        data[..bytes.len()].copy_from_slice(bytes);
        Some((kind, data))
    }

    /// The name the official generator's CSV uses for this value's encoding.
    pub fn type_name(&self) -> &'static str {
        match self {
            Value::U8(_) => "u8",
            Value::I8(_) => "i8",
            Value::U16(_) => "u16",
            Value::I16(_) => "i16",
            Value::U32(_) => "u32",
            Value::I32(_) => "i32",
            Value::U64(_) => "u64",
            Value::I64(_) => "i64",
            Value::Str(_) => "string",
            Value::Blob(_) => "blob",
        }
    }
}

/// Secrets go into NVS values, so `Debug` shows the type and the size, never the content.
impl fmt::Debug for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Str(s) => write!(f, "Str({} bytes)", s.len()),
            Value::Blob(b) => write!(f, "Blob({} bytes)", b.len()),
            other => write!(f, "{}", other.type_name()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{EncodingError, Value};

    #[test]
    fn hex2bin_decodes_like_the_generator() {
        let cases: [(&str, Result<Value, EncodingError>); 6] = [
            ("00ff10", Ok(Value::Blob(vec![0, 0xFF, 0x10]))),
            ("  ABcd \n", Ok(Value::Blob(vec![0xAB, 0xCD]))),
            ("", Ok(Value::Blob(vec![]))),
            ("abc", Err(EncodingError::OddHexLength { digits: 3 })),
            ("0g", Err(EncodingError::NotHex { found: 'g', position: 1 })),
            ("zz", Err(EncodingError::NotHex { found: 'z', position: 0 })),
        ];
        for (text, want) in cases {
            assert_eq!(Value::blob_from_hex(text), want, "{text:?}");
        }
    }

    #[test]
    fn base64_decodes_with_line_breaks() {
        assert_eq!(Value::blob_from_base64("aGVs\nbG8=").unwrap(), Value::Blob(b"hello".to_vec()));
        assert!(matches!(Value::blob_from_base64("a?=="), Err(EncodingError::Base64 { .. })));
    }

    #[test]
    fn debug_hides_contents() {
        let shown = format!("{:?}", Value::Str("secret-password".into()));
        assert_eq!(shown, "Str(15 bytes)");
        assert_eq!(format!("{:?}", Value::Blob(vec![1, 2, 3])), "Blob(3 bytes)");
    }
}
