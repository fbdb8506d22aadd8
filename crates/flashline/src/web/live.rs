//! The live part of the dashboard: `GET /events`, a server-sent-events stream with one
//! `view` event (the whole station as [`ViewJson`]) at connect and after every change,
//! at most four a second however fast progress moves; `GET /api/view` is one snapshot.
//! When the station stops the stream sends `stopped` and ends (the page keeps its last
//! state instead of reconnecting).

use std::convert::Infallible;
use std::time::{Duration, Instant};

use axum::extract::State;
use axum::http::header;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::IntoResponse;
use futures_util::stream::{self, Stream};
use tokio::sync::watch;

use super::snapshot::ViewJson;
use super::Shared;
use crate::station::StationView;

/// Least time between two events of one stream.
const THROTTLE: Duration = Duration::from_millis(250);

fn snapshot(rx: &mut watch::Receiver<StationView>) -> String {
    let view = rx.borrow_and_update();
    serde_json::to_string(&ViewJson::new(&view, Instant::now())).expect("the view serialises")
}

/// `GET /events`.
pub async fn events(State(shared): State<Shared>) -> Sse<impl Stream<Item = Result<Event, Infallible>>> {
    let rx = shared.view.clone();
    let stream = stream::unfold(Some((rx, true)), |state| async move {
        let (mut rx, first) = state?;
        if !first {
            tokio::time::sleep(THROTTLE).await;
            if rx.changed().await.is_err() {
                return Some((Ok(Event::default().event("stopped").data("the station has stopped")), None));
            }
        }
        let data = snapshot(&mut rx);
        Some((Ok(Event::default().event("view").data(data)), Some((rx, false))))
    });
    Sse::new(stream).keep_alive(KeepAlive::default())
}

/// `GET /api/view`.
pub async fn view(State(shared): State<Shared>) -> impl IntoResponse {
    let mut rx = shared.view.clone();
    ([(header::CONTENT_TYPE, "application/json")], snapshot(&mut rx))
}
