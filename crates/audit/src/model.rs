//! The records the store takes in and gives back.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::time::Timestamp;

/// The reason recorded for a row that was still `running` when the daemon started again.
pub const INTERRUPTED_REASON: &str = "daemon stopped before the job finished";

/// The reason recorded for a `running` row found at start-up that no daemon began: its id
/// is above the high-water mark the store records with every begun attempt, so it was
/// inserted while no daemon ran (see SECURITY.md, "Forged running rows").
pub const FORGED_RUNNING_REASON: &str =
    "running row not left by this daemon; possibly forged (inserted while no daemon ran)";

/// What [`crate::AuditStore::close_left_running`] closed at start-up.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ClosedRunning {
    /// Rows a daemon began and did not finish: closed with [`INTERRUPTED_REASON`].
    pub interrupted: Vec<AttemptId>,
    /// Rows no daemon began: closed with [`FORGED_RUNNING_REASON`].
    pub suspect: Vec<AttemptId>,
}

impl ClosedRunning {
    /// Rows closed, of both kinds.
    pub fn total(&self) -> u64 {
        (self.interrupted.len() + self.suspect.len()) as u64
    }
}

/// Primary key of an attempt row.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct AttemptId(pub i64);

impl fmt::Display for AttemptId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "#{}", self.0)
    }
}

/// Outcome of an attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AttemptResult {
    /// The job has started and not ended (or the daemon died; see `close_interrupted`).
    Running,
    /// Flashed and verified.
    Pass,
    /// A stage failed; `failure_stage`/`failure_reason` say which and why.
    Fail,
    /// The job never finished because the daemon stopped (crash, power loss, shutdown).
    Interrupted,
}

impl AttemptResult {
    /// The text stored in the `result` column.
    pub const fn as_str(self) -> &'static str {
        match self {
            AttemptResult::Running => "running",
            AttemptResult::Pass => "pass",
            AttemptResult::Fail => "fail",
            AttemptResult::Interrupted => "interrupted",
        }
    }

    /// All values, in display order.
    pub const ALL: [AttemptResult; 4] =
        [AttemptResult::Running, AttemptResult::Pass, AttemptResult::Fail, AttemptResult::Interrupted];
}

impl fmt::Display for AttemptResult {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for AttemptResult {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        AttemptResult::ALL
            .into_iter()
            .find(|r| r.as_str().eq_ignore_ascii_case(s.trim()))
            .ok_or_else(|| format!("'{s}' is not a result (running, pass, fail, interrupted)"))
    }
}

/// USB identity of the serial adapter the board was found on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UsbInfo {
    pub vid: u16,
    pub pid: u16,
    /// Many adapters (CH340) have no serial number.
    pub serial: Option<String>,
}

/// What is known when a job starts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewAttempt {
    pub station_id: String,
    /// Slot name from the station config (e.g. `A2`).
    pub slot: String,
    /// USB location or device node the board was found on.
    pub port: String,
    pub usb: Option<UsbInfo>,
    pub image_name: String,
    /// SHA-256 of the golden image, 64 hex digits (any case; stored lowercase).
    pub image_sha256: String,
    /// Defaults to now.
    pub started_at: Option<Timestamp>,
}

/// What the identify stage learns about the board.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    /// Any common spelling; stored as `AA:BB:CC:DD:EE:FF`.
    pub mac: String,
    pub chip: String,
    pub chip_revision: Option<String>,
    /// JEDEC flash id.
    pub flash_id: Option<u32>,
    /// Flash size in bytes.
    pub flash_size: Option<u64>,
}

/// Where and why an attempt failed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Failure {
    pub stage: String,
    pub reason: String,
}

/// A flash region that was not written (e.g. already identical, or excluded by config).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SkippedRegion {
    pub offset: u64,
    pub length: u64,
    pub reason: String,
}

/// What the write did to one image region, in bytes: written, erased without being written
/// (0xFF in the image, something else on the board), left alone as blank (0xFF on both) and
/// left alone as identical (the board already held the image's bytes).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RegionSummary {
    pub offset: u64,
    pub length: u64,
    pub written: u64,
    pub erased: u64,
    pub blank: u64,
    pub identical: u64,
}

/// Milliseconds spent in each stage, in the order the stages ran.
///
/// Stored as a JSON object (`{"connect":120,"identify":35,...}`) whose key order is the
/// order given here; it is kept on read, so what was hashed is what is shown.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StageTimings(pub Vec<(String, u64)>);

impl StageTimings {
    /// Empty timings.
    pub fn new() -> Self {
        StageTimings(Vec::new())
    }

    /// Appends a stage (builder style).
    pub fn with(mut self, stage: impl Into<String>, ms: u64) -> Self {
        self.0.push((stage.into(), ms));
        self
    }

    /// Milliseconds of `stage`, if it ran.
    pub fn get(&self, stage: &str) -> Option<u64> {
        self.0.iter().find(|(s, _)| s == stage).map(|(_, ms)| *ms)
    }

    /// Sum of all stages.
    pub fn total_ms(&self) -> u64 {
        self.0.iter().map(|(_, ms)| ms).sum()
    }
}

impl Serialize for StageTimings {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut m = s.serialize_map(Some(self.0.len()))?;
        for (k, v) in &self.0 {
            m.serialize_entry(k, v)?;
        }
        m.end()
    }
}

impl<'de> Deserialize<'de> for StageTimings {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = StageTimings;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an object of stage name to milliseconds")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<StageTimings, A::Error> {
                let mut v = Vec::new();
                while let Some((k, ms)) = map.next_entry::<String, u64>()? {
                    v.push((k, ms));
                }
                Ok(StageTimings(v))
            }
        }
        d.deserialize_map(V)
    }
}

/// What is known when a job ends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Completion {
    /// `Pass`, `Fail` or `Interrupted`; never `Running`.
    pub result: AttemptResult,
    /// Required for `Fail` and `Interrupted`, refused for `Pass`.
    pub failure: Option<Failure>,
    pub bytes_written: u64,
    /// How the written image was checked (e.g. `md5`, `readback`), if it was.
    pub verify_method: Option<String>,
    pub stage_timings: StageTimings,
    pub skipped_regions: Vec<SkippedRegion>,
    /// Per image region, what the write did (empty when it did not get that far).
    pub regions: Vec<RegionSummary>,
    /// The post-flash boot check, when one ran (column `boot`).
    pub boot: Option<crate::boot::BootRecord>,
    /// Defaults to now.
    pub ended_at: Option<Timestamp>,
}

impl Completion {
    /// A passed attempt.
    pub fn pass(bytes_written: u64, verify_method: impl Into<String>) -> Self {
        Completion {
            result: AttemptResult::Pass,
            failure: None,
            bytes_written,
            verify_method: Some(verify_method.into()),
            stage_timings: StageTimings::new(),
            skipped_regions: Vec::new(),
            regions: Vec::new(),
            boot: None,
            ended_at: None,
        }
    }

    /// A failed attempt.
    pub fn fail(stage: impl Into<String>, reason: impl Into<String>) -> Self {
        Completion {
            result: AttemptResult::Fail,
            failure: Some(Failure { stage: stage.into(), reason: reason.into() }),
            bytes_written: 0,
            verify_method: None,
            stage_timings: StageTimings::new(),
            skipped_regions: Vec::new(),
            regions: Vec::new(),
            boot: None,
            ended_at: None,
        }
    }

    /// Sets the per-stage timings (builder style).
    pub fn with_timings(mut self, timings: StageTimings) -> Self {
        self.stage_timings = timings;
        self
    }

    /// Sets the end time (builder style).
    pub fn ended_at(mut self, t: Timestamp) -> Self {
        self.ended_at = Some(t);
        self
    }

    /// Sets the bytes written (builder style).
    pub fn with_bytes_written(mut self, n: u64) -> Self {
        self.bytes_written = n;
        self
    }

    /// Sets the per-region summary (builder style).
    pub fn with_regions(mut self, regions: Vec<RegionSummary>) -> Self {
        self.regions = regions;
        self
    }

    /// Adds a skipped region (builder style).
    pub fn with_skipped(mut self, region: SkippedRegion) -> Self {
        self.skipped_regions.push(region);
        self
    }

    pub(crate) fn validate(&self) -> Result<(), String> {
        match (self.result, &self.failure) {
            (AttemptResult::Running, _) => Err("an attempt cannot be completed as 'running'".into()),
            (AttemptResult::Pass, Some(f)) => {
                Err(format!("a passed attempt cannot carry a failure ({}: {})", f.stage, f.reason))
            }
            (AttemptResult::Fail | AttemptResult::Interrupted, None) => {
                Err(format!("a '{}' attempt needs a failure stage and reason", self.result))
            }
            (_, Some(f)) if f.stage.trim().is_empty() || f.reason.trim().is_empty() => {
                Err("failure stage and reason must not be empty".into())
            }
            _ => check_stage_names(&self.stage_timings),
        }
    }
}

fn check_stage_names(t: &StageTimings) -> Result<(), String> {
    for (i, (stage, _)) in t.0.iter().enumerate() {
        if t.0[..i].iter().any(|(s, _)| s == stage) {
            return Err(format!("stage '{stage}' appears twice in the stage timings"));
        }
    }
    Ok(())
}

/// One attempt as stored; serialises with RFC 3339 times and nested JSON for timings and
/// skipped regions.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AttemptRow {
    pub id: AttemptId,
    pub started_at: Timestamp,
    pub ended_at: Option<Timestamp>,
    pub station_id: String,
    pub slot: String,
    pub port: String,
    pub usb_vid: Option<u16>,
    pub usb_pid: Option<u16>,
    pub usb_serial: Option<String>,
    pub chip: Option<String>,
    pub chip_revision: Option<String>,
    pub mac: Option<String>,
    pub flash_id: Option<u32>,
    pub flash_size: Option<u64>,
    pub image_name: String,
    pub image_sha256: String,
    pub result: AttemptResult,
    pub failure_stage: Option<String>,
    pub failure_reason: Option<String>,
    pub bytes_written: u64,
    pub verify_method: Option<String>,
    pub rework: bool,
    pub rework_of: Option<AttemptId>,
    pub skipped_regions: Vec<SkippedRegion>,
    pub stage_timings: StageTimings,
    /// Position in the hash chain (completion order); `None` while running.
    pub seq: Option<i64>,
    pub prev_hash: Option<String>,
    pub row_hash: Option<String>,
    /// The stage a `running` attempt is in (see [`crate::AuditStore::set_stage`]); `None`
    /// before the first stage and on every completed row. Not hashed.
    pub current_stage: Option<String>,
    /// Per image region, what the write did ([`RegionSummary`]). Not hashed (the same
    /// facts are in the reasons of `skipped_regions`, which are).
    pub region_summary: Vec<RegionSummary>,
    /// The post-flash boot check ([`crate::BootRecord`]), when one ran. Not hashed in
    /// chain version 1.
    pub boot: Option<crate::boot::BootRecord>,
    /// The board's serial number as printed (`[provision] serial`); hashed (chain v2).
    pub serial: Option<String>,
    /// What provisioning wrote (NVS offset, size, SHA-256); hashed (chain v2).
    pub provision: Option<crate::serial::ProvisionRecord>,
}

impl AttemptRow {
    /// Wall time from start to end, if ended.
    pub fn duration_ms(&self) -> Option<i64> {
        self.ended_at.map(|e| e.as_unix_ms() - self.started_at.as_unix_ms())
    }
}

/// Validates and lowercases an image SHA-256.
pub(crate) fn normalize_sha256(s: &str) -> Result<String, String> {
    let t = s.trim();
    if t.len() != 64 || !t.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(format!("image SHA-256 '{s}' must be 64 hex digits"));
    }
    Ok(t.to_ascii_lowercase())
}
