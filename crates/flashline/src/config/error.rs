//! Config errors that point at the file, line, column and key an operator has to fix.
//!
//! Keys, values and file names in these messages come from the file (or the command
//! line), so every one of them is shown through [`Escaped`]: a slot name holding `\e[31m`
//! is printed as `\x1b[31m`, not sent to the operator's terminal.

use std::ops::Range;
use std::path::{Path, PathBuf};

use crate::exit::Exit;
use crate::input_file::ReadError;
use crate::text::{escaped_path, Escaped};

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file {}: {source}", escaped_path(file))]
    Read { file: PathBuf, source: ReadError },

    /// Syntax, type, unknown-key and validation errors alike.
    #[error("{}:{line}:{column}: {}{}", escaped_path(file), Escaped(key_prefix(key)), Escaped(message))]
    Invalid { file: PathBuf, line: usize, column: usize, key: String, message: String },

    #[error(
        "{}: {} changed from {} to {}; this cannot change on reload, restart flashline to apply it \
         (the running configuration stays in force)",
        escaped_path(file),
        Escaped(key),
        Escaped(old),
        Escaped(new)
    )]
    RestartRequired { file: PathBuf, key: String, old: String, new: String },
}

fn key_prefix(key: &str) -> String {
    if key.is_empty() {
        String::new()
    } else {
        format!("{key}: ")
    }
}

impl ConfigError {
    /// Every config problem ends the process with the usage/config status.
    pub fn exit_code(&self) -> Exit {
        Exit::Config
    }

    /// An error at byte `span` of `text` (the file `file`), about `key`.
    pub(crate) fn at(
        file: &Path,
        text: &str,
        span: Option<Range<usize>>,
        key: &str,
        message: impl Into<String>,
    ) -> Self {
        let (line, column) = line_col(text, span.map_or(0, |s| s.start));
        ConfigError::Invalid { file: file.to_path_buf(), line, column, key: key.to_string(), message: message.into() }
    }
}

/// 1-based line and column (in characters) of byte `offset` in `text`.
pub fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let mut offset = offset.min(text.len());
    while !text.is_char_boundary(offset) {
        offset -= 1;
    }
    let before = &text[..offset];
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, column)
}

/// Turns serde's path (`flash.baud`, `slots.A2`) into the way an operator reads the file:
/// `[flash] baud`, `[slots] A2`, `station`.
pub(crate) fn display_key(path: &str) -> String {
    let cleaned: Vec<&str> = path.split('.').filter(|p| !p.is_empty() && !p.starts_with("$__serde_spanned")).collect();
    match cleaned.as_slice() {
        [] => String::new(),
        [key] if !TABLES.contains(key) => (*key).to_string(),
        [table] => format!("[{table}]"),
        [table, rest @ ..] => format!("[{table}] {}", rest.join(".")),
    }
}

/// Top-level keys that are tables (so a lone path element means the table itself).
const TABLES: &[&str] = &["image", "flash", "devices", "slots", "log", "boot"];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_and_keys() {
        let text = "a = 1\nbé = 2\nc = 3";
        assert_eq!(line_col(text, 0), (1, 1));
        assert_eq!(line_col(text, 6), (2, 1));
        assert_eq!(line_col(text, 11), (2, 5), "columns count characters, not bytes");
        assert_eq!(line_col(text, 999), (3, 6));
        assert_eq!(display_key("flash.baud"), "[flash] baud");
        assert_eq!(display_key("slots.A2.$__serde_spanned_private_value"), "[slots] A2");
        assert_eq!(display_key("station"), "station");
        assert_eq!(display_key("image"), "[image]");
        assert_eq!(display_key("."), "");
        assert_eq!(display_key("flash.baud_fallback[1]"), "[flash] baud_fallback[1]");
    }
}
