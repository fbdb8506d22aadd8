//! Uploading the flasher stub into RAM and switching to it.
//!
//! MEM_BEGIN / MEM_DATA… per segment (text, then data), MEM_END(0, entry), then the stub
//! greets with a raw `OHAI` frame. From then on replies carry the stub's 2-byte status.

use crate::connection::Connection;
use crate::error::{Error, Result, Stage};
use crate::progress::Progress;
use crate::stub::StubImage;
use crate::transport::Transport;
use flashline_protocol::command::{BeginParams, Command, MemBegin, MemData, MemEnd};
use flashline_protocol::{Chip, Opcode, StatusFormat};
use std::time::Duration;
use tokio::time::Instant;

/// The stub's greeting.
pub const OHAI: &[u8] = b"OHAI";
/// How long the stub may take from MEM_END to its greeting (init, flash attach).
const GREETING_TIMEOUT: Duration = Duration::from_secs(3);

pub(crate) async fn run_stub<T: Transport>(
    conn: &mut Connection<T>,
    chip: Chip,
    stub: &StubImage,
    progress: &Progress,
) -> Result<()> {
    conn.set_stage(Stage::Stub);
    let spec = chip.spec();
    let block = spec.ram_block as usize;
    let total: u64 = stub.segments().map(|(_, d)| d.len() as u64).sum();
    let mut done = 0u64;
    for (addr, data) in stub.segments() {
        let params = BeginParams {
            size: data.len() as u32,
            num_blocks: data.len().div_ceil(block) as u32,
            block_size: block as u32,
            offset: addr,
            // Always the 16-byte form, as esptool sends it: the 20-byte form is FLASH_BEGIN's
            // only, and the new stub rejects a 20-byte MEM_BEGIN.
            encrypted: None,
        };
        conn.command(&MemBegin(params)).await?;
        for (seq, chunk) in data.chunks(block).enumerate() {
            conn.command(&MemData::new(seq as u32, chunk.to_vec())).await?;
            done += chunk.len() as u64;
            progress.report(Stage::Stub, done, total);
        }
    }
    let end = MemEnd { flag: 0, entry: stub.entry };
    conn.send_packet(&end.to_packet()).await?;
    // The ROM answers MEM_END and then jumps; the stub then sends OHAI as its own frame.
    // Accept the reply and the greeting in either order (a reply lost to the jump is
    // tolerated, as esptool does).
    let deadline = Instant::now() + GREETING_TIMEOUT;
    loop {
        let frame = conn.next_frame(deadline, "OHAI greeting", GREETING_TIMEOUT).await.map_err(|e| match e {
            Error::Timeout { .. } => Error::StubNoGreeting { got: Vec::new() },
            other => other,
        })?;
        if frame == OHAI {
            break;
        }
        if frame.len() >= 8 && frame[0] == 1 && frame[1] == Opcode::MemEnd as u8 {
            let resp = flashline_protocol::ResponsePacket::parse(&frame).expect("checked");
            end.parse_response(&resp, conn.format).map_err(|e| conn.response_error(Opcode::MemEnd, e))?;
            continue;
        }
        if frame.is_empty() {
            continue;
        }
        return Err(Error::StubNoGreeting { got: frame });
    }
    conn.format = StatusFormat::Stub;
    tracing::info!(%chip, entry = format_args!("0x{:08x}", stub.entry), "flasher stub running");
    Ok(())
}
