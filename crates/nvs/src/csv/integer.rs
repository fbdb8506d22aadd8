//! Integer values as the official generator reads them (Python's `int(text)`): decimal,
//! surrounding whitespace ignored, an optional sign, `_` allowed between digits.

use crate::Value;

/// Why a CSV integer value was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IntegerError {
    #[error("{text:?} is not a decimal integer")]
    NotAnInteger { text: String },
    #[error("{text} does not fit {encoding} ({min}..={max})")]
    OutOfRange { text: String, encoding: &'static str, min: i128, max: i128 },
}

/// The integer encodings and their ranges.
pub const INTEGER_ENCODINGS: [(&str, i128, i128); 8] = [
    ("u8", 0, u8::MAX as i128),
    ("i8", i8::MIN as i128, i8::MAX as i128),
    ("u16", 0, u16::MAX as i128),
    ("i16", i16::MIN as i128, i16::MAX as i128),
    ("u32", 0, u32::MAX as i128),
    ("i32", i32::MIN as i128, i32::MAX as i128),
    ("u64", 0, u64::MAX as i128),
    ("i64", i64::MIN as i128, i64::MAX as i128),
];

/// Parses `text` as Python's `int()` does (ASCII digits only).
fn python_int(text: &str) -> Option<i128> {
    let t = text.trim();
    let (negative, digits) = match t.as_bytes().first()? {
        b'-' => (true, &t[1..]),
        b'+' => (false, &t[1..]),
        _ => (false, t),
    };
    let bytes = digits.as_bytes();
    if bytes.is_empty() || bytes[0] == b'_' || bytes[bytes.len() - 1] == b'_' {
        return None;
    }
    let mut value: i128 = 0;
    let mut previous_underscore = false;
    for &b in bytes {
        match b {
            b'_' if !previous_underscore => previous_underscore = true,
            b'0'..=b'9' => {
                previous_underscore = false;
                // Saturate: anything past i128 is out of every range anyway.
                value = value.saturating_mul(10).saturating_add(i128::from(b - b'0'));
            }
            _ => return None,
        }
    }
    Some(if negative { -value } else { value })
}

/// The value of integer encoding `encoding` (one of [`INTEGER_ENCODINGS`]) from `text`.
pub fn integer_value(encoding: &str, text: &str) -> Option<Result<Value, IntegerError>> {
    let &(name, min, max) = INTEGER_ENCODINGS.iter().find(|(name, ..)| *name == encoding)?;
    let Some(n) = python_int(text) else {
        return Some(Err(IntegerError::NotAnInteger { text: text.to_owned() }));
    };
    if n < min || n > max {
        return Some(Err(IntegerError::OutOfRange { text: text.trim().to_owned(), encoding: name, min, max }));
    }
    // In range, so every conversion below is exact.
    let value = match name {
        "u8" => Value::U8(n as u8),
        "i8" => Value::I8(n as i8),
        "u16" => Value::U16(n as u16),
        "i16" => Value::I16(n as i16),
        "u32" => Value::U32(n as u32),
        "i32" => Value::I32(n as i32),
        "u64" => Value::U64(n as u64),
        _ => Value::I64(n as i64),
    };
    Some(Ok(value))
}

#[cfg(test)]
mod tests {
    use super::{integer_value, IntegerError};
    use crate::Value;

    #[test]
    fn reads_like_python_int() {
        let ok: [(&str, &str, Value); 8] = [
            ("u8", "255", Value::U8(255)),
            ("i8", "-128", Value::I8(-128)),
            ("u16", " 42\n", Value::U16(42)),
            ("i16", "+7", Value::I16(7)),
            ("u32", "1_000_000", Value::U32(1_000_000)),
            ("i32", "007", Value::I32(7)),
            ("u64", "18446744073709551615", Value::U64(u64::MAX)),
            ("i64", "-9223372036854775808", Value::I64(i64::MIN)),
        ];
        for (encoding, text, want) in ok {
            assert_eq!(integer_value(encoding, text), Some(Ok(want)), "{encoding} {text:?}");
        }
        for text in ["", "0x10", "1__0", "_1", "1_", "1.5", "- 1", "abc"] {
            assert!(matches!(integer_value("u32", text), Some(Err(IntegerError::NotAnInteger { .. }))), "{text:?}");
        }
        for (encoding, text) in
            [("u8", "256"), ("u8", "-1"), ("i8", "128"), ("u64", "99999999999999999999999999999999999999999")]
        {
            assert!(
                matches!(integer_value(encoding, text), Some(Err(IntegerError::OutOfRange { .. }))),
                "{encoding} {text:?}"
            );
        }
        assert_eq!(integer_value("string", "1"), None);
    }
}
