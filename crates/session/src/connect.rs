//! Reset into the bootloader and SYNC, with esptool's retry scheme: up to 7 attempts (the
//! reset strategies cycled over them), 5 SYNCs per attempt with input flushed before each,
//! 100 ms for the first reply and a 50 ms pause after a miss. When every attempt fails on
//! a link that cannot reset the board, [`crate::recover`] tries to bring back a stub that
//! an earlier host left in the middle of a frame.

use crate::connection::Connection;
use crate::error::{Error, Result, Stage};
use crate::reconnect::{Reconnect, ResetInto};
use crate::recover::resync_stub;
use crate::reset::{enter_bootloader, strategies, BeforeReset, ResetStrategy};
use crate::transport::Transport;
use flashline_protocol::command::{Command, Sync};
use flashline_protocol::{timeouts, StatusFormat};
use std::time::Duration;

/// SYNCs per attempt.
pub const SYNC_TRIES: u32 = 5;
/// Pause after a SYNC that got no reply.
const SYNC_RETRY_PAUSE: Duration = Duration::from_millis(50);
/// The loader answers one SYNC with eight replies.
const SYNC_REPLIES: usize = 8;

/// Who answered the SYNC.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Loader {
    /// The mask ROM (SYNC value non-zero).
    Rom,
    /// A flasher stub already running (SYNC value 0, e.g. left by an earlier run).
    Stub,
}

/// One SYNC exchange: send, wait for the first reply within `first_timeout`, then collect
/// the remaining seven so they do not linger in the input.
pub(crate) async fn sync_once<T: Transport>(
    conn: &mut Connection<T>,
    first_timeout: Duration,
) -> Result<Option<Loader>> {
    conn.drain_input().await?;
    conn.send_packet(&Sync.to_packet()).await?;
    let first = match conn.recv_response(Sync::OPCODE, first_timeout).await {
        Ok(r) => r,
        Err(Error::Timeout { .. }) => return Ok(None),
        Err(e) => return Err(e),
    };
    // The remaining replies follow back to back; a short wait per reply is enough and a
    // missing one is harmless (stale SYNC replies are skipped by every later wait).
    for _ in 1..SYNC_REPLIES {
        match conn.recv_response(Sync::OPCODE, Duration::from_millis(100)).await {
            Ok(_) => {}
            Err(Error::Timeout { .. }) => break,
            Err(e) => return Err(e),
        }
    }
    Ok(Some(if first.value == 0 { Loader::Stub } else { Loader::Rom }))
}

/// Resets the board into download mode (per `before`) and syncs. On success the
/// connection's status format is set for the loader that answered (ROM: `rom_status`
/// is refined by identify once the chip is known). `recovery_rates` are the rates
/// [`crate::recover::resync_stub`] tries when no attempt got an answer and the link cannot
/// reset the board (empty: no recovery).
pub(crate) async fn connect<T: Transport>(
    conn: &mut Connection<T>,
    before: &BeforeReset,
    attempts: u32,
    lines_warned: &mut bool,
    reconnect: Option<&dyn Reconnect<T>>,
    recovery_rates: &[u32],
) -> Result<Loader> {
    conn.set_stage(Stage::Connect);
    conn.clear_noise();
    let strategies = strategies(before, conn.port_ref().usb_ids());
    let attempts = attempts.max(1);
    for attempt in 0..attempts {
        let strategy = strategies[attempt as usize % strategies.len()];
        conn.drain_input().await?;
        if strategy != ResetStrategy::None {
            tracing::debug!(?strategy, attempt, "resetting into the bootloader");
            match (strategy, reconnect) {
                (ResetStrategy::UsbJtagSerial, Some(r)) => {
                    r.resetting(ResetInto::Download);
                    enter_bootloader(conn.port(), strategy, lines_warned).await;
                    crate::reconnect::reopen_port(conn, r, Stage::Connect).await?;
                }
                _ => enter_bootloader(conn.port(), strategy, lines_warned).await,
            }
        }
        for _ in 0..SYNC_TRIES {
            if let Some(loader) = sync_once(conn, timeouts::SYNC).await? {
                tracing::info!(port = %conn.port_ref().name(), ?loader, attempt, "synced");
                return Ok(synced(conn, loader));
            }
            tokio::time::sleep(SYNC_RETRY_PAUSE).await;
        }
        tracing::debug!(attempt, "no SYNC reply in this attempt");
    }
    let cannot_reset = *lines_warned || strategies.iter().all(|s| *s == ResetStrategy::None);
    if cannot_reset {
        if let Some(loader) = resync_stub(conn, recovery_rates).await? {
            return Ok(synced(conn, loader));
        }
    }
    // Bytes outside frames come from a ROM boot log or a running application (garbled at
    // another baud, they may hold stray delimiters and so "frames" too); a stub stuck in a
    // command sends frames only.
    match conn.last_noise() {
        Some(log) if !log.trim().is_empty() => Err(Error::BootLogNoDownload { attempts, log: boot_log_excerpt(&log) }),
        _ if cannot_reset && conn.stray_frames() > 0 => Err(Error::StubStuck { frames: conn.stray_frames() }),
        _ => Err(Error::NoSync { attempts }),
    }
}

/// Sets the status format for the loader that answered and returns it.
fn synced<T: Transport>(conn: &mut Connection<T>, loader: Loader) -> Loader {
    conn.format = match loader {
        Loader::Stub => StatusFormat::Stub,
        // Until the chip is identified; ESP8266's 2-byte ROM status is read correctly by
        // the 4-byte rule too (esptool looks at two bytes).
        Loader::Rom => StatusFormat::Rom4,
    };
    loader
}

/// Longest boot-log excerpt quoted in an error.
const LOG_EXCERPT: usize = 200;

/// The tail of what a board printed, fit to be quoted in an error. The message ends up in
/// the audit row and on the operator's live view, so the board's bytes must not reach them
/// raw: a boot log printed at another baud rate (an ESP8266 at 74880, say) decodes to
/// replacement characters and control bytes, and an ESC among them would garble the
/// terminal. Readable logs keep their text (line breaks become spaces, other control
/// characters '.'); mostly unreadable output is described instead of quoted.
fn boot_log_excerpt(log: &str) -> String {
    let tail: Vec<char> = log.chars().rev().take(LOG_EXCERPT).collect::<Vec<_>>().into_iter().rev().collect();
    let readable = tail.iter().filter(|c| c.is_ascii_graphic() || c.is_ascii_whitespace()).count();
    if readable * 10 < tail.len() * 8 {
        return format!(
            "{} characters of unreadable output: a boot log at another baud rate, or line noise",
            tail.len()
        );
    }
    let text: String = tail
        .into_iter()
        .map(|c| match c {
            c if c.is_ascii_graphic() || c == ' ' => c,
            c if c.is_ascii_whitespace() => ' ',
            _ => '.',
        })
        .collect();
    text.trim().to_string()
}

#[cfg(test)]
mod tests {
    use super::boot_log_excerpt;

    #[test]
    fn boot_log_excerpts_are_printable() {
        let log = "ets Jun  8 2016 00:22:57\r\n\r\nrst:0x1 (POWERON_RESET),boot:0x3 (DOWNLOAD_BOOT)\x1b[0m\r\n";
        assert_eq!(
            boot_log_excerpt(log),
            "ets Jun  8 2016 00:22:57    rst:0x1 (POWERON_RESET),boot:0x3 (DOWNLOAD_BOOT).[0m"
        );
        let garbage: String = "\u{fffd}\u{1b}\u{90}\u{311}ab".repeat(100);
        let e = boot_log_excerpt(&garbage);
        assert_eq!(e, "200 characters of unreadable output: a boot log at another baud rate, or line noise");
        assert!(boot_log_excerpt(&"x".repeat(500)).len() == 200);
    }
}
