//! Where the central database is and how to log in: a `postgres://` URL (TLS through its
//! `sslmode`, e.g. `?sslmode=verify-full&sslrootcert=/etc/flashline/central-ca.pem`) and a
//! password kept out of it (a file, or the environment), never printed.

use std::fmt;
use std::str::FromStr;

use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::PgPool;

use crate::error::{AuditError, Result};

/// How long a connection attempt may take before the server counts as unreachable.
pub const CONNECT_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);

/// A central database: its URL and, separately, the password.
#[derive(Clone)]
pub struct CentralUrl {
    options: PgConnectOptions,
    location: String,
}

impl fmt::Debug for CentralUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The options hold the password: only the location is shown.
        f.debug_struct("CentralUrl").field("location", &self.location).finish()
    }
}

/// Whether `text` names a PostgreSQL database rather than a file.
pub fn is_postgres_url(text: &str) -> bool {
    text.starts_with("postgres://") || text.starts_with("postgresql://")
}

impl CentralUrl {
    /// Parses `url` (`postgres://USER@HOST[:PORT]/DB[?sslmode=...]`); `password`, when
    /// given, replaces any password in the URL. Refuses anything but a PostgreSQL URL.
    pub fn parse(url: &str, password: Option<&str>) -> Result<CentralUrl> {
        if !is_postgres_url(url) {
            return Err(AuditError::Invalid(
                "a central database is a postgres://USER@HOST/DATABASE URL (TLS with ?sslmode=require or verify-full)"
                    .into(),
            ));
        }
        let mut options = PgConnectOptions::from_str(url).map_err(|e| {
            // The error may quote the URL, password included: say only what is wrong.
            let what = match e {
                sqlx::Error::Configuration(_) => "malformed",
                _ => "unreadable",
            };
            AuditError::Invalid(format!(
                "the central database URL is {what}; write it as postgres://USER@HOST[:PORT]/DATABASE[?sslmode=...]"
            ))
        })?;
        if let Some(p) = password {
            options = options.password(p);
        }
        let location = format!(
            "postgres://{}@{}:{}/{}",
            options.get_username(),
            options.get_host(),
            options.get_port(),
            options.get_database().unwrap_or(options.get_username())
        );
        Ok(CentralUrl { options, location })
    }

    /// The database for messages: user, host, port, database; never the password.
    pub fn location(&self) -> &str {
        &self.location
    }

    /// The role this URL logs in as.
    pub fn user(&self) -> &str {
        self.options.get_username()
    }

    /// A pool of up to `max` connections; connects lazily, so building it never fails on
    /// an unreachable server (the first query says so).
    pub(crate) fn pool(&self, max: u32) -> PgPool {
        PgPoolOptions::new()
            .max_connections(max)
            .min_connections(0)
            .acquire_timeout(CONNECT_TIMEOUT)
            .connect_lazy_with(self.options.clone().application_name("flashline"))
    }
}

/// Reads a password from `file` (first line, without its line end): the way a daemon gets
/// it from a file readable only by its user.
pub fn read_password_file(file: &std::path::Path) -> std::io::Result<String> {
    let text = std::fs::read_to_string(file)?;
    let line = text.lines().next().unwrap_or("");
    if line.is_empty() {
        return Err(std::io::Error::new(std::io::ErrorKind::InvalidData, "the password file is empty"));
    }
    Ok(line.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_location_never_carries_the_password() {
        let table = [
            (
                "postgres://st1:secret@db.example:5433/audit?sslmode=require",
                None,
                "postgres://st1@db.example:5433/audit",
            ),
            ("postgresql://st1@db.example/audit", Some("secret"), "postgres://st1@db.example:5432/audit"),
        ];
        for (url, pw, want) in table {
            let c = CentralUrl::parse(url, pw).unwrap();
            assert_eq!(c.location(), want);
            assert!(!format!("{c:?}").contains("secret"), "{c:?}");
            assert_eq!(c.user(), "st1");
        }
    }

    #[test]
    fn only_postgres_urls_are_taken_and_errors_do_not_quote_them() {
        for bad in ["/var/lib/flashline/audit.sqlite", "mysql://a@b/c", "postgres://u:secret@[::1/x"] {
            match CentralUrl::parse(bad, None) {
                Err(AuditError::Invalid(m)) => assert!(!m.contains("secret"), "{m}"),
                other => panic!("{bad}: {other:?}"),
            }
        }
    }

    #[test]
    fn a_password_file_gives_its_first_line() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("pw");
        std::fs::write(&p, "s3cret\n").unwrap();
        assert_eq!(read_password_file(&p).unwrap(), "s3cret");
        std::fs::write(&p, "\n").unwrap();
        assert!(read_password_file(&p).is_err());
    }
}
