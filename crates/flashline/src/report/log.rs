//! Structured logs of station events: one `tracing` event per transition, with `slot`,
//! `mac`, `stage`, `result`, `attempt_id` and `image_sha256` fields so journald (SLOT,
//! MAC, ... in [`super::journald`]) or any log shipper can filter by board.

use crate::station::events::EventReceiver;
use crate::station::{Outcome, StationEvent};

/// Logs every event until the dispatcher stops.
pub async fn log_events(mut rx: EventReceiver) {
    while let Some(ev) = rx.recv().await {
        log_event(&ev);
    }
}

pub fn log_event(ev: &StationEvent) {
    match ev {
        StationEvent::BoardAdded { slot, port } => tracing::info!(%slot, %port, "board inserted"),
        StationEvent::BoardRemoved { slot } => tracing::info!(%slot, "board removed"),
        StationEvent::JobStarted { slot, port } => tracing::info!(%slot, %port, "flashing started"),
        StationEvent::Stage { slot, stage } => tracing::debug!(%slot, stage = stage.as_str(), "stage"),
        StationEvent::Identified { slot, chip, mac, rework } => {
            if *rework {
                tracing::warn!(%slot, %chip, %mac, rework = true, "board identified: this MAC was flashed before (rework)")
            } else {
                tracing::info!(%slot, %chip, %mac, "board identified")
            }
        }
        StationEvent::Finished { slot, mac, outcome, took, audit } => {
            let mac = mac.as_deref().unwrap_or("-");
            let secs = took.as_secs_f64();
            let attempt_id = audit.attempt.map(|a| a.0);
            let image_sha256 = audit.image_sha256.as_str();
            match outcome {
                Outcome::Pass => {
                    tracing::info!(%slot, %mac, secs, result = "pass", attempt_id, image_sha256, "board passed")
                }
                Outcome::Fail { stage, reason } => {
                    tracing::warn!(%slot, %mac, secs, result = "fail", %stage, %reason, attempt_id, image_sha256, "board failed")
                }
                Outcome::Interrupted { stage } => {
                    tracing::warn!(%slot, %mac, result = "interrupted", %stage, attempt_id, image_sha256, "job interrupted by shutdown")
                }
                Outcome::NotStarted { reason } => tracing::error!(%slot, %reason, image_sha256, "job not started"),
            }
        }
        StationEvent::StoreFault { reason } => {
            tracing::error!(%reason, "audit store refuses writes: new boards wait; finished rows are kept")
        }
        StationEvent::StoreRecovered => tracing::info!("audit store accepts writes again"),
        StationEvent::Reloaded { image, sha256 } => {
            tracing::info!(%image, image_sha256 = %sha256, "configuration reloaded")
        }
    }
}
