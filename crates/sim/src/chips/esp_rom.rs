//! The boot log of the "ESP-ROM" loaders (ESP32-S2 and every later chip): a ROM id line,
//! its build date, the reset cause and boot mode, then either "waiting for download" or
//! the application. One value per chip describes it; the wording of each field comes
//! from real boards' logs.

use crate::boot::ResetCause;

/// What one chip's ROM prints at boot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EspRomLog {
    /// "esp32s3-20210327" (printed after "ESP-ROM:").
    pub rom: &'static str,
    /// "Mar 27 2021" (printed after "Build:").
    pub build: &'static str,
    /// Boot mode of a download boot: "0x0 (DOWNLOAD(USB/UART0))".
    pub download: &'static str,
    /// Boot mode of a normal boot: "0x8 (SPI_FAST_FLASH_BOOT)".
    pub spi_boot: &'static str,
    /// Reset cause after a software reset: "0xc (RTC_SW_CPU_RST)".
    pub software_reset: &'static str,
}

impl EspRomLog {
    fn header(&self, cause: ResetCause, boot: &str) -> String {
        let rst = match cause {
            ResetCause::PowerOn => "0x1 (POWERON)",
            ResetCause::Software => self.software_reset,
        };
        format!("ESP-ROM:{}\r\nBuild:{}\r\nrst:{rst},boot:{boot}\r\n", self.rom, self.build)
    }

    /// The log of a reset into download mode.
    pub fn download_banner(&self, cause: ResetCause) -> Vec<u8> {
        (self.header(cause, self.download) + "waiting for download\r\n").into_bytes()
    }

    /// The log of a power-on boot from flash, followed by the application's first line.
    pub fn app_banner(&self) -> Vec<u8> {
        (self.header(ResetCause::PowerOn, self.spi_boot) + "flashline-sim app running\r\n").into_bytes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn esp32s3_log_as_a_real_board_prints_it() {
        let log = EspRomLog {
            rom: "esp32s3-20210327",
            build: "Mar 27 2021",
            download: "0x0 (DOWNLOAD(USB/UART0))",
            spi_boot: "0x8 (SPI_FAST_FLASH_BOOT)",
            software_reset: "0xc (RTC_SW_CPU_RST)",
        };
        let text = String::from_utf8(log.download_banner(ResetCause::PowerOn)).unwrap();
        assert_eq!(
            text,
            "ESP-ROM:esp32s3-20210327\r\nBuild:Mar 27 2021\r\nrst:0x1 (POWERON),boot:0x0 (DOWNLOAD(USB/UART0))\r\nwaiting for download\r\n"
        );
        let sw = String::from_utf8(log.download_banner(ResetCause::Software)).unwrap();
        assert!(sw.contains("rst:0xc (RTC_SW_CPU_RST),boot:0x0"), "{sw}");
        let app = String::from_utf8(log.app_banner()).unwrap();
        assert!(app.contains("boot:0x8 (SPI_FAST_FLASH_BOOT)\r\nflashline-sim app running\r\n"), "{app}");
    }
}
