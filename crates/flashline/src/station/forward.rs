//! Store-and-forward to the line's central audit record (`[central]`): every completed,
//! chained row of the local log goes to the central PostgreSQL record, in chain order,
//! exactly once, after restarts and outages.
//!
//! The local SQLite log stays the station's record: the line never waits for the network.
//! The forwarder is a task of its own that reads the local log after the central
//! high-water mark (the head of this station's chain the central record holds), sends the
//! rows in batches, wakes on every finished job and on a retry timer with backoff, and
//! publishes its backlog ([`ForwardStatus`], shown on the live view; a log line when the
//! backlog crosses a power of ten). The backlog is counted from the last row the central
//! record acknowledged, kept beside the local log (`forward_mark.rs`), so a station
//! started during an outage shows what is waiting from its first second.
//!
//! Exactly once: the central insert trigger skips a row it already holds with the same
//! hash (a resend after a lost acknowledgement) and refuses one that contradicts the
//! recorded chain. That refusal, or a local log whose row at the central head has another
//! hash, means another station uses this station id (or this station's log was replaced):
//! the forwarder says so and stops for good; the line goes on. An unreachable server or a
//! refused login is logged and retried, and never stops the line either.

use std::time::{Duration, Instant};

use flashline_audit::postgres::{read_password_file, CentralError, CentralLink, CentralUrl};
use flashline_audit::{AuditStore, ChainHead, GENESIS_HASH};
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use super::events::{EventReceiver, StationEvent};
use super::forward_mark::{AckMark, Acked};
use crate::config::{CentralConfig, CentralPassword};

/// Rows sent per transaction.
pub const BATCH: u32 = 200;
/// First retry delay after a failure; doubles up to [`MAX_BACKOFF`].
pub const FIRST_BACKOFF: Duration = Duration::from_millis(500);
/// Longest retry delay, also the idle re-check interval.
pub const MAX_BACKOFF: Duration = Duration::from_secs(30);

/// What the forwarder is doing, for the live view and tests.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ForwardStatus {
    /// Completed local rows the central record does not hold yet (as last measured).
    pub backlog: u64,
    /// Rows stored centrally by this run.
    pub forwarded: u64,
    pub state: ForwardState,
    /// When the last attempt failed (`None`: none failed since the start), for the age of
    /// the last error on `/metrics`.
    pub last_error: Option<Instant>,
}

/// The forwarder's state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ForwardState {
    /// Not connected yet.
    Starting,
    /// Connected; `backlog` rows to go (0: caught up).
    Forwarding,
    /// The last attempt failed; retried after a delay. The reason names the fix.
    Retrying(String),
    /// Given up for good (another station with this id, unreadable password file); the
    /// line goes on with its local log.
    Stopped(String),
}

/// A running forwarder: its status, and the task (ends at shutdown or when stopped).
#[derive(Debug)]
pub struct Forwarder {
    pub status: watch::Receiver<ForwardStatus>,
    pub task: tokio::task::JoinHandle<()>,
}

/// Starts forwarding `store`'s rows of `station` to `config`'s record; wakes on
/// `events` (a finished job), stops at `shutdown` (after one last attempt).
pub fn spawn(
    config: &CentralConfig,
    station: String,
    store: AuditStore,
    events: EventReceiver,
    shutdown: CancellationToken,
) -> Forwarder {
    let initial = ForwardStatus { backlog: 0, forwarded: 0, state: ForwardState::Starting, last_error: None };
    let (tx, status) = watch::channel(initial);
    let config = config.clone();
    let task = tokio::spawn(async move {
        let link = match link(&config, &station) {
            Ok(l) => l,
            Err(reason) => {
                tracing::error!(central = %config.url, error = %reason, "forwarding to the central audit record is off; the line goes on with its local log");
                tx.send_modify(|s| {
                    s.state = ForwardState::Stopped(reason);
                    s.last_error = Some(Instant::now());
                });
                return;
            }
        };
        let mark = AckMark::beside(std::path::Path::new(store.location()));
        let run = Run {
            link,
            station,
            store,
            tx,
            events,
            shutdown,
            mark,
            central_seq: None,
            acked_seq: None,
            checked: false,
        };
        run.run().await;
    });
    Forwarder { status, task }
}

/// The station's link to the central record of `config` (forwarding, serial leases).
pub(crate) fn link(config: &CentralConfig, station: &str) -> Result<CentralLink, String> {
    let password = match &config.password {
        CentralPassword::File(f) => Some(
            read_password_file(f).map_err(|e| format!("cannot read [central] password_file {}: {e}", f.display()))?,
        ),
        CentralPassword::Env(var) => Some(std::env::var(var).map_err(|_| {
            format!("[central] password_env names {var}, which is not set in the daemon's environment")
        })?),
        CentralPassword::None => None,
    };
    let url = CentralUrl::parse(&config.url, password.as_deref()).map_err(|e| e.to_string())?;
    Ok(CentralLink::new(&url, station))
}

/// Which power of ten a backlog is in (0 for none), for log lines when it changes.
pub fn backlog_band(backlog: u64) -> u32 {
    if backlog == 0 {
        0
    } else {
        backlog.ilog10() + 1
    }
}

struct Run {
    link: CentralLink,
    station: String,
    store: AuditStore,
    tx: watch::Sender<ForwardStatus>,
    events: EventReceiver,
    shutdown: CancellationToken,
    /// The last acknowledged row, kept across restarts.
    mark: AckMark,
    /// The central high-water mark, once read (cleared when an answer may have been lost).
    central_seq: Option<i64>,
    /// The last mark the central record acknowledged: the backlog is measured against it
    /// while the server is away, so it keeps rising during an outage.
    acked_seq: Option<i64>,
    /// Whether the local log was checked to continue the central chain.
    checked: bool,
}

enum Failure {
    Central(CentralError),
    Local(flashline_audit::AuditError),
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Failure::Central(e) => e.fmt(f),
            Failure::Local(e) => write!(f, "reading the local audit log: {e}"),
        }
    }
}

impl Run {
    async fn run(mut self) {
        self.start_from_mark().await;
        let mut backoff = FIRST_BACKOFF;
        let mut last_error: Option<String> = None;
        loop {
            let wait = match self.cycle().await {
                Ok(()) => {
                    if last_error.take().is_some() {
                        tracing::info!(central = %self.link.location(), "central audit record reachable again; forwarding resumed");
                    }
                    backoff = FIRST_BACKOFF;
                    MAX_BACKOFF
                }
                Err(Failure::Central(e)) if e.is_permanent() => {
                    let reason = e.to_string();
                    tracing::error!(error = %reason, "forwarding to the central audit record stopped");
                    self.tx.send_modify(|s| {
                        s.state = ForwardState::Stopped(reason);
                        s.last_error = Some(Instant::now());
                    });
                    return;
                }
                Err(e) => {
                    let reason = e.to_string();
                    if last_error.as_deref() != Some(reason.as_str()) {
                        tracing::warn!(error = %reason, retry_in_ms = backoff.as_millis() as u64, "cannot forward to the central audit record; retrying");
                    }
                    self.tx.send_modify(|s| {
                        s.state = ForwardState::Retrying(reason.clone());
                        s.last_error = Some(Instant::now());
                    });
                    last_error = Some(reason);
                    self.measure_backlog().await;
                    let w = backoff;
                    backoff = (backoff * 2).min(MAX_BACKOFF);
                    w
                }
            };
            if !self.wait(wait, last_error.is_some()).await {
                // Shutdown: one last try so a clean stop leaves nothing queued that could go.
                let _ = self.cycle().await;
                return;
            }
        }
    }

    /// Waits for a finished job (unless backing off), the timer, or shutdown (`false`).
    async fn wait(&mut self, delay: Duration, backing_off: bool) -> bool {
        let timer = tokio::time::sleep(delay);
        tokio::pin!(timer);
        loop {
            tokio::select! {
                _ = self.shutdown.cancelled() => return false,
                _ = &mut timer => return true,
                ev = self.events.recv() => match ev {
                    None => return false,
                    Some(StationEvent::Finished { .. }) if !backing_off => return true,
                    Some(StationEvent::Finished { .. }) => self.measure_backlog().await,
                    Some(_) => {}
                },
            }
        }
    }

    /// Sends every row after the central high-water mark.
    async fn cycle(&mut self) -> Result<(), Failure> {
        let mut after = match self.central_seq {
            Some(s) => s,
            None => {
                let head = self.link.head().await.map_err(Failure::Central)?;
                self.check_continues(&head).await?;
                self.central_seq = Some(head.last_seq);
                self.acked(head.last_seq, &head.last_hash);
                head.last_seq
            }
        };
        self.tx.send_modify(|s| s.state = ForwardState::Forwarding);
        loop {
            self.measure_backlog().await;
            let rows = self.store.chained_rows(after, BATCH).await.map_err(Failure::Local)?;
            if rows.is_empty() {
                return Ok(());
            }
            let done = match self.link.send(&rows).await {
                Ok(d) => d,
                Err(e) => {
                    // The connection may have lost the answer of a commit: read the mark again.
                    self.central_seq = None;
                    return Err(Failure::Central(e));
                }
            };
            after = done.last_seq;
            self.central_seq = Some(after);
            let hash = rows.last().and_then(|r| r.row_hash.clone()).unwrap_or_default();
            self.acked(after, &hash);
            self.tx.send_modify(|s| s.forwarded += done.inserted);
        }
    }

    /// Counts the backlog from the mark the last run left (before the server answers):
    /// its row, if this log holds it with that hash; else from the start of the log.
    async fn start_from_mark(&mut self) {
        let central = self.link.location().to_owned();
        let from = match self.mark.load(&central) {
            Some(m) if m.seq == 0 => Some(0),
            Some(m) => match self.store.chained_rows(m.seq - 1, 1).await {
                Ok(rows) => rows
                    .first()
                    .filter(|r| r.seq == m.seq && r.row_hash.as_deref() == Some(m.hash.as_str()))
                    .map(|r| r.seq),
                Err(_) => None,
            },
            None => None,
        };
        if from.is_none() {
            tracing::info!(mark = %self.mark.path().display(), "no acknowledgement from the central audit record is known; every local row counts as waiting until it answers");
        }
        self.acked_seq = Some(from.unwrap_or(0));
        self.measure_backlog().await;
    }

    /// The central record holds everything up to `seq` (`hash`): the backlog counts from
    /// here, now and after a restart.
    fn acked(&mut self, seq: i64, hash: &str) {
        if self.acked_seq == Some(seq) && seq != 0 {
            return;
        }
        self.acked_seq = Some(seq);
        let hash = if seq == 0 { GENESIS_HASH.to_owned() } else { hash.to_owned() };
        let acked = Acked { central: self.link.location().to_owned(), seq, hash };
        if let Err(e) = self.mark.save(&acked) {
            // Only the backlog shown after a restart during an outage depends on it.
            tracing::warn!(mark = %self.mark.path().display(), error = %e, "cannot keep the central acknowledgement mark");
        }
    }

    /// The local row at the central head must be the one the central record holds: else
    /// another station sent rows under this id, or this station's log was replaced.
    async fn check_continues(&mut self, head: &ChainHead) -> Result<(), Failure> {
        if self.checked || head.last_seq == 0 {
            self.checked = true;
            return Ok(());
        }
        let local = self.store.chained_rows(head.last_seq - 1, 1).await.map_err(Failure::Local)?;
        match local.first() {
            Some(r) if r.seq == head.last_seq && r.row_hash.as_deref() == Some(head.last_hash.as_str()) => {
                self.checked = true;
                Ok(())
            }
            other => Err(Failure::Central(CentralError::Conflict {
                location: self.link.location().to_owned(),
                station: self.station.clone(),
                detail: match other {
                    Some(r) if r.seq == head.last_seq => {
                        format!("its seq {} has hash {}, the local row another", head.last_seq, head.last_hash)
                    }
                    _ => format!("it holds seq {} already, the local log ends before that", head.last_seq),
                },
            })),
        }
    }

    /// Publishes the backlog; logs when it crosses a power of ten.
    async fn measure_backlog(&mut self) {
        let Some(central) = self.acked_seq else { return };
        let Ok(local) = self.store.chain_head().await else { return };
        let backlog = u64::try_from(local.last_seq - central).unwrap_or(0);
        let before = self.tx.borrow().backlog;
        if backlog_band(before) != backlog_band(backlog) {
            if backlog > before {
                tracing::warn!(backlog, "rows waiting for the central audit record");
            } else {
                tracing::info!(backlog, "central audit record catching up");
            }
        }
        self.tx.send_modify(|s| s.backlog = backlog);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backlog_bands_are_powers_of_ten() {
        let table = [(0, 0), (1, 1), (9, 1), (10, 2), (99, 2), (100, 3), (12_345, 5)];
        for (backlog, band) in table {
            assert_eq!(backlog_band(backlog), band, "{backlog}");
        }
    }
}
