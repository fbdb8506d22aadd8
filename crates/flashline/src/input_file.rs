//! Reading a file named by a config or an image description, without trusting the name.
//!
//! A name may lead to `/dev/zero`, a FIFO nobody writes to, or a file far larger than any
//! flash: `fs::read` would read forever, block forever or fill the memory. Here only
//! regular files are read (checked before opening, and again on the opened file, since the
//! name may change in between), opening never blocks (`O_NONBLOCK`), and at most `limit`
//! bytes are accepted even if the file grows while it is read.

use std::fs::{self, File, Metadata};
use std::io::{self, Read};
use std::os::unix::fs::{FileTypeExt, OpenOptionsExt};
use std::path::Path;

use flashline_protocol::flash::format_size;

/// Whether the last component of the name may be a symbolic link.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Symlinks {
    Follow,
    /// `O_NOFOLLOW`: for a name already resolved and checked (a link put there since is
    /// refused instead of followed).
    Refuse,
}

/// Why a file was not read.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    #[error("no such file")]
    NotFound,
    #[error("it is {kind}, not a regular file")]
    NotRegular { kind: &'static str },
    #[error("it is larger than {} ({size} bytes)", limit_text(*limit))]
    TooLarge { size: u64, limit: u64 },
    #[error("it is not UTF-8 text")]
    NotText,
    #[error("{0}")]
    Io(io::Error),
}

fn limit_text(limit: u64) -> String {
    u32::try_from(limit).map(format_size).unwrap_or_else(|_| format!("{limit} bytes"))
}

impl From<io::Error> for ReadError {
    fn from(e: io::Error) -> Self {
        match e.kind() {
            io::ErrorKind::NotFound => ReadError::NotFound,
            _ => ReadError::Io(e),
        }
    }
}

/// Reads the regular file at `path`, refusing anything else and anything over `limit`
/// bytes.
pub fn read_regular(path: &Path, limit: u64, symlinks: Symlinks) -> Result<Vec<u8>, ReadError> {
    let meta = match symlinks {
        Symlinks::Follow => fs::metadata(path)?,
        Symlinks::Refuse => fs::symlink_metadata(path)?,
    };
    check(&meta, limit)?;
    let mut flags = nix::libc::O_NONBLOCK;
    if symlinks == Symlinks::Refuse {
        flags |= nix::libc::O_NOFOLLOW;
    }
    let file = File::options().read(true).custom_flags(flags).open(path).map_err(|e| {
        // O_NOFOLLOW on a symbolic link fails with ELOOP.
        if e.raw_os_error() == Some(nix::libc::ELOOP) {
            ReadError::NotRegular { kind: "a symbolic link" }
        } else {
            ReadError::from(e)
        }
    })?;
    let meta = file.metadata()?;
    check(&meta, limit)?;
    let mut data = Vec::with_capacity(meta.len() as usize);
    file.take(limit.saturating_add(1)).read_to_end(&mut data)?;
    let size = data.len() as u64;
    if size > limit {
        return Err(ReadError::TooLarge { size, limit });
    }
    Ok(data)
}

/// [`read_regular`] for text files (configs, manifests, `flasher_args.json`).
pub fn read_text(path: &Path, limit: u64, symlinks: Symlinks) -> Result<String, ReadError> {
    String::from_utf8(read_regular(path, limit, symlinks)?).map_err(|_| ReadError::NotText)
}

fn check(meta: &Metadata, limit: u64) -> Result<(), ReadError> {
    if !meta.is_file() {
        return Err(ReadError::NotRegular { kind: kind(meta) });
    }
    if meta.len() > limit {
        return Err(ReadError::TooLarge { size: meta.len(), limit });
    }
    Ok(())
}

/// What a file that is not a regular file is, in words.
fn kind(meta: &Metadata) -> &'static str {
    let t = meta.file_type();
    if t.is_dir() {
        "a directory"
    } else if t.is_char_device() {
        "a character device"
    } else if t.is_block_device() {
        "a block device"
    } else if t.is_fifo() {
        "a FIFO"
    } else if t.is_socket() {
        "a socket"
    } else if t.is_symlink() {
        "a symbolic link"
    } else {
        "not a regular file"
    }
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::symlink;

    use super::*;

    #[test]
    fn reads_regular_files_up_to_the_limit() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("a.bin");
        fs::write(&p, [7u8; 100]).unwrap();
        assert_eq!(read_regular(&p, 100, Symlinks::Refuse).unwrap(), [7u8; 100]);
        let e = read_regular(&p, 99, Symlinks::Follow).unwrap_err();
        assert!(matches!(e, ReadError::TooLarge { size: 100, limit: 99 }), "{e}");
        assert!(matches!(read_regular(&dir.path().join("none"), 1, Symlinks::Follow), Err(ReadError::NotFound)));
        fs::write(&p, b"\xff\xfe").unwrap();
        assert!(matches!(read_text(&p, 10, Symlinks::Follow), Err(ReadError::NotText)));
        fs::write(&p, "ok").unwrap();
        assert_eq!(read_text(&p, 10, Symlinks::Follow).unwrap(), "ok");
    }

    #[test]
    fn refuses_devices_fifos_directories_and_links_when_asked() {
        let dir = tempfile::tempdir().unwrap();
        let zero = dir.path().join("zero.bin");
        symlink("/dev/zero", &zero).unwrap();
        let e = read_regular(&zero, 16 << 20, Symlinks::Follow).unwrap_err();
        assert_eq!(e.to_string(), "it is a character device, not a regular file");

        let fifo = dir.path().join("fifo.bin");
        nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::S_IRWXU).unwrap();
        let e = read_regular(&fifo, 1 << 20, Symlinks::Follow).unwrap_err();
        assert!(matches!(e, ReadError::NotRegular { kind: "a FIFO" }), "{e}");

        let e = read_regular(dir.path(), 1 << 20, Symlinks::Follow).unwrap_err();
        assert!(matches!(e, ReadError::NotRegular { kind: "a directory" }), "{e}");

        let target = dir.path().join("t.bin");
        fs::write(&target, b"x").unwrap();
        let link = dir.path().join("l.bin");
        symlink(&target, &link).unwrap();
        assert_eq!(read_regular(&link, 1, Symlinks::Follow).unwrap(), b"x");
        let e = read_regular(&link, 1, Symlinks::Refuse).unwrap_err();
        assert!(matches!(e, ReadError::NotRegular { kind: "a symbolic link" }), "{e}");
    }
}
