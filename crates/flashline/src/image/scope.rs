//! Where the region files a manifest or `flasher_args.json` names may be.
//!
//! A description file is data, often copied from a build server; it must not be able to
//! make the station read `/etc/shadow` or a device and write it to every board. By
//! default its region files must lie inside its own directory once every symbolic link is
//! resolved (`../x.bin`, `/etc/passwd` and a link pointing out are refused). Explicit
//! choices stay possible: `[image] allow_outside = true` in the station config,
//! `flashline flash --allow-outside`, and OFFSET FILE pairs typed on the command line.

use std::fs;
use std::path::{Path, PathBuf};

use super::ImageError;
use crate::input_file::Symlinks;

/// Where region files may be.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum RegionScope {
    /// Inside the directory of the description file naming them, symbolic links resolved.
    #[default]
    DescriptionDir,
    /// Anywhere (still regular files of bounded size).
    Anywhere,
}

impl RegionScope {
    /// The scope for an `allow_outside` switch (config key or command-line flag).
    pub fn allow_outside(allow: bool) -> RegionScope {
        if allow {
            RegionScope::Anywhere
        } else {
            RegionScope::DescriptionDir
        }
    }

    /// The name to open for `file` (named in `described_in`) and how to treat a symbolic
    /// link found there when opening, after checking that `file` is in scope.
    pub(super) fn locate(self, file: &Path, described_in: &Path) -> Result<(PathBuf, Symlinks), ImageError> {
        if self == RegionScope::Anywhere {
            return Ok((file.to_path_buf(), Symlinks::Follow));
        }
        let dir = match described_in.parent() {
            Some(d) if !d.as_os_str().is_empty() => d,
            _ => Path::new("."),
        };
        let dir = fs::canonicalize(dir).map_err(|e| ImageError::io(dir.to_path_buf(), described_in, e))?;
        let resolved = fs::canonicalize(file).map_err(|e| ImageError::io(file.to_path_buf(), described_in, e))?;
        if !resolved.starts_with(&dir) {
            return Err(ImageError::OutsideDirectory {
                file: file.to_path_buf(),
                resolved,
                dir,
                from: described_in.to_path_buf(),
            });
        }
        // Resolved and checked: a link put in its place from now on is refused.
        Ok((resolved, Symlinks::Refuse))
    }
}
