//! Provisioning at station start (and at a reload, and for `flashline flash --config`):
//! `[provision]` resolved against every golden image and given the station's store, with
//! the central record's leases when `[central]` is configured. A failure here stops the
//! start, before any board; `config check` runs the same placement ([`check`]).

use std::sync::Arc;

use flashline_audit::AuditStore;

use super::placement::{place, PlacedImage};
use super::{BoardFacts, SerialAllocator, SetupError, StationProvisioning, DEFAULT_LEASE_BLOCK};
use crate::config::Config;
use crate::exit::{Exit, Failure};
use crate::station::GoldenSet;

/// The station's provisioning (`None` without `[provision]`).
pub async fn for_station(
    config: &Config,
    images: &GoldenSet,
    store: Option<&AuditStore>,
) -> Result<Option<Arc<StationProvisioning>>, Failure> {
    let p = &config.provision;
    if p.serial.is_none() && p.nvs.is_none() {
        return Ok(None);
    }
    let sample = sample(config);
    if p.serial.is_some() && store.is_none() {
        return Err(Failure::new(Exit::Config, "[provision] serial needs the audit database (--db or `database`)"));
    }
    let central = match (&config.central, store) {
        (Some(c), Some(_)) => {
            Some(crate::station::forward::link(c, &config.station).map_err(|e| Failure::new(Exit::Config, e))?)
        }
        _ => None,
    };
    let block = p.lease_block.unwrap_or(DEFAULT_LEASE_BLOCK);
    let serials = |start: u64| {
        let store = store.expect("checked above").clone();
        match central {
            Some(link) => SerialAllocator::leased(store, start, link, block),
            None => SerialAllocator::local(store, start),
        }
    };
    let prov = StationProvisioning::resolve(p, &config.station, &placed(images), serials, &sample)
        .map_err(|e: SetupError| Failure::new(Exit::Config, e))?;
    if let Some((_, alloc)) = prov.as_ref().and_then(|p| p.serial.as_ref()) {
        alloc.prime().await;
    }
    Ok(prov)
}

/// `[provision.nvs]` placed against every image of `images`, for `config check`: the
/// same placement error the start would stop at.
pub fn check(config: &Config, images: &GoldenSet) -> Result<(), Failure> {
    match &config.provision.nvs {
        None => Ok(()),
        Some(nvs) => place(&nvs.placement, &placed(images)).map(drop).map_err(|e| Failure::new(Exit::Config, e)),
    }
}

/// The station's images as placement sees them.
fn placed(images: &GoldenSet) -> Vec<PlacedImage<'_>> {
    images.iter().map(|g| PlacedImage { chip: g.chip, name: &g.name, image: &g.image }).collect()
}

/// The longest facts a board can bring (every per-device row is made with them at start).
fn sample(config: &Config) -> BoardFacts {
    let p = &config.provision;
    BoardFacts {
        mac: "FF:FF:FF:FF:FF:FF".into(),
        serial: p.serial.as_ref().map(|f| (f.longest(), f.last_in_width())),
        station: config.station.clone(),
        slot: config.slots.iter().map(|s| s.name.clone()).max_by_key(String::len).unwrap_or_default(),
        chip: config
            .images
            .chips()
            .into_iter()
            .map(|c| c.file_name())
            .max_by_key(|n| n.len())
            .unwrap_or_default()
            .into(),
    }
}
