//! Logging set-up: `tracing` to stderr, text or JSON, at the configured level
//! (`RUST_LOG` overrides). With the live view on a terminal, only warnings and errors
//! would break the picture, so logs are off unless `RUST_LOG` asks for them.

use std::io::IsTerminal;

use tracing_subscriber::EnvFilter;

use crate::config::{LogConfig, LogFormat};

pub fn init(log: &LogConfig, live_view: bool) {
    let default = if live_view { "off" } else { log.level.as_str() };
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default));
    // Colour codes only for a terminal: in journald, a pipe or a log file they are noise.
    let ansi = std::io::stderr().is_terminal();
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).with_ansi(ansi);
    let _ = match log.format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder.json().flatten_event(true).try_init(),
    };
}
