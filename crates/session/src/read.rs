//! Reading flash back.
//!
//! Stub: READ_FLASH streams raw 4 KiB frames; the host acknowledges each with the total
//! received so far (the stubs keep one packet in flight), and the stub ends with the MD5
//! of everything it sent. ROM (ESP32 class): READ_FLASH_SLOW, 64 bytes per command.
//! The ESP8266 ROM cannot read flash.

use crate::connection::Connection;
use crate::error::{Error, Result, Stage};
use crate::progress::Progress;
use crate::transport::Transport;
use flashline_protocol::command::{ReadFlash, ReadFlashSlow};
use flashline_protocol::flash::READ_PACKET;
use flashline_protocol::{timeouts, Chip};
use md5::{Digest, Md5};
use tokio::time::Instant;

pub(crate) async fn read_flash<T: Transport>(
    conn: &mut Connection<T>,
    chip: Chip,
    offset: u32,
    len: u32,
    progress: &Progress,
    stage: Stage,
) -> Result<Vec<u8>> {
    conn.set_stage(stage);
    if len == 0 {
        return Ok(Vec::new());
    }
    if conn.is_stub() {
        read_stub(conn, offset, len, progress, stage).await
    } else if chip.spec().rom_is_esp32_class {
        read_rom(conn, offset, len, progress, stage).await
    } else {
        Err(Error::NeedsStub { stage, chip, what: "reading flash" })
    }
}

// `read_stub` and `read_rom` take the same arguments on purpose: two protocols (the
// stub's streamed READ_FLASH with acks, the ROM's READ_FLASH_SLOW chunks) for one job.
async fn read_stub<T: Transport>(
    conn: &mut Connection<T>,
    offset: u32,
    len: u32,
    progress: &Progress,
    stage: Stage,
) -> Result<Vec<u8>> {
    // esptool's parameters (4 KiB packets, max_in_flight 64): both stubs then keep one
    // packet in flight, which is what they are tested with.
    let cmd = ReadFlash::esptool(offset, len);
    conn.command(&cmd).await?;
    let mut data = Vec::with_capacity(len as usize);
    while data.len() < len as usize {
        let deadline = Instant::now() + timeouts::READ_PACKET;
        let frame = conn.next_frame(deadline, "READ_FLASH data", timeouts::READ_PACKET).await?;
        let left = len as usize - data.len();
        if frame.len() > left || (frame.len() < READ_PACKET as usize && frame.len() != left) {
            return Err(Error::ReadCorrupt(format!(
                "flash data packet of {} bytes at 0x{:08x}, expected {}: corrupted on the link; lower the baud rate",
                frame.len(),
                offset as usize + data.len(),
                left.min(READ_PACKET as usize)
            )));
        }
        data.extend_from_slice(&frame);
        conn.send_raw_frame(&(data.len() as u32).to_le_bytes()).await?;
        progress.report(stage, data.len() as u64, len as u64);
    }
    let deadline = Instant::now() + timeouts::READ_PACKET;
    let digest = conn.next_frame(deadline, "READ_FLASH digest", timeouts::READ_PACKET).await?;
    if digest.len() != 16 {
        return Err(Error::ReadCorrupt(format!("expected the 16-byte MD5 after the data, got {} bytes", digest.len())));
    }
    let ours: [u8; 16] = Md5::digest(&data).into();
    if digest[..] != ours[..] {
        return Err(Error::ReadCorrupt(
            "the data read does not match the chip's MD5 of it: corrupted on the link; lower the baud rate".into(),
        ));
    }
    Ok(data)
}

async fn read_rom<T: Transport>(
    conn: &mut Connection<T>,
    offset: u32,
    len: u32,
    progress: &Progress,
    stage: Stage,
) -> Result<Vec<u8>> {
    let mut data = Vec::with_capacity(len as usize);
    while data.len() < len as usize {
        let n = (len - data.len() as u32).min(ReadFlashSlow::CHUNK);
        let chunk = conn.command(&ReadFlashSlow { offset: offset + data.len() as u32, len: n }).await?;
        if chunk.len() != n as usize {
            return Err(Error::ReadCorrupt(format!("READ_FLASH_SLOW returned {} bytes, expected {n}", chunk.len())));
        }
        data.extend_from_slice(&chunk);
        progress.report(stage, data.len() as u64, len as u64);
    }
    Ok(data)
}
