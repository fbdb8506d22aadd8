//! Progress reporting for user interfaces.
//!
//! The session reports `(stage, done, total)` through a cheap, cloneable [`Progress`]
//! handle. It never blocks the flashing work: channel senders are unbounded, watch
//! channels keep only the latest value, and callbacks must be quick.

use crate::error::Stage;
use std::sync::Arc;
use tokio::sync::{mpsc, watch};

/// One progress report. `total` is 0 for stages without a byte count (connect, identify).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProgressEvent {
    pub stage: Stage,
    pub done: u64,
    pub total: u64,
}

/// Where progress events go.
#[derive(Clone, Default)]
pub struct Progress {
    sink: Option<Arc<dyn Fn(ProgressEvent) + Send + Sync>>,
}

impl std::fmt::Debug for Progress {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(if self.sink.is_some() { "Progress(sink)" } else { "Progress(none)" })
    }
}

impl Progress {
    /// Discards events.
    pub fn none() -> Self {
        Self { sink: None }
    }

    /// Calls `f` for every event (on the flashing task; keep it quick).
    pub fn callback(f: impl Fn(ProgressEvent) + Send + Sync + 'static) -> Self {
        Self { sink: Some(Arc::new(f)) }
    }

    /// Events into an unbounded channel (every event is kept).
    pub fn channel() -> (Self, mpsc::UnboundedReceiver<ProgressEvent>) {
        let (tx, rx) = mpsc::unbounded_channel();
        (
            Self::callback(move |e| {
                let _ = tx.send(e);
            }),
            rx,
        )
    }

    /// Only the latest event (what a UI polling at its own pace wants).
    pub fn watch(stage: Stage) -> (Self, watch::Receiver<ProgressEvent>) {
        let (tx, rx) = watch::channel(ProgressEvent { stage, done: 0, total: 0 });
        (
            Self::callback(move |e| {
                let _ = tx.send(e);
            }),
            rx,
        )
    }

    pub fn report(&self, stage: Stage, done: u64, total: u64) {
        if let Some(s) = &self.sink {
            s(ProgressEvent { stage, done, total });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn channel_and_watch_deliver() {
        let (p, mut rx) = Progress::channel();
        p.report(Stage::Write, 1, 10);
        p.clone().report(Stage::Write, 10, 10);
        assert_eq!(rx.recv().await.unwrap(), ProgressEvent { stage: Stage::Write, done: 1, total: 10 });
        assert_eq!(rx.recv().await.unwrap().done, 10);

        let (p, rx) = Progress::watch(Stage::Connect);
        p.report(Stage::Verify, 5, 6);
        assert_eq!(*rx.borrow(), ProgressEvent { stage: Stage::Verify, done: 5, total: 6 });
        Progress::none().report(Stage::Read, 0, 0);
    }
}
