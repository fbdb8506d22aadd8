//! The mask-ROM loader personality.
//!
//! ESP32 ROM: everything of protocol-reference section 2 marked "ROM": FLASH_* (erase up
//! front in FLASH_BEGIN, program each 1 KiB block before replying), FLASH_DEFL_*,
//! SPI_ATTACH, SPI_SET_PARAMS, CHANGE_BAUDRATE, SPI_FLASH_MD5 (hex), READ_FLASH_SLOW.
//! ESP8266 ROM: only SYNC, registers, MEM_*, FLASH_BEGIN/DATA/END — with its erase-size
//! bug. Neither has ERASE_*, READ_FLASH, GET_SECURITY_INFO or RUN_USER_CODE.
//! ESP32-S2 and later ROMs: the ESP32 ROM's commands plus GET_SECURITY_INFO
//! ([`crate::chips::SimChip::security_info`]).

use super::write::{rom_erase_area, WriteError, WriteJob, Writer};
use super::Board;
use flashline_protocol::command::{encode_hex_md5, BeginParams, DataBlock, ReadFlashSlow, Request};
use flashline_protocol::flash::SECTOR_SIZE;
use flashline_protocol::packet::checksum;
use flashline_protocol::packet::CommandPacket;
use flashline_protocol::{RomError, Status};

impl Board {
    pub(crate) fn rom_handle(&mut self, op: u8, req: Request, _pkt: &CommandPacket) {
        let esp32_class = self.chip.spec().rom_is_esp32_class;
        match req {
            Request::Sync => self.handle_sync(op),
            Request::ReadReg(r) => self.handle_read_reg(op, r.addr),
            Request::WriteReg(w) => self.handle_write_reg(op, &w.writes),
            Request::MemBegin(p) => self.handle_mem_begin(op, &p),
            Request::MemData { block, checksum } => self.handle_mem_data(op, &block, checksum),
            Request::MemEnd(m) => self.handle_mem_end(op, &m),
            Request::FlashBegin(p) => {
                // The ESP8266 ROM has no SPI_ATTACH: its FLASH_BEGIN attaches the flash
                // (esptool's `flash_spi_attach` sends an empty FLASH_BEGIN for that).
                if !esp32_class {
                    self.regs.flash_chip.attached = true;
                }
                self.rom_flash_begin(op, &p, false)
            }
            Request::FlashData { block, checksum } => self.rom_flash_data(op, &block, checksum, false),
            Request::FlashEnd { flag } | Request::FlashDeflEnd { flag }
                if esp32_class || op == flashline_protocol::Opcode::FlashEnd as u8 =>
            {
                self.reply_ok(op);
                self.write = None;
                if flag == 0 {
                    self.reboot_to_rom();
                } else {
                    self.run_app();
                }
            }
            Request::FlashDeflBegin(p) if esp32_class => self.rom_flash_begin(op, &p, true),
            Request::FlashDeflData { block, checksum } if esp32_class => {
                self.rom_flash_data(op, &block, checksum, true)
            }
            Request::SpiAttach { .. } if esp32_class => {
                self.regs.flash_chip.attached = true;
                self.reply_ok(op);
            }
            Request::SpiSetParams(_) if esp32_class => self.reply_ok(op),
            Request::ChangeBaudrate(c) if esp32_class => {
                self.reply_ok(op);
                // The host scaled the rate for the ROM's clock; the ROM's real clock undoes it.
                let actual = self.model().rom_baud_from_word(c.new);
                self.set_baud(actual.clamp(300, 5_000_000) as u32);
            }
            Request::SpiFlashMd5(m) if esp32_class => match self.flash_md5(m.addr, m.size) {
                Some(d) => self.reply(op, 0, &encode_hex_md5(&d), Status::Ok),
                None => self.reply_err_rom(op, RomError::FlashRead),
            },
            Request::ReadFlashSlow(r) if esp32_class => self.rom_read_slow(op, r),
            Request::GetSecurityInfo => match self.model().security_info() {
                Some(info) => self.reply(op, 0, &info.to_bytes(), Status::Ok),
                None => self.reply_unsupported(op),
            },
            _ => self.reply_unsupported(op),
        }
    }

    pub(crate) fn set_baud(&mut self, baud: u32) {
        if baud != self.baud {
            self.restart_rx_run();
        }
        self.baud = baud;
        self.regs.baud = baud;
    }

    /// FLASH_BEGIN / FLASH_DEFL_BEGIN: attach flash and erase up front.
    fn rom_flash_begin(&mut self, op: u8, p: &BeginParams, compressed: bool) {
        let start = p.offset / SECTOR_SIZE * SECTOR_SIZE;
        let erase = self.model().rom_erase(p.offset, p.size);
        let len = erase.len;
        let size = self.flash.size() as u64;
        if (start as u64 >= size || (start as u64 + len > size && !erase.clamp_to_flash)) && p.size > 0 {
            self.write = None;
            return self.reply_err_rom(op, RomError::InvalidInput);
        }
        // An over-erase (ESP8266) may run past the end; the erase is clamped to the chip.
        let len = len.min(size) as u32;
        let r = rom_erase_area(start, len, &mut self.ctx());
        self.write = Some(WriteJob::new(Writer::Rom, p.offset, p.size, compressed));
        match r {
            Ok(()) => self.reply_ok(op),
            Err(_) => self.reply_err_rom(op, RomError::FlashWrite),
        }
    }

    /// FLASH_DATA / FLASH_DEFL_DATA: check, program, then reply.
    fn rom_flash_data(&mut self, op: u8, block: &DataBlock, cs: u32, compressed: bool) {
        if checksum(&block.data) as u32 != cs & 0xFF {
            return self.reply_err_rom(op, RomError::Checksum);
        }
        let Some(mut job) = self.write.take() else {
            return self.reply_err_rom(op, RomError::InvalidMessage);
        };
        if job.is_compressed() != compressed {
            self.write = Some(job);
            return self.reply_err_rom(op, RomError::InvalidMessage);
        }
        self.clock.cpu += self.timing.checksum(block.data.len() as u64, false);
        let r = if compressed {
            job.feed_deflate(&block.data, &mut self.ctx())
        } else {
            job.feed_plain(&block.data, &mut self.ctx())
        };
        self.write = Some(job);
        self.clock.cpu += self.timing.rom_block_overhead;
        match r {
            Ok(()) => self.reply_ok(op),
            Err(WriteError::Inflate(_)) => self.reply_err_rom(op, RomError::Deflate),
            Err(WriteError::TooMuchData) => self.reply_err_rom(op, RomError::InvalidInput),
            Err(WriteError::Flash(_)) => self.reply_err_rom(op, RomError::FlashWrite),
        }
    }

    /// READ_FLASH_SLOW: up to 64 bytes; the reply always carries 64.
    fn rom_read_slow(&mut self, op: u8, r: ReadFlashSlow) {
        if r.len > ReadFlashSlow::CHUNK {
            return self.reply_err_rom(op, RomError::FlashReadLength);
        }
        let mut data = match self.flash.read(r.offset, r.len) {
            Ok(d) => d,
            Err(_) => return self.reply_err_rom(op, RomError::FlashRead),
        };
        self.clock.cpu += self.timing.read(ReadFlashSlow::CHUNK as u64, false);
        data.resize(ReadFlashSlow::CHUNK as usize, 0xFF);
        self.reply(op, 0, &data, Status::Ok);
    }
}
