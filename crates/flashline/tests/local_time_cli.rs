//! `flashline log` and `flashline stats` in the station's time zone, run as the real binary
//! with `TZ` set: days and hours of UTC+8 (Asia/Shanghai) and of New York (UTC-5, and -4
//! in summer) including the day daylight saving ends, and `--utc` to count in UTC anyway.

use std::path::{Path, PathBuf};
use std::process::Command;

use flashline_audit::{AuditStore, Completion, NewAttempt, StoreOptions, Timestamp};
use serde_json::Value;

struct Out {
    code: i32,
    stdout: String,
    stderr: String,
}

/// Runs `flashline ARGS...` with `TZ=tz` and expects success.
fn flashline(tz: &str, args: &[&str]) -> Out {
    let out = Command::new(env!("CARGO_BIN_EXE_flashline")).args(args).env("TZ", tz).output().expect("run flashline");
    let out = Out {
        code: out.status.code().expect("exit code"),
        stdout: String::from_utf8(out.stdout).expect("utf-8 stdout"),
        stderr: String::from_utf8(out.stderr).expect("utf-8 stderr"),
    };
    assert_eq!(out.code, 0, "TZ={tz} flashline {args:?}\nstdout: {}\nstderr: {}", out.stdout, out.stderr);
    out
}

fn json(tz: &str, args: &[&str]) -> Value {
    let mut all = args.to_vec();
    all.extend_from_slice(&["--format", "json"]);
    serde_json::from_str(&flashline(tz, &all).stdout).expect("json output")
}

/// Slots of the rows `flashline log --db DB ARGS...` selects, sorted.
fn slots(tz: &str, db: &Path, args: &[&str]) -> Vec<String> {
    let mut all = vec!["log", "--db", db.to_str().unwrap()];
    all.extend_from_slice(args);
    let v = json(tz, &all);
    let mut s: Vec<String> =
        v.as_array().expect("array").iter().map(|r| r["slot"].as_str().unwrap().to_string()).collect();
    s.sort();
    s
}

/// `per_hour` of `flashline stats --db DB ARGS...`: (hour as printed, total).
fn hours(tz: &str, db: &Path, args: &[&str]) -> (Value, Vec<(String, u64)>) {
    let mut all = vec!["stats", "--db", db.to_str().unwrap()];
    all.extend_from_slice(args);
    let v = json(tz, &all);
    let h = v["per_hour"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| (h["hour"].as_str().unwrap().to_string(), h["total"].as_u64().unwrap()))
        .collect();
    (v, h)
}

fn t(s: &str) -> Timestamp {
    Timestamp::parse_rfc3339(s).unwrap()
}

/// A database with one passed attempt per `(slot, start)`.
async fn database(starts: &[(&str, Timestamp)]) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit.sqlite");
    let store = AuditStore::open(&path, StoreOptions::default()).await.expect("open store");
    for (slot, start) in starts {
        let id = store
            .begin_attempt(NewAttempt {
                station_id: "line-1".into(),
                slot: (*slot).into(),
                port: "1-2.1".into(),
                usb: None,
                image_name: "golden.bin".into(),
                image_sha256: "ab".repeat(32),
                started_at: Some(*start),
            })
            .await
            .expect("begin");
        store.complete_attempt(id, Completion::pass(1, "md5").ended_at(start.add_ms(1000))).await.unwrap();
    }
    store.close().await;
    (dir, path)
}

fn strs(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| s.to_string()).collect()
}

#[tokio::test]
async fn shanghai_days_start_at_local_midnight() {
    let (_dir, db) = database(&[
        ("A1", t("2025-03-10T15:30:00Z")), // 23:30 local, 10 March
        ("A2", t("2025-03-10T16:30:00Z")), // 00:30 local, 11 March
        ("A3", t("2025-03-11T01:00:00Z")), // 09:00 local, 11 March
        ("A4", t("2025-03-11T16:00:00Z")), // 00:00 local, 12 March
    ])
    .await;
    let tz = "Asia/Shanghai";
    let day = ["--since", "2025-03-11", "--until", "2025-03-12"];
    assert_eq!(slots(tz, &db, &day), strs(&["A2", "A3"]));
    let mut utc_day = day.to_vec();
    utc_day.push("--utc");
    assert_eq!(slots(tz, &db, &utc_day), strs(&["A3", "A4"]));
    // A wall-clock time is the station's; one with an offset is that instant.
    assert_eq!(slots(tz, &db, &["--since", "2025-03-11T09:00", "--until", "2025-03-12T00:00:00"]), strs(&["A3"]));
    assert_eq!(slots(tz, &db, &["--since", "2025-03-11T09:00Z"]), strs(&["A4"]));

    let (v, h) = hours(tz, &db, &day);
    assert_eq!(v["since"], "2025-03-11T00:00:00.000+08:00");
    assert_eq!(v["until"], "2025-03-12T00:00:00.000+08:00");
    assert_eq!(h, [("2025-03-11T00:00:00.000+08:00".into(), 1), ("2025-03-11T09:00:00.000+08:00".into(), 1)]);
    let (v, h) = hours(tz, &db, &utc_day);
    assert_eq!(v["since"], "2025-03-11T00:00:00.000Z");
    assert_eq!(h, [("2025-03-11T01:00:00.000Z".into(), 1), ("2025-03-11T16:00:00.000Z".into(), 1)]);

    // The tables show local times with the offset; JSON rows stay UTC.
    let table = flashline(tz, &["log", "--db", db.to_str().unwrap()]).stdout;
    assert!(table.contains("2025-03-11T00:30:00.000+08:00"), "{table}");
    let table =
        flashline(tz, &["stats", "--db", db.to_str().unwrap(), "--since", "2025-03-11", "--until", "2025-03-12"]);
    assert!(table.stdout.contains("attempts started 2025-03-11T00:00:00.000+08:00"), "{}", table.stdout);
    assert!(table.stdout.contains("2025-03-11T09:00:00.000+08:00"), "{}", table.stdout);
    let rows = json(tz, &["log", "--db", db.to_str().unwrap(), "--slot", "A2"]);
    assert_eq!(rows[0]["started_at"], "2025-03-10T16:30:00.000Z");
    // CSV keys are the local hours too.
    let csv = flashline(
        tz,
        &["stats", "--db", db.to_str().unwrap(), "--since", "2025-03-11", "--until", "2025-03-12", "--format", "csv"],
    );
    assert!(csv.stdout.contains("hour,2025-03-11T09:00:00.000+08:00,1,1,0,0,0,1.000000"), "{}", csv.stdout);
}

#[tokio::test]
async fn new_york_on_the_day_daylight_saving_ends() {
    // 2025-11-02: 02:00 EDT (-04:00) becomes 01:00 EST (-05:00); the day has 25 hours.
    let (_dir, db) = database(&[
        ("A1", t("2025-11-02T03:30:00Z")), // 23:30 EDT, 1 November
        ("A2", t("2025-11-02T04:30:00Z")), // 00:30 EDT
        ("A3", t("2025-11-02T05:30:00Z")), // 01:30 EDT
        ("A4", t("2025-11-02T06:30:00Z")), // 01:30 EST, the same wall-clock time again
        ("A5", t("2025-11-03T04:30:00Z")), // 23:30 EST, 2 November
        ("A6", t("2025-11-03T05:30:00Z")), // 00:30 EST, 3 November
    ])
    .await;
    let tz = "America/New_York";
    let day = ["--since", "2025-11-02", "--until", "2025-11-03"];
    assert_eq!(slots(tz, &db, &day), strs(&["A2", "A3", "A4", "A5"]));
    let (v, h) = hours(tz, &db, &day);
    assert_eq!(v["since"], "2025-11-02T00:00:00.000-04:00");
    assert_eq!(v["until"], "2025-11-03T00:00:00.000-05:00");
    assert_eq!(v["total"]["total"], 4);
    assert_eq!(
        h,
        [
            ("2025-11-02T00:00:00.000-04:00".into(), 1),
            ("2025-11-02T01:00:00.000-04:00".into(), 1),
            ("2025-11-02T01:00:00.000-05:00".into(), 1),
            ("2025-11-02T23:00:00.000-05:00".into(), 1),
        ]
    );
    // The day before is an ordinary one at -04:00.
    assert_eq!(slots(tz, &db, &["--since", "2025-11-01", "--until", "2025-11-02"]), strs(&["A1"]));
    let table = flashline(tz, &["log", "--db", db.to_str().unwrap()]).stdout;
    for shown in ["2025-11-02T01:30:00.000-04:00", "2025-11-02T01:30:00.000-05:00", "2025-11-03T00:30:00.000-05:00"] {
        assert!(table.contains(shown), "{shown} in\n{table}");
    }
}

#[tokio::test]
async fn today_is_the_local_day_for_log_and_stats() {
    for tz in ["Asia/Shanghai", "America/New_York"] {
        let zone = jiff::tz::TimeZone::get(tz).expect("tz database");
        let now = jiff::Timestamp::now();
        let midnight = now.to_zoned_datetime(zone.clone()).start_of_day().unwrap().timestamp();
        let midnight = Timestamp::from_unix_ms(midnight.as_millisecond());
        let (_dir, db) = database(&[("A1", midnight.add_ms(-1)), ("A2", midnight), ("A3", midnight.add_ms(1))]).await;
        assert_eq!(slots(tz, &db, &["--since", "today"]), strs(&["A2", "A3"]), "{tz}");
        assert_eq!(slots(tz, &db, &["--since", "yesterday", "--until", "today"]), strs(&["A1"]), "{tz}");
        let (v, _) = hours(tz, &db, &[]);
        assert_eq!(v["total"]["total"], 2, "{tz}: stats default to the local today");
        let since = v["since"].as_str().unwrap();
        assert!(since.contains("T00:00:00.000") && !since.ends_with('Z'), "{tz}: {since}");
    }
}
