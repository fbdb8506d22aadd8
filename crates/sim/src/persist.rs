//! A board's flash backed by a file (`--flash-dir`).
//!
//! The file always holds the whole flash image (`flash_size` bytes). It is updated **in
//! place**: after every batch of bytes the board processed, the 4 KiB sectors that changed
//! are written with `pwrite`. Those writes land in the kernel's page cache before the reply
//! that completes the operation is even scheduled, so the file is correct when read while
//! the simulator runs, and after it is killed (even with SIGKILL). It is not fsync'ed: a
//! machine crash may lose the last writes, which is irrelevant for a simulator.

use crate::flash::NorFlash;
use std::fs::{File, OpenOptions};
use std::io::{self, Read};
use std::ops::Range;
use std::os::unix::fs::FileExt;
use std::path::Path;

pub(crate) struct FlashFile {
    file: File,
}

impl FlashFile {
    /// Opens (or creates) the file. Existing content is loaded into `flash` (a shorter file
    /// is padded with `0xFF`; a longer one is an error), and the file is brought to the
    /// flash's size.
    pub fn open(path: &Path, flash: &mut NorFlash) -> io::Result<Self> {
        let mut file = OpenOptions::new().read(true).write(true).create(true).truncate(false).open(path)?;
        let mut existing = Vec::new();
        file.read_to_end(&mut existing)?;
        let size = flash.size() as usize;
        if existing.len() > size {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!("{} holds {} bytes, more than the {size}-byte flash", path.display(), existing.len()),
            ));
        }
        if !existing.is_empty() {
            flash.write_raw(0, &existing).map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?;
        }
        let mut f = Self { file };
        if existing.len() < size {
            f.write_ranges(flash.contents(), std::slice::from_ref(&(0..flash.size())))?;
        }
        Ok(f)
    }

    /// Writes the given byte ranges of `contents` at the same offsets.
    pub fn write_ranges(&mut self, contents: &[u8], ranges: &[Range<u32>]) -> io::Result<()> {
        for r in ranges {
            let (s, e) = (r.start as usize, (r.end as usize).min(contents.len()));
            if s < e {
                self.file.write_all_at(&contents[s..e], r.start as u64)?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn creates_loads_and_updates_in_place() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("board0.bin");
        let mut f = NorFlash::new(0x4000);
        let mut ff = FlashFile::open(&p, &mut f).unwrap();
        assert_eq!(std::fs::read(&p).unwrap(), vec![0xFF; 0x4000]);
        f.take_dirty();
        f.program(0x1002, &[1, 2, 3]).unwrap();
        let d = f.take_dirty();
        ff.write_ranges(f.contents(), &d).unwrap();
        let on_disk = std::fs::read(&p).unwrap();
        assert_eq!(&on_disk[0x1000..0x1006], &[0xFF, 0xFF, 1, 2, 3, 0xFF]);
        // Reload into a fresh flash.
        let mut g = NorFlash::new(0x4000);
        FlashFile::open(&p, &mut g).unwrap();
        assert_eq!(g.contents(), f.contents());
        // Too large for a smaller flash.
        let mut small = NorFlash::new(0x1000);
        assert!(FlashFile::open(&p, &mut small).is_err());
    }
}
