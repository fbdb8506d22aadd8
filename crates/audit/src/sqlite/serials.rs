//! Serial numbers in the station's file: one per MAC, allocated in the write transaction
//! that looks the MAC up (see [`crate::serial`] for the rule), and the blocks leased from
//! the central record.

use super::tx::write_tx;
use super::SqliteBackend;
use crate::error::{AuditError, Result};
use crate::model::AttemptId;
use crate::serial::{SerialAllocation, SerialSource};
use crate::time::Timestamp;

impl SqliteBackend {
    pub(crate) async fn write_serial(
        &self,
        id: AttemptId,
        mac: &str,
        source: SerialSource,
    ) -> Result<SerialAllocation> {
        write_tx!(self, |tx| {
            self.require_running(&mut tx, id).await?;
            let known = known(&mut tx, mac).await?;
            match known {
                Some(n) => SerialAllocation { number: n as u64, new: false },
                None => {
                    let (number, kind) = match source {
                        SerialSource::Local { start } => {
                            let max: Option<i64> = sqlx::query_scalar("SELECT MAX(number) FROM serial_numbers")
                                .fetch_one(&mut *tx)
                                .await?;
                            let start = i64::try_from(start)
                                .map_err(|_| AuditError::Invalid(format!("serial start {start} is out of range")))?;
                            (max.map_or(start, |m| (m + 1).max(start)), "local")
                        }
                        SerialSource::Leased => {
                            let lease: Option<(i64, i64)> = sqlx::query_as(
                                "SELECT first, next FROM serial_leases WHERE next <= last ORDER BY first LIMIT 1",
                            )
                            .fetch_optional(&mut *tx)
                            .await?;
                            let Some((first, next)) = lease else {
                                return Err(AuditError::SerialsExhausted { location: self.location.clone() }.into());
                            };
                            sqlx::query("UPDATE serial_leases SET next = next + 1 WHERE first = ?")
                                .bind(first)
                                .execute(&mut *tx)
                                .await?;
                            (next, "lease")
                        }
                    };
                    insert(&mut tx, mac, number, kind, Some(id)).await?;
                    SerialAllocation { number: number as u64, new: true }
                }
            }
        })
    }

    pub(crate) async fn write_adopted_serial(&self, mac: &str, number: u64) -> Result<SerialAllocation> {
        let number =
            i64::try_from(number).map_err(|_| AuditError::Invalid(format!("serial {number} is out of range")))?;
        write_tx!(self, |tx| {
            let known = known(&mut tx, mac).await?;
            match known {
                Some(n) => SerialAllocation { number: n as u64, new: false },
                None => {
                    insert(&mut tx, mac, number, "central", None).await?;
                    SerialAllocation { number: number as u64, new: true }
                }
            }
        })
    }

    pub(crate) async fn write_lease(&self, first: u64, last: u64) -> Result<()> {
        let (first, last) = match (i64::try_from(first), i64::try_from(last)) {
            (Ok(f), Ok(l)) if f <= l => (f, l),
            _ => return Err(AuditError::Invalid(format!("serial block {first}..={last} is not a block"))),
        };
        write_tx!(self, |tx| {
            sqlx::query("INSERT INTO serial_leases (first, last, next, leased_at_ms) VALUES (?, ?, ?, ?)")
                .bind(first)
                .bind(last)
                .bind(first)
                .bind(Timestamp::now().as_unix_ms())
                .execute(&mut *tx)
                .await?;
        })
    }

    pub(crate) async fn read_lease_left(&self) -> Result<u64> {
        let mut conn = self.reader.acquire().await.map_err(|e| self.sql_err(e))?;
        let left: Option<i64> = sqlx::query_scalar("SELECT SUM(last + 1 - next) FROM serial_leases")
            .fetch_one(&mut *conn)
            .await
            .map_err(|e| self.sql_err(e))?;
        Ok(left.unwrap_or(0).max(0) as u64)
    }

    pub(crate) async fn write_provision(
        &self,
        id: AttemptId,
        serial: Option<&str>,
        provision: Option<&str>,
    ) -> Result<()> {
        write_tx!(self, |tx| {
            self.require_running(&mut tx, id).await?;
            sqlx::query("UPDATE attempts SET serial = ?, provision = ? WHERE id = ?")
                .bind(serial)
                .bind(provision)
                .bind(id.0)
                .execute(&mut *tx)
                .await?;
        })
    }
}

/// The number `mac` already has here.
async fn known(conn: &mut sqlx::SqliteConnection, mac: &str) -> Result<Option<i64>, sqlx::Error> {
    sqlx::query_scalar("SELECT number FROM serial_numbers WHERE mac = ?").bind(mac).fetch_optional(&mut *conn).await
}

/// One MAC's number. The UNIQUE constraint on `number` is the last guard: a number handed
/// out twice would fail the transaction rather than be recorded.
async fn insert(
    conn: &mut sqlx::SqliteConnection,
    mac: &str,
    number: i64,
    source: &str,
    id: Option<AttemptId>,
) -> Result<(), sqlx::Error> {
    sqlx::query("INSERT INTO serial_numbers (mac, number, source, attempt_id, allocated_at_ms) VALUES (?, ?, ?, ?, ?)")
        .bind(mac)
        .bind(number)
        .bind(source)
        .bind(id.map(|i| i.0))
        .bind(Timestamp::now().as_unix_ms())
        .execute(&mut *conn)
        .await?;
    Ok(())
}
