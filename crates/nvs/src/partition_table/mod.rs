//! The ESP-IDF partition table, read to find where the NVS partition lives in a golden
//! image.
//!
//! The table sits at 0x8000 of the flash by default (`CONFIG_PARTITION_TABLE_OFFSET`) and
//! takes at most 0xC00 bytes: 32-byte entries as `gen_esp32part.py` writes them (magic
//! `AA 50`, type, subtype, offset and size as little-endian u32, a 16-byte NUL-padded
//! label, flags: bit 0 encrypted, bit 1 read-only), optionally an MD5 entry (`EB EB`, 14
//! bytes 0xFF, then the MD5 of all entries before it), and 0xFF up to the end.

mod entry;
mod error;

pub use entry::{Partition, DATA, NVS};
pub use error::TableError;

use md5::{Digest, Md5};

/// Where the bootloader looks for the table unless configured otherwise.
pub const DEFAULT_TABLE_OFFSET: usize = 0x8000;
/// Most bytes a table (entries, MD5 entry, padding) may take.
pub const MAX_TABLE_LEN: usize = 0xC00;

const ENTRY_LEN: usize = 32;
const MD5_MAGIC: [u8; 2] = [0xEB, 0xEB];

/// The partitions of one table, in table order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartitionTable {
    pub partitions: Vec<Partition>,
    /// Whether the table carried an MD5 entry (checked when present).
    pub has_md5: bool,
}

impl PartitionTable {
    /// Reads a table from its bytes (at most [`MAX_TABLE_LEN`] are looked at).
    pub fn parse(bytes: &[u8]) -> Result<Self, TableError> {
        let table = &bytes[..bytes.len().min(MAX_TABLE_LEN)];
        let mut partitions = Vec::new();
        let mut has_md5 = false;
        let mut at = 0;
        while at + ENTRY_LEN <= table.len() {
            let raw: &[u8; ENTRY_LEN] = table[at..at + ENTRY_LEN].try_into().expect("32 bytes");
            if raw.iter().all(|&b| b == 0xFF) {
                break;
            }
            if raw[..2] == MD5_MAGIC {
                let digest = Md5::digest(&table[..at]);
                if raw[16..] != digest[..] {
                    return Err(TableError::Md5Mismatch { at });
                }
                has_md5 = true;
            } else {
                partitions.push(Partition::from_entry(raw, at)?);
            }
            at += ENTRY_LEN;
        }
        if partitions.is_empty() {
            return Err(TableError::Empty);
        }
        Ok(Self { partitions, has_md5 })
    }

    /// Reads the table of a full flash image (bytes from flash address 0) at `offset`.
    pub fn from_image(image: &[u8], offset: usize) -> Result<Self, TableError> {
        if image.len() < offset + ENTRY_LEN {
            return Err(TableError::ImageTooShort { offset, len: image.len() });
        }
        Self::parse(&image[offset..]).map_err(|e| e.at_offset(offset))
    }

    /// The partition labelled `label`.
    pub fn by_label(&self, label: &str) -> Option<&Partition> {
        self.partitions.iter().find(|p| p.label == label)
    }

    /// The NVS partition provisioning writes: the data/nvs partition labelled `nvs`, or the
    /// only data/nvs partition when none has that label.
    pub fn nvs(&self) -> Result<&Partition, TableError> {
        let all: Vec<&Partition> = self.partitions.iter().filter(|p| p.is_nvs()).collect();
        if let Some(p) = all.iter().find(|p| p.label == "nvs") {
            return Ok(p);
        }
        match all.as_slice() {
            [only] => Ok(only),
            [] => Err(TableError::NoNvs { labels: self.partitions.iter().map(|p| p.label.clone()).collect() }),
            several => Err(TableError::SeveralNvs { labels: several.iter().map(|p| p.label.clone()).collect() }),
        }
    }
}

#[cfg(test)]
mod tests;
