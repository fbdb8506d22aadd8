//! One job: one board on one slot, from opening its port to its completed audit row.
//!
//! The order matters for the promise "every board gets exactly one completed row": the
//! row is created before the board is touched (if the store cannot take it, the board is
//! left alone and waits), and the job does not end until the completion is stored.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use flashline_audit::{
    AttemptId, AttemptResult, AuditError, Completion, Failure, Identity, NewAttempt, SkippedRegion, UsbInfo,
};
use flashline_session::{After, Error as SessionError, Flasher, Progress, SerialTransport, Stage, VerifyOptions};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::context::StationContext;
use super::record::{skipped_regions, StageClock};
use crate::config::{AfterFlash, VerifyMode};
use crate::device::DeviceInfo;

/// How long a job whose port failed waits for the removal event before it records the
/// failure as the port's (a udev remove trails the broken port by some milliseconds).
const REMOVAL_GRACE: Duration = Duration::from_millis(1000);

/// Why a job was told to stop.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CancelCause {
    /// The board was unplugged.
    Removed,
    /// The daemon is shutting down.
    Shutdown,
}

/// A cancellation token that remembers why it fired.
#[derive(Debug, Clone, Default)]
pub struct Abort {
    token: CancellationToken,
    cause: Arc<Mutex<Option<CancelCause>>>,
}

impl Abort {
    pub fn cancel(&self, cause: CancelCause) {
        self.cause.lock().expect("abort cause").get_or_insert(cause);
        self.token.cancel();
    }

    pub fn cause(&self) -> Option<CancelCause> {
        *self.cause.lock().expect("abort cause")
    }

    pub fn token(&self) -> CancellationToken {
        self.token.clone()
    }
}

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
}

/// Sends updates tagged with the job's slot key.
#[derive(Debug, Clone)]
pub struct Updates {
    pub key: String,
    pub tx: mpsc::UnboundedSender<(String, JobUpdate)>,
}

impl Updates {
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
    abort: Abort,
    updates: Updates,
) -> JobResult {
    let t0 = Instant::now();
    let new = NewAttempt {
        station_id: ctx.station.clone(),
        slot: slot.clone(),
        port: device.devnode.display().to_string(),
        usb: Some(UsbInfo { vid: device.vid, pid: device.pid, serial: device.serial.clone() }),
        image_name: ctx.golden.name.clone(),
        image_sha256: ctx.golden.sha256_hex(),
        started_at: None,
    };
    let attempt = match ctx.store.begin_attempt(new).await {
        Ok(id) => id,
        Err(e) => {
            let reason = store_reason(&e);
            updates.send(JobUpdate::StoreFault(reason.clone()));
            return JobResult { outcome: Outcome::NotStarted { reason }, took: t0.elapsed(), attempt: None };
        }
    };
    updates.send(JobUpdate::Started);

    let clock = Arc::new(Mutex::new(StageClock::default()));
    // Stage changes go to the audit row (so a row a crash leaves `running` names its
    // stage), in order, from a task of their own: the progress callback must not block.
    let (stage_tx, stage_rx) = mpsc::unbounded_channel();
    let stage_tx = Arc::new(Mutex::new(Some(stage_tx)));
    let stage_task = tokio::spawn(record_stages(ctx.clone(), attempt, stage_rx, updates.key.clone()));
    let progress = {
        let clock = clock.clone();
        let updates = updates.clone();
        let stage_tx = stage_tx.clone();
        Progress::callback(move |e| {
            if clock.lock().expect("stage clock").mark(e.stage) {
                if let Some(tx) = stage_tx.lock().expect("stage sender").as_ref() {
                    let _ = tx.send(e.stage);
                }
            }
            updates.send(JobUpdate::Progress { stage: e.stage, done: e.done, total: e.total });
        })
    };

    let flashed = flash_board(&ctx, &device, attempt, progress, &abort, &updates).await;
    // No stage update may land after the completion: close the channel, let it drain.
    stage_tx.lock().expect("stage sender").take();
    let _ = stage_task.await;
    let end = Instant::now();
    if let Err(e) = &flashed {
        if abort.cause().is_none() && e.may_be_unplug() {
            // An unplug usually breaks the port before udev reports the removal: give the
            // removal a moment to arrive, so the row says what happened.
            let _ = tokio::time::timeout(REMOVAL_GRACE, abort.token().cancelled()).await;
        }
    }
    let timings = clock.lock().expect("stage clock").timings(end);
    let last_stage = clock.lock().expect("stage clock").current();

    let (completion, outcome) = match flashed {
        Ok(done) => {
            let mut c = Completion::pass(done.bytes_written, done.verify_method);
            c.skipped_regions = done.skipped;
            (c.with_timings(timings), Outcome::Pass)
        }
        Err(e) => {
            let stage = e.stage().as_str().to_string();
            match (abort.cause(), &e) {
                (Some(CancelCause::Shutdown), _) => {
                    let reason = format!("daemon shut down during {stage}");
                    let c = Completion {
                        result: AttemptResult::Interrupted,
                        failure: Some(Failure { stage: stage.clone(), reason }),
                        ..Completion::fail(&stage, "-")
                    };
                    (c.with_timings(timings), Outcome::Interrupted { stage })
                }
                (Some(CancelCause::Removed), _) => {
                    let reason = format!("board removed during {stage}");
                    (Completion::fail(&stage, &reason).with_timings(timings), Outcome::Fail { stage, reason })
                }
                (None, e) => {
                    let stage = if matches!(e, JobError::Session(SessionError::Cancelled { .. })) {
                        last_stage.map(|s| s.as_str().to_string()).unwrap_or(stage)
                    } else {
                        stage
                    };
                    let reason = strip_stage(&e.to_string(), &stage);
                    (Completion::fail(&stage, &reason).with_timings(timings), Outcome::Fail { stage, reason })
                }
            }
        }
    };
    record_completion(&ctx, attempt, completion, &abort, &updates).await;
    JobResult { outcome, took: t0.elapsed(), attempt: Some(attempt) }
}

/// What a passed board reports to the audit log.
struct Flashed {
    bytes_written: u64,
    verify_method: String,
    skipped: Vec<SkippedRegion>,
}

/// A job failure: a session error, or a check of ours (wrong chip, image too large).
#[derive(Debug)]
enum JobError {
    Session(SessionError),
    Check { stage: Stage, reason: String },
}

impl JobError {
    /// The port broke or went silent: what an unplugged board looks like from here.
    fn may_be_unplug(&self) -> bool {
        matches!(
            self,
            JobError::Session(
                SessionError::Io { .. } | SessionError::Disconnected { .. } | SessionError::Timeout { .. }
            )
        )
    }

    fn stage(&self) -> Stage {
        match self {
            JobError::Session(e) => e.stage(),
            JobError::Check { stage, .. } => *stage,
        }
    }
}

impl std::fmt::Display for JobError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            JobError::Session(e) => write!(f, "{e}"),
            JobError::Check { reason, .. } => f.write_str(reason),
        }
    }
}

impl From<SessionError> for JobError {
    fn from(e: SessionError) -> Self {
        JobError::Session(e)
    }
}

async fn flash_board(
    ctx: &StationContext,
    device: &DeviceInfo,
    attempt: AttemptId,
    progress: Progress,
    abort: &Abort,
    updates: &Updates,
) -> Result<Flashed, JobError> {
    let path = device.devnode.to_string_lossy().into_owned();
    let port = SerialTransport::open(&path, ctx.flasher.initial_baud)
        .map_err(|source| SessionError::Io { stage: Stage::Connect, source })?;
    let mut flasher = Flasher::connect(port, &ctx.flasher, progress, abort.token()).await?;

    let info = flasher.info().clone();
    let rework = match ctx
        .store
        .update_identity(
            attempt,
            &Identity {
                mac: info.mac.to_string(),
                chip: info.description.clone(),
                chip_revision: info.revision.map(|(major, minor)| format!("v{major}.{minor}")),
                flash_id: info.flash.as_ref().map(|f| f.jedec_id),
                flash_size: info.flash.as_ref().and_then(|f| f.size).map(u64::from),
            },
        )
        .await
    {
        Ok(prev) => prev.is_some(),
        Err(e) => {
            // The identity is repeated in the logs; the row still completes later.
            tracing::warn!(slot = %updates.key, error = %e, "could not record the board identity");
            false
        }
    };
    updates.send(JobUpdate::Identified { chip: info.description.clone(), mac: info.mac.to_string(), rework });

    let size = info.flash.as_ref().and_then(|f| f.size);
    match size {
        Some(size) => ctx
            .golden
            .image
            .check_fits(size)
            .map_err(|e| JobError::Check { stage: Stage::Identify, reason: e.to_string() })?,
        None => {
            return Err(JobError::Check {
                stage: Stage::Identify,
                reason: "flash size unknown (JEDEC id not recognised): refusing to write blind".into(),
            })
        }
    }
    if let Some(min) = ctx.golden.min_flash_size {
        if size.unwrap_or(0) < min {
            return Err(JobError::Check {
                stage: Stage::Identify,
                reason: format!(
                    "board has {} of flash, the line requires at least {}",
                    flashline_protocol::flash::format_size(size.unwrap_or(0)),
                    flashline_protocol::flash::format_size(min)
                ),
            });
        }
    }

    let report = flasher.write(&ctx.golden.prepared, &ctx.write).await?;
    let readback = ctx.verify == VerifyMode::Readback;
    if readback {
        flasher.verify(&ctx.golden.prepared, VerifyOptions { readback: true }).await?;
    }
    let after = match ctx.after {
        AfterFlash::HardReset => After::HardReset,
        AfterFlash::NoReset => After::NoReset,
    };
    flasher.finish(after).await?;

    let skipped = skipped_regions(&report);
    let bytes_written = report.regions.iter().map(|r| r.written).sum();
    let verify_method = if readback { "md5+readback" } else { "md5" }.to_string();
    Ok(Flashed { bytes_written, verify_method, skipped })
}

/// Writes each stage the job enters to its audit row; when stages come faster than the
/// store takes them, only the latest is written. A failure is logged, not fatal: the
/// row itself is completed by [`record_completion`].
async fn record_stages(ctx: Arc<StationContext>, id: AttemptId, mut rx: mpsc::UnboundedReceiver<Stage>, slot: String) {
    while let Some(mut stage) = rx.recv().await {
        while let Ok(later) = rx.try_recv() {
            stage = later;
        }
        if let Err(e) = ctx.store.set_stage(id, stage.as_str()).await {
            tracing::debug!(%slot, attempt = %id, stage = stage.as_str(), error = %e, "could not record the stage");
        }
    }
}

/// Stores the completion, retrying while the store refuses (disk full, locked) so the row
/// is never lost. Gives up only at shutdown: the row then stays `running` and the next
/// start closes it as `interrupted`.
async fn record_completion(
    ctx: &StationContext,
    id: AttemptId,
    completion: Completion,
    abort: &Abort,
    updates: &Updates,
) {
    let mut delay = Duration::from_millis(200);
    let mut faulted = false;
    loop {
        match ctx.store.complete_attempt(id, completion.clone()).await {
            Ok(()) => {
                if faulted {
                    updates.send(JobUpdate::StoreOk);
                }
                return;
            }
            Err(e) => {
                faulted = true;
                let reason = store_reason(&e);
                tracing::error!(slot = %updates.key, attempt = %id, error = %reason, "cannot complete the audit row; retrying");
                updates.send(JobUpdate::StoreFault(reason));
                if ctx.shutdown.is_cancelled() && abort.cause() == Some(CancelCause::Shutdown) {
                    return;
                }
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(Duration::from_secs(5));
            }
        }
    }
}

fn store_reason(e: &AuditError) -> String {
    format!("audit store: {e}")
}

/// Session errors start with "stage: "; the row has the stage in its own column.
fn strip_stage(msg: &str, stage: &str) -> String {
    msg.strip_prefix(stage).and_then(|m| m.strip_prefix(": ")).unwrap_or(msg).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strips_stage_prefix() {
        assert_eq!(strip_stage("write: no reply", "write"), "no reply");
        assert_eq!(strip_stage("something else", "write"), "something else");
    }

    #[test]
    fn abort_keeps_first_cause() {
        let a = Abort::default();
        a.cancel(CancelCause::Removed);
        a.cancel(CancelCause::Shutdown);
        assert_eq!(a.cause(), Some(CancelCause::Removed));
        assert!(a.token().is_cancelled());
    }
}
