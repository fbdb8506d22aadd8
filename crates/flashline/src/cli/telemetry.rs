//! Logging set-up: `tracing` to stderr (text or JSON) or to journald's native protocol,
//! at the configured level (`RUST_LOG` overrides). With the live view on a terminal, only
//! warnings and errors would break the picture, so stderr logs are off unless `RUST_LOG`
//! asks for them.

use std::io::IsTerminal;

use tracing_subscriber::prelude::*;
use tracing_subscriber::EnvFilter;

use crate::config::LogConfig;
use crate::report::journald::{self, Output};

pub fn init(log: &LogConfig, live_view: bool) {
    let output = journald::resolve_here(log.format);
    let filter = |to_stderr: bool| {
        let default = if live_view && to_stderr { "off" } else { log.level.as_str() };
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default))
    };
    if output == Output::Journald {
        match journald::layer() {
            Ok(layer) => {
                let _ = tracing_subscriber::registry().with(filter(false)).with(layer).try_init();
                return;
            }
            Err(e) => eprintln!("flashline: cannot reach journald ({e}); logging text to stderr"),
        }
    }
    // Colour codes only for a terminal: in journald, a pipe or a log file they are noise.
    let ansi = std::io::stderr().is_terminal();
    let builder = tracing_subscriber::fmt().with_env_filter(filter(true)).with_writer(std::io::stderr).with_ansi(ansi);
    let _ = match output {
        Output::Json => builder.json().flatten_event(true).try_init(),
        Output::Text | Output::Journald => builder.try_init(),
    };
}
