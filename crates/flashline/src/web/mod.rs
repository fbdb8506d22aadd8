//! The station's HTTP server: read-only endpoints over what the station publishes.
//!
//! `GET /` the dashboard (a static page, `assets/`, embedded in the binary: no build step,
//! nothing fetched from elsewhere; `common.js` holds what it shares with the line view),
//! `GET /events` its live feed ([`live`]), `GET /api/*` its audit questions
//! ([`audit_api`]), `GET /metrics` (Prometheus text format,
//! [`crate::report::metrics`]) and `GET /healthz`. It is one more output: it subscribes to
//! the station's events, reads its view and queries the audit store, and nothing it
//! serves can change the station (every route is a GET; anything else is 405).
//! A failure to bind is the operator's to fix but never stops the line: the caller logs
//! it and the station flashes on without HTTP.
//!
//! The line view ([`line`], `flashline serve --db postgres://…`) is the same kind of server
//! over the central record instead of one station: every station's summary, last rows and
//! failures, and the MAC search across stations, with the same audit routes and style.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::{FromRef, State};
use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::get;
use axum::Router;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use flashline_audit::AuditStore;

use crate::report::metrics::{self, StationMetrics};
use crate::station::serve::Station;
use crate::station::StationView;

mod audit_api;
pub mod line;
mod line_api;
mod live;
mod snapshot;

use self::audit_api::AuditState;

/// What the routes read.
#[derive(Clone)]
struct Shared {
    metrics: Arc<StationMetrics>,
    view: watch::Receiver<StationView>,
    /// The station's audit store (`None`: the audit routes answer 503).
    store: Option<AuditStore>,
}

impl FromRef<Shared> for AuditState {
    fn from_ref(shared: &Shared) -> AuditState {
        AuditState(shared.store.clone())
    }
}

/// A running server.
#[derive(Debug)]
pub struct WebServer {
    /// The address it listens on (the real port when the config asked for port 0).
    pub addr: SocketAddr,
    task: JoinHandle<()>,
}

impl WebServer {
    /// Waits for the server to finish (after the shutdown token fired).
    pub async fn wait(self) {
        let _ = self.task.await;
    }
}

/// Why the server did not start.
#[derive(Debug, thiserror::Error)]
#[error("cannot serve HTTP on {addr}: {source}; {fix}")]
pub struct BindError {
    pub addr: SocketAddr,
    #[source]
    pub source: std::io::Error,
    /// What the operator changes (the config key or the option).
    pub fix: &'static str,
}

/// A station's fix for a failed bind.
const STATION_BIND_FIX: &str = "choose another [http] listen address (or \"\" for none)";

/// Binds `addr` (the real address when it asked for port 0).
async fn bind(addr: SocketAddr, fix: &'static str) -> Result<(TcpListener, SocketAddr), BindError> {
    let listener = TcpListener::bind(addr).await.map_err(|source| BindError { addr, source, fix })?;
    let bound = listener.local_addr().map_err(|source| BindError { addr, source, fix })?;
    Ok((listener, bound))
}

/// Serves `app` on `listener` until `shutdown` fires.
fn serve(listener: TcpListener, addr: SocketAddr, app: Router, shutdown: CancellationToken) -> WebServer {
    let task = tokio::spawn(async move {
        let served = axum::serve(listener, app).with_graceful_shutdown(shutdown.cancelled_owned()).await;
        if let Err(e) = served {
            tracing::error!(error = %e, "the HTTP server stopped");
        }
    });
    WebServer { addr, task }
}

/// Serves `station`'s endpoints on `addr` until `shutdown` fires.
pub async fn start(
    station: &Station,
    store: Option<AuditStore>,
    addr: SocketAddr,
    shutdown: CancellationToken,
) -> Result<WebServer, BindError> {
    let (listener, addr) = bind(addr, STATION_BIND_FIX).await?;
    let metrics = StationMetrics::new();
    tokio::spawn(metrics::record_events(station.subscribe(), metrics.clone()));
    let app = router(Shared { metrics, view: station.view.clone(), store });
    Ok(serve(listener, addr, app, shutdown))
}

fn router(shared: Shared) -> Router {
    Router::new()
        .route("/", get(|| asset("text/html; charset=utf-8", include_str!("assets/index.html"))))
        .route("/app.js", get(|| asset("text/javascript; charset=utf-8", include_str!("assets/app.js"))))
        .route("/common.js", get(common_js))
        .route("/style.css", get(style))
        .route("/events", get(live::events))
        .route("/api/view", get(live::view))
        .route("/api/failures", get(audit_api::failures))
        .route("/api/yield", get(audit_api::yield_stats))
        .route("/api/search", get(audit_api::search))
        .route("/metrics", get(metrics_page))
        .route("/healthz", get(healthz))
        .with_state(shared)
}

async fn common_js() -> impl IntoResponse {
    asset("text/javascript; charset=utf-8", include_str!("assets/common.js")).await
}

async fn style() -> impl IntoResponse {
    asset("text/css; charset=utf-8", include_str!("assets/style.css")).await
}

async fn asset(content_type: &'static str, body: &'static str) -> impl IntoResponse {
    ([(header::CONTENT_TYPE, content_type), (header::CACHE_CONTROL, "no-cache")], body)
}

async fn metrics_page(State(shared): State<Shared>) -> impl IntoResponse {
    let view = shared.view.borrow().clone();
    ([(header::CONTENT_TYPE, metrics::CONTENT_TYPE)], shared.metrics.render(&view))
}

async fn healthz() -> &'static str {
    "ok\n"
}
