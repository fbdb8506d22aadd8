//! flashline: a gang programmer for Espressif chips.
//!
//! This library holds the daemon's foundations; the binary and its dispatcher build on them.
//! - [`config`]: the station's TOML configuration, validated with precise file:line:col
//!   errors, and its reload on SIGHUP.
//! - [`image`]: the golden image (our manifest, ESP-IDF `flasher_args.json`, or a merged
//!   bin), its canonical SHA-256 and the checks done before any board is touched.
//! - [`device`]: where boards come from: the real udev monitor or a simulated source, both
//!   feeding the same filter and dedupe stage.
//! - [`exit`]: the process exit codes the daemon and CLI use.
//! - [`text`]: escaping of input echoed to a terminal or log; [`input_file`]: bounded reads
//!   of files named by configs and image descriptions.

pub mod cli;
pub mod config;
pub mod device;
pub mod exit;
pub mod image;
pub mod input_file;
pub mod report;
pub mod station;
pub mod text;
