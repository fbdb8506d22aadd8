//! One job: one board on one slot, run through the pipeline ([`crate::pipeline`]) with
//! the station's plan, port opener and audit store, reporting to the dispatcher.
//!
//! The promise "every board gets exactly one completed row" is the pipeline's: the row is
//! created before the board is touched, and the job does not end until the completion is
//! stored (or the daemon shuts down).

use std::sync::Arc;
use std::time::Duration;

use flashline_audit::{AttemptId, BootRecord, NewAttempt, NvsRecord, UsbInfo};
use flashline_session::{Progress, Stage};
use tokio::sync::mpsc;

use super::context::StationContext;
use crate::config::PowerCycle;
use crate::device::DeviceInfo;
use crate::pipeline::power_cycle;
use crate::pipeline::{
    self, AttemptEvent, AttemptOutcome, AttemptRun, AuditTarget, BoardError, BoardWatch, CompletionRetry, OpenRequest,
    PortReconnect, Stop,
};

/// How long a job whose port failed waits for the removal event before it records the
/// failure as the port's (a udev remove trails the broken port by some milliseconds).
const REMOVAL_GRACE: Duration = Duration::from_millis(1000);

/// What a job tells the dispatcher while it runs.
#[derive(Debug, Clone, PartialEq)]
pub enum JobUpdate {
    /// The audit row exists; the board is about to be touched.
    Started,
    Progress {
        stage: Stage,
        done: u64,
        total: u64,
    },
    Identified {
        chip: String,
        mac: String,
        rework: bool,
    },
    /// The board got its serial number and/or its own NVS partition.
    Provisioned {
        serial: Option<String>,
        nvs: Option<NvsRecord>,
    },
    /// The audit store refused a write; the job keeps retrying (completion) or gives up
    /// before touching the board (start).
    StoreFault(String),
    /// The store accepted a write again after a fault.
    StoreOk,
}

/// How a job ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Pass,
    Fail {
        stage: String,
        reason: String,
    },
    /// Stopped by a daemon shutdown; the row says `interrupted`.
    Interrupted {
        stage: String,
    },
    /// The audit store could not create the row; the board was not touched.
    NotStarted {
        reason: String,
    },
}

/// The job's final word.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobResult {
    pub outcome: Outcome,
    pub took: Duration,
    pub attempt: Option<AttemptId>,
    /// The golden image this job flashed (a reload does not change a running job's): the
    /// board's chip's, or, for a job that ended before a station of several chips chose
    /// one, the set's digest its row names.
    pub image_sha256: String,
    /// The post-flash boot check (`[boot]`), when the board got that far.
    pub boot: Option<BootRecord>,
}

/// How many progress reports may wait for the dispatcher before new ones are dropped.
/// Progress is a snapshot (the next report replaces a lost one), so a slow dispatcher
/// costs no memory; the few other updates per job (start, identity, store faults) go on
/// their own channel and are never dropped.
pub const PROGRESS_BUFFER: usize = 1024;

/// Sends updates tagged with the job's slot key.
#[derive(Debug, Clone)]
pub struct Updates {
    pub key: String,
    /// Progress reports: bounded, dropped when full.
    pub progress: mpsc::Sender<(String, JobUpdate)>,
    /// Everything else: a handful per job, never dropped.
    pub tx: mpsc::UnboundedSender<(String, JobUpdate)>,
}

impl Updates {
    fn progress(&self, stage: Stage, done: u64, total: u64) {
        let _ = self.progress.try_send((self.key.clone(), JobUpdate::Progress { stage, done, total }));
    }

    fn send(&self, u: JobUpdate) {
        // The dispatcher outlives its jobs; a closed channel only happens at exit.
        let _ = self.tx.send((self.key.clone(), u));
    }
}

/// Runs one board. Never panics on board behaviour; every path ends in a completed row
/// (or in `NotStarted` when no row could be created).
pub async fn run(
    ctx: Arc<StationContext>,
    device: DeviceInfo,
    slot: String,
    stop: Stop,
    watch: Arc<BoardWatch>,
    updates: Updates,
) -> JobResult {
    let images = &ctx.plan.images;
    let audit = AuditTarget {
        store: ctx.store.clone(),
        attempt: NewAttempt {
            station_id: ctx.station.clone(),
            slot,
            port: device.devnode.display().to_string(),
            usb: Some(UsbInfo { vid: device.vid, pid: device.pid, serial: device.serial.clone() }),
            image_name: images.row_name(),
            image_sha256: images.row_sha256(),
            started_at: None,
        },
        retry: CompletionRetry::UntilShutdown(ctx.shutdown.clone()),
    };
    let progress = {
        let updates = updates.clone();
        Progress::callback(move |e| updates.progress(e.stage, e.done, e.total))
    };
    let events = {
        let updates = updates.clone();
        move |e: AttemptEvent| {
            updates.send(match e {
                AttemptEvent::Started => JobUpdate::Started,
                AttemptEvent::Identified { chip, mac, rework } => JobUpdate::Identified { chip, mac, rework },
                AttemptEvent::Provisioned { serial, nvs } => JobUpdate::Provisioned { serial, nvs },
                AttemptEvent::StoreFault(r) => JobUpdate::StoreFault(r),
                AttemptEvent::StoreOk => JobUpdate::StoreOk,
            })
        }
    };
    let usb_ids = Some((device.vid, device.pid));
    // A board on its own USB port comes back elsewhere after each reset; the dispatcher
    // tells the watch where (see `pipeline::reconnect`).
    let req = OpenRequest { devnode: device.devnode.clone(), baud: ctx.plan.flasher.initial_baud, usb_ids };
    let reconnect = Arc::new(PortReconnect::new(ctx.opener.clone(), req, Some(watch)));
    let end = pipeline::run_attempt(AttemptRun {
        plan: &ctx.plan,
        opener: ctx.opener.as_ref(),
        devnode: device.devnode.clone(),
        usb_ids,
        reconnect: Some(reconnect),
        audit: Some(audit),
        stop,
        removal_grace: REMOVAL_GRACE,
        progress,
        events: &events,
    })
    .await;
    let boot = end.outcome.boot().cloned();
    let outcome = match end.outcome {
        AttemptOutcome::Pass(_) => Outcome::Pass,
        AttemptOutcome::Fail { stage, reason, error }
            if ctx.plan.power_cycle == PowerCycle::Uhubctl && no_answer(&error) =>
        {
            // The row is recorded; the board gets its power cut so that it comes back (a
            // new insertion, a new attempt) instead of waiting for the operator.
            let done = match device.usb_port.as_deref() {
                Some(port) => power_cycle::power_cycle(port).await,
                None => Err("cannot power-cycle: the board's USB hub port is not known".into()),
            };
            let note = match done {
                Ok(note) => {
                    tracing::warn!(slot = %updates.key, note = %note, "board did not answer: power-cycled");
                    note
                }
                Err(why) => {
                    tracing::error!(slot = %updates.key, error = %why, "board did not answer and could not be power-cycled");
                    why
                }
            };
            Outcome::Fail { stage, reason: format!("{reason}; {note}") }
        }
        AttemptOutcome::Fail { stage, reason, .. } => Outcome::Fail { stage, reason },
        AttemptOutcome::Interrupted { stage } => Outcome::Interrupted { stage },
        AttemptOutcome::NotStarted { reason } => Outcome::NotStarted { reason },
    };
    let image_sha256 = end.image.as_ref().map_or_else(|| images.row_sha256(), |g| g.sha256_hex());
    JobResult { outcome, took: end.took, attempt: end.attempt, image_sha256, boot }
}

/// Whether the job failed because the board answered nothing at all, or only with a
/// stub stuck in a command: a power cut is what brings either back.
fn no_answer(error: &BoardError) -> bool {
    matches!(
        error,
        BoardError::Session(
            flashline_session::Error::NoSync { .. }
                | flashline_session::Error::BootLogNoDownload { .. }
                | flashline_session::Error::StubStuck { .. }
        )
    )
}
