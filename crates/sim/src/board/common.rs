//! Commands both loaders implement the same way: SYNC, READ_REG, WRITE_REG, MEM_*,
//! SPI_FLASH_MD5.

use super::{Board, MemJob, Mode, StubKind};
use flashline_protocol::command::{BeginParams, DataBlock, MemEnd, RegWrite};
use flashline_protocol::packet::checksum;
use flashline_protocol::{RomError, Status, StubError};
use md5::{Digest, Md5};
use std::time::Duration;

/// Value the ROM leaves in SYNC replies (non-zero tells esptool "ROM, upload the stub").
pub const ROM_SYNC_VALUE: u32 = 0x2012_0707;

/// The stub's greeting after MEM_END.
pub const OHAI: &[u8] = b"OHAI";

impl Board {
    /// SYNC: eight identical replies; ROM value 0x20120707, stub 0.
    pub(crate) fn handle_sync(&mut self, op: u8) {
        self.stats.syncs += 1;
        if self.mode == Mode::Rom {
            // ROM auto-baud on the SYNC pattern.
            let b = self.host_baud();
            self.set_baud(b);
        }
        let value = if matches!(self.mode, Mode::Stub(_)) { 0 } else { ROM_SYNC_VALUE };
        for _ in 0..8 {
            self.reply(op, value, &[], Status::Ok);
        }
    }

    pub(crate) fn handle_read_reg(&mut self, op: u8, addr: u32) {
        let v = self.regs.read(addr);
        self.reply(op, v, &[], Status::Ok);
    }

    pub(crate) fn handle_write_reg(&mut self, op: u8, writes: &[RegWrite]) {
        for w in writes {
            // The delay carrier: the loader waits delay_us (the new stub before writing).
            self.clock.cpu += Duration::from_micros(w.delay_us as u64).min(Duration::from_secs(1));
            self.regs.write(w.addr, w.value, w.mask, &mut self.flash);
            self.watch_watchdog(w.addr);
        }
        self.reply_ok(op);
    }

    pub(crate) fn handle_mem_begin(&mut self, op: u8, p: &BeginParams) {
        let hint = StubKind::from_load_addr(self.chip, p.offset).or(self.mem.as_ref().and_then(|m| m.hint));
        self.mem = Some(MemJob { remaining: p.size, hint });
        self.reply_ok(op);
    }

    pub(crate) fn handle_mem_data(&mut self, op: u8, block: &DataBlock, cs: u32) {
        let stub = matches!(self.mode, Mode::Stub(_));
        if checksum(&block.data) as u32 != cs & 0xFF {
            return if stub {
                self.reply_err_stub(op, StubError::BadDataChecksum)
            } else {
                self.reply_err_rom(op, RomError::Checksum)
            };
        }
        let Some(m) = self.mem.as_mut() else {
            return if stub {
                self.reply_err_stub(op, StubError::NotInFlashMode)
            } else {
                self.reply_err_rom(op, RomError::InvalidMessage)
            };
        };
        m.remaining = m.remaining.saturating_sub(block.data.len() as u32);
        self.reply_ok(op);
    }

    /// MEM_END(0, entry) starts the uploaded code: the MEM_END reply first, then `OHAI` as
    /// its own frame. A running stub does the same (both stubs jump to the entry point
    /// after replying), so a stub uploaded over a running stub starts afresh and greets
    /// again — clients that always upload the stub (espflash) rely on it.
    pub(crate) fn handle_mem_end(&mut self, op: u8, m: &MemEnd) {
        self.reply_ok(op);
        if m.flag != 0 || !matches!(self.mode, Mode::Rom | Mode::Stub(_)) {
            return;
        }
        let kind = StubKind::from_entry(self.chip, m.entry).or(self.mem.as_ref().and_then(|j| j.hint));
        self.mem = None;
        // Whatever ran is gone: no write, read or deferred error survives the jump.
        self.write = None;
        self.read = None;
        self.pending_error = None;
        let Some(kind) = kind else {
            // Code that is not a stub of this chip (another chip's, or one linked for another
            // revision's RAM): it does not greet, and the chip ignores the host until reset.
            self.mode = Mode::App;
            return;
        };
        self.stats.stub_starts += 1;
        self.mode = Mode::Stub(kind);
        // Both stubs attach the flash as they start.
        self.regs.flash_chip.attached = true;
        // The new stub boosts the clocks of some chips (ESP32: CPU 160 MHz, APB 80 MHz).
        self.regs.boosted = kind == StubKind::New && self.model().new_stub_boosts_clocks();
        self.clock.cpu += self.timing.stub_start;
        let at = self.clock.cpu;
        self.send_frame(at, OHAI);
    }

    /// MD5 over `[addr, addr + size)`: ROM answers 32 lowercase hex digits, stubs 16 raw
    /// bytes. `None` when the range is outside the flash.
    pub(crate) fn flash_md5(&mut self, addr: u32, size: u32) -> Option<[u8; 16]> {
        let boosted = self.regs.boosted;
        let data = self.flash.read(addr, size).ok()?;
        // The ROM's `esp_rom_spiflash_read` waits for the flash to be idle first: an erase a
        // data block started ahead, or one an ERASE_REGION left running, delays the hash.
        self.clock.wait_flash();
        self.clock.cpu += self.timing.read(size as u64, boosted) + self.timing.md5(size as u64, boosted);
        self.after_md5();
        Some(Md5::digest(&data).into())
    }

    /// Applies the `flash-changes` faults due after this MD5 (the digest already read the
    /// flash as it was).
    fn after_md5(&mut self) {
        self.faults.md5s += 1;
        let due: Vec<(u32, u32)> =
            self.faults.flash_changes.iter().filter(|c| c.2 == self.faults.md5s).map(|c| (c.0, c.1)).collect();
        for (addr, len) in due {
            let len = len.min(self.flash.size().saturating_sub(addr));
            if let Ok(old) = self.flash.peek(addr, len) {
                let new: Vec<u8> = old.iter().map(|b| !b).collect();
                let _ = self.flash.write_raw(addr, &new);
            }
        }
    }
}
