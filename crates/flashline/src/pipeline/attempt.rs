//! One attempt, start to end: the audit row is created before the board is touched (a
//! store that refuses it leaves the board alone), every stage the board enters is noted
//! on the row, and the run does not end until the completion is stored (or, for the
//! daemon, until a shutdown gives up on it: the next start closes such a row as
//! `interrupted`).

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use flashline_audit::{
    AttemptId, AttemptResult, AuditError, AuditStore, BootRecord, Completion, Failure, Identity, NewAttempt, NvsRecord,
};
use flashline_session::{ChipInfo, Error as SessionError, Progress, Stage};
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use super::board::{flash_board, BoardError, Flashed};
use super::plan::Plan;
use super::ports::{BoxTransport, OpenRequest, PortOpener};
use super::record::StageClock;
use super::stop::{Stop, StopCause};
use crate::provision::ProvisionError;
use crate::station::Golden;

/// How hard the completion of a row is retried when the store refuses it.
#[derive(Debug, Clone)]
pub enum CompletionRetry {
    /// Until it is stored (disk full, locked: the row must not be lost); given up only
    /// when `shutdown` has fired and the run was stopped by it.
    UntilShutdown(CancellationToken),
    /// This many retries of a retryable fault (a one-off command reports the rest).
    Limited(u32),
}

/// Where and how the attempt is recorded.
#[derive(Debug, Clone)]
pub struct AuditTarget {
    pub store: AuditStore,
    pub attempt: NewAttempt,
    pub retry: CompletionRetry,
}

/// What the run tells its caller while it goes (the dispatcher turns these into slot
/// updates; progress goes through the [`Progress`] sink).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AttemptEvent {
    /// The audit row exists (or none is kept); the board is about to be touched.
    Started,
    /// The board said who it is.
    Identified { chip: String, mac: String, rework: bool },
    /// The board got its serial number (`[provision] serial`) and/or its own NVS partition
    /// (`[provision.nvs]`: where and what, never the values), before anything is written.
    Provisioned { serial: Option<String>, nvs: Option<NvsRecord> },
    /// The audit store refused a write; the run keeps retrying (completion) or gives up
    /// before touching the board (start).
    StoreFault(String),
    /// The store accepted a write again after a fault.
    StoreOk,
}

/// How an attempt ended.
#[derive(Debug)]
pub enum AttemptOutcome {
    Pass(Flashed),
    Fail {
        stage: String,
        reason: String,
        error: BoardError,
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

impl AttemptOutcome {
    /// The boot check's record: of a passed board, or of one that failed it.
    pub fn boot(&self) -> Option<&BootRecord> {
        match self {
            AttemptOutcome::Pass(flashed) => flashed.boot.as_ref(),
            AttemptOutcome::Fail { error: BoardError::Boot { flashed }, .. } => flashed.boot.as_ref(),
            _ => None,
        }
    }
}

/// The run's final word.
#[derive(Debug)]
pub struct AttemptEnd {
    pub outcome: AttemptOutcome,
    pub took: Duration,
    pub attempt: Option<AttemptId>,
    /// The image the board's chip got (`None` before identify, or when the station has
    /// none for the chip).
    pub image: Option<Arc<Golden>>,
    /// The completion could not be stored (only with [`CompletionRetry::Limited`]).
    pub unrecorded: Option<AuditError>,
}

/// One attempt's inputs.
pub struct AttemptRun<'a> {
    pub plan: &'a Plan,
    pub opener: &'a dyn PortOpener,
    pub devnode: std::path::PathBuf,
    /// The port's USB id when known (selects the USB reset for 303a:1001).
    pub usb_ids: Option<(u16, u16)>,
    /// Finds the board again when a reset takes its port off the bus (its own USB
    /// port); `None`: the port stays (USB-UART bridges).
    pub reconnect: Option<Arc<dyn flashline_session::Reconnect<BoxTransport>>>,
    pub audit: Option<AuditTarget>,
    pub stop: Stop,
    /// How long a run whose port broke waits for the removal event before it records
    /// the failure as the port's (a udev remove trails the broken port by some ms).
    pub removal_grace: Duration,
    pub progress: Progress,
    pub events: &'a (dyn Fn(AttemptEvent) + Send + Sync),
}

/// Runs one attempt. Never panics on board behaviour; every path ends in a completed row
/// (or in `NotStarted` when no row could be created).
pub async fn run_attempt(run: AttemptRun<'_>) -> AttemptEnd {
    let t0 = Instant::now();
    let events = run.events;
    let attempt = match &run.audit {
        Some(a) => match a.store.begin_attempt(a.attempt.clone()).await {
            Ok(id) => Some(id),
            Err(e) => {
                let reason = store_reason(&e);
                events(AttemptEvent::StoreFault(reason.clone()));
                let outcome = AttemptOutcome::NotStarted { reason };
                return AttemptEnd { outcome, took: t0.elapsed(), attempt: None, image: None, unrecorded: None };
            }
        },
        None => None,
    };
    events(AttemptEvent::Started);

    // Stage changes go to the row (so a row a crash leaves `running` names its stage),
    // latest first, from a task of their own: the progress callback must not block.
    let clock = Arc::new(Mutex::new(StageClock::default()));
    let (stage_tx, stage_rx) = watch::channel(None::<Stage>);
    let stage_task = match (&run.audit, attempt) {
        (Some(a), Some(id)) => Some(tokio::spawn(record_stages(a.store.clone(), id, stage_rx))),
        _ => None,
    };
    // Closed (taken) once the board part ends, so no stage lands after the completion.
    let stage_tx = Arc::new(Mutex::new(Some(stage_tx)));
    let progress = {
        let (clock, inner, stage_tx) = (clock.clone(), run.progress.clone(), stage_tx.clone());
        Progress::callback(move |e| {
            if clock.lock().expect("stage clock").mark(e.stage) {
                if let Some(tx) = stage_tx.lock().expect("stage sender").as_ref() {
                    let _ = tx.send(Some(e.stage));
                }
            }
            inner.report(e.stage, e.done, e.total);
        })
    };

    let audit = run.audit.as_ref();
    let chosen: Mutex<Option<Arc<Golden>>> = Mutex::new(None);
    let (chosen_ref, several) = (&chosen, run.plan.images.len() > 1);
    let on_identified = |info: ChipInfo, golden: Option<Arc<Golden>>| async move {
        let rework = match (audit, attempt) {
            (Some(a), Some(id)) => {
                if let (Some(g), true) = (&golden, several) {
                    record_image(&a.store, id, g).await;
                }
                record_identity(&a.store, id, &info).await
            }
            _ => false,
        };
        *chosen_ref.lock().expect("chosen image") = golden;
        // One MAC spelling in every output: upper case, as the audit log stores it.
        let mac = flashline_audit::format_mac(info.mac.0);
        events(AttemptEvent::Identified { chip: info.description.clone(), mac, rework });
    };
    let slot = run.audit.as_ref().map(|a| a.attempt.slot.clone()).unwrap_or_default();
    let provision = |info: ChipInfo| async move {
        let Some(prov) = run.plan.provision.as_ref() else { return Ok(None) };
        let mac = flashline_audit::format_mac(info.mac.0);
        let store = audit.map(|a| &a.store);
        let refused = |e: ProvisionError| BoardError::Provision(e.to_string());
        let serial = prov.serial_for(store, attempt, &mac).await.map_err(refused)?;
        let board =
            match prov.partition_for(store, attempt, serial.clone(), &mac, &slot, &info.description, info.chip).await {
                Ok(board) => board,
                Err(e) => {
                    // Refused after its number was given (no device row): the number is the
                    // board's, and every output shows it like the row does.
                    if let Some((serial, _)) = serial {
                        events(AttemptEvent::Provisioned { serial: Some(serial), nvs: None });
                    }
                    return Err(refused(e));
                }
            };
        let serial = board.serial.as_ref().map(|(serial, _)| serial.clone());
        if serial.is_some() || board.record.nvs.is_some() {
            events(AttemptEvent::Provisioned { serial, nvs: board.record.nvs.clone() });
        }
        Ok(board.nvs)
    };
    let req = OpenRequest { devnode: run.devnode.clone(), baud: run.plan.flasher.initial_baud, usb_ids: run.usb_ids };
    let flashed = match run.opener.open(&req).await {
        Ok(port) => {
            flash_board(port, run.plan, progress, run.stop.token(), run.reconnect.clone(), on_identified, provision)
                .await
        }
        Err(e) => Err(BoardError::Open(e)),
    };
    // No stage update may land after the completion: close the channel, let it drain.
    stage_tx.lock().expect("stage sender").take();
    if let Some(task) = stage_task {
        let _ = task.await;
    }
    if let Err(e) = &flashed {
        if run.stop.cause().is_none() && e.may_be_unplug() && !run.removal_grace.is_zero() {
            // An unplug usually breaks the port before udev reports the removal: give the
            // removal a moment to arrive, so the row says what happened.
            let _ = tokio::time::timeout(run.removal_grace, run.stop.token().cancelled()).await;
        }
    }
    let end = Instant::now();
    let (timings, last_stage) = {
        let c = clock.lock().expect("stage clock");
        (c.timings(end), c.current())
    };

    let (completion, outcome) = match flashed {
        Ok(done) => {
            let mut c = Completion::pass(done.written, done.verify_method.clone());
            c.skipped_regions = done.skipped.clone();
            c.regions = done.regions.clone();
            c.boot = done.boot.clone();
            (c.with_timings(timings), AttemptOutcome::Pass(done))
        }
        Err(error) => {
            let stage = error.stage().as_str().to_string();
            match run.stop.cause() {
                Some(StopCause::Shutdown) => {
                    let reason = format!("daemon shut down during {stage}");
                    let c = Completion {
                        result: AttemptResult::Interrupted,
                        failure: Some(Failure { stage: stage.clone(), reason }),
                        ..Completion::fail(&stage, "-")
                    };
                    (c.with_timings(timings), AttemptOutcome::Interrupted { stage })
                }
                Some(StopCause::Removed) => {
                    let reason = format!("board removed during {stage}");
                    let c = Completion::fail(&stage, &reason).with_timings(timings);
                    (c, AttemptOutcome::Fail { stage, reason, error })
                }
                cause => {
                    // A cancel names the stage the board was in, not the one it reported.
                    let stage = match (error.session(), cause) {
                        (Some(SessionError::Cancelled { .. }), _) => {
                            last_stage.map(|s| s.as_str().to_string()).unwrap_or(stage)
                        }
                        _ => stage,
                    };
                    let reason = match cause {
                        Some(StopCause::Operator) => format!("stopped by the operator during {stage}"),
                        _ => error.reason(),
                    };
                    let c = Completion::fail(&stage, &reason).with_timings(timings);
                    (c, AttemptOutcome::Fail { stage, reason, error })
                }
            }
        }
    };
    // A board that was written but did not boot: the row keeps what the write did and
    // what the console showed.
    let completion = match &outcome {
        AttemptOutcome::Fail { error: BoardError::Boot { flashed }, .. } => Completion {
            bytes_written: flashed.written,
            verify_method: Some(flashed.verify_method.clone()),
            skipped_regions: flashed.skipped.clone(),
            regions: flashed.regions.clone(),
            boot: flashed.boot.clone(),
            ..completion
        },
        _ => completion,
    };
    let unrecorded = match (&run.audit, attempt) {
        (Some(a), Some(id)) => record_completion(a, id, completion, &run.stop, events).await.err(),
        _ => None,
    };
    let image = chosen.into_inner().expect("chosen image");
    AttemptEnd { outcome, took: t0.elapsed(), attempt, image, unrecorded }
}

/// Records the image chosen at identify on the row (a station of several chips; the row
/// began naming the set). A failure is logged: the row then keeps the set's name and
/// digest, which still say what the board could have got.
async fn record_image(store: &AuditStore, id: AttemptId, golden: &Golden) {
    if let Err(e) = store.set_image(id, &golden.name, &golden.sha256_hex()).await {
        tracing::warn!(attempt = %id, image = %crate::text::Escaped(&golden.name), error = %e, "could not record the board's image");
    }
}

/// Records who the board is; true when its MAC was seen before (rework). A failure is
/// logged, not fatal: the identity is repeated in the logs and the row still completes.
async fn record_identity(store: &AuditStore, id: AttemptId, info: &ChipInfo) -> bool {
    let identity = Identity {
        mac: info.mac.to_string(),
        chip: info.description.clone(),
        chip_revision: info.revision.map(|(major, minor)| format!("v{major}.{minor}")),
        flash_id: info.flash.as_ref().map(|f| f.jedec_id),
        flash_size: info.flash.as_ref().and_then(|f| f.size).map(u64::from),
    };
    match store.update_identity(id, &identity).await {
        Ok(prev) => prev.is_some(),
        Err(e) => {
            tracing::warn!(attempt = %id, error = %e, "could not record the board identity");
            false
        }
    }
}

/// Writes each stage the board enters to its row; when stages come faster than the
/// store takes them, only the latest is written.
async fn record_stages(store: AuditStore, id: AttemptId, mut rx: watch::Receiver<Option<Stage>>) {
    while rx.changed().await.is_ok() {
        let Some(stage) = *rx.borrow_and_update() else { continue };
        if let Err(e) = store.set_stage(id, stage.as_str()).await {
            tracing::debug!(attempt = %id, stage = stage.as_str(), error = %e, "could not record the stage");
        }
    }
}

/// Stores the completion under the target's retry policy.
async fn record_completion(
    target: &AuditTarget,
    id: AttemptId,
    completion: Completion,
    stop: &Stop,
    events: &(dyn Fn(AttemptEvent) + Send + Sync),
) -> Result<(), AuditError> {
    let mut delay = Duration::from_millis(200);
    let mut faulted = false;
    let mut tries = 0;
    loop {
        match target.store.complete_attempt(id, completion.clone()).await {
            Ok(()) => {
                if faulted {
                    events(AttemptEvent::StoreOk);
                }
                return Ok(());
            }
            Err(e) => {
                faulted = true;
                let reason = store_reason(&e);
                tracing::error!(attempt = %id, error = %reason, "cannot complete the audit row; retrying");
                events(AttemptEvent::StoreFault(reason));
                match &target.retry {
                    CompletionRetry::UntilShutdown(shutdown) => {
                        if shutdown.is_cancelled() && stop.cause() == Some(StopCause::Shutdown) {
                            return Err(e);
                        }
                    }
                    CompletionRetry::Limited(n) => {
                        if !e.is_retryable() || tries >= *n {
                            return Err(e);
                        }
                    }
                }
                tries += 1;
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(Duration::from_secs(5));
            }
        }
    }
}

fn store_reason(e: &AuditError) -> String {
    format!("audit store: {e}")
}
