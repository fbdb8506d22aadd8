//! The simulated ESP32: an ESP-WROOM-32 (ESP32-D0WDQ6 revision v1.0) as the protocol
//! reference's register profile describes it (section 10.3), its ROM clock calibration,
//! the new stub's clock boost, and its boot logs.

use super::SimChip;
use crate::board::StubKind;
use crate::boot::ResetCause;
use flashline_protocol::chip::esp32::{self, APB_CTL_DATE, EFUSE_BASE, RTCCALICFG1};
use flashline_protocol::chip::{Mac, StubLayout, Target, CHIP_DETECT_MAGIC_REG};

/// RTC_CNTL_SDIO_CONF (flash voltage).
pub const RTC_SDIO_CONF: u32 = 0x3FF4_8074;
/// GPIO strapping register.
pub const GPIO_STRAP: u32 = 0x3FF4_4038;
/// eFuse word 3 (D0WDQ6, revision bit 0, CPU frequency rated) and word 4 (CK8M 0x31).
const EFUSE_W3: u32 = 0x0000_A000;
const EFUSE_W4: u32 = 0x0000_0531;
/// APB_CTL_DATE of a revision v1 chip (bit 31 clear).
const APB_DATE: u32 = 0x1604_2000;
/// RTCCALICFG1 with the ROM's calibration of its 8 MHz clock (cali 2090).
const RTC_CALI: u32 = 0x0004_1500;
/// The ROM's clock estimate from those two values: esptool scales the requested baud by
/// `rom_freq / 40 MHz`; the ROM's divider, computed from its real clock, undoes that.
const ROM_FREQ_HZ: u64 = 2090 * 15625 * 0x31 / 40;
/// esptool 5.6's legacy stub (stub set 1).
const LEGACY_STUB: StubLayout = StubLayout { entry: 0x400B_E658, text_start: 0x400B_E000 };

/// The simulated ESP32.
#[derive(Debug)]
pub struct Esp32;

impl SimChip for Esp32 {
    fn target(&self) -> &'static dyn Target {
        &esp32::Esp32
    }

    fn default_mac_base(&self) -> Mac {
        Mac([0x24, 0x0a, 0xc4, 0, 0, 0])
    }

    fn power_on_registers(&self, mac: &Mac) -> Vec<(u32, u32)> {
        let spec = self.target().spec();
        let mac_words = self.target().encode_mac(mac);
        let efuse = [0, mac_words[0], mac_words[1], EFUSE_W3, EFUSE_W4, 0, 0];
        let mut regs: Vec<(u32, u32)> =
            efuse.into_iter().enumerate().map(|(i, w)| (EFUSE_BASE + 4 * i as u32, w)).collect();
        regs.extend([
            (CHIP_DETECT_MAGIC_REG, spec.magic.expect("ESP32 has a magic value")),
            (APB_CTL_DATE, APB_DATE),
            (RTCCALICFG1, RTC_CALI),
            (RTC_SDIO_CONF, 0),
            (GPIO_STRAP, 0x0000_0003),
        ]);
        regs
    }

    /// 40 MHz APB.
    fn clkdiv_115200(&self) -> u32 {
        0x15B
    }

    fn new_stub_boosts_clocks(&self) -> bool {
        true
    }

    fn stub_layouts(&self) -> [(StubKind, StubLayout); 2] {
        [(StubKind::Legacy, LEGACY_STUB), (StubKind::New, self.target().spec().stub_v2)]
    }

    fn download_banner(&self, cause: ResetCause) -> Vec<u8> {
        let rst = reset_line(cause);
        format!(
            "ets Jun  8 2016 00:22:57\r\n\r\n{rst},boot:0x3 (DOWNLOAD_BOOT(UART0/UART1/SDIO_REI_REO_V2))\r\nwaiting for download\r\n"
        )
        .into_bytes()
    }

    fn app_banner(&self) -> Vec<u8> {
        b"ets Jun  8 2016 00:22:57\r\n\r\nrst:0x1 (POWERON_RESET),boot:0x13 (SPI_FAST_FLASH_BOOT)\r\nflashline-sim app running\r\n".to_vec()
    }

    fn flash_boot_banner(&self, cause: ResetCause) -> Vec<u8> {
        let rst = reset_line(cause);
        format!("ets Jun  8 2016 00:22:57\r\n\r\n{rst},boot:0x13 (SPI_FAST_FLASH_BOOT)\r\n").into_bytes()
    }

    fn rom_baud_from_word(&self, word: u32) -> u64 {
        (word as u64 * 40_000_000 + ROM_FREQ_HZ / 2) / ROM_FREQ_HZ
    }
}

/// The ESP32 ROM's reset cause, as it prints it: the RTC watchdog it arms for a boot from
/// flash ends a boot that found no bootloader; `software_reset()` is the bootloader's
/// system reset.
fn reset_line(cause: ResetCause) -> &'static str {
    match cause {
        ResetCause::PowerOn => "rst:0x1 (POWERON_RESET)",
        ResetCause::Software => "rst:0xc (SW_CPU_RESET)",
        ResetCause::BootWatchdog => "rst:0x10 (RTCWDT_RTC_RESET)",
        ResetCause::SystemSoftware => "rst:0x3 (SW_RESET)",
    }
}
