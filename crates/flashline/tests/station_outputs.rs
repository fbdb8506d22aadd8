//! Provisioning and the boot check in every output of a running station, over in-process
//! simulated boards: one board that boots, one whose app is corrupted after its verify
//! (it boot-loops).
//!
//! - events: the stage `provision` comes between identify and write (and again for the
//!   partition's write); `Provisioned` names the serial and the partition (offset, size,
//!   SHA-256 as the row records it); `Finished` carries the serial and the boot result;
//! - `/api/view`: each slot's serial, the boot result, the failed board's console lines;
//! - `/metrics`: boot checks by result, the boot time, serials, failures at stage `boot`,
//!   the provision stage's durations; `promtool check metrics` accepts it.

use std::collections::BTreeMap;

use flashline::station::StationEvent;
use flashline_audit::AttemptFilter;
use flashline_session::Stage;
use serde_json::Value;

mod support_http;
mod support_provision;
mod support_station;
use support_http::{get, promtool_check, sample};
use support_provision::{corrupt_after, NVS_OFFSET, NVS_SIZE};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn provisioning_and_the_boot_check_reach_events_api_view_and_metrics() {
    let (rig, _files) =
        support_provision::rig("fl-outputs-", 2, support_provision::BOOT, support_provision::SCRIPT).await;
    let mut running = support_provision::start(&rig).await;
    // The first board passes; the second is flashed the same way and its app is changed
    // right after its last MD5 (the partition's verify): it boot-loops.
    let good = running.plug(&rig, 0, Vec::new());
    let mut events = running.until_finished(1).await;
    let md5s = good.stats().md5s;
    running.plug(&rig, 1, vec![corrupt_after(md5s)]);
    events.extend(running.until_finished(1).await);

    // Per slot: the stages in order, what it was provisioned with, how it finished.
    let mut stages: BTreeMap<String, Vec<Stage>> = BTreeMap::new();
    let mut provisioned = BTreeMap::new();
    let mut finished = BTreeMap::new();
    for ev in &events {
        match ev {
            StationEvent::Stage { slot, stage } => stages.entry(slot.clone()).or_default().push(*stage),
            StationEvent::Provisioned { slot, serial, nvs } => {
                assert!(provisioned.insert(slot.clone(), (serial.clone(), nvs.clone())).is_none(), "{slot}: twice");
                assert!(!finished.contains_key(slot), "{slot}: provisioned after its end");
            }
            StationEvent::Finished { slot, serial, outcome, boot, .. } => {
                finished.insert(slot.clone(), (serial.clone(), outcome.clone(), boot.clone()));
            }
            _ => {}
        }
    }
    let rows = rig.ctx.store.query(&AttemptFilter::all()).await.unwrap();
    for slot in ["A1", "A2"] {
        let seen = &stages[slot];
        let at = |s: Stage| seen.iter().position(|x| *x == s).unwrap_or_else(|| panic!("{slot}: no {s} in {seen:?}"));
        assert!(at(Stage::Identify) < at(Stage::Provision), "{slot}: {seen:?}");
        assert!(at(Stage::Provision) < at(Stage::Write), "{slot}: provision before the write: {seen:?}");
        assert!(seen[at(Stage::Write)..].contains(&Stage::Provision), "{slot}: the partition's write: {seen:?}");
        assert_eq!(seen.last(), Some(&Stage::Boot), "{slot}: {seen:?}");

        let row = rows.iter().find(|r| r.slot == slot).expect("a row per board");
        let (serial, nvs) = &provisioned[slot];
        assert_eq!(serial, &row.serial, "{slot}: the event names the row's serial");
        assert!(serial.as_deref().is_some_and(|s| s.starts_with("SN-005")), "{serial:?}");
        let nvs = nvs.as_ref().expect("the partition's facts");
        assert_eq!((nvs.offset, nvs.size), (NVS_OFFSET, NVS_SIZE));
        assert_eq!(Some(nvs), row.provision.as_ref().and_then(|p| p.nvs.as_ref()), "{slot}: as the row records it");
        let (fin_serial, _, boot) = &finished[slot];
        assert_eq!(fin_serial, serial, "{slot}: Finished carries the serial");
        assert_eq!(boot, &row.boot, "{slot}: Finished carries the boot result the row holds");
    }
    let (_, outcome, boot) = &finished["A1"];
    assert_eq!(*outcome, flashline::station::Outcome::Pass);
    let boot = boot.as_ref().expect("a boot result");
    assert!(boot.passed() && boot.ms_to_pattern.is_some_and(|ms| (50..5000).contains(&ms)), "{boot:?}");
    let (_, outcome, boot) = &finished["A2"];
    assert!(matches!(outcome, flashline::station::Outcome::Fail { stage, .. } if stage == "boot"), "{outcome:?}");
    let boot = boot.as_ref().expect("a boot result");
    assert!(!boot.passed() && boot.reason.as_deref().is_some_and(|r| r.starts_with("boot loop")), "{boot:?}");
    assert!(boot.lines.iter().any(|l| l.contains("Checksum failed")), "{boot:?}");

    // /api/view: the serial per slot, the boot result, the failure's console lines.
    // (The view is published, and the metrics count, right after the events went out.)
    let body = settled(running.addr, "/api/view", |b| b.matches(r#""phase":"fail""#).count() == 1).await;
    let view: Value = serde_json::from_str(&body).unwrap();
    let slot = |name: &str| view["slots"].as_array().unwrap().iter().find(|s| s["name"] == name).unwrap().clone();
    let (a1, a2) = (slot("A1"), slot("A2"));
    assert_eq!(a1["serial"].as_str(), finished["A1"].0.as_deref(), "{a1}");
    assert_eq!(a2["serial"].as_str(), finished["A2"].0.as_deref(), "{a2}");
    assert_eq!(a1["boot"]["result"], "pass", "{a1}");
    assert!(a1["boot"]["seconds"].as_f64().is_some_and(|s| s > 0.0), "{a1}");
    assert_eq!(a1["boot"]["lines"], serde_json::json!([]), "a pass's lines stay in the audit row: {a1}");
    assert_eq!((a2["phase"].as_str(), a2["failed_stage"].as_str()), (Some("fail"), Some("boot")), "{a2}");
    assert_eq!(a2["boot"]["result"], "fail");
    assert_eq!(a2["boot"]["lines"], serde_json::json!(boot.lines), "{a2}");

    // /metrics: the boot checks, the boot time, the serials, the stages.
    let text = settled(running.addr, "/metrics", |t| {
        sample(t, "flashline_attempt_duration_seconds_count{result=\"fail\"}") == Some(1.0)
    })
    .await;
    assert_eq!(sample(&text, r#"flashline_boot_checks_total{result="pass"}"#), Some(1.0), "{text}");
    assert_eq!(sample(&text, r#"flashline_boot_checks_total{result="fail"}"#), Some(1.0), "{text}");
    assert_eq!(sample(&text, "flashline_boot_duration_seconds_count"), Some(1.0), "{text}");
    assert_eq!(sample(&text, "flashline_serials_allocated_total"), Some(2.0), "{text}");
    assert_eq!(sample(&text, r#"flashline_attempts_total{result="fail",slot="A2",stage="boot"}"#), Some(1.0));
    assert_eq!(sample(&text, r#"flashline_attempts_total{result="pass",slot="A1",stage=""}"#), Some(1.0));
    // Each board enters provision twice (prepare, then the partition's write).
    assert_eq!(sample(&text, r#"flashline_stage_duration_seconds_count{stage="provision"}"#), Some(4.0), "{text}");
    assert_eq!(sample(&text, r#"flashline_stage_duration_seconds_count{stage="boot"}"#), Some(2.0), "{text}");
    promtool_check(&text);

    running.stop().await;
}

/// The body of `path` once `ready` holds for it (within five seconds; the last one then).
async fn settled(addr: std::net::SocketAddr, path: &str, ready: impl Fn(&str) -> bool) -> String {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    loop {
        let (status, body) = get(addr, path).await;
        assert_eq!(status, 200, "{path}: {body}");
        if ready(&body) || std::time::Instant::now() > deadline {
            return body;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}
