//! Why a chip boots, what its boot log looks like at the wrong baud, and the classic
//! auto-reset circuit. What each chip prints is in its module ([`crate::chips`]).

/// Why the chip (re)started.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResetCause {
    /// EN released by the host's reset circuit.
    PowerOn,
    /// Software reset (stub FLASH_END(0), the application's `esp_restart`).
    Software,
    /// The watchdog the ROM arms for a boot from flash fired: the ROM could not load the
    /// bootloader and kept retrying until it did.
    BootWatchdog,
    /// A software reset of the whole system: the ESP-IDF 2nd-stage bootloader's
    /// `bootloader_reset()` (`esp_rom_software_reset_system`) after it found no app it
    /// can boot.
    SystemSoftware,
}

/// A boot log as the host sees it when its UART runs at another baud: deterministic
/// garbage (high bytes, no recognisable text) of the banner's length.
pub fn garbled(text: &[u8], seed: u32) -> Vec<u8> {
    let mut x = seed.wrapping_mul(2_654_435_761).wrapping_add(1);
    text.iter()
        .map(|&b| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            (b ^ x as u8) | 0x80
        })
        .collect()
}

/// State of EN and IO0 behind the usual two-transistor auto-reset circuit.
/// pyserial convention: `true` = asserted = line low.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Straps {
    pub en_low: bool,
    pub io0_low: bool,
}

impl Straps {
    pub fn from_lines(dtr: bool, rts: bool) -> Self {
        Self { en_low: rts && !dtr, io0_low: dtr && !rts }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn auto_reset_truth_table() {
        assert_eq!(Straps::from_lines(false, false), Straps { en_low: false, io0_low: false });
        assert_eq!(Straps::from_lines(true, true), Straps { en_low: false, io0_low: false });
        assert_eq!(Straps::from_lines(false, true), Straps { en_low: true, io0_low: false });
        assert_eq!(Straps::from_lines(true, false), Straps { en_low: false, io0_low: true });
    }

    #[test]
    fn garbled_banner_keeps_length_and_no_text() {
        let b = "ets Jun  8 2016 00:22:57\r\n\r\nrst:0x1 (POWERON_RESET),boot:0x3\r\nwaiting for download\r\n";
        let g = garbled(b.as_bytes(), 1);
        assert_eq!(g.len(), b.len());
        assert!(g.iter().all(|&x| x >= 0x80));
    }
}
