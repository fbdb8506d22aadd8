//! The flasher-stub personality (legacy and new stub).
//!
//! Data blocks are acknowledged right after the length and checksum checks; the flash work
//! (inflate, just-in-time erase, program) runs after the reply, so the CPU is busy with it
//! while the host sends the next block. The next command is only taken up when that work
//! is done — which is when its reply can go out. Errors of that work are reported in the
//! next reply, and that command is not executed.

use super::read::ReadJob;
use super::write::{erase_region, WriteError, WriteJob, Writer};
use super::{Board, StubKind};
use flashline_protocol::command::{BeginParams, DataBlock, ReadFlash, Request};
use flashline_protocol::flash::{SECTOR_SIZE, STUB_WRITE_BLOCK};
use flashline_protocol::packet::checksum;
use flashline_protocol::packet::CommandPacket;
use flashline_protocol::{Status, StubError};

impl StubKind {
    fn writer(self) -> Writer {
        match self {
            StubKind::Legacy => Writer::LegacyStub,
            StubKind::New => Writer::NewStub,
        }
    }
}

fn write_error_code(e: &WriteError) -> StubError {
    match e {
        WriteError::TooMuchData => StubError::TooMuchData,
        WriteError::Inflate(_) => StubError::InflateError,
        WriteError::Flash(_) => StubError::FailedSpiOp,
    }
}

impl Board {
    pub(crate) fn stub_handle(&mut self, kind: StubKind, op: u8, req: Request, _pkt: &CommandPacket) {
        if let Some(e) = self.pending_error.take() {
            return self.reply_err_stub(op, e);
        }
        match req {
            Request::Sync => self.handle_sync(op),
            Request::ReadReg(r) => self.handle_read_reg(op, r.addr),
            Request::WriteReg(w) => self.handle_write_reg(op, &w.writes),
            Request::MemBegin(p) => self.handle_mem_begin(op, &p),
            Request::MemData { block, checksum } => self.handle_mem_data(op, &block, checksum),
            Request::MemEnd(m) => self.handle_mem_end(op, &m),
            Request::FlashBegin(p) => self.stub_flash_begin(kind, op, &p, false),
            Request::FlashDeflBegin(p) => self.stub_flash_begin(kind, op, &p, true),
            Request::FlashData { block, checksum } => self.stub_flash_data(op, &block, checksum, false),
            Request::FlashDeflData { block, checksum } => self.stub_flash_data(op, &block, checksum, true),
            Request::FlashEnd { flag } | Request::FlashDeflEnd { flag } => self.stub_flash_end(op, flag),
            Request::SpiAttach { .. } | Request::SpiSetParams(_) => self.reply_ok(op),
            Request::ChangeBaudrate(c) => {
                // Reply at the old rate, then reprogram the UART.
                self.reply_ok(op);
                if c.new > 0 {
                    self.set_baud(c.new);
                }
            }
            Request::SpiFlashMd5(m) => match self.flash_md5(m.addr, m.size) {
                Some(d) => self.reply(op, 0, &d, Status::Ok),
                None => self.reply_err_stub(op, StubError::FailedSpiOp),
            },
            Request::ReadFlash(r) => self.stub_read_flash(kind, op, r),
            Request::EraseFlash => {
                let dirty = self.flash.erase_chip();
                self.clock.wait_flash();
                self.clock.cpu += self.timing.chip_erase(self.flash.size(), dirty);
                self.clock.flash = self.clock.cpu;
                self.reply_ok(op);
            }
            Request::EraseRegion(r) => {
                if !r.offset.is_multiple_of(SECTOR_SIZE) || !r.size.is_multiple_of(SECTOR_SIZE) {
                    return self.reply_err_stub(op, StubError::BadDataLen);
                }
                match erase_region(kind.writer(), r.offset, r.size, &mut self.ctx()) {
                    Ok(()) => self.reply_ok(op),
                    Err(_) => self.reply_err_stub(op, StubError::FailedSpiOp),
                }
            }
            // Both stubs pass the ROM's answer on (they call the ROM's routine); on ESP32 and
            // ESP8266, whose ROMs have none, they answer "not implemented".
            Request::GetSecurityInfo => match self.model().security_info() {
                Some(info) => self.reply(op, 0, &info.to_bytes(), Status::Ok),
                None => self.reply_err_stub(op, StubError::NotImplemented),
            },
            // Some chips' stubs (ESP8266) jump to the application without replying.
            Request::RunUserCode if self.model().stub_run_user_code_silent() => self.run_app(),
            _ => self.reply_unsupported(op),
        }
    }

    fn stub_flash_begin(&mut self, kind: StubKind, op: u8, p: &BeginParams, compressed: bool) {
        if kind == StubKind::Legacy && p.block_size > STUB_WRITE_BLOCK {
            return self.reply_err_stub(op, StubError::BadBlocksize);
        }
        let mut job = WriteJob::new(kind.writer(), p.offset, p.size, compressed);
        if kind == StubKind::New && p.size > 0 {
            // The new stub starts the first (conditional) erase right away.
            if let Err(e) = job.start_next_erase(&mut self.ctx()) {
                self.pending_error = Some(write_error_code(&e.into()));
            }
        }
        self.write = Some(job);
        self.reply_ok(op);
    }

    fn stub_flash_data(&mut self, op: u8, block: &DataBlock, cs: u32, compressed: bool) {
        let boosted = self.regs.boosted;
        self.clock.cpu += self.timing.checksum(block.data.len() as u64, boosted);
        if checksum(&block.data) as u32 != cs & 0xFF {
            return self.reply_err_stub(op, StubError::BadDataChecksum);
        }
        let Some(mut job) = self.write.take() else {
            return self.reply_err_stub(op, StubError::NotInFlashMode);
        };
        if job.is_compressed() != compressed {
            self.write = Some(job);
            return self.reply_err_stub(op, StubError::NotInFlashMode);
        }
        // Ack first; the work happens after the reply has gone out.
        self.reply_ok(op);
        let r = if compressed {
            job.feed_deflate(&block.data, &mut self.ctx())
        } else {
            job.feed_plain(&block.data, &mut self.ctx())
        };
        self.write = Some(job);
        if let Err(e) = r {
            self.pending_error = Some(write_error_code(&e));
        }
    }

    fn stub_flash_end(&mut self, op: u8, flag: u32) {
        let Some(job) = self.write.take() else {
            return self.reply_err_stub(op, StubError::NotInFlashMode);
        };
        if job.remaining > 0 {
            self.reply_err_stub(op, StubError::NotEnoughData);
        } else {
            self.reply_ok(op);
        }
        if flag == 0 {
            // The stub reboots the chip back into the ROM loader.
            self.reboot_to_rom();
        }
    }

    fn stub_read_flash(&mut self, kind: StubKind, op: u8, r: ReadFlash) {
        let end = r.offset as u64 + r.len as u64;
        if r.packet_size == 0 || r.packet_size > 0x4000 {
            return self.reply_err_stub(op, StubError::BadDataLen);
        }
        if end > self.flash.size() as u64 {
            return self.reply_err_stub(op, StubError::FailedSpiOp);
        }
        self.reply_ok(op);
        // Legacy: counts bytes in flight against max_in_flight (esptool passes 64, so one
        // packet at a time); new stub: one packet, hard-coded.
        let limit = match kind {
            StubKind::Legacy => r.max_in_flight.max(1),
            StubKind::New => 1,
        };
        self.read = Some(ReadJob::new(r.offset, r.len, r.packet_size, limit, kind == StubKind::New));
        self.pump_read();
    }
}
