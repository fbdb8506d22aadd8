//! Structured logs of station events: one `tracing` event per transition, with `slot`,
//! `mac`, `serial`, `stage`, `result`, `boot`, `boot_ms`, `attempt_id` and `image_sha256`
//! fields so journald (SLOT, MAC, SERIAL, ... in [`super::journald`]) or any log shipper
//! can filter by board. A provisioned board's line carries its serial and where its NVS
//! partition goes (`nvs_offset`, `nvs_size`, `nvs_sha256`; never the values); a board
//! that failed its boot check carries its last console lines in the message
//! ([`super::console`]).
//!
//! Values that come from outside — device nodes from udev, failure reasons that quote what
//! a board sent, image names — are written through [`crate::text::Escaped`], so a log
//! viewed on a terminal (or journalctl's output) is never driven by them.

use tracing::field::display;

use super::console;
use crate::station::events::EventReceiver;
use crate::station::{Outcome, StationEvent};
use crate::text::Escaped;

/// `0x9000`: offsets and sizes of flash as the partition table writes them.
struct Hex(u64);

impl std::fmt::Display for Hex {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:#x}", self.0)
    }
}

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
        StationEvent::Provisioned { slot, serial, nvs } => {
            let serial = serial.as_deref().map(|s| display(Escaped(s)));
            let nvs_offset = nvs.as_ref().map(|n| display(Hex(n.offset)));
            let nvs_size = nvs.as_ref().map(|n| display(Hex(n.size)));
            let nvs_sha256 = nvs.as_ref().map(|n| n.sha256.as_str());
            tracing::info!(%slot, serial, nvs_offset, nvs_size, nvs_sha256, "board provisioned")
        }
        StationEvent::Finished { slot, mac, serial, outcome, took, audit, boot } => {
            let mac = mac.as_deref().unwrap_or("-");
            let serial = serial.as_deref().map(|s| display(Escaped(s)));
            let secs = took.as_secs_f64();
            let attempt_id = audit.attempt.map(|a| a.0);
            let image_sha256 = audit.image_sha256.as_str();
            let boot_ms = boot.as_ref().and_then(|b| b.ms_to_pattern);
            let failed_boot = boot.as_ref().filter(|b| !b.passed());
            let boot = boot.as_ref().map(|b| if b.passed() { "pass" } else { "fail" });
            match outcome {
                Outcome::Pass => {
                    tracing::info!(%slot, %mac, serial, secs, result = "pass", boot, boot_ms, attempt_id, image_sha256, "board passed")
                }
                Outcome::Fail { stage, reason } => match failed_boot {
                    Some(b) => tracing::warn!(
                        %slot, %mac, serial, secs, result = "fail", %stage, reason = %Escaped(reason), boot, attempt_id,
                        image_sha256, "board failed its boot check; last console lines: {}", console::log_text(&b.lines)
                    ),
                    None => {
                        tracing::warn!(%slot, %mac, serial, secs, result = "fail", %stage, reason = %Escaped(reason), boot, attempt_id, image_sha256, "board failed")
                    }
                },
                Outcome::Interrupted { stage } => {
                    tracing::warn!(%slot, %mac, serial, result = "interrupted", %stage, attempt_id, image_sha256, "job interrupted by shutdown")
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
    use flashline_audit::{BootRecord, NvsRecord};

    /// A board or USB device controls these: a device node from udev, the reason quoting
    /// what the board sent, an image name.
    const NASTY: &str = "x\u{1b}]0;pwned\u{7}\u{9b}31m\u{202e}";

    #[test]
    fn fields_from_outside_reach_the_log_escaped() {
        let audit = AuditRef { attempt: None, image_sha256: "ab".repeat(32) };
        let events = [
            StationEvent::BoardAdded { slot: "A1".into(), port: format!("/dev/{NASTY}") },
            StationEvent::JobStarted { slot: "A1".into(), port: format!("/dev/{NASTY}") },
            StationEvent::Finished {
                slot: "A1".into(),
                mac: None,
                serial: None,
                outcome: Outcome::Fail { stage: "connect".into(), reason: format!("board said {NASTY}") },
                took: Duration::from_secs(1),
                audit: audit.clone(),
                boot: None,
            },
            StationEvent::Finished {
                slot: "A1".into(),
                mac: None,
                serial: None,
                outcome: Outcome::NotStarted { reason: NASTY.into() },
                took: Duration::ZERO,
                audit: audit.clone(),
                boot: None,
            },
            StationEvent::Provisioned { slot: "A1".into(), serial: Some(format!("SN-{NASTY}")), nvs: None },
            // The console is the board's: escapes, a line break inside a line, a long line.
            StationEvent::Finished {
                slot: "A1".into(),
                mac: Some("24:0A:C4:00:00:01".into()),
                serial: Some("SN-00001".into()),
                outcome: Outcome::Fail { stage: "boot".into(), reason: "boot loop: the chip started 3 times".into() },
                took: Duration::from_secs(3),
                audit,
                boot: Some(BootRecord {
                    result: "fail".into(),
                    ms_to_pattern: None,
                    reason: Some("boot loop: the chip started 3 times".into()),
                    lines: vec![format!("E (95) {NASTY}"), "x\ny".into(), "y".repeat(4000)],
                }),
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
        let text = logged(&events);
        assert_eq!(text.lines().count(), events.len(), "{text}");
        for line in text.lines() {
            assert!(!line.chars().any(crate::text::needs_escape), "{line:?}");
            assert!(line.contains("\\u{202e}"), "the value is there, escaped: {line}");
        }
        let boot = text.lines().find(|l| l.contains("boot check")).unwrap();
        assert!(boot.contains("board failed its boot check; last console lines: E (95) x\\x1b]0;pwned"), "{boot}");
        assert!(boot.contains("\\nx\\ny\\nyyy"), "lines joined by an escaped newline: {boot}");
        assert!(boot.len() < 1000, "a long console line is cut: {} bytes", boot.len());
        assert!(boot.contains("serial=SN-00001") && boot.contains("boot=\"fail\""), "{boot}");
    }

    #[test]
    fn provisioned_and_finished_lines_name_the_serial_nvs_and_boot() {
        let nvs = NvsRecord { offset: 0x9000, size: 0x6000, sha256: "cd".repeat(32) };
        let events = [
            StationEvent::Provisioned { slot: "B2".into(), serial: Some("FL-001000".into()), nvs: Some(nvs) },
            StationEvent::Finished {
                slot: "B2".into(),
                mac: Some("24:0A:C4:00:00:02".into()),
                serial: Some("FL-001000".into()),
                outcome: Outcome::Pass,
                took: Duration::from_millis(2500),
                audit: AuditRef { attempt: Some(flashline_audit::AttemptId(7)), image_sha256: "ab".repeat(32) },
                boot: Some(BootRecord {
                    result: "pass".into(),
                    ms_to_pattern: Some(425),
                    reason: None,
                    lines: vec!["I (425) demo: self-test passed".into()],
                }),
            },
        ];
        let text = logged(&events);
        let lines: Vec<&str> = text.lines().collect();
        let want = format!(
            "board provisioned slot=B2 serial=FL-001000 nvs_offset=0x9000 nvs_size=0x6000 nvs_sha256=\"{}\"",
            "cd".repeat(32)
        );
        assert!(lines[0].ends_with(&want), "{}", lines[0]);
        assert!(lines[1].contains("board passed") && lines[1].contains("serial=FL-001000"), "{}", lines[1]);
        assert!(lines[1].contains("boot=\"pass\" boot_ms=425"), "{}", lines[1]);
        assert!(!lines[1].contains("console"), "a pass does not log its console: {}", lines[1]);
    }

    /// What the text log says for `events`.
    fn logged(events: &[StationEvent]) -> String {
        let out = Arc::new(Mutex::new(Vec::<u8>::new()));
        let writer = {
            let out = out.clone();
            move || Captured(out.clone())
        };
        let sub = tracing_subscriber::fmt().with_ansi(false).with_writer(writer).finish();
        tracing::subscriber::with_default(sub, || events.iter().for_each(log_event));
        let text = out.lock().unwrap().clone();
        String::from_utf8(text).unwrap()
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
