//! The numbers of the ESP-IDF NVS on-flash format (version 2, multi-page blobs), shared by
//! the generator and the reader so both speak the same layout.
//!
//! A partition is a row of 4096-byte pages. A page starts with a 32-byte header (state,
//! sequence number, format version, CRC-32 of bytes 4..28 at 28), then a 32-byte bitmap
//! with two bits per entry (`11` empty, `10` written, `00` erased), then 126 entries of 32
//! bytes. An entry is: namespace index, type, span (entries it occupies, itself included),
//! chunk index, CRC-32 of bytes 0..4 and 8..32, a 16-byte NUL-padded key and 8 data bytes.

/// Bytes in one flash page, the unit the NVS library erases.
pub const PAGE_SIZE: usize = 4096;
/// Bytes in one entry (and in the header and in the bitmap).
pub const ENTRY_SIZE: usize = 32;
/// Entries in a page after the header and the bitmap.
pub const ENTRIES_PER_PAGE: usize = 126;
/// Offset of the entry-state bitmap within a page.
pub const BITMAP_OFFSET: usize = 32;
/// Offset of the first entry within a page.
pub const FIRST_ENTRY_OFFSET: usize = 64;
/// Longest key or namespace name in bytes (the 16-byte key field keeps a NUL).
pub const MAX_KEY_LEN: usize = 15;

/// Page state of the page being filled.
pub const PAGE_ACTIVE: u32 = 0xFFFF_FFFE;
/// Page state of a page no more entries go into.
pub const PAGE_FULL: u32 = 0xFFFF_FFFC;
/// Format version byte of version 2 (multi-page blobs); version 1 is 0xFF.
pub const VERSION_2: u8 = 0xFE;

/// Chunk index of an entry that is not a blob chunk.
pub const CHUNK_ANY: u8 = 0xFF;
/// Namespace index of the entries that name namespaces.
pub const NAMESPACE_OF_NAMESPACES: u8 = 0;
/// Highest namespace index ESP-IDF hands out (1..=254; 255 means "any").
pub const MAX_NAMESPACES: usize = 254;
/// Most chunks one blob may have: chunk indices of blob version 0 stay below 0x80, and
/// ESP-IDF's documented blob limit (508000 bytes) is 127 full chunks of 4000 bytes.
pub const MAX_BLOB_CHUNKS: usize = 127;
/// Longest blob accepted wherever it starts: its first chunk may be empty (when it starts
/// at a page's last entry), the other 126 hold up to 4000 bytes each.
pub const MAX_BLOB_LEN: usize = (MAX_BLOB_CHUNKS - 1) * (ENTRIES_PER_PAGE - 1) * ENTRY_SIZE;

/// Longest string in bytes, its terminating NUL included. The generator refuses more
/// than 4000 bytes and cannot place more than 124 data entries (3968 bytes) of a string
/// on a page: it moves an item to a new page when it would end exactly at the page end.
pub const MAX_STRING_LEN: usize = 3968;

/// Entry type byte.
pub mod item_type {
    pub const U8: u8 = 0x01;
    pub const I8: u8 = 0x11;
    pub const U16: u8 = 0x02;
    pub const I16: u8 = 0x12;
    pub const U32: u8 = 0x04;
    pub const I32: u8 = 0x14;
    pub const U64: u8 = 0x08;
    pub const I64: u8 = 0x18;
    pub const STR: u8 = 0x21;
    pub const BLOB_DATA: u8 = 0x42;
    pub const BLOB_INDEX: u8 = 0x48;
}

/// Entries needed to hold `len` bytes of variable-length data.
pub fn data_entries(len: usize) -> usize {
    len.div_ceil(ENTRY_SIZE)
}

/// The 28 bytes an entry's CRC covers: bytes 0..4 and 8..32.
pub fn entry_crc(entry: &[u8; ENTRY_SIZE]) -> u32 {
    let mut covered = [0u8; 28];
    covered[..4].copy_from_slice(&entry[..4]);
    covered[4..].copy_from_slice(&entry[8..]);
    crate::crc::nvs_crc32(&covered)
}

/// CRC of a page header: bytes 4..28 (sequence number, version, reserved).
pub fn header_crc(header: &[u8]) -> u32 {
    crate::crc::nvs_crc32(&header[4..28])
}
