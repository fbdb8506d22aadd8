//! Helpers shared by the integration tests: real database files in temporary directories.
#![allow(dead_code)]

pub mod child;

use std::path::{Path, PathBuf};
use std::time::Duration;

use flashline_audit::{
    AttemptId, AuditStore, ChainProblem, Completion, Identity, NewAttempt, StageTimings, StoreOptions, Timestamp,
    UsbInfo,
};
use sqlx::sqlite::SqliteConnectOptions;
use sqlx::{ConnectOptions, SqliteConnection};

/// A temporary directory and the database path inside it.
pub struct TestDb {
    pub dir: tempfile::TempDir,
    pub path: PathBuf,
}

pub fn test_db() -> TestDb {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("audit.db");
    TestDb { dir, path }
}

pub fn options() -> StoreOptions {
    StoreOptions::default().busy_timeout(Duration::from_millis(2_000))
}

pub async fn open(path: &Path) -> AuditStore {
    AuditStore::open(path, options()).await.expect("open store")
}

/// A plain SQLite connection to the same file, as an operator's sqlite3 shell would have.
pub async fn raw(path: &Path) -> SqliteConnection {
    SqliteConnectOptions::new()
        .filename(path)
        .busy_timeout(Duration::from_secs(5))
        .connect()
        .await
        .expect("raw connect")
}

pub fn sha(n: u8) -> String {
    format!("{n:02x}").repeat(32)
}

pub const T0: i64 = 1_795_305_600_000; // 2026-11-22T00:00:00Z
pub const MIN: i64 = 60_000;
pub const HOUR: i64 = 3_600_000;

pub fn at(ms_after_t0: i64) -> Timestamp {
    Timestamp::from_unix_ms(T0 + ms_after_t0)
}

pub fn new_attempt(slot: &str) -> NewAttempt {
    NewAttempt {
        station_id: "line-1".into(),
        slot: slot.into(),
        port: format!("1-2.{}", slot.len()),
        usb: Some(UsbInfo { vid: 0x1a86, pid: 0x7523, serial: None }),
        image_name: "golden-v1.bin".into(),
        image_sha256: sha(0xab),
        started_at: None,
    }
}

pub fn identity(mac: &str) -> Identity {
    Identity {
        mac: mac.into(),
        chip: "ESP32-C3".into(),
        chip_revision: Some("v0.4".into()),
        flash_id: Some(0x1640c8),
        flash_size: Some(4 << 20),
    }
}

pub fn pass() -> Completion {
    Completion::pass(1_048_576, "md5").with_timings(StageTimings::new().with("connect", 300).with("write", 9000))
}

/// Begins, identifies and completes one attempt.
pub async fn record(
    store: &AuditStore,
    slot: &str,
    start: Timestamp,
    mac: Option<&str>,
    completion: Completion,
) -> AttemptId {
    let mut a = new_attempt(slot);
    a.started_at = Some(start);
    let id = store.begin_attempt(a).await.expect("begin");
    if let Some(mac) = mac {
        store.update_identity(id, &identity(mac)).await.expect("identify");
    }
    let completion = completion.ended_at(start.add_ms(30_000));
    store.complete_attempt(id, completion).await.expect("complete");
    id
}

/// Five completed rows (seq 1..=5, the third a failure), ids in a vector.
pub async fn five(store: &AuditStore) -> Vec<AttemptId> {
    let mut ids = Vec::new();
    for i in 0..5 {
        let c = if i == 2 { Completion::fail("write", "timeout, no \"ACK\"") } else { pass() };
        ids.push(record(store, "A1", at(i * MIN), Some(&format!("AA:BB:CC:DD:01:{i:02X}")), c).await);
    }
    ids
}

/// A database at `path` holding one completed row (MAC `mac`), closed.
pub async fn one_row_at(path: &Path, mac: &str) {
    let store = open(path).await;
    record(&store, "A1", at(0), Some(mac), pass()).await;
    store.close().await;
}

/// `path` with `suffix` appended to its file name: SQLite's `-wal` and `-shm` files.
pub fn with_suffix(path: &Path, suffix: &str) -> PathBuf {
    let mut s = path.as_os_str().to_owned();
    s.push(suffix);
    PathBuf::from(s)
}

/// What `verify_chain` finds.
pub async fn problems(store: &AuditStore) -> Vec<ChainProblem> {
    store.verify_chain().await.unwrap().problems
}
