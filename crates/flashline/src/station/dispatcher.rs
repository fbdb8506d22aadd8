//! The dispatcher: the single owner of slot state.
//!
//! One task `select!`s over device events, job updates, finished jobs and control
//! messages. It decides when a job starts (parallel limit, audit store health), cancels a
//! job when its board is removed, and is the only writer of the [`StationView`] that the
//! reporters draw. Jobs never touch slot state; they send [`JobUpdate`]s.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::{broadcast, mpsc, watch};
use tokio::task::JoinSet;

use super::context::StationContext;
use super::events::{AuditRef, EventReceiver, StationEvent, EVENT_BUFFER};
use super::job::{self, JobResult, JobUpdate, Outcome, Updates, PROGRESS_BUFFER};
use super::notify::Notifier;
use super::reenum::{own_reset, SlotBoard};
use super::view::{ImageInfo, Notice, SlotPhase, SlotView, StationView, Totals};
use crate::config::{Slots, UnmappedPorts};
use crate::device::{DeviceError, DeviceEvent, DeviceInfo, DeviceStream};
use crate::pipeline::{BoardWatch, Stop, StopCause};
use crate::text::{escaped_path, Escaped};
use flashline_session::ResetInto;

/// How long to wait before trying the audit store again after it refused a row.
const STORE_RETRY: Duration = Duration::from_secs(2);
/// How long running jobs get to record their rows at shutdown.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(15);

/// Messages from the daemon's control side (signals, the demo).
#[derive(Debug)]
pub enum Control {
    /// A reloaded config/image: new jobs use it, running jobs keep theirs.
    Reload(Arc<StationContext>, Slots, UnmappedPorts),
    /// Stop: cancel running jobs (their rows become `interrupted`) and return.
    Shutdown,
    /// Stop once no job is running or waiting and the device source is done (the demo).
    DrainAndStop,
}

struct Entry {
    view: SlotView,
    device: Option<DeviceInfo>,
    abort: Option<Stop>,
    /// The running job's board watch: its resets off the bus and where it came back.
    watch: Option<Arc<BoardWatch>>,
    /// After the job's final reset on the board's own USB port: until then, the board
    /// coming back (in its application, maybe as another USB device) is not a new board.
    app_until: Option<Instant>,
    /// The USB serial number of the slot's last board (a re-enumerated board may come
    /// back on another path with the same serial).
    serial: Option<String>,
    /// The VID:PID the slot's last board was added with.
    ids: Option<(u16, u16)>,
}

/// The dispatcher's state.
pub struct Dispatcher {
    ctx: Arc<StationContext>,
    slots_cfg: Slots,
    unmapped: UnmappedPorts,
    entries: BTreeMap<String, Entry>,
    queue: VecDeque<String>,
    jobs: JoinSet<(String, JobResult)>,
    /// Slot key of each running job task, to free the slot if the task panics.
    job_keys: HashMap<tokio::task::Id, String>,
    updates_tx: mpsc::UnboundedSender<(String, JobUpdate)>,
    updates_rx: mpsc::UnboundedReceiver<(String, JobUpdate)>,
    progress_tx: mpsc::Sender<(String, JobUpdate)>,
    progress_rx: mpsc::Receiver<(String, JobUpdate)>,
    view: StationView,
    view_tx: watch::Sender<StationView>,
    events: broadcast::Sender<StationEvent>,
    /// Set while the audit store refuses writes: no new job starts before `retry_at`.
    store_fault: Option<String>,
    retry_at: Option<Instant>,
    totals: Totals,
    /// systemd's notify socket (readiness, watchdog, status); inert without one.
    notify: Notifier,
}

impl Dispatcher {
    pub fn new(ctx: Arc<StationContext>, slots_cfg: Slots, unmapped: UnmappedPorts) -> Dispatcher {
        let view = StationView::new(ctx.station.clone(), ImageInfo::of_set(&ctx.plan.images));
        let (view_tx, _) = watch::channel(view.clone());
        let (updates_tx, updates_rx) = mpsc::unbounded_channel();
        let (progress_tx, progress_rx) = mpsc::channel(PROGRESS_BUFFER);
        Dispatcher {
            ctx,
            slots_cfg,
            unmapped,
            entries: BTreeMap::new(),
            queue: VecDeque::new(),
            jobs: JoinSet::new(),
            job_keys: HashMap::new(),
            updates_tx,
            updates_rx,
            progress_tx,
            progress_rx,
            view,
            view_tx,
            events: broadcast::channel(EVENT_BUFFER).0,
            store_fault: None,
            retry_at: None,
            totals: Totals::default(),
            notify: Notifier::from_env(),
        }
    }

    /// Snapshots of the station view, for the live view.
    pub fn watch(&self) -> watch::Receiver<StationView> {
        self.view_tx.subscribe()
    }

    /// Every station event, in order (logs, the demo's counters, tests). Bounded: a
    /// subscriber more than [`EVENT_BUFFER`] events behind loses the oldest.
    pub fn subscribe(&self) -> EventReceiver {
        EventReceiver::new(self.events.subscribe())
    }

    /// A handle that can add subscribers after the dispatcher started.
    pub fn event_sender(&self) -> broadcast::Sender<StationEvent> {
        self.events.clone()
    }

    /// Runs until shut down. Returns the final view and how the device sources ended.
    ///
    /// The end conditions:
    /// - [`Control::Shutdown`] (or every control sender gone): running jobs are cancelled,
    ///   record `interrupted`, and the loop ends once they have (at most [`SHUTDOWN_GRACE`]).
    /// - [`Control::DrainAndStop`]: the loop ends once the device sources have ended (so
    ///   every board they announced has been seen) and no job runs or waits.
    /// - The device sources end on their own: no new board can arrive, so the station
    ///   drains as above; a source error is returned (the daemon exits with it), a clean
    ///   end without `DrainAndStop` is logged as such.
    pub async fn run(
        mut self,
        devices: DeviceStream,
        mut control: mpsc::Receiver<Control>,
    ) -> (StationView, Result<(), DeviceError>) {
        let mut devices = Some(devices);
        let mut device_result = Ok(());
        let mut draining = false;
        let mut shutdown_deadline: Option<tokio::time::Instant> = None;
        loop {
            let retry = self.retry_at.filter(|_| !self.queue.is_empty());
            let accepting = shutdown_deadline.is_none();
            tokio::select! {
                ev = recv_opt(&mut devices), if devices.is_some() && accepting => match ev {
                    Some(ev) => self.on_device(ev),
                    None => {
                        let stream = devices.take().expect("device stream");
                        device_result = stream.finish().await;
                        match &device_result {
                            Err(e) => tracing::error!(error = %e, "device source failed: no new boards can be seen; stopping after the running jobs"),
                            Ok(()) if !draining => tracing::warn!("device sources ended: no new boards can be seen; stopping after the running jobs"),
                            Ok(()) => {}
                        }
                        draining = true;
                    }
                },
                Some((key, update)) = self.updates_rx.recv() => self.on_update(&key, update),
                Some((key, update)) = self.progress_rx.recv() => self.on_update(&key, update),
                Some(joined) = self.jobs.join_next_with_id(), if !self.jobs.is_empty() => {
                    // The job sent its last updates (its board's identity, its last stage)
                    // before it returned, but `select!` may see its end first. Apply them
                    // now: applied after its end, they would land on the slot's next job
                    // (which starts below), whose result could then name the wrong MAC.
                    while let Ok((key, update)) = self.updates_rx.try_recv() {
                        self.on_update(&key, update);
                    }
                    while let Ok((key, update)) = self.progress_rx.try_recv() {
                        self.on_update(&key, update);
                    }
                    match joined {
                        Ok((id, (key, result))) => {
                            self.job_keys.remove(&id);
                            self.on_finished(&key, result);
                        }
                        Err(e) => self.on_panicked(e),
                    }
                }
                c = control.recv(), if accepting => match c {
                    Some(Control::Reload(ctx, slots, unmapped)) => self.on_reload(ctx, slots, unmapped),
                    Some(Control::DrainAndStop) => draining = true,
                    Some(Control::Shutdown) | None => {
                        shutdown_deadline = Some(tokio::time::Instant::now() + SHUTDOWN_GRACE);
                        self.shutdown();
                    }
                },
                _ = sleep_until_opt(retry.map(tokio::time::Instant::from_std)) => {
                    self.retry_at = None;
                },
                // The watchdog pings come from this loop: a stuck dispatcher stops them.
                _ = self.notify.watchdog_due() => self.notify.ping(),
                _ = sleep_until_opt(shutdown_deadline) => {
                    tracing::error!(jobs = self.jobs.len(), "jobs did not end within the shutdown grace; their rows stay 'running' and are closed as interrupted at the next start");
                    self.jobs.abort_all();
                    break;
                }
            }
            if shutdown_deadline.is_none() {
                self.pump();
            }
            self.publish();
            if shutdown_deadline.is_some() && self.jobs.is_empty() {
                break;
            }
            // Draining ends when no board can still be announced and none runs or waits.
            // (A board left queued behind a refusing audit store keeps the station up.)
            if draining && devices.is_none() && self.jobs.is_empty() && self.queue.is_empty() {
                break;
            }
        }
        self.publish();
        self.notify.stopping();
        if let Some(stream) = devices {
            // Stopped before the sources ended: closing our end stops them.
            if let Err(e) = stream.finish().await {
                tracing::debug!(error = %e, "device source ended with an error at shutdown");
            }
        }
        (self.view, device_result)
    }

    /// A job task panicked: its slot must not stay busy forever. The row stays `running`
    /// and is closed as `interrupted` at the next start.
    fn on_panicked(&mut self, e: tokio::task::JoinError) {
        let Some(key) = self.job_keys.remove(&e.id()) else {
            tracing::error!(error = %e, "a job task ended abnormally");
            return;
        };
        tracing::error!(slot = %key, error = %e, "a job task ended abnormally; its audit row is closed at the next start");
        let result = JobResult {
            outcome: Outcome::Fail { stage: "internal".into(), reason: format!("job ended abnormally: {e}") },
            took: self.entries.get(&key).and_then(|e| e.view.started).map(|t| t.elapsed()).unwrap_or_default(),
            attempt: None,
            // The task is gone with its context; what its row began with is the best guess.
            image_sha256: self.ctx.plan.images.row_sha256(),
            boot: None,
        };
        self.on_finished(&key, result);
    }

    fn emit(&mut self, ev: StationEvent) {
        // No subscriber is not an error: outputs come and go.
        let _ = self.events.send(ev);
    }

    fn on_device(&mut self, ev: DeviceEvent) {
        match ev {
            DeviceEvent::Added(dev) => self.on_added(dev),
            DeviceEvent::Removed(dev) => self.on_removed(&dev),
            DeviceEvent::Ready { source } => {
                tracing::info!(source, "device source ready");
                self.notify.ready();
            }
        }
    }

    fn slot_name(&self, dev: &DeviceInfo) -> Option<String> {
        match self.slots_cfg.name_for(dev) {
            Some(n) => Some(n.to_string()),
            None if self.unmapped == UnmappedPorts::Flash => Some(dev.usb_path.clone()),
            None => None,
        }
    }

    /// The slot whose board this is, while a reset of that board's own is in flight:
    /// same USB path, or same USB serial number, within the window after the reset.
    fn reenumerating(&self, dev: &DeviceInfo, now: Instant) -> Option<(String, ResetInto)> {
        self.entries.iter().find_map(|(key, e)| {
            let slot = SlotBoard {
                usb_path: key,
                serial: e.serial.as_deref(),
                ids: e.ids,
                job_reset: e.abort.is_some().then(|| e.watch.as_ref().and_then(|w| w.expecting(now))).flatten(),
                app_until: e.app_until,
            };
            own_reset(&slot, dev, now).map(|into| (key.clone(), into))
        })
    }

    /// A remove/add that belongs to a board's own reset: handled, not a new board and not
    /// a removal. Returns false when the event is someone else's.
    fn on_reenumeration(&mut self, dev: &DeviceInfo, added: bool) -> bool {
        let Some((key, into)) = self.reenumerating(dev, Instant::now()) else { return false };
        let entry = self.entries.get_mut(&key).expect("found");
        let name = entry.view.name.clone();
        let job = entry.abort.is_some();
        if !added {
            tracing::info!(slot = %name, port = %dev.devnode.display(), ?into, "board left USB at its own reset");
            entry.device = None;
            return true;
        }
        entry.device = Some(dev.clone());
        entry.view.port = dev.devnode.display().to_string();
        match (into, job) {
            (ResetInto::Download, true) => {
                tracing::info!(slot = %name, port = %dev.devnode.display(), "board back after its reset; its job goes on");
                if let Some(w) = &entry.watch {
                    w.came_back(dev.devnode.clone());
                }
            }
            (ResetInto::App, true) => {
                tracing::info!(
                    slot = %name, port = %dev.devnode.display(), id = %dev.vid_pid(),
                    "board back in its application after its final reset; its boot check reads it, not flashed again"
                );
                if let Some(w) = &entry.watch {
                    w.app_back(dev.devnode.clone());
                }
            }
            _ => tracing::info!(
                slot = %name, port = %dev.devnode.display(), id = %dev.vid_pid(),
                "board back in its application after its final reset; not flashed again"
            ),
        }
        true
    }

    fn on_added(&mut self, dev: DeviceInfo) {
        if self.on_reenumeration(&dev, true) {
            return;
        }
        let Some(name) = self.slot_name(&dev) else {
            tracing::info!(port = %escaped_path(&dev.devnode), usb_path = %Escaped(&dev.usb_path), "board on a port [slots] does not name; ignored");
            return;
        };
        let key = dev.usb_path.clone();
        let port = dev.devnode.display().to_string();
        let entry = self.entries.entry(key.clone()).or_insert_with(|| Entry {
            view: SlotView::new(name.clone(), key.clone(), port.clone()),
            device: None,
            abort: None,
            watch: None,
            app_until: None,
            serial: None,
            ids: None,
        });
        if entry.abort.is_some() {
            // The gate never adds twice without a remove; a job still finishing its row
            // for the previous board is let finish, the new board waits. The view stays
            // that job's until it ends, so its result still names its own board's MAC
            // (resetting it here made the "board failed" line of a pulled board lose its
            // MAC whenever the next board was plugged in quickly); `pump` gives the new
            // board its view when its job starts.
            tracing::warn!(slot = %name, "board added while the previous job is still finishing");
        } else {
            let attempts = entry.view.attempts;
            entry.view = SlotView::new(name.clone(), key.clone(), port.clone());
            entry.view.attempts = attempts;
        }
        entry.app_until = None;
        entry.serial = dev.serial.clone();
        entry.ids = Some((dev.vid, dev.pid));
        entry.device = Some(dev);
        if !self.queue.contains(&key) {
            self.queue.push_back(key);
        }
        self.emit(StationEvent::BoardAdded { slot: name, port });
    }

    fn on_removed(&mut self, dev: &DeviceInfo) {
        if self.on_reenumeration(dev, false) {
            return;
        }
        let key = &dev.usb_path;
        let Some(entry) = self.entries.get_mut(key) else { return };
        entry.device = None;
        self.queue.retain(|k| k != key);
        let name = entry.view.name.clone();
        match &entry.abort {
            Some(abort) => abort.cancel(StopCause::Removed),
            None => entry.view.phase = SlotPhase::Empty,
        }
        self.emit(StationEvent::BoardRemoved { slot: name });
    }

    fn on_update(&mut self, key: &str, update: JobUpdate) {
        let Some(entry) = self.entries.get_mut(key) else { return };
        let name = entry.view.name.clone();
        match update {
            JobUpdate::Started => {
                let port = entry.view.port.clone();
                if self.store_fault.take().is_some() {
                    self.emit(StationEvent::StoreRecovered);
                }
                // Announced once the audit row exists, right before the board is touched:
                // a job that the store turns away (locked, full) never touched its board,
                // and saying "flashing started" for each of its probes would tell the
                // operator otherwise.
                self.emit(StationEvent::JobStarted { slot: name, port });
            }
            JobUpdate::Progress { stage, done, total } => {
                let v = &mut entry.view;
                if v.stage != Some(stage) {
                    v.stage = Some(stage);
                    self.emit(StationEvent::Stage { slot: name, stage });
                }
                let v = &mut self.entries.get_mut(key).expect("entry").view;
                v.done = done;
                v.total = total;
            }
            JobUpdate::Identified { chip, mac, rework } => {
                entry.view.chip = Some(chip.clone());
                entry.view.mac = Some(mac.clone());
                entry.view.rework = rework;
                if rework {
                    self.totals.rework += 1;
                }
                self.emit(StationEvent::Identified { slot: name, chip, mac, rework });
            }
            JobUpdate::Provisioned { serial, nvs } => {
                entry.view.serial.clone_from(&serial);
                self.emit(StationEvent::Provisioned { slot: name, serial, nvs });
            }
            JobUpdate::StoreFault(reason) => {
                if self.store_fault.as_deref() != Some(reason.as_str()) {
                    self.emit(StationEvent::StoreFault { reason: reason.clone() });
                }
                self.store_fault = Some(reason);
                self.retry_at = Some(Instant::now() + STORE_RETRY);
            }
            JobUpdate::StoreOk => {
                if self.store_fault.take().is_some() {
                    self.emit(StationEvent::StoreRecovered);
                }
            }
        }
    }

    fn on_finished(&mut self, key: &str, result: JobResult) {
        let Some(entry) = self.entries.get_mut(key) else { return };
        entry.abort = None;
        // A final reset on the board's own USB port: it comes back running its
        // application, and that is still this board (shown done, not flashed again).
        entry.app_until = entry
            .watch
            .take()
            .and_then(|w| w.window_end())
            .and_then(|(into, until)| (into == ResetInto::App).then_some(until));
        let name = entry.view.name.clone();
        let mac = entry.view.mac.clone();
        let serial = entry.view.serial.clone();
        let board_present = entry.device.is_some();
        entry.view.took = Some(result.took);
        entry.view.stage = None;
        entry.view.boot.clone_from(&result.boot);
        match &result.outcome {
            Outcome::Pass => {
                entry.view.phase = SlotPhase::Pass;
                self.totals.pass += 1;
            }
            Outcome::Fail { stage, reason } => {
                entry.view.phase = SlotPhase::Fail { stage: stage.clone(), reason: reason.clone() };
                self.totals.fail += 1;
            }
            Outcome::Interrupted { stage } => {
                entry.view.phase = SlotPhase::Fail { stage: stage.clone(), reason: "interrupted by shutdown".into() };
            }
            Outcome::NotStarted { .. } => {
                // Not the board's fault: it waits for the store, first in line. Nothing
                // was tried on the board, so this was no attempt.
                entry.view.attempts = entry.view.attempts.saturating_sub(1);
                entry.view.phase = if board_present { SlotPhase::Queued } else { SlotPhase::Empty };
                if board_present {
                    self.queue.push_front(key.to_string());
                }
                return;
            }
        }
        let audit = AuditRef { attempt: result.attempt, image_sha256: result.image_sha256 };
        let (outcome, took, boot) = (result.outcome, result.took, result.boot);
        self.emit(StationEvent::Finished { slot: name, mac, serial, outcome, took, audit, boot });
    }

    fn on_reload(&mut self, ctx: Arc<StationContext>, slots: Slots, unmapped: UnmappedPorts) {
        self.view.images = ImageInfo::of_set(&ctx.plan.images);
        self.ctx = ctx;
        self.slots_cfg = slots;
        self.unmapped = unmapped;
        self.emit(StationEvent::Reloaded { images: self.view.images.clone() });
    }

    fn shutdown(&mut self) {
        self.notify.stopping();
        self.queue.clear();
        for e in self.entries.values_mut() {
            if let Some(a) = &e.abort {
                a.cancel(StopCause::Shutdown);
            }
        }
        self.ctx.shutdown.cancel();
    }

    /// Starts queued boards while there is room and the store takes rows.
    fn pump(&mut self) {
        if self.store_fault.is_some() && self.retry_at.is_some_and(|t| Instant::now() < t) {
            return;
        }
        // After a store fault, probe with one job before opening the gates again.
        let limit = if self.store_fault.is_some() { 1 } else { self.ctx.max_jobs };
        // Boards whose slot still has a job recording its row wait, in order, without
        // holding up the boards behind them.
        let mut waiting = VecDeque::new();
        while self.jobs.len() < limit {
            let Some(key) = self.queue.pop_front() else { break };
            let Some(entry) = self.entries.get_mut(&key) else { continue };
            let Some(dev) = entry.device.clone() else { continue };
            if entry.abort.is_some() {
                waiting.push_back(key);
                continue;
            }
            let abort = Stop::default();
            entry.abort = Some(abort.clone());
            let watch = BoardWatch::new();
            entry.watch = Some(watch.clone());
            // A fresh view for this board (it may have been plugged while the previous
            // job was still finishing, see `on_added`).
            let attempts = entry.view.attempts + 1;
            entry.view = SlotView::new(entry.view.name.clone(), key.clone(), dev.devnode.display().to_string());
            entry.view.attempts = attempts;
            entry.view.phase = SlotPhase::Running;
            entry.view.started = Some(Instant::now());
            let slot = entry.view.name.clone();
            let updates = Updates { key: key.clone(), progress: self.progress_tx.clone(), tx: self.updates_tx.clone() };
            let ctx = self.ctx.clone();
            let task_key = key.clone();
            let handle = self.jobs.spawn(async move {
                let result = job::run(ctx, dev, slot, abort, watch, updates).await;
                (task_key, result)
            });
            self.job_keys.insert(handle.id(), key);
            if self.store_fault.is_some() {
                // One probe at a time while the store is faulty.
                self.retry_at = Some(Instant::now() + STORE_RETRY);
                break;
            }
        }
        while let Some(key) = waiting.pop_back() {
            self.queue.push_front(key);
        }
    }

    fn publish(&mut self) {
        let mut totals = self.totals;
        totals.running = 0;
        totals.queued = 0;
        for e in self.entries.values() {
            match e.view.phase {
                SlotPhase::Running => totals.running += 1,
                SlotPhase::Queued => totals.queued += 1,
                _ => {}
            }
        }
        self.view.totals = totals;
        self.view.slots = self.entries.values().map(|e| e.view.clone()).collect();
        self.view.slots.sort_by(|a, b| natural_cmp(&a.name, &b.name));
        self.view.notice = self.store_fault.as_ref().map(|r| Notice {
            text: format!("{r} — new boards wait until it is fixed; finished rows are kept"),
            blocking: true,
        });
        self.notify.status(&totals);
        self.view_tx.send_replace(self.view.clone());
    }
}

/// The next device event; pending forever without a stream (the select guard excludes it).
async fn recv_opt(devices: &mut Option<DeviceStream>) -> Option<DeviceEvent> {
    match devices {
        Some(d) => d.recv().await,
        None => std::future::pending().await,
    }
}

async fn sleep_until_opt(t: Option<tokio::time::Instant>) {
    match t {
        Some(t) => tokio::time::sleep_until(t).await,
        None => std::future::pending().await,
    }
}

/// "A2" < "A10": digit runs compare as numbers, so slot lists read like the fixture.
pub fn natural_cmp(a: &str, b: &str) -> std::cmp::Ordering {
    fn chunks(s: &str) -> Vec<(bool, &str)> {
        let mut out = Vec::new();
        let mut start = 0;
        let bytes = s.as_bytes();
        for i in 1..=bytes.len() {
            if i == bytes.len() || bytes[i].is_ascii_digit() != bytes[start].is_ascii_digit() {
                out.push((bytes[start].is_ascii_digit(), &s[start..i]));
                start = i;
            }
        }
        out
    }
    let (ca, cb) = (chunks(a), chunks(b));
    for ((da, xa), (db, xb)) in ca.iter().zip(cb.iter()) {
        let ord = if *da && *db {
            let (na, nb) = (xa.trim_start_matches('0'), xb.trim_start_matches('0'));
            na.len().cmp(&nb.len()).then_with(|| na.cmp(nb))
        } else {
            xa.cmp(xb)
        };
        if ord.is_ne() {
            return ord;
        }
    }
    ca.len().cmp(&cb.len())
}

#[cfg(test)]
mod tests {
    use super::natural_cmp;

    #[test]
    fn natural_order() {
        let mut v = vec!["A10", "A2", "B1", "A1", "sim-usb-0:10:1.0", "sim-usb-0:9:1.0"];
        v.sort_by(|a, b| natural_cmp(a, b));
        assert_eq!(v, vec!["A1", "A2", "A10", "B1", "sim-usb-0:9:1.0", "sim-usb-0:10:1.0"]);
    }
}
