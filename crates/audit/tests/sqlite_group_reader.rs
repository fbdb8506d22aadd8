//! Quality staff read the log: a user who is only in the database's group, with read-only
//! access to the file and its directory, queries it while the daemon writes, after it
//! stopped, and when no `-wal`/`-shm` files are left, and no file appears next to it.
//!
//! Needs root (to create a throwaway user and group and run the query as that user);
//! skipped with a message otherwise.

mod common;

use std::collections::BTreeSet;
use std::os::unix::fs::MetadataExt;
use std::os::unix::process::CommandExt;
use std::path::Path;

use common::child::{assert_child_passed, test_command};
use common::*;
use flashline_audit::{AttemptFilter, AuditStore};
use flashline_testkit::account::{reachable_copy, ThrowawayAccount};

/// Set for the child process: the database it reads and how many rows it must find.
const CHILD_DB: &str = "FLASHLINE_AUDIT_GROUP_CHILD_DB";
const CHILD_ROWS: &str = "FLASHLINE_AUDIT_GROUP_CHILD_ROWS";

/// Not a test of its own: the quality-staff query the test below runs as another user.
#[tokio::test]
#[ignore = "run as a child process, as an unprivileged user, by the test of this file"]
async fn group_reader_child() {
    let (Ok(path), Ok(rows)) = (std::env::var(CHILD_DB), std::env::var(CHILD_ROWS)) else { return };
    let rows: usize = rows.parse().unwrap();
    let store = AuditStore::open_read_only(&path).await.unwrap_or_else(|e| panic!("open: {e}"));
    assert_eq!(store.query(&AttemptFilter::all()).await.unwrap().len(), rows);
    let stats = store.stats(at(-HOUR), at(24 * HOUR)).await.unwrap();
    assert_eq!(stats.total.total as usize, rows, "{stats:?}");
    let report = store.verify_chain().await.unwrap();
    assert!(report.is_valid(), "{:?}", report.problems);
    assert_eq!(report.rows_checked as usize, rows);
    assert!(store.integrity_check().await.unwrap().ok);
    store.close().await;
}

fn names(dir: &Path) -> BTreeSet<String> {
    std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect()
}

/// Runs the query as `account` (its group only, no supplementary groups) and checks that
/// the directory holds the same files afterwards.
fn query_as(account: &ThrowawayAccount, exe: &Path, db: &Path, rows: usize, what: &str) {
    let dir = db.parent().unwrap();
    let before = names(dir);
    let mut cmd = test_command(exe, "group_reader_child");
    let out =
        cmd.env(CHILD_DB, db).env(CHILD_ROWS, rows.to_string()).uid(account.uid).gid(account.gid).output().unwrap();
    assert_child_passed(what, &out);
    assert_eq!(names(dir), before, "{what}: files appeared or vanished next to the database");
}

#[tokio::test]
async fn a_group_member_with_read_only_access_queries_with_and_without_the_daemon() {
    let Some(account) = ThrowawayAccount::create("flaudit") else { return };
    let outer = tempfile::tempdir().unwrap();
    // The test binary may live where the user cannot reach it: run a copy.
    let exe = reachable_copy(&std::env::current_exe().unwrap(), outer.path());
    // The daemon's directory: root:group 0750, so the user may read but not create files.
    let dir = outer.path().join("flashline");
    account.group_dir(&dir);
    let db = dir.join("audit.db");

    // First daemon run, then the file is given to the group (as an installer would).
    let store = open(&db).await;
    record(&store, "A1", at(0), Some("AA:BB:CC:DD:EE:80"), pass()).await;
    record(&store, "A2", at(MIN), Some("AA:BB:CC:DD:EE:81"), pass()).await;
    store.close().await;
    account.give_to_group(&db);
    assert_eq!(std::fs::metadata(&db).unwrap().mode() & 0o777, 0o640);

    // The daemon runs, with a committed row still in the WAL.
    let store = open(&db).await;
    record(&store, "A3", at(2 * MIN), Some("AA:BB:CC:DD:EE:82"), pass()).await;
    for side in ["-wal", "-shm"] {
        let meta = std::fs::metadata(with_suffix(&db, side)).unwrap();
        assert_eq!((meta.gid(), meta.mode() & 0o777), (account.gid, 0o640), "{side} after the daemon's open");
    }
    query_as(&account, &exe, &db, 3, "daemon running");
    record(&store, "A4", at(3 * MIN), Some("AA:BB:CC:DD:EE:83"), pass()).await;
    query_as(&account, &exe, &db, 4, "daemon running, after another row");

    // The daemon stopped: it kept -wal and -shm.
    store.close().await;
    for side in ["-wal", "-shm"] {
        assert!(with_suffix(&db, side).is_file(), "the stopped daemon did not keep {side}");
    }
    query_as(&account, &exe, &db, 4, "daemon stopped");

    // No -wal/-shm at all (a file from an older version, or a copy): still readable.
    std::fs::remove_file(with_suffix(&db, "-wal")).unwrap();
    std::fs::remove_file(with_suffix(&db, "-shm")).unwrap();
    query_as(&account, &exe, &db, 4, "no -wal/-shm");
    assert_eq!(names(&dir), BTreeSet::from(["audit.db".to_string()]));
}
