//! Prometheus metrics of one station: an output like the live view and the logs. It
//! subscribes to the station's events (counters and histograms) and reads the published
//! view at scrape time (gauges), so the dispatcher knows nothing about it.
//!
//! Names follow Prometheus' conventions (`flashline_` prefix, `_total` counters, seconds,
//! `_info` for labels-only facts); `promtool check metrics` passes on the exposition (a
//! test runs it). Labels stay bounded: results and stages are fixed sets, slots are the
//! configured slot names (or USB paths of unmapped ports). Provisioning and the boot
//! check are stages like the others (`provision`, `boot` in the stage labels), plus the
//! boot checks by result, the time to the boot pattern and the serial numbers given out.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use flashline_session::Stage;
use prometheus::{
    Encoder, Histogram, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge, IntGaugeVec, Opts, Registry,
    TextEncoder,
};

use self::forward::ForwardMetrics;
use crate::station::{EventReceiver, Outcome, SlotPhase, StationEvent, StationView};

/// Content type of the exposition (Prometheus text format 0.0.4).
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// Buckets for stage durations: from a SYNC (tens of ms) to a slow 16 MB write.
const STAGE_BUCKETS: [f64; 12] = [0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 4.0, 8.0, 15.0, 30.0, 60.0, 120.0];
/// Buckets for whole attempts.
const ATTEMPT_BUCKETS: [f64; 10] = [1.0, 2.0, 4.0, 8.0, 12.0, 20.0, 30.0, 60.0, 120.0, 300.0];
/// Buckets for the time from the final reset to the boot pattern (`[boot] timeout` is at
/// most 600 s; an app's self-test usually takes well under ten).
const BOOT_BUCKETS: [f64; 11] = [0.1, 0.25, 0.5, 1.0, 2.0, 4.0, 8.0, 15.0, 30.0, 60.0, 120.0];
/// The boot check's results, so each appears (as 0) before the first board does.
const BOOT_RESULTS: [&str; 2] = ["pass", "fail"];

/// The station's metrics.
#[derive(Debug)]
pub struct StationMetrics {
    registry: Registry,
    attempts: IntCounterVec,
    attempt_seconds: HistogramVec,
    stage_seconds: HistogramVec,
    boot_checks: IntCounterVec,
    boot_seconds: Histogram,
    serials: IntCounter,
    store_faults: IntCounter,
    events_lost: IntCounter,
    boards: IntGaugeVec,
    store_degraded: IntGauge,
    golden: IntGaugeVec,
    station: IntGaugeVec,
    forward: ForwardMetrics,
    /// Per slot: the stage in progress and when it began.
    stage_started: Mutex<HashMap<String, (Stage, Instant)>>,
}

impl StationMetrics {
    pub fn new() -> Arc<StationMetrics> {
        let registry = Registry::new();
        let attempts = IntCounterVec::new(
            Opts::new(
                "flashline_attempts_total",
                "Finished flashing attempts by result, the stage a failure stopped in, and slot.",
            ),
            &["result", "stage", "slot"],
        )
        .expect("attempts metric");
        let attempt_seconds = HistogramVec::new(
            HistogramOpts::new("flashline_attempt_duration_seconds", "Wall time of finished attempts by result.")
                .buckets(ATTEMPT_BUCKETS.to_vec()),
            &["result"],
        )
        .expect("attempt duration metric");
        let stage_seconds = HistogramVec::new(
            HistogramOpts::new("flashline_stage_duration_seconds", "Time boards spent in each pipeline stage.")
                .buckets(STAGE_BUCKETS.to_vec()),
            &["stage"],
        )
        .expect("stage duration metric");
        let boot_checks = IntCounterVec::new(
            Opts::new("flashline_boot_checks_total", "Post-flash boot checks ([boot]) by result (pass, fail)."),
            &["result"],
        )
        .expect("boot checks metric");
        let boot_seconds = Histogram::with_opts(
            HistogramOpts::new(
                "flashline_boot_duration_seconds",
                "Time from the final reset to the boot pattern, of boards that passed their boot check.",
            )
            .buckets(BOOT_BUCKETS.to_vec()),
        )
        .expect("boot duration metric");
        let serials = IntCounter::new(
            "flashline_serials_allocated_total",
            "Serial numbers given to boards ([provision] serial); a board flashed again gets its own again.",
        )
        .expect("serials metric");
        let store_faults =
            IntCounter::new("flashline_store_faults_total", "Times the audit store refused a write (new jobs held).")
                .expect("store faults metric");
        let events_lost = IntCounter::new(
            "flashline_metrics_events_lost_total",
            "Station events the metrics output lost by falling behind (counts may be low by this much).",
        )
        .expect("events lost metric");
        let boards = IntGaugeVec::new(
            Opts::new("flashline_slots", "The station's slots by phase (queued, running, pass, fail, empty)."),
            &["phase"],
        )
        .expect("boards metric");
        let store_degraded =
            IntGauge::new("flashline_store_degraded", "1 while the audit store refuses writes and new jobs wait.")
                .expect("store degraded metric");
        let golden = IntGaugeVec::new(
            Opts::new(
                "flashline_golden_image_info",
                "The golden images new jobs flash, one series per chip family (always 1).",
            ),
            &["chip", "image", "sha256"],
        )
        .expect("golden image metric");
        let station = IntGaugeVec::new(Opts::new("flashline_station_info", "The station id (always 1)."), &["station"])
            .expect("station metric");
        for c in [
            Box::new(attempts.clone()) as Box<dyn prometheus::core::Collector>,
            Box::new(attempt_seconds.clone()),
            Box::new(stage_seconds.clone()),
            Box::new(boot_checks.clone()),
            Box::new(boot_seconds.clone()),
            Box::new(serials.clone()),
            Box::new(store_faults.clone()),
            Box::new(events_lost.clone()),
            Box::new(boards.clone()),
            Box::new(store_degraded.clone()),
            Box::new(golden.clone()),
            Box::new(station.clone()),
        ] {
            registry.register(c).expect("metric names are unique");
        }
        for result in BOOT_RESULTS {
            boot_checks.with_label_values(&[result]);
        }
        let forward = ForwardMetrics::register(&registry);
        Arc::new(StationMetrics {
            registry,
            forward,
            attempts,
            attempt_seconds,
            stage_seconds,
            boot_checks,
            boot_seconds,
            serials,
            store_faults,
            events_lost,
            boards,
            store_degraded,
            golden,
            station,
            stage_started: Mutex::new(HashMap::new()),
        })
    }

    /// Accounts one station event that happened at `now`.
    pub fn record(&self, event: &StationEvent, now: Instant) {
        match event {
            StationEvent::Stage { slot, stage } => {
                let previous = self.started().insert(slot.clone(), (*stage, now));
                if let Some((prev, since)) = previous {
                    self.observe_stage(prev, since, now);
                }
            }
            StationEvent::Finished { slot, outcome, took, boot, .. } => {
                if let Some((stage, since)) = self.started().remove(slot) {
                    self.observe_stage(stage, since, now);
                }
                let (result, stage) = labels(outcome);
                self.attempts.with_label_values(&[result, stage, slot.as_str()]).inc();
                self.attempt_seconds.with_label_values(&[result]).observe(took.as_secs_f64());
                if let Some(b) = boot {
                    self.boot_checks.with_label_values(&[BOOT_RESULTS[usize::from(!b.passed())]]).inc();
                    if let (true, Some(ms)) = (b.passed(), b.ms_to_pattern) {
                        self.boot_seconds.observe(ms as f64 / 1000.0);
                    }
                }
            }
            StationEvent::Provisioned { serial, .. } => {
                if serial.is_some() {
                    self.serials.inc();
                }
            }
            StationEvent::BoardRemoved { slot } => {
                self.started().remove(slot);
            }
            StationEvent::StoreFault { .. } => self.store_faults.inc(),
            StationEvent::BoardAdded { .. }
            | StationEvent::JobStarted { .. }
            | StationEvent::Identified { .. }
            | StationEvent::StoreRecovered
            | StationEvent::Reloaded { .. } => {}
        }
    }

    /// Counts events lost by the subscription.
    pub fn lost(&self, n: u64) {
        self.events_lost.inc_by(n);
    }

    /// The exposition, with the gauges taken from `view` (the station as it is now).
    pub fn render(&self, view: &StationView) -> String {
        self.set_gauges(view);
        let mut out = Vec::new();
        TextEncoder::new().encode(&self.registry.gather(), &mut out).expect("text encoding to memory");
        String::from_utf8(out).expect("the text format is UTF-8")
    }

    fn set_gauges(&self, view: &StationView) {
        let mut counts: HashMap<&'static str, i64> = PHASES.iter().map(|p| (*p, 0)).collect();
        for slot in &view.slots {
            *counts.entry(phase_label(&slot.phase)).or_default() += 1;
        }
        for (phase, n) in counts {
            self.boards.with_label_values(&[phase]).set(n);
        }
        self.store_degraded.set(i64::from(view.notice.as_ref().is_some_and(|n| n.blocking)));
        self.golden.reset();
        for i in &view.images {
            let chip = i.chip.as_deref().unwrap_or("any");
            self.golden.with_label_values(&[chip, i.name.as_str(), i.sha256.as_str()]).set(1);
        }
        self.station.reset();
        self.station.with_label_values(&[view.station.as_str()]).set(1);
        self.forward.set(view.central.as_ref(), Instant::now());
    }

    fn observe_stage(&self, stage: Stage, since: Instant, now: Instant) {
        self.stage_seconds.with_label_values(&[stage.as_str()]).observe(now.duration_since(since).as_secs_f64());
    }

    fn started(&self) -> std::sync::MutexGuard<'_, HashMap<String, (Stage, Instant)>> {
        self.stage_started.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// Every phase label, so each appears (as 0) before the first board does.
const PHASES: [&str; 5] = ["queued", "running", "pass", "fail", "empty"];

fn phase_label(phase: &SlotPhase) -> &'static str {
    match phase {
        SlotPhase::Queued => "queued",
        SlotPhase::Running => "running",
        SlotPhase::Pass => "pass",
        SlotPhase::Fail { .. } => "fail",
        SlotPhase::Empty => "empty",
    }
}

/// `(result, stage)` labels of a finished attempt.
fn labels(outcome: &Outcome) -> (&'static str, &str) {
    match outcome {
        Outcome::Pass => ("pass", ""),
        Outcome::Fail { stage, .. } => ("fail", stage.as_str()),
        Outcome::Interrupted { stage } => ("interrupted", stage.as_str()),
        Outcome::NotStarted { .. } => ("not_started", ""),
    }
}

/// Feeds `metrics` from the station's events until the station stops.
pub async fn record_events(mut events: EventReceiver, metrics: Arc<StationMetrics>) {
    let mut lost = 0;
    while let Some(ev) = events.recv().await {
        metrics.record(&ev, Instant::now());
        if events.lost() > lost {
            metrics.lost(events.lost() - lost);
            lost = events.lost();
        }
    }
}

mod forward;
#[cfg(test)]
mod tests;
