//! `flashline log`, `flashline log verify` and `flashline stats`, run as the real binary
//! against databases filled through `flashline_audit` with known rows.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::SystemTime;

use flashline_audit::{
    insert_synthetic, render, AttemptId, AttemptResult, AuditStore, Completion, Identity, NewAttempt, RegionSummary,
    StageTimings, StoreOptions, Timestamp, UsbInfo, INTERRUPTED_REASON,
};
use flashline_testkit::account::{reachable_copy, ThrowawayAccount};
use serde_json::Value;
use sqlx::ConnectOptions;

// ---------------------------------------------------------------------------------------
// Running the binary

struct Out {
    code: i32,
    stdout: String,
    stderr: String,
}

/// Runs the binary in UTC, so the expected days and hours do not depend on the machine's
/// zone (`local_time_cli.rs` tests the other zones).
fn flashline(args: &[&str]) -> Out {
    let out =
        Command::new(env!("CARGO_BIN_EXE_flashline")).args(args).env("TZ", "UTC").output().expect("run flashline");
    Out {
        code: out.status.code().expect("exit code"),
        stdout: String::from_utf8(out.stdout).expect("utf-8 stdout"),
        stderr: String::from_utf8(out.stderr).expect("utf-8 stderr"),
    }
}

/// Runs `flashline log --db DB ARGS...` and expects success.
fn log_ok(db: &Path, args: &[&str]) -> Out {
    let mut all = vec!["log", "--db", db.to_str().unwrap()];
    all.extend_from_slice(args);
    let out = flashline(&all);
    assert_eq!(out.code, 0, "flashline {all:?}\nstdout: {}\nstderr: {}", out.stdout, out.stderr);
    out
}

/// Ids of `flashline log --db DB ARGS... --format json`, in output order.
fn ids(db: &Path, args: &[&str]) -> Vec<i64> {
    let mut all = args.to_vec();
    all.extend_from_slice(&["--format", "json"]);
    let out = log_ok(db, &all);
    let v: Value = serde_json::from_str(&out.stdout).expect("json output");
    v.as_array().expect("array").iter().map(|r| r["id"].as_i64().expect("id")).collect()
}

// ---------------------------------------------------------------------------------------
// The known database

const SHA_V1: &str = "abababababababababababababababababababababababababababababababab";
const SHA_V2: &str = "cdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcd";
const NASTY: &str = "timeout, retried 3x; chip said \"FAIL\"\nline two, with ü and ,,";

fn t(s: &str) -> Timestamp {
    Timestamp::parse_rfc3339(s).unwrap()
}

struct Fixture {
    _dir: tempfile::TempDir,
    path: PathBuf,
}

async fn open(path: &Path) -> AuditStore {
    AuditStore::open(path, StoreOptions::default()).await.expect("open store")
}

async fn begin(store: &AuditStore, slot: &str, start: &str, image: (&str, &str)) -> AttemptId {
    store
        .begin_attempt(NewAttempt {
            station_id: "line-1".into(),
            slot: slot.into(),
            port: format!("1-2.{}", slot.as_bytes()[1] - b'0'),
            usb: Some(UsbInfo { vid: 0x1a86, pid: 0x7523, serial: None }),
            image_name: image.0.into(),
            image_sha256: image.1.into(),
            started_at: Some(t(start)),
        })
        .await
        .expect("begin")
}

async fn identify(store: &AuditStore, id: AttemptId, mac: &str) {
    let identity = Identity {
        mac: mac.into(),
        chip: "ESP32-C3".into(),
        chip_revision: Some("v0.4".into()),
        flash_id: Some(0x1640c8),
        flash_size: Some(4 << 20),
    };
    store.update_identity(id, &identity).await.expect("identify");
}

const V1: (&str, &str) = ("golden-v1.bin", SHA_V1);
const V2: (&str, &str) = ("golden-v2.bin", SHA_V2);

/// Six attempts, ids 1..=6, in March 2025:
///
/// | id | slot | started (UTC)       | MAC               | image | result                  |
/// |----|------|---------------------|-------------------|-------|-------------------------|
/// | 1  | A1   | 2025-03-10 08:00    | AA:BB:CC:DD:EE:01 | v1    | pass                    |
/// | 2  | A2   | 2025-03-10 08:05    | AA:BB:CC:DD:EE:02 | v1    | fail (write, NASTY)     |
/// | 3  | A1   | 2025-03-11 09:00    | AA:BB:CC:DD:EE:02 | v2    | pass (rework of 2)      |
/// | 4  | B1   | 2025-03-11 09:30    | AA:BB:CC:DD:EE:03 | v2    | fail (verify)           |
/// | 5  | A2   | 2025-03-11 10:15    | -                 | v2    | interrupted during erase|
/// | 6  | A3   | 2025-03-12 11:00    | AA:BB:CC:DD:EE:04 | v2    | running, stage write    |
///
/// Chain: seq 1..5 = ids 1..5. The daemon store is closed when this returns.
async fn fixture() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit.sqlite");
    let store = open(&path).await;

    let id = begin(&store, "A1", "2025-03-10T08:00:00Z", V1).await;
    identify(&store, id, "aa:bb:cc:dd:ee:01").await;
    let timings = StageTimings::new().with("connect", 410).with("write", 9_800).with("verify", 700);
    let c = Completion::pass(1_048_576, "md5")
        .with_timings(timings)
        .with_regions(vec![RegionSummary {
            offset: 0,
            length: 4 << 20,
            written: 1 << 20,
            erased: 0,
            blank: 3 << 20,
            identical: 0,
        }])
        .ended_at(t("2025-03-10T08:00:12Z"));
    store.complete_attempt(id, c).await.unwrap();

    let id = begin(&store, "A2", "2025-03-10T08:05:00Z", V1).await;
    identify(&store, id, "AA-BB-CC-DD-EE-02").await;
    let c = Completion::fail("write", NASTY).with_bytes_written(4096).ended_at(t("2025-03-10T08:05:30Z"));
    store.complete_attempt(id, c).await.unwrap();

    let id = begin(&store, "A1", "2025-03-11T09:00:00Z", V2).await;
    identify(&store, id, "aabbccddee02").await;
    store.complete_attempt(id, Completion::pass(1_048_576, "md5").ended_at(t("2025-03-11T09:00:20Z"))).await.unwrap();

    let id = begin(&store, "B1", "2025-03-11T09:30:00Z", V2).await;
    identify(&store, id, "AA:BB:CC:DD:EE:03").await;
    let c = Completion::fail("verify", "MD5 mismatch at 0x10000").ended_at(t("2025-03-11T09:30:25Z"));
    store.complete_attempt(id, c).await.unwrap();

    let id = begin(&store, "A2", "2025-03-11T10:15:00Z", V2).await;
    store.set_stage(id, "connect").await.unwrap();
    store.set_stage(id, "erase").await.unwrap();
    store.close().await;
    // The daemon died during erase; its next start closes the row.
    let store = open(&path).await;
    assert_eq!(store.close_interrupted().await.unwrap(), 1);

    let id = begin(&store, "A3", "2025-03-12T11:00:00Z", V2).await;
    identify(&store, id, "AA:BB:CC:DD:EE:04").await;
    store.set_stage(id, "write").await.unwrap();
    assert_eq!(id, AttemptId(6));
    store.close().await;
    Fixture { _dir: dir, path }
}

async fn raw(path: &Path) -> sqlx::SqliteConnection {
    sqlx::sqlite::SqliteConnectOptions::new().filename(path).connect().await.expect("raw connection")
}

// ---------------------------------------------------------------------------------------
// Filters

#[tokio::test]
async fn every_filter_selects_the_known_rows() {
    let f = fixture().await;
    let db = f.path.as_path();
    assert_eq!(ids(db, &[]), [6, 5, 4, 3, 2, 1], "newest first");

    for mac in ["AA:BB:CC:DD:EE:02", "aa:bb:cc:dd:ee:02", "aa-bb-cc-dd-ee-02", "AABBCCDDEE02", "aabb.ccdd.ee02"] {
        assert_eq!(ids(db, &["--mac", mac]), [3, 2], "{mac}");
    }
    assert_eq!(ids(db, &["--mac", "AA:BB:CC:DD:EE:99"]), Vec::<i64>::new());

    assert_eq!(ids(db, &["--slot", "A1"]), [3, 1]);
    assert_eq!(ids(db, &["--slot", "A2"]), [5, 2]);
    assert_eq!(ids(db, &["--slot", "Z9"]), Vec::<i64>::new());

    assert_eq!(ids(db, &["--result", "pass"]), [3, 1]);
    assert_eq!(ids(db, &["--result", "fail"]), [4, 2]);
    assert_eq!(ids(db, &["--result", "interrupted"]), [5]);
    assert_eq!(ids(db, &["--result", "running"]), [6]);

    // --since inclusive, --until exclusive; dates are midnight UTC; offsets honoured.
    assert_eq!(ids(db, &["--since", "2025-03-11"]), [6, 5, 4, 3]);
    assert_eq!(ids(db, &["--until", "2025-03-11"]), [2, 1]);
    assert_eq!(ids(db, &["--since", "2025-03-11T09:30:00Z", "--until", "2025-03-11T10:15:00Z"]), [4]);
    assert_eq!(ids(db, &["--since", "2025-03-11T10:30:00+01:00"]), [6, 5, 4]);
    assert_eq!(ids(db, &["--since", "2025-03-10T08:05:00.001Z", "--until", "2025-03-11T09:00:00.001Z"]), [3]);

    assert_eq!(ids(db, &["--image", "golden-v1.bin"]), [2, 1]);
    assert_eq!(ids(db, &["--image", "cdcd"]), [6, 5, 4, 3], "sha prefix");
    assert_eq!(ids(db, &["--image", "ABABABAB"]), [2, 1], "sha prefix, any case");
    assert_eq!(ids(db, &["--image", SHA_V2]), [6, 5, 4, 3], "full sha");
    assert_eq!(ids(db, &["--image", "golden-v3.bin"]), Vec::<i64>::new());

    assert_eq!(ids(db, &["--slot", "A1", "--result", "pass", "--image", "golden-v2.bin"]), [3], "filters AND");
    assert_eq!(ids(db, &["--mac", "aabbccddee02", "--since", "2025-03-11"]), [3]);
}

#[tokio::test]
async fn limit_all_and_the_default_limit() {
    let f = fixture().await;
    let out = log_ok(&f.path, &["--limit", "2", "--format", "json"]);
    let v: Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(v.as_array().unwrap().iter().map(|r| r["id"].as_i64().unwrap()).collect::<Vec<_>>(), [6, 5]);
    assert!(out.stderr.contains("showing the newest 2") && out.stderr.contains("--all"), "{}", out.stderr);
    let out = log_ok(&f.path, &["--limit", "6"]);
    assert!(out.stderr.is_empty(), "no note when everything is shown: {}", out.stderr);

    // 150 rows: 100 unless told otherwise.
    let dir = tempfile::tempdir().unwrap();
    let big = dir.path().join("big.sqlite");
    let store = open(&big).await;
    insert_synthetic(&store, 150, 3).await.unwrap();
    store.close().await;
    let out = log_ok(&big, &["--format", "jsonl"]);
    assert_eq!(out.stdout.lines().count(), 100);
    assert!(out.stderr.contains("showing the newest 100"), "{}", out.stderr);
    let out = log_ok(&big, &["--format", "jsonl", "--all"]);
    assert_eq!(out.stdout.lines().count(), 150);
    assert!(out.stderr.is_empty(), "{}", out.stderr);
}

/// Relative times are resolved against the command's own clock, in UTC days.
#[tokio::test]
async fn relative_times() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit.sqlite");
    let store = open(&path).await;
    let now = Timestamp::now();
    let today = now.start_of_day();
    let minute_ago = now.add_ms(-60_000);
    let starts = [
        ("A1", today),                        // id 1
        ("A2", today.add_ms(-1)),             // id 2: last ms of yesterday
        ("A3", now.add_ms(-2 * 86_400_000)),  // id 3
        ("A4", now.add_ms(-10 * 86_400_000)), // id 4
        ("B1", minute_ago),                   // id 5
        ("B2", today.add_ms(-86_400_000)),    // id 6: yesterday midnight
    ];
    for (slot, start) in starts {
        let id = begin(&store, slot, &start.to_string(), V1).await;
        store.complete_attempt(id, Completion::pass(1, "md5").ended_at(start.add_ms(1000))).await.unwrap();
    }
    store.close().await;
    // What each query must return, worked out with this test's clock (the command reads its
    // own a moment later; no row is within seconds of a relative boundary).
    let expect = |since: Timestamp, until: Option<Timestamp>| -> Vec<i64> {
        (1..).zip(starts).filter(|(_, (_, s))| *s >= since && until.is_none_or(|u| *s < u)).map(|(id, _)| id).collect()
    };
    let sorted = |mut v: Vec<i64>| {
        v.sort();
        v
    };
    let day = 86_400_000;
    let cases: [(&[&str], Vec<i64>); 7] = [
        (&["--since", "today"], expect(today, None)),
        (&["--since", "24h"], expect(now.add_ms(-day), None)),
        (&["--since", "7d"], expect(now.add_ms(-7 * day), None)),
        (&["--since", "3d", "--until", "1d"], expect(now.add_ms(-3 * day), Some(now.add_ms(-day)))),
        (&["--since", "yesterday", "--until", "today"], expect(today.add_ms(-day), Some(today))),
        (&["--since", "90s", "--until", "now"], expect(now.add_ms(-90_000), Some(now.add_ms(1)))),
        (&["--since", "2w"], expect(now.add_ms(-14 * day), None)),
    ];
    for (args, want) in cases {
        assert_eq!(sorted(ids(&path, args)), want, "{args:?}");
    }
    // The cases above are not vacuous. (In the first minutes after midnight the row of a
    // minute ago is yesterday's, which the cases above handle, but these counts differ.)
    if now.as_unix_ms() - today.as_unix_ms() > 10 * 60_000 {
        assert_eq!(expect(now.add_ms(-7 * day), None).len(), 5);
        assert_eq!(expect(today.add_ms(-day), Some(today)), [2, 6]);
        assert_eq!(expect(now.add_ms(-90_000), None), [5]);
    }
    let expect_today = expect(today, None);

    // `flashline stats` defaults to today until now.
    let out = flashline(&["stats", "--db", path.to_str().unwrap(), "--format", "json"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let v: Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(v["total"]["total"].as_u64().unwrap(), expect_today.len() as u64);
    assert_eq!(v["since"].as_str().unwrap(), today.to_string());
}

// ---------------------------------------------------------------------------------------
// Formats

#[tokio::test]
async fn json_and_jsonl_carry_every_field() {
    let f = fixture().await;
    let out = log_ok(&f.path, &["--format", "json"]);
    let rows: Vec<Value> = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(rows.len(), 6);
    let by_id = |id: i64| rows.iter().find(|r| r["id"] == id).unwrap();

    let r = by_id(2);
    assert_eq!(r["started_at"], "2025-03-10T08:05:00.000Z");
    assert_eq!(r["ended_at"], "2025-03-10T08:05:30.000Z");
    assert_eq!(r["slot"], "A2");
    assert_eq!(r["mac"], "AA:BB:CC:DD:EE:02");
    assert_eq!(r["result"], "fail");
    assert_eq!(r["failure_stage"], "write");
    assert_eq!(r["failure_reason"], NASTY);
    assert_eq!(r["bytes_written"], 4096);
    assert_eq!(r["image_name"], "golden-v1.bin");
    assert_eq!(r["image_sha256"], SHA_V1);
    assert_eq!(r["usb_vid"], 0x1a86);
    assert_eq!(r["seq"], 2);
    assert_eq!(r["row_hash"].as_str().unwrap().len(), 64);

    let r = by_id(1);
    assert_eq!(r["stage_timings"], serde_json::json!({"connect": 410, "write": 9800, "verify": 700}));
    assert_eq!(r["verify_method"], "md5");
    let r = by_id(3);
    assert_eq!((r["rework"].as_bool(), r["rework_of"].as_i64()), (Some(true), Some(2)));
    let r = by_id(5);
    assert_eq!((r["result"].as_str(), r["failure_stage"].as_str()), (Some("interrupted"), Some("erase")));
    assert_eq!(r["failure_reason"], INTERRUPTED_REASON);
    let r = by_id(6);
    assert_eq!((r["result"].as_str(), r["current_stage"].as_str()), (Some("running"), Some("write")));
    assert!(r["ended_at"].is_null() && r["seq"].is_null());

    let out = log_ok(&f.path, &["--format", "jsonl"]);
    let lines: Vec<Value> = out.stdout.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(lines, rows, "jsonl has the same rows, one per line");
}

/// A strict RFC 4180 reader.
fn parse_csv(text: &str) -> Vec<Vec<String>> {
    let (mut records, mut record, mut field) = (Vec::new(), Vec::new(), String::new());
    let mut chars = text.chars().peekable();
    let (mut quoted, mut at_start) = (false, true);
    while let Some(c) = chars.next() {
        if quoted {
            match c {
                '"' if chars.peek() == Some(&'"') => {
                    chars.next();
                    field.push('"');
                }
                '"' => quoted = false,
                c => field.push(c),
            }
            continue;
        }
        match c {
            '"' if at_start => {
                quoted = true;
                at_start = false;
            }
            '"' => panic!("bare quote in an unquoted field: {text:?}"),
            ',' => {
                record.push(std::mem::take(&mut field));
                at_start = true;
            }
            '\n' => {
                record.push(std::mem::take(&mut field));
                records.push(std::mem::take(&mut record));
                at_start = true;
            }
            c => {
                field.push(c);
                at_start = false;
            }
        }
    }
    assert!(!quoted && field.is_empty() && record.is_empty(), "truncated CSV: {text:?}");
    records
}

#[tokio::test]
async fn csv_parses_back_field_by_field() {
    let f = fixture().await;
    let out = log_ok(&f.path, &["--format", "csv"]);
    let records = parse_csv(&out.stdout);
    assert_eq!(records[0], render::CSV_COLUMNS.to_vec());
    assert_eq!(records.len(), 7);
    assert!(records.iter().all(|r| r.len() == render::CSV_COLUMNS.len()));
    let col = |name: &str| render::CSV_COLUMNS.iter().position(|c| *c == name).unwrap();
    let row = |id: &str| records.iter().find(|r| r[col("id")] == id).unwrap();
    let r = row("2");
    assert_eq!(r[col("failure_reason")], NASTY, "commas, quotes and newlines survive");
    assert_eq!(r[col("mac")], "AA:BB:CC:DD:EE:02");
    assert_eq!(r[col("started_at")], "2025-03-10T08:05:00.000Z");
    assert_eq!(r[col("usb_vid")], "1a86");
    assert_eq!(r[col("result")], "fail");
    let r = row("1");
    let timings: Value = serde_json::from_str(&r[col("stage_timings")]).unwrap();
    assert_eq!(timings, serde_json::json!({"connect": 410, "write": 9800, "verify": 700}));
    let r = row("6");
    assert_eq!((r[col("result")].as_str(), r[col("current_stage")].as_str()), ("running", "write"));
    assert_eq!(r[col("ended_at")], "");
    let ids: Vec<&str> = records[1..].iter().map(|r| r[col("id")].as_str()).collect();
    assert_eq!(ids, ["6", "5", "4", "3", "2", "1"]);

    // Filters apply to every format alike.
    let out = log_ok(&f.path, &["--format", "csv", "--result", "fail"]);
    let ids: Vec<String> = parse_csv(&out.stdout)[1..].iter().map(|r| r[col("id")].clone()).collect();
    assert_eq!(ids, ["4", "2"]);
}

#[tokio::test]
async fn what_the_write_did_per_region_is_shown() {
    let f = fixture().await;
    let out = log_ok(&f.path, &[]);
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert!(lines[0].contains("FLASH"), "{}", lines[0]);
    let first = lines.iter().find(|l| l.trim_start().starts_with("1 ")).unwrap();
    assert!(first.contains("written 1.0M, blank 3.0M"), "{first}");
    let running = lines.iter().find(|l| l.trim_start().starts_with("6 ")).unwrap();
    assert!(running.contains(" - "), "no summary before the write: {running}");

    let out = log_ok(&f.path, &["--format", "json"]);
    let v: Value = serde_json::from_str(&out.stdout).unwrap();
    let row = v.as_array().unwrap().iter().find(|r| r["id"] == 1).unwrap();
    let summary = &row["region_summary"][0];
    assert_eq!(
        (summary["offset"].as_u64(), summary["written"].as_u64(), summary["blank"].as_u64()),
        (Some(0), Some(1 << 20), Some(3 << 20))
    );
    assert_eq!((summary["erased"].as_u64(), summary["identical"].as_u64()), (Some(0), Some(0)));
}

#[tokio::test]
async fn the_table_is_for_people() {
    let f = fixture().await;
    let out = log_ok(&f.path, &[]);
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert_eq!(lines.len(), 7, "{}", out.stdout);
    for h in ["ID", "STARTED", "SLOT", "MAC", "RESULT", "STAGE", "REASON"] {
        assert!(lines[0].contains(h), "{h}: {}", lines[0]);
    }
    assert!(lines[1].starts_with(" 6") || lines[1].starts_with('6'), "{}", lines[1]);
    assert!(lines[1].contains("running") && lines[1].contains("write"), "running row shows its stage: {}", lines[1]);
    assert!(lines[2].contains("interrupted") && lines[2].contains("erase"), "{}", lines[2]);
    let fail = lines.iter().find(|l| l.trim_start().starts_with("2 ")).unwrap();
    assert!(fail.contains("2025-03-10T08:05:00.000Z") && fail.contains("AA:BB:CC:DD:EE:02"), "{fail}");
    assert!(fail.contains("golden-v1.bin (abababab)") && fail.contains("30.0"), "{fail}");
    assert!(!fail.contains('\n') && fail.contains("line two"), "the reason is on one line: {fail}");

    let out = log_ok(&f.path, &["--slot", "nope"]);
    assert_eq!(out.stdout.lines().count(), 1, "header only");
    assert!(out.stderr.contains("no attempt matches"), "{}", out.stderr);
}

/// Identify stores the chip's own description, which names the revision, and the revision
/// again in its own column (rows of every earlier version too): every format shows it once.
#[tokio::test]
async fn the_chip_revision_is_shown_once_in_every_format() {
    const CHIP: &str = "ESP32-D0WDQ6 (revision v1.0)";
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit.sqlite");
    let store = open(&path).await;
    let id = begin(&store, "A1", "2025-03-10T08:00:00Z", V1).await;
    let identity = Identity {
        mac: "AA:BB:CC:DD:EE:01".into(),
        chip: CHIP.into(),
        chip_revision: Some("v1.0".into()),
        flash_id: Some(0x1640c8),
        flash_size: Some(4 << 20),
    };
    store.update_identity(id, &identity).await.unwrap();
    store.complete_attempt(id, Completion::pass(1_048_576, "md5").ended_at(t("2025-03-10T08:00:12Z"))).await.unwrap();
    store.close().await;

    let table = log_ok(&path, &[]).stdout;
    let row = table.lines().nth(1).expect("one row");
    assert_eq!(row.matches("v1.0").count(), 1, "the revision once: {row}");
    assert!(row.contains(CHIP), "{row}");

    let csv = parse_csv(&log_ok(&path, &["--format", "csv"]).stdout);
    let col = |name: &str| render::CSV_COLUMNS.iter().position(|c| *c == name).unwrap();
    assert_eq!((csv[1][col("chip")].as_str(), csv[1][col("chip_revision")].as_str()), (CHIP, "v1.0"));

    let json: Value = serde_json::from_str(&log_ok(&path, &["--format", "json"]).stdout).unwrap();
    assert_eq!((json[0]["chip"].as_str(), json[0]["chip_revision"].as_str()), (Some(CHIP), Some("v1.0")));
    for out in [log_ok(&path, &["--format", "csv"]).stdout, log_ok(&path, &["--format", "jsonl"]).stdout] {
        assert!(!out.contains("v1.0) v1.0"), "{out}");
    }
}

// ---------------------------------------------------------------------------------------
// Hash chain

fn verify(db: &Path, json: bool) -> Out {
    let mut args = vec!["log", "verify", "--db", db.to_str().unwrap()];
    if json {
        args.extend_from_slice(&["--format", "json"]);
    }
    flashline(&args)
}

#[tokio::test]
async fn verify_accepts_an_intact_chain() {
    let f = fixture().await;
    let out = verify(&f.path, false);
    assert_eq!(out.code, 0, "{}\n{}", out.stdout, out.stderr);
    assert!(out.stdout.contains("chained rows checked: 5"), "{}", out.stdout);
    assert!(out.stdout.contains("chain head: seq 5, attempt #5"), "{}", out.stdout);
    assert!(out.stdout.contains("running (not chained yet): 1"), "{}", out.stdout);
    assert!(out.stdout.contains("result: OK"), "{}", out.stdout);

    let out = verify(&f.path, true);
    assert_eq!(out.code, 0);
    let v: Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(v["valid"], true);
    assert_eq!(v["rows_checked"], 5);
    assert_eq!(v["running"], 1);
    assert_eq!(v["head"]["last_seq"], 5);
    assert_eq!(v["problems"], serde_json::json!([]));
}

#[tokio::test]
async fn verify_names_an_edited_row_and_fails() {
    let f = fixture().await;
    // Someone turns failed board #4 into a pass with an SQLite shell.
    let mut conn = raw(&f.path).await;
    sqlx::query("UPDATE attempts SET result = 'pass', failure_stage = NULL, failure_reason = NULL WHERE id = 4")
        .execute(&mut conn)
        .await
        .unwrap();
    drop(conn);

    let out = verify(&f.path, false);
    assert_eq!(out.code, 1, "broken chain exits with 1\n{}\n{}", out.stdout, out.stderr);
    assert!(out.stdout.contains("result: BROKEN, 1 problem(s)"), "{}", out.stdout);
    assert!(out.stdout.contains("edited") && out.stdout.contains("seq 4 (attempt #4)"), "{}", out.stdout);
    assert!(out.stderr.contains("hash chain") && out.stderr.contains("broken"), "{}", out.stderr);

    let out = verify(&f.path, true);
    assert_eq!(out.code, 1);
    let v: Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(v["valid"], false);
    assert_eq!(v["problems"], serde_json::json!([{"kind": "edited", "seq": 4, "id": 4}]));
}

#[tokio::test]
async fn verify_names_a_deleted_row() {
    let f = fixture().await;
    let mut conn = raw(&f.path).await;
    sqlx::query("DELETE FROM attempts WHERE id = 4").execute(&mut conn).await.unwrap();
    drop(conn);
    let out = verify(&f.path, true);
    assert_eq!(out.code, 1, "{}", out.stderr);
    let v: Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(
        v["problems"],
        serde_json::json!([{"kind": "deleted", "after_seq": 3, "after_id": 3, "before_seq": 5, "before_id": 5, "missing": 1}])
    );
    let out = verify(&f.path, false);
    assert!(out.stdout.contains("1 row(s) deleted between seq 3 and seq 5 (attempt #5)"), "{}", out.stdout);
}

#[tokio::test]
async fn verify_names_an_inserted_row() {
    let f = fixture().await;
    // A forged "pass" row slipped into the chain: a copy of row 3 under a new id, given the
    // place of seq 4 (the rows after it renumbered), so the chain's links skip it.
    let mut conn = raw(&f.path).await;
    for sql in [
        "UPDATE attempts SET seq = seq + 100 WHERE seq >= 4",
        "UPDATE attempts SET seq = seq - 99 WHERE seq >= 104",
        "INSERT INTO attempts (id, started_at_ms, ended_at_ms, station_id, slot, port, image_name, image_sha256, \
         result, mac, seq, prev_hash, row_hash) SELECT 100, started_at_ms + 1, ended_at_ms + 1, station_id, 'B2', \
         port, image_name, image_sha256, 'pass', 'AA:BB:CC:DD:EE:77', 4, row_hash, row_hash FROM attempts WHERE id = 3",
    ] {
        sqlx::query(sqlx::AssertSqlSafe(sql)).execute(&mut conn).await.unwrap();
    }
    drop(conn);
    let out = verify(&f.path, true);
    assert_eq!(out.code, 1, "{}", out.stderr);
    let v: Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(v["problems"], serde_json::json!([{"kind": "inserted", "seq": 4, "id": 100}]));
    let out = verify(&f.path, false);
    assert!(out.stdout.contains("inserted") && out.stdout.contains("seq 4 (attempt #100)"), "{}", out.stdout);
}

// ---------------------------------------------------------------------------------------
// Stats

#[tokio::test]
async fn stats_counts_and_yield() {
    let f = fixture().await;
    let db = f.path.to_str().unwrap();
    let range = ["--since", "2025-03-10", "--until", "2025-03-13"];
    let mut args = vec!["stats", "--db", db, "--format", "json"];
    args.extend_from_slice(&range);
    let out = flashline(&args);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let v: Value = serde_json::from_str(&out.stdout).unwrap();
    let counts =
        |c: &Value| ["total", "pass", "fail", "interrupted", "running"].map(|k| c[k].as_u64().unwrap()).to_vec();
    assert_eq!(counts(&v["total"]), [6, 2, 2, 1, 1]);
    assert_eq!(v["total"]["yield"], 0.5, "pass / (pass + fail); interrupted and running are not judged");
    let slots: Vec<(&str, Vec<u64>, Value)> = v["per_slot"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| (s["slot"].as_str().unwrap(), counts(s), s["yield"].clone()))
        .collect();
    assert_eq!(
        slots,
        [
            ("A1", vec![2, 2, 0, 0, 0], Value::from(1.0)),
            ("A2", vec![2, 0, 1, 1, 0], Value::from(0.0)),
            ("A3", vec![1, 0, 0, 0, 1], Value::Null),
            ("B1", vec![1, 0, 1, 0, 0], Value::from(0.0)),
        ]
    );
    let hours: Vec<(&str, Vec<u64>)> =
        v["per_hour"].as_array().unwrap().iter().map(|h| (h["hour"].as_str().unwrap(), counts(h))).collect();
    assert_eq!(
        hours,
        [
            ("2025-03-10T08:00:00.000Z", vec![2, 1, 1, 0, 0]),
            ("2025-03-11T09:00:00.000Z", vec![2, 1, 1, 0, 0]),
            ("2025-03-11T10:00:00.000Z", vec![1, 0, 0, 1, 0]),
            ("2025-03-12T11:00:00.000Z", vec![1, 0, 0, 0, 1]),
        ]
    );

    // CSV: one header, then all / slot / hour records.
    let mut args = vec!["stats", "--db", db, "--format", "csv"];
    args.extend_from_slice(&range);
    let out = flashline(&args);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let records = parse_csv(&out.stdout);
    assert_eq!(records[0], ["scope", "key", "total", "pass", "fail", "interrupted", "running", "yield"]);
    assert_eq!(records[1], ["all", "", "6", "2", "2", "1", "1", "0.500000"]);
    assert_eq!(records[2], ["slot", "A1", "2", "2", "0", "0", "0", "1.000000"]);
    assert_eq!(records[4], ["slot", "A3", "1", "0", "0", "0", "1", ""]);
    assert_eq!(records[6], ["hour", "2025-03-10T08:00:00.000Z", "2", "1", "1", "0", "0", "0.500000"]);
    assert_eq!(records.len(), 1 + 1 + 4 + 4);

    // Table.
    let mut args = vec!["stats", "--db", db];
    args.extend_from_slice(&range);
    let out = flashline(&args);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let all = out.stdout.lines().find(|l| l.starts_with("all")).unwrap();
    assert_eq!(all.split_whitespace().collect::<Vec<_>>(), ["all", "6", "2", "2", "1", "1", "50.0%"]);
    assert!(out.stdout.lines().any(|l| l.starts_with("slot A1") && l.ends_with("100.0%")), "{}", out.stdout);
    assert!(out.stdout.contains("2025-03-11T10:00:00.000Z"), "{}", out.stdout);

    // A narrower window: one day.
    let out = flashline(&["stats", "--db", db, "--since", "2025-03-11", "--until", "2025-03-12", "--format", "json"]);
    let v: Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(counts(&v["total"]), [3, 1, 1, 1, 0]);
}

// ---------------------------------------------------------------------------------------
// Database selection and errors

#[tokio::test]
async fn the_station_config_names_the_database() {
    let f = fixture().await;
    let dir = f.path.parent().unwrap();
    let config = dir.join("station.toml");
    std::fs::write(
        &config,
        format!(
            "station = \"line-1\"\ndatabase = \"audit.sqlite\"\n[image]\nmanifest = \"golden/manifest.toml\"\n\
             sha256 = \"{}\"\nchip = \"esp32\"\n",
            "1b".repeat(32)
        ),
    )
    .unwrap();
    let c = config.to_str().unwrap();
    let out = flashline(&["log", "--config", c, "--result", "fail", "--format", "json"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let v: Vec<Value> = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(v.iter().map(|r| r["id"].as_i64().unwrap()).collect::<Vec<_>>(), [4, 2]);
    assert_eq!(flashline(&["log", "verify", "-C", c]).code, 0);
    assert_eq!(flashline(&["stats", "--config", c, "--since", "2025-03-10"]).code, 0);

    // A broken config is a configuration error (2), named by file and line.
    std::fs::write(&config, "station = \"line-1\"\nbogus = 1\n").unwrap();
    let out = flashline(&["log", "--config", c]);
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert!(out.stderr.contains("station.toml"), "{}", out.stderr);
    let out = flashline(&["log", "--config", dir.join("nope.toml").to_str().unwrap()]);
    assert_eq!(out.code, 2, "{}", out.stderr);
}

#[tokio::test]
async fn a_missing_database_is_a_database_error_and_is_not_created() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("nope.sqlite");
    let m = missing.to_str().unwrap();
    for args in [
        vec!["log", "--db", m],
        vec!["log", "--db", m, "--format", "json"],
        vec!["log", "verify", "--db", m],
        vec!["stats", "--db", m],
    ] {
        let out = flashline(&args);
        assert_eq!(out.code, 4, "{args:?}: {}", out.stderr);
        assert!(out.stderr.contains("does not exist") && out.stderr.contains(m), "{}", out.stderr);
        assert!(out.stdout.is_empty(), "{}", out.stdout);
    }
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0, "nothing was created");
}

#[tokio::test]
async fn a_database_of_another_schema_is_refused() {
    let f = fixture().await;
    let mut conn = raw(&f.path).await;
    sqlx::query("DELETE FROM _sqlx_migrations WHERE version = 5").execute(&mut conn).await.unwrap();
    drop(conn);
    let out = flashline(&["log", "--db", f.path.to_str().unwrap()]);
    assert_eq!(out.code, 4, "{}", out.stderr);
    assert!(out.stderr.contains("schema version 4") && out.stderr.contains("older flashline"), "{}", out.stderr);

    let dir = tempfile::tempdir().unwrap();
    let text = dir.path().join("notes.txt");
    std::fs::write(&text, "not a database at all, just a text file that is long enough").unwrap();
    let out = flashline(&["stats", "--db", text.to_str().unwrap()]);
    assert_eq!(out.code, 4, "{}", out.stderr);
}

#[tokio::test]
async fn bad_arguments_are_usage_errors() {
    let f = fixture().await;
    let db = f.path.to_str().unwrap();
    for args in [
        vec!["log", "--db", db, "--mac", "AA:BB:CC"],
        vec!["log", "--db", db, "--result", "ok"],
        vec!["log", "--db", db, "--since", "last tuesday"],
        vec!["log", "--db", db, "--since", "2025-03-12", "--until", "2025-03-11"],
        vec!["log", "--db", db, "--limit", "3", "--all"],
        vec!["log", "--db", db, "--format", "xml"],
        vec!["log", "--db", db, "--config", "x.toml"],
        vec!["log", "--slot", "A1", "verify", "--db", db],
        vec!["stats", "--db", db, "--since", "now", "--until", "1h"],
        vec!["stats", "--db", db, "--format", "jsonl"],
    ] {
        let out = flashline(&args);
        assert_eq!(out.code, 2, "{args:?}: {}", out.stderr);
        assert!(out.stdout.is_empty(), "{args:?}: {}", out.stdout);
    }
    let out = flashline(&["log", "--db", db, "--mac", "AA:BB:CC"]);
    assert!(out.stderr.contains("not a MAC address"), "{}", out.stderr);
}

// ---------------------------------------------------------------------------------------
// Read-only

/// Every file of the directory but the `-shm` wal-index, which WAL readers legitimately
/// update (read marks); it holds no data.
fn snapshot(dir: &Path) -> Vec<(String, Vec<u8>, SystemTime)> {
    let mut v: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .filter(|e| !e.as_ref().unwrap().file_name().to_string_lossy().ends_with("-shm"))
        .map(|e| {
            let e = e.unwrap();
            let name = e.file_name().to_string_lossy().into_owned();
            (name, std::fs::read(e.path()).unwrap(), e.metadata().unwrap().modified().unwrap())
        })
        .collect();
    v.sort();
    v
}

fn every_query(db: &str) -> Vec<Vec<&str>> {
    vec![
        vec!["log", "--db", db],
        vec!["log", "--db", db, "--all", "--format", "csv"],
        vec!["log", "--db", db, "--result", "running", "--format", "json"],
        vec!["log", "--db", db, "--mac", "aa-bb-cc-dd-ee-04", "--format", "jsonl"],
        vec!["log", "verify", "--db", db],
        vec!["stats", "--db", db, "--since", "2025-03-01"],
        vec!["stats", "--db", db, "--since", "2025-03-01", "--format", "csv"],
    ]
}

#[tokio::test]
async fn queries_never_change_the_file() {
    let f = fixture().await;
    let dir = f.path.parent().unwrap();
    let db_bytes = std::fs::read(&f.path).unwrap();
    let db_mtime = std::fs::metadata(&f.path).unwrap().modified().unwrap();
    for args in every_query(f.path.to_str().unwrap()) {
        let out = flashline(&args);
        assert_eq!(out.code, 0, "{args:?}: {}", out.stderr);
    }
    // A second round sees the state the first round left; nothing at all may change now.
    let before = snapshot(dir);
    for args in every_query(f.path.to_str().unwrap()) {
        assert_eq!(flashline(&args).code, 0);
    }
    assert!(snapshot(dir) == before, "a query changed a file in the database directory");
    assert!(std::fs::read(&f.path).unwrap() == db_bytes, "the database file changed");
    assert_eq!(std::fs::metadata(&f.path).unwrap().modified().unwrap(), db_mtime);

    // The running row was not closed as interrupted, and the daemon can still finish it.
    let store = open(&f.path).await;
    let row = store.get(AttemptId(6)).await.unwrap();
    assert_eq!((row.result, row.current_stage.as_deref()), (AttemptResult::Running, Some("write")));
    store.complete_attempt(AttemptId(6), Completion::pass(1, "md5")).await.unwrap();
    assert!(store.verify_chain().await.unwrap().is_valid());
}

/// The daemon is running (its store open, a job in flight, commits still in the WAL) while
/// an operator queries: the query sees the job and leaves it alone.
#[tokio::test]
async fn queries_beside_a_live_daemon() {
    let f = fixture().await;
    let daemon = open(&f.path).await;
    let live = begin(&daemon, "B2", "2025-03-12T12:00:00Z", V2).await;
    daemon.set_stage(live, "verify").await.unwrap();
    let db = f.path.to_str().unwrap();

    let out = log_ok(&f.path, &["--result", "running", "--format", "json"]);
    let rows: Vec<Value> = serde_json::from_str(&out.stdout).unwrap();
    let running: Vec<(i64, &str)> =
        rows.iter().map(|r| (r["id"].as_i64().unwrap(), r["current_stage"].as_str().unwrap())).collect();
    assert_eq!(running, [(live.0, "verify"), (6, "write")]);
    for args in every_query(db) {
        let out = flashline(&args);
        assert_eq!(out.code, 0, "{args:?}: {}", out.stderr);
    }
    let out = flashline(&["stats", "--db", db, "--since", "2025-03-12", "--until", "2025-03-13", "--format", "json"]);
    let v: Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(v["total"]["running"], 2);

    // Both jobs still running; the daemon finishes them as usual.
    for id in [live, AttemptId(6)] {
        assert_eq!(daemon.get(id).await.unwrap().result, AttemptResult::Running);
    }
    daemon.complete_attempt(live, Completion::fail("verify", "MD5 mismatch")).await.unwrap();
    let out = verify(&f.path, false);
    assert_eq!(out.code, 0, "{}", out.stdout);
    assert!(out.stdout.contains("chained rows checked: 6") && out.stdout.contains("running (not chained yet): 1"));
    assert!(daemon.verify_chain().await.unwrap().is_valid());
}

// ---------------------------------------------------------------------------------------
// Quality staff: a member of the database's group, read-only access

fn names(dir: &Path) -> std::collections::BTreeSet<String> {
    std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect()
}

/// Every query as `account`: all succeed, and no file appears or vanishes next to `db`.
fn every_query_as(account: &ThrowawayAccount, exe: &Path, db: &Path, what: &str) {
    let dir = db.parent().unwrap();
    let before = names(dir);
    for args in every_query(db.to_str().unwrap()) {
        let out = account.command(exe).args(&args).output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(0), "{what}: {args:?}: {stderr}");
    }
    let out = account.command(exe).args(["log", "--db", db.to_str().unwrap(), "--format", "json"]).output().unwrap();
    let rows: Vec<Value> = serde_json::from_slice(&out.stdout).expect("json rows");
    assert_eq!(rows.len(), 7, "{what}: the fixture's six rows and the live job");
    assert_eq!(names(dir), before, "{what}: files appeared or vanished next to the database");
}

/// `flashline log`, `log verify` and `stats` as a user whose only group is the database's,
/// with read-only access to the file and its directory (root:group 0750, file 0640):
/// beside the running daemon, after it stopped, and without `-wal`/`-shm` files.
#[tokio::test]
async fn quality_staff_in_the_group_query_with_read_only_access() {
    let Some(account) = ThrowawayAccount::create("flcli") else { return };
    let f = fixture().await;
    let outer = tempfile::tempdir().unwrap();
    let exe = reachable_copy(Path::new(env!("CARGO_BIN_EXE_flashline")), outer.path());
    let dir = outer.path().join("state");
    account.group_dir(&dir);
    let db = dir.join("audit.sqlite");
    for suffix in ["", "-wal", "-shm"] {
        let name = |p: &Path| PathBuf::from(format!("{}{suffix}", p.display()));
        if name(&f.path).exists() {
            std::fs::rename(name(&f.path), name(&db)).unwrap();
        }
    }
    account.give_to_group(&db);

    let daemon = open(&db).await;
    let live = begin(&daemon, "B2", "2025-03-12T12:00:00Z", V2).await;
    every_query_as(&account, &exe, &db, "daemon running");
    daemon.complete_attempt(live, Completion::fail("verify", "MD5 mismatch")).await.unwrap();
    daemon.close().await;
    every_query_as(&account, &exe, &db, "daemon stopped");
    for suffix in ["-wal", "-shm"] {
        std::fs::remove_file(PathBuf::from(format!("{}{suffix}", db.display()))).unwrap();
    }
    every_query_as(&account, &exe, &db, "no -wal/-shm");
}
