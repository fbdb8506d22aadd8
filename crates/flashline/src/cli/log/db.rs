//! Which audit database a query command reads, and how its errors become exit codes.
//!
//! `--db` is a station's SQLite file or the line's central PostgreSQL record
//! (`postgres://USER@HOST/DB`); the central password comes from `--password-file` or
//! `PGPASSWORD`, never from the command line's echo, and is never printed.

use std::path::PathBuf;

use clap::Args;
use flashline_audit::postgres::{is_postgres_url, read_password_file, CentralUrl};
use flashline_audit::{AuditError, AuditStore};

use crate::cli::Failure;
use crate::config::{Config, DEFAULT_DATABASE};
use crate::exit::Exit;

/// `--db PATH|URL` or `--config FILE`; neither means the daemon's default database path.
#[derive(Debug, Clone, Default, Args)]
pub struct DbArgs {
    /// The audit database: a station's SQLite file, or the central record
    /// (postgres://USER@HOST/DB?sslmode=...; password from --password-file or PGPASSWORD).
    #[arg(long, value_name = "PATH|URL", conflicts_with = "config")]
    pub db: Option<PathBuf>,
    /// The station config file; its `database` is read (default: /var/lib/flashline/audit.sqlite).
    #[arg(long, short = 'C', value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Only this station's attempts (a central record holds every station's).
    #[arg(long, value_name = "ID")]
    pub station: Option<String>,
    /// File holding the central database's password (first line); default: $PGPASSWORD.
    #[arg(long, value_name = "FILE")]
    pub password_file: Option<PathBuf>,
}

impl DbArgs {
    /// The database path: `--db`, else the config's `database`, else the default path.
    pub fn path(&self) -> Result<PathBuf, Failure> {
        match (&self.db, &self.config) {
            (Some(db), _) => Ok(db.clone()),
            (None, Some(config)) => {
                Config::load(config).map(|c| c.database).map_err(|e| Failure::new(e.exit_code(), e))
            }
            (None, None) => Ok(PathBuf::from(DEFAULT_DATABASE)),
        }
    }

    /// The central record's URL (password attached), when `--db` is a PostgreSQL URL.
    pub fn central(&self) -> Result<Option<CentralUrl>, Failure> {
        let Some(url) = self.db.as_deref().and_then(|d| d.to_str()).filter(|d| is_postgres_url(d)) else {
            if self.password_file.is_some() {
                return Err(Failure::new(Exit::Config, "--password-file applies to a postgres:// database only"));
            }
            return Ok(None);
        };
        let password = match &self.password_file {
            Some(file) => Some(read_password_file(file).map_err(|e| {
                Failure::new(Exit::Config, format!("cannot read the password file {}: {e}", file.display()))
            })?),
            None => std::env::var("PGPASSWORD").ok().filter(|p| !p.is_empty()),
        };
        CentralUrl::parse(url, password.as_deref()).map(Some).map_err(failure)
    }

    /// Refuses `--station` on a station's own file where it cannot scope the command
    /// (`stats`, `log verify`: the file holds one station's log).
    pub fn station_needs_central(&self) -> Result<(), Failure> {
        if self.station.is_some() && self.central()?.is_none() {
            return Err(Failure::new(
                Exit::Config,
                "--station scopes a central database (--db postgres://...); a station's own file holds its log only",
            ));
        }
        Ok(())
    }

    /// The database for messages: the file, or the central record without credentials.
    pub fn location(&self) -> Result<String, Failure> {
        match self.central()? {
            Some(url) => Ok(url.location().to_owned()),
            None => Ok(self.path()?.display().to_string()),
        }
    }

    /// Opens the database read-only: never created, never migrated, never written, and
    /// never `close_interrupted` (that would close a live daemon's running jobs). A central
    /// record is scoped to `--station` when given.
    pub async fn open(&self) -> Result<AuditStore, Failure> {
        if let Some(url) = self.central()? {
            return AuditStore::open_postgres(&url, self.station.clone()).await.map_err(failure);
        }
        let path = self.path()?;
        AuditStore::open_read_only(&path).await.map_err(|e| {
            let hint = match (&e, &self.db, &self.config) {
                (AuditError::Missing { .. }, None, None) => " (no --db or --config given: the default path was used)",
                _ => "",
            };
            Failure::new(exit_for(&e), format!("{e}{hint}"))
        })
    }
}

/// Exit status for an audit store error: the caller's input is a usage error (2), every
/// other problem is a database error (4).
pub fn exit_for(e: &AuditError) -> Exit {
    match e {
        AuditError::Invalid(_) => Exit::Config,
        _ => Exit::Database,
    }
}

/// An audit store error as a command failure.
pub fn failure(e: AuditError) -> Failure {
    Failure::new(exit_for(&e), e)
}
