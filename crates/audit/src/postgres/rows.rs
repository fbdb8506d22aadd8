//! The central table's columns and the mapping between its rows and [`AttemptRow`] /
//! [`ChainRow`]. Every hashed column is stored with the storage class it was hashed with:
//! integers as `BIGINT`, text as `TEXT` ([`column_kind`]), so a forwarded row hashes the
//! same here as on the station.

use sqlx::postgres::PgRow;
use sqlx::{Row, TypeInfo, ValueRef};

use crate::chain::{Value, CHAIN_COLUMNS};
use crate::error::{AuditError, Result};
use crate::forwarded::FORWARDED_COLUMNS;
use crate::model::{AttemptId, AttemptResult, AttemptRow, RegionSummary, SkippedRegion, StageTimings};
use crate::time::Timestamp;
use crate::verify::ChainRow;

/// How a hashed column is stored centrally.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Int,
    Text,
}

/// The central type of each of [`CHAIN_COLUMNS`] and [`FORWARDED_COLUMNS`]; `None` for a
/// column this schema does not know (a test keeps the lists in step).
pub(crate) fn column_kind(column: &str) -> Option<Kind> {
    use Kind::*;
    Some(match column {
        "id" | "started_at_ms" | "ended_at_ms" | "usb_vid" | "usb_pid" | "flash_id" | "flash_size"
        | "bytes_written" | "rework" | "rework_of" | "chain_version" => Int,
        "station_id" | "slot" | "port" | "usb_serial" | "chip" | "chip_revision" | "mac" | "image_name"
        | "image_sha256" | "result" | "failure_stage" | "failure_reason" | "verify_method" | "skipped_regions"
        | "stage_timings" | "prev_hash" | "serial" | "provision" | "boot" => Text,
        "region_summary" => Text,
        _ => return None,
    })
}

/// SQL list of [`CHAIN_COLUMNS`] then [`FORWARDED_COLUMNS`], qualified with `a.`.
pub(crate) fn chain_column_list() -> String {
    CHAIN_COLUMNS.iter().chain(FORWARDED_COLUMNS.iter()).map(|c| format!("a.{c}")).collect::<Vec<_>>().join(", ")
}

/// Columns selected for an [`AttemptRow`] from `attempts a`, in the order [`decode_row`]
/// reads them. `rework_any` is the rework flag across stations: the station's own, or the
/// MAC seen at another station no later than this attempt started.
pub(crate) const ROW_COLUMNS: &str = "a.id, a.started_at_ms, a.ended_at_ms, a.station_id, a.slot, a.port, \
     a.usb_vid, a.usb_pid, a.usb_serial, a.chip, a.chip_revision, a.mac, a.flash_id, a.flash_size, \
     a.image_name, a.image_sha256, a.result, a.failure_stage, a.failure_reason, a.bytes_written, \
     a.verify_method, a.rework, a.rework_of, a.skipped_regions, a.stage_timings, a.seq, a.prev_hash, a.row_hash, a.serial, a.provision, a.boot, \
     a.region_summary, (a.rework = 1 OR EXISTS (SELECT 1 FROM attempts o WHERE o.mac = a.mac AND o.station_id <> a.station_id \
      AND o.started_at_ms <= a.started_at_ms)) AS rework_any";

/// Decodes one row selected with [`ROW_COLUMNS`].
pub(crate) fn decode_row(location: &str, row: &PgRow) -> Result<AttemptRow> {
    let id: i64 = get(location, row, 0, "id")?;
    let int_opt = |col: &'static str| get::<Option<i64>>(location, row, id, col);
    let text_opt = |col: &'static str| get::<Option<String>>(location, row, id, col);
    let text = |col: &'static str| get::<String>(location, row, id, col);
    let err = |col: &'static str, detail: String| AuditError::Decode {
        location: location.to_owned(),
        id,
        column: col,
        detail,
    };
    let unsigned = |col: &'static str, v: Option<i64>| -> Result<Option<u64>> {
        v.map(|x| u64::try_from(x).map_err(|_| err(col, format!("negative value {x}")))).transpose()
    };
    let narrow16 = |col: &'static str| -> Result<Option<u16>> {
        int_opt(col)?.map(|v| u16::try_from(v).map_err(|_| err(col, format!("{v} out of range")))).transpose()
    };
    let result: AttemptResult = text("result")?.parse().map_err(|e: String| err("result", e))?;
    let skipped_regions: Vec<SkippedRegion> =
        serde_json::from_str(&text("skipped_regions")?).map_err(|e| err("skipped_regions", e.to_string()))?;
    let region_summary: Vec<RegionSummary> =
        serde_json::from_str(&text("region_summary")?).map_err(|e| err("region_summary", e.to_string()))?;
    let stage_timings: StageTimings =
        serde_json::from_str(&text("stage_timings")?).map_err(|e| err("stage_timings", e.to_string()))?;
    let flash_id = int_opt("flash_id")?
        .map(|v| u32::try_from(v).map_err(|_| err("flash_id", format!("{v} out of range"))))
        .transpose()?;
    Ok(AttemptRow {
        id: AttemptId(id),
        started_at: Timestamp::from_unix_ms(get(location, row, id, "started_at_ms")?),
        ended_at: int_opt("ended_at_ms")?.map(Timestamp::from_unix_ms),
        station_id: text("station_id")?,
        slot: text("slot")?,
        port: text("port")?,
        usb_vid: narrow16("usb_vid")?,
        usb_pid: narrow16("usb_pid")?,
        usb_serial: text_opt("usb_serial")?,
        chip: text_opt("chip")?,
        chip_revision: text_opt("chip_revision")?,
        mac: text_opt("mac")?,
        flash_id,
        flash_size: unsigned("flash_size", int_opt("flash_size")?)?,
        image_name: text("image_name")?,
        image_sha256: text("image_sha256")?,
        result,
        failure_stage: text_opt("failure_stage")?,
        failure_reason: text_opt("failure_reason")?,
        bytes_written: unsigned("bytes_written", Some(get(location, row, id, "bytes_written")?))?.unwrap_or(0),
        verify_method: text_opt("verify_method")?,
        rework: get::<Option<bool>>(location, row, id, "rework_any")?.unwrap_or(false),
        rework_of: int_opt("rework_of")?.map(AttemptId),
        skipped_regions,
        stage_timings,
        seq: int_opt("seq")?,
        prev_hash: text_opt("prev_hash")?,
        row_hash: text_opt("row_hash")?,
        current_stage: None,
        region_summary,
        boot: text_opt("boot")?
            .map(|t| serde_json::from_str(&t).map_err(|e| err("boot", e.to_string())))
            .transpose()?,
        serial: text_opt("serial")?,
        provision: text_opt("provision")?
            .map(|t| serde_json::from_str(&t).map_err(|e| err("provision", e.to_string())))
            .transpose()?,
    })
}

fn get<T>(location: &str, row: &PgRow, id: i64, col: &'static str) -> Result<T>
where
    T: for<'r> sqlx::Decode<'r, sqlx::Postgres> + sqlx::Type<sqlx::Postgres>,
{
    row.try_get::<T, _>(col).map_err(|e| AuditError::Decode {
        location: location.to_owned(),
        id,
        column: col,
        detail: e.to_string(),
    })
}

/// Reads [`CHAIN_COLUMNS`] from `row` starting at index `offset`, by the type the column
/// has now (an administrator may have changed it), so whatever is stored is what hashes.
pub(crate) fn read_values(row: &PgRow, offset: usize) -> Result<Vec<Value>, sqlx::Error> {
    read_typed(row, offset, CHAIN_COLUMNS.len())
}

/// Reads `count` columns from `offset` on by their current type.
fn read_typed(row: &PgRow, offset: usize, count: usize) -> Result<Vec<Value>, sqlx::Error> {
    (offset..offset + count)
        .map(|i| {
            let raw = row.try_get_raw(i)?;
            if raw.is_null() {
                return Ok(Value::Null);
            }
            let ty = raw.type_info().name().to_owned();
            Ok(match ty.as_str() {
                "INT8" => Value::Int(row.try_get(i)?),
                "INT4" => Value::Int(i64::from(row.try_get::<i32, _>(i)?)),
                "INT2" => Value::Int(i64::from(row.try_get::<i16, _>(i)?)),
                "FLOAT8" => Value::Real(row.try_get(i)?),
                "BYTEA" => Value::Blob(row.try_get(i)?),
                _ => Value::Text(row.try_get_unchecked(i)?),
            })
        })
        .collect()
}

/// One chained row from `seq, row_hash, <chain columns>, <forwarded columns>`
/// ([`chain_column_list`]).
pub(crate) fn read_chain_row(row: &PgRow) -> Result<ChainRow, sqlx::Error> {
    let values = read_values(row, 2)?;
    let forwarded = read_typed(row, 2 + values.len(), FORWARDED_COLUMNS.len())?;
    Ok(ChainRow { seq: row.try_get(0)?, row_hash: row.try_get(1)?, values, forwarded })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A hashed column the central schema does not store would make every forwarded row
    /// fail to verify: the lists must move together (add the column to
    /// `migrations/central/` and to [`column_kind`]).
    #[test]
    fn every_hashed_column_has_a_central_type() {
        for c in CHAIN_COLUMNS.iter().chain(FORWARDED_COLUMNS.iter()) {
            assert!(column_kind(c).is_some(), "forwarded column {c} has no central column");
        }
    }
}
