//! Counters a test can use to prove what the board did (e.g. that the new stub skipped
//! erasing blank sectors, or that a host never overran the stub's receive buffers).

/// Snapshot of a board's counters.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SimStats {
    /// Bytes received from the host (before SLIP decoding).
    pub bytes_in: u64,
    /// Bytes sent to the host.
    pub bytes_out: u64,
    /// SLIP frames received / sent.
    pub frames_in: u64,
    pub frames_out: u64,
    /// Commands dispatched (well-formed request packets).
    pub commands: u64,
    pub syncs: u64,
    /// Times a flasher stub was started (MEM_END with flag 0 in ROM mode).
    pub stub_starts: u64,
    pub sector_erases: u64,
    pub block_erases: u64,
    pub chip_erases: u64,
    /// Erases over a sector that never erases (fault `stuck-sector`), which left it as it was.
    pub stuck_erases: u64,
    /// Page-program commands issued to the flash.
    pub program_ops: u64,
    pub bytes_programmed: u64,
    /// Bytes read from the flash (READ_FLASH, MD5, blank checks, ...).
    pub flash_bytes_read: u64,
    /// Sectors the new stub found blank and did not erase.
    pub blank_sector_skips: u64,
    /// Frames lost because both stub receive buffers were occupied.
    pub overruns: u64,
    /// Resets (EN pulses, reboots after FLASH_END).
    pub resets: u64,
    /// SPI user commands run through the register engine.
    pub spi_commands: u64,
    /// Flash MD5s computed (SPI_FLASH_MD5), the count `flash-changes` faults go by.
    pub md5s: u64,
}
