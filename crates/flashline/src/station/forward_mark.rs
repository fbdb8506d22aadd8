//! The forwarder's memory of what the central record acknowledged, kept beside the local
//! audit database (`<database>.central-ack`), so a station started while the central
//! server is down shows its real backlog — the local rows after the last acknowledged one
//! — instead of 0 until the server answers.
//!
//! The mark only ever lags the truth (it is written after the central commit), so the
//! backlog it gives is never smaller than the real one; the central head replaces it as
//! soon as the server answers. A mark for another central database (the config changed),
//! or one that does not name a row of this log with that hash (a replaced log), is not
//! used: then every chained local row counts as waiting, an upper bound the log says so.

use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// Suffix of the mark file beside the audit database.
pub const SUFFIX: &str = ".central-ack";

/// The last row of this station's chain the central record acknowledged.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Acked {
    /// The central database (`postgres://USER@HOST:PORT/DB`, never a password).
    pub central: String,
    pub seq: i64,
    pub hash: String,
}

/// Where the mark of one local database lives.
#[derive(Debug, Clone)]
pub struct AckMark {
    path: PathBuf,
}

impl AckMark {
    /// The mark beside the audit database at `database`.
    pub fn beside(database: &Path) -> AckMark {
        let mut name = database.as_os_str().to_owned();
        name.push(SUFFIX);
        AckMark { path: PathBuf::from(name) }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The mark for `central`, if there is a readable one for that database.
    pub fn load(&self, central: &str) -> Option<Acked> {
        let text = std::fs::read_to_string(&self.path).ok()?;
        let acked: Acked = serde_json::from_str(&text).ok()?;
        (acked.central == central && acked.seq >= 0).then_some(acked)
    }

    /// Replaces the mark (a new file renamed over the old one: a crash leaves the old mark
    /// or the new one, never half of one).
    pub fn save(&self, acked: &Acked) -> std::io::Result<()> {
        let dir = self.path.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
        let mut tmp = tempfile::NamedTempFile::new_in(dir)?;
        tmp.write_all(serde_json::to_string(acked).expect("a mark serialises").as_bytes())?;
        tmp.persist(&self.path).map_err(|e| e.error)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn acked(central: &str, seq: i64) -> Acked {
        Acked { central: central.into(), seq, hash: "ab".repeat(32) }
    }

    #[test]
    fn a_mark_is_read_back_only_for_its_central_database() {
        let dir = tempfile::tempdir().unwrap();
        let mark = AckMark::beside(&dir.path().join("audit.db"));
        assert_eq!(mark.path(), dir.path().join("audit.db.central-ack"));
        assert_eq!(mark.load("postgres://line-1@db:5432/audit"), None, "no file yet");
        mark.save(&acked("postgres://line-1@db:5432/audit", 41)).unwrap();
        mark.save(&acked("postgres://line-1@db:5432/audit", 42)).unwrap();
        assert_eq!(mark.load("postgres://line-1@db:5432/audit"), Some(acked("postgres://line-1@db:5432/audit", 42)));
        assert_eq!(mark.load("postgres://line-1@other:5432/audit"), None, "another central database");
    }

    #[test]
    fn an_unreadable_or_nonsensical_mark_is_ignored() {
        let dir = tempfile::tempdir().unwrap();
        let mark = AckMark::beside(&dir.path().join("audit.db"));
        let central = "postgres://s@h:5432/d";
        for text in ["", "{", "{\"central\":\"postgres://s@h:5432/d\",\"seq\":-1,\"hash\":\"x\"}", "[]"] {
            std::fs::write(mark.path(), text).unwrap();
            assert_eq!(mark.load(central), None, "{text:?}");
        }
    }
}
