//! The generator's fixed-length blob encodings: `blob_fill(N;0xPP)` (the value's bytes,
//! padded with PP to N bytes) and `blob_sz_fill(N;0xPP)` (the same after a little-endian
//! u32 holding the value's length).

/// A parsed fill encoding.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fill {
    pub length: usize,
    pub pad: u8,
    pub with_size: bool,
}

/// Why a fill value was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("value of {len} bytes is longer than the {length} bytes its fill encoding allows")]
pub struct FillTooLong {
    pub len: usize,
    pub length: usize,
}

impl Fill {
    /// Reads `blob_fill(N;0xPP)` or `blob_sz_fill(N;0xPP)`; `None` for any other text.
    pub fn parse(encoding: &str) -> Option<Fill> {
        let (with_size, rest) = if let Some(rest) = encoding.strip_prefix("blob_fill(") {
            (false, rest)
        } else {
            (true, encoding.strip_prefix("blob_sz_fill(")?)
        };
        let (length, pad) = rest.strip_suffix(')')?.split_once(';')?;
        if length.is_empty() || !length.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        let pad = pad.strip_prefix("0x")?;
        if pad.len() != 2 {
            return None;
        }
        Some(Fill { length: length.parse().ok()?, pad: u8::from_str_radix(pad, 16).ok()?, with_size })
    }

    /// The blob for `value`.
    pub fn apply(&self, value: &str) -> Result<Vec<u8>, FillTooLong> {
        let bytes = value.as_bytes();
        if bytes.len() > self.length {
            return Err(FillTooLong { len: bytes.len(), length: self.length });
        }
        let mut out = Vec::with_capacity(self.length + 4);
        if self.with_size {
            let len = u32::try_from(bytes.len()).expect("shorter than the fill length");
            out.extend_from_slice(&len.to_le_bytes());
        }
        out.extend_from_slice(bytes);
        out.resize(out.len() + self.length - bytes.len(), self.pad);
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::{Fill, FillTooLong};

    #[test]
    fn parses_fill_encodings() {
        let cases = [
            ("blob_fill(8;0xff)", Some(Fill { length: 8, pad: 0xFF, with_size: false })),
            ("blob_sz_fill(16;0x00)", Some(Fill { length: 16, pad: 0, with_size: true })),
            ("blob_fill(8;0xAb)", Some(Fill { length: 8, pad: 0xAB, with_size: false })),
            ("blob_fill(8;ff)", None),
            ("blob_fill(;0xff)", None),
            ("blob_fill(8;0xfff)", None),
            ("blob_fill(8,0xff)", None),
            ("hex2bin", None),
        ];
        for (text, want) in cases {
            assert_eq!(Fill::parse(text), want, "{text}");
        }
    }

    #[test]
    fn pads_the_value() {
        let fill = Fill { length: 5, pad: 0xEE, with_size: false };
        assert_eq!(fill.apply("ab").unwrap(), b"ab\xEE\xEE\xEE");
        assert_eq!(fill.apply("").unwrap(), [0xEE; 5]);
        assert_eq!(fill.apply("abcdef"), Err(FillTooLong { len: 6, length: 5 }));
        let sized = Fill { length: 3, pad: 0, with_size: true };
        assert_eq!(sized.apply("ab").unwrap(), [2, 0, 0, 0, b'a', b'b', 0]);
    }
}
