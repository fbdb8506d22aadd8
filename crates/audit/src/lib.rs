//! flashline's audit store: one tamper-evident row per programming attempt, in SQLite.
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
//! [`AuditError::DiskFull`], [`AuditError::Corrupt`], [`AuditError::Io`]) so the daemon can
//! stop starting jobs, say why, and carry on when the fault clears.
//!
//! Times are UTC milliseconds since the Unix epoch in the database ([`Timestamp`]) and
//! RFC 3339 text in every rendered output ([`render`]).

pub mod chain;
mod error;
mod mac;
mod model;
mod options;
mod query;
pub mod render;
mod schema;
mod stats;
mod store;
pub mod synthetic;
mod time;
mod verify;

pub use chain::{ChainHead, GENESIS_HASH};
pub use error::{AuditError, Result};
pub use mac::{format_mac, normalize_mac};
pub use model::{
    AttemptId, AttemptResult, AttemptRow, Completion, Failure, Identity, NewAttempt, SkippedRegion, StageTimings,
    UsbInfo, INTERRUPTED_REASON,
};
pub use options::{Durability, StoreOptions};
pub use query::AttemptFilter;
pub use stats::{Counts, HourStats, SlotStats, Stats};
pub use store::{AuditStore, IntegrityReport, MAX_STAGE_LEN, UNKNOWN_STAGE};
pub use synthetic::{insert_synthetic, SyntheticSpec, SyntheticSummary};
pub use time::Timestamp;
pub use verify::{ChainProblem, ChainReport};
