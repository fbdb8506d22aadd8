//! `flashline demo --central postgres://…`: the demo station forwards its rows to a
//! central record like a line's station does, so a new user sees store-and-forward, the
//! line view and `log --db postgres://` without hardware.
//!
//! The password comes from `--password-file`, the URL itself, or `PGPASSWORD`, like the
//! query commands. A station config never holds a password, so the demo writes it to a
//! file of its own work directory (mode 0600) and names that file in the generated
//! `[central]` section; the URL in the config is the one without the password.

use std::path::{Path, PathBuf};

use flashline_audit::postgres::{read_password_file, CentralUrl};

use super::db::DEMO_STATION;
use crate::station::forward::{ForwardState, ForwardStatus};

/// The `[central]` section the demo writes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DemoCentral {
    /// The URL without a password.
    pub url: String,
    /// The file holding the password, if there is one.
    pub password_file: Option<PathBuf>,
    /// The record for messages (no password).
    pub location: String,
}

impl DemoCentral {
    /// The config lines of the section.
    pub fn section(&self) -> String {
        let mut s = format!("[central]\nurl = {}\n", toml_string(&self.url));
        if let Some(f) = &self.password_file {
            s.push_str(&format!("password_file = {}\n", toml_string(&f.display().to_string())));
        }
        s
    }
}

/// Resolves `--central URL` with `--password-file` or the URL's password or
/// `$PGPASSWORD` into a section for the demo's config, writing the password into `work`.
pub fn prepare(url: &str, password_file: Option<&Path>, work: &Path) -> Result<DemoCentral, String> {
    let (bare, in_url) = split_password(url);
    let password = match (password_file, in_url) {
        (Some(_), Some(_)) => {
            return Err("--central carries a password and --password-file names another: give one of them".into())
        }
        (Some(f), None) => {
            Some(read_password_file(f).map_err(|e| format!("cannot read the password file {}: {e}", f.display()))?)
        }
        (None, Some(p)) => Some(p),
        (None, None) => std::env::var("PGPASSWORD").ok().filter(|p| !p.is_empty()),
    };
    // Checks the URL the way the station will (and says what is wrong without quoting it).
    let location =
        CentralUrl::parse(&bare, password.as_deref()).map_err(|e| format!("--central: {e}"))?.location().to_owned();
    match user_of(&bare) {
        Some(u) if u == DEMO_STATION => {}
        other => {
            let who = other.map_or_else(|| "no role".to_owned(), |u| format!("{u:?}"));
            return Err(format!(
                "--central names {who}, but a station forwards under its own role and the demo station is \
                 {DEMO_STATION:?}: use postgres://{DEMO_STATION}@HOST/DB (flashline central add-station {DEMO_STATION})"
            ));
        }
    }
    let password_file = match password {
        None => None,
        Some(p) => {
            let file = work.join("central.pw");
            write_private(&file, &p).map_err(|e| format!("cannot write {}: {e}", file.display()))?;
            Some(file)
        }
    };
    Ok(DemoCentral { url: bare, password_file, location })
}

/// What the demo says about the central record at the end.
pub fn summary(location: &str, status: Option<&ForwardStatus>) -> String {
    let Some(s) = status else {
        return format!("central record {location}: the forwarder did not start");
    };
    let mut line = format!("central record {location}: {} rows arrived from this run", s.forwarded);
    if s.backlog > 0 {
        line.push_str(&format!(
            ", {} still waiting in the local log (sent by the next run with --db and --keep-db)",
            s.backlog
        ));
    }
    match &s.state {
        ForwardState::Stopped(why) => line.push_str(&format!(
            "; forwarding STOPPED: {why} (a fresh demo database starts a new chain: keep one with --db FILE --keep-db)"
        )),
        ForwardState::Retrying(why) => line.push_str(&format!("; last attempt failed: {why}")),
        ForwardState::Starting | ForwardState::Forwarding => {}
    }
    line
}

/// `(URL without the password, the password)`; the password percent-decoded.
fn split_password(url: &str) -> (String, Option<String>) {
    let Some((scheme, rest)) = url.split_once("://") else { return (url.to_owned(), None) };
    let end = rest.find(['/', '?']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(end);
    let Some((userinfo, host)) = authority.rsplit_once('@') else { return (url.to_owned(), None) };
    let Some((user, password)) = userinfo.split_once(':') else { return (url.to_owned(), None) };
    (format!("{scheme}://{user}@{host}{tail}"), Some(percent_decode(password)))
}

/// The user name of a URL without a password, if it names one.
fn user_of(url: &str) -> Option<String> {
    let rest = url.split_once("://")?.1;
    let authority = &rest[..rest.find(['/', '?']).unwrap_or(rest.len())];
    authority.rsplit_once('@').map(|(u, _)| percent_decode(u))
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes.get(i + 1..i + 3).and_then(|h| std::str::from_utf8(h).ok());
        match (bytes[i], hex.and_then(|h| u8::from_str_radix(h, 16).ok())) {
            (b'%', Some(b)) => {
                out.push(b);
                i += 3;
            }
            (b, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn toml_string(s: &str) -> String {
    toml::Value::String(s.to_owned()).to_string()
}

fn write_private(path: &Path, text: &str) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = std::fs::OpenOptions::new().write(true).create(true).truncate(true).mode(0o600).open(path)?;
    writeln!(f, "{text}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_leave_the_url_decoded() {
        let table = [
            ("postgres://demo@db/line", "postgres://demo@db/line", None),
            (
                "postgres://demo:s3cret@db:5433/line?sslmode=require",
                "postgres://demo@db:5433/line?sslmode=require",
                Some("s3cret"),
            ),
            ("postgresql://demo:a%40b%3Ac@db/line", "postgresql://demo@db/line", Some("a@b:c")),
            ("postgres://db/line", "postgres://db/line", None),
        ];
        for (url, bare, password) in table {
            assert_eq!(split_password(url), (bare.to_owned(), password.map(str::to_owned)), "{url}");
        }
    }

    #[test]
    fn the_password_goes_to_a_private_file_and_another_role_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let c = prepare("postgres://demo:pw%21@localhost:5432/line", None, dir.path()).unwrap();
        assert_eq!(c.url, "postgres://demo@localhost:5432/line");
        let file = c.password_file.clone().unwrap();
        assert_eq!(std::fs::read_to_string(&file).unwrap(), "pw!\n");
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(std::fs::metadata(&file).unwrap().permissions().mode() & 0o777, 0o600);
        assert!(c.section().contains("url = \"postgres://demo@localhost:5432/line\""), "{}", c.section());

        let e = prepare("postgres://line-1:pw@localhost/line", None, dir.path()).unwrap_err();
        assert!(e.contains("add-station demo"), "{e}");
        let e = prepare("postgres://demo:pw@localhost/line", Some(&file), dir.path()).unwrap_err();
        assert!(e.contains("give one of them"), "{e}");
        assert!(prepare("postgres://localhost/line", None, dir.path()).unwrap_err().contains("no role"));
        assert!(prepare("mysql://demo@localhost/line", None, dir.path()).unwrap_err().starts_with("--central"));
    }

    #[test]
    fn the_summary_says_what_arrived_and_why_not() {
        let s = |backlog, forwarded, state| ForwardStatus { backlog, forwarded, state, last_error: None };
        let ok = summary("postgres://demo@db/line", Some(&s(0, 8, ForwardState::Forwarding)));
        assert_eq!(ok, "central record postgres://demo@db/line: 8 rows arrived from this run");
        let stopped = summary("x", Some(&s(8, 0, ForwardState::Stopped("twin".into()))));
        assert!(stopped.contains("8 still waiting") && stopped.contains("STOPPED: twin"), "{stopped}");
    }
}
