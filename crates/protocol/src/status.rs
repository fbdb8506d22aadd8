//! Trailing status bytes and the error codes of ROM and stub loaders.
//!
//! ESP8266 ROM and every stub append two status bytes; the ESP32 and later ROMs append
//! four (the last two reserved). On failure a ROM sends `01 <rom code>`, a stub sends
//! `<stub code> 00`. esptool looks only at the two bytes right after the expected data.

use std::fmt;

/// How many status bytes follow the response data, and how failures are encoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum StatusFormat {
    /// ESP8266 ROM: `00 00` or `01 <code>`.
    Rom2,
    /// ESP32 and later ROMs: `00 00 00 00` or `01 <code> 00 00`.
    Rom4,
    /// Any flasher stub: `00 00` or `<code> 00`.
    Stub,
}

impl StatusFormat {
    /// Number of trailing status bytes.
    pub fn len(self) -> usize {
        match self {
            StatusFormat::Rom4 => 4,
            StatusFormat::Rom2 | StatusFormat::Stub => 2,
        }
    }

    /// Always false; a status is never empty. Present for API symmetry with `len`.
    pub fn is_empty(self) -> bool {
        false
    }

    /// Encodes a status for the chip side.
    pub fn encode(self, status: Status) -> Vec<u8> {
        let (a, b) = match (self, status) {
            (_, Status::Ok) => (0, 0),
            (StatusFormat::Stub, Status::Stub(e)) => (e.code(), 0),
            (StatusFormat::Stub, Status::Rom(_)) => (StubError::NotImplemented.code(), 0),
            (_, Status::Rom(e)) => (1, e.code()),
            (_, Status::Stub(_)) => (1, RomError::InvalidMessage.code()),
        };
        let mut v = vec![a, b];
        if self == StatusFormat::Rom4 {
            v.extend_from_slice(&[0, 0]);
        }
        v
    }
}

/// Outcome of one command as reported by the chip.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Status {
    Ok,
    Rom(RomError),
    Stub(StubError),
}

impl Status {
    /// Interprets the two status bytes esptool would look at, given who answered.
    pub fn from_bytes(format: StatusFormat, first: u8, second: u8) -> Status {
        if first == 0 {
            return Status::Ok;
        }
        match format {
            StatusFormat::Stub => Status::Stub(StubError::from_code(first)),
            StatusFormat::Rom2 | StatusFormat::Rom4 => Status::Rom(RomError::from_code(second)),
        }
    }

    pub fn is_ok(self) -> bool {
        self == Status::Ok
    }

    /// True for the answers a loader gives to an opcode it does not implement.
    pub fn is_unsupported(self) -> bool {
        matches!(
            self,
            Status::Rom(RomError::InvalidMessage) | Status::Stub(StubError::NotImplemented | StubError::InvalidCommand)
        )
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Status::Ok => f.write_str("ok"),
            Status::Rom(e) => write!(f, "ROM error 0x{:02x}: {e}", e.code()),
            Status::Stub(e) => write!(f, "stub error 0x{:02x}: {e}", e.code()),
        }
    }
}

macro_rules! error_codes {
    ($(#[$m:meta])* $name:ident { $($variant:ident = $code:literal => $msg:literal,)* }) => {
        $(#[$m])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum $name {
            $($variant,)*
            /// A code this table does not know.
            Other(u8),
        }

        impl $name {
            pub fn from_code(code: u8) -> Self {
                match code {
                    $($code => $name::$variant,)*
                    other => $name::Other(other),
                }
            }

            pub fn code(self) -> u8 {
                match self {
                    $($name::$variant => $code,)*
                    $name::Other(c) => c,
                }
            }

            pub fn message(self) -> &'static str {
                match self {
                    $($name::$variant => $msg,)*
                    $name::Other(_) => "unknown error code",
                }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.message())
            }
        }
    };
}

// The two tables below have the same shape on purpose: they are data (the codes of two
// different firmwares, from the ROM loader's and the flasher stub's sources), generated
// by one macro; merging them would mix codes that mean different things.
error_codes! {
    /// ROM loader error codes (second status byte after `01`).
    RomError {
        Undefined = 0x00 => "undefined error",
        InvalidInput = 0x01 => "input parameter invalid",
        Malloc = 0x02 => "failed to allocate memory",
        SendFailed = 0x03 => "failed to send message",
        RecvFailed = 0x04 => "failed to receive message",
        InvalidMessage = 0x05 => "received message has invalid format (or unsupported command)",
        WrongResult = 0x06 => "message OK but running result wrong",
        Checksum = 0x07 => "checksum error",
        FlashWrite = 0x08 => "flash write error",
        FlashRead = 0x09 => "flash read error",
        FlashReadLength = 0x0A => "flash read length error",
        Deflate = 0x0B => "deflate failed",
        DeflateAdler = 0x0C => "deflate Adler-32 error",
        DeflateParam = 0x0D => "deflate parameter error",
        RamSize = 0x0E => "invalid RAM binary size",
        RamAddress = 0x0F => "invalid RAM binary address",
        InvalidParameter = 0x64 => "invalid parameter",
        InvalidFormat = 0x65 => "invalid format",
        DescriptionTooLong = 0x66 => "description too long",
        BadEncoding = 0x67 => "bad encoding description",
        InsufficientStorage = 0x69 => "insufficient storage",
    }
}

error_codes! {
    /// Flasher stub error codes (first status byte).
    StubError {
        BadDataLen = 0xC0 => "bad data length",
        BadDataChecksum = 0xC1 => "bad data checksum",
        BadBlocksize = 0xC2 => "bad block size",
        InvalidCommand = 0xC3 => "invalid command",
        FailedSpiOp = 0xC4 => "failed SPI operation",
        FailedSpiUnlock = 0xC5 => "failed SPI unlock",
        NotInFlashMode = 0xC6 => "not in flash mode",
        InflateError = 0xC7 => "inflate error",
        NotEnoughData = 0xC8 => "not enough data",
        TooMuchData = 0xC9 => "too much data",
        NandProgram = 0xCA => "NAND program failed",
        NandErase = 0xCB => "NAND erase failed",
        NotImplemented = 0xFF => "command not implemented",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encode_table() {
        let cases: &[(StatusFormat, Status, &[u8])] = &[
            (StatusFormat::Rom4, Status::Ok, &[0, 0, 0, 0]),
            (StatusFormat::Rom2, Status::Ok, &[0, 0]),
            (StatusFormat::Stub, Status::Ok, &[0, 0]),
            (StatusFormat::Rom4, Status::Rom(RomError::InvalidMessage), &[1, 5, 0, 0]),
            (StatusFormat::Rom2, Status::Rom(RomError::Checksum), &[1, 7]),
            (StatusFormat::Stub, Status::Stub(StubError::BadDataChecksum), &[0xC1, 0]),
            (StatusFormat::Stub, Status::Stub(StubError::NotImplemented), &[0xFF, 0]),
        ];
        for (fmt, st, bytes) in cases {
            assert_eq!(&fmt.encode(*st)[..], *bytes, "{fmt:?} {st:?}");
            assert_eq!(Status::from_bytes(*fmt, bytes[0], bytes[1]), *st);
        }
    }

    #[test]
    fn codes_round_trip() {
        for c in 0..=255u8 {
            assert_eq!(RomError::from_code(c).code(), c);
            assert_eq!(StubError::from_code(c).code(), c);
        }
        assert!(Status::Rom(RomError::InvalidMessage).is_unsupported());
        assert!(Status::Stub(StubError::NotImplemented).is_unsupported());
        assert!(!Status::Stub(StubError::BadDataChecksum).is_unsupported());
    }
}
