//! A station's serial numbers through the central record: leasing blocks and claiming
//! MACs (the functions of `migrations/central/0003_provision.sql`). The rule is in
//! [`crate::serial`]; the station allocates from its own log, so none of this is on the
//! path of a board while the central record is down.

use sqlx::Row;

use super::error::CentralError;
use super::link::CentralLink;

impl CentralLink {
    /// Leases the next block of `count` numbers, from at least `start`: `(first, last)`.
    /// Every block is handed out once, to this station.
    pub async fn lease_serials(&self, start: u64, count: u64) -> Result<(u64, u64), CentralError> {
        let row = sqlx::query("SELECT first, last FROM lease_serials($1, $2)")
            .bind(start as i64)
            .bind(count as i64)
            .fetch_one(&self.pool)
            .await
            .map_err(|e| self.err(e))?;
        let first: i64 = row.try_get(0).map_err(|e| self.err(e))?;
        let last: i64 = row.try_get(1).map_err(|e| self.err(e))?;
        Ok((first as u64, last as u64))
    }

    /// The number the central record holds for `mac` (spelled `AA:BB:CC:DD:EE:FF`), if any.
    pub async fn serial_of(&self, mac: &str) -> Result<Option<u64>, CentralError> {
        let n: Option<i64> = sqlx::query_scalar("SELECT number FROM serial_numbers WHERE mac = $1")
            .bind(mac)
            .fetch_optional(&self.pool)
            .await
            .map_err(|e| self.err(e))?;
        Ok(n.map(|n| n as u64))
    }

    /// Claims `number` for `mac`; returns the number the MAC has centrally (the first
    /// claim wins: another station may have claimed it during an outage).
    pub async fn claim_serial(&self, mac: &str, number: u64) -> Result<u64, CentralError> {
        let n: i64 = sqlx::query_scalar("SELECT claim_serial($1, $2)")
            .bind(mac)
            .bind(number as i64)
            .fetch_one(&self.pool)
            .await
            .map_err(|e| self.err(e))?;
        Ok(n as u64)
    }
}
