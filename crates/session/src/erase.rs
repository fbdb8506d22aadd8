//! Erasing flash: the stub has ERASE_FLASH / ERASE_REGION; a ROM erases through
//! FLASH_BEGIN (region only).
//!
//! # ERASE_REGION and the new stub's budget
//!
//! The new stub (esp-flasher-stub `src/command_handler.c`, `s_erase_region`) gives an
//! ERASE_REGION 120 ms per 4 KiB sector (`ERASE_PER_SECTOR_TIMEOUT_US`), counted down
//! while it polls the flash: for an erase the last data block started ahead without
//! waiting (`s_conditional_erase_next` calls `stub_lib_flash_start_next_erase(.., 0)`),
//! and for its own erases. When the count runs out it answers 0xC400 (failed SPI
//! operation) — on a healthy board: a one-sector erase behind a 64 KiB erase, or on a slow
//! part (W25Q32JV: sector erase up to 400 ms) — while the erase it started goes on in the
//! flash, and the sectors it had not started yet stay as they were. So
//! [`stub_erase_region`] treats 0xC400 as "not known to be done": it hashes the range
//! (the read waits for the flash) and, where it is not blank, erases sector by sector,
//! each checked the same way, before it reports a flash that does not erase
//! ([`Error::SectorNotErased`], stage erase, naming the sector).

use crate::connection::Connection;
use crate::error::{Error, Result, Stage};
use crate::image::md5_of_blank;
use crate::transport::Transport;
use crate::write::{chip_md5, rom_erase};
use flashline_protocol::command::{EraseFlash, EraseRegion};
use flashline_protocol::flash::SECTOR_SIZE;
use flashline_protocol::{Chip, Status, StubError};

/// ERASE_REGION attempts per sector after the region's erase ran out of budget; a sector
/// still not blank after them fails the board ([`Error::SectorNotErased`]).
pub const SECTOR_ERASE_ATTEMPTS: u32 = 3;

/// Whether `e` is a stub's "failed SPI operation" (0xC400): for ERASE_REGION, also the new
/// stub running out of its erase budget (see the module docs).
pub(crate) fn is_failed_spi_op(e: &Error) -> bool {
    matches!(e, Error::Chip { status: Status::Stub(StubError::FailedSpiOp), .. })
}

/// ERASE_REGION of `offset..offset+size` (sector-aligned) through a stub that may run out
/// of its erase budget: on 0xC400 the range is hashed, and what is not blank is erased
/// again sector by sector ([`SECTOR_ERASE_ATTEMPTS`] tries each, each checked by a hash).
pub(crate) async fn stub_erase_region<T: Transport>(conn: &mut Connection<T>, offset: u32, size: u32) -> Result<()> {
    match conn.command(&EraseRegion { offset, size }).await {
        Err(e) if is_failed_spi_op(&e) => {
            tracing::info!(offset = format_args!("0x{offset:08x}"), size, "ERASE_REGION ran out of the stub's budget");
            finish_erase(conn, offset, size).await
        }
        other => other,
    }
}

/// After an ERASE_REGION answered 0xC400: makes sure `offset..offset+size` is erased.
pub(crate) async fn finish_erase<T: Transport>(conn: &mut Connection<T>, offset: u32, size: u32) -> Result<()> {
    if is_blank(conn, offset, size).await? {
        return Ok(());
    }
    for sector in (offset..offset + size).step_by(SECTOR_SIZE as usize) {
        let mut attempts = 0;
        while !is_blank(conn, sector, SECTOR_SIZE).await? {
            if attempts == SECTOR_ERASE_ATTEMPTS {
                tracing::warn!(sector = format_args!("0x{sector:08x}"), attempts, "flash sector does not erase");
                return Err(Error::SectorNotErased { sector, attempts });
            }
            attempts += 1;
            match conn.command(&EraseRegion { offset: sector, size: SECTOR_SIZE }).await {
                // Out of budget: the erase it started goes on; the hash above waits for it.
                Err(e) if is_failed_spi_op(&e) => {}
                other => other?,
            }
        }
    }
    Ok(())
}

async fn is_blank<T: Transport>(conn: &mut Connection<T>, offset: u32, size: u32) -> Result<bool> {
    Ok(chip_md5(conn, offset, size).await? == md5_of_blank(size))
}

pub(crate) async fn erase_region<T: Transport>(
    conn: &mut Connection<T>,
    chip: Chip,
    offset: u32,
    size: u32,
) -> Result<()> {
    conn.set_stage(Stage::Erase);
    if !offset.is_multiple_of(SECTOR_SIZE) || !size.is_multiple_of(SECTOR_SIZE) {
        return Err(Error::InvalidRequest {
            stage: Stage::Erase,
            reason: format!("erase 0x{offset:x}+0x{size:x}: offset and size must be multiples of 4 KiB (0x1000)"),
        });
    }
    if size == 0 {
        return Ok(());
    }
    if conn.is_stub() {
        stub_erase_region(conn, offset, size).await
    } else {
        rom_erase(conn, chip, offset, size).await
    }
}

pub(crate) async fn erase_chip<T: Transport>(conn: &mut Connection<T>, chip: Chip) -> Result<()> {
    conn.set_stage(Stage::Erase);
    if !conn.is_stub() {
        return Err(Error::NeedsStub { stage: Stage::Erase, chip, what: "erasing the whole chip" });
    }
    conn.command(&EraseFlash).await
}
