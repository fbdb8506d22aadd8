//! What a chip prints when it boots, and the classic auto-reset circuit.

use flashline_protocol::Chip;

/// Baud the ROM prints its boot log at (ESP8266: 26 MHz crystal → 74880).
pub fn banner_baud(chip: Chip) -> u32 {
    match chip {
        Chip::Esp8266 => 74_880,
        _ => 115_200,
    }
}

/// Why the chip (re)started.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResetCause {
    /// EN released by the host's reset circuit.
    PowerOn,
    /// Software reset (stub FLASH_END(0)).
    Software,
}

/// ROM boot log of a reset into download mode.
pub fn download_banner(chip: Chip, cause: ResetCause) -> Vec<u8> {
    match chip {
        Chip::Esp8266 => {
            let c = if cause == ResetCause::PowerOn { 2 } else { 4 };
            format!("\r\n ets Jan  8 2013,rst cause:{c}, boot mode:(1,7)\r\n\r\n").into_bytes()
        }
        _ => {
            let rst = match cause {
                ResetCause::PowerOn => "rst:0x1 (POWERON_RESET)",
                ResetCause::Software => "rst:0xc (SW_CPU_RESET)",
            };
            format!(
                "ets Jun  8 2016 00:22:57\r\n\r\n{rst},boot:0x3 (DOWNLOAD_BOOT(UART0/UART1/SDIO_REI_REO_V2))\r\nwaiting for download\r\n"
            )
            .into_bytes()
        }
    }
}

/// Boot log of a normal (SPI flash) boot followed by the application's first line.
pub fn app_banner(chip: Chip) -> Vec<u8> {
    match chip {
        Chip::Esp8266 => b"\r\n ets Jan  8 2013,rst cause:2, boot mode:(3,7)\r\n\r\nflashline-sim app running\r\n".to_vec(),
        _ => b"ets Jun  8 2016 00:22:57\r\n\r\nrst:0x1 (POWERON_RESET),boot:0x13 (SPI_FAST_FLASH_BOOT)\r\nflashline-sim app running\r\n".to_vec(),
    }
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
    fn banners_mention_download_mode() {
        let b = String::from_utf8(download_banner(Chip::Esp32, ResetCause::PowerOn)).unwrap();
        assert!(b.contains("boot:0x3") && b.contains("waiting for download"));
        let g = garbled(b.as_bytes(), 1);
        assert_eq!(g.len(), b.len());
        assert!(g.iter().all(|&x| x >= 0x80));
    }
}
