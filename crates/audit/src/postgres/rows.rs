//! The central table's columns and the mapping between its rows and
//! [`crate::AttemptRow`] / [`ChainRow`]. Every hashed column is stored with the storage class it was hashed with:
//! integers as `BIGINT`, text as `TEXT` ([`column_kind`]), so a forwarded row hashes the
//! same here as on the station.

use sqlx::postgres::PgRow;
use sqlx::{Row, TypeInfo, ValueRef};

use crate::chain::{Value, CHAIN_COLUMNS};
use crate::decode::AttemptColumns;
use crate::error::Result;
use crate::forwarded::FORWARDED_COLUMNS;
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

/// Columns selected for an [`crate::AttemptRow`] from `attempts a`
/// ([`crate::decode::decode_row`]). `rework_any` is the rework flag across stations: the station's own, or the
/// MAC seen at another station no later than this attempt started.
pub(crate) const ROW_COLUMNS: &str = "a.id, a.started_at_ms, a.ended_at_ms, a.station_id, a.slot, a.port, \
     a.usb_vid, a.usb_pid, a.usb_serial, a.chip, a.chip_revision, a.mac, a.flash_id, a.flash_size, \
     a.image_name, a.image_sha256, a.result, a.failure_stage, a.failure_reason, a.bytes_written, \
     a.verify_method, a.rework, a.rework_of, a.skipped_regions, a.stage_timings, a.seq, a.prev_hash, a.row_hash, a.serial, a.provision, a.boot, \
     a.region_summary, (a.rework = 1 OR EXISTS (SELECT 1 FROM attempts o WHERE o.mac = a.mac AND o.station_id <> a.station_id \
      AND o.started_at_ms <= a.started_at_ms)) AS rework_any";

/// A row selected with [`ROW_COLUMNS`], for [`crate::decode::decode_row`]: rework across
/// stations (`rework_any`); the central record keeps no stage of a running row.
impl AttemptColumns for PgRow {
    const REWORK: &'static str = "rework_any";

    fn rework(&self) -> Result<bool, sqlx::Error> {
        Ok(self.try_get::<Option<bool>, _>("rework_any")?.unwrap_or(false))
    }
    fn current_stage(&self) -> Result<Option<String>, sqlx::Error> {
        Ok(None)
    }
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
