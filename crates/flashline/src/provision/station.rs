//! `[provision]` made ready for boards once the golden images and the audit store are
//! there: the partition's place resolved for every image (from the config or the image's
//! own partition table, [`super::placement`]) and checked against every per-device row,
//! and the serial allocator on the station's store. A board then only needs its facts and
//! its chip ([`super::board`]).

use std::sync::Arc;

use flashline_audit::AuditStore;

use flashline_protocol::Chip;

use super::placement::{place, NvsPlace, PlaceError, PlacedImage};
use super::{BoardFacts, NvsData, NvsDataError, Provisioning, SerialAllocator, SerialFormat};

/// A station's provisioning, ready for boards.
#[derive(Debug, Clone)]
pub struct StationProvisioning {
    pub station: String,
    /// Serial numbers: their format and where they come from.
    pub serial: Option<(SerialFormat, SerialAllocator)>,
    pub nvs: Option<NvsTarget>,
}

/// The per-device NVS partition and where it goes: one place per golden image.
#[derive(Debug, Clone)]
pub struct NvsTarget {
    pub data: NvsData,
    pub places: Vec<NvsPlace>,
}

impl NvsTarget {
    /// The place for a board of `chip`: its chip's image's, or the one image's when that
    /// image takes any chip.
    pub fn place_for(&self, chip: Chip) -> Option<NvsPlace> {
        match self.places.as_slice() {
            [one] if one.chip.is_none() => Some(*one),
            places => places.iter().find(|p| p.chip == Some(chip)).copied(),
        }
    }
}

/// Why a station cannot provision boards; found at start, before any board.
#[derive(Debug, thiserror::Error)]
pub enum SetupError {
    #[error("{0}")]
    Placement(#[from] PlaceError),
    #[error("[provision.nvs]: {0}")]
    Data(#[from] NvsDataError),
    #[error("[provision.nvs] needs a [provision] serial: the per-device file is keyed by serial")]
    DevicesNeedSerial,
}

impl StationProvisioning {
    /// Resolves `config` for a station `station` writing `images`, allocating serials with
    /// `serials` (built on the station's store). `None` when `[provision]` asks for
    /// nothing.
    pub fn resolve(
        config: &Provisioning,
        station: &str,
        images: &[PlacedImage<'_>],
        serials: impl FnOnce(u64) -> SerialAllocator,
        sample: &BoardFacts,
    ) -> Result<Option<Arc<StationProvisioning>>, SetupError> {
        if config.serial.is_none() && config.nvs.is_none() {
            return Ok(None);
        }
        let nvs = match &config.nvs {
            None => None,
            Some(nvs) => {
                let places = place(&nvs.placement, images)?;
                if config.serial.is_none() && nvs.data.devices().is_some_and(|d| d.key() == super::DeviceKey::Serial) {
                    return Err(SetupError::DevicesNeedSerial);
                }
                let mut sizes: Vec<u32> = places.iter().map(|p| p.size).collect();
                sizes.sort_unstable();
                sizes.dedup();
                for size in sizes {
                    nvs.data.check_all(sample, size as usize)?;
                }
                Some(NvsTarget { data: nvs.data.clone(), places })
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
