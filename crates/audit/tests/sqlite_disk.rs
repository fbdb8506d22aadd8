//! The database on disk: modes of what the daemon's store creates whatever the umask, an
//! existing world-readable file tightened, paths that are not regular files refused, and
//! a path that looks like an SQLite URI taken as a file name.

mod common;

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use common::child::{assert_child_passed, test_command, test_command_with_umask};
use common::*;
use flashline_audit::{AttemptFilter, AuditError, AuditStore};

/// Set for the child processes below: the database they open.
const CHILD_DB: &str = "FLASHLINE_AUDIT_DISK_CHILD_DB";

fn mode(path: &Path) -> u32 {
    std::fs::symlink_metadata(path).unwrap_or_else(|e| panic!("{}: {e}", path.display())).permissions().mode() & 0o7777
}

/// Not a test of its own: the daemon the tests below run in a child process (with another
/// umask or working directory). Opens the store at `$CHILD_DB`, records one row, closes.
#[tokio::test]
#[ignore = "run as a child process by the tests of this file"]
async fn store_child() {
    let Ok(path) = std::env::var(CHILD_DB) else { return };
    one_row_at(Path::new(&path), "AA:BB:CC:DD:EE:70").await;
}

#[tokio::test]
async fn the_daemon_creates_files_0640_and_directories_0750_whatever_the_umask() {
    for umask in ["0022", "0000", "0077"] {
        let db = test_db();
        let path = db.dir.path().join("state/flashline/audit.db");
        let out = test_command_with_umask(&std::env::current_exe().unwrap(), "store_child", umask)
            .env(CHILD_DB, &path)
            .output()
            .unwrap();
        assert_child_passed(&format!("umask {umask}"), &out);
        for dir in [db.dir.path().join("state"), db.dir.path().join("state/flashline")] {
            assert_eq!(mode(&dir), 0o750, "umask {umask}: {}", dir.display());
        }
        // The daemon keeps -wal and -shm after it stops; they get the database's mode.
        for file in [path.clone(), with_suffix(&path, "-wal"), with_suffix(&path, "-shm")] {
            assert_eq!(mode(&file), 0o640, "umask {umask}: {}", file.display());
        }
    }
}

#[tokio::test]
async fn existing_files_readable_by_everyone_lose_that_on_open() {
    let db = test_db();
    one_row_at(&db.path, "AA:BB:CC:DD:EE:71").await;
    let files = [db.path.clone(), with_suffix(&db.path, "-wal"), with_suffix(&db.path, "-shm")];
    for file in &files {
        std::fs::set_permissions(file, std::fs::Permissions::from_mode(0o644)).unwrap();
    }
    let store = open(&db.path).await;
    for file in &files {
        assert_eq!(mode(file), 0o640, "{}", file.display());
    }
    assert_eq!(store.query(&AttemptFilter::all()).await.unwrap().len(), 1);
    store.close().await;
}

fn assert_not_a_file(err: AuditError, kind: &str, path: &Path) {
    match &err {
        AuditError::NotAFile { location, kind: k } => {
            assert_eq!(*k, kind);
            assert_eq!(location, &path.display().to_string());
        }
        other => panic!("{}: {other:?}", path.display()),
    }
    assert!(err.to_string().contains("not a regular file"), "{err}");
}

#[tokio::test]
async fn paths_that_are_not_regular_files_are_refused_by_both_opens() {
    let db = test_db();
    let real = db.dir.path().join("real.db");
    one_row_at(&real, "AA:BB:CC:DD:EE:72").await;
    let real_before = std::fs::read(&real).unwrap();

    let link = db.dir.path().join("link.db");
    std::os::unix::fs::symlink(&real, &link).unwrap();
    let dangling = db.dir.path().join("dangling.db");
    std::os::unix::fs::symlink(db.dir.path().join("elsewhere.db"), &dangling).unwrap();
    let device = db.dir.path().join("null.db");
    std::os::unix::fs::symlink("/dev/null", &device).unwrap();
    let fifo = db.dir.path().join("fifo.db");
    let made = std::process::Command::new("mkfifo").arg(&fifo).status().unwrap();
    assert!(made.success());
    let dir = db.dir.path().join("dir.db");
    std::fs::create_dir(&dir).unwrap();

    let cases: [(&Path, &str); 5] = [
        (&link, "symbolic link"),
        (&dangling, "symbolic link"),
        (&device, "symbolic link"),
        (&fifo, "FIFO"),
        (&dir, "directory"),
    ];
    for (path, kind) in cases {
        assert_not_a_file(AuditStore::open(path, options()).await.unwrap_err(), kind, path);
        assert_not_a_file(AuditStore::open_read_only(path).await.unwrap_err(), kind, path);
    }
    assert_not_a_file(AuditStore::open_read_only("/dev/null").await.unwrap_err(), "device", Path::new("/dev/null"));
    assert!(!db.dir.path().join("elsewhere.db").exists(), "a dangling link's target was created");
    assert_eq!(std::fs::read(&real).unwrap(), real_before, "the link's target was touched");
}

/// Not a test of its own: reads `$CHILD_DB` (a relative path) read-only in its working
/// directory and expects one row.
#[tokio::test]
#[ignore = "run as a child process by the tests of this file"]
async fn read_only_child() {
    let Ok(path) = std::env::var(CHILD_DB) else { return };
    let store = AuditStore::open_read_only(&path).await.unwrap();
    assert_eq!(store.query(&AttemptFilter::all()).await.unwrap().len(), 1);
    store.close().await;
}

#[tokio::test]
async fn a_path_that_looks_like_an_sqlite_uri_is_a_file_name() {
    let exe = std::env::current_exe().unwrap();
    for name in ["file:audit.db?mode=memory", "file:audit.db?vfs=unix-none&immutable=1"] {
        let db = test_db();
        for test in ["store_child", "read_only_child"] {
            let out = test_command(&exe, test).current_dir(db.dir.path()).env(CHILD_DB, name).output().unwrap();
            assert_child_passed(&format!("{test} {name}"), &out);
        }
        let file = db.dir.path().join(name);
        assert!(file.is_file(), "{name}: no such file in the working directory");
        assert!(!db.dir.path().join("audit.db").exists(), "{name}: read as a URI naming audit.db");
        let store = AuditStore::open_read_only(&file).await.unwrap();
        assert_eq!(store.query(&AttemptFilter::all()).await.unwrap().len(), 1, "{name}");
        store.close().await;
    }
}
