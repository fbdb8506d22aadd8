//! How serial numbers look: `[provision] serial = { prefix = "FL-", start = 1000, width = 6 }`.
//!
//! The number is allocated per MAC by the audit store (the same board keeps its number);
//! this module only turns a number into the printed serial and checks the format, so an
//! impossible one (a start that does not fit the width, a prefix with control characters)
//! stops the station at start-up rather than at the first board.

use crate::text::needs_escape;

/// Longest prefix: serials go into NVS strings, labels and audit rows.
pub const MAX_PREFIX: usize = 32;
/// Widest number (u64 has 20 digits).
pub const MAX_WIDTH: usize = 20;

/// A validated serial number format.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SerialFormat {
    prefix: String,
    start: u64,
    width: usize,
}

/// Why a serial format was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SerialFormatError {
    #[error("prefix is longer than {MAX_PREFIX} characters")]
    PrefixTooLong,
    #[error("prefix holds a control character, a space or a quote; use letters, digits and - _ . /")]
    PrefixNotPrintable,
    #[error("width {0} is out of range (1 to {MAX_WIDTH} digits)")]
    Width(usize),
    #[error("start {start} has more than {width} digits")]
    StartTooWide { start: u64, width: usize },
}

impl SerialFormat {
    pub fn new(prefix: &str, start: u64, width: usize) -> Result<SerialFormat, SerialFormatError> {
        if prefix.chars().count() > MAX_PREFIX {
            return Err(SerialFormatError::PrefixTooLong);
        }
        if prefix.chars().any(|c| needs_escape(c) || c.is_whitespace() || c == '"' || c == '\'') {
            return Err(SerialFormatError::PrefixNotPrintable);
        }
        if !(1..=MAX_WIDTH).contains(&width) {
            return Err(SerialFormatError::Width(width));
        }
        if digits(start) > width {
            return Err(SerialFormatError::StartTooWide { start, width });
        }
        Ok(SerialFormat { prefix: prefix.to_owned(), start, width })
    }

    /// The first number handed out.
    pub fn start(&self) -> u64 {
        self.start
    }

    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// The largest number that keeps the width (numbers beyond it print wider).
    pub fn last_in_width(&self) -> u64 {
        if self.width >= MAX_WIDTH {
            u64::MAX
        } else {
            10u64.pow(self.width as u32) - 1
        }
    }

    /// The printed serial of `number`: prefix + number zero-padded to the width.
    pub fn format(&self, number: u64) -> String {
        format!("{}{:0width$}", self.prefix, number, width = self.width)
    }

    /// The longest serial this format prints while numbers fit the width (what start-up
    /// checks size NVS values with).
    pub fn longest(&self) -> String {
        self.format(self.last_in_width())
    }
}

fn digits(n: u64) -> usize {
    n.checked_ilog10().map_or(1, |d| d as usize + 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_with_padding() {
        let f = SerialFormat::new("FL-", 1000, 6).unwrap();
        assert_eq!(f.format(1000), "FL-001000");
        assert_eq!(f.format(1_234_567), "FL-1234567");
        assert_eq!(f.longest(), "FL-999999");
        assert_eq!(SerialFormat::new("", 0, 1).unwrap().format(0), "0");
        assert_eq!(SerialFormat::new("X", 0, 20).unwrap().longest(), format!("X{}", u64::MAX));
    }

    #[test]
    fn refusals() {
        assert_eq!(
            SerialFormat::new("FL-", 1_000_000, 6),
            Err(SerialFormatError::StartTooWide { start: 1_000_000, width: 6 })
        );
        assert_eq!(SerialFormat::new("FL-", 0, 0), Err(SerialFormatError::Width(0)));
        assert_eq!(SerialFormat::new("FL-", 0, 21), Err(SerialFormatError::Width(21)));
        assert_eq!(SerialFormat::new("A\u{1b}[31m", 0, 4), Err(SerialFormatError::PrefixNotPrintable));
        assert_eq!(SerialFormat::new("A B", 0, 4), Err(SerialFormatError::PrefixNotPrintable));
        assert_eq!(SerialFormat::new(&"x".repeat(33), 0, 4), Err(SerialFormatError::PrefixTooLong));
    }

    #[test]
    fn digits_counts() {
        for (n, d) in [(0, 1), (9, 1), (10, 2), (999_999, 6), (u64::MAX, 20)] {
            assert_eq!(digits(n), d, "{n}");
        }
    }
}
