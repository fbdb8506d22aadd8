//! One decoder of an attempt row's columns into an [`AttemptRow`], for both backends.
//!
//! The SQLite log and the central PostgreSQL record store the same columns with the same
//! storage classes (integers, text, JSON as text), so what a row means is decided here once:
//! the ranges of the narrowed integers, the JSON columns, the result's spelling. A backend
//! reads a column of its row through sqlx ([`Columns`]) and says how it knows rework (the
//! station's own flag, or across stations) and whether it keeps the stage of a running
//! row ([`AttemptColumns`]).

use crate::error::{AuditError, Result};
use crate::model::{AttemptId, AttemptResult, AttemptRow, RegionSummary, SkippedRegion, StageTimings};
use crate::time::Timestamp;

/// One selected row, read column by column (by name) as the storage classes both
/// backends use: every sqlx row whose database decodes integers and text.
pub(crate) trait Columns {
    fn int(&self, col: &str) -> Result<i64, sqlx::Error>;
    fn int_opt(&self, col: &str) -> Result<Option<i64>, sqlx::Error>;
    fn text(&self, col: &str) -> Result<String, sqlx::Error>;
    fn text_opt(&self, col: &str) -> Result<Option<String>, sqlx::Error>;
}

impl<R> Columns for R
where
    R: sqlx::Row,
    for<'c> &'c str: sqlx::ColumnIndex<R>,
    i64: for<'r> sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    String: for<'r> sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
{
    fn int(&self, col: &str) -> Result<i64, sqlx::Error> {
        self.try_get(col)
    }
    fn int_opt(&self, col: &str) -> Result<Option<i64>, sqlx::Error> {
        self.try_get(col)
    }
    fn text(&self, col: &str) -> Result<String, sqlx::Error> {
        self.try_get(col)
    }
    fn text_opt(&self, col: &str) -> Result<Option<String>, sqlx::Error> {
        self.try_get(col)
    }
}

/// What a backend's attempt row says its own way.
pub(crate) trait AttemptColumns: Columns {
    /// The column the rework flag comes from, named in a decode error.
    const REWORK: &'static str;

    /// Whether the board's MAC was seen before this attempt ([`Self::REWORK`]).
    fn rework(&self) -> Result<bool, sqlx::Error>;
    /// The stage a running attempt is in; `None` where the backend does not keep it.
    fn current_stage(&self) -> Result<Option<String>, sqlx::Error>;
}

/// Decodes one row; an unreadable column is [`AuditError::Decode`] naming `location`, the
/// attempt and the column.
pub(crate) fn decode_row<R: AttemptColumns>(location: &str, row: &R) -> Result<AttemptRow> {
    let fail = |id: i64, column: &'static str, detail: String| AuditError::Decode {
        location: location.to_owned(),
        id,
        column,
        detail,
    };
    let id = row.int("id").map_err(|e| fail(0, "id", e.to_string()))?;
    let err = |column: &'static str, detail: String| fail(id, column, detail);
    let read = |column: &'static str| move |e: sqlx::Error| err(column, e.to_string());
    let int_opt = |col: &'static str| row.int_opt(col).map_err(read(col));
    let text_opt = |col: &'static str| row.text_opt(col).map_err(read(col));
    let text = |col: &'static str| row.text(col).map_err(read(col));
    let unsigned = |col: &'static str, v: Option<i64>| -> Result<Option<u64>> {
        v.map(|x| u64::try_from(x).map_err(|_| err(col, format!("negative value {x}")))).transpose()
    };
    let u16_opt = |col: &'static str| -> Result<Option<u16>> {
        unsigned(col, int_opt(col)?)?
            .map(|v| u16::try_from(v).map_err(|_| err(col, format!("{v} out of range"))))
            .transpose()
    };

    let result: AttemptResult = text("result")?.parse().map_err(|e: String| err("result", e))?;
    let skipped_regions: Vec<SkippedRegion> = json(&text("skipped_regions")?).map_err(|e| err("skipped_regions", e))?;
    let region_summary: Vec<RegionSummary> = json(&text("region_summary")?).map_err(|e| err("region_summary", e))?;
    let stage_timings: StageTimings = json(&text("stage_timings")?).map_err(|e| err("stage_timings", e))?;
    let flash_id = unsigned("flash_id", int_opt("flash_id")?)?
        .map(|v| u32::try_from(v).map_err(|_| err("flash_id", format!("{v} out of range"))))
        .transpose()?;
    Ok(AttemptRow {
        id: AttemptId(id),
        started_at: Timestamp::from_unix_ms(row.int("started_at_ms").map_err(read("started_at_ms"))?),
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
        flash_size: unsigned("flash_size", int_opt("flash_size")?)?,
        image_name: text("image_name")?,
        image_sha256: text("image_sha256")?,
        result,
        failure_stage: text_opt("failure_stage")?,
        failure_reason: text_opt("failure_reason")?,
        bytes_written: unsigned("bytes_written", Some(row.int("bytes_written").map_err(read("bytes_written"))?))?
            .unwrap_or(0),
        verify_method: text_opt("verify_method")?,
        rework: row.rework().map_err(read(R::REWORK))?,
        rework_of: int_opt("rework_of")?.map(AttemptId),
        skipped_regions,
        stage_timings,
        seq: int_opt("seq")?,
        prev_hash: text_opt("prev_hash")?,
        row_hash: text_opt("row_hash")?,
        current_stage: row.current_stage().map_err(read("current_stage"))?,
        region_summary,
        boot: text_opt("boot")?.map(|t| json(&t).map_err(|e| err("boot", e))).transpose()?,
        serial: text_opt("serial")?,
        provision: text_opt("provision")?.map(|t| json(&t).map_err(|e| err("provision", e))).transpose()?,
    })
}

/// A JSON column's value; the parser's message on failure.
fn json<T: serde::de::DeserializeOwned>(text: &str) -> Result<T, String> {
    serde_json::from_str(text).map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    /// A row as a map of column to value (`None`: NULL; a missing column is not selected).
    struct Fake(HashMap<&'static str, Option<Val>>);

    #[derive(Clone)]
    enum Val {
        I(i64),
        T(&'static str),
    }

    impl Fake {
        fn get(&self, col: &str) -> Result<Option<Val>, sqlx::Error> {
            self.0.get(col).cloned().ok_or_else(|| sqlx::Error::ColumnNotFound(col.to_owned()))
        }
        fn with(mut self, col: &'static str, v: Option<Val>) -> Self {
            self.0.insert(col, v);
            self
        }
    }

    fn decode_err(col: &str) -> sqlx::Error {
        sqlx::Error::ColumnDecode { index: col.to_owned(), source: "wrong type".into() }
    }

    impl Columns for Fake {
        fn int(&self, col: &str) -> Result<i64, sqlx::Error> {
            self.int_opt(col)?.ok_or_else(|| sqlx::Error::Decode("unexpected null".into()))
        }
        fn int_opt(&self, col: &str) -> Result<Option<i64>, sqlx::Error> {
            match self.get(col)? {
                None => Ok(None),
                Some(Val::I(i)) => Ok(Some(i)),
                Some(Val::T(_)) => Err(decode_err(col)),
            }
        }
        fn text(&self, col: &str) -> Result<String, sqlx::Error> {
            self.text_opt(col)?.ok_or_else(|| sqlx::Error::Decode("unexpected null".into()))
        }
        fn text_opt(&self, col: &str) -> Result<Option<String>, sqlx::Error> {
            match self.get(col)? {
                None => Ok(None),
                Some(Val::T(t)) => Ok(Some(t.to_owned())),
                Some(Val::I(_)) => Err(decode_err(col)),
            }
        }
    }

    impl AttemptColumns for Fake {
        const REWORK: &'static str = "rework";
        fn rework(&self) -> Result<bool, sqlx::Error> {
            Ok(self.int("rework")? != 0)
        }
        fn current_stage(&self) -> Result<Option<String>, sqlx::Error> {
            self.text_opt("current_stage")
        }
    }

    fn row() -> Fake {
        use Val::*;
        let cols: [(&'static str, Option<Val>); 33] = [
            ("id", Some(I(7))),
            ("started_at_ms", Some(I(1_764_000_000_000))),
            ("ended_at_ms", Some(I(1_764_000_030_000))),
            ("station_id", Some(T("line-1"))),
            ("slot", Some(T("A1"))),
            ("port", Some(T("1-2.1"))),
            ("usb_vid", Some(I(0x1a86))),
            ("usb_pid", Some(I(0x7523))),
            ("usb_serial", None),
            ("chip", Some(T("ESP32-D0WDQ6 (revision v1.0)"))),
            ("chip_revision", Some(T("v1.0"))),
            ("mac", Some(T("AA:BB:CC:DD:EE:01"))),
            ("flash_id", Some(I(0x1640ef))),
            ("flash_size", Some(I(4 << 20))),
            ("image_name", Some(T("golden.bin"))),
            ("image_sha256", Some(T("ab"))),
            ("result", Some(T("pass"))),
            ("failure_stage", None),
            ("failure_reason", None),
            ("bytes_written", Some(I(1 << 20))),
            ("verify_method", Some(T("md5"))),
            ("rework", Some(I(1))),
            ("rework_of", Some(I(3))),
            ("skipped_regions", Some(T("[]"))),
            ("stage_timings", Some(T("{\"write\":900}"))),
            ("seq", Some(I(5))),
            ("prev_hash", Some(T("00"))),
            ("row_hash", Some(T("11"))),
            ("current_stage", None),
            ("region_summary", Some(T("[]"))),
            ("boot", None),
            ("serial", Some(T("SN-1"))),
            ("provision", None),
        ];
        Fake(cols.into_iter().collect())
    }

    #[test]
    fn a_whole_row_decodes() {
        let r = decode_row("db", &row()).unwrap();
        assert_eq!((r.id, r.usb_vid, r.usb_pid), (AttemptId(7), Some(0x1a86), Some(0x7523)));
        assert_eq!((r.flash_id, r.flash_size, r.bytes_written), (Some(0x1640ef), Some(4 << 20), 1 << 20));
        assert_eq!((r.result, r.rework, r.rework_of), (AttemptResult::Pass, true, Some(AttemptId(3))));
        assert_eq!(r.stage_timings, StageTimings::new().with("write", 900));
        assert_eq!((r.usb_serial, r.boot, r.provision), (None, None, None));
        assert_eq!(r.ended_at, Some(Timestamp::from_unix_ms(1_764_000_030_000)));
    }

    /// Each bad value is refused naming its column and saying what is wrong with it.
    #[test]
    fn bad_values_name_the_column() {
        use Val::*;
        let cases: [(&'static str, Option<Val>, &str); 12] = [
            ("usb_vid", Some(I(-1)), "negative value -1"),
            ("usb_pid", Some(I(70_000)), "70000 out of range"),
            ("flash_id", Some(I(1 << 33)), "8589934592 out of range"),
            ("flash_id", Some(I(-5)), "negative value -5"),
            ("flash_size", Some(I(-1)), "negative value -1"),
            ("bytes_written", Some(I(-2)), "negative value -2"),
            ("result", Some(T("maybe")), "maybe"),
            ("skipped_regions", Some(T("{")), "expected a sequence"),
            ("stage_timings", Some(T("[1]")), "invalid type"),
            ("boot", Some(T("nope")), "expected"),
            ("station_id", None, "unexpected null"),
            ("chip", Some(I(1)), "wrong type"),
        ];
        for (col, value, detail) in cases {
            match decode_row("db", &row().with(col, value)) {
                Err(AuditError::Decode { location, id, column, detail: got }) => {
                    assert_eq!((location.as_str(), id, column), ("db", 7, col));
                    assert!(got.contains(detail), "{col}: {got}");
                }
                other => panic!("{col}: {other:?}"),
            }
        }
    }

    #[test]
    fn an_unreadable_id_is_reported_as_attempt_zero() {
        match decode_row("db", &row().with("id", Some(Val::T("x")))) {
            Err(AuditError::Decode { id: 0, column: "id", .. }) => {}
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn rework_and_the_running_stage_come_from_the_backend() {
        let r = decode_row("db", &row().with("rework", Some(Val::I(0))).with("current_stage", Some(Val::T("write"))))
            .unwrap();
        assert!(!r.rework);
        assert_eq!(r.current_stage.as_deref(), Some("write"));
    }
}
