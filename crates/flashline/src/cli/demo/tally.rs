//! What the demo's summary says about provisioning and the boot check, counted from the
//! station's events like any other output (the audit log is not read back for it): the
//! serial numbers boards got, their NVS partitions, and how their boot checks ended.

use std::collections::BTreeMap;

use flashline_audit::{BootRecord, NvsRecord};

use crate::station::StationEvent;

/// Per slot, the last board's serial, NVS partition and boot check.
#[derive(Debug, Default)]
pub struct Tally {
    serials: BTreeMap<String, String>,
    nvs: BTreeMap<String, NvsRecord>,
    boots: BTreeMap<String, BootRecord>,
}

impl Tally {
    /// Notes what `ev` says about a board's provisioning or boot check.
    pub fn record(&mut self, ev: &StationEvent) {
        match ev {
            StationEvent::Provisioned { slot, serial, nvs } => {
                if let Some(s) = serial {
                    self.serials.insert(slot.clone(), s.clone());
                }
                if let Some(n) = nvs {
                    self.nvs.insert(slot.clone(), n.clone());
                }
            }
            StationEvent::Finished { slot, boot: Some(b), .. } => {
                self.boots.insert(slot.clone(), b.clone());
            }
            _ => {}
        }
    }

    /// "provisioned: 8 serial number(s) (FL-001000 .. FL-001007), 8 NVS partition(s) at 0x9000".
    pub fn provision_line(&self) -> String {
        let mut serials: Vec<&str> = self.serials.values().map(String::as_str).collect();
        serials.sort_unstable();
        serials.dedup();
        let mut offsets: Vec<String> = self.nvs.values().map(|n| format!("{:#x}", n.offset)).collect();
        offsets.sort_unstable();
        offsets.dedup();
        format!(
            "provisioned: {} serial number(s) ({} .. {}), {} NVS partition(s) at {}",
            serials.len(),
            serials.first().unwrap_or(&"-"),
            serials.last().unwrap_or(&"-"),
            self.nvs.len(),
            if offsets.is_empty() { "-".to_string() } else { offsets.join(", ") },
        )
    }

    /// "boot check: 7 passed (pattern after 0.42 .. 0.61 s), 1 failed (H8: boot loop: …)".
    pub fn boot_line(&self) -> String {
        let times: Vec<u64> = self.boots.values().filter(|b| b.passed()).filter_map(|b| b.ms_to_pattern).collect();
        let passed = self.boots.values().filter(|b| b.passed()).count();
        let failed: Vec<String> = self
            .boots
            .iter()
            .filter(|(_, b)| !b.passed())
            .map(|(slot, b)| format!("{slot}: {}", crate::text::Escaped(b.reason.as_deref().unwrap_or("failed"))))
            .collect();
        let mut line = format!("boot check: {passed} passed");
        if let (Some(lo), Some(hi)) = (times.iter().min(), times.iter().max()) {
            line.push_str(&format!(" (pattern after {:.2} .. {:.2} s)", *lo as f64 / 1e3, *hi as f64 / 1e3));
        }
        line.push_str(&format!(", {} failed", failed.len()));
        if !failed.is_empty() {
            line.push_str(&format!(" ({})", failed.join("; ")));
        }
        line
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::station::{AuditRef, Outcome};

    fn finished(slot: &str, boot: Option<BootRecord>) -> StationEvent {
        StationEvent::Finished {
            slot: slot.into(),
            mac: None,
            serial: None,
            outcome: Outcome::Pass,
            took: Duration::from_secs(1),
            audit: AuditRef { attempt: None, image_sha256: String::new() },
            boot,
        }
    }

    fn boot(ms: Option<u64>, reason: Option<&str>) -> Option<BootRecord> {
        Some(BootRecord {
            result: if ms.is_some() { "pass" } else { "fail" }.into(),
            ms_to_pattern: ms,
            reason: reason.map(Into::into),
            lines: Vec::new(),
        })
    }

    #[test]
    fn serials_partitions_and_boot_checks_from_events() {
        let mut t = Tally::default();
        assert_eq!(t.provision_line(), "provisioned: 0 serial number(s) (- .. -), 0 NVS partition(s) at -");
        assert_eq!(t.boot_line(), "boot check: 0 passed, 0 failed");
        let nvs = NvsRecord { offset: 0x9000, size: 0x6000, sha256: "ab".repeat(32) };
        for (slot, serial) in [("A2", "FL-001001"), ("A1", "FL-001000"), ("A3", "FL-001002")] {
            t.record(&StationEvent::Provisioned {
                slot: slot.into(),
                serial: Some(serial.into()),
                nvs: Some(nvs.clone()),
            });
        }
        t.record(&finished("A1", boot(Some(425), None)));
        t.record(&finished("A2", boot(Some(612), None)));
        t.record(&finished("A3", boot(None, Some("boot loop: the chip started 3 times\u{1b}[2J"))));
        // A failure before the boot check has no record: not counted.
        t.record(&finished("A4", None));
        assert_eq!(
            t.provision_line(),
            "provisioned: 3 serial number(s) (FL-001000 .. FL-001002), 3 NVS partition(s) at 0x9000"
        );
        assert_eq!(
            t.boot_line(),
            "boot check: 2 passed (pattern after 0.42 .. 0.61 s), 1 failed (A3: boot loop: the chip started 3 times\\x1b[2J)"
        );
    }
}
