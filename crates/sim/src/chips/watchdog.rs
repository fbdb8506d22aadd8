//! The RTC watchdog esptool 5.6 uses for `--after watchdog-reset` on the chips that
//! support it (`WATCHDOG_RESET_SUPPORTED`): it unlocks the write protection, sets a short
//! timeout and enables the watchdog with a system-reset stage through WRITE_REG. The
//! addresses are esptool's (`RTC_CNTL_WDTCONFIG0_REG`, the LP_WDT on ESP32-C5 and P4).

use flashline_protocol::Chip;

/// Bit 31 of WDTCONFIG0: the watchdog runs.
pub const WDT_EN: u32 = 1 << 31;

/// WDTCONFIG0 of the chips esptool resets through the watchdog.
pub fn config0(chip: Chip) -> Option<u32> {
    Some(match chip {
        Chip::Esp32S2 => 0x3F40_8094,
        Chip::Esp32S3 => 0x6000_8098,
        Chip::Esp32C3 => 0x6000_8090,
        Chip::Esp32C2 => 0x6000_8084,
        Chip::Esp32C5 => 0x600B_1C00,
        Chip::Esp32P4 => 0x5011_6000,
        _ => return None,
    })
}
