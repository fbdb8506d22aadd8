//! `database`: where the audit log is kept, as an absolute path to a file.
//!
//! SQLite gives some names a meaning of their own: `""` is a private temporary database
//! and `:memory:` one in memory (both gone when the daemon exits, with every audit row),
//! `file:…?mode=memory` is a URI, and `sqlite:` URLs are read by some drivers. A daemon
//! started on one of those runs a whole shift without an audit log and says nothing. So
//! the value must name a file: not empty, not a special name or URL, not a directory or a
//! device, and it is made absolute here, so neither the working directory nor the driver
//! can change what it means. [`check_database_path`] applies the same rules to a path given
//! on a command line (`--db`).

use std::fs;
use std::path::{Path, PathBuf};

use toml::Spanned;

use super::{ConfigError, Ctx, DEFAULT_DATABASE};
use crate::text::needs_escape;

const KEY: &str = "database";

/// The absolute database path the config asks for ([`DEFAULT_DATABASE`] if unset).
pub(super) fn validate(raw: Option<Spanned<String>>, ctx: &Ctx) -> Result<PathBuf, ConfigError> {
    let Some(raw) = raw else { return Ok(PathBuf::from(DEFAULT_DATABASE)) };
    let v = raw.get_ref();
    checked(v, || ctx.resolve(Path::new(v))).or_else(|message| ctx.err(raw.span(), KEY, message))
}

/// Applies the rules of the `database` key to a path given elsewhere (a `--db` option):
/// returns it absolute (from the working directory), or why it names no database file.
pub fn check_database_path(path: &Path) -> Result<PathBuf, String> {
    checked(&path.to_string_lossy(), || std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf()))
}

/// `v` made absolute by `resolve`, if it names a file that is or can become a database.
fn checked(v: &str, resolve: impl FnOnce() -> PathBuf) -> Result<PathBuf, String> {
    let advice = format!("give the audit database's file, like {DEFAULT_DATABASE}");
    if let Some(problem) = problem(v) {
        return Err(format!("{problem}; {advice}"));
    }
    let path = resolve();
    if let Ok(meta) = fs::metadata(&path) {
        if !meta.is_file() {
            let what = if meta.is_dir() { "a directory" } else { "not a regular file" };
            return Err(format!("{} is {what}; {advice}", path.display()));
        }
    }
    Ok(path)
}

/// Why `v` (as written) cannot name the database file, if it cannot.
fn problem(v: &str) -> Option<String> {
    let lower = v.trim().to_ascii_lowercase();
    if lower.is_empty() {
        return Some("the path is empty (SQLite would keep the audit log in a temporary file, lost at exit)".into());
    }
    if v.chars().any(needs_escape) {
        return Some(format!("'{v}' contains control characters"));
    }
    if lower == ":memory:" || lower.starts_with("file:") || lower.starts_with("sqlite:") {
        return Some(format!("'{v}' is an SQLite special name or URL, not a file"));
    }
    let p = Path::new(v);
    if v.ends_with('/') || p.file_name().is_none() {
        return Some(format!("'{v}' names a directory, not a file"));
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_that_do_not_name_a_file() {
        let refused = [
            ("", "empty"),
            ("  ", "empty"),
            (":memory:", "special name or URL"),
            (":MEMORY:", "special name or URL"),
            ("file:audit.sqlite?mode=memory", "special name or URL"),
            ("FILE:/var/lib/flashline/audit.sqlite", "special name or URL"),
            ("sqlite::memory:", "special name or URL"),
            ("sqlite:///var/lib/flashline/audit.sqlite", "special name or URL"),
            ("/var/lib/flashline/", "names a directory"),
            ("state/..", "names a directory"),
            (".", "names a directory"),
            ("/", "names a directory"),
            ("audit\u{1b}[2J.sqlite", "control characters"),
            ("audit\n.sqlite", "control characters"),
        ];
        for (v, why) in refused {
            let p = problem(v).unwrap_or_else(|| panic!("{v:?} was accepted"));
            assert!(p.contains(why), "{v:?}: {p}");
        }
        for v in ["audit.sqlite", "/var/lib/flashline/audit.sqlite", "state/audit.db", "memory.sqlite", "a:b.sqlite"] {
            assert_eq!(problem(v), None, "{v:?}");
        }
    }

    #[test]
    fn paths_given_outside_a_config() {
        let cwd = std::env::current_dir().unwrap();
        assert_eq!(check_database_path(Path::new("a.sqlite")), Ok(cwd.join("a.sqlite")));
        assert_eq!(check_database_path(Path::new("/x/a.sqlite")), Ok(PathBuf::from("/x/a.sqlite")));
        assert!(check_database_path(Path::new("")).unwrap_err().contains("the path is empty"));
        assert!(check_database_path(Path::new(":memory:")).unwrap_err().contains("special name"));
        assert!(check_database_path(Path::new("/dev/null")).unwrap_err().contains("not a regular file"));
    }
}
