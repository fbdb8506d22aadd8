//! The one error type of the crate.
//!
//! Every variant names the stage it happened in and says what a line operator can do about
//! it; the daemon shows these messages as they are.

use flashline_protocol::{Chip, Opcode, Status};
use std::fmt;
use std::time::Duration;
use thiserror::Error;

/// The step of a flashing run an error or a progress event belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Stage {
    Connect,
    Identify,
    Stub,
    Baud,
    /// Per-device provisioning: the board's serial number and NVS partition are prepared
    /// after identify, and the partition is written and verified after the image.
    Provision,
    Erase,
    Write,
    Verify,
    Read,
    Reset,
    /// The post-flash boot check: the board's console after the final reset.
    Boot,
}

impl Stage {
    pub fn as_str(self) -> &'static str {
        match self {
            Stage::Connect => "connect",
            Stage::Identify => "identify",
            Stage::Stub => "stub",
            Stage::Baud => "baud",
            Stage::Provision => "provision",
            Stage::Erase => "erase",
            Stage::Write => "write",
            Stage::Verify => "verify",
            Stage::Read => "read",
            Stage::Reset => "reset",
            Stage::Boot => "boot",
        }
    }
}

impl fmt::Display for Stage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Everything that can go wrong while talking to a board.
#[derive(Debug, Error)]
pub enum Error {
    // Timeouts scaled by data size are fractional: a tenth of a second reads better in the
    // audit log and the live view than nanoseconds ("6.7s", not "6.710389062s").
    #[error("{stage}: no reply to {command} within {timeout:.1?}: the board stopped answering (unplugged, reset, or the link is too fast for the adapter)")]
    Timeout { stage: Stage, command: &'static str, timeout: Duration },

    #[error("{stage}: the serial port closed: board unplugged or USB hub reset")]
    Disconnected { stage: Stage },

    #[error("{stage}: serial port error: {source}")]
    Io {
        stage: Stage,
        #[source]
        source: std::io::Error,
    },

    #[error("{stage}: {command} was rejected by the chip: {status}{hint}")]
    Chip { stage: Stage, command: Opcode, status: Status, hint: &'static str },

    #[error("{stage}: malformed reply to {command}: {reason}")]
    Protocol { stage: Stage, command: &'static str, reason: String },

    #[error("connect: no answer to SYNC after {attempts} attempts: check the cable and the port, and that the board is powered")]
    NoSync { attempts: u32 },

    /// The message the audit row and the live view show starts with [`STUB_STUCK`].
    #[error("connect: stuck in the flasher stub: power-cycle the board ({frames} frames came back, none an answer to SYNC, also after resynchronising and ending a flash read: a host that vanished left the stub in a command it does not leave)")]
    StubStuck { frames: u32 },

    #[error("connect: board printed a boot log but never entered download mode — is GPIO0 held low / is the auto-reset circuit present? (last output: {log:?})")]
    BootLogNoDownload { attempts: u32, log: String },

    #[error("identify: this board is an {found}, not an {expected}: wrong board on this port or wrong job")]
    WrongChip { expected: Chip, found: Chip },

    /// The board is none of [`crate::FlasherConfig::accept`]'s chips: the session stopped
    /// after identify, before the stub and the baud change. `info` says who the board is
    /// (its flash not probed), for the caller's record.
    #[error("identify: this board is an {}, which this job does not take", .info.chip)]
    NotAccepted { info: Box<crate::ChipInfo> },

    #[error(
        "identify: unknown chip (no known GET_SECURITY_INFO chip id, magic register 0x{magic:08x}): a chip flashline does not support yet (it knows {}), or a damaged one", known_chips()
    )]
    UnknownChip { magic: u32 },

    #[error("identify: {0}")]
    Identify(String),

    #[error("stub: {searched} holds no flasher stub (<chip>.json in esptool's stub format): fix the directory, or remove [flash] stub_dir / --stub-dir / FLASHLINE_STUB_DIR to use the built-in stubs")]
    StubNotFound { searched: String },

    #[error("stub: no flasher stub for {chip} in {from}: add {file}.json there, or remove [flash] stub_dir / --stub-dir / FLASHLINE_STUB_DIR to use the built-in stubs")]
    StubMissingChip { chip: Chip, file: &'static str, from: String },

    #[error("stub: {file} is not a usable stub image: {reason}")]
    StubInvalid { file: String, reason: String },

    #[error("stub: the flasher stub did not start: expected its OHAI greeting, got {got:02x?}")]
    StubNoGreeting { got: Vec<u8> },

    #[error("baud: the link failed at every rate tried ({tried}); use a shorter cable or a lower baud rate")]
    Baud { tried: String },

    #[error("{stage}: {what} is not possible with the {chip} ROM loader; it needs the flasher stub, which this connection runs without (--no-stub)")]
    NeedsStub { stage: Stage, chip: Chip, what: &'static str },

    #[error("{stage}: {reason}")]
    InvalidRequest { stage: Stage, reason: String },

    /// A sector that does not read blank after every erase the session tries
    /// ([`crate::erase`]): the flash no longer erases there.
    #[error("erase: the flash sector at 0x{sector:08x} still does not read blank after {attempts} erases: its cells no longer erase (worn-out or damaged flash chip); reject the board")]
    SectorNotErased { sector: u32, attempts: u32 },

    #[error("verify: flash 0x{offset:08x}..0x{end:08x} does not match the image (chip MD5 {actual}, image MD5 {expected}): bad flash cells or an interrupted write; re-flash or reject the board", end = offset + len)]
    VerifyMismatch { offset: u32, len: u32, expected: String, actual: String },

    #[error("verify: read-back of 0x{offset:08x}..0x{end:08x} differs from the image (SHA-256 {actual}, expected {expected}): bad flash cells; reject the board", end = offset + len)]
    ReadbackMismatch { offset: u32, len: u32, expected: String, actual: String },

    #[error("read: {0}")]
    ReadCorrupt(String),

    #[error("{stage}: cancelled")]
    Cancelled { stage: Stage },

    #[error("{stage}: the board left USB when it was reset (its own USB-Serial/JTAG port) and did not come back within {waited:.1?} ({reason}): check the cable and the hub port, then plug the board in again")]
    NotBack { stage: Stage, waited: Duration, reason: String },
}

impl Error {
    /// The stage the error belongs to.
    pub fn stage(&self) -> Stage {
        match self {
            Error::Timeout { stage, .. }
            | Error::Disconnected { stage }
            | Error::Io { stage, .. }
            | Error::Chip { stage, .. }
            | Error::Protocol { stage, .. }
            | Error::NeedsStub { stage, .. }
            | Error::InvalidRequest { stage, .. }
            | Error::Cancelled { stage }
            | Error::NotBack { stage, .. } => *stage,
            Error::NoSync { .. } | Error::BootLogNoDownload { .. } | Error::StubStuck { .. } => Stage::Connect,
            Error::WrongChip { .. } | Error::NotAccepted { .. } | Error::UnknownChip { .. } | Error::Identify(_) => {
                Stage::Identify
            }
            Error::StubNotFound { .. }
            | Error::StubMissingChip { .. }
            | Error::StubInvalid { .. }
            | Error::StubNoGreeting { .. } => Stage::Stub,
            Error::Baud { .. } => Stage::Baud,
            Error::SectorNotErased { .. } => Stage::Erase,
            Error::VerifyMismatch { .. } | Error::ReadbackMismatch { .. } => Stage::Verify,
            Error::ReadCorrupt(_) => Stage::Read,
        }
    }

    /// True for errors that mean the link to the board is gone (timeouts, closed port):
    /// the daemon treats these as "board lost" rather than "board bad".
    pub fn is_link_loss(&self) -> bool {
        matches!(self, Error::Timeout { .. } | Error::Disconnected { .. } | Error::Io { .. })
    }
}

/// An operator hint for a chip-reported failure.
pub(crate) fn hint_for(status: Status) -> &'static str {
    use flashline_protocol::{RomError, StubError};
    match status {
        Status::Stub(StubError::FailedSpiOp | StubError::FailedSpiUnlock) | Status::Rom(RomError::FlashWrite) => {
            " — the flash chip did not complete the operation; check power, or reject the board"
        }
        Status::Stub(StubError::BadDataChecksum) | Status::Rom(RomError::Checksum) => {
            " — data was corrupted on the link; lower the baud rate or check the cable"
        }
        Status::Stub(StubError::InflateError) | Status::Rom(RomError::Deflate | RomError::DeflateAdler) => {
            " — compressed data was corrupted on the link; lower the baud rate or check the cable"
        }
        _ => "",
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What [`Error::StubStuck`] says first, for outputs that look for it.
pub const STUB_STUCK: &str = "stuck in the flasher stub: power-cycle the board";

/// "esp8266, esp32, …": the chips the session identifies.
fn known_chips() -> String {
    Chip::ALL.map(Chip::file_name).join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use flashline_protocol::StubError;

    #[test]
    fn messages_name_stage_and_cause() {
        let e = Error::Timeout { stage: Stage::Write, command: "FlashDeflData", timeout: Duration::from_secs(3) };
        assert!(e.to_string().starts_with("write: no reply to FlashDeflData within 3.0s:"), "{e}");
        assert_eq!(e.stage(), Stage::Write);
        assert!(e.is_link_loss());

        let e = Error::StubStuck { frames: 3 };
        assert!(e.to_string().starts_with(&format!("connect: {STUB_STUCK} (3 frames")), "{e}");
        assert_eq!(e.stage(), Stage::Connect);

        let e = Error::BootLogNoDownload { attempts: 7, log: "rst:0x1 boot:0x13".into() };
        assert!(e.to_string().contains("is GPIO0 held low"), "{e}");
        assert_eq!(e.stage(), Stage::Connect);

        let st = Status::Stub(StubError::FailedSpiOp);
        let e = Error::Chip { stage: Stage::Write, command: Opcode::FlashDeflData, status: st, hint: hint_for(st) };
        let msg = e.to_string();
        assert!(msg.starts_with("write: FlashDeflData (0x11) was rejected"), "{msg}");
        assert!(msg.contains("failed SPI operation"), "{msg}");
        assert!(msg.contains("reject the board"), "{msg}");

        let e = Error::VerifyMismatch { offset: 0x1000, len: 0x1000, expected: "aa".into(), actual: "bb".into() };
        assert!(e.to_string().contains("0x00001000..0x00002000"), "{e}");
        assert_eq!(e.stage(), Stage::Verify);

        let e = Error::StubNotFound { searched: "x".into() };
        assert!(e.to_string().contains("to use the built-in stubs"), "{e}");
        let e = Error::StubMissingChip { chip: Chip::Esp8266, file: "esp8266", from: "/etc/flashline/stubs".into() };
        assert!(e.to_string().contains("add esp8266.json there"), "{e}");
        let e = Error::UnknownChip { magic: 0x2CE0_806F };
        assert!(e.to_string().contains("0x2ce0806f") && e.to_string().contains("esp32c6, esp32h2, esp32p4"), "{e}");
        let e = Error::InvalidRequest { stage: Stage::Erase, reason: "offset not aligned".into() };
        assert_eq!(e.to_string(), "erase: offset not aligned");
        let e = Error::NotBack { stage: Stage::Connect, waited: Duration::from_secs(5), reason: "no such port".into() };
        assert!(e.to_string().starts_with("connect: the board left USB when it was reset"), "{e}");
        assert!(e.to_string().contains("within 5.0s (no such port)"), "{e}");
        assert_eq!(e.stage(), Stage::Connect);
        assert!(!e.is_link_loss(), "a board that did not come back is this board's failure");
    }
}
