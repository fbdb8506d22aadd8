//! The `{name}` placeholders of a provisioning template, and filling them in for a board.
//!
//! A template value such as `FL-{serial}` or `certs/{mac_hex}.der` is split once, at
//! start-up, into literal text and placeholders, so an unknown name or a stray brace is an
//! error before any board is touched, and filling it in per board cannot fail on syntax.
//! `{{` and `}}` stand for literal braces.

use std::fmt;

/// A value known for each board when its data is made.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Placeholder {
    /// The board's MAC as the audit log spells it: `AA:BB:CC:DD:EE:FF`.
    Mac,
    /// The MAC as 12 hex digits without separators, upper case: `AABBCCDDEEFF`.
    MacHex,
    /// The serial number as printed: prefix and zero-padded number (`FL-001000`).
    Serial,
    /// The serial number's number alone (`1000`), for integer NVS types.
    SerialNumber,
    /// The station id of the config.
    Station,
    /// The slot the board is in (`A1`).
    Slot,
    /// The chip, as flashline names it (`esp32s3`).
    Chip,
    /// A column of the board's row in the per-device file (`{device.cert}`).
    Device(String),
}

/// The names accepted besides `device.COLUMN`, for messages.
pub const NAMES: &str = "mac, mac_hex, serial, serial_number, station, slot, chip, device.COLUMN";

impl Placeholder {
    fn from_name(name: &str) -> Option<Placeholder> {
        Some(match name {
            "mac" => Placeholder::Mac,
            "mac_hex" => Placeholder::MacHex,
            "serial" => Placeholder::Serial,
            "serial_number" => Placeholder::SerialNumber,
            "station" => Placeholder::Station,
            "slot" => Placeholder::Slot,
            "chip" => Placeholder::Chip,
            _ => {
                let column = name.strip_prefix("device.")?;
                if column.is_empty() || !column.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-') {
                    return None;
                }
                Placeholder::Device(column.to_owned())
            }
        })
    }
}

impl fmt::Display for Placeholder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Placeholder::Mac => f.write_str("{mac}"),
            Placeholder::MacHex => f.write_str("{mac_hex}"),
            Placeholder::Serial => f.write_str("{serial}"),
            Placeholder::SerialNumber => f.write_str("{serial_number}"),
            Placeholder::Station => f.write_str("{station}"),
            Placeholder::Slot => f.write_str("{slot}"),
            Placeholder::Chip => f.write_str("{chip}"),
            Placeholder::Device(column) => write!(f, "{{device.{column}}}"),
        }
    }
}

/// Why a template text was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PlaceholderError {
    #[error("unknown placeholder {{{name}}}; known: {NAMES} (write {{{{ and }}}} for literal braces)")]
    Unknown { name: String },
    #[error("a '{{' is not closed; write {{{{ for a literal brace")]
    Unclosed,
    #[error("a '}}' closes nothing; write }}}} for a literal brace")]
    StrayClose,
}

/// A piece of a template text.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Piece {
    Text(String),
    Value(Placeholder),
}

/// A text with placeholders, checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Template {
    pieces: Vec<Piece>,
}

impl Template {
    /// Splits `text` into literal text and placeholders.
    pub fn parse(text: &str) -> Result<Template, PlaceholderError> {
        let mut pieces = Vec::new();
        let mut literal = String::new();
        let mut chars = text.chars().peekable();
        while let Some(c) = chars.next() {
            match c {
                '{' if chars.peek() == Some(&'{') => {
                    chars.next();
                    literal.push('{');
                }
                '}' if chars.peek() == Some(&'}') => {
                    chars.next();
                    literal.push('}');
                }
                '}' => return Err(PlaceholderError::StrayClose),
                '{' => {
                    let mut name = String::new();
                    loop {
                        match chars.next() {
                            Some('}') => break,
                            Some('{') | None => return Err(PlaceholderError::Unclosed),
                            Some(c) => name.push(c),
                        }
                    }
                    let value =
                        Placeholder::from_name(name.trim()).ok_or(PlaceholderError::Unknown { name: name.clone() })?;
                    if !literal.is_empty() {
                        pieces.push(Piece::Text(std::mem::take(&mut literal)));
                    }
                    pieces.push(Piece::Value(value));
                }
                c => literal.push(c),
            }
        }
        if !literal.is_empty() {
            pieces.push(Piece::Text(literal));
        }
        Ok(Template { pieces })
    }

    /// The placeholders used, in order of appearance.
    pub fn placeholders(&self) -> impl Iterator<Item = &Placeholder> {
        self.pieces.iter().filter_map(|p| match p {
            Piece::Value(v) => Some(v),
            Piece::Text(_) => None,
        })
    }

    /// The text with every placeholder replaced by `value(placeholder)`; `None` from it
    /// (a value this board does not have) names the placeholder in the error.
    pub fn fill<'v>(&self, mut value: impl FnMut(&Placeholder) -> Option<&'v str>) -> Result<String, Placeholder> {
        let mut out = String::new();
        for piece in &self.pieces {
            match piece {
                Piece::Text(t) => out.push_str(t),
                Piece::Value(v) => out.push_str(value(v).ok_or_else(|| v.clone())?),
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_text_and_placeholders() {
        let t = Template::parse("FL-{serial}/{device.cert_file}{{x}}").unwrap();
        let used: Vec<_> = t.placeholders().cloned().collect();
        assert_eq!(used, vec![Placeholder::Serial, Placeholder::Device("cert_file".into())]);
        let filled = t
            .fill(|p| match p {
                Placeholder::Serial => Some("000042"),
                Placeholder::Device(c) if c == "cert_file" => Some("a.der"),
                _ => None,
            })
            .unwrap();
        assert_eq!(filled, "FL-000042/a.der{x}");
    }

    #[test]
    fn every_name_parses_and_prints_back() {
        for name in ["mac", "mac_hex", "serial", "serial_number", "station", "slot", "chip", "device.k-1"] {
            let text = format!("{{{name}}}");
            let t = Template::parse(&text).unwrap();
            assert_eq!(t.placeholders().next().unwrap().to_string(), text);
        }
    }

    #[test]
    fn refusals() {
        let cases = [
            ("{serail}", PlaceholderError::Unknown { name: "serail".into() }),
            ("{device.}", PlaceholderError::Unknown { name: "device.".into() }),
            ("{device.a b}", PlaceholderError::Unknown { name: "device.a b".into() }),
            ("x{serial", PlaceholderError::Unclosed),
            ("x{ser{ial}", PlaceholderError::Unclosed),
            ("a}b", PlaceholderError::StrayClose),
        ];
        for (text, want) in cases {
            assert_eq!(Template::parse(text).unwrap_err(), want, "{text}");
        }
        let msg = Template::parse("{serail}").unwrap_err().to_string();
        assert!(msg.contains("unknown placeholder {serail}") && msg.contains("{{"), "{msg}");
    }

    #[test]
    fn a_missing_value_names_its_placeholder() {
        let t = Template::parse("{device.wifi_psk}").unwrap();
        assert_eq!(t.fill(|_| None).unwrap_err(), Placeholder::Device("wifi_psk".into()));
    }

    #[test]
    fn plain_text_is_kept_whole() {
        for text in ["", "plain", "x,y \"z\"", "ünïcode"] {
            assert_eq!(Template::parse(text).unwrap().fill(|_| None).unwrap(), text);
        }
    }
}
