//! PostgreSQL errors to [`AuditError`] variants (reads) and [`CentralError`] (a station's
//! forwarding): the only place that knows SQLSTATE codes.

use crate::error::{AuditError, BoxError};

/// SQLSTATE the central schema raises for a row that contradicts a station's recorded
/// chain (`migrations/central/0001_central.sql`).
pub(crate) const CHAIN_CONFLICT: &str = "FL001";

/// What went wrong talking to the central database, in the terms of what to do about it.
#[derive(Debug, thiserror::Error)]
pub enum CentralError {
    /// No connection: server down, network cut, wrong host or port, TLS handshake failed.
    #[error(
        "central audit database {location} cannot be reached; rows stay queued in the local audit log \
         and are sent when it answers (check the server, the network and [central] url): {source}"
    )]
    Unreachable { location: String, source: BoxError },

    /// The server refused the login (wrong password, unknown role, pg_hba).
    #[error(
        "central audit database {location} refused the login of role '{user}'; check the password \
         ([central] password_file or password_env) and that `flashline central add-station` created the \
         role; rows stay queued locally: {source}"
    )]
    Login { location: String, user: String, source: BoxError },

    /// The role may not do this (no station role, RLS refused a row of another station).
    #[error(
        "central audit database {location} refused to store rows as role '{user}': a station's role must be \
         named after its station id and be a member of flashline_station (`flashline central add-station ID`): \
         {source}"
    )]
    NotPermitted { location: String, user: String, source: BoxError },

    /// The central record already holds a different chain for this station id.
    #[error(
        "central audit database {location} already holds another chain for station '{station}' ({detail}): \
         another station uses the same station id, or this station's local audit log was replaced; \
         forwarding stops for this station (the line goes on, rows stay in the local log): give each \
         station its own id and role"
    )]
    Conflict { location: String, station: String, detail: String },

    /// The central schema is missing or not the one this build writes.
    #[error(
        "central audit database {location} has no flashline schema (or an older one); run \
         `flashline central init --db postgres://ADMIN@HOST/DB` first: {source}"
    )]
    Schema { location: String, source: BoxError },

    /// A local row cannot be stored as it is (a value of a type the column cannot hold).
    #[error("local audit row seq {seq} cannot be forwarded: {detail}; run `flashline log verify` on the station")]
    Unforwardable { seq: i64, detail: String },

    /// Anything else the server said.
    #[error("central audit database {location}: {source}")]
    Other { location: String, source: BoxError },
}

impl CentralError {
    /// Whether trying again later can help without anyone changing anything (the server
    /// comes back). Login and permission errors are retried too, but slowly, since an
    /// administrator may fix them while the station runs; a conflict never is.
    pub fn is_permanent(&self) -> bool {
        matches!(self, CentralError::Conflict { .. } | CentralError::Unforwardable { .. })
    }
}

fn sqlstate(err: &sqlx::Error) -> Option<String> {
    err.as_database_error().and_then(|d| d.code()).map(|c| c.into_owned())
}

/// A forwarding error.
pub(crate) fn classify_central(location: &str, user: &str, station: &str, err: sqlx::Error) -> CentralError {
    let location = location.to_owned();
    match sqlstate(&err).as_deref() {
        Some(CHAIN_CONFLICT) => {
            let detail = err.as_database_error().map(|d| d.message().to_owned()).unwrap_or_default();
            return CentralError::Conflict { location, station: station.to_owned(), detail };
        }
        // invalid_password, invalid_authorization_specification
        Some("28P01" | "28000") => return CentralError::Login { location, user: user.to_owned(), source: err.into() },
        // insufficient_privilege (incl. a row-level security refusal)
        Some("42501") => return CentralError::NotPermitted { location, user: user.to_owned(), source: err.into() },
        // undefined_table, undefined_column
        Some("42P01" | "42703") => return CentralError::Schema { location, source: err.into() },
        // admin_shutdown, crash_shutdown, cannot_connect_now, connection_* (08...)
        Some(c) if c.starts_with("08") || c.starts_with("57P") => {
            return CentralError::Unreachable { location, source: err.into() }
        }
        _ => {}
    }
    match err {
        sqlx::Error::Io(_) | sqlx::Error::Tls(_) | sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed => {
            CentralError::Unreachable { location, source: err.into() }
        }
        other => CentralError::Other { location, source: other.into() },
    }
}

/// A read error of the central backend.
pub(crate) fn classify(location: &str, err: sqlx::Error) -> AuditError {
    let location = location.to_owned();
    match sqlstate(&err).as_deref() {
        Some("28P01" | "28000" | "42501") => return AuditError::Access { location, source: err.into() },
        Some("3D000") => return AuditError::Missing { location },
        Some("42P01" | "42703") => {
            return AuditError::Schema {
                location,
                found: None,
                expected: super::SCHEMA_VERSION,
                detail: format!(
                    "no flashline central schema ({err}); run `flashline central init --db postgres://ADMIN@HOST/DB`"
                ),
            }
        }
        Some(c) if c.starts_with("08") || c.starts_with("57P") => {
            return AuditError::Io { location, source: err.into() }
        }
        _ => {}
    }
    match err {
        sqlx::Error::Io(_) | sqlx::Error::Tls(_) | sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed => {
            AuditError::Io { location, source: err.into() }
        }
        other => AuditError::Backend { location, source: other.into() },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connection_failures_are_unreachable_and_retried() {
        let io = || sqlx::Error::Io(std::io::Error::new(std::io::ErrorKind::ConnectionRefused, "refused"));
        let e = classify_central("pg://x", "st1", "st1", io());
        assert!(matches!(e, CentralError::Unreachable { .. }) && !e.is_permanent(), "{e}");
        assert!(e.to_string().contains("queued"), "{e}");
        assert!(matches!(classify("pg://x", io()), AuditError::Io { .. }));
        let e = classify_central("pg://x", "st1", "st1", sqlx::Error::PoolTimedOut);
        assert!(matches!(e, CentralError::Unreachable { .. }));
    }

    #[test]
    fn a_conflict_is_permanent_and_names_the_station() {
        let e = CentralError::Conflict { location: "pg://x".into(), station: "line-1".into(), detail: "seq 1".into() };
        assert!(e.is_permanent());
        let m = e.to_string();
        assert!(m.contains("line-1") && m.contains("same station id"), "{m}");
    }
}
