//! Why a partition table cannot be read or has no NVS partition.

/// A partition table problem. `at` counts bytes from the start of what was read: the
/// table for [`PartitionTable::parse`](super::PartitionTable::parse), the flash image for
/// [`PartitionTable::from_image`](super::PartitionTable::from_image).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TableError {
    #[error(
        "the image is {len} bytes, too short to hold a partition table at {offset:#x}; give the full flash image \
         or the table offset the firmware was built with"
    )]
    ImageTooShort { offset: usize, len: usize },
    #[error(
        "no partition table entry at byte {at:#x} (found {:02x} {:02x}, expected aa 50); check the table offset",
        found[0],
        found[1]
    )]
    BadMagic { at: usize, found: [u8; 2] },
    #[error("partition table MD5 at byte {at:#x} does not match its entries; the table is damaged")]
    Md5Mismatch { at: usize },
    #[error("partition table entry at byte {at:#x} has a label that is not UTF-8")]
    LabelNotText { at: usize },
    #[error("the partition table has no entries")]
    Empty,
    #[error("the partition table has no data/nvs partition (partitions: {})", labels.join(", "))]
    NoNvs { labels: Vec<String> },
    #[error(
        "the partition table has several data/nvs partitions and none labelled nvs ({}); name the one to write",
        labels.join(", ")
    )]
    SeveralNvs { labels: Vec<String> },
}

impl TableError {
    /// The same error with byte offsets counted from the start of the image.
    pub(super) fn at_offset(self, offset: usize) -> Self {
        match self {
            TableError::BadMagic { at, found } => TableError::BadMagic { at: at + offset, found },
            TableError::Md5Mismatch { at } => TableError::Md5Mismatch { at: at + offset },
            TableError::LabelNotText { at } => TableError::LabelNotText { at: at + offset },
            other => other,
        }
    }
}
