//! Table, JSON and CSV output of real rows; CSV parsed back field by field.

mod common;

use common::*;
use flashline_audit::{render, AttemptFilter, AttemptRow, Completion, LocalTime, TimeZone};
use proptest::prelude::*;

/// A strict RFC 4180 reader, enough to prove the writer's quoting round-trips.
fn parse_csv(text: &str) -> Vec<Vec<String>> {
    let mut records = Vec::new();
    let mut record = Vec::new();
    let mut field = String::new();
    let mut chars = text.chars().peekable();
    let mut quoted = false;
    let mut at_field_start = true;
    while let Some(c) = chars.next() {
        if quoted {
            if c == '"' {
                if chars.peek() == Some(&'"') {
                    chars.next();
                    field.push('"');
                } else {
                    quoted = false;
                }
            } else {
                field.push(c);
            }
            continue;
        }
        match c {
            '"' if at_field_start => {
                quoted = true;
                at_field_start = false;
            }
            '"' => panic!("bare quote inside an unquoted field: {text:?}"),
            ',' => {
                record.push(std::mem::take(&mut field));
                at_field_start = true;
            }
            '\n' => {
                record.push(std::mem::take(&mut field));
                records.push(std::mem::take(&mut record));
                at_field_start = true;
            }
            c => {
                field.push(c);
                at_field_start = false;
            }
        }
    }
    assert!(!quoted, "unterminated quote");
    assert!(field.is_empty() && record.is_empty(), "missing final newline");
    records
}

const NASTY: &str = "timeout, retried 3x; chip said \"FAIL\"\nline two, with ü and ,,";

async fn rows() -> (TestDb, Vec<AttemptRow>) {
    let db = test_db();
    let store = open(&db.path).await;
    record(&store, "A1", at(0), Some("AA:BB:CC:DD:EE:01"), pass()).await;
    record(&store, "B2", at(MIN), Some("AA:BB:CC:DD:EE:02"), Completion::fail("verify", NASTY)).await;
    store.begin_attempt(new_attempt("C3")).await.unwrap();
    let rows = store.query(&AttemptFilter::all()).await.unwrap();
    (db, rows)
}

#[tokio::test]
async fn csv_round_trips_reasons_with_commas_quotes_and_newlines() {
    let (_db, rows) = rows().await;
    let text = render::csv(&rows);
    let records = parse_csv(&text);
    assert_eq!(records.len(), rows.len() + 1);
    assert_eq!(records[0], render::CSV_COLUMNS.to_vec());
    let col = |name: &str| render::CSV_COLUMNS.iter().position(|c| *c == name).unwrap();
    for (rec, row) in records[1..].iter().zip(&rows) {
        assert_eq!(rec.len(), render::CSV_COLUMNS.len());
        assert_eq!(rec[col("id")], row.id.0.to_string());
        assert_eq!(rec[col("failure_reason")], row.failure_reason.clone().unwrap_or_default());
        assert_eq!(rec[col("started_at")], row.started_at.to_string());
        assert_eq!(rec[col("result")], row.result.to_string());
        let timings: serde_json::Value = serde_json::from_str(&rec[col("stage_timings")]).unwrap();
        assert_eq!(timings, serde_json::to_value(&row.stage_timings).unwrap());
    }
    assert!(records.iter().any(|r| r[col("failure_reason")] == NASTY));
    assert!(text.contains("2026-11-22T00:01:00.000Z"));
}

#[tokio::test]
async fn json_carries_every_field_with_rfc3339_times() {
    let (_db, rows) = rows().await;
    let v: serde_json::Value = serde_json::from_str(&render::json(&rows)).unwrap();
    let arr = v.as_array().unwrap();
    assert_eq!(arr.len(), 3);
    let failed = arr.iter().find(|r| r["result"] == "fail").unwrap();
    assert_eq!(failed["failure_reason"], NASTY);
    assert_eq!(failed["started_at"], "2026-11-22T00:01:00.000Z");
    assert_eq!(failed["mac"], "AA:BB:CC:DD:EE:02");
    assert_eq!(failed["rework"], false);
    let passed = arr.iter().find(|r| r["result"] == "pass").unwrap();
    assert_eq!(passed["stage_timings"], serde_json::json!({"connect": 300, "write": 9000}));
    let running = arr.iter().find(|r| r["result"] == "running").unwrap();
    assert!(running["ended_at"].is_null() && running["seq"].is_null());
    let lines = render::json_lines(&rows);
    assert_eq!(lines.lines().count(), 3);
    for l in lines.lines() {
        serde_json::from_str::<serde_json::Value>(l).unwrap();
    }
}

#[tokio::test]
async fn table_is_aligned_and_one_line_per_row() {
    let (_db, rows) = rows().await;
    let t = render::table(&rows, &TimeZone::UTC);
    let lines: Vec<&str> = t.lines().collect();
    assert_eq!(lines.len(), 4, "{t}");
    assert!(lines[0].starts_with("ID"));
    // Every column starts at the same character offset on every line.
    let result_col = lines[0].find("RESULT").unwrap();
    for l in &lines[1..] {
        let chars: Vec<char> = l.chars().collect();
        let word: String = chars[result_col..].iter().take_while(|c| !c.is_whitespace()).collect();
        assert!(["pass", "fail", "running"].contains(&word.as_str()), "{l}");
    }
    assert!(t.contains("timeout, retried 3x; chip said \"FAIL\" line two"), "{t}");
}

#[tokio::test]
async fn stats_table_shows_yield() {
    let (db, _) = rows().await;
    let store = open(&db.path).await;
    let stats = store.stats(at(0), at(24 * HOUR)).await.unwrap();
    let t = render::stats_table(&stats.in_zone(&TimeZone::UTC));
    assert!(t.contains("50.0%"), "{t}");
    assert!(t.contains("slot A1") && t.contains("2026-11-22T00:00:00.000Z"), "{t}");
    let shanghai = TimeZone::get("Asia/Shanghai").expect("tz database has Asia/Shanghai");
    let t = render::stats_table(&stats.in_zone(&shanghai));
    assert!(t.contains("2026-11-22T08:00:00.000+08:00"), "{t}");
}

#[tokio::test]
async fn table_shows_start_times_in_the_zone_with_offset() {
    let (_db, rows) = rows().await;
    let new_york = TimeZone::get("America/New_York").expect("tz database has America/New_York");
    let t = render::table(&rows, &new_york);
    for r in &rows {
        let shown = LocalTime::new(r.started_at, &new_york).to_string();
        assert!(shown.ends_with("-05:00") && t.contains(&shown), "{shown} in {t}");
    }
    // JSON and CSV stay UTC.
    assert!(render::csv(&rows).contains(&rows[0].started_at.to_string()));
}

proptest! {
    #[test]
    fn any_field_survives_csv_quoting(fields in proptest::collection::vec(".{0,20}", 1..6)) {
        let mut line = fields.iter().map(|f| render::csv_field(f)).collect::<Vec<_>>().join(",");
        line.push('\n');
        let parsed = parse_csv(&line);
        prop_assert_eq!(parsed, vec![fields]);
    }
}
