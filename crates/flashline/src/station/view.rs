//! What the station looks like right now: one [`SlotView`] per slot plus running totals.
//!
//! The dispatcher is the only writer; reporters (live view, logs, the demo summary) read
//! snapshots. Keeping this a plain value makes every reporter a pure function of it.

use std::time::{Duration, Instant};

use flashline_audit::BootRecord;
use flashline_session::Stage;

/// Where a slot is in its life cycle.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SlotPhase {
    /// A board is plugged and waits for a free job place (or for the audit store).
    Queued,
    /// A job is working on the board.
    Running,
    /// Flashed and verified; the board may be unplugged.
    Pass,
    /// The job failed; `stage` and `reason` say why.
    Fail { stage: String, reason: String },
    /// The board was removed (after its result, or before it started).
    Empty,
}

impl SlotPhase {
    pub fn is_active(&self) -> bool {
        matches!(self, SlotPhase::Queued | SlotPhase::Running)
    }
}

/// One slot (hub port) as the operator sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SlotView {
    /// Name from `[slots]`, or the USB path when unmapped.
    pub name: String,
    /// USB topology path (the slot's identity).
    pub usb_path: String,
    /// Port the board is on (`/dev/ttyUSB3`).
    pub port: String,
    pub phase: SlotPhase,
    /// Current stage while running.
    pub stage: Option<Stage>,
    /// Bytes done / total of the current stage (0/0 when it has no byte count).
    pub done: u64,
    pub total: u64,
    /// Chip description, once identified.
    pub chip: Option<String>,
    pub mac: Option<String>,
    /// The board's serial number (`[provision] serial`), once allocated.
    pub serial: Option<String>,
    /// The last attempt's boot check (`[boot]`), once it ended.
    pub boot: Option<BootRecord>,
    /// This MAC was flashed before (rework).
    pub rework: bool,
    /// When the current attempt started.
    pub started: Option<Instant>,
    /// How long the last finished attempt took.
    pub took: Option<Duration>,
    /// Attempts on this slot since the daemon started.
    pub attempts: u32,
}

impl SlotView {
    pub fn new(name: String, usb_path: String, port: String) -> SlotView {
        SlotView {
            name,
            usb_path,
            port,
            phase: SlotPhase::Queued,
            stage: None,
            done: 0,
            total: 0,
            chip: None,
            mac: None,
            serial: None,
            boot: None,
            rework: false,
            started: None,
            took: None,
            attempts: 0,
        }
    }

    /// Fraction of the current stage done, if it has a byte count.
    pub fn fraction(&self) -> Option<f64> {
        (self.total > 0).then(|| (self.done as f64 / self.total as f64).clamp(0.0, 1.0))
    }
}

/// Counts since the daemon started.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Totals {
    pub pass: u32,
    pub fail: u32,
    pub running: u32,
    pub queued: u32,
    pub rework: u32,
}

impl Totals {
    /// Passes over finished attempts, in percent.
    pub fn yield_percent(&self) -> Option<f64> {
        let done = self.pass + self.fail;
        (done > 0).then(|| 100.0 * self.pass as f64 / done as f64)
    }
}

/// A station-wide condition the operator must see (the audit store is full, say).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notice {
    pub text: String,
    /// True while new jobs are held back because of it.
    pub blocking: bool,
}

/// One golden image the station flashes, as outputs name it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageInfo {
    /// The chip family it is for (`esp32s3`); `None` for an image that takes any chip (a
    /// one-off flash without one).
    pub chip: Option<String>,
    pub name: String,
    pub sha256: String,
}

impl ImageInfo {
    /// The images of a station, in chip order.
    pub fn of_set(set: &super::GoldenSet) -> Vec<ImageInfo> {
        set.iter()
            .map(|g| ImageInfo {
                chip: g.chip.map(|c| c.file_name().to_string()),
                name: g.name.clone(),
                sha256: g.sha256_hex(),
            })
            .collect()
    }
}

/// The whole station.
#[derive(Debug, Clone, PartialEq)]
pub struct StationView {
    pub station: String,
    /// The golden images new jobs flash, one per chip family, in chip order.
    pub images: Vec<ImageInfo>,
    /// Slots in a stable order (by name).
    pub slots: Vec<SlotView>,
    pub totals: Totals,
    pub notice: Option<Notice>,
    pub started: Instant,
    /// Forwarding to the central audit record (`[central]`): backlog and state.
    pub central: Option<super::forward::ForwardStatus>,
}

impl StationView {
    pub fn new(station: String, images: Vec<ImageInfo>) -> StationView {
        StationView {
            station,
            images,
            slots: Vec::new(),
            totals: Totals::default(),
            notice: None,
            started: Instant::now(),
            central: None,
        }
    }

    /// Boards per hour since start, from passes.
    pub fn boards_per_hour(&self, now: Instant) -> Option<f64> {
        let secs = now.duration_since(self.started).as_secs_f64();
        (secs > 1.0 && self.totals.pass > 0).then(|| self.totals.pass as f64 * 3600.0 / secs)
    }
}
