//! What happened at the station, in order: the feed for logs, metrics, the demo's
//! summary, anchors and tests.

use std::time::Duration;

use flashline_audit::{AttemptId, BootRecord, NvsRecord};
use flashline_session::Stage;
use tokio::sync::broadcast;

use super::job::Outcome;

#[derive(Debug, Clone, PartialEq)]
pub enum StationEvent {
    BoardAdded {
        slot: String,
        port: String,
    },
    BoardRemoved {
        slot: String,
    },
    JobStarted {
        slot: String,
        port: String,
    },
    Stage {
        slot: String,
        stage: Stage,
    },
    Identified {
        slot: String,
        chip: String,
        mac: String,
        rework: bool,
    },
    /// The board got its serial number and/or its own NVS partition (`[provision]`),
    /// after identify and before anything is written: where the partition goes and its
    /// SHA-256, never its values (they may be secrets).
    Provisioned {
        slot: String,
        serial: Option<String>,
        nvs: Option<NvsRecord>,
    },
    Finished {
        slot: String,
        mac: Option<String>,
        /// The board's serial number, once it was provisioned.
        serial: Option<String>,
        outcome: Outcome,
        took: Duration,
        audit: AuditRef,
        /// The post-flash boot check (`[boot]`): passed or not, why, the time to the
        /// pattern and the last console lines (as printed: escape them to show them).
        boot: Option<BootRecord>,
    },
    StoreFault {
        reason: String,
    },
    StoreRecovered,
    /// A new config is in force; new jobs flash these images.
    Reloaded {
        images: Vec<super::view::ImageInfo>,
    },
}

/// Which audit row a finished job wrote and which image it flashed (the journal's
/// ATTEMPT_ID and IMAGE_SHA256; a reload does not change a running job's image).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditRef {
    /// None when the store could not create the row.
    pub attempt: Option<AttemptId>,
    pub image_sha256: String,
}

/// Events a subscriber may fall behind by before it loses the oldest (memory stays
/// bounded whatever a subscriber does; a lagging one is told how many it lost).
pub const EVENT_BUFFER: usize = 16 * 1024;

/// One subscriber's feed of station events, in order. Any number of outputs (logs, the
/// demo's counters, tests, a web page, metrics) subscribe without the dispatcher knowing.
#[derive(Debug)]
pub struct EventReceiver {
    rx: broadcast::Receiver<StationEvent>,
    lost: u64,
}

impl EventReceiver {
    pub(crate) fn new(rx: broadcast::Receiver<StationEvent>) -> EventReceiver {
        EventReceiver { rx, lost: 0 }
    }

    /// The next event; `None` once the dispatcher has stopped and every event was seen.
    pub async fn recv(&mut self) -> Option<StationEvent> {
        loop {
            match self.rx.recv().await {
                Ok(ev) => return Some(ev),
                Err(broadcast::error::RecvError::Lagged(n)) => {
                    self.lost += n;
                    tracing::warn!(lost = n, "a station event subscriber fell behind; oldest events dropped");
                }
                Err(broadcast::error::RecvError::Closed) => return None,
            }
        }
    }

    /// Events this subscriber lost by falling behind.
    pub fn lost(&self) -> u64 {
        self.lost
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_lagging_subscriber_loses_the_oldest_and_is_told() {
        let (tx, rx) = broadcast::channel(2);
        let mut r = EventReceiver::new(rx);
        for i in 0..4 {
            tx.send(StationEvent::BoardRemoved { slot: format!("A{i}") }).unwrap();
        }
        drop(tx);
        assert_eq!(r.recv().await, Some(StationEvent::BoardRemoved { slot: "A2".into() }));
        assert_eq!(r.lost(), 2);
        assert_eq!(r.recv().await, Some(StationEvent::BoardRemoved { slot: "A3".into() }));
        assert_eq!(r.recv().await, None);
    }
}
