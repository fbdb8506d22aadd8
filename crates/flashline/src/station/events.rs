//! What happened at the station, in order: the feed for logs, tests and summaries.

use std::time::Duration;

use flashline_session::Stage;

use super::job::Outcome;

#[derive(Debug, Clone, PartialEq)]
pub enum StationEvent {
    BoardAdded { slot: String, port: String },
    BoardRemoved { slot: String },
    JobStarted { slot: String, port: String },
    Stage { slot: String, stage: Stage },
    Identified { slot: String, chip: String, mac: String, rework: bool },
    Finished { slot: String, mac: Option<String>, outcome: Outcome, took: Duration },
    StoreFault { reason: String },
    StoreRecovered,
    Reloaded { image: String, sha256: String },
}
