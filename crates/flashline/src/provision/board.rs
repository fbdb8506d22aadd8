//! One board's provisioning, between identify and write: its serial number (allocated
//! per MAC by the station's store and recorded on its row) and its NVS partition, made
//! from its facts and its per-device row and prepared as a region to write. Everything
//! that can refuse the board happens here, before anything is written to it.

use flashline_audit::{AttemptId, AuditError, AuditStore, NvsRecord, ProvisionRecord};
use flashline_protocol::Chip;
use flashline_session::{PreparedImage, Region};

use super::{BoardFacts, NvsDataError, StationProvisioning};

/// What a board gets besides the golden image.
#[derive(Debug, Clone)]
pub struct BoardProvision {
    /// Printed form and number.
    pub serial: Option<(String, u64)>,
    /// The NVS partition, prepared to write (one region).
    pub nvs: Option<PreparedImage>,
    /// What the audit row records (offset, size and SHA-256 of the partition).
    pub record: ProvisionRecord,
}

/// Why a board was refused by provisioning (the row's stage is `provision`).
#[derive(Debug, thiserror::Error)]
pub enum ProvisionError {
    #[error("serial numbers need the audit database: give --db or a station config with `database`")]
    NoStore,
    #[error("cannot allocate a serial number: {0}")]
    Serial(AuditError),
    #[error("cannot record the serial number and NVS partition: {0}")]
    Record(AuditError),
    #[error("{0}")]
    Nvs(#[from] NvsDataError),
    #[error("cannot prepare the NVS partition: {0}")]
    Prepare(String),
    #[error("this station places no NVS partition for an {0}: add an [images.{chip}] table", chip = .0.file_name())]
    NoPlace(Chip),
}

impl StationProvisioning {
    /// Allocates the board's serial number (when configured) and records it on the row
    /// `attempt` of `store`: from here on the number is the board's, even when it is then
    /// refused by [`Self::partition_for`] (no device row).
    pub async fn serial_for(
        &self,
        store: Option<&AuditStore>,
        attempt: Option<AttemptId>,
        mac: &str,
    ) -> Result<Option<(String, u64)>, ProvisionError> {
        let Some((format, alloc)) = &self.serial else { return Ok(None) };
        let id = attempt.ok_or(ProvisionError::NoStore)?;
        let number = alloc.allocate(id, mac).await.map_err(ProvisionError::Serial)?;
        let serial = format.format(number);
        if let Some(store) = store {
            store.record_provision(id, Some(&serial), None).await.map_err(ProvisionError::Record)?;
        }
        Ok(Some((serial, number)))
    }

    /// Makes the board's NVS partition (placed where its chip `family`'s image expects it)
    /// from its `serial` (from [`Self::serial_for`]) and records both on the row `attempt`
    /// of `store`. `chip` is the chip as identify describes it (a placeholder).
    #[allow(clippy::too_many_arguments)]
    pub async fn partition_for(
        &self,
        store: Option<&AuditStore>,
        attempt: Option<AttemptId>,
        serial: Option<(String, u64)>,
        mac: &str,
        slot: &str,
        chip: &str,
        family: Chip,
    ) -> Result<BoardProvision, ProvisionError> {
        let serial_text = serial.as_ref().map(|(s, _)| s.as_str());
        let facts = BoardFacts {
            mac: mac.to_owned(),
            serial: serial.clone(),
            station: self.station.clone(),
            slot: slot.to_owned(),
            chip: chip.to_owned(),
        };
        let mut record = ProvisionRecord { nvs: None };
        let nvs = match &self.nvs {
            None => None,
            Some(target) => {
                let place = target.place_for(family).ok_or(ProvisionError::NoPlace(family))?;
                let bytes = target.data.render(&facts, place.size as usize)?;
                let prepared = PreparedImage::new(vec![Region::new(place.offset, bytes)])
                    .map_err(|e| ProvisionError::Prepare(e.to_string()))?;
                let region = prepared.regions.first().ok_or_else(|| ProvisionError::Prepare("empty".into()))?;
                record.nvs = Some(NvsRecord {
                    offset: place.offset.into(),
                    size: place.size.into(),
                    sha256: hex::encode(region.sha256),
                });
                Some(prepared)
            }
        };
        if let (Some(store), Some(id), Some(_)) = (store, attempt, record.nvs.as_ref()) {
            store.record_provision(id, serial_text, Some(&record)).await.map_err(ProvisionError::Record)?;
        }
        Ok(BoardProvision { serial, nvs, record })
    }
}
