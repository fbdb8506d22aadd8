//! The line view's own questions: every station at a glance (`/api/stations`) and one
//! board across stations (`/api/search`). Rows in the audit log's JSON spelling, as the
//! station dashboard's; times RFC 3339; bad input a 400, a database problem a 503.

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use flashline_audit::postgres::StationSummary;
use flashline_audit::{normalize_mac, render, station_zone, AttemptFilter, AttemptResult, Timestamp};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::audit_api::{json, refused, store_error, MacQuery, MAX_ROWS};
use super::line::LineShared;
use crate::cli::log::when::When;

/// Rows per station on the page.
const LAST_ROWS: u32 = 10;
/// Failures per station on the page.
const LAST_FAILURES: u32 = 5;

#[derive(Debug, Deserialize)]
pub struct StationsQuery {
    rows: Option<u32>,
}

/// One station on the line view.
#[derive(Debug, Serialize)]
struct StationJson {
    #[serde(flatten)]
    summary: StationSummary,
    /// Today's yield (local day of the server): pass / (pass + fail), in percent.
    yield_percent: Option<f64>,
    /// Seconds since the station's newest row ended: how far behind the line view it is
    /// (a forwarder in an outage, or an idle station).
    lag_seconds: Option<f64>,
    last_rows: Value,
    last_failures: Value,
}

/// `GET /api/stations?rows=N`: every station, today's counts, lag, last rows and failures.
pub async fn stations(State(shared): State<LineShared>, Query(q): Query<StationsQuery>) -> Response {
    let now = Timestamp::now();
    let summaries = match shared.reader.stations(today_start(now)).await {
        Ok(s) => s,
        Err(e) => return store_error(e),
    };
    let rows_limit = q.rows.unwrap_or(LAST_ROWS).clamp(1, MAX_ROWS);
    let mut out = Vec::with_capacity(summaries.len());
    for summary in summaries {
        let station = AttemptFilter::all().station(summary.station_id.clone());
        let last_rows = match shared.store.query(&station.clone().limit(rows_limit)).await {
            Ok(rows) => rows,
            Err(e) => return store_error(e),
        };
        let failures = match shared.store.query(&station.result(AttemptResult::Fail).limit(LAST_FAILURES)).await {
            Ok(rows) => rows,
            Err(e) => return store_error(e),
        };
        out.push(StationJson {
            yield_percent: yield_percent(summary.pass, summary.fail),
            lag_seconds: summary.newest_ended.map(|t| lag_seconds(t, now)),
            last_rows: as_value(&render::json(&last_rows)),
            last_failures: as_value(&render::json(&failures)),
            summary,
        });
    }
    match serde_json::to_string(&out) {
        Ok(body) => json(body),
        Err(e) => refused(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
    }
}

/// `GET /api/search?mac=…`: every attempt on that board at any station, newest first, and
/// whether more than one station flashed it (rework across stations: each later row at
/// another station carries `rework`).
pub async fn search(State(shared): State<LineShared>, Query(q): Query<MacQuery>) -> Response {
    let mac = match normalize_mac(&q.mac) {
        Ok(mac) => mac,
        Err(e) => return refused(StatusCode::BAD_REQUEST, e.to_string()),
    };
    let rows = match shared.store.query(&AttemptFilter::all().mac(mac.clone()).limit(MAX_ROWS)).await {
        Ok(rows) => rows,
        Err(e) => return store_error(e),
    };
    let mut stations: Vec<&str> = rows.iter().map(|r| r.station_id.as_str()).collect();
    stations.sort_unstable();
    stations.dedup();
    let body = serde_json::json!({
        "mac": mac,
        "stations": stations,
        "across_stations": stations.len() > 1,
        "rows": as_value(&render::json(&rows)),
    });
    json(body.to_string())
}

/// The start of the server's local day containing `now`.
fn today_start(now: Timestamp) -> Timestamp {
    When::Today.resolve(now, &station_zone(false)).unwrap_or_else(|_| now.start_of_day())
}

fn yield_percent(pass: u64, fail: u64) -> Option<f64> {
    let done = pass + fail;
    (done > 0).then(|| 100.0 * pass as f64 / done as f64)
}

fn lag_seconds(newest: Timestamp, now: Timestamp) -> f64 {
    (now.as_unix_ms() - newest.as_unix_ms()).max(0) as f64 / 1000.0
}

fn as_value(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or(Value::Null)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn yield_and_lag_are_plain_arithmetic() {
        let table = [((0, 0), None), ((3, 1), Some(75.0)), ((0, 2), Some(0.0)), ((5, 0), Some(100.0))];
        for ((pass, fail), want) in table {
            assert_eq!(yield_percent(pass, fail), want, "{pass}/{fail}");
        }
        let now = Timestamp::from_unix_ms(1_000_000);
        assert_eq!(lag_seconds(Timestamp::from_unix_ms(940_000), now), 60.0);
        assert_eq!(lag_seconds(Timestamp::from_unix_ms(1_005_000), now), 0.0, "a station clock ahead is no lag");
    }

    #[test]
    fn today_starts_at_or_before_now_and_less_than_a_day_earlier() {
        let now = Timestamp::now();
        let start = today_start(now);
        let back = now.as_unix_ms() - start.as_unix_ms();
        assert!((0..=25 * 3_600_000).contains(&back), "{back}");
    }
}
