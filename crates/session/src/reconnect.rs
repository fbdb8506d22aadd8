//! Boards whose port vanishes when they reset: the chip's own USB-Serial/JTAG port is
//! reset with the chip, so the host's serial device goes away and a new one enumerates
//! (on Linux the same `/dev/ttyACMn` if nobody held it open, else the next number).
//!
//! The session cannot find the board again by itself: it asks whoever opened the port (a
//! [`Reconnect`] the caller supplies), under a deadline, and goes on over the new link. It
//! also says before each such reset where the board is going (download mode or its
//! application), so the caller can tell the board's own re-enumeration from an unplug.

use crate::connection::Connection;
use crate::error::{Error, Result, Stage};
use crate::transport::Transport;
use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

/// How long a board may take to come back after a reset (real boards enumerate again
/// within a few hundred milliseconds; see the timing doc).
pub const REENUMERATE_TIMEOUT: Duration = Duration::from_secs(5);

/// Where a reset sends the board.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ResetInto {
    /// The ROM download mode: the session reopens the port and goes on.
    Download,
    /// The application (the final reset): the board comes back running it.
    App,
}

/// The future [`Reconnect::reopen`] returns: the new link, or why there is none yet.
pub type ReopenFuture<'a, T> = Pin<Box<dyn Future<Output = Result<T, String>> + Send + 'a>>;

/// Finds a re-enumerated board again.
pub trait Reconnect<T>: Send + Sync {
    /// Called right before a reset that takes the board's port off the bus.
    fn resetting(&self, into: ResetInto);

    /// Opens the board's port once it is back. Called after a reset into download mode;
    /// may wait (the session bounds it with [`Self::timeout`]) and may fail for good.
    fn reopen(&self) -> ReopenFuture<'_, T>;

    /// How long to wait for the board to come back.
    fn timeout(&self) -> Duration {
        REENUMERATE_TIMEOUT
    }
}

/// Waits for the board to come back after a reset that took its port off the bus, and
/// continues the session over the new link (at the same host baud rate).
pub(crate) async fn reopen_port<T: Transport>(
    conn: &mut Connection<T>,
    reconnect: &dyn Reconnect<T>,
    stage: Stage,
) -> Result<()> {
    let waited = reconnect.timeout();
    let cancel = conn.cancel_token();
    let back = tokio::select! {
        _ = cancel.cancelled() => return Err(Error::Cancelled { stage }),
        r = tokio::time::timeout(waited, reconnect.reopen()) => r,
    };
    let mut port = match back {
        Ok(Ok(port)) => port,
        Ok(Err(reason)) => return Err(Error::NotBack { stage, waited, reason }),
        Err(_) => return Err(Error::NotBack { stage, waited, reason: "no new port appeared".into() }),
    };
    port.set_baud(conn.port_ref().baud()).map_err(|e| Error::Io { stage, source: e })?;
    tracing::info!(port = %port.name(), "the board is back after its reset");
    drop(conn.replace_port(port));
    Ok(())
}
