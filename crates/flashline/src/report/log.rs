//! Structured logs of station events: one `tracing` event per transition, with `slot`,
//! `mac`, `stage`, `result`, `attempt_id` and `image_sha256` fields so journald (SLOT,
//! MAC, ... in [`super::journald`]) or any log shipper can filter by board.
//!
//! Values that come from outside — device nodes from udev, failure reasons that quote what
//! a board sent, image names — are written through [`crate::text::Escaped`], so a log
//! viewed on a terminal (or journalctl's output) is never driven by them.

use crate::station::events::EventReceiver;
use crate::station::{Outcome, StationEvent};
use crate::text::Escaped;

/// Logs every event until the dispatcher stops.
pub async fn log_events(mut rx: EventReceiver) {
    while let Some(ev) = rx.recv().await {
        log_event(&ev);
    }
}

pub fn log_event(ev: &StationEvent) {
    match ev {
        StationEvent::BoardAdded { slot, port } => tracing::info!(%slot, port = %Escaped(port), "board inserted"),
        StationEvent::BoardRemoved { slot } => tracing::info!(%slot, "board removed"),
        StationEvent::JobStarted { slot, port } => tracing::info!(%slot, port = %Escaped(port), "flashing started"),
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
                    tracing::warn!(%slot, %mac, secs, result = "fail", %stage, reason = %Escaped(reason), attempt_id, image_sha256, "board failed")
                }
                Outcome::Interrupted { stage } => {
                    tracing::warn!(%slot, %mac, result = "interrupted", %stage, attempt_id, image_sha256, "job interrupted by shutdown")
                }
                Outcome::NotStarted { reason } => {
                    tracing::error!(%slot, reason = %Escaped(reason), image_sha256, "job not started")
                }
            }
        }
        StationEvent::StoreFault { reason } => {
            tracing::error!(reason = %Escaped(reason), "audit store refuses writes: new boards wait; finished rows are kept")
        }
        StationEvent::StoreRecovered => tracing::info!("audit store accepts writes again"),
        StationEvent::Reloaded { images } => {
            // One line per image: a station of several chips names each with its chip.
            for i in images {
                let chip = i.chip.as_deref().unwrap_or("any");
                tracing::info!(%chip, image = %Escaped(&i.name), image_sha256 = %i.sha256, "configuration reloaded")
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};
    use std::time::Duration;

    use super::*;
    use crate::station::AuditRef;

    /// A board or USB device controls these: a device node from udev, the reason quoting
    /// what the board sent, an image name.
    const NASTY: &str = "x\u{1b}]0;pwned\u{7}\u{9b}31m\u{202e}";

    #[test]
    fn fields_from_outside_reach_the_log_escaped() {
        let out = Arc::new(Mutex::new(Vec::<u8>::new()));
        let writer = {
            let out = out.clone();
            move || Captured(out.clone())
        };
        let sub = tracing_subscriber::fmt().with_ansi(false).with_writer(writer).finish();
        let audit = AuditRef { attempt: None, image_sha256: "ab".repeat(32) };
        let events = [
            StationEvent::BoardAdded { slot: "A1".into(), port: format!("/dev/{NASTY}") },
            StationEvent::JobStarted { slot: "A1".into(), port: format!("/dev/{NASTY}") },
            StationEvent::Finished {
                slot: "A1".into(),
                mac: None,
                outcome: Outcome::Fail { stage: "connect".into(), reason: format!("board said {NASTY}") },
                took: Duration::from_secs(1),
                audit: audit.clone(),
            },
            StationEvent::Finished {
                slot: "A1".into(),
                mac: None,
                outcome: Outcome::NotStarted { reason: NASTY.into() },
                took: Duration::ZERO,
                audit,
            },
            StationEvent::StoreFault { reason: NASTY.into() },
            StationEvent::Reloaded {
                images: vec![crate::station::ImageInfo {
                    chip: Some("esp32".into()),
                    name: NASTY.into(),
                    sha256: "ab".repeat(32),
                }],
            },
        ];
        tracing::subscriber::with_default(sub, || events.iter().for_each(log_event));
        let text = String::from_utf8(out.lock().unwrap().clone()).unwrap();
        assert_eq!(text.lines().count(), events.len(), "{text}");
        for line in text.lines() {
            assert!(!line.chars().any(crate::text::needs_escape), "{line:?}");
            assert!(line.contains("\\u{202e}"), "the value is there, escaped: {line}");
        }
    }

    struct Captured(Arc<Mutex<Vec<u8>>>);

    impl std::io::Write for Captured {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
}
