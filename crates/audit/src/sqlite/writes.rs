//! The write paths: begin, identity, stage, complete, and closing interrupted rows.
//!
//! Each runs in one `BEGIN IMMEDIATE` transaction ([`super::tx`]); completing a row seals
//! it into the hash chain in that same transaction.

use std::str::FromStr;

use sqlx::SqliteConnection;

use super::tx::{write_tx, TxError};
use super::SqliteBackend;
use super::{chain, mark};
use crate::chain::{row_hash, ChainHead, Value, CHAIN_COLUMNS, CHAIN_VERSION};
use crate::error::{AuditError, Result};
use crate::model::{
    AttemptId, AttemptResult, ClosedRunning, Completion, Failure, Identity, NewAttempt, StageTimings,
    FORGED_RUNNING_REASON, INTERRUPTED_REASON,
};
use crate::store::UNKNOWN_STAGE;
use crate::time::Timestamp;

impl SqliteBackend {
    /// Records the start of a job: inserts a `running` row and returns its id.
    pub(crate) async fn insert_running(&self, new: &NewAttempt) -> Result<AttemptId> {
        let started_at = new.started_at.unwrap_or_else(Timestamp::now);
        let usb = new.usb.as_ref();
        write_tx!(self, |tx| {
            let done = sqlx::query(
                "INSERT INTO attempts (started_at_ms, station_id, slot, port, usb_vid, usb_pid, usb_serial, \
                 image_name, image_sha256, result) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 'running')",
            )
            .bind(started_at.as_unix_ms())
            .bind(&new.station_id)
            .bind(&new.slot)
            .bind(&new.port)
            .bind(usb.map(|u| i64::from(u.vid)))
            .bind(usb.map(|u| i64::from(u.pid)))
            .bind(usb.and_then(|u| u.serial.as_deref()))
            .bind(&new.image_name)
            .bind(&new.image_sha256)
            .execute(&mut *tx)
            .await?;
            let id = done.last_insert_rowid();
            mark::raise(&mut tx, id).await?;
            AttemptId(id)
        })
    }

    /// Records the identity; rework when another row carries the MAC (the first such row
    /// is returned).
    pub(crate) async fn write_identity(&self, id: AttemptId, identity: &Identity) -> Result<Option<AttemptId>> {
        let mac = &identity.mac;
        write_tx!(self, |tx| {
            self.require_running(&mut tx, id).await?;
            // Any other row with this MAC, earlier or still running in a parallel slot: the
            // board has been on the line before. The first attempt is the one to look at.
            let first: Option<i64> = sqlx::query_scalar("SELECT MIN(id) FROM attempts WHERE mac = ? AND id <> ?")
                .bind(mac)
                .bind(id.0)
                .fetch_one(&mut *tx)
                .await?;
            sqlx::query(
                "UPDATE attempts SET mac = ?, chip = ?, chip_revision = ?, flash_id = ?, flash_size = ?, \
                 rework = ?, rework_of = ? WHERE id = ?",
            )
            .bind(mac)
            .bind(&identity.chip)
            .bind(identity.chip_revision.as_deref())
            .bind(identity.flash_id.map(i64::from))
            .bind(identity.flash_size.map(|s| s as i64))
            .bind(i64::from(first.is_some()))
            .bind(first)
            .bind(id.0)
            .execute(&mut *tx)
            .await?;
            first.map(AttemptId)
        })
    }

    /// One `UPDATE` of `current_stage`, in its own transaction; says why when the row is
    /// not running.
    pub(crate) async fn write_stage(&self, id: AttemptId, stage: &str) -> Result<()> {
        write_tx!(self, |tx| {
            let done = sqlx::query("UPDATE attempts SET current_stage = ? WHERE id = ? AND result = 'running'")
                .bind(stage)
                .bind(id.0)
                .execute(&mut *tx)
                .await?;
            if done.rows_affected() == 0 {
                // Not running: say why (unknown id, or already completed).
                self.require_running(&mut tx, id).await?;
            }
        })
    }

    /// Records the image of a running row (chosen at identify).
    pub(crate) async fn write_image(&self, id: AttemptId, name: &str, sha256: &str) -> Result<()> {
        write_tx!(self, |tx| {
            self.require_running(&mut tx, id).await?;
            sqlx::query("UPDATE attempts SET image_name = ?, image_sha256 = ? WHERE id = ?")
                .bind(name)
                .bind(sha256)
                .bind(id.0)
                .execute(&mut *tx)
                .await?;
        })
    }

    /// Records the end of a job and appends the row to the hash chain, in one transaction.
    /// A row is completed exactly once: a second call fails with `AlreadyCompleted`.
    pub(crate) async fn write_completion(&self, id: AttemptId, completion: &Completion) -> Result<()> {
        write_tx!(self, |tx| {
            self.require_running(&mut tx, id).await?;
            self.seal(&mut tx, id, completion).await?;
        })
    }

    /// Seals every `running` row as `interrupted`, with its last recorded stage (or
    /// [`UNKNOWN_STAGE`]) as the failure stage and [`INTERRUPTED_REASON`] — or
    /// [`FORGED_RUNNING_REASON`] for a row above the begun-attempt mark ([`mark`]).
    pub(crate) async fn close_running(&self, now: Timestamp) -> Result<ClosedRunning> {
        write_tx!(self, |tx| {
            let running: Vec<(i64, Option<String>)> =
                sqlx::query_as("SELECT id, current_stage FROM attempts WHERE result = 'running' ORDER BY id")
                    .fetch_all(&mut *tx)
                    .await?;
            let begun = mark::read(&mut tx).await?;
            let mut closed = ClosedRunning::default();
            for (id, stage) in &running {
                let forged = mark::not_begun_by_a_daemon(begun, *id);
                let reason = if forged { FORGED_RUNNING_REASON } else { INTERRUPTED_REASON };
                // What the dead daemon knew is gone; record only what is certain.
                let stage = stage.as_deref().map(str::trim).filter(|s| !s.is_empty()).unwrap_or(UNKNOWN_STAGE);
                let completion = Completion {
                    result: AttemptResult::Interrupted,
                    failure: Some(Failure { stage: stage.into(), reason: reason.into() }),
                    bytes_written: 0,
                    verify_method: None,
                    stage_timings: StageTimings::new(),
                    skipped_regions: Vec::new(),
                    regions: Vec::new(),
                    boot: None,
                    ended_at: Some(now),
                };
                self.seal(&mut tx, AttemptId(*id), &completion).await?;
                if forged {
                    closed.suspect.push(AttemptId(*id));
                } else {
                    closed.interrupted.push(AttemptId(*id));
                }
            }
            closed
        })
    }

    /// Fails unless `id` exists and is `running`.
    pub(super) async fn require_running(&self, conn: &mut SqliteConnection, id: AttemptId) -> Result<(), TxError> {
        let result: Option<String> = sqlx::query_scalar("SELECT result FROM attempts WHERE id = ?")
            .bind(id.0)
            .fetch_optional(&mut *conn)
            .await?;
        match result.as_deref().map(AttemptResult::from_str) {
            None => Err(AuditError::NotFound { location: self.location.clone(), id }.into()),
            Some(Ok(AttemptResult::Running)) => Ok(()),
            Some(Ok(result)) => {
                Err(AuditError::AlreadyCompleted { location: self.location.clone(), id, result }.into())
            }
            Some(Err(detail)) => {
                Err(AuditError::Decode { location: self.location.clone(), id: id.0, column: "result", detail }.into())
            }
        }
    }

    /// Writes the completion fields and the chain position of a running row. Must run in a
    /// write transaction. The hash is computed over the final stored values, then checked
    /// against a re-read of the row, so a completed row always verifies.
    async fn seal(&self, conn: &mut SqliteConnection, id: AttemptId, c: &Completion) -> Result<(), TxError> {
        let head = chain::read_head(conn).await?;
        let sql = format!("SELECT {} FROM attempts WHERE id = ?", chain::column_list());
        let row = sqlx::query(sqlx::AssertSqlSafe(sql.clone())).bind(id.0).fetch_one(&mut *conn).await?;
        let mut values = chain::read_values(&row, 0)?;

        let ended_at = c.ended_at.unwrap_or_else(Timestamp::now);
        let skipped = serde_json::to_string(&c.skipped_regions).expect("skipped regions serialise");
        let timings = serde_json::to_string(&c.stage_timings).expect("stage timings serialise");
        let summary = serde_json::to_string(&c.regions).expect("region summary serialises");
        // Hashed from chain version 2 on (not in chain version 1).
        let boot = c.boot.as_ref().map(crate::boot::BootRecord::to_json);
        let failure = c.failure.as_ref();
        let bytes_written = i64::try_from(c.bytes_written)
            .map_err(|_| AuditError::Invalid(format!("bytes_written {} is out of range", c.bytes_written)))?;
        let set = [
            ("ended_at_ms", Value::Int(ended_at.as_unix_ms())),
            ("result", Value::Text(c.result.as_str().into())),
            ("failure_stage", Value::opt_text(failure.map(|f| f.stage.as_str()))),
            ("failure_reason", Value::opt_text(failure.map(|f| f.reason.as_str()))),
            ("bytes_written", Value::Int(bytes_written)),
            ("verify_method", Value::opt_text(c.verify_method.as_deref())),
            ("skipped_regions", Value::Text(skipped.clone())),
            ("stage_timings", Value::Text(timings.clone())),
            ("prev_hash", Value::Text(head.last_hash.clone())),
            ("chain_version", Value::Int(CHAIN_VERSION)),
            ("boot", Value::opt_text(boot.as_deref())),
        ];
        for (col, v) in &set {
            let i = CHAIN_COLUMNS.iter().position(|c| c == col).expect("known chain column");
            values[i] = v.clone();
        }
        let hash = row_hash(&values).expect("a version 2 row always hashes");
        let seq = head.last_seq + 1;

        sqlx::query(
            "UPDATE attempts SET ended_at_ms = ?, result = ?, failure_stage = ?, failure_reason = ?, \
             bytes_written = ?, verify_method = ?, skipped_regions = ?, stage_timings = ?, \
             seq = ?, prev_hash = ?, row_hash = ?, current_stage = NULL, region_summary = ?, boot = ?, chain_version = ? \
             WHERE id = ?",
        )
        .bind(ended_at.as_unix_ms())
        .bind(c.result.as_str())
        .bind(failure.map(|f| f.stage.as_str()))
        .bind(failure.map(|f| f.reason.as_str()))
        .bind(bytes_written)
        .bind(c.verify_method.as_deref())
        .bind(&skipped)
        .bind(&timings)
        .bind(seq)
        .bind(&head.last_hash)
        .bind(&hash)
        .bind(&summary)
        .bind(&boot)
        .bind(CHAIN_VERSION)
        .bind(id.0)
        .execute(&mut *conn)
        .await?;

        let stored = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(id.0).fetch_one(&mut *conn).await?;
        if row_hash(&chain::read_values(&stored, 0)?).as_deref() != Some(hash.as_str()) {
            // Only a change in how values are stored could cause this; refuse to write a row
            // that would not verify rather than record a false tamper alarm.
            return Err(AuditError::Invalid(format!(
                "attempt {id}: stored values differ from the hashed ones; nothing was written"
            ))
            .into());
        }
        chain::write_head(conn, &ChainHead { last_seq: seq, last_hash: hash, last_attempt_id: Some(id.0) }).await?;
        Ok(())
    }
}
