//! The database file and its `-wal`/`-shm` files on disk: what kind of file the path
//! names, who may read them, and the filename SQLite is given.
//!
//! Every audit row carries a board's MAC and the station's history, so the files must not
//! be readable by every local user, whatever the process umask: the daemon creates the
//! database with mode [`FILE_MODE`] (owner writes, group `flashline` reads) and a missing
//! directory with [`DIR_MODE`], setting the modes explicitly instead of changing the
//! process umask (the umask is process-wide: changing it around the open would race with
//! every other thread of the daemon that creates files). SQLite creates `-wal` and `-shm`
//! with the database file's mode (and, as root, its owner and group); [`align_sidecars`]
//! brings files left by an older version or another tool in line after opening.
//!
//! A path that is not a regular file (symbolic link, directory, device, FIFO) is refused
//! before SQLite sees it, and SQLite is always given an absolute path, which it can never
//! take for a `file:` URI.

use std::fs::{self, DirBuilder, OpenOptions, Permissions};
use std::io;
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use crate::error::{AuditError, Result};

/// Mode of a database file the daemon creates: read-write for its owner, readable by its
/// group (quality staff in group `flashline`), nothing for others.
pub(crate) const FILE_MODE: u32 = 0o640;

/// Mode of a directory the daemon creates for the database.
pub(crate) const DIR_MODE: u32 = 0o750;

/// Permission bits for "others"; never kept on an audit file.
const OTHERS: u32 = 0o007;

/// The `-wal` or `-shm` file of the database at `path`.
pub(crate) fn sidecar(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(suffix);
    PathBuf::from(name)
}

/// The suffixes of SQLite's files next to a WAL database.
pub(crate) const SIDECARS: [&str; 2] = ["-wal", "-shm"];

/// What a file type is called in messages, `None` for a regular file.
fn non_file_kind(ft: fs::FileType) -> Option<&'static str> {
    use std::os::unix::fs::FileTypeExt;
    if ft.is_file() {
        None
    } else if ft.is_symlink() {
        Some("symbolic link")
    } else if ft.is_dir() {
        Some("directory")
    } else if ft.is_block_device() || ft.is_char_device() {
        Some("device")
    } else if ft.is_fifo() {
        Some("FIFO")
    } else if ft.is_socket() {
        Some("socket")
    } else {
        Some("special file")
    }
}

fn access(location: &str, e: io::Error) -> AuditError {
    AuditError::Access { location: location.to_owned(), source: Box::new(e) }
}

/// The metadata of `path` without following a symbolic link; `None` when nothing is
/// there. Anything but a regular file is [`AuditError::NotAFile`].
pub(crate) fn regular_file(path: &Path, location: &str) -> Result<Option<fs::Metadata>> {
    match fs::symlink_metadata(path) {
        Ok(meta) => match non_file_kind(meta.file_type()) {
            None => Ok(Some(meta)),
            Some(kind) => Err(AuditError::NotAFile { location: location.to_owned(), kind }),
        },
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(access(location, e)),
    }
}

/// The name SQLite opens: the absolute path, so that SQLite (which sqlx opens with URI
/// filenames enabled) never reads `file:...?mode=memory` or `?vfs=` out of it.
pub(crate) fn sqlite_filename(path: &Path, location: &str) -> Result<PathBuf> {
    std::path::absolute(path).map_err(|e| access(location, e))
}

/// Makes sure `path` is a regular database file the daemon may open: refuses anything
/// else, creates a missing file (and missing directories) with the store's modes, and
/// takes the permissions for others away from an existing file.
pub(crate) fn prepare_for_writer(path: &Path, location: &str) -> Result<()> {
    if let Some(meta) = regular_file(path, location)? {
        return drop_others(path, location, meta.mode());
    }
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        create_dirs(dir, location)?;
    }
    // create_new (O_CREAT|O_EXCL) never follows a symbolic link planted meanwhile.
    let file =
        OpenOptions::new().write(true).create_new(true).mode(FILE_MODE).open(path).map_err(|e| match e.kind() {
            // Something appeared in the meantime: judge it like any existing path.
            io::ErrorKind::AlreadyExists => regular_file(path, location).err().unwrap_or_else(|| access(location, e)),
            _ => access(location, e),
        })?;
    // The umask may have taken bits away: set the mode itself.
    file.set_permissions(Permissions::from_mode(FILE_MODE)).map_err(|e| access(location, e))?;
    Ok(())
}

/// Creates `dir` and its missing ancestors with [`DIR_MODE`] (explicitly, whatever the umask).
fn create_dirs(dir: &Path, location: &str) -> Result<()> {
    let mut missing = Vec::new();
    let mut cur = Some(dir);
    while let Some(d) = cur.filter(|d| !d.as_os_str().is_empty()) {
        match fs::symlink_metadata(d) {
            Ok(_) => break,
            Err(e) if e.kind() == io::ErrorKind::NotFound => missing.push(d),
            Err(e) => return Err(access(location, e)),
        }
        cur = d.parent();
    }
    for d in missing.into_iter().rev() {
        match DirBuilder::new().mode(DIR_MODE).create(d) {
            Ok(()) => fs::set_permissions(d, Permissions::from_mode(DIR_MODE)).map_err(|e| access(location, e))?,
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(access(location, e)),
        }
    }
    Ok(())
}

/// Removes the permissions for others from a file the store uses.
fn drop_others(path: &Path, location: &str, mode: u32) -> Result<()> {
    if mode & OTHERS == 0 {
        return Ok(());
    }
    let tightened = mode & 0o7777 & !OTHERS;
    tracing::warn!(path = %path.display(), mode = format!("{:o}", mode & 0o7777), "audit file was readable by every user; mode set to {tightened:o}");
    fs::set_permissions(path, Permissions::from_mode(tightened)).map_err(|e| access(location, e))
}

/// After opening: the `-wal` and `-shm` files get the database file's group and mode
/// (without permissions for others), so that the database's group can read beside the
/// daemon. Group changes the process may not make are logged, not fatal: reading then
/// needs the file's group fixed by root.
pub(crate) fn align_sidecars(path: &Path, location: &str) -> Result<()> {
    let Some(db) = regular_file(path, location)? else { return Ok(()) };
    for suffix in SIDECARS {
        let side = sidecar(path, suffix);
        let side_location = side.display().to_string();
        let Some(meta) = regular_file(&side, &side_location)? else { continue };
        if meta.gid() != db.gid() {
            if let Err(e) = std::os::unix::fs::lchown(&side, None, Some(db.gid())) {
                tracing::warn!(path = %side.display(), gid = db.gid(), error = %e, "cannot give the audit file the database's group; group members cannot read beside the daemon");
            }
        }
        let want = (db.mode() & 0o777 & !OTHERS) | (meta.mode() & 0o600);
        if meta.mode() & 0o777 != want {
            fs::set_permissions(&side, Permissions::from_mode(want)).map_err(|e| access(&side_location, e))?;
        }
    }
    Ok(())
}

/// How a read-only store opens the file, decided from the `-wal` and `-shm` files.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ReadMode {
    /// Both files exist: open normally (read-only). SQLite maps `-shm` read-write if it
    /// may, else read-only (it then keeps a private copy of the WAL index when no writer
    /// is live); it creates nothing because both files are there.
    Shared,
    /// No WAL content and no `-shm`: no connection has the file open (a live connection in
    /// WAL mode always has both files, and the daemon keeps them after it stops), so the
    /// database file alone is the whole database. Opened `immutable=1`: no lock, no
    /// `-wal`/`-shm` created next to it.
    Immutable,
}

/// [`ReadMode`] for a `-wal` of `wal_len` bytes (`None`: absent) and a `-shm` that
/// exists or not.
pub(crate) fn read_mode(wal_len: Option<u64>, shm: bool) -> ReadMode {
    match (wal_len, shm) {
        (Some(_), true) => ReadMode::Shared,
        (None | Some(0), _) => ReadMode::Immutable,
        // Frames in the WAL but no -shm: SQLite must rebuild the index; only a normal open
        // reads those frames (it creates -shm if the directory allows, fails otherwise).
        (Some(_), false) => ReadMode::Shared,
    }
}

/// [`read_mode`] for the files next to `path`.
pub(crate) fn read_mode_of(path: &Path) -> Result<ReadMode> {
    let wal = sidecar(path, "-wal");
    let wal_len = regular_file(&wal, &wal.display().to_string())?.map(|m| m.len());
    let shm = sidecar(path, "-shm");
    let shm_exists = regular_file(&shm, &shm.display().to_string())?.is_some();
    Ok(read_mode(wal_len, shm_exists))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn read_mode_is_immutable_only_without_wal_content() {
        let table = [
            (None, false, ReadMode::Immutable),
            (None, true, ReadMode::Immutable),
            (Some(0), false, ReadMode::Immutable),
            (Some(0), true, ReadMode::Shared),
            (Some(4096), true, ReadMode::Shared),
            (Some(4096), false, ReadMode::Shared),
        ];
        for (wal, shm, want) in table {
            assert_eq!(read_mode(wal, shm), want, "wal {wal:?} shm {shm}");
        }
    }

    #[test]
    fn sidecars_are_named_like_sqlite_names_them() {
        assert_eq!(
            sidecar(Path::new("/var/lib/flashline/audit.db"), "-wal"),
            Path::new("/var/lib/flashline/audit.db-wal")
        );
    }

    #[test]
    fn special_files_are_named_in_messages() {
        let dir = tempfile::tempdir().unwrap();
        let link = dir.path().join("link");
        std::os::unix::fs::symlink("/dev/null", &link).unwrap();
        for (path, kind) in
            [(link.as_path(), "symbolic link"), (dir.path(), "directory"), (Path::new("/dev/null"), "device")]
        {
            match regular_file(path, "x") {
                Err(AuditError::NotAFile { kind: k, .. }) => assert_eq!(k, kind, "{}", path.display()),
                other => panic!("{}: {other:?}", path.display()),
            }
        }
        assert!(regular_file(&dir.path().join("none"), "x").unwrap().is_none());
    }
}
