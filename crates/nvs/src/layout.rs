//! Places items on pages exactly as the official generator (esp-idf-nvs-partition-gen,
//! format version 2) does, including its page-change rules:
//!
//! - a fixed-size item goes to a new page when the current one has no free entry;
//! - a string goes to a new page when it would reach the last entry of the current one
//!   (the generator tests `used + span >= 126`, so a string never ends a page exactly);
//! - a blob fills the current page from where it is: one chunk per page (a `BLOB_DATA`
//!   entry and its data, possibly 0 bytes when one entry is left), then the `BLOB_INDEX`
//!   entry; a new page is opened after a chunk when data remains or less than one entry
//!   is left, so the index may be alone at the top of the next page;
//! - a page left for a new one is marked full; the last one stays active.

use crate::format::{
    data_entries, entry_crc, item_type, CHUNK_ANY, ENTRIES_PER_PAGE, ENTRY_SIZE, MAX_BLOB_CHUNKS, PAGE_SIZE,
};
use crate::page::Page;

/// The pages ran out (the partition's capacity was reached).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum LayoutError {
    NoRoom,
    BlobTooManyChunks,
}

/// The row of pages being filled.
pub(crate) struct Layout {
    pages: Vec<Page>,
    capacity: Option<usize>,
}

/// The fields every entry header shares.
pub(crate) struct Header<'a> {
    pub namespace: u8,
    pub key: &'a [u8; 16],
}

impl Layout {
    /// A layout of at most `capacity` pages (`None`: unbounded), with its first page open.
    pub fn new(capacity: Option<usize>) -> Self {
        Self { pages: vec![Page::new(0)], capacity }
    }

    /// Pages opened so far.
    pub fn pages(&self) -> usize {
        self.pages.len()
    }

    /// The pages' bytes, in order.
    pub fn into_bytes(self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.pages.len() * PAGE_SIZE);
        for page in self.pages {
            out.extend_from_slice(&page.into_bytes()[..]);
        }
        out
    }

    fn current(&mut self) -> &mut Page {
        self.pages.last_mut().expect("a layout always has a page")
    }

    fn next_page(&mut self) -> Result<(), LayoutError> {
        self.current().mark_full();
        if self.capacity.is_some_and(|c| self.pages.len() >= c) {
            return Err(LayoutError::NoRoom);
        }
        let sequence = u32::try_from(self.pages.len()).expect("page count fits u32");
        self.pages.push(Page::new(sequence));
        Ok(())
    }

    /// A fixed-size item (integers and namespace entries): one entry.
    pub fn primitive(&mut self, h: &Header, kind: u8, data: [u8; 8]) -> Result<(), LayoutError> {
        if self.current().free() == 0 {
            self.next_page()?;
        }
        let entry = entry(h, kind, 1, CHUNK_ANY, data);
        self.current().write(&entry, 1);
        Ok(())
    }

    /// A string, `bytes` with its terminating NUL, in one piece on one page.
    pub fn string(&mut self, h: &Header, bytes: &[u8]) -> Result<(), LayoutError> {
        let span = data_entries(bytes.len()) + 1;
        if self.current().used() + span >= ENTRIES_PER_PAGE {
            self.next_page()?;
        }
        self.sized(h, item_type::STR, span, CHUNK_ANY, bytes);
        Ok(())
    }

    /// A blob as chunks over as many pages as it needs, then its index entry.
    pub fn blob(&mut self, h: &Header, bytes: &[u8]) -> Result<(), LayoutError> {
        if self.current().free() == 0 {
            self.next_page()?;
        }
        let mut chunks = 0usize;
        let mut offset = 0usize;
        loop {
            if chunks == MAX_BLOB_CHUNKS {
                return Err(LayoutError::BlobTooManyChunks);
            }
            let tailroom = (self.current().free() - 1) * ENTRY_SIZE;
            let chunk = (bytes.len() - offset).min(tailroom);
            let data = &bytes[offset..offset + chunk];
            let span = data_entries(chunk) + 1;
            let index = u8::try_from(chunks).expect("chunk index below MAX_BLOB_CHUNKS");
            self.sized(h, item_type::BLOB_DATA, span, index, data);
            chunks += 1;
            offset += chunk;
            let done = offset == bytes.len();
            if !done || tailroom - chunk < ENTRY_SIZE {
                self.next_page()?;
            }
            if done {
                break;
            }
        }
        let mut data = [0xFFu8; 8];
        let len = u32::try_from(bytes.len()).expect("blob length checked against the chunk limit");
        data[..4].copy_from_slice(&len.to_le_bytes());
        data[4] = u8::try_from(chunks).expect("chunk count below MAX_BLOB_CHUNKS");
        data[5] = 0; // chunk start: blob version 0
        let index = entry(h, item_type::BLOB_INDEX, 1, CHUNK_ANY, data);
        self.current().write(&index, 1);
        Ok(())
    }

    /// A header entry with size and data CRC, then the data entries.
    fn sized(&mut self, h: &Header, kind: u8, span: usize, chunk: u8, bytes: &[u8]) {
        let mut data = [0xFFu8; 8];
        let len = u16::try_from(bytes.len()).expect("one page's data fits u16");
        data[..2].copy_from_slice(&len.to_le_bytes());
        data[4..].copy_from_slice(&crate::crc::nvs_crc32(bytes).to_le_bytes());
        let span_byte = u8::try_from(span).expect("span of one page fits u8");
        let header = entry(h, kind, span_byte, chunk, data);
        let page = self.current();
        page.write(&header, 1);
        page.write(bytes, span - 1);
    }
}

/// One 32-byte entry with its CRC.
fn entry(h: &Header, kind: u8, span: u8, chunk: u8, data: [u8; 8]) -> [u8; ENTRY_SIZE] {
    let mut e = [0xFFu8; ENTRY_SIZE];
    e[0] = h.namespace;
    e[1] = kind;
    e[2] = span;
    e[3] = chunk;
    e[8..24].copy_from_slice(h.key);
    e[24..].copy_from_slice(&data);
    let crc = entry_crc(&e);
    e[4..8].copy_from_slice(&crc.to_le_bytes());
    e
}
