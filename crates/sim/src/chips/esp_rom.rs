//! The boot log of the "ESP-ROM" loaders (ESP32-S2 and every later chip): a ROM id line,
//! its build date, the reset cause and boot mode, then either "waiting for download" or
//! the application. One value per chip describes it; the wording of each field comes
//! from real boards' logs.

use crate::boot::ResetCause;

/// What the ROM prints, again and again, while the bootloader slot holds no image
/// (`image`: its first word).
pub fn invalid_header_line(image: u32) -> String {
    format!("invalid header: 0x{image:08x}\r\n")
}

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
    /// Reset cause after the boot watchdog fired (the ROM found no bootloader it could
    /// load): "0x7 (TG0WDT_SYS_RST)".
    pub watchdog_reset: &'static str,
    /// The "Saved PC" line the ROM prints after that watchdog reset, where real boards'
    /// logs show the value (the ROM's retry loop).
    pub watchdog_saved_pc: Option<u32>,
    /// Reset cause after a software system reset (the 2nd-stage bootloader gives up):
    /// "0x3 (RTC_SW_SYS_RST)".
    pub system_reset: &'static str,
}

impl EspRomLog {
    fn header(&self, cause: ResetCause, boot: &str) -> String {
        let rst = match cause {
            ResetCause::PowerOn => "0x1 (POWERON)",
            ResetCause::Software => self.software_reset,
            ResetCause::BootWatchdog => self.watchdog_reset,
            ResetCause::SystemSoftware => self.system_reset,
        };
        let mut text = format!("ESP-ROM:{}\r\nBuild:{}\r\nrst:{rst},boot:{boot}\r\n", self.rom, self.build);
        if let (ResetCause::BootWatchdog, Some(pc)) = (cause, self.watchdog_saved_pc) {
            text += &format!("Saved PC:0x{pc:08x}\r\n");
        }
        text
    }

    /// The log of a reset into download mode.
    pub fn download_banner(&self, cause: ResetCause) -> Vec<u8> {
        (self.header(cause, self.download) + "waiting for download\r\n").into_bytes()
    }

    /// The log of a boot from flash after the RTC watchdog reset the chip: the
    /// application's first line when the bootloader slot starts with the image magic
    /// (0xE9), else the ROM's complaint about the first word (it then retries, printing
    /// the same line, until reset; three are shown).
    pub fn watchdog_boot(&self, image: u32) -> Vec<u8> {
        let mut text = format!(
            "ESP-ROM:{}\r\nBuild:{}\r\nrst:0x10 (RTCWDT_RTC_RST),boot:{}\r\n",
            self.rom, self.build, self.spi_boot
        );
        if image & 0xFF == 0xE9 {
            text += "flashline-sim app running\r\n";
        } else {
            text += &invalid_header_line(image).repeat(3);
        }
        text.into_bytes()
    }

    /// The ROM's log of a boot from flash, up to loading the bootloader.
    pub fn flash_boot(&self, cause: ResetCause) -> Vec<u8> {
        self.header(cause, self.spi_boot).into_bytes()
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
            watchdog_reset: "0x7 (TG0WDT_SYS_RST)",
            watchdog_saved_pc: Some(0x4004_8839),
            system_reset: "0x3 (RTC_SW_SYS_RST)",
        };
        let text = String::from_utf8(log.download_banner(ResetCause::PowerOn)).unwrap();
        assert_eq!(
            text,
            "ESP-ROM:esp32s3-20210327\r\nBuild:Mar 27 2021\r\nrst:0x1 (POWERON),boot:0x0 (DOWNLOAD(USB/UART0))\r\nwaiting for download\r\n"
        );
        let sw = String::from_utf8(log.download_banner(ResetCause::Software)).unwrap();
        assert!(sw.contains("rst:0xc (RTC_SW_CPU_RST),boot:0x0"), "{sw}");
        let wdt = String::from_utf8(log.watchdog_boot(0xFFFF_FFFF)).unwrap();
        assert!(
            wdt.contains("rst:0x10 (RTCWDT_RTC_RST),boot:0x8 (SPI_FAST_FLASH_BOOT)\r\ninvalid header: 0xffffffff\r\n")
        );
        let wdt = String::from_utf8(log.watchdog_boot(0x0000_02E9)).unwrap();
        assert!(wdt.ends_with("\r\nflashline-sim app running\r\n") && !wdt.contains("invalid"), "{wdt}");
        let app = String::from_utf8(log.app_banner()).unwrap();
        assert!(app.contains("boot:0x8 (SPI_FAST_FLASH_BOOT)\r\nflashline-sim app running\r\n"), "{app}");
    }
}
