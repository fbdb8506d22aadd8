//! The dashboard's questions to the audit log: the last failures with their reasons, the
//! yield per slot and per hour, and a search by MAC. JSON in the audit log's own spelling
//! (`flashline log --format json`); bad input is a 400 with the reason, a store error a
//! 503 with the store's words. Read-only: the routes only query.

use axum::extract::{Query, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use flashline_audit::{
    normalize_mac, render, station_zone, AttemptFilter, AttemptResult, AuditError, AuditStore, Timestamp,
};
use serde::Deserialize;

/// What the audit routes read: a station's log, or the line's central record (`None`: the
/// routes answer 503). Both servers' states give it (`FromRef`).
#[derive(Clone)]
pub struct AuditState(pub Option<AuditStore>);

/// Most rows one request returns.
pub(super) const MAX_ROWS: u32 = 500;

#[derive(Debug, Deserialize)]
pub struct Limit {
    limit: Option<u32>,
}

#[derive(Debug, Deserialize)]
pub struct MacQuery {
    pub(super) mac: String,
}

#[derive(Debug, Deserialize)]
pub struct Hours {
    hours: Option<u32>,
}

pub(super) fn json(body: String) -> Response {
    ([(header::CONTENT_TYPE, "application/json")], body).into_response()
}

pub(super) fn refused(status: StatusCode, message: String) -> Response {
    (status, [(header::CONTENT_TYPE, "application/json")], serde_json::json!({ "error": message }).to_string())
        .into_response()
}

pub(super) fn store_error(e: AuditError) -> Response {
    refused(StatusCode::SERVICE_UNAVAILABLE, format!("the audit log cannot answer: {e}"))
}

/// `GET /api/failures?limit=N`: the newest failed attempts.
pub async fn failures(State(AuditState(store)): State<AuditState>, Query(q): Query<Limit>) -> Response {
    let Some(store) = &store else { return no_store() };
    let filter = AttemptFilter::all().result(AttemptResult::Fail).limit(q.limit.unwrap_or(20).clamp(1, MAX_ROWS));
    match store.query(&filter).await {
        Ok(rows) => json(render::json(&rows)),
        Err(e) => store_error(e),
    }
}

/// `GET /api/search?mac=AA:BB:..`: every attempt on that board, newest first.
pub async fn search(State(AuditState(store)): State<AuditState>, Query(q): Query<MacQuery>) -> Response {
    let Some(store) = &store else { return no_store() };
    let mac = match normalize_mac(&q.mac) {
        Ok(mac) => mac,
        Err(e) => return refused(StatusCode::BAD_REQUEST, e.to_string()),
    };
    match store.query(&AttemptFilter::all().mac(mac).limit(MAX_ROWS)).await {
        Ok(rows) => json(render::json(&rows)),
        Err(e) => store_error(e),
    }
}

/// `GET /api/yield?hours=N`: counts per slot and per local hour over the last N hours.
pub async fn yield_stats(State(AuditState(store)): State<AuditState>, Query(q): Query<Hours>) -> Response {
    let Some(store) = &store else { return no_store() };
    let hours = i64::from(q.hours.unwrap_or(24).clamp(1, 24 * 31));
    let until = Timestamp::now();
    let since = Timestamp::from_unix_ms(until.as_unix_ms() - hours * 3_600_000);
    match store.stats(since, until).await {
        Ok(stats) => match serde_json::to_string(&stats.in_zone(&station_zone(false))) {
            Ok(body) => json(body),
            Err(e) => refused(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
        },
        Err(e) => store_error(e),
    }
}

pub(super) fn no_store() -> Response {
    refused(StatusCode::SERVICE_UNAVAILABLE, "this server has no audit log".into())
}
