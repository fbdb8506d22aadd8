//! Values that a board, a USB device or a hand-edited database controls never reach a
//! terminal raw: `flashline log` (table), `log verify`, the messages of `info` and
//! `capture` (which quote the port), and the error line of every command. Each test plants
//! an ESC sequence, a C1 control and a right-to-left override and looks for them raw.

use std::path::Path;
use std::process::Command;

use flashline_audit::{AuditStore, StoreOptions, SyntheticSpec};
use sqlx::ConnectOptions;

/// What a hostile value carries: retitle the terminal, CSI via C1, reverse the text.
const NASTY: &str = "x\u{1b}]0;pwned\u{7}\u{9b}31m\u{202e}nib.png";

fn raw_controls(s: &str) -> Vec<char> {
    s.chars().filter(|&c| flashline::text::needs_escape(c) && c != '\n').collect()
}

fn flashline(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_flashline")).args(args).env("TZ", "UTC").output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// A database whose text columns were written by hand (or by an older version) with
/// control characters in them.
async fn hostile_database(path: &Path) {
    let store = AuditStore::open(path, StoreOptions::default()).await.unwrap();
    store.insert_synthetic(&SyntheticSpec::new(3, 1)).await.unwrap();
    store.close().await;
    let mut raw = sqlx::sqlite::SqliteConnectOptions::new().filename(path).connect().await.unwrap();
    sqlx::query(
        "UPDATE attempts SET slot = ?1, station_id = ?1, port = ?1, image_name = ?1, failure_stage = ?1, \
         failure_reason = ?1, chip = ?1",
    )
    .bind(NASTY)
    .execute(&mut raw)
    .await
    .unwrap();
}

#[tokio::test]
async fn log_table_and_verify_show_database_text_escaped() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("audit.sqlite");
    hostile_database(&db).await;
    let db = db.to_str().unwrap();

    let (code, out, err) = flashline(&["log", "--db", db]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(raw_controls(&out), Vec::<char>::new(), "{out}");
    assert!(out.contains("x\\x1b]0;pwned\\x07\\u{9b}31m\\u{202e}nib.png"), "shown escaped: {out}");

    // The edit broke the chain; the findings and the summary are escaped too.
    let (code, out, err) = flashline(&["log", "verify", "--db", db]);
    assert_eq!(code, 1, "{out}{err}");
    assert_eq!(raw_controls(&out), Vec::<char>::new(), "{out}");
    assert_eq!(raw_controls(&err), Vec::<char>::new(), "{err}");
}

#[test]
fn port_names_in_info_and_capture_errors_are_escaped() {
    let dir = tempfile::tempdir().unwrap();
    let port = dir.path().join(NASTY);
    let port = port.to_str().unwrap();
    for args in [vec!["info", "--port", port], vec!["capture", "--port", port, "-o", "out"]] {
        let (code, out, err) = flashline(&args);
        assert_ne!(code, 0, "{args:?}: no such port");
        assert_eq!(raw_controls(&err), Vec::<char>::new(), "{args:?}: {err}");
        assert_eq!(raw_controls(&out), Vec::<char>::new(), "{args:?}: {out}");
        assert!(err.contains("\\x1b]0;pwned"), "{args:?}: the port is named, escaped: {err}");
    }
}
