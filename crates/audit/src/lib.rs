//! flashline's audit store: one tamper-evident row per programming attempt.
//!
//! Every board put on the line gets exactly one row. The row is inserted as `running` when
//! the job starts ([`AuditStore::begin_attempt`]), gets the board's identity after the
//! identify stage ([`AuditStore::update_identity`], which also detects rework by MAC), and
//! is completed once as `pass`, `fail` or `interrupted` ([`AuditStore::complete_attempt`]).
//! A daemon that died leaves `running` rows; the next start closes them as `interrupted`
//! ([`AuditStore::close_interrupted`]). Completion appends the row to a SHA-256 hash chain
//! ([`chain`]) that [`AuditStore::verify_chain`] checks.
//!
//! A failed `begin_attempt` means the board must not be flashed: no row, no job. That keeps
//! "one row per board" true when the disk is full or the database locked.
//!
//! Storage faults come back as typed errors ([`AuditError::Locked`],
//! [`AuditError::DiskFull`], [`AuditError::Corrupt`], [`AuditError::Io`],
//! [`AuditError::Access`]) so the daemon can stop starting jobs, say why, and carry on
//! when the fault clears. No error carries a database driver's type.
//!
//! Times are UTC milliseconds since the Unix epoch in the database ([`Timestamp`]) and
//! RFC 3339 text in every rendered output ([`render`]), shown in the station's time zone
//! ([`LocalTime`]) where people read it.
//!
//! # Structure
//!
//! - [`AuditStore`] is the handle everyone uses (cheap to clone). It checks and normalises
//!   inputs, refuses writes when read-only, and calls an [`AuditBackend`].
//! - [`AuditBackend`] is the contract a database implements, in flashline's terms
//!   (attempt, identity, completion, filter, stats, chain).
//! - Backend-neutral logic: the model ([`AttemptRow`], [`Completion`], ...), the chain
//!   hash ([`chain`]), the chain walk ([`ChainWalker`]), filters ([`AttemptFilter`]),
//!   statistics arithmetic ([`Stats::from_groups`]), rendering, time, synthetic rows.
//! - [`sqlite`]: the SQLite backend ([`AuditStore::open_sqlite`],
//!   [`AuditStore::open_sqlite_read_only`]).
//! - [`postgres`]: the central record of a line of stations (read-only backend,
//!   [`AuditStore::open_postgres`]; schema and station roles; a station's
//!   [`postgres::CentralLink`] that forwards its chained rows).
//!
//! # Adding a backend
//!
//! Implement [`AuditBackend`] (a module next to `sqlite/`, with an `open_*` function on
//! [`AuditStore`] that wraps it with [`AuditStore::from_backend`]), map the database's
//! error codes to [`AuditError`] variants in that module, and run the contract tests with
//! a factory for it: `crates/audit/tests/sqlite_contract.rs` shows how (one
//! `contract_tests!` line plus a fixture that opens, reopens and tampers with a database).

pub mod anchor;
mod backend;
pub mod boot;
pub mod chain;
mod decode;
mod error;
mod forged;
pub mod forwarded;
mod integrity;
mod mac;
mod model;
mod options;
pub mod postgres;
mod query;
pub mod render;
mod serial;
pub mod sqlite;
mod stats;
mod store;
pub mod synthetic;
mod time;
pub mod verify;
mod zone;

pub use anchor::{parse_anchors, Anchor, AnchorParseError};
pub use backend::{AuditBackend, BoxFuture, StationChainReport};
pub use boot::BootRecord;
pub use chain::{ChainHead, GENESIS_HASH};
pub use error::{AuditError, BoxError, Result};
pub use forged::is_possibly_forged;
pub use integrity::IntegrityReport;
/// Time zones (`jiff`), re-exported so callers name the same type.
pub use jiff::tz::TimeZone;
pub use mac::{format_mac, normalize_mac};
pub use model::{
    AttemptId, AttemptResult, AttemptRow, ClosedRunning, Completion, Failure, Identity, NewAttempt, RegionSummary,
    SkippedRegion, StageTimings, UsbInfo, FORGED_RUNNING_REASON, INTERRUPTED_REASON,
};
pub use options::{Durability, StoreOptions};
pub use query::{AttemptFilter, ImageMatch};
pub use serial::{NvsRecord, ProvisionRecord, SerialAllocation, SerialSource};
pub use stats::{Counts, HourStats, LocalHourStats, LocalStats, SlotStats, Stats, StatsGroup, STATS_GROUP_MS};
pub use store::{AuditStore, MAX_STAGE_LEN, UNKNOWN_STAGE};
pub use synthetic::{insert_synthetic, SyntheticSpec, SyntheticSummary};
pub use time::Timestamp;
pub use verify::{ChainProblem, ChainReport, ChainRow, ChainWalker};
pub use zone::{from_jiff, station_zone, to_jiff, LocalTime};
