//! `[provision]` made ready for boards once the golden image and the audit store are
//! there: the partition's place resolved (from the config or the image's partition
//! table) and checked against the image's regions and every per-device row, and the
//! serial allocator on the station's store. A board then only needs its facts
//! ([`super::board`]).

use std::sync::Arc;

use flashline_audit::AuditStore;

use super::{BoardFacts, NvsData, NvsDataError, PlacementError, Provisioning, SerialAllocator, SerialFormat};
use crate::image::GoldenImage;

/// A station's provisioning, ready for boards.
#[derive(Debug, Clone)]
pub struct StationProvisioning {
    pub station: String,
    /// Serial numbers: their format and where they come from.
    pub serial: Option<(SerialFormat, SerialAllocator)>,
    pub nvs: Option<NvsTarget>,
}

/// The per-device NVS partition and where it goes.
#[derive(Debug, Clone)]
pub struct NvsTarget {
    pub data: NvsData,
    pub offset: u32,
    pub size: u32,
}

/// Why a station cannot provision boards; found at start, before any board.
#[derive(Debug, thiserror::Error)]
pub enum SetupError {
    #[error("[provision.nvs]: {0}")]
    Placement(#[from] PlacementError),
    #[error(
        "[provision.nvs]: the NVS partition {offset:#x}..{end:#x} overlaps the golden image's region at \
         {region:#x}..{region_end:#x}; leave the partition out of the image (a merged image: flash its parts \
         with a manifest) or place the partition elsewhere",
        end = *offset as u64 + *size as u64,
        region_end = *region as u64 + *region_len as u64
    )]
    Overlap { offset: u32, size: u32, region: u32, region_len: u32 },
    #[error("[provision.nvs]: {0}")]
    Data(#[from] NvsDataError),
    #[error("[provision.nvs] needs a [provision] serial: the per-device file is keyed by serial")]
    DevicesNeedSerial,
}

impl StationProvisioning {
    /// Resolves `config` for a station `station` writing `image`, allocating serials with
    /// `serials` (built on the station's store). `None` when `[provision]` asks for
    /// nothing.
    pub fn resolve(
        config: &Provisioning,
        station: &str,
        image: &GoldenImage,
        serials: impl FnOnce(u64) -> SerialAllocator,
        sample: &BoardFacts,
    ) -> Result<Option<Arc<StationProvisioning>>, SetupError> {
        if config.serial.is_none() && config.nvs.is_none() {
            return Ok(None);
        }
        let nvs = match &config.nvs {
            None => None,
            Some(nvs) => {
                let (offset, size) = nvs.placement.resolve(|at| table_bytes(image, at))?;
                for r in image.regions() {
                    let (a0, a1) = (u64::from(offset), u64::from(offset) + u64::from(size));
                    let (b0, b1) = (u64::from(r.offset), u64::from(r.offset) + r.data.len() as u64);
                    if a0 < b1 && b0 < a1 {
                        return Err(SetupError::Overlap {
                            offset,
                            size,
                            region: r.offset,
                            region_len: r.data.len() as u32,
                        });
                    }
                }
                if config.serial.is_none() && nvs.data.devices().is_some_and(|d| d.key() == super::DeviceKey::Serial) {
                    return Err(SetupError::DevicesNeedSerial);
                }
                nvs.data.check_all(sample, size as usize)?;
                Some(NvsTarget { data: nvs.data.clone(), offset, size })
            }
        };
        let serial = config.serial.clone().map(|f| {
            let alloc = serials(f.start());
            (f, alloc)
        });
        Ok(Some(Arc::new(StationProvisioning { station: station.to_owned(), serial, nvs })))
    }

    /// A local allocator on `store` (no central record).
    pub fn local_serials(store: &AuditStore) -> impl FnOnce(u64) -> SerialAllocator + '_ {
        move |start| SerialAllocator::local(store.clone(), start)
    }
}

/// The golden image's bytes from flash address `at` on (the partition table), if a region
/// holds that address.
fn table_bytes(image: &GoldenImage, at: u32) -> Option<Vec<u8>> {
    image.regions().iter().find_map(|r| {
        let start = at.checked_sub(r.offset)? as usize;
        (start < r.data.len()).then(|| r.data[start..].to_vec())
    })
}
