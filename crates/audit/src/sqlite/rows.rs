//! Embedded migrations and the columns of a table row that make an [`crate::AttemptRow`].

use sqlx::migrate::Migrator;
use sqlx::sqlite::SqliteRow;
use sqlx::Row;

use crate::decode::AttemptColumns;

/// The schema files of the top-level `migrations/` directory, compiled into the binary so
/// the daemon never depends on files next to it at run time.
pub(crate) static MIGRATOR: Migrator = sqlx::migrate!("../../migrations");

/// Columns selected for an [`crate::AttemptRow`] ([`crate::decode::decode_row`]).
pub(crate) const ROW_COLUMNS: &str = "id, started_at_ms, ended_at_ms, station_id, slot, port, \
     usb_vid, usb_pid, usb_serial, chip, chip_revision, mac, flash_id, flash_size, \
     image_name, image_sha256, result, failure_stage, failure_reason, bytes_written, \
     verify_method, rework, rework_of, skipped_regions, stage_timings, seq, prev_hash, row_hash, current_stage, region_summary, boot, serial, provision";

/// A row selected with [`ROW_COLUMNS`], for [`crate::decode::decode_row`]: the station's
/// own rework flag (an integer) and the stage a running row is in.
impl AttemptColumns for SqliteRow {
    const REWORK: &'static str = "rework";

    fn rework(&self) -> Result<bool, sqlx::Error> {
        Ok(self.try_get::<i64, _>("rework")? != 0)
    }
    fn current_stage(&self) -> Result<Option<String>, sqlx::Error> {
        self.try_get("current_stage")
    }
}
