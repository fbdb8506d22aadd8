//! Embedded migrations and the mapping between table rows and [`AttemptRow`].

use sqlx::migrate::Migrator;
use sqlx::sqlite::SqliteRow;
use sqlx::Row;

use crate::error::{AuditError, Result};
use crate::model::{AttemptId, AttemptResult, AttemptRow, RegionSummary, SkippedRegion, StageTimings};
use crate::time::Timestamp;

/// The schema files of the top-level `migrations/` directory, compiled into the binary so
/// the daemon never depends on files next to it at run time.
pub(crate) static MIGRATOR: Migrator = sqlx::migrate!("../../migrations");

/// Columns selected for an [`AttemptRow`], in the order [`decode_row`] reads them.
pub(crate) const ROW_COLUMNS: &str = "id, started_at_ms, ended_at_ms, station_id, slot, port, \
     usb_vid, usb_pid, usb_serial, chip, chip_revision, mac, flash_id, flash_size, \
     image_name, image_sha256, result, failure_stage, failure_reason, bytes_written, \
     verify_method, rework, rework_of, skipped_regions, stage_timings, seq, prev_hash, row_hash, current_stage, region_summary, boot, serial, provision";

/// Decodes one row selected with [`ROW_COLUMNS`].
pub(crate) fn decode_row(location: &str, row: &SqliteRow) -> Result<AttemptRow> {
    let id: i64 = get(location, row, 0, "id", "id")?;
    let int_opt = |col: &'static str| get::<Option<i64>>(location, row, id, col, col);
    let text_opt = |col: &'static str| get::<Option<String>>(location, row, id, col, col);
    let text = |col: &'static str| get::<String>(location, row, id, col, col);
    let narrow = |col: &'static str, v: Option<i64>| -> Result<Option<u64>> {
        v.map(|x| u64::try_from(x).map_err(|_| decode_err(location, id, col, format!("negative value {x}"))))
            .transpose()
    };

    let result_text = text("result")?;
    let result: AttemptResult = result_text.parse().map_err(|e: String| decode_err(location, id, "result", e))?;
    let skipped_text = text("skipped_regions")?;
    let skipped_regions: Vec<SkippedRegion> =
        serde_json::from_str(&skipped_text).map_err(|e| decode_err(location, id, "skipped_regions", e.to_string()))?;
    let summary_text = text("region_summary")?;
    let region_summary: Vec<RegionSummary> =
        serde_json::from_str(&summary_text).map_err(|e| decode_err(location, id, "region_summary", e.to_string()))?;
    let boot = text_opt("boot")?
        .map(|t| serde_json::from_str(&t).map_err(|e| decode_err(location, id, "boot", e.to_string())))
        .transpose()?;
    let timings_text = text("stage_timings")?;
    let stage_timings: StageTimings =
        serde_json::from_str(&timings_text).map_err(|e| decode_err(location, id, "stage_timings", e.to_string()))?;
    let u16_opt = |col: &'static str| -> Result<Option<u16>> {
        narrow(col, int_opt(col)?)?
            .map(|v| u16::try_from(v).map_err(|_| decode_err(location, id, col, format!("{v} out of range"))))
            .transpose()
    };
    let flash_id = narrow("flash_id", int_opt("flash_id")?)?
        .map(|v| u32::try_from(v).map_err(|_| decode_err(location, id, "flash_id", format!("{v} out of range"))))
        .transpose()?;

    Ok(AttemptRow {
        id: AttemptId(id),
        started_at: Timestamp::from_unix_ms(get(location, row, id, "started_at_ms", "started_at_ms")?),
        ended_at: int_opt("ended_at_ms")?.map(Timestamp::from_unix_ms),
        station_id: text("station_id")?,
        slot: text("slot")?,
        port: text("port")?,
        usb_vid: u16_opt("usb_vid")?,
        usb_pid: u16_opt("usb_pid")?,
        usb_serial: text_opt("usb_serial")?,
        chip: text_opt("chip")?,
        chip_revision: text_opt("chip_revision")?,
        mac: text_opt("mac")?,
        flash_id,
        flash_size: narrow("flash_size", int_opt("flash_size")?)?,
        image_name: text("image_name")?,
        image_sha256: text("image_sha256")?,
        result,
        failure_stage: text_opt("failure_stage")?,
        failure_reason: text_opt("failure_reason")?,
        bytes_written: narrow("bytes_written", Some(get(location, row, id, "bytes_written", "bytes_written")?))?
            .unwrap_or(0),
        verify_method: text_opt("verify_method")?,
        rework: get::<i64>(location, row, id, "rework", "rework")? != 0,
        rework_of: int_opt("rework_of")?.map(AttemptId),
        skipped_regions,
        stage_timings,
        seq: int_opt("seq")?,
        prev_hash: text_opt("prev_hash")?,
        row_hash: text_opt("row_hash")?,
        current_stage: text_opt("current_stage")?,
        region_summary,
        boot,
        serial: text_opt("serial")?,
        provision: text_opt("provision")?
            .map(|t| serde_json::from_str(&t).map_err(|e| decode_err(location, id, "provision", e.to_string())))
            .transpose()?,
    })
}

fn get<T>(location: &str, row: &SqliteRow, id: i64, name: &str, col: &'static str) -> Result<T>
where
    T: for<'r> sqlx::Decode<'r, sqlx::Sqlite> + sqlx::Type<sqlx::Sqlite>,
{
    row.try_get::<T, _>(name).map_err(|e| decode_err(location, id, col, e.to_string()))
}

fn decode_err(location: &str, id: i64, column: &'static str, detail: String) -> AuditError {
    AuditError::Decode { location: location.to_owned(), id, column, detail }
}
