//! Reporters: what the operator sees. All of them read what the dispatcher publishes.

pub mod console;
pub mod journald;
pub mod live;
pub mod live_grid;
pub mod log;
pub mod metrics;
