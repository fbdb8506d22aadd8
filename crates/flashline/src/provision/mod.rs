//! Per-device provisioning: what makes each board different from the golden image.
//!
//! `[provision]` gives every board a serial number (allocated per MAC by the audit store;
//! [`SerialFormat`] prints it) and its own NVS partition: a template in the official
//! generator's CSV format whose values may hold placeholders (`{serial}`, `{mac}`,
//! `{device.COLUMN}`, …, [`placeholders`]), filled in from the board's facts and its row of
//! a per-device file ([`DeviceTable`]), laid out by `flashline-nvs` ([`NvsData`]).
//!
//! Everything that can be checked without a board is checked when the station starts: the
//! template's syntax and placeholders, the per-device file, and the partition made for
//! every row with the longest facts a board can bring; so a board is refused before
//! anything is written only when it has no row of its own.

mod allocator;
mod board;
mod device_file;
mod nvs_data;
pub mod placeholders;
pub mod placement;
mod serial;
pub mod setup;
mod station;

pub use allocator::{SerialAllocator, CENTRAL_TIMEOUT, DEFAULT_LEASE_BLOCK};
pub use board::{BoardProvision, ProvisionError};
pub use device_file::{DeviceFileError, DeviceKey, DeviceRow, DeviceTable, MAX_DEVICE_FILE};
pub use nvs_data::{BoardFacts, NvsData, NvsDataError};
pub use placement::{NvsPlace, PlaceError, PlaceProblem, PlacedImage};
pub use serial::{SerialFormat, SerialFormatError};
pub use station::{NvsTarget, SetupError, StationProvisioning};

use flashline_nvs::partition_table::{PartitionTable, TableError, DEFAULT_TABLE_OFFSET};

/// What `[provision]` asks for.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Provisioning {
    /// Serial numbers (`[provision] serial`).
    pub serial: Option<SerialFormat>,
    /// A per-device NVS partition (`[provision.nvs]`).
    pub nvs: Option<NvsProvision>,
    /// Serial numbers leased from the central record at a time (`[provision]
    /// lease_block`; with `[central]` only); `None`: [`DEFAULT_LEASE_BLOCK`].
    pub lease_block: Option<u64>,
}

/// `[provision.nvs]`, checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NvsProvision {
    pub data: NvsData,
    pub placement: NvsPlacement,
}

/// Where a board's NVS partition goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NvsPlacement {
    /// Given in the config (`offset`, `size`).
    Fixed { offset: u32, size: u32 },
    /// A partition of the golden image's partition table: the one labelled `label`, or the
    /// NVS partition (`nvs`, or the only data/nvs one) when `None`.
    FromTable { label: Option<String>, table_offset: u32 },
}

/// Why the partition table did not say where the NVS partition is.
#[derive(Debug, thiserror::Error)]
pub enum PlacementError {
    #[error(
        "the golden image has no bytes at the partition table offset {0:#x}; give [provision.nvs] offset and size"
    )]
    NoTable(u32),
    #[error("partition table at {offset:#x}: {source}")]
    Table { offset: u32, source: TableError },
    #[error("the partition table has no partition labelled {label:?} (labels: {labels})")]
    NoLabel { label: String, labels: String },
}

impl NvsPlacement {
    /// Default offset of the partition table in an ESP-IDF image.
    pub const DEFAULT_TABLE_OFFSET: u32 = DEFAULT_TABLE_OFFSET as u32;

    /// `(offset, size)` of the partition; `table` returns the golden image's bytes from the
    /// given flash address on (`None` when the image holds nothing there).
    pub fn resolve(&self, table: impl FnOnce(u32) -> Option<Vec<u8>>) -> Result<(u32, u32), PlacementError> {
        match self {
            NvsPlacement::Fixed { offset, size } => Ok((*offset, *size)),
            NvsPlacement::FromTable { label, table_offset } => {
                let offset = *table_offset;
                let bytes = table(offset).ok_or(PlacementError::NoTable(offset))?;
                let parsed =
                    PartitionTable::parse(&bytes).map_err(|source| PlacementError::Table { offset, source })?;
                let partition = match label {
                    Some(label) => parsed.by_label(label).ok_or_else(|| PlacementError::NoLabel {
                        label: label.clone(),
                        labels: parsed.partitions.iter().map(|p| p.label.as_str()).collect::<Vec<_>>().join(", "),
                    })?,
                    None => parsed.nvs().map_err(|source| PlacementError::Table { offset, source })?,
                };
                Ok((partition.offset, partition.size))
            }
        }
    }
}

#[cfg(test)]
mod tests;
