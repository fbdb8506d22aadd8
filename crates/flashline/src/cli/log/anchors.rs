//! `flashline log verify --anchors FILE|journal`: where the chain heads recorded outside
//! the database come from.
//!
//! The daemon writes the head after completed attempts and at shutdown
//! ([`crate::station::anchor`]) to the journal (fields `FLASHLINE_CHAIN_SEQ`,
//! `FLASHLINE_CHAIN_HEAD`, `FLASHLINE_DATABASE`) and to its plain log. `journal` runs
//! `journalctl -o json` for the entries of `flashline`; a FILE is such output saved
//! elsewhere (the point: a copy the station cannot rewrite), or a saved flashline log.
//! Anchors written for another database (their `FLASHLINE_DATABASE` is another absolute
//! path) are left out, so one journal can serve several stations' databases.

use std::path::{Path, PathBuf};
use std::process::Command;

use flashline_audit::{parse_anchors, Anchor};

use crate::cli::Failure;
use crate::exit::Exit;
use crate::input_file::{read_text, Symlinks};
use crate::text::escaped_path;

/// Largest anchor file read (a journal export of years of heads stays far below).
const MAX_ANCHOR_FILE: u64 = 512 * 1024 * 1024;

/// `--anchors` value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AnchorSource {
    /// Read the system journal with `journalctl`.
    Journal,
    /// A file of `journalctl -o json` output or flashline log lines.
    File(PathBuf),
}

impl std::str::FromStr for AnchorSource {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "" => Err("--anchors needs a file or `journal`".into()),
            "journal" => Ok(AnchorSource::Journal),
            path => Ok(AnchorSource::File(PathBuf::from(path))),
        }
    }
}

/// The `journalctl` arguments: flashline's entries, as JSON, only the fields anchors are
/// read from.
pub const JOURNALCTL_ARGS: &[&str] = &[
    "--no-pager",
    "--output=json",
    "--identifier=flashline",
    // MESSAGE too: a daemon logging text to its journal stream has the fields in there.
    "--output-fields=FLASHLINE_CHAIN_SEQ,FLASHLINE_CHAIN_HEAD,FLASHLINE_DATABASE,MESSAGE",
];

/// The anchors of `source` that belong to `database`.
pub fn load(source: &AnchorSource, database: &Path) -> Result<Vec<Anchor>, Failure> {
    let (text, what) = match source {
        AnchorSource::File(path) => {
            let text = read_text(path, MAX_ANCHOR_FILE, Symlinks::Follow).map_err(|e| {
                Failure::new(Exit::Config, format!("cannot read the anchor file {}: {e}", escaped_path(path)))
            })?;
            (text, format!("anchor file {}", escaped_path(path)))
        }
        AnchorSource::Journal => (journal()?, "journal".to_string()),
    };
    let anchors = parse_anchors(&text).map_err(|e| {
        Failure::new(Exit::Config, format!("{what}, {e}: fix or remove that entry, or give another --anchors"))
    })?;
    Ok(for_database(anchors, database))
}

/// Anchors without a database, or written for `database` (compared as absolute paths).
pub fn for_database(anchors: Vec<Anchor>, database: &Path) -> Vec<Anchor> {
    let ours = std::path::absolute(database).unwrap_or_else(|_| database.to_path_buf());
    anchors
        .into_iter()
        .filter(|a| match a.database.as_deref().map(Path::new) {
            Some(theirs) if theirs.is_absolute() => theirs == ours,
            _ => true,
        })
        .collect()
}

fn journal() -> Result<String, Failure> {
    let out = Command::new("journalctl").args(JOURNALCTL_ARGS).output().map_err(|e| {
        Failure::new(
            Exit::Failure,
            format!(
                "cannot run journalctl to read the anchors: {e} (save the journal elsewhere and give --anchors FILE)"
            ),
        )
    })?;
    if !out.status.success() {
        let stderr = String::from_utf8_lossy(&out.stderr);
        return Err(Failure::new(
            Exit::Failure,
            format!(
                "journalctl failed ({}): {} (reading the system journal needs group systemd-journal or adm)",
                out.status,
                crate::text::escape_for_terminal(stderr.trim())
            ),
        ));
    }
    String::from_utf8(out.stdout)
        .map_err(|_| Failure::new(Exit::Failure, "journalctl printed something that is not UTF-8 text"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn anchor(database: Option<&str>) -> Anchor {
        Anchor { seq: 1, hash: "0".repeat(64), database: database.map(Into::into), source: "line 1".into() }
    }

    #[test]
    fn only_anchors_of_this_database_are_kept() {
        let all = vec![anchor(None), anchor(Some("/var/lib/flashline/audit.sqlite")), anchor(Some("/srv/other.db"))];
        let kept = for_database(all, Path::new("/var/lib/flashline/audit.sqlite"));
        assert_eq!(kept.len(), 2);
        assert!(kept.iter().all(|a| a.database.as_deref() != Some("/srv/other.db")));
    }

    #[test]
    fn the_source_is_a_file_or_the_journal() {
        assert_eq!("journal".parse::<AnchorSource>(), Ok(AnchorSource::Journal));
        assert_eq!("./j.json".parse::<AnchorSource>(), Ok(AnchorSource::File("./j.json".into())));
        assert!("".parse::<AnchorSource>().is_err());
    }
}
