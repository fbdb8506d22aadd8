//! Links between a simulated board and its host: an in-memory duplex for in-process tests
//! and a PTY per board for real serial-port clients.

pub mod duplex;
pub mod pty;
pub mod usb;
