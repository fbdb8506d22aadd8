//! `[recovery]`: what the station may do to a board that answers nothing.
//!
//! A board on a fixture without reset lines that no longer answers SYNC (a hung
//! application, a stub the session could not bring back) needs its power cut. With
//! `power_cycle = "uhubctl"` the station does that itself through the hub's per-port power
//! switching: it runs `uhubctl -l HUB -p PORT -a cycle` for the board's hub port after its
//! job failed to connect. Off by default: cycling a port also cuts a USB-UART adapter that
//! hangs on it, and only hubs with per-port power switching obey.

use serde::{Deserialize, Serialize};

/// `[recovery]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RecoveryConfig {
    #[serde(default)]
    pub power_cycle: PowerCycle,
}

/// `[recovery] power_cycle`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PowerCycle {
    /// Never (default): the operator re-plugs a board that does not answer.
    #[default]
    Off,
    /// `uhubctl -l HUB -p PORT -a cycle` (uhubctl on `PATH`) for the board's hub port.
    Uhubctl,
}
