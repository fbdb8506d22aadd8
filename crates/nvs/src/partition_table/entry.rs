//! One partition table entry.

use super::TableError;

/// Partition type of data partitions.
pub const DATA: u8 = 0x01;
/// Data subtype of NVS partitions.
pub const NVS: u8 = 0x02;

const MAGIC: [u8; 2] = [0xAA, 0x50];
const FLAG_ENCRYPTED: u32 = 1 << 0;
const FLAG_READ_ONLY: u32 = 1 << 1;

/// One partition: where it is and what it holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Partition {
    pub label: String,
    /// 0x00 app, 0x01 data, 0x02 bootloader, 0x03 partition table, 0x40.. custom.
    pub kind: u8,
    pub subtype: u8,
    pub offset: u32,
    pub size: u32,
    pub flags: u32,
}

impl Partition {
    /// Reads the entry at byte `at` of the table.
    pub(super) fn from_entry(raw: &[u8; 32], at: usize) -> Result<Self, TableError> {
        if raw[..2] != MAGIC {
            return Err(TableError::BadMagic { at, found: [raw[0], raw[1]] });
        }
        let u32_at = |i: usize| u32::from_le_bytes(raw[i..i + 4].try_into().expect("4 bytes"));
        let label_bytes = &raw[12..28];
        let len = label_bytes.iter().position(|&b| b == 0).unwrap_or(label_bytes.len());
        let label = std::str::from_utf8(&label_bytes[..len]).map_err(|_| TableError::LabelNotText { at })?;
        Ok(Self {
            label: label.to_owned(),
            kind: raw[2],
            subtype: raw[3],
            offset: u32_at(4),
            size: u32_at(8),
            flags: u32_at(28),
        })
    }

    /// A data partition of subtype nvs.
    pub fn is_nvs(&self) -> bool {
        self.kind == DATA && self.subtype == NVS
    }

    /// Flagged `readonly` in the partition CSV.
    pub fn read_only(&self) -> bool {
        self.flags & FLAG_READ_ONLY != 0
    }

    /// Flagged `encrypted` in the partition CSV.
    pub fn encrypted(&self) -> bool {
        self.flags & FLAG_ENCRYPTED != 0
    }
}
