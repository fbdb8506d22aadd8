//! Erasing flash: the stub has ERASE_FLASH / ERASE_REGION; a ROM erases through
//! FLASH_BEGIN (region only).

use crate::connection::Connection;
use crate::error::{Error, Result, Stage};
use crate::transport::Transport;
use crate::write::rom_erase;
use flashline_protocol::command::{EraseFlash, EraseRegion};
use flashline_protocol::flash::SECTOR_SIZE;
use flashline_protocol::Chip;

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
        conn.command(&EraseRegion { offset, size }).await
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
