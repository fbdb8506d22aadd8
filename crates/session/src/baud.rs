//! Switching the link to a faster baud rate, with fallback.
//!
//! CHANGE_BAUDRATE is answered at the old rate; then both sides switch. The new rate is
//! proven with one READ_REG of the magic register (known value). If that fails, the host
//! goes back to the old rate, re-syncs, and tries the next lower standard rate.

use crate::connect::sync_once;
use crate::connection::Connection;
use crate::error::{Error, Result, Stage};
use crate::identify::{chip_error, RegCache};
use crate::transport::Transport;
use flashline_protocol::chip::CHIP_DETECT_MAGIC_REG;
use flashline_protocol::command::{ChangeBaudrate, ReadReg};
use flashline_protocol::Chip;
use std::time::Duration;

/// Standard rates to fall back through, highest first.
pub const FALLBACK_RATES: &[u32] = &[3_000_000, 2_000_000, 1_500_000, 921_600, 460_800, 230_400];
/// Highest rate the ESP32/ESP8266 UART paths are used at.
pub const MAX_BAUD: u32 = 3_000_000;
/// Time both sides need to reprogram their UARTs (esptool waits the same).
const SETTLE: Duration = Duration::from_millis(50);
/// How long the proof-of-link read may take at the new rate.
const PROBE_TIMEOUT: Duration = Duration::from_millis(300);

/// The rates to try for a requested `target`, given the current rate `current`: the
/// target, then the `fallback` rates below it (the station's `[flash] baud_fallback`;
/// `None` means [`FALLBACK_RATES`]) that are still faster than `current`.
pub fn rate_plan(target: u32, current: u32, fallback: Option<&[u32]>) -> Vec<u32> {
    let target = target.min(MAX_BAUD);
    if target <= current {
        return Vec::new();
    }
    let mut plan = vec![target];
    let fallback = fallback.unwrap_or(FALLBACK_RATES);
    plan.extend(fallback.iter().copied().filter(|&r| r < target && r > current));
    plan
}

/// Raises the link to `target` (or the best lower rate that works). Returns the rate in
/// use afterwards. A ROM that cannot change its rate (ESP8266) keeps the current one.
pub(crate) async fn change_baud<T: Transport>(
    conn: &mut Connection<T>,
    regs: &mut RegCache,
    chip: Chip,
    target: u32,
    fallback: Option<&[u32]>,
) -> Result<u32> {
    conn.set_stage(Stage::Baud);
    let start = conn.port_ref().baud();
    let plan = rate_plan(target, start, fallback);
    if plan.is_empty() {
        return Ok(start);
    }
    let stub = conn.is_stub();
    if !stub && !chip.spec().rom_is_esp32_class {
        tracing::warn!(%chip, "the ROM loader cannot change the baud rate; staying at {start}");
        return Ok(start);
    }
    let magic = chip.spec().magic;
    let mut tried = Vec::new();
    for rate in plan {
        tried.push(rate.to_string());
        let word = if stub {
            rate
        } else {
            // A ROM whose UART clock is a calibrated estimate is sent a scaled rate.
            let target = chip.target();
            regs.read_all(conn, target.rom_baud_regs()).await?;
            target.rom_baud_word(rate, &regs.0).map_err(chip_error)?
        };
        let old = conn.port_ref().baud();
        let cmd = ChangeBaudrate { new: word, old: if stub { old } else { 0 } };
        // esptool does not check this status; a loader that rejects the change keeps the
        // old rate, which the probe below detects.
        if let Err(e) = conn.command(&cmd).await {
            if e.is_link_loss() && !matches!(e, Error::Timeout { .. }) {
                return Err(e);
            }
            tracing::warn!(error = %e, rate, "CHANGE_BAUDRATE not acknowledged");
        }
        conn.port().set_baud(rate).map_err(|e| Error::Io { stage: Stage::Baud, source: e })?;
        tokio::time::sleep(SETTLE).await;
        conn.drain_input().await?;
        if probe(conn, magic).await? {
            tracing::info!(rate, "link running at the new baud rate");
            return Ok(rate);
        }
        tracing::warn!(rate, "link failed at the new baud rate; falling back");
        conn.port().set_baud(old).map_err(|e| Error::Io { stage: Stage::Baud, source: e })?;
        tokio::time::sleep(SETTLE).await;
        let mut synced = false;
        for _ in 0..3 {
            if sync_once(conn, Duration::from_millis(200)).await?.is_some() {
                synced = true;
                break;
            }
        }
        if !synced {
            return Err(Error::Baud { tried: tried.join(", ") });
        }
    }
    // Every faster rate failed but the link still works at the start rate.
    tracing::warn!(rate = start, tried = %tried.join(", "), "staying at the initial baud rate");
    Ok(start)
}

/// One read of a register with a known value (twice, to ride over one lost frame).
async fn probe<T: Transport>(conn: &mut Connection<T>, magic: Option<u32>) -> Result<bool> {
    for _ in 0..2 {
        match conn.command_timeout(&ReadReg { addr: CHIP_DETECT_MAGIC_REG }, PROBE_TIMEOUT).await {
            Ok(v) if magic.is_none_or(|m| m == v) => return Ok(true),
            Ok(v) => tracing::debug!(value = v, "probe read a wrong value"),
            Err(e @ (Error::Disconnected { .. } | Error::Cancelled { .. } | Error::Io { .. })) => return Err(e),
            Err(e) => tracing::debug!(error = %e, "probe failed"),
        }
        conn.drain_input().await?;
    }
    Ok(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plans() {
        assert_eq!(rate_plan(921_600, 115_200, None), vec![921_600, 460_800, 230_400]);
        assert_eq!(rate_plan(5_000_000, 115_200, None)[0], 3_000_000);
        assert_eq!(rate_plan(2_000_000, 115_200, None), vec![2_000_000, 1_500_000, 921_600, 460_800, 230_400]);
        assert!(rate_plan(115_200, 115_200, None).is_empty());
        // A configured fallback list replaces the standard rates (slower than the start
        // rate are dropped: the start rate is where a failed change returns anyway).
        assert_eq!(rate_plan(921_600, 115_200, Some(&[460_800, 115_200])), vec![921_600, 460_800]);
        assert_eq!(rate_plan(921_600, 115_200, Some(&[])), vec![921_600]);
    }
}
