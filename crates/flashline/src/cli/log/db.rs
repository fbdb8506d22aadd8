//! Which audit database a query command reads, and how its errors become exit codes.

use std::path::PathBuf;

use clap::Args;
use flashline_audit::{AuditError, AuditStore};

use crate::cli::Failure;
use crate::config::{Config, DEFAULT_DATABASE};
use crate::exit::Exit;

/// `--db PATH` or `--config FILE`; neither means the daemon's default database path.
#[derive(Debug, Clone, Default, Args)]
pub struct DbArgs {
    /// The audit database file (SQLite).
    #[arg(long, value_name = "PATH", conflicts_with = "config")]
    pub db: Option<PathBuf>,
    /// The station config file; its `database` is read (default: /var/lib/flashline/audit.sqlite).
    #[arg(long, short = 'C', value_name = "FILE")]
    pub config: Option<PathBuf>,
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

    /// Opens the database read-only: never created, never migrated, never written, and
    /// never `close_interrupted` (that would close a live daemon's running jobs).
    pub async fn open(&self) -> Result<AuditStore, Failure> {
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
