//! Native journald logging: entries whose fields (SLOT, MAC, SERIAL, STAGE, RESULT, BOOT, ATTEMPT_ID,
//! IMAGE_SHA256, ...) `journalctl` can filter on, e.g. `journalctl -u flashline SLOT=A3`.
//!
//! `[log] format = "auto"` picks it when systemd connected stderr to the journal: systemd
//! then sets `$JOURNAL_STREAM` to the stream's `device:inode`, which must match stderr (a
//! child whose stderr was redirected inherits the variable but not the stream).

use std::ffi::OsStr;
use std::io;

use tracing_journald::{Priority, PriorityMappings};

use crate::config::LogFormat;

/// The identifier journald files the entries under (`journalctl -t flashline`).
pub const SYSLOG_IDENTIFIER: &str = "flashline";

/// What the log set-up does, once `auto` is decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Output {
    Text,
    Json,
    Journald,
}

/// Decides `auto`: journald when `$JOURNAL_STREAM` names stderr's `device:inode`.
pub fn resolve(format: LogFormat, journal_stream: Option<&OsStr>, stderr_id: Option<(u64, u64)>) -> Output {
    match format {
        LogFormat::Text => Output::Text,
        LogFormat::Json => Output::Json,
        LogFormat::Journald => Output::Journald,
        LogFormat::Auto => match (journal_stream.and_then(parse_stream), stderr_id) {
            (Some(stream), Some(stderr)) if stream == stderr => Output::Journald,
            _ => Output::Text,
        },
    }
}

/// `$JOURNAL_STREAM`'s `device:inode` (both decimal).
fn parse_stream(value: &OsStr) -> Option<(u64, u64)> {
    let (dev, ino) = value.to_str()?.split_once(':')?;
    Some((dev.parse().ok()?, ino.parse().ok()?))
}

/// stderr's `device:inode`, to compare with `$JOURNAL_STREAM`.
pub fn stderr_id() -> Option<(u64, u64)> {
    let st = nix::sys::stat::fstat(std::io::stderr()).ok()?;
    Some((st.st_dev, st.st_ino))
}

/// [`resolve`] with this process's environment and stderr.
pub fn resolve_here(format: LogFormat) -> Output {
    resolve(format, std::env::var_os("JOURNAL_STREAM").as_deref(), stderr_id())
}

/// The journald layer: event fields as they are named (`slot` becomes SLOT), no prefix;
/// levels map to the syslog priorities of the same name (info is 6, so `journalctl -p
/// info` shows it; debug and trace are 7). Fails when journald's socket is missing (no
/// journald on this machine).
pub fn layer() -> io::Result<tracing_journald::Layer> {
    Ok(tracing_journald::Layer::new()?
        .with_field_prefix(None)
        .with_syslog_identifier(SYSLOG_IDENTIFIER.to_string())
        .with_priority_mappings(PriorityMappings {
            error: Priority::Error,
            warn: Priority::Warning,
            info: Priority::Informational,
            debug: Priority::Debug,
            trace: Priority::Debug,
        }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn auto_follows_the_journal_stream() {
        fn s(v: &str) -> Option<&OsStr> {
            Some(OsStr::new(v))
        }
        type Case<'a> = (LogFormat, Option<&'a OsStr>, Option<(u64, u64)>, Output);
        let cases: &[Case] = &[
            (LogFormat::Auto, None, Some((8, 77)), Output::Text),
            (LogFormat::Auto, s("8:77"), Some((8, 77)), Output::Journald),
            // Inherited by a process whose stderr goes elsewhere.
            (LogFormat::Auto, s("8:77"), Some((8, 78)), Output::Text),
            (LogFormat::Auto, s("8:77"), None, Output::Text),
            (LogFormat::Auto, s("garbage"), Some((8, 77)), Output::Text),
            (LogFormat::Auto, s("8:"), Some((8, 0)), Output::Text),
            (LogFormat::Text, s("8:77"), Some((8, 77)), Output::Text),
            (LogFormat::Json, s("8:77"), Some((8, 77)), Output::Json),
            (LogFormat::Journald, None, None, Output::Journald),
        ];
        for (format, stream, stderr, want) in cases {
            assert_eq!(resolve(*format, *stream, *stderr), *want, "{format:?} {stream:?} {stderr:?}");
        }
    }
}
