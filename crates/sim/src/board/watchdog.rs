//! The RTC watchdog as esptool's `--after watchdog-reset` uses it: enabled through
//! WRITE_REG, it fires after its (short) timeout and resets the whole chip. The straps
//! are as the host left them (IO0 high), so the ROM boots from flash and prints its log
//! — "invalid header", again and again, when the bootloader slot was erased.

use super::{Board, Mode};
use crate::chips::{invalid_header_line, WDT_EN};
use std::time::Duration;

/// Time from enabling to the reset: esptool sets 2000 RTC slow-clock cycles (about 13 ms
/// at 150 kHz) and keeps talking meanwhile (it locks the registers again).
const TIMEOUT: Duration = Duration::from_millis(15);

/// First byte of an application image.
const IMAGE_MAGIC: u32 = 0xE9;

/// Pause between two boot attempts of the ROM's boot loop (a port opened later still
/// sees the complaint).
const BOOT_LOOP_PERIOD: Duration = Duration::from_millis(100);

impl Board {
    /// After a register write: the watchdog was enabled (it runs until it fires).
    pub(crate) fn watch_watchdog(&mut self, addr: u32) {
        if self.model().rtc_wdt_config0() == Some(addr) && self.regs.read(addr) & WDT_EN != 0 {
            self.watchdog_at.get_or_insert(self.clock.cpu + TIMEOUT);
        }
    }

    /// Timer work: the watchdog fires.
    pub(crate) fn poll_watchdog(&mut self, now: Duration) {
        let Some(at) = self.watchdog_at else { return };
        if now < at || self.mode == Mode::Dead {
            return;
        }
        let offset = self.chip.spec().bootloader_offset;
        let image = self.flash.peek(offset, 4).map_or(0xFFFF_FFFF, |w| u32::from_le_bytes([w[0], w[1], w[2], w[3]]));
        let log = self.model().watchdog_boot_log(image);
        self.boot_with(at, false, crate::boot::ResetCause::PowerOn, Some(log));
        if image & 0xFF != IMAGE_MAGIC && self.mode == Mode::App {
            self.boot_loop = Some((self.tx_free + BOOT_LOOP_PERIOD, invalid_header_line(image).into_bytes()));
        }
    }

    /// Timer work: the ROM retries the boot and complains again (until a reset).
    pub(crate) fn poll_boot_loop(&mut self, now: Duration) {
        let Some((at, line)) = self.boot_loop.take() else { return };
        if now < at || self.mode != Mode::App {
            self.boot_loop = (self.mode == Mode::App).then_some((at, line));
            return;
        }
        let baud = self.model().banner_baud();
        self.send_raw_at_baud(at, line.clone(), baud);
        self.boot_loop = Some((self.tx_free + BOOT_LOOP_PERIOD, line));
    }
}
