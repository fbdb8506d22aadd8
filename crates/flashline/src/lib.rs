//! flashline: a gang programmer for Espressif chips.
//!
//! - [`config`]: the station's TOML configuration, validated with precise file:line:col
//!   errors, and its reload on SIGHUP.
//! - [`image`]: the golden image (our manifest, ESP-IDF `flasher_args.json`, or a merged
//!   bin), its canonical SHA-256 and the checks done before any board is touched.
//! - [`device`]: where boards come from: the real udev monitor or a simulated source, both
//!   feeding the same filter and dedupe stage.
//! - [`pipeline`]: the one board-flashing routine (open → connect → identify → checks →
//!   write → verify → finish → record) with its seams: the plan, the port opener, the
//!   audit target, the stop cause. Used by the daemon's jobs and `flashline flash`.
//! - [`provision`]: per-device data: serial number formats, the NVS template with its
//!   placeholders and the per-device file, each board's own NVS partition.
//! - [`station`]: the running station: the one place a station is built from its config
//!   ([`station::StationContext::build`]), the dispatcher that owns slot state, jobs,
//!   the view and the event feed every output subscribes to.
//! - [`report`]: outputs that subscribe to the station (live view, structured logs).
//! - [`cli`]: the `flashline` commands, thin fronts over the above.
//! - [`exit`]: the process exit codes the daemon and CLI use.
//! - [`text`]: escaping of input echoed to a terminal or log; [`input_file`]: bounded reads
//!   of files named by configs and image descriptions.
//!
//! See docs/ARCHITECTURE.md for the flow of one board and how to add a chip, a port
//! type, an audit backend or an output.

pub mod cli;
pub mod config;
pub mod device;
pub mod exit;
pub mod image;
pub mod input_file;
pub mod pipeline;
pub mod provision;
pub mod report;
pub mod station;
pub mod text;
pub mod web;
