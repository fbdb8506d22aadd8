//! The forwarder's gauges on `/metrics`: rows the central record has not acknowledged yet,
//! whether the forwarder is connected or stopped for good, how long ago it last failed, and
//! the rows it stored centrally. Present only on a station with `[central]`: without it
//! the series are absent rather than a misleading 0.

use std::time::Instant;

use prometheus::{GaugeVec, IntCounterVec, IntGaugeVec, Opts, Registry};

use crate::station::forward::{ForwardState, ForwardStatus};

/// The forwarding series of one station.
#[derive(Debug)]
pub struct ForwardMetrics {
    backlog: IntGaugeVec,
    connected: IntGaugeVec,
    stopped: IntGaugeVec,
    error_age: GaugeVec,
    forwarded: IntCounterVec,
}

impl ForwardMetrics {
    /// The series, registered in `registry`.
    pub fn register(registry: &Registry) -> ForwardMetrics {
        let gauge = |name: &str, help: &str| IntGaugeVec::new(Opts::new(name, help), &[]).expect("forward gauge");
        let m = ForwardMetrics {
            backlog: gauge(
                "flashline_central_backlog_rows",
                "Completed local audit rows the central record has not acknowledged yet.",
            ),
            connected: gauge(
                "flashline_central_connected",
                "1 while the last forwarding attempt reached the central record.",
            ),
            stopped: gauge(
                "flashline_central_stopped",
                "1 when forwarding stopped for good (another station with this id, unreadable password file).",
            ),
            error_age: GaugeVec::new(
                Opts::new(
                    "flashline_central_last_error_age_seconds",
                    "Seconds since the last failed forwarding attempt (absent when none failed).",
                ),
                &[],
            )
            .expect("forward error age"),
            forwarded: IntCounterVec::new(
                Opts::new("flashline_central_forwarded_rows_total", "Rows this process stored in the central record."),
                &[],
            )
            .expect("forwarded counter"),
        };
        for c in [
            Box::new(m.backlog.clone()) as Box<dyn prometheus::core::Collector>,
            Box::new(m.connected.clone()),
            Box::new(m.stopped.clone()),
            Box::new(m.error_age.clone()),
            Box::new(m.forwarded.clone()),
        ] {
            registry.register(c).expect("metric names are unique");
        }
        m
    }

    /// Sets the series from the forwarder's status as the view carries it at `now`.
    pub fn set(&self, status: Option<&ForwardStatus>, now: Instant) {
        let Some(s) = status else {
            self.backlog.reset();
            self.connected.reset();
            self.stopped.reset();
            self.error_age.reset();
            self.forwarded.reset();
            return;
        };
        self.backlog.with_label_values::<&str>(&[]).set(i64::try_from(s.backlog).unwrap_or(i64::MAX));
        self.connected.with_label_values::<&str>(&[]).set(i64::from(s.state == ForwardState::Forwarding));
        self.stopped.with_label_values::<&str>(&[]).set(i64::from(matches!(s.state, ForwardState::Stopped(_))));
        match s.last_error {
            Some(at) => {
                self.error_age.with_label_values::<&str>(&[]).set(now.saturating_duration_since(at).as_secs_f64())
            }
            None => self.error_age.reset(),
        }
        // The status counts this run's rows; the counter only ever moves up to it.
        let counter = self.forwarded.with_label_values::<&str>(&[]);
        counter.inc_by(s.forwarded.saturating_sub(counter.get()));
    }
}
