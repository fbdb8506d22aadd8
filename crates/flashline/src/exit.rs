//! Process exit codes.
//!
//! Service managers and line scripts act on these numbers (systemd's
//! `RestartPreventExitStatus=`, a wrapper that shows "fix the config" on the station
//! screen), so they are part of the interface: never renumber a variant.
//!
//! | code | meaning |
//! |------|---------|
//! | 0 | success |
//! | 1 | runtime failure not covered below |
//! | 2 | usage or configuration error (bad flag, unreadable or invalid config file) |
//! | 3 | golden image error (missing or unreadable file, invalid layout, SHA-256 pin mismatch, wrong chip) |
//! | 4 | audit database error (cannot open, migrate or write the store) |
//! | 5 | device source error (udev monitor cannot start) |
//! | 6 | board error: no answer (not in download mode, not powered), wrong chip, link lost, verify failed |
//! | 7 | serial port error: the port does not exist, is in use, or cannot be opened |
//!
//! The one-off board commands (`info`, `capture`, `flash`, `read`, `erase`) use 2 for a
//! bad argument, 3 for an image that cannot be used on this board (unreadable, invalid
//! layout, larger than the board's flash, bootloader for another chip), 4 when the audit
//! row cannot be written, 6 and 7 for the board and its port, and 1 when an output file
//! cannot be written.

use std::fmt;

/// Why the process ended; `as u8` is the exit status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum Exit {
    Success = 0,
    Failure = 1,
    /// Same number clap uses for usage errors, so both mean "the invocation is wrong".
    Config = 2,
    Image = 3,
    Database = 4,
    Devices = 5,
    /// The board: no answer, wrong chip, link lost, verify failed.
    Board = 6,
    /// The serial port: missing, busy, no permission.
    Port = 7,
}

impl Exit {
    pub const ALL: [Exit; 8] = [
        Exit::Success,
        Exit::Failure,
        Exit::Config,
        Exit::Image,
        Exit::Database,
        Exit::Devices,
        Exit::Board,
        Exit::Port,
    ];

    /// The numeric exit status.
    pub fn code(self) -> u8 {
        self as u8
    }

    /// The variant for an exit status, if it is one of ours.
    pub fn from_code(code: i32) -> Option<Exit> {
        Exit::ALL.into_iter().find(|e| i32::from(e.code()) == code)
    }

    /// One line for logs and `--help`.
    pub fn describe(self) -> &'static str {
        match self {
            Exit::Success => "success",
            Exit::Failure => "runtime failure",
            Exit::Config => "usage or configuration error",
            Exit::Image => "golden image error",
            Exit::Database => "audit database error",
            Exit::Devices => "device source error",
            Exit::Board => "board error (no answer, wrong chip, link lost, verify failed)",
            Exit::Port => "serial port error (missing, busy, no permission)",
        }
    }
}

impl fmt::Display for Exit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.code(), self.describe())
    }
}

impl From<Exit> for std::process::ExitCode {
    fn from(e: Exit) -> Self {
        std::process::ExitCode::from(e.code())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_stable() {
        let codes: Vec<u8> = Exit::ALL.iter().map(|e| e.code()).collect();
        assert_eq!(codes, [0, 1, 2, 3, 4, 5, 6, 7]);
        assert_eq!(Exit::from_code(6), Some(Exit::Board));
        assert_eq!(Exit::from_code(3), Some(Exit::Image));
        assert_eq!(Exit::from_code(42), None);
        assert_eq!(Exit::Config.to_string(), "2 (usage or configuration error)");
    }
}

/// A command or start-up step that failed: the exit code and the one line the operator
/// reads.
#[derive(Debug)]
pub struct Failure {
    pub exit: Exit,
    pub message: String,
}

impl Failure {
    pub fn new(exit: Exit, message: impl fmt::Display) -> Failure {
        Failure { exit, message: message.to_string() }
    }
}
