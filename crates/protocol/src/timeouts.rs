//! Per-command reply timeouts.
//!
//! The values mirror what esptool 5.x allows real chips (they encode worst-case flash
//! speeds: 40 s/MB erase, 8 s/MB MD5), so a slow but healthy board is never cut off, while
//! a board that stopped answering is noticed within seconds.

use crate::command::Opcode;
use std::time::Duration;

/// Most commands, and the floor of every scaled timeout.
pub const DEFAULT: Duration = Duration::from_secs(3);
/// First SYNC reply.
pub const SYNC: Duration = Duration::from_millis(100);
/// MEM_END to a ROM (the ROM may jump before replying).
pub const MEM_END_ROM: Duration = Duration::from_millis(200);
/// ERASE_FLASH.
pub const CHIP_ERASE: Duration = Duration::from_secs(120);
/// Upper bound on any command.
pub const MAX: Duration = Duration::from_secs(240);
/// SPI_FLASH_MD5, seconds per MB.
pub const MD5_PER_MB: f64 = 8.0;
/// ERASE_REGION and ROM FLASH_BEGIN, seconds per MB.
pub const ERASE_PER_MB: f64 = 40.0;
/// Flash data blocks that imply erase and program work, seconds per MB.
pub const ERASE_WRITE_PER_MB: f64 = 40.0;
/// One 64 KiB block erase at the datasheet maximum (W25Q32JV tBE2 max 2 s). A stub that
/// erases ahead of its writes starts such an erase without waiting for it
/// (esp-flasher-stub `s_conditional_erase_next`); the next command that touches the flash
/// waits for it first, so its reply may come that much later.
pub const ERASE_AHEAD: Duration = Duration::from_secs(2);
/// One READ_FLASH packet.
pub const READ_PACKET: Duration = Duration::from_secs(3);

/// `max(3 s, secs_per_mb × bytes / 10^6)`, capped at [`MAX`].
pub fn per_mb(secs_per_mb: f64, bytes: u32) -> Duration {
    let t = Duration::from_secs_f64(secs_per_mb * bytes as f64 / 1e6);
    t.max(DEFAULT).min(MAX)
}

/// Timeout of a *_BEGIN command: a ROM erases the region before replying, a stub does not.
pub fn begin(op: Opcode, stub: bool, size: u32) -> Duration {
    match (op, stub) {
        (Opcode::FlashBegin | Opcode::FlashDeflBegin, false) => per_mb(ERASE_PER_MB, size),
        _ => DEFAULT,
    }
}

/// Timeout for the reply to a stub data block that follows a block which inflated to
/// `prev_uncompressed` bytes: the stub replies to block N+1 only after finishing block N,
/// which may include one 64 KiB erase per 32 KiB inflate cycle plus one up front.
pub fn stub_data_block(prev_uncompressed: u32) -> Duration {
    let cycles = prev_uncompressed.div_ceil(32 * 1024) + 1;
    per_mb(ERASE_WRITE_PER_MB, prev_uncompressed.saturating_add(cycles * 64 * 1024))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scaling_table() {
        assert_eq!(per_mb(8.0, 0), DEFAULT);
        assert_eq!(per_mb(8.0, 1_000_000), Duration::from_secs(8));
        assert_eq!(per_mb(40.0, 4_000_000), Duration::from_secs(160));
        assert_eq!(per_mb(40.0, 16_000_000), MAX);
        assert_eq!(begin(Opcode::FlashBegin, true, 4_000_000), DEFAULT);
        assert_eq!(begin(Opcode::FlashBegin, false, 1_000_000), Duration::from_secs(40));
        // 16 KiB inflating to 32 KiB: 32 KiB + 2 × 64 KiB = 160 KiB → 6.55 s.
        let t = stub_data_block(32 * 1024);
        assert!(t > Duration::from_secs(6) && t < Duration::from_secs(7), "{t:?}");
    }
}
