//! The station view as the dashboard receives it: a JSON document per change (the
//! `/events` stream and `/api/view`). Field names follow the audit log's JSON (`mac` in
//! upper case as stored, stages by their names); durations in seconds.

use std::time::Instant;

use flashline_audit::BootRecord;
use serde::Serialize;

use crate::station::{SlotPhase, SlotView, StationView};

#[derive(Debug, Serialize)]
pub struct ViewJson<'a> {
    pub station: &'a str,
    /// The image and its SHA-256 when the station has one (one chip family); `null` with
    /// several (then `images` names each).
    pub image: Option<&'a str>,
    pub image_sha256: Option<&'a str>,
    /// Every image, one per chip family, in chip order.
    pub images: Vec<ImageJson<'a>>,
    pub pass: u32,
    pub fail: u32,
    pub running: u32,
    pub queued: u32,
    pub rework: u32,
    pub yield_percent: Option<f64>,
    pub boards_per_hour: Option<f64>,
    /// A station-wide condition (the audit store refuses writes, say).
    pub notice: Option<&'a str>,
    pub slots: Vec<SlotJson<'a>>,
}

#[derive(Debug, Serialize)]
pub struct ImageJson<'a> {
    /// The chip family (`esp32s3`); `null` for an image that takes any chip.
    pub chip: Option<&'a str>,
    pub name: &'a str,
    pub sha256: &'a str,
}

#[derive(Debug, Serialize)]
pub struct SlotJson<'a> {
    pub name: &'a str,
    pub port: &'a str,
    pub usb_path: &'a str,
    /// queued, running, pass, fail or empty.
    pub phase: &'static str,
    pub stage: Option<&'static str>,
    /// The stage a failed attempt stopped in, and why.
    pub failed_stage: Option<&'a str>,
    pub reason: Option<&'a str>,
    pub done: u64,
    pub total: u64,
    pub chip: Option<&'a str>,
    pub mac: Option<&'a str>,
    /// The board's serial number (`[provision] serial`), once it has one.
    pub serial: Option<&'a str>,
    /// The last attempt's boot check (`[boot]`), once it ended.
    pub boot: Option<BootJson<'a>>,
    pub rework: bool,
    pub attempts: u32,
    /// Seconds the running attempt has taken so far, or the last one took.
    pub seconds: Option<f64>,
}

/// A boot check as the dashboard shows it. The console lines are the board's output as
/// printed (the page shows them as text); only a failed check carries them, a passed
/// one's are in the audit row.
#[derive(Debug, Serialize)]
pub struct BootJson<'a> {
    /// pass or fail.
    pub result: &'a str,
    /// Seconds from the final reset to the pattern (a pass).
    pub seconds: Option<f64>,
    /// Why it failed.
    pub reason: Option<&'a str>,
    /// The last console lines of a failed check, oldest first; empty for a pass.
    pub lines: &'a [String],
}

impl<'a> BootJson<'a> {
    fn new(boot: &'a BootRecord) -> BootJson<'a> {
        BootJson {
            result: if boot.passed() { "pass" } else { "fail" },
            seconds: boot.ms_to_pattern.map(|ms| ms as f64 / 1000.0),
            reason: boot.reason.as_deref(),
            lines: if boot.passed() { &[] } else { &boot.lines },
        }
    }
}

impl<'a> ViewJson<'a> {
    pub fn new(view: &'a StationView, now: Instant) -> ViewJson<'a> {
        let single = match view.images.as_slice() {
            [one] => Some(one),
            _ => None,
        };
        ViewJson {
            station: &view.station,
            image: single.map(|i| i.name.as_str()),
            image_sha256: single.map(|i| i.sha256.as_str()),
            images: view
                .images
                .iter()
                .map(|i| ImageJson { chip: i.chip.as_deref(), name: &i.name, sha256: &i.sha256 })
                .collect(),
            pass: view.totals.pass,
            fail: view.totals.fail,
            running: view.totals.running,
            queued: view.totals.queued,
            rework: view.totals.rework,
            yield_percent: view.totals.yield_percent(),
            boards_per_hour: view.boards_per_hour(now),
            notice: view.notice.as_ref().map(|n| n.text.as_str()),
            slots: view.slots.iter().map(|s| SlotJson::new(s, now)).collect(),
        }
    }
}

impl<'a> SlotJson<'a> {
    fn new(slot: &'a SlotView, now: Instant) -> SlotJson<'a> {
        let (phase, failed_stage, reason) = match &slot.phase {
            SlotPhase::Queued => ("queued", None, None),
            SlotPhase::Running => ("running", None, None),
            SlotPhase::Pass => ("pass", None, None),
            SlotPhase::Fail { stage, reason } => ("fail", Some(stage.as_str()), Some(reason.as_str())),
            SlotPhase::Empty => ("empty", None, None),
        };
        let seconds = match (&slot.phase, slot.started, slot.took) {
            (SlotPhase::Running, Some(started), _) => Some(now.duration_since(started).as_secs_f64()),
            (_, _, Some(took)) => Some(took.as_secs_f64()),
            _ => None,
        };
        SlotJson {
            name: &slot.name,
            port: &slot.port,
            usb_path: &slot.usb_path,
            phase,
            stage: slot.stage.map(|s| s.as_str()),
            failed_stage,
            reason,
            done: slot.done,
            total: slot.total,
            chip: slot.chip.as_deref(),
            mac: slot.mac.as_deref(),
            serial: slot.serial.as_deref(),
            boot: slot.boot.as_ref().map(BootJson::new),
            rework: slot.rework,
            attempts: slot.attempts,
            seconds,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn a_failed_slot_carries_stage_and_reason_and_a_running_one_its_progress() {
        let image = |chip: &str, sha: &str| crate::station::ImageInfo {
            chip: Some(chip.into()),
            name: format!("{chip}.json"),
            sha256: sha.repeat(32),
        };
        let mut view = StationView::new("line-1".into(), vec![image("esp32", "ab")]);
        let mut a = SlotView::new("A1".into(), "usb-1".into(), "/dev/ttyUSB0".into());
        a.phase = SlotPhase::Fail { stage: "verify".into(), reason: "MD5 differs at 0x10000".into() };
        a.took = Some(Duration::from_millis(1500));
        let mut b = SlotView::new("A2".into(), "usb-2".into(), "/dev/ttyUSB1".into());
        b.phase = SlotPhase::Running;
        b.stage = Some(flashline_session::Stage::Write);
        b.done = 512;
        b.total = 2048;
        b.mac = Some("24:0A:C4:00:00:01".into());
        view.slots = vec![a, b];
        let v: serde_json::Value = serde_json::to_value(ViewJson::new(&view, Instant::now())).unwrap();
        assert_eq!(v["station"], "line-1");
        assert_eq!((v["image"].as_str(), v["image_sha256"].as_str()), (Some("esp32.json"), Some(&*"ab".repeat(32))));
        assert_eq!(v["images"][0]["chip"], "esp32");
        // Several chips: no one image, each named with its chip.
        let mut several = view.clone();
        several.images.push(image("esp32s3", "cd"));
        let w: serde_json::Value = serde_json::to_value(ViewJson::new(&several, Instant::now())).unwrap();
        assert!(w["image"].is_null() && w["image_sha256"].is_null(), "{w}");
        assert_eq!(w["images"][1]["chip"], "esp32s3");
        assert_eq!(w["images"][1]["name"], "esp32s3.json");
        assert_eq!(w["images"][1]["sha256"], "cd".repeat(32));
        assert_eq!(v["slots"][0]["phase"], "fail");
        assert_eq!(v["slots"][0]["failed_stage"], "verify");
        assert_eq!(v["slots"][0]["reason"], "MD5 differs at 0x10000");
        assert_eq!(v["slots"][0]["seconds"], 1.5);
        assert_eq!(v["slots"][1]["phase"], "running");
        assert_eq!(v["slots"][1]["stage"], "write");
        assert_eq!((v["slots"][1]["done"].as_u64(), v["slots"][1]["total"].as_u64()), (Some(512), Some(2048)));
        assert_eq!(v["slots"][1]["mac"], "24:0A:C4:00:00:01");
        assert!(v["slots"][1]["serial"].is_null() && v["slots"][1]["boot"].is_null(), "{v}");
    }

    #[test]
    fn a_slot_carries_its_serial_and_boot_check_with_a_failures_console_lines() {
        let mut view = StationView::new("line-1".into(), Vec::new());
        let mut pass = SlotView::new("A1".into(), "usb-1".into(), "/dev/ttyUSB0".into());
        pass.phase = SlotPhase::Pass;
        pass.serial = Some("FL-001000".into());
        pass.boot = Some(BootRecord {
            result: "pass".into(),
            ms_to_pattern: Some(425),
            reason: None,
            lines: vec!["I (425) demo: self-test passed".into()],
        });
        let mut fail = SlotView::new("A2".into(), "usb-2".into(), "/dev/ttyUSB1".into());
        fail.phase = SlotPhase::Fail { stage: "boot".into(), reason: "boot loop: the chip started 3 times".into() };
        fail.serial = Some("FL-001001".into());
        let lines = vec!["ets Jun  8 2016 00:22:57".to_string(), "<img src=x onerror=alert(1)>\u{1b}[31m".into()];
        fail.boot = Some(BootRecord {
            result: "fail".into(),
            ms_to_pattern: None,
            reason: Some("boot loop: the chip started 3 times".into()),
            lines: lines.clone(),
        });
        view.slots = vec![pass, fail];
        let v: serde_json::Value = serde_json::to_value(ViewJson::new(&view, Instant::now())).unwrap();
        let (a1, a2) = (&v["slots"][0], &v["slots"][1]);
        assert_eq!((a1["serial"].as_str(), a2["serial"].as_str()), (Some("FL-001000"), Some("FL-001001")));
        assert_eq!(a1["boot"], serde_json::json!({"result": "pass", "seconds": 0.425, "reason": null, "lines": []}));
        assert_eq!(a2["failed_stage"], "boot");
        assert_eq!(a2["boot"]["result"], "fail");
        assert_eq!(a2["boot"]["reason"], "boot loop: the chip started 3 times");
        assert!(a2["boot"]["seconds"].is_null());
        // As the board printed them: the page puts them in as text.
        assert_eq!(a2["boot"]["lines"], serde_json::json!(lines));
    }
}
