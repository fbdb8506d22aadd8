//! NOR flash model: the bytes of one SPI NOR chip and the semantics that matter for a
//! flasher: erase sets bytes to `0xFF` (4 KiB sector, 64 KiB block, whole chip), and
//! programming can only clear bits (`cell &= data`). Writing over data that was not erased
//! therefore produces wrong content, exactly as on a real chip; a flasher that forgets to
//! erase is caught by its own verification.
//!
//! Bad cells (a fault knob) accept erases but ignore programming, so the host's MD5 check
//! is what notices them — as on real hardware, where neither ROM nor stub reads back.
//! Stuck sectors (another fault knob: worn-out cells) are the opposite: programming still
//! clears bits, but no erase — sector, block or chip — sets them again; the erase command
//! itself succeeds, as a NOR part's does (its status register only says it is done).
//!
//! The model also remembers which 4 KiB sectors changed since the last call to
//! [`NorFlash::take_dirty`], so a backing file can be kept in step cheaply.

use flashline_protocol::flash::{BLOCK_SIZE, SECTOR_SIZE};
use std::ops::Range;
use thiserror::Error;

/// An access outside the simulated chip.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum FlashError {
    #[error("flash access 0x{addr:x}+0x{len:x} beyond the end of a 0x{size:x}-byte flash")]
    OutOfRange { addr: u32, len: u32, size: u32 },
    #[error("erase address 0x{0:x} is not aligned to the erase unit")]
    Misaligned(u32),
}

/// Counters of the operations the flash chip performed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FlashCounters {
    pub sector_erases: u64,
    pub block_erases: u64,
    pub chip_erases: u64,
    /// Page-program operations (the loaders program 32 bytes per operation).
    pub program_ops: u64,
    pub bytes_programmed: u64,
    pub bytes_read: u64,
    /// Erases (sector, block or chip) that covered a stuck sector and left it as it was.
    pub stuck_erases: u64,
}

/// The flash chip content.
#[derive(Debug, Clone)]
pub struct NorFlash {
    data: Vec<u8>,
    bad: Vec<Range<u32>>,
    /// Start addresses of the sectors that never erase.
    stuck: Vec<u32>,
    dirty: Vec<bool>,
    pub counters: FlashCounters,
}

impl NorFlash {
    /// A factory-fresh (all `0xFF`) flash of `size` bytes.
    pub fn new(size: u32) -> Self {
        Self {
            data: vec![0xFF; size as usize],
            bad: Vec::new(),
            stuck: Vec::new(),
            dirty: vec![false; size.div_ceil(SECTOR_SIZE) as usize],
            counters: FlashCounters::default(),
        }
    }

    pub fn size(&self) -> u32 {
        self.data.len() as u32
    }

    pub fn contents(&self) -> &[u8] {
        &self.data
    }

    /// Marks `range` as cells whose programming does not stick.
    pub fn add_bad_cells(&mut self, range: Range<u32>) {
        self.bad.push(range);
    }

    /// Marks the 4 KiB sector containing `addr` as one whose erase never takes.
    pub fn add_stuck_sector(&mut self, addr: u32) {
        let sector = addr / SECTOR_SIZE * SECTOR_SIZE;
        if !self.stuck.contains(&sector) {
            self.stuck.push(sector);
        }
    }

    /// True when `addr..addr+len` covers a sector that never erases.
    pub fn covers_stuck_sector(&self, addr: u32, len: u32) -> bool {
        let end = addr as u64 + len as u64;
        self.stuck.iter().any(|&s| (s as u64) < end && s as u64 + SECTOR_SIZE as u64 > addr as u64)
    }

    /// Sets `r` to `0xFF` except the stuck sectors in it; counts an erase that hit one.
    fn fill_erased(&mut self, r: Range<usize>) {
        let mut stuck_hit = false;
        for (i, sector) in self.data[r.clone()].chunks_mut(SECTOR_SIZE as usize).enumerate() {
            let start = (r.start + i * SECTOR_SIZE as usize) as u32;
            if self.stuck.contains(&(start / SECTOR_SIZE * SECTOR_SIZE)) {
                stuck_hit = true;
            } else {
                sector.fill(0xFF);
            }
        }
        if stuck_hit {
            self.counters.stuck_erases += 1;
        }
        self.mark_dirty(r);
    }

    fn check(&self, addr: u32, len: u32) -> Result<Range<usize>, FlashError> {
        let end = addr as u64 + len as u64;
        if end > self.data.len() as u64 {
            return Err(FlashError::OutOfRange { addr, len, size: self.size() });
        }
        Ok(addr as usize..end as usize)
    }

    fn mark_dirty(&mut self, r: Range<usize>) {
        if r.is_empty() {
            return;
        }
        let first = r.start / SECTOR_SIZE as usize;
        let last = (r.end - 1) / SECTOR_SIZE as usize;
        for d in &mut self.dirty[first..=last] {
            *d = true;
        }
    }

    /// Reads `len` bytes (counted as a flash read).
    pub fn read(&mut self, addr: u32, len: u32) -> Result<Vec<u8>, FlashError> {
        let r = self.check(addr, len)?;
        self.counters.bytes_read += len as u64;
        Ok(self.data[r].to_vec())
    }

    /// Reads without counting (register peeks, snapshots).
    pub fn peek(&self, addr: u32, len: u32) -> Result<&[u8], FlashError> {
        let r = self.check(addr, len)?;
        Ok(&self.data[r])
    }

    /// True when the sector containing `addr` reads back all `0xFF`.
    pub fn sector_is_blank(&self, addr: u32) -> bool {
        let start = (addr / SECTOR_SIZE * SECTOR_SIZE) as usize;
        let end = (start + SECTOR_SIZE as usize).min(self.data.len());
        self.data.get(start..end).is_some_and(|s| s.iter().all(|&b| b == 0xFF))
    }

    fn erase_range(&mut self, addr: u32, len: u32, align: u32) -> Result<(), FlashError> {
        if !addr.is_multiple_of(align) {
            return Err(FlashError::Misaligned(addr));
        }
        let r = self.check(addr, len)?;
        self.fill_erased(r);
        Ok(())
    }

    /// 4 KiB sector erase (SPI 20h).
    pub fn erase_sector(&mut self, addr: u32) -> Result<(), FlashError> {
        self.erase_range(addr, SECTOR_SIZE, SECTOR_SIZE)?;
        self.counters.sector_erases += 1;
        Ok(())
    }

    /// 64 KiB block erase (SPI D8h).
    pub fn erase_block(&mut self, addr: u32) -> Result<(), FlashError> {
        self.erase_range(addr, BLOCK_SIZE, BLOCK_SIZE)?;
        self.counters.block_erases += 1;
        Ok(())
    }

    /// Chip erase (SPI C7h). Returns the number of 64 KiB blocks that were not blank
    /// before, which the timing model uses (chip erase time depends on content).
    pub fn erase_chip(&mut self) -> u32 {
        let dirty_blocks =
            self.data.chunks(BLOCK_SIZE as usize).filter(|b| b.iter().any(|&x| x != 0xFF)).count() as u32;
        self.fill_erased(0..self.data.len());
        self.counters.chip_erases += 1;
        dirty_blocks
    }

    /// Page program: every cell becomes `old & new`, except bad cells, which keep their
    /// value. Does not count operations; the caller knows how the loader splits writes.
    pub fn program(&mut self, addr: u32, bytes: &[u8]) -> Result<(), FlashError> {
        let r = self.check(addr, bytes.len() as u32)?;
        for (i, (cell, &b)) in self.data[r.clone()].iter_mut().zip(bytes).enumerate() {
            let a = addr + i as u32;
            if self.bad.iter().any(|bad| bad.contains(&a)) {
                continue;
            }
            *cell &= b;
        }
        self.counters.bytes_programmed += bytes.len() as u64;
        self.mark_dirty(r);
        Ok(())
    }

    /// Sets content directly (test presets, loading a backing file): no NOR semantics.
    pub fn write_raw(&mut self, addr: u32, bytes: &[u8]) -> Result<(), FlashError> {
        let r = self.check(addr, bytes.len() as u32)?;
        self.data[r.clone()].copy_from_slice(bytes);
        self.mark_dirty(r);
        Ok(())
    }

    /// Byte ranges (sector-granular, merged) changed since the previous call.
    pub fn take_dirty(&mut self) -> Vec<Range<u32>> {
        let mut out: Vec<Range<u32>> = Vec::new();
        for (i, d) in self.dirty.iter_mut().enumerate() {
            if std::mem::take(d) {
                let start = i as u32 * SECTOR_SIZE;
                let end = (start + SECTOR_SIZE).min(self.data.len() as u32);
                match out.last_mut() {
                    Some(last) if last.end == start => last.end = end,
                    _ => out.push(start..end),
                }
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn starts_erased_and_programs_by_and() {
        let mut f = NorFlash::new(1 << 20);
        assert!(f.contents().iter().all(|&b| b == 0xFF));
        f.program(0x100, &[0x0F, 0xAA]).unwrap();
        assert_eq!(f.peek(0x100, 2).unwrap(), &[0x0F, 0xAA]);
        // Writing over unerased data ANDs: 0x0F & 0xF0 = 0x00, not 0xF0.
        f.program(0x100, &[0xF0, 0x55]).unwrap();
        assert_eq!(f.peek(0x100, 2).unwrap(), &[0x00, 0x00]);
        f.erase_sector(0).unwrap();
        assert_eq!(f.peek(0x100, 2).unwrap(), &[0xFF, 0xFF]);
        f.program(0x100, &[0xF0]).unwrap();
        assert_eq!(f.peek(0x100, 1).unwrap(), &[0xF0]);
    }

    #[test]
    fn erase_units_and_alignment() {
        let mut f = NorFlash::new(1 << 20);
        f.program(0, &vec![0u8; 0x20000]).unwrap();
        f.erase_sector(0x1000).unwrap();
        assert_eq!(f.peek(0xFFF, 1).unwrap(), &[0]);
        assert!(f.peek(0x1000, 0x1000).unwrap().iter().all(|&b| b == 0xFF));
        assert_eq!(f.peek(0x2000, 1).unwrap(), &[0]);
        assert_eq!(f.erase_sector(0x1001), Err(FlashError::Misaligned(0x1001)));
        assert_eq!(f.erase_block(0x1000), Err(FlashError::Misaligned(0x1000)));
        f.erase_block(0x10000).unwrap();
        assert!(f.peek(0x10000, 0x10000).unwrap().iter().all(|&b| b == 0xFF));
        assert_eq!(f.counters.sector_erases, 1);
        assert_eq!(f.counters.block_erases, 1);
        assert!(f.erase_block(0x100000).is_err());
        assert_eq!(f.erase_chip(), 1, "only block 0 still had data");
        assert!(f.contents().iter().all(|&b| b == 0xFF));
    }

    #[test]
    fn out_of_range_is_an_error_not_a_panic() {
        let mut f = NorFlash::new(0x1000);
        assert!(f.program(0xFFF, &[1, 2]).is_err());
        assert!(f.read(u32::MAX, 2).is_err());
        assert!(f.program(0xFFF, &[1]).is_ok());
    }

    #[test]
    fn bad_cells_do_not_program_but_erase() {
        let mut f = NorFlash::new(0x2000);
        f.add_bad_cells(0x10..0x12);
        f.program(0x0E, &[0, 0, 0, 0, 0]).unwrap();
        assert_eq!(f.peek(0x0E, 5).unwrap(), &[0, 0, 0xFF, 0xFF, 0]);
    }

    #[test]
    fn stuck_sectors_keep_their_bits_through_every_erase() {
        let mut f = NorFlash::new(0x20000);
        f.program(0, &vec![0x5A; 0x20000]).unwrap();
        f.add_stuck_sector(0x1234);
        assert!(f.covers_stuck_sector(0x1000, 0x1000) && f.covers_stuck_sector(0, 0x10000));
        assert!(f.covers_stuck_sector(0x1FFF, 1) && !f.covers_stuck_sector(0x2000, 0x1000));
        assert!(!f.covers_stuck_sector(0, 0x1000));
        let stuck_left = |f: &NorFlash| f.peek(0x1000, 0x1000).unwrap().iter().all(|&b| b == 0x5A);
        f.erase_sector(0x1000).unwrap();
        assert!(stuck_left(&f));
        f.erase_sector(0x2000).unwrap();
        assert!(f.sector_is_blank(0x2000), "its neighbours erase");
        f.erase_block(0).unwrap();
        assert!(stuck_left(&f) && f.sector_is_blank(0) && f.sector_is_blank(0xF000));
        f.erase_chip();
        assert!(stuck_left(&f) && f.sector_is_blank(0x10000));
        assert_eq!(f.counters.stuck_erases, 3, "the sector, block and chip erase over it");
        // Programming still clears bits: what is written over it is the AND of both.
        f.program(0x1000, &[0xF0]).unwrap();
        assert_eq!(f.peek(0x1000, 1).unwrap(), &[0x50]);
    }

    #[test]
    fn dirty_tracking_merges_sectors() {
        let mut f = NorFlash::new(0x10000);
        f.program(0x1FFF, &[0, 0]).unwrap();
        f.program(0x8000, &[0]).unwrap();
        assert_eq!(f.take_dirty(), vec![0x1000..0x3000, 0x8000..0x9000]);
        assert!(f.take_dirty().is_empty());
        assert!(f.sector_is_blank(0x3000));
        assert!(!f.sector_is_blank(0x8FFF));
    }
}
