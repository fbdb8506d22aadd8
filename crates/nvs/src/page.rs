//! One NVS page being filled: header, entry-state bitmap and entries.

use crate::format::{
    header_crc, BITMAP_OFFSET, ENTRIES_PER_PAGE, ENTRY_SIZE, FIRST_ENTRY_OFFSET, PAGE_ACTIVE, PAGE_FULL, PAGE_SIZE,
    VERSION_2,
};

/// A page under construction. Unwritten bytes stay erased (0xFF).
pub(crate) struct Page {
    bytes: Box<[u8; PAGE_SIZE]>,
    used: usize,
}

impl Page {
    /// A fresh active page with sequence number `sequence`.
    pub fn new(sequence: u32) -> Self {
        let mut bytes = Box::new([0xFFu8; PAGE_SIZE]);
        bytes[0..4].copy_from_slice(&PAGE_ACTIVE.to_le_bytes());
        bytes[4..8].copy_from_slice(&sequence.to_le_bytes());
        bytes[8] = VERSION_2;
        let crc = header_crc(&bytes[..ENTRY_SIZE]);
        bytes[28..32].copy_from_slice(&crc.to_le_bytes());
        Self { bytes, used: 0 }
    }

    /// Entries written so far.
    pub fn used(&self) -> usize {
        self.used
    }

    /// Entries still free.
    pub fn free(&self) -> usize {
        ENTRIES_PER_PAGE - self.used
    }

    /// Marks the page full (no more entries go in); the header CRC does not cover the state.
    pub fn mark_full(&mut self) {
        if self.bytes[0..4] == PAGE_ACTIVE.to_le_bytes() {
            self.bytes[0..4].copy_from_slice(&PAGE_FULL.to_le_bytes());
        }
    }

    /// Writes `data` from the next free entry on, marking `entries` entries written. `data`
    /// may end inside its last entry; the rest of that entry stays 0xFF.
    pub fn write(&mut self, data: &[u8], entries: usize) {
        assert!(entries <= self.free(), "page overflow: {entries} entries with {} free", self.free());
        assert!(data.len() <= entries * ENTRY_SIZE, "{} bytes do not fit {entries} entries", data.len());
        let start = FIRST_ENTRY_OFFSET + self.used * ENTRY_SIZE;
        self.bytes[start..start + data.len()].copy_from_slice(data);
        for _ in 0..entries {
            let bit = self.used * 2;
            // `10`: the low bit of the entry's pair cleared means "written".
            self.bytes[BITMAP_OFFSET + bit / 8] &= !(1u8 << (bit % 8));
            self.used += 1;
        }
    }

    pub fn into_bytes(self) -> Box<[u8; PAGE_SIZE]> {
        self.bytes
    }
}

#[cfg(test)]
mod tests {
    use super::Page;
    use crate::format::{header_crc, PAGE_ACTIVE, PAGE_FULL};

    #[test]
    fn fresh_page_header() {
        let page = Page::new(7).into_bytes();
        assert_eq!(page[0..4], PAGE_ACTIVE.to_le_bytes());
        assert_eq!(page[4..8], 7u32.to_le_bytes());
        assert_eq!(page[8], 0xFE);
        assert!(page[9..28].iter().all(|&b| b == 0xFF));
        assert_eq!(page[28..32], header_crc(&page[..32]).to_le_bytes());
        assert!(page[32..].iter().all(|&b| b == 0xFF));
    }

    #[test]
    fn bitmap_marks_two_bits_per_entry() {
        let mut page = Page::new(0);
        page.write(&[0u8; 32], 1);
        page.write(&[1u8; 40], 2);
        page.write(&[], 2);
        assert_eq!(page.used(), 5);
        page.mark_full();
        let bytes = page.into_bytes();
        // Entries 0..4 in byte 32 (bits 0, 2, 4, 6 cleared), entry 4 in byte 33 (bit 0).
        assert_eq!(bytes[32], 0b1010_1010);
        assert_eq!(bytes[33], 0b1111_1110);
        assert_eq!(bytes[0..4], PAGE_FULL.to_le_bytes());
        assert_eq!(bytes[64 + 32 + 40], 0xFF, "the rest of a partly used entry stays erased");
    }
}
