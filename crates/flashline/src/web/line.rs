//! The line view: `flashline serve --db postgres://…`, a read-only page over the central
//! record with every station that forwards to it.
//!
//! `GET /` the page (`assets/line.html`, `line.js`, and the station dashboard's `common.js`
//! and `style.css`),
//! `GET /api/stations` each station's summary ([`super::line_api`]), `GET /api/search`
//! a MAC across stations, `GET /api/failures` and `/api/yield` the station dashboard's own
//! routes over the whole line (slots as `STATION/SLOT`), `GET /healthz`. Every route is a
//! GET and only queries; the server's role needs nothing but SELECT (`flashline_reader`).

use std::net::SocketAddr;

use axum::extract::FromRef;
use axum::routing::get;
use axum::Router;
use flashline_audit::postgres::LineReader;
use flashline_audit::AuditStore;
use tokio_util::sync::CancellationToken;

use super::audit_api::{self, AuditState};
use super::{asset, bind, common_js, healthz, line_api, serve, style, BindError, WebServer};

/// The line view's default address: loopback, next to a station's 9180.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:9181";

/// What the line routes read.
#[derive(Clone)]
pub(super) struct LineShared {
    /// The central record, across stations.
    pub store: AuditStore,
    /// Per-station summaries.
    pub reader: LineReader,
}

impl FromRef<LineShared> for AuditState {
    fn from_ref(shared: &LineShared) -> AuditState {
        AuditState(Some(shared.store.clone()))
    }
}

/// Serves the line view of the central record (`store` across stations, `reader` its
/// summaries) on `addr` until `shutdown` fires.
pub async fn start(
    store: AuditStore,
    reader: LineReader,
    addr: SocketAddr,
    shutdown: CancellationToken,
) -> Result<WebServer, BindError> {
    let (listener, addr) = bind(addr, "choose another address with --listen").await?;
    Ok(serve(listener, addr, router(LineShared { store, reader }), shutdown))
}

fn router(shared: LineShared) -> Router {
    Router::new()
        .route("/", get(|| asset("text/html; charset=utf-8", include_str!("assets/line.html"))))
        .route("/line.js", get(|| asset("text/javascript; charset=utf-8", include_str!("assets/line.js"))))
        .route("/common.js", get(common_js))
        .route("/style.css", get(style))
        .route("/api/stations", get(line_api::stations))
        .route("/api/search", get(line_api::search))
        .route("/api/failures", get(audit_api::failures))
        .route("/api/yield", get(audit_api::yield_stats))
        .route("/healthz", get(healthz))
        .with_state(shared)
}
