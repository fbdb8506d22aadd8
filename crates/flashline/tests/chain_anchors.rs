//! Finding 9 end to end: the chain heads the daemon writes to its log ("anchors") catch a
//! chain that was rewritten and recomputed, which `flashline log verify` alone cannot; and
//! a `running` row that no daemon began is closed at start-up with its own reason and a
//! warning instead of being absorbed into the chain as an ordinary interrupted job.

use std::io::Write;
use std::path::Path;
use std::process::Command;
use std::sync::{Arc, Mutex};

use flashline::station::anchor::Anchors;
use flashline_audit::sqlite::tamper::edit_and_recompute;
use flashline_audit::{
    AttemptId, AttemptResult, AuditStore, Completion, NewAttempt, StoreOptions, FORGED_RUNNING_REASON,
    INTERRUPTED_REASON,
};
use sqlx::ConnectOptions;

/// Log output captured in memory.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Captured {
    fn text(&self) -> String {
        String::from_utf8(self.0.lock().unwrap().clone()).unwrap()
    }
}

/// The daemon's log set-ups (`[log] format = "json"` and `"text"`) writing to `out`.
fn json_log(out: &Captured) -> tracing::subscriber::DefaultGuard {
    let out = out.clone();
    let sub = tracing_subscriber::fmt().json().flatten_event(true).with_writer(move || out.clone()).finish();
    tracing::subscriber::set_default(sub)
}

fn text_log(out: &Captured) -> tracing::subscriber::DefaultGuard {
    let out = out.clone();
    let sub = tracing_subscriber::fmt().with_ansi(false).with_writer(move || out.clone()).finish();
    tracing::subscriber::set_default(sub)
}

async fn attempt(store: &AuditStore, slot: &str, completion: Completion) -> AttemptId {
    let id = begin(store, slot).await;
    store.complete_attempt(id, completion).await.unwrap();
    id
}

/// A `running` row begun by the store, as a daemon begins its jobs.
async fn begin(store: &AuditStore, slot: &str) -> AttemptId {
    store
        .begin_attempt(NewAttempt {
            station_id: "line-1".into(),
            slot: slot.into(),
            port: "1-2.1".into(),
            usb: None,
            image_name: "golden.bin".into(),
            image_sha256: "ab".repeat(32),
            started_at: None,
        })
        .await
        .unwrap()
}

fn verify(db: &Path, anchors: Option<&Path>) -> (i32, String) {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_flashline"));
    cmd.args(["log", "verify", "--db", db.to_str().unwrap()]);
    if let Some(a) = anchors {
        cmd.args(["--anchors", a.to_str().unwrap()]);
    }
    let out = cmd.output().unwrap();
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    (out.status.code().unwrap(), text)
}

#[tokio::test]
async fn a_recomputed_chain_fails_against_the_heads_the_daemon_logged() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("audit.sqlite");
    let store = AuditStore::open(&db, StoreOptions::default()).await.unwrap();
    let anchors = Anchors::new(store.clone());
    let (json, text) = (Captured::default(), Captured::default());

    attempt(&store, "A1", Completion::pass(1024, "md5")).await;
    let failed = attempt(&store, "A2", Completion::fail("write", "flash write failed")).await;
    attempt(&store, "A3", Completion::pass(1024, "md5")).await;
    {
        let _g = json_log(&json);
        anchors.write("attempt", false).await;
        anchors.write("attempt", false).await; // unchanged head: not written again
    }
    attempt(&store, "A1", Completion::pass(1024, "md5")).await;
    attempt(&store, "A2", Completion::pass(1024, "md5")).await;
    {
        let _g = json_log(&json);
        anchors.write("shutdown", true).await;
    }
    {
        let _g = text_log(&text);
        anchors.write("shutdown", true).await;
    }
    store.close().await;
    let json = json.text();
    assert_eq!(json.lines().count(), 2, "one entry per head: {json}");
    assert!(json.contains("\"flashline_chain_seq\":3") && json.contains("\"flashline_chain_seq\":5"), "{json}");
    let json_file = dir.path().join("heads.json");
    std::fs::write(&json_file, &json).unwrap();
    let text_file = dir.path().join("heads.log");
    std::fs::write(&text_file, text.text()).unwrap();
    assert!(text.text().contains("flashline_chain_seq=5"), "{}", text.text());

    let (code, out) = verify(&db, Some(&json_file));
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("anchors checked: 2"), "{out}");

    // The failure at seq 2 becomes a pass; every later hash and the head are recomputed.
    let sql = format!(
        "UPDATE attempts SET result = 'pass', failure_stage = NULL, failure_reason = NULL WHERE id = {}",
        failed.0
    );
    edit_and_recompute(&db, &sql, 2).await.unwrap();

    // Documented limit: the database alone verifies.
    let (code, out) = verify(&db, None);
    assert_eq!(code, 0, "plain verify cannot see a recomputed chain: {out}");

    // The JSON log holds the heads at seq 3 and 5, the text log the one at seq 5.
    for (file, first) in [(&json_file, "seq 3 "), (&text_file, "seq 5 ")] {
        let (code, out) = verify(&db, Some(file));
        assert_eq!(code, 1, "{out}");
        let finding = out.lines().find(|l| l.contains("anchor_mismatch")).unwrap_or_else(|| panic!("{out}"));
        assert!(finding.contains(first) && finding.contains("line 1"), "the first anchor is named: {finding}");
    }

    // An anchor file that was tampered with is an error naming its line, not a pass.
    std::fs::write(&json_file, json.replace("\"flashline_chain_seq\":3", "\"flashline_chain_seq\":\"three\"")).unwrap();
    let (code, out) = verify(&db, Some(&json_file));
    assert_eq!(code, 2, "{out}");
    assert!(out.contains("line 1"), "{out}");
}

#[tokio::test]
async fn a_running_row_no_daemon_began_is_flagged_at_start() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("audit.sqlite");
    let store = AuditStore::open(&db, StoreOptions::default()).await.unwrap();
    attempt(&store, "A1", Completion::pass(1024, "md5")).await;
    store.close().await;

    // Inserted by hand while no daemon runs: a plausible job that "was interrupted".
    let mut raw = sqlx::sqlite::SqliteConnectOptions::new().filename(&db).connect().await.unwrap();
    let forged: i64 = sqlx::query_scalar(
        "INSERT INTO attempts (started_at_ms, station_id, slot, port, image_name, image_sha256, result) \
         SELECT started_at_ms + 1000, station_id, 'A2', port, image_name, image_sha256, 'running' FROM attempts \
         WHERE id = 1 RETURNING id",
    )
    .fetch_one(&mut raw)
    .await
    .unwrap();
    drop(raw);

    let log = Captured::default();
    let store = {
        let _g = text_log(&log);
        flashline::station::open_store(&db).await.unwrap()
    };
    let row = store.get(AttemptId(forged)).await.unwrap();
    assert_eq!(row.result, AttemptResult::Interrupted);
    assert_eq!(row.failure_reason.as_deref(), Some(FORGED_RUNNING_REASON));
    assert_ne!(row.failure_reason.as_deref(), Some(INTERRUPTED_REASON));
    let log = log.text();
    let warning = log.lines().find(|l| l.contains("possibly forged")).unwrap_or_else(|| panic!("{log}"));
    assert!(warning.contains("WARN") && warning.contains(&forged.to_string()), "{warning}");
    store.close().await;
}

/// `log verify` reports the rows a start-up closed as possibly forged — seq, time, slot,
/// MAC — and fails; a row a daemon began and did not finish (an ordinary interruption) is
/// not reported.
#[tokio::test]
async fn log_verify_reports_possibly_forged_rows_and_fails() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("audit.sqlite");
    let store = AuditStore::open(&db, StoreOptions::default()).await.unwrap();
    attempt(&store, "A1", Completion::pass(1024, "md5")).await;
    // A daemon began this one and died: an ordinary interrupted row after the next start.
    let interrupted = begin(&store, "A3").await;
    store.close().await;
    let (code, out) = verify(&db, None);
    assert_eq!(code, 0, "nothing forged yet: {out}");
    assert!(!out.contains("POSSIBLY FORGED"), "{out}");

    // Inserted by hand while no daemon runs, with a MAC, as a plausible interrupted job.
    let mut raw = sqlx::sqlite::SqliteConnectOptions::new().filename(&db).connect().await.unwrap();
    let forged: i64 = sqlx::query_scalar(
        "INSERT INTO attempts (started_at_ms, station_id, slot, port, image_name, image_sha256, result, mac) \
         SELECT started_at_ms + 1000, station_id, 'A2', port, image_name, image_sha256, 'running', \
         '24:0A:C4:12:34:56' FROM attempts WHERE id = 1 RETURNING id",
    )
    .fetch_one(&mut raw)
    .await
    .unwrap();
    drop(raw);

    // The next daemon start closes both running rows.
    let store = flashline::station::open_store(&db).await.unwrap();
    let row = store.get(AttemptId(forged)).await.unwrap();
    assert_eq!(store.get(interrupted).await.unwrap().failure_reason.as_deref(), Some(INTERRUPTED_REASON));
    store.close().await;

    let (code, out) = verify(&db, None);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("result: OK, the hash chain is intact"), "the chain itself is intact: {out}");
    let listed: Vec<&str> = out.lines().filter(|l| l.trim_start().starts_with("seq ")).collect();
    assert_eq!(listed.len(), 1, "only the forged row, not the interrupted one: {out}");
    let line = listed[0];
    let seq = row.seq.unwrap().to_string();
    for want in [seq.as_str(), &format!("#{forged}"), &row.started_at.to_string(), "slot A2", "24:0a:c4:12:34:56"] {
        assert!(line.to_ascii_lowercase().contains(&want.to_ascii_lowercase()), "{want} in {line}");
    }
    assert!(out.contains("1 row(s) closed as possibly forged"), "{out}");

    // The JSON report lists it too.
    let json = Command::new(env!("CARGO_BIN_EXE_flashline"))
        .args(["log", "verify", "--format", "json", "--db", db.to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(json.status.code(), Some(1));
    let v: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
    assert_eq!(v["possibly_forged"].as_array().map(Vec::len), Some(1), "{v}");
    assert_eq!(v["possibly_forged"][0]["attempt_id"], forged, "{v}");
    assert_eq!(v["possibly_forged"][0]["slot"], "A2", "{v}");
}
