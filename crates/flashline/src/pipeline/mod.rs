//! The one board-flashing pipeline: connect → identify → checks → write → verify →
//! finish → record, shared by the daemon's jobs and `flashline flash`.
//!
//! Everything a caller decides lives in its inputs, not in a copy of the sequence:
//! - [`Plan`]: what to write and how (golden image, flasher/write settings, verify mode,
//!   after-flash action, erase-all, force), built from a station config by
//!   [`Plan::from_config`] and adjusted by the command line;
//! - [`PortOpener`]: where the board's link comes from (a serial port, or an in-memory
//!   simulated board in tests and the demo) — the seam that lets the station run without
//!   a pseudo-terminal;
//! - [`AuditTarget`]: whether and how the attempt is recorded, and how hard the
//!   completion is retried;
//! - [`Stop`]: why a run was told to stop (unplug, shutdown, operator), which decides how
//!   its row is closed.
//!
//! [`run_attempt`] runs the whole sequence and always ends in a completed row when it
//! created one; [`flash_board`] is the board part alone.

mod attempt;
mod board;
pub mod boot_check;
mod checks;
pub mod follow;
mod plan;
pub mod ports;
pub mod power_cycle;
mod reconnect;
pub mod record;
#[cfg(feature = "sim")]
mod sim_ports;
mod stop;

pub use attempt::{run_attempt, AttemptEnd, AttemptEvent, AttemptOutcome, AttemptRun, AuditTarget, CompletionRetry};
pub use board::{flash_board, BoardError, Flashed};
pub use checks::{check_board, check_image_chip};
pub use follow::{FoundPort, PortFinder, SysfsPorts};
pub use plan::Plan;
pub use ports::{BoxTransport, OpenError, OpenRequest, PortOpener, SerialPorts};
pub use reconnect::{BoardWatch, PortReconnect, REENUMERATION_WINDOW};
#[cfg(feature = "sim")]
pub use sim_ports::{SimulatedPorts, UsbReplug};
pub use stop::{Stop, StopCause};
