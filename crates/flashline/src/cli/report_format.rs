//! `--format text|json` of the board commands: text for people (on stderr, next to the
//! progress bar), one JSON object on stdout for scripts. Field spellings are the same in
//! every output: `port`, `chip` (as `--chip` takes it), `mac` (upper case, colons), hex
//! ids as `"0x…"` strings, sizes and offsets in bytes, `seconds` as a number.

use clap::ValueEnum;
use serde::Serialize;

use super::Failure;
use crate::exit::Exit;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, ValueEnum)]
pub enum ReportFormat {
    #[default]
    Text,
    Json,
}

/// Prints `value` as one pretty JSON object on stdout.
pub fn print_json<T: Serialize>(value: &T) -> Result<(), Failure> {
    let text = serde_json::to_string_pretty(value)
        .map_err(|e| Failure::new(Exit::Failure, format!("cannot encode the report: {e}")))?;
    println!("{text}");
    Ok(())
}

/// A MAC as every output spells it: upper case with colons, as the audit log stores it
/// (`24:0A:C4:12:34:56`), so a MAC copied from one output finds the board in another.
pub fn mac(m: &flashline_protocol::chip::Mac) -> String {
    flashline_audit::format_mac(m.0)
}

/// `0x1000`: offsets and ids as the JSON outputs spell them.
pub fn hex(v: u64) -> String {
    format!("0x{v:x}")
}
