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
//! This module is pure: every backend hashes with it, so a chain written by one backend
//! verifies in another. A backend reads each stored value with its storage class into a
//! [`Value`] (a database without storage classes maps its column types to them) and
//! persists the head; walking the chain is [`crate::verify`].

use serde::Serialize;
use sha2::{Digest, Sha256};

/// Domain separation: a hash of this chain can never collide with any other use of SHA-256.
const DOMAIN: &[u8] = b"flashline-audit-chain-v1\n";

/// `prev_hash` of the first row.
pub const GENESIS_HASH: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// The hashed columns, in hashing order. Everything in the row except `seq` and `row_hash`.
pub const CHAIN_COLUMNS: [&str; 26] = [
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
];

/// Index of `prev_hash` in [`CHAIN_COLUMNS`].
pub const PREV_HASH_INDEX: usize = 25;

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

/// The chain hash of a row given its [`CHAIN_COLUMNS`] values (including `prev_hash`).
pub fn row_hash(values: &[Value]) -> String {
    debug_assert_eq!(values.len(), CHAIN_COLUMNS.len());
    let mut buf = Vec::with_capacity(512);
    buf.extend_from_slice(DOMAIN);
    for v in values {
        v.encode(&mut buf);
    }
    hex::encode(Sha256::digest(&buf))
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
        v
    }

    #[test]
    fn hash_is_stable_and_sensitive_to_every_column() {
        let base = sample();
        let h = row_hash(&base);
        assert_eq!(h.len(), 64);
        assert_eq!(h, row_hash(&sample()));
        for i in 0..base.len() {
            let mut changed = base.clone();
            changed[i] = Value::Null;
            assert_ne!(row_hash(&changed), h, "column {} not covered", CHAIN_COLUMNS[i]);
        }
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
