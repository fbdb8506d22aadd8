//! Begin/identify/stage/complete, interrupted recovery, rework, validation.

use super::Fixture;
use crate::common::*;
use flashline_audit::{
    AttemptId, AttemptResult, AuditError, Completion, RegionSummary, SkippedRegion, StageTimings, INTERRUPTED_REASON,
    UNKNOWN_STAGE,
};

pub async fn begin_identify_complete_round_trip<F: Fixture>() {
    let f = F::new().await;
    let store = f.open().await;
    let mut new = new_attempt("A2");
    new.started_at = Some(at(0));
    new.image_sha256 = sha(0xcd).to_uppercase();
    let id = store.begin_attempt(new).await.unwrap();

    let running = store.get(id).await.unwrap();
    assert_eq!(running.result, AttemptResult::Running);
    assert_eq!(running.ended_at, None);
    assert_eq!(running.seq, None);
    assert_eq!(running.image_sha256, sha(0xcd), "sha is stored lowercase");

    let rework = store.update_identity(id, &identity("aa-bb-cc-dd-ee-01")).await.unwrap();
    assert_eq!(rework, None);

    let timings = StageTimings::new().with("connect", 410).with("identify", 35).with("write", 9_800);
    let completion = Completion::fail("verify", "MD5 mismatch, expected \"abc\", got \"def\"")
        .with_bytes_written(65_536)
        .with_timings(timings.clone())
        .with_skipped(SkippedRegion { offset: 0x9000, length: 0x6000, reason: "nvs, kept".into() })
        .ended_at(at(42_500));
    store.complete_attempt(id, completion).await.unwrap();

    let row = store.get(id).await.unwrap();
    assert_eq!(row.id, id);
    assert_eq!(row.started_at, at(0));
    assert_eq!(row.ended_at, Some(at(42_500)));
    assert_eq!(row.duration_ms(), Some(42_500));
    assert_eq!((row.station_id.as_str(), row.slot.as_str()), ("line-1", "A2"));
    assert_eq!((row.usb_vid, row.usb_pid, row.usb_serial.as_deref()), (Some(0x1a86), Some(0x7523), None));
    assert_eq!(row.mac.as_deref(), Some("AA:BB:CC:DD:EE:01"));
    assert_eq!(row.chip.as_deref(), Some("ESP32-C3"));
    assert_eq!(row.chip_revision.as_deref(), Some("v0.4"));
    assert_eq!((row.flash_id, row.flash_size), (Some(0x1640c8), Some(4 << 20)));
    assert_eq!(row.result, AttemptResult::Fail);
    assert_eq!(row.failure_stage.as_deref(), Some("verify"));
    assert_eq!(row.failure_reason.as_deref(), Some("MD5 mismatch, expected \"abc\", got \"def\""));
    assert_eq!(row.bytes_written, 65_536);
    assert_eq!(row.verify_method, None);
    assert!(!row.rework);
    assert_eq!(row.stage_timings, timings, "stage order is kept");
    assert_eq!(row.skipped_regions.len(), 1);
    assert_eq!(row.seq, Some(1));
    assert_eq!(row.prev_hash.as_deref(), Some(flashline_audit::GENESIS_HASH));
    assert_eq!(row.row_hash.as_ref().map(String::len), Some(64));

    let report = store.verify_chain().await.unwrap();
    assert!(report.is_valid(), "{:?}", report.problems);
    assert_eq!(report.rows_checked, 1);
    assert_eq!(report.head.last_hash, row.row_hash.unwrap());
    assert!(store.integrity_check().await.unwrap().ok);
}

pub async fn a_row_is_completed_exactly_once<F: Fixture>() {
    let f = F::new().await;
    let store = f.open().await;
    let id = store.begin_attempt(new_attempt("A1")).await.unwrap();
    store.complete_attempt(id, pass()).await.unwrap();
    let again = store.complete_attempt(id, Completion::fail("write", "late")).await;
    assert!(matches!(again, Err(AuditError::AlreadyCompleted { result: AttemptResult::Pass, .. })), "{again:?}");
    let identify_late = store.update_identity(id, &identity("AA:BB:CC:DD:EE:02")).await;
    assert!(matches!(identify_late, Err(AuditError::AlreadyCompleted { .. })), "{identify_late:?}");
    let unknown = store.complete_attempt(AttemptId(999), pass()).await;
    assert!(matches!(unknown, Err(AuditError::NotFound { .. })), "{unknown:?}");
    let unknown = store.update_identity(AttemptId(999), &identity("AA:BB:CC:DD:EE:03")).await;
    assert!(matches!(unknown, Err(AuditError::NotFound { .. })), "{unknown:?}");
    let unknown = store.get(AttemptId(999)).await;
    assert!(matches!(unknown, Err(AuditError::NotFound { .. })), "{unknown:?}");
    assert!(unknown.unwrap_err().location().is_some_and(|l| l == store.location()), "the error names the database");
    assert_eq!(store.get(id).await.unwrap().result, AttemptResult::Pass);
    let report = store.verify_chain().await.unwrap();
    assert!(report.is_valid(), "{:?}", report.problems);
    assert_eq!(report.rows_checked, 1, "a refused completion adds nothing to the chain");
}

pub async fn invalid_input_is_refused_without_writing<F: Fixture>() {
    let f = F::new().await;
    let store = f.open().await;
    let mut bad = new_attempt("A1");
    bad.image_sha256 = "1234".into();
    assert!(matches!(store.begin_attempt(bad).await, Err(AuditError::Invalid(_))));
    let mut empty_slot = new_attempt(" ");
    empty_slot.slot = " ".into();
    assert!(matches!(store.begin_attempt(empty_slot).await, Err(AuditError::Invalid(_))));

    let id = store.begin_attempt(new_attempt("A1")).await.unwrap();
    assert!(matches!(store.update_identity(id, &identity("not-a-mac")).await, Err(AuditError::Invalid(_))));
    let mut running = pass();
    running.result = AttemptResult::Running;
    let mut pass_with_failure = pass();
    pass_with_failure.failure = Some(flashline_audit::Failure { stage: "x".into(), reason: "y".into() });
    let mut fail_without_reason = Completion::fail("write", "r");
    fail_without_reason.failure = None;
    let dup_stage = pass().with_timings(StageTimings::new().with("write", 1).with("write", 2));
    for c in [running, pass_with_failure, fail_without_reason, dup_stage] {
        let r = store.complete_attempt(id, c.clone()).await;
        assert!(matches!(r, Err(AuditError::Invalid(_))), "{c:?} -> {r:?}");
    }
    let row = store.get(id).await.unwrap();
    assert_eq!(row.result, AttemptResult::Running);
    assert_eq!(store.query(&flashline_audit::AttemptFilter::all()).await.unwrap().len(), 1);
}

pub async fn dead_daemon_leaves_running_rows_that_the_next_start_closes_as_interrupted<F: Fixture>() {
    let f = F::new().await;
    let (done, orphan_a, orphan_b);
    {
        let store = f.open().await;
        done = record(&store, "A1", at(0), Some("AA:BB:CC:DD:EE:10"), pass()).await;
        orphan_a = store.begin_attempt(new_attempt("A2")).await.unwrap();
        store.update_identity(orphan_a, &identity("AA:BB:CC:DD:EE:11")).await.unwrap();
        orphan_b = store.begin_attempt(new_attempt("A3")).await.unwrap();
        // A killed daemon neither completes nor closes anything: leak the store so no
        // connection is closed and the WAL is never checkpointed.
        std::mem::forget(store);
    }

    let store = f.open().await;
    assert_eq!(store.get(orphan_a).await.unwrap().result, AttemptResult::Running, "opening alone changes nothing");
    assert_eq!(store.close_interrupted().await.unwrap(), 2);
    for id in [orphan_a, orphan_b] {
        let row = store.get(id).await.unwrap();
        assert_eq!(row.result, AttemptResult::Interrupted);
        assert_eq!(row.failure_reason.as_deref(), Some(INTERRUPTED_REASON));
        assert_eq!(row.failure_reason.as_deref(), Some("daemon stopped before the job finished"));
        assert!(row.ended_at.is_some());
        assert!(row.seq.is_some());
    }
    assert_eq!(store.get(orphan_a).await.unwrap().mac.as_deref(), Some("AA:BB:CC:DD:EE:11"));
    assert_eq!(store.get(done).await.unwrap().result, AttemptResult::Pass);
    assert_eq!(store.close_interrupted().await.unwrap(), 0, "second start finds nothing to close");
    let report = store.verify_chain().await.unwrap();
    assert!(report.is_valid(), "{:?}", report.problems);
    assert_eq!(report.rows_checked, 3);
    store.close().await;

    // And the result survives a clean restart.
    let store = f.open().await;
    assert_eq!(store.get(orphan_b).await.unwrap().result, AttemptResult::Interrupted);
    assert!(store.verify_chain().await.unwrap().is_valid());
}

pub async fn rework_is_flagged_when_a_mac_comes_back<F: Fixture>() {
    let f = F::new().await;
    let store = f.open().await;
    let first = record(&store, "A1", at(0), Some("aa:bb:cc:dd:ee:20"), Completion::fail("write", "timeout")).await;
    let other = record(&store, "A2", at(MIN), Some("AA:BB:CC:DD:EE:21"), pass()).await;

    let again = store.begin_attempt(new_attempt("B1")).await.unwrap();
    assert!(!store.get(again).await.unwrap().rework, "unknown before identify");
    let rework_of = store.update_identity(again, &identity("AABBCCDDEE20")).await.unwrap();
    assert_eq!(rework_of, Some(first));
    store.complete_attempt(again, pass()).await.unwrap();

    let third = record(&store, "B2", at(3 * MIN), Some("AA:BB:CC:DD:EE:20"), pass()).await;

    let rows = |id| {
        let store = store.clone();
        async move { store.get(id).await.unwrap() }
    };
    assert!(!rows(first).await.rework);
    assert!(!rows(other).await.rework);
    let r = rows(again).await;
    assert!(r.rework);
    assert_eq!(r.rework_of, Some(first));
    let r3 = rows(third).await;
    assert!(r3.rework);
    assert_eq!(r3.rework_of, Some(first), "points at the first time the board was seen");
    assert!(store.verify_chain().await.unwrap().is_valid());
}

pub async fn completion_order_defines_the_chain_not_start_order<F: Fixture>() {
    let f = F::new().await;
    let store = f.open().await;
    let a = store.begin_attempt(new_attempt("A1")).await.unwrap();
    let b = store.begin_attempt(new_attempt("A2")).await.unwrap();
    let c = store.begin_attempt(new_attempt("A3")).await.unwrap();
    store.complete_attempt(c, pass()).await.unwrap();
    store.complete_attempt(a, Completion::fail("connect", "no sync")).await.unwrap();
    store.complete_attempt(b, pass()).await.unwrap();
    let seq = |id| {
        let store = store.clone();
        async move { store.get(id).await.unwrap().seq.unwrap() }
    };
    assert_eq!((seq(c).await, seq(a).await, seq(b).await), (1, 2, 3));
    let rc = store.get(c).await.unwrap();
    let ra = store.get(a).await.unwrap();
    assert_eq!(ra.prev_hash, rc.row_hash);
    assert!(store.verify_chain().await.unwrap().is_valid());
}

pub async fn reopening_an_existing_database_keeps_everything<F: Fixture>() {
    let f = F::new().await;
    let store = f.open().await;
    let id = record(&store, "A1", at(0), Some("AA:BB:CC:DD:EE:30"), pass()).await;
    store.close().await;
    let store = f.open().await;
    assert_eq!(store.get(id).await.unwrap().mac.as_deref(), Some("AA:BB:CC:DD:EE:30"));
    let id2 = record(&store, "A1", at(MIN), None, pass()).await;
    assert_eq!(store.get(id2).await.unwrap().seq, Some(2));
    assert!(store.verify_chain().await.unwrap().is_valid());
}

pub async fn the_stage_of_a_running_row_ends_up_in_its_interrupted_record<F: Fixture>() {
    let f = F::new().await;
    let store = f.open().await;
    let staged = store.begin_attempt(new_attempt("A1")).await.unwrap();
    assert_eq!(store.get(staged).await.unwrap().current_stage, None);
    for stage in ["connect", "identify", "erase", " write "] {
        store.set_stage(staged, stage).await.unwrap();
    }
    assert_eq!(store.get(staged).await.unwrap().current_stage.as_deref(), Some("write"));
    let unstaged = store.begin_attempt(new_attempt("A2")).await.unwrap();
    let passed = store.begin_attempt(new_attempt("A3")).await.unwrap();
    store.set_stage(passed, "verify").await.unwrap();
    store.complete_attempt(passed, pass()).await.unwrap();
    store.close().await;

    // The daemon died; the next start closes what it left.
    let store = f.open().await;
    assert_eq!(store.close_interrupted().await.unwrap(), 2);
    let row = store.get(staged).await.unwrap();
    assert_eq!(row.result, AttemptResult::Interrupted);
    assert_eq!(row.failure_stage.as_deref(), Some("write"), "interrupted during write");
    assert_eq!(row.failure_reason.as_deref(), Some(INTERRUPTED_REASON));
    assert_eq!(row.current_stage, None, "completion clears the live stage");
    let row = store.get(unstaged).await.unwrap();
    assert_eq!(row.failure_stage.as_deref(), Some(UNKNOWN_STAGE));
    let row = store.get(passed).await.unwrap();
    assert_eq!((row.result, row.failure_stage, row.current_stage), (AttemptResult::Pass, None, None));
    let report = store.verify_chain().await.unwrap();
    assert!(report.is_valid(), "{:?}", report.problems);
    assert_eq!(report.rows_checked, 3);
}

pub async fn set_stage_only_touches_running_rows<F: Fixture>() {
    let f = F::new().await;
    let store = f.open().await;
    let id = store.begin_attempt(new_attempt("A1")).await.unwrap();
    for bad in ["", "   ", &"x".repeat(flashline_audit::MAX_STAGE_LEN + 1)] {
        let r = store.set_stage(id, bad).await;
        assert!(matches!(r, Err(AuditError::Invalid(_))), "{bad:?}: {r:?}");
    }
    let r = store.set_stage(AttemptId(999), "write").await;
    assert!(matches!(r, Err(AuditError::NotFound { .. })), "{r:?}");
    store.set_stage(id, "write").await.unwrap();
    store.complete_attempt(id, Completion::fail("write", "no reply")).await.unwrap();
    let r = store.set_stage(id, "verify").await;
    assert!(matches!(r, Err(AuditError::AlreadyCompleted { result: AttemptResult::Fail, .. })), "{r:?}");
    let row = store.get(id).await.unwrap();
    assert_eq!((row.failure_stage.as_deref(), row.current_stage), (Some("write"), None));

    assert!(store.verify_chain().await.unwrap().is_valid());
}

/// The image chosen at identify replaces the one the row began with, is hashed with the
/// row, and cannot change once the row is complete.
pub async fn set_image_names_the_image_chosen_at_identify<F: Fixture>() {
    let f = F::new().await;
    let store = f.open().await;
    let id = store.begin_attempt(new_attempt("A1")).await.unwrap();
    for (name, digest) in [("", sha(0x11)), ("esp32s3.bin", "not hex".to_string())] {
        let r = store.set_image(id, name, &digest).await;
        assert!(matches!(r, Err(AuditError::Invalid(_))), "{name:?}: {r:?}");
    }
    let r = store.set_image(AttemptId(999), "esp32s3.bin", &sha(0x11)).await;
    assert!(matches!(r, Err(AuditError::NotFound { .. })), "{r:?}");
    store.set_image(id, "esp32s3.bin", &sha(0x11).to_uppercase()).await.unwrap();
    store.complete_attempt(id, Completion::pass(4096, "md5")).await.unwrap();
    let row = store.get(id).await.unwrap();
    assert_eq!((row.image_name.as_str(), row.image_sha256.as_str()), ("esp32s3.bin", sha(0x11).as_str()));
    let r = store.set_image(id, "other.bin", &sha(0x22)).await;
    assert!(matches!(r, Err(AuditError::AlreadyCompleted { .. })), "{r:?}");
    assert!(store.verify_chain().await.unwrap().is_valid());
}

pub async fn the_region_summary_round_trips_and_leaves_the_chain_intact<F: Fixture>() {
    let f = F::new().await;
    let store = f.open().await;
    let id = store.begin_attempt(new_attempt("A1")).await.unwrap();
    let regions = vec![
        RegionSummary {
            offset: 0,
            length: 0x400000,
            written: 0x108000,
            erased: 0x100000,
            blank: 0x1F0000,
            identical: 0x8000,
        },
        RegionSummary { offset: 0x400000, length: 0x1000, written: 0, erased: 0, blank: 0, identical: 0x1000 },
    ];
    store.complete_attempt(id, Completion::pass(0x108000, "md5").with_regions(regions.clone())).await.unwrap();
    let row = store.get(id).await.unwrap();
    assert_eq!(row.region_summary, regions);
    // A row completed without a summary (it failed before writing) has none.
    let failed = store.begin_attempt(new_attempt("A2")).await.unwrap();
    store.complete_attempt(failed, Completion::fail("connect", "no reply")).await.unwrap();
    assert!(store.get(failed).await.unwrap().region_summary.is_empty());
    assert!(store.verify_chain().await.unwrap().is_valid(), "the summary column does not change the chain");
}
