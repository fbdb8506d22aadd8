//! Serial numbers per MAC and what a provisioned attempt records: the types the store
//! takes and gives back for `[provision]`.
//!
//! # The rule
//!
//! A MAC gets one number, for good: the first attempt that reaches identify with
//! provisioning on allocates it, in the same transaction that looks the MAC up, and every
//! later attempt of that MAC (re-flash, rework) gets the same number back. Numbers are
//! never handed out twice. Where they come from:
//!
//! - [`SerialSource::Local`]: a station without `[central]` counts on its own, from the
//!   configured start: the next number is one past the highest it ever allocated.
//! - [`SerialSource::Leased`]: a station with `[central]` takes numbers only from blocks
//!   it leased from the central record ([`SqliteBackend`](crate::sqlite::SqliteBackend)
//!   table `serial_leases`, filled by [`crate::AuditStore::add_serial_lease`]); the
//!   central record hands every block out once, so two stations never share a number,
//!   and the station keeps allocating from what it holds while the central record is
//!   down. A MAC the central record already knows (flashed at another station) is
//!   adopted with its number ([`crate::AuditStore::adopt_serial`]) when the central record
//!   answers.
//!
//! Gaps: a number is spent when it is allocated, not when the board passes, so an
//! attempt that fails or is aborted after identify still owns its number (the board keeps
//! it when it comes back); the unused rest of a block leased by a station that is retired
//! or whose log is replaced is never handed out. Nothing else leaves a gap.

use serde::{Deserialize, Serialize};

/// Where a station's new serial numbers come from (see the module docs).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SerialSource {
    /// Its own counter, from `start` on.
    Local { start: u64 },
    /// Blocks leased from the central record.
    Leased,
}

/// A MAC's serial number and whether it was given just now.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct SerialAllocation {
    pub number: u64,
    /// False: the MAC already had this number (re-flash, or adopted from the central record).
    pub new: bool,
}

/// What provisioning wrote to a board, as the row's `provision` column holds it (JSON):
/// where its NVS partition went and the SHA-256 of the partition, never the values.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProvisionRecord {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nvs: Option<NvsRecord>,
}

/// The per-device NVS partition of an attempt.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NvsRecord {
    pub offset: u64,
    pub size: u64,
    /// SHA-256 of the whole partition as written, lowercase hex.
    pub sha256: String,
}

impl ProvisionRecord {
    /// The column's text: compact JSON, keys in declaration order (what is hashed).
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("provision record serialises")
    }
}
