//! Setting the central record up (an administrator's job, `flashline central ...`): the
//! schema from `migrations/central/` and one login role per station.
//!
//! A station's role is named after its station id and is a member of `flashline_station`,
//! whose rights the schema defines: INSERT and SELECT on its own rows only, no UPDATE or
//! DELETE. The role name is what row-level security compares with `station_id`, so a
//! station can only ever add rows that carry its own id.

use sqlx::migrate::Migrator;
use sqlx::Connection;

use super::connect::CentralUrl;
use super::error::classify;
use crate::error::{AuditError, Result};

/// The central schema files, compiled into the binary.
static CENTRAL_MIGRATOR: Migrator = sqlx::migrate!("../../migrations/central");

/// Longest role name PostgreSQL keeps (longer names are cut, which would break RLS).
const MAX_ROLE_LEN: usize = 63;

/// A station's login role, as created.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StationRole {
    pub station: String,
    /// Generated; shown once to the administrator for the station's password file.
    pub password: String,
}

async fn connect(url: &CentralUrl) -> Result<sqlx::PgConnection> {
    let pool = url.pool(1);
    let conn = pool.acquire().await.map_err(|e| classify(url.location(), e))?;
    Ok(conn.detach())
}

/// Creates or updates the central schema, the group roles `flashline_station` and
/// `flashline_reader`, and the row-level-security policies. Needs a role that may create
/// tables and roles (the database owner with CREATEROLE, or a superuser).
pub async fn init_schema(url: &CentralUrl) -> Result<()> {
    let mut conn = connect(url).await?;
    let result = CENTRAL_MIGRATOR.run(&mut conn).await;
    let _ = conn.close().await;
    result.map_err(|e| AuditError::Migration { location: url.location().to_owned(), source: Box::new(e) })
}

/// Checks a station id can be a role name: 1 to 63 bytes, printable, no quotes.
pub fn check_station_role_name(station: &str) -> std::result::Result<(), String> {
    if station.is_empty() || station.len() > MAX_ROLE_LEN {
        return Err(format!("a station id must be 1 to {MAX_ROLE_LEN} bytes long to name its central role"));
    }
    if station.chars().any(|c| c.is_control() || c == '"' || c == '\'') {
        return Err("a station id for the central record must not hold quotes or control characters".into());
    }
    if station.starts_with("pg_") || station.starts_with("flashline_") {
        return Err("station ids starting with pg_ or flashline_ are reserved role names".into());
    }
    Ok(())
}

/// Creates the login role of station `station` with a generated password, member of
/// `flashline_station`. Refuses a station that already has a role.
pub async fn add_station(url: &CentralUrl, station: &str) -> Result<StationRole> {
    check_station_role_name(station).map_err(AuditError::Invalid)?;
    let password =
        generate_password().map_err(|e| AuditError::Io { location: "/dev/urandom".into(), source: Box::new(e) })?;
    let mut conn = connect(url).await?;
    let location = url.location();
    let exists: bool = sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = $1)")
        .bind(station)
        .fetch_one(&mut conn)
        .await
        .map_err(|e| classify(location, e))?;
    if exists {
        return Err(AuditError::Invalid(format!(
            "central audit database {location} already has a role for station '{station}': each station id is \
             registered once (two stations with one id would be refused anyway); pick another id, or reset \
             its password with ALTER ROLE"
        )));
    }
    // Utility statements take no parameters: the server quotes the name and password.
    let create: String = sqlx::query_scalar(
        "SELECT format('CREATE ROLE %I LOGIN PASSWORD %L IN ROLE flashline_station', $1::TEXT, $2::TEXT)",
    )
    .bind(station)
    .bind(&password)
    .fetch_one(&mut conn)
    .await
    .map_err(|e| classify(location, e))?;
    sqlx::raw_sql(sqlx::AssertSqlSafe(create)).execute(&mut conn).await.map_err(|e| classify(location, e))?;
    let _ = conn.close().await;
    Ok(StationRole { station: station.to_owned(), password })
}

/// 32 hex digits from the kernel's random source.
fn generate_password() -> std::io::Result<String> {
    use std::io::Read;
    let mut bytes = [0u8; 16];
    std::fs::File::open("/dev/urandom")?.read_exact(&mut bytes)?;
    Ok(hex::encode(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn station_ids_that_cannot_be_role_names_are_refused() {
        for ok in ["line-1", "Station 7", "ST_2"] {
            assert!(check_station_role_name(ok).is_ok(), "{ok}");
        }
        for bad in ["", "a\"b", "o'brien", "tab\there", "pg_monitor", "flashline_station", &"x".repeat(64)] {
            assert!(check_station_role_name(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn generated_passwords_differ() {
        let (a, b) = (generate_password().unwrap(), generate_password().unwrap());
        assert_eq!(a.len(), 32);
        assert_ne!(a, b);
    }
}
