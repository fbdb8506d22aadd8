//! The hash chain over completed rows: canonical encoding, hashing, and sealing a row.
//!
//! # Definition (version 1)
//!
//! Completed rows are ordered by `seq`, assigned 1, 2, 3, ... in the same transaction that
//! completes the row, so the chain follows completion order (parallel jobs finish out of
//! start order; that is fine). The table `chain_head` holds the last `seq` and hash.
//!
//! `row_hash = hex(SHA-256(DOMAIN || enc(c_1) || ... || enc(c_n)))` over the columns
//! [`CHAIN_COLUMNS`] in that order, where `prev_hash` (the last column) is the `row_hash`
//! of the row with the previous `seq`, or 64 zeros for `seq = 1`. Each value is encoded
//! by its SQLite storage class, so the encoding is injective and independent of Rust types:
//!
//! | class   | encoding                                       |
//! |---------|------------------------------------------------|
//! | NULL    | `0x00`                                         |
//! | INTEGER | `0x01` + 8 bytes big-endian two's complement   |
//! | TEXT    | `0x02` + 4 bytes big-endian length + UTF-8     |
//! | REAL    | `0x03` + 8 bytes big-endian IEEE 754 bits      |
//! | BLOB    | `0x04` + 4 bytes big-endian length + bytes     |
//!
//! `seq` itself is not hashed: the order is bound by the `prev_hash` links, and leaving
//! it out lets the verifier name the one row that was slipped into the chain instead of
//! flagging every renumbered row after it. Hashes are stored as lowercase hex text so they
//! can be read and compared in any SQLite shell.
//!
//! Anyone with write access to the file can recompute the whole chain; what the chain
//! proves is that nothing was changed *through any path but this store* since a known
//! head. Exporting [`ChainHead`] now and then (log line, printed report) pins it.
//!
//! # Version 2
//!
//! Rows completed by this version of flashline are chain version 2 (`chain_version = 2`;
//! rows of version 1 have it NULL). Their hash is taken with the domain
//! `flashline-audit-chain-v2\n` over the version 1 columns in the same order
//! (`prev_hash` included) followed by [`CHAIN_COLUMNS_V2`] (`serial`, `provision`, ...),
//! encoded the same way. `chain_version` itself is not an input: the domain binds it, so a
//! version changed by hand no longer verifies either way. A version 1 row must hold NULL
//! in every version 2 column: a serial slipped into an old row is an edit like any other.
//! Old rows keep verifying unchanged; a chain may hold both versions (v1 rows first).
//!
//! [`CHAIN_COLUMNS`] is everything the backends read for a chained row: the version 1
//! columns, `chain_version`, then the version 2 columns. A new hashed column of version 2
//! is one more line at the end of [`CHAIN_COLUMNS`] (and its central type, see
//! `postgres/rows.rs`), before any row of it is released.
//!
//! This module is pure: every backend hashes with it, so a chain written by one backend
//! verifies in another. A backend reads each stored value with its storage class into a
//! [`Value`] (a database without storage classes maps its column types to them) and
//! persists the head; walking the chain is [`crate::verify`].

use serde::Serialize;
use sha2::{Digest, Sha256};

/// Domain separation: a hash of this chain can never collide with any other use of SHA-256.
const DOMAIN: &[u8] = b"flashline-audit-chain-v1\n";
/// The domain of version 2 rows.
const DOMAIN_V2: &[u8] = b"flashline-audit-chain-v2\n";

/// The chain version rows written now carry.
pub const CHAIN_VERSION: i64 = 2;

/// `prev_hash` of the first row.
pub const GENESIS_HASH: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// The chained columns as read and forwarded, in hashing order: the version 1 columns
/// (through `prev_hash`), `chain_version` (not hashed, it picks the version), then the
/// version 2 columns. Everything in the row except `seq`, `row_hash` and the unhashed
/// live columns (`current_stage`, `region_summary`).
pub const CHAIN_COLUMNS: &[&str] = &[
    "id",
    "started_at_ms",
    "ended_at_ms",
    "station_id",
    "slot",
    "port",
    "usb_vid",
    "usb_pid",
    "usb_serial",
    "chip",
    "chip_revision",
    "mac",
    "flash_id",
    "flash_size",
    "image_name",
    "image_sha256",
    "result",
    "failure_stage",
    "failure_reason",
    "bytes_written",
    "verify_method",
    "rework",
    "rework_of",
    "skipped_regions",
    "stage_timings",
    "prev_hash",
    "chain_version",
    // Version 2: append new hashed columns here (one line each).
    "serial",
    "provision",
    "boot",
];

/// Index of `prev_hash` in [`CHAIN_COLUMNS`]: the version 1 columns are `..=PREV_HASH_INDEX`.
pub const PREV_HASH_INDEX: usize = 25;

/// Index of `chain_version` in [`CHAIN_COLUMNS`].
pub const VERSION_INDEX: usize = PREV_HASH_INDEX + 1;

/// The version 2 columns (hashed after the version 1 ones).
pub const CHAIN_COLUMNS_V2: &[&str] = CHAIN_COLUMNS.split_at(VERSION_INDEX + 1).1;

/// A column value by storage class (the SQLite classes, which every backend maps to).
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Null,
    Int(i64),
    Text(String),
    Real(f64),
    Blob(Vec<u8>),
}

impl Value {
    /// `Int`, or `Null` for `None`.
    pub fn opt_int(v: Option<i64>) -> Value {
        v.map_or(Value::Null, Value::Int)
    }

    /// `Text`, or `Null` for `None`.
    pub fn opt_text(v: Option<&str>) -> Value {
        v.map_or(Value::Null, |s| Value::Text(s.to_owned()))
    }

    /// The text of a `Text` value.
    pub fn as_text(&self) -> Option<&str> {
        match self {
            Value::Text(s) => Some(s),
            _ => None,
        }
    }

    fn encode(&self, out: &mut Vec<u8>) {
        match self {
            Value::Null => out.push(0),
            Value::Int(i) => {
                out.push(1);
                out.extend_from_slice(&i.to_be_bytes());
            }
            Value::Text(s) => {
                out.push(2);
                out.extend_from_slice(&(s.len() as u32).to_be_bytes());
                out.extend_from_slice(s.as_bytes());
            }
            Value::Real(f) => {
                out.push(3);
                out.extend_from_slice(&f.to_bits().to_be_bytes());
            }
            Value::Blob(b) => {
                out.push(4);
                out.extend_from_slice(&(b.len() as u32).to_be_bytes());
                out.extend_from_slice(b);
            }
        }
    }
}

/// The chain hash of a row given its [`CHAIN_COLUMNS`] values (including `prev_hash` and
/// `chain_version`), by the version the row names. `None` for a row no version can hash:
/// an unknown `chain_version`, or a version 1 row with a value in a version 2 column.
pub fn row_hash(values: &[Value]) -> Option<String> {
    debug_assert_eq!(values.len(), CHAIN_COLUMNS.len());
    let (v1, rest) = values.split_at(VERSION_INDEX);
    let (version, v2) = rest.split_first()?;
    let mut buf = Vec::with_capacity(512);
    match version {
        Value::Null | Value::Int(1) => {
            if v2.iter().any(|v| *v != Value::Null) {
                return None;
            }
            buf.extend_from_slice(DOMAIN);
            v1.iter().for_each(|v| v.encode(&mut buf));
        }
        Value::Int(2) => {
            buf.extend_from_slice(DOMAIN_V2);
            v1.iter().chain(v2).for_each(|v| v.encode(&mut buf));
        }
        _ => return None,
    }
    Some(hex::encode(Sha256::digest(&buf)))
}

/// The end of the chain as recorded in `chain_head`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ChainHead {
    /// `seq` of the newest completed row (0 when none).
    pub last_seq: i64,
    /// Its `row_hash` ([`GENESIS_HASH`] when none).
    pub last_hash: String,
    pub last_attempt_id: Option<i64>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Vec<Value> {
        let mut v: Vec<Value> = (0..CHAIN_COLUMNS.len()).map(|i| Value::Int(i as i64)).collect();
        v[3] = Value::Text("station".into());
        v[PREV_HASH_INDEX] = Value::Text(GENESIS_HASH.into());
        v[VERSION_INDEX] = Value::Int(CHAIN_VERSION);
        v
    }

    fn v1_sample() -> Vec<Value> {
        let mut v = sample();
        v[VERSION_INDEX] = Value::Null;
        v[VERSION_INDEX + 1..].iter_mut().for_each(|x| *x = Value::Null);
        v
    }

    #[test]
    fn hash_is_stable_and_sensitive_to_every_column() {
        let base = sample();
        let h = row_hash(&base).unwrap();
        assert_eq!(h.len(), 64);
        assert_eq!(Some(&h), row_hash(&sample()).as_ref());
        for i in 0..base.len() {
            let mut changed = base.clone();
            changed[i] = Value::Null;
            assert_ne!(row_hash(&changed).as_ref(), Some(&h), "column {} not covered", CHAIN_COLUMNS[i]);
        }
    }

    /// Version 1 rows hash exactly as before version 2 existed (the domain and the 26
    /// columns), whatever `chain_version` spelling (NULL or 1) they carry.
    #[test]
    fn version_1_rows_hash_as_before() {
        let v = v1_sample();
        let mut buf = DOMAIN.to_vec();
        v[..VERSION_INDEX].iter().for_each(|x| x.encode(&mut buf));
        let expected = hex::encode(Sha256::digest(&buf));
        assert_eq!(row_hash(&v).as_deref(), Some(expected.as_str()));
        let mut one = v.clone();
        one[VERSION_INDEX] = Value::Int(1);
        assert_eq!(row_hash(&one).as_deref(), Some(expected.as_str()));
    }

    /// A version 2 column in a version 1 row, an unknown version, or the version changed
    /// by hand: no hash matches the stored one any more.
    #[test]
    fn versions_do_not_mix() {
        let mut v1 = v1_sample();
        v1[VERSION_INDEX + 1] = Value::Text("FL-000001".into());
        assert_eq!(row_hash(&v1), None);
        let mut v9 = sample();
        v9[VERSION_INDEX] = Value::Int(9);
        assert_eq!(row_hash(&v9), None);
        let v2 = v1_sample();
        let mut as_v2 = v2.clone();
        as_v2[VERSION_INDEX] = Value::Int(2);
        assert_ne!(row_hash(&v2), row_hash(&as_v2));
        assert_eq!(CHAIN_COLUMNS_V2[..2], ["serial", "provision"]);
    }

    #[test]
    fn storage_class_is_part_of_the_encoding() {
        let mut a = sample();
        let mut b = sample();
        a[4] = Value::Int(1);
        b[4] = Value::Text("1".into());
        assert_ne!(row_hash(&a), row_hash(&b));
        // Length prefixes keep ("ab","c") and ("a","bc") apart.
        a[3] = Value::Text("ab".into());
        a[4] = Value::Text("c".into());
        b[3] = Value::Text("a".into());
        b[4] = Value::Text("bc".into());
        assert_ne!(row_hash(&a), row_hash(&b));
    }
}
