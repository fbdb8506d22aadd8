use std::time::Duration;

use super::*;
use crate::station::{AuditRef, ImageInfo, SlotView};
use flashline_audit::{BootRecord, NvsRecord};

fn finished(slot: &str, outcome: Outcome, secs: u64) -> StationEvent {
    finished_boot(slot, outcome, secs, None)
}

fn finished_boot(slot: &str, outcome: Outcome, secs: u64, boot: Option<BootRecord>) -> StationEvent {
    StationEvent::Finished {
        slot: slot.into(),
        mac: None,
        serial: None,
        outcome,
        took: Duration::from_secs(secs),
        audit: AuditRef { attempt: None, image_sha256: "ab".repeat(32) },
        boot,
    }
}

fn boot(ms: Option<u64>) -> Option<BootRecord> {
    Some(BootRecord {
        result: if ms.is_some() { "pass" } else { "fail" }.into(),
        ms_to_pattern: ms,
        reason: ms.is_none().then(|| "boot loop: the chip started 3 times".into()),
        lines: vec!["rst:0x10 (RTCWDT_RTC_RESET)".into()],
    })
}

fn view() -> StationView {
    let image = ImageInfo { chip: Some("esp32".into()), name: "golden.json".into(), sha256: "cd".repeat(32) };
    let mut v = StationView::new("line-1".into(), vec![image]);
    let mut a = SlotView::new("A1".into(), "pci-0000:00:14.0-usb-0:1.1:1.0".into(), "/dev/ttyUSB0".into());
    a.phase = SlotPhase::Running;
    let mut b = SlotView::new("A2".into(), "pci-0000:00:14.0-usb-0:1.2:1.0".into(), "/dev/ttyUSB1".into());
    b.phase = SlotPhase::Fail { stage: "verify".into(), reason: "md5".into() };
    v.slots = vec![a, b];
    v
}

fn sample(text: &str, name_and_labels: &str) -> Option<f64> {
    text.lines().find_map(|l| l.strip_prefix(name_and_labels)?.trim().parse().ok())
}

#[test]
fn results_stages_and_slots_are_counted() {
    let m = StationMetrics::new();
    let t0 = Instant::now();
    m.record(&StationEvent::Stage { slot: "A1".into(), stage: Stage::Connect }, t0);
    m.record(&StationEvent::Stage { slot: "A1".into(), stage: Stage::Write }, t0 + Duration::from_millis(300));
    m.record(&finished("A1", Outcome::Pass, 9), t0 + Duration::from_secs(9));
    m.record(&finished("A2", Outcome::Fail { stage: "verify".into(), reason: "md5".into() }, 12), t0);
    m.record(&finished("A2", Outcome::Interrupted { stage: "write".into() }, 3), t0);
    m.record(&StationEvent::StoreFault { reason: "disk full".into() }, t0);
    let text = m.render(&view());

    assert_eq!(sample(&text, r#"flashline_attempts_total{result="pass",slot="A1",stage=""}"#), Some(1.0), "{text}");
    assert_eq!(sample(&text, r#"flashline_attempts_total{result="fail",slot="A2",stage="verify"}"#), Some(1.0));
    assert_eq!(sample(&text, r#"flashline_attempts_total{result="interrupted",slot="A2",stage="write"}"#), Some(1.0));
    // The connect stage lasted 0.3 s, the write stage until the finish (8.7 s).
    assert_eq!(sample(&text, r#"flashline_stage_duration_seconds_bucket{stage="connect",le="0.5"}"#), Some(1.0));
    assert_eq!(sample(&text, r#"flashline_stage_duration_seconds_bucket{stage="connect",le="0.25"}"#), Some(0.0));
    assert_eq!(sample(&text, r#"flashline_stage_duration_seconds_bucket{stage="write",le="8"}"#), Some(0.0));
    assert_eq!(sample(&text, r#"flashline_stage_duration_seconds_bucket{stage="write",le="15"}"#), Some(1.0));
    assert_eq!(sample(&text, r#"flashline_attempt_duration_seconds_count{result="pass"}"#), Some(1.0));
    assert_eq!(sample(&text, "flashline_store_faults_total"), Some(1.0));
}

#[test]
fn gauges_follow_the_view() {
    let m = StationMetrics::new();
    let mut v = view();
    let text = m.render(&v);
    assert_eq!(sample(&text, r#"flashline_slots{phase="running"}"#), Some(1.0), "{text}");
    assert_eq!(sample(&text, r#"flashline_slots{phase="fail"}"#), Some(1.0));
    assert_eq!(sample(&text, r#"flashline_slots{phase="queued"}"#), Some(0.0));
    let golden =
        format!(r#"flashline_golden_image_info{{chip="esp32",image="golden.json",sha256="{}"}}"#, "cd".repeat(32));
    assert_eq!(sample(&text, &golden), Some(1.0));
    assert_eq!(sample(&text, r#"flashline_station_info{station="line-1"}"#), Some(1.0));

    // A reload replaces the image label instead of adding a second series.
    v.images[0].sha256 = "ef".repeat(32);
    let text = m.render(&v);
    assert_eq!(text.matches("flashline_golden_image_info{").count(), 1, "{text}");
    assert!(text.contains(&"ef".repeat(32)));

    // A station of several chips: one series per chip's image.
    v.images.push(ImageInfo { chip: Some("esp32s3".into()), name: "s3.json".into(), sha256: "12".repeat(32) });
    let text = m.render(&v);
    assert_eq!(text.matches("flashline_golden_image_info{").count(), 2, "{text}");
    let s3 = format!(r#"flashline_golden_image_info{{chip="esp32s3",image="s3.json",sha256="{}"}}"#, "12".repeat(32));
    assert_eq!(sample(&text, &s3), Some(1.0), "{text}");
}

#[test]
fn a_removed_board_leaves_no_open_stage() {
    let m = StationMetrics::new();
    let t0 = Instant::now();
    m.record(&StationEvent::Stage { slot: "A1".into(), stage: Stage::Write }, t0);
    m.record(&StationEvent::BoardRemoved { slot: "A1".into() }, t0 + Duration::from_secs(1));
    m.record(&StationEvent::Stage { slot: "A1".into(), stage: Stage::Connect }, t0 + Duration::from_secs(50));
    let text = m.render(&view());
    // The pulled board's write was never finished: no write observation at all.
    assert_eq!(sample(&text, r#"flashline_stage_duration_seconds_count{stage="write"}"#), None, "{text}");
}

#[test]
fn forwarding_series_follow_the_forwarder_and_are_absent_without_central() {
    use crate::station::forward::{ForwardState, ForwardStatus};
    let m = StationMetrics::new();
    let mut v = view();
    let text = m.render(&v);
    assert!(!text.contains("flashline_central_"), "no [central], no series: {text}");

    let failed = Instant::now() - Duration::from_secs(5);
    let table = [
        (ForwardState::Starting, 0, 0, None, 0, 0),
        (ForwardState::Retrying("down".into()), 12, 0, Some(failed), 0, 0),
        (ForwardState::Forwarding, 3, 9, Some(failed), 1, 0),
        (ForwardState::Forwarding, 0, 12, Some(failed), 1, 0),
        (ForwardState::Stopped("twin".into()), 4, 12, Some(failed), 0, 1),
    ];
    for (state, backlog, forwarded, last_error, connected, stopped) in table {
        let label = format!("{state:?}");
        v.central = Some(ForwardStatus { backlog, forwarded, state, last_error });
        let text = m.render(&v);
        assert_eq!(sample(&text, "flashline_central_backlog_rows"), Some(backlog as f64), "{label}: {text}");
        assert_eq!(sample(&text, "flashline_central_connected"), Some(f64::from(connected)), "{label}");
        assert_eq!(sample(&text, "flashline_central_stopped"), Some(f64::from(stopped)), "{label}");
        assert_eq!(sample(&text, "flashline_central_forwarded_rows_total"), Some(forwarded as f64), "{label}");
        let age = sample(&text, "flashline_central_last_error_age_seconds");
        match last_error {
            None => assert_eq!(age, None, "{label}"),
            Some(_) => assert!(age.is_some_and(|a| (5.0..60.0).contains(&a)), "{label}: {age:?}"),
        }
    }
}

#[test]
fn provisioning_and_boot_checks_are_counted_like_the_other_stages() {
    let m = StationMetrics::new();
    let text = m.render(&view());
    // Before the first board: both results at 0, no boot time, no serial.
    assert_eq!(sample(&text, r#"flashline_boot_checks_total{result="pass"}"#), Some(0.0), "{text}");
    assert_eq!(sample(&text, r#"flashline_boot_checks_total{result="fail"}"#), Some(0.0), "{text}");
    assert_eq!(sample(&text, "flashline_boot_duration_seconds_count"), Some(0.0), "{text}");
    assert_eq!(sample(&text, "flashline_serials_allocated_total"), Some(0.0), "{text}");

    let t0 = Instant::now();
    let ms = Duration::from_millis;
    let nvs = NvsRecord { offset: 0x9000, size: 0x6000, sha256: "cd".repeat(32) };
    for (slot, serial) in [("A1", "FL-001000"), ("A2", "FL-001001")] {
        m.record(&StationEvent::Stage { slot: slot.into(), stage: Stage::Identify }, t0);
        m.record(&StationEvent::Stage { slot: slot.into(), stage: Stage::Provision }, t0 + ms(100));
        let provisioned =
            StationEvent::Provisioned { slot: slot.into(), serial: Some(serial.into()), nvs: Some(nvs.clone()) };
        m.record(&provisioned, t0 + ms(120));
        m.record(&StationEvent::Stage { slot: slot.into(), stage: Stage::Write }, t0 + ms(400));
        m.record(&StationEvent::Stage { slot: slot.into(), stage: Stage::Boot }, t0 + ms(2000));
    }
    // An NVS partition without a serial number gives no serial.
    m.record(&StationEvent::Provisioned { slot: "A3".into(), serial: None, nvs: Some(nvs) }, t0);
    m.record(&finished_boot("A1", Outcome::Pass, 3, boot(Some(425))), t0 + ms(2500));
    let boot_fail = Outcome::Fail { stage: "boot".into(), reason: "boot loop: the chip started 3 times".into() };
    m.record(&finished_boot("A2", boot_fail, 4, boot(None)), t0 + ms(3000));
    let refused = Outcome::Fail { stage: "provision".into(), reason: "no row for mac".into() };
    m.record(&finished("A3", refused, 1), t0);
    let text = m.render(&view());

    assert_eq!(sample(&text, r#"flashline_boot_checks_total{result="pass"}"#), Some(1.0), "{text}");
    assert_eq!(sample(&text, r#"flashline_boot_checks_total{result="fail"}"#), Some(1.0), "{text}");
    assert_eq!(sample(&text, "flashline_boot_duration_seconds_count"), Some(1.0), "only a pass has a time: {text}");
    assert_eq!(sample(&text, r#"flashline_boot_duration_seconds_bucket{le="0.25"}"#), Some(0.0), "{text}");
    assert_eq!(sample(&text, r#"flashline_boot_duration_seconds_bucket{le="0.5"}"#), Some(1.0), "{text}");
    assert_eq!(sample(&text, "flashline_serials_allocated_total"), Some(2.0), "{text}");
    // Failures by stage: provision and boot as the stage label, like any other stage.
    assert_eq!(sample(&text, r#"flashline_attempts_total{result="fail",slot="A2",stage="boot"}"#), Some(1.0));
    assert_eq!(sample(&text, r#"flashline_attempts_total{result="fail",slot="A3",stage="provision"}"#), Some(1.0));
    // The provision stage lasted 0.3 s on each board, the boot stage until its finish.
    assert_eq!(sample(&text, r#"flashline_stage_duration_seconds_count{stage="provision"}"#), Some(2.0), "{text}");
    assert_eq!(sample(&text, r#"flashline_stage_duration_seconds_bucket{stage="provision",le="0.25"}"#), Some(0.0));
    assert_eq!(sample(&text, r#"flashline_stage_duration_seconds_bucket{stage="provision",le="0.5"}"#), Some(2.0));
    assert_eq!(sample(&text, r#"flashline_stage_duration_seconds_count{stage="boot"}"#), Some(2.0), "{text}");
}
