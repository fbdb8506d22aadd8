//! How a partition size becomes a page budget, by the official generator's rules.
//!
//! A size is a whole number of 4096-byte pages, at least one. From 0x3000 bytes on, the
//! partition is read/write NVS: one page stays spare for the library's page moves, the
//! image covers the whole partition, and pages after the last used one are erased (0xFF,
//! no header). Below 0x3000 the partition can only be read-only NVS (flagged `readonly`
//! in the partition table): every page may hold entries and the image ends after the last
//! used page, the rest of the partition staying erased.

use crate::format::PAGE_SIZE;
use crate::NvsError;

/// Smallest partition that ESP-IDF can use as read/write NVS.
pub const MIN_READ_WRITE_SIZE: usize = 3 * PAGE_SIZE;

/// The page budget of one partition size.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Geometry {
    /// Pages that may hold entries.
    pub usable_pages: usize,
    /// Read-only NVS: no spare page and no padding to the partition's size.
    pub read_only: bool,
}

impl Geometry {
    pub fn of(size: usize) -> Result<Self, NvsError> {
        if !size.is_multiple_of(PAGE_SIZE) {
            return Err(NvsError::SizeNotPageMultiple { size });
        }
        if size < PAGE_SIZE {
            return Err(NvsError::SizeBelowOnePage { size });
        }
        let pages = size / PAGE_SIZE;
        Ok(if size < MIN_READ_WRITE_SIZE {
            Geometry { usable_pages: pages, read_only: true }
        } else {
            Geometry { usable_pages: pages - 1, read_only: false }
        })
    }
}

/// The smallest partition size whose budget holds `pages` pages of entries.
pub(crate) fn smallest_size_for(pages: usize) -> usize {
    if pages * PAGE_SIZE < MIN_READ_WRITE_SIZE {
        pages * PAGE_SIZE
    } else {
        (pages + 1) * PAGE_SIZE
    }
}

#[cfg(test)]
mod tests {
    use super::{smallest_size_for, Geometry};
    use crate::NvsError;

    #[test]
    fn sizes_follow_the_generator() {
        let cases = [
            (0x1000, Ok(Geometry { usable_pages: 1, read_only: true })),
            (0x2000, Ok(Geometry { usable_pages: 2, read_only: true })),
            (0x3000, Ok(Geometry { usable_pages: 2, read_only: false })),
            (0x6000, Ok(Geometry { usable_pages: 5, read_only: false })),
            (0, Err(NvsError::SizeBelowOnePage { size: 0 })),
            (0x1800, Err(NvsError::SizeNotPageMultiple { size: 0x1800 })),
        ];
        for (size, want) in cases {
            assert_eq!(Geometry::of(size), want, "{size:#x}");
        }
    }

    #[test]
    fn smallest_size_holds_the_pages() {
        for pages in 1..40 {
            let size = smallest_size_for(pages);
            let g = Geometry::of(size).unwrap();
            assert!(g.usable_pages >= pages, "{pages} pages in {size:#x}");
            if size > 0x1000 {
                assert!(Geometry::of(size - 0x1000).unwrap().usable_pages < pages, "{size:#x} is not the smallest");
            }
        }
    }
}
