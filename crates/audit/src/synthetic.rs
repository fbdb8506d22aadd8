//! Deterministic synthetic attempts for benchmarks and load tests.
//!
//! Rows are generated from a seed (same seed, same rows), already completed and chained,
//! by [`SyntheticRows`]; a backend inserts them in bulk, in transactions of
//! [`SyntheticSpec::batch`] rows (SQLite: multi-row `INSERT`s), so a million rows take
//! seconds, not the hours one-by-one commits would. The result is a database that
//! [`crate::AuditStore::verify_chain`] accepts.
//!
//! Rework flags are computed among the rows of one call: use a database of its own.

use std::collections::{HashMap, VecDeque};

use serde::Serialize;

use crate::chain::Value;
use crate::error::Result;
use crate::mac::format_mac;
use crate::model::{AttemptId, AttemptResult, SkippedRegion, StageTimings};
use crate::store::AuditStore;
use crate::time::Timestamp;

/// What to generate.
#[derive(Debug, Clone)]
pub struct SyntheticSpec {
    pub count: u64,
    pub seed: u64,
    /// Start time of the first row; rows follow every `spacing_ms` (with jitter).
    pub start: Timestamp,
    pub spacing_ms: i64,
    /// Slots `A1`, `A2`, `A3`, `A4`, `B1`, ...; rows go round-robin.
    pub slots: u32,
    pub fail_per_mille: u32,
    pub interrupted_per_mille: u32,
    /// Share of rows that put an earlier row's board on the line again.
    pub rework_per_mille: u32,
    pub station_id: String,
    /// Rows per transaction.
    pub batch: usize,
}

impl SyntheticSpec {
    /// 16 slots, one board every 2.5 s (so 1,000,000 rows span about 29 days, ~35,000 a
    /// day), 3 % fail, 0.2 % interrupted, 2 % rework, starting 2026-01-01T00:00:00Z.
    pub fn new(count: u64, seed: u64) -> Self {
        SyntheticSpec {
            count,
            seed,
            start: Timestamp::from_unix_ms(1_767_225_600_000),
            spacing_ms: 2_500,
            slots: 16,
            fail_per_mille: 30,
            interrupted_per_mille: 2,
            rework_per_mille: 20,
            station_id: "synthetic".into(),
            batch: 10_000,
        }
    }
}

/// What [`insert_synthetic`] inserted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SyntheticSummary {
    pub inserted: u64,
    pub first_id: Option<AttemptId>,
    pub last_id: Option<AttemptId>,
    pub first_started: Option<Timestamp>,
    pub last_started: Option<Timestamp>,
}

/// Inserts `n` synthetic completed attempts generated from `seed` with the defaults of
/// [`SyntheticSpec::new`].
pub async fn insert_synthetic(store: &AuditStore, n: u64, seed: u64) -> Result<SyntheticSummary> {
    insert_synthetic_with(store, &SyntheticSpec::new(n, seed)).await
}

/// The MAC that row `i` (0-based) of seed `seed` gets unless it is a rework row. Distinct
/// for distinct `i` below 2^24; never a real vendor MAC (locally administered bit set).
pub fn synthetic_mac(seed: u64, i: u64) -> String {
    let prefix = splitmix64(seed ^ 0x5eed_0fac) as u32;
    // Odd multiplier: a bijection on 24 bits.
    let low = (i.wrapping_mul(0x9E_37_79) ^ (prefix as u64 >> 8)) as u32 & 0x00FF_FFFF;
    let b = prefix.to_be_bytes();
    let l = low.to_be_bytes();
    format_mac([(b[0] | 0x02) & 0xFE, b[1], b[2], l[1], l[2], l[3]])
}

/// Inserts synthetic rows as described by `spec`.
pub async fn insert_synthetic_with(store: &AuditStore, spec: &SyntheticSpec) -> Result<SyntheticSummary> {
    store.insert_synthetic(spec).await
}

const STAGES: [&str; 7] = ["connect", "identify", "stub", "erase", "write", "verify", "reset"];
const REASONS: [&str; 5] = [
    "timeout waiting for \"SYNC\" response, retried 3 times",
    "MD5 mismatch at 0x10000: expected 9e107d9d372bb6826bd81d3542a419d6, got 00000000",
    "serial port vanished (board unplugged?)",
    "flash id 0xffffff: no flash chip, or a bad solder joint",
    "chip said: \"invalid command\", status 0x05",
];

/// The rows of a [`SyntheticSpec`], one after the other. Cloning keeps the position, so a
/// backend that retries a batch can generate it again from a copy.
#[derive(Debug, Clone)]
pub struct SyntheticRows {
    spec_seed: u64,
    start: i64,
    spacing: i64,
    slots: u32,
    fail: u32,
    interrupted: u32,
    rework: u32,
    station: String,
    i: u64,
    recent: VecDeque<u64>,
    first_seen: HashMap<u64, i64>,
    last_started: Option<Timestamp>,
    image_sha: String,
}

impl SyntheticRows {
    /// The rows of `spec`, from the first.
    pub fn new(spec: &SyntheticSpec) -> Self {
        SyntheticRows {
            spec_seed: spec.seed,
            start: spec.start.as_unix_ms(),
            spacing: spec.spacing_ms.max(1),
            slots: spec.slots.max(1),
            fail: spec.fail_per_mille,
            interrupted: spec.interrupted_per_mille,
            rework: spec.rework_per_mille,
            station: spec.station_id.clone(),
            i: 0,
            recent: VecDeque::new(),
            first_seen: HashMap::new(),
            last_started: None,
            image_sha: hex::encode(splitmix64(spec.seed).to_be_bytes()).repeat(4),
        }
    }

    /// Start time of the last row generated.
    pub fn last_started(&self) -> Option<Timestamp> {
        self.last_started
    }

    /// The [`crate::chain::CHAIN_COLUMNS`] values of the next row, which gets the attempt id `id` (ids
    /// must grow). `prev_hash` is left `Null` for the caller, who chains the row.
    pub fn next_row(&mut self, id: i64) -> Vec<Value> {
        let i = self.i;
        self.i += 1;
        let mut rng = Rng(splitmix64(self.spec_seed ^ i.wrapping_mul(0xA076_1D64_78BD_642F)));
        let started = self.start + i as i64 * self.spacing + rng.below(self.spacing as u64 / 2 + 1) as i64;
        self.last_started = Some(Timestamp::from_unix_ms(started));
        let k = (i % u64::from(self.slots)) as u32;
        let slot = format!("{}{}", char::from(b'A' + (k / 4 % 26) as u8), k % 4 + 1);

        // Board identity: a new board, or one seen in the last 50 rows put back on the line.
        let mut mac_index = i;
        if rng.below(1000) < u64::from(self.rework) && !self.recent.is_empty() {
            mac_index = self.recent[rng.below(self.recent.len() as u64) as usize];
        }
        self.recent.push_back(mac_index);
        if self.recent.len() > 50 {
            self.recent.pop_front();
        }

        let roll = rng.below(1000) as u32;
        let result = if roll < self.interrupted {
            AttemptResult::Interrupted
        } else if roll < self.interrupted + self.fail {
            AttemptResult::Fail
        } else {
            AttemptResult::Pass
        };
        let failed_at = match result {
            AttemptResult::Pass => STAGES.len(),
            _ => rng.below(STAGES.len() as u64) as usize,
        };
        let base = [600u64, 40, 150, 2000, 11000, 900, 80];
        let mut timings = StageTimings::new();
        for (&stage, &ms) in STAGES.iter().zip(&base).take((failed_at + 1).min(STAGES.len())) {
            timings = timings.with(stage, ms / 2 + rng.below(ms));
        }
        let duration = timings.total_ms() as i64;
        let flash_size: i64 = if k.is_multiple_of(2) { 4 << 20 } else { 8 << 20 };
        let identified = failed_at > 1;
        // Rework means an earlier row carries this MAC, so only identified rows count.
        let rework_of = if identified { self.first_seen.get(&mac_index).copied() } else { None };
        if identified {
            self.first_seen.entry(mac_index).or_insert(id);
        }
        let written = match result {
            AttemptResult::Pass => 1_048_576,
            _ if failed_at > 4 => 1_048_576,
            _ if failed_at == 4 => rng.below(1_048_576) as i64,
            _ => 0,
        };
        let skipped: Vec<SkippedRegion> = if rng.below(10) == 0 {
            vec![SkippedRegion { offset: 0x9000, length: 0x6000, reason: "nvs preserved".into() }]
        } else {
            Vec::new()
        };
        let (stage, reason) = match result {
            AttemptResult::Pass => (None, None),
            AttemptResult::Interrupted => (Some("unknown"), Some(crate::model::INTERRUPTED_REASON)),
            _ => (Some(STAGES[failed_at]), Some(REASONS[rng.below(REASONS.len() as u64) as usize])),
        };
        let mac = identified.then(|| synthetic_mac(self.spec_seed, mac_index));

        let mut values = vec![
            Value::Int(id),
            Value::Int(started),
            Value::Int(started + duration),
            Value::Text(self.station.clone()),
            Value::Text(slot),
            Value::Text(format!("1-{}.{}", k / 4 + 1, k % 4 + 1)),
            Value::Int(0x1a86),
            Value::Int(0x7523),
            Value::Null,
            Value::opt_text(identified.then_some("ESP32-C3")),
            Value::opt_text(identified.then_some("v0.4")),
            Value::opt_text(mac.as_deref()),
            Value::opt_int(identified.then_some(0x16_40_c8)),
            Value::opt_int(identified.then_some(flash_size)),
            Value::Text("golden-synthetic.bin".into()),
            Value::Text(self.image_sha.clone()),
            Value::Text(result.as_str().into()),
            Value::opt_text(stage),
            Value::opt_text(reason),
            Value::Int(written),
            Value::opt_text((failed_at > 5).then_some("md5")),
            Value::Int(i64::from(rework_of.is_some())),
            Value::opt_int(rework_of),
            Value::Text(serde_json::to_string(&skipped).expect("serialise")),
            Value::Text(serde_json::to_string(&timings).expect("serialise")),
            Value::Null, // prev_hash, set by the caller
            Value::Int(crate::chain::CHAIN_VERSION),
        ];
        // No serial, no provisioning: the version 2 columns are NULL.
        values.resize(crate::chain::CHAIN_COLUMNS.len(), Value::Null);
        values
    }
}

/// SplitMix64: tiny, fast, and stable across crate versions (a benchmark seed must keep
/// producing the same rows).
fn splitmix64(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^ (x >> 31)
}

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = splitmix64(self.0);
        self.0
    }

    fn below(&mut self, n: u64) -> u64 {
        if n == 0 {
            0
        } else {
            self.next() % n
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn synthetic_macs_are_distinct_and_locally_administered() {
        let macs: std::collections::HashSet<String> = (0..100_000).map(|i| synthetic_mac(7, i)).collect();
        assert_eq!(macs.len(), 100_000);
        let first = synthetic_mac(7, 0);
        let b0 = u8::from_str_radix(&first[..2], 16).unwrap();
        assert_eq!(b0 & 0x03, 0x02);
    }
}
