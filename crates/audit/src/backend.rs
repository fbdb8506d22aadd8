//! The contract between [`crate::AuditStore`] and a database: what a backend must do, in
//! flashline's terms.
//!
//! [`crate::AuditStore`] is the handle the daemon and the tools use; it checks and
//! normalises every input (non-empty names, MAC spelling, image SHA-256, a completion that
//! makes sense, a default time) and refuses writes on a read-only store, then calls the
//! backend. A backend stores and reads; it never sees an input the handle would refuse.
//!
//! What every backend guarantees (the contract tests in `tests/contract/` check it):
//!
//! - `begin_attempt` inserts a `running` row and returns a new, unique id; ids grow.
//! - `update_identity`, `set_image` and `set_stage` change only a `running` row; `NotFound` for an
//!   unknown id, `AlreadyCompleted` for a completed one. `update_identity` flags rework
//!   when another row carries the MAC and returns the oldest such row.
//! - `complete_attempt` completes a `running` row exactly once and appends it to the hash
//!   chain ([`crate::chain`]) in the same transaction: `seq` is dense, `prev_hash` is the
//!   previous row's `row_hash`, the head advances. `current_stage` is cleared.
//! - `begin_attempt` also raises the begun-attempt mark to the new id; `close_interrupted`
//!   completes every `running` row as `interrupted` (failure stage = its last
//!   `current_stage`, or [`crate::UNKNOWN_STAGE`]), with [`crate::INTERRUPTED_REASON`] for
//!   rows at or below the mark and [`crate::FORGED_RUNNING_REASON`] for rows above it.
//! - `query` returns rows matching every set field of the filter, newest first (start
//!   time, then id), at most `limit`. `stats` counts attempts by start time in
//!   `[since, until)` ([`crate::Stats::from_groups`] does the arithmetic).
//! - `verify_chain` walks the chained rows in `seq` order on one consistent snapshot with
//!   [`crate::ChainWalker`].
//! - A read-only backend refuses every write with [`crate::AuditError::ReadOnly`].
//! - Errors are [`crate::AuditError`] variants; storage faults are classified (`Locked`,
//!   `DiskFull`, `Corrupt`, `Io`, `Access`) with the driver's error as the source.
//!
//! The trait is object-safe (methods return [`BoxFuture`]) so the handle holds an
//! `Arc<dyn AuditBackend>` and stays cheap to clone.

use std::fmt;
use std::future::Future;
use std::pin::Pin;

use crate::anchor::Anchor;
use crate::chain::ChainHead;
use crate::error::Result;
use crate::integrity::IntegrityReport;
use crate::model::{AttemptId, AttemptRow, ClosedRunning, Completion, Identity, NewAttempt};
use crate::query::AttemptFilter;
use crate::serial::{SerialAllocation, SerialSource};
use crate::stats::Stats;
use crate::synthetic::{SyntheticSpec, SyntheticSummary};
use crate::time::Timestamp;
use crate::verify::{ChainReport, ChainRow};

/// The chain report of one station ([`AuditBackend::verify_chains`]); `station` is `None`
/// for a database that holds one station's chain (a station's own log).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct StationChainReport {
    pub station: Option<String>,
    #[serde(flatten)]
    pub report: ChainReport,
}

/// A boxed, sendable future: what every [`AuditBackend`] method returns.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// A database that keeps flashline's audit log. See the module docs for the contract.
///
/// Inputs arrive checked and normalised by [`crate::AuditStore`]: `NewAttempt` has a
/// lowercase `image_sha256` and a `started_at`, `Identity` a MAC spelled
/// `AA:BB:CC:DD:EE:FF`, `Completion` is valid with an `ended_at`, stage names are trimmed
/// and short, the filter is [`AttemptFilter::normalized`].
pub trait AuditBackend: fmt::Debug + Send + Sync + 'static {
    /// The database for messages: a file path, or a server address without credentials.
    fn location(&self) -> &str;

    /// Opened for queries only: every write fails with [`crate::AuditError::ReadOnly`].
    fn is_read_only(&self) -> bool;

    /// Inserts a `running` row.
    fn begin_attempt<'a>(&'a self, new: &'a NewAttempt) -> BoxFuture<'a, Result<AttemptId>>;

    /// Records the identity of a running row; returns the first other row with the MAC.
    fn update_identity<'a>(&'a self, id: AttemptId, identity: &'a Identity)
        -> BoxFuture<'a, Result<Option<AttemptId>>>;

    /// Records the image a running row's board gets (a station of several chips chooses it
    /// at identify); hashed with the row when it completes.
    fn set_image<'a>(&'a self, id: AttemptId, name: &'a str, sha256: &'a str) -> BoxFuture<'a, Result<()>>;

    /// Records the stage a running row has entered (live progress, not hashed).
    fn set_stage<'a>(&'a self, id: AttemptId, stage: &'a str) -> BoxFuture<'a, Result<()>>;

    /// Completes a running row and appends it to the chain.
    fn complete_attempt<'a>(&'a self, id: AttemptId, completion: &'a Completion) -> BoxFuture<'a, Result<()>>;

    /// Completes every running row as interrupted, ended at `now`; says which were begun
    /// by a daemon and which were not (above the begun-attempt mark).
    fn close_interrupted(&self, now: Timestamp) -> BoxFuture<'_, Result<ClosedRunning>>;

    /// One row by id (`NotFound` when there is none).
    fn get(&self, id: AttemptId) -> BoxFuture<'_, Result<AttemptRow>>;

    /// Rows matching the filter, newest first.
    fn query<'a>(&'a self, filter: &'a AttemptFilter) -> BoxFuture<'a, Result<Vec<AttemptRow>>>;

    /// Counts of the attempts started in `[since, until)`.
    fn stats(&self, since: Timestamp, until: Timestamp) -> BoxFuture<'_, Result<Stats>>;

    /// The end of the chain as recorded.
    fn chain_head(&self) -> BoxFuture<'_, Result<ChainHead>>;

    /// Walks the whole chain, comparing it with `anchors` (heads recorded outside the
    /// database; empty: none).
    fn verify_chain<'a>(&'a self, anchors: &'a [Anchor]) -> BoxFuture<'a, Result<ChainReport>>;

    /// Walks every chain the database holds: one for a station's own log (the default),
    /// one per station for a central record.
    fn verify_chains(&self) -> BoxFuture<'_, Result<Vec<StationChainReport>>> {
        Box::pin(async move { Ok(vec![StationChainReport { station: None, report: self.verify_chain(&[]).await? }]) })
    }

    /// Up to `limit` chained rows with `seq > after_seq`, in `seq` order, exactly as stored
    /// (what forwarding to a central record sends).
    fn chained_rows(&self, after_seq: i64, limit: u32) -> BoxFuture<'_, Result<Vec<ChainRow>>>;

    /// The database's own consistency check.
    fn integrity_check(&self) -> BoxFuture<'_, Result<IntegrityReport>>;

    /// Changes the size limit at run time (`None`: no limit but the disk).
    fn set_max_db_bytes(&self, limit: Option<u64>) -> BoxFuture<'_, Result<()>>;

    /// Bulk-inserts completed, chained synthetic rows (benchmarks, load tests); rows from
    /// [`crate::synthetic::SyntheticRows`].
    fn insert_synthetic<'a>(&'a self, spec: &'a SyntheticSpec) -> BoxFuture<'a, Result<SyntheticSummary>>;

    /// The serial number of `mac`: the one it has, or a new one from `source`, recorded
    /// for good in one transaction (see [`crate::serial`]). Writes `serial` nowhere in the
    /// row: the caller formats it and records it with [`AuditBackend::record_provision`].
    fn allocate_serial<'a>(
        &'a self,
        id: AttemptId,
        mac: &'a str,
        source: SerialSource,
    ) -> BoxFuture<'a, Result<SerialAllocation>> {
        let _ = (id, mac, source);
        Box::pin(async move { Err(crate::AuditError::ReadOnly { location: self.location().to_owned() }) })
    }

    /// Records that `mac` has `number` (known from the central record); the MAC's own
    /// number when it already has one here.
    fn adopt_serial<'a>(&'a self, mac: &'a str, number: u64) -> BoxFuture<'a, Result<SerialAllocation>> {
        let _ = (mac, number);
        Box::pin(async move { Err(crate::AuditError::ReadOnly { location: self.location().to_owned() }) })
    }

    /// Adds the block `first..=last` leased from the central record.
    fn add_serial_lease(&self, first: u64, last: u64) -> BoxFuture<'_, Result<()>> {
        let _ = (first, last);
        Box::pin(async move { Err(crate::AuditError::ReadOnly { location: self.location().to_owned() }) })
    }

    /// Numbers left in the leased blocks.
    fn serial_lease_left(&self) -> BoxFuture<'_, Result<u64>> {
        Box::pin(async move { Err(crate::AuditError::ReadOnly { location: self.location().to_owned() }) })
    }

    /// Records the serial number text and the provisioning JSON of a running row (both
    /// hashed when it completes).
    fn record_provision<'a>(
        &'a self,
        id: AttemptId,
        serial: Option<&'a str>,
        provision: Option<&'a str>,
    ) -> BoxFuture<'a, Result<()>> {
        let _ = (id, serial, provision);
        Box::pin(async move { Err(crate::AuditError::ReadOnly { location: self.location().to_owned() }) })
    }

    /// Closes connections; committed rows stay. Later calls may fail.
    fn close(&self) -> BoxFuture<'_, ()>;
}
