//! Bringing back a flasher stub that a vanished host left in the middle of a frame, on a
//! link that cannot reset the board (no DTR/RTS circuit, `no-reset` fixtures).
//!
//! What the stub does (esp-flasher-stub's `slip.c`, the stub esptool 5.6 runs): its SLIP
//! receiver has three states, *no frame*, *in frame* and *escaping*. A `0xC0` while in a
//! frame always ends it; bytes outside a frame are dropped until a `0xC0` opens the next
//! one. A host killed mid-frame therefore leaves the receiver *in frame*, and the next
//! host's first SYNC goes wrong in a way that never heals:
//!
//! 1. the SYNC's opening `0xC0` ends the half frame (the stub answers it with an error or
//!    drops it), and the SYNC's body arrives outside a frame and is dropped;
//! 2. the SYNC's closing `0xC0` opens a frame, so the next SYNC's opening `0xC0` closes an
//!    empty frame, its body is dropped, its closing `0xC0` opens a frame again — and so on
//!    for every later frame: the receiver is one delimiter out of phase, for good.
//!
//! One lone `0xC0` puts it back in phase (it closes the empty frame the last SYNC opened),
//! after which a SYNC is read whole. The stub also keeps the UART rate it was switched
//! to (CHANGE_BAUDRATE), so a host that starts at 115200 sends it line noise: the lone
//! `0xC0` and the SYNCs are tried again at the rates the stub may have been left at.
//!
//! A stub left streaming READ_FLASH waits for the acknowledgement of the packet it sent
//! (one packet in flight) and reads every frame as one:
//!
//! - esp-flasher-stub (`s_read_flash_post_process`) leaves its read loop on the first
//!   frame that is not 4 bytes long, sends the MD5 of what it sent and drops that frame:
//!   the first SYNC ends the read unanswered, the next one is answered.
//! - esptool's legacy stub (`handle_flash_read`) reads the first 4 bytes of any frame as
//!   the acknowledged total and leaves once it reaches the length or exceeds what was
//!   sent; a SYNC reads as 0x0024_0800, which does not end a read already past 2.3 MB.
//!
//! So the recovery sends one acknowledgement of `u32::MAX` first — it ends the legacy
//! read whatever its length, lets esp-flasher-stub send at most one more packet — and the
//! SYNCs after it end esp-flasher-stub's read. To a loader that is not reading, a 4-byte
//! frame is too short to be a command and is ignored.
//!
//! A stub that sends frames but answers none of this is stuck in a command it does not
//! leave: [`crate::Error::StubStuck`], "stuck in the flasher stub: power-cycle the board"
//! (`connect` decides, from the frames it skipped). A ROM or application that hangs
//! silently is `NoSync`. Both need a reset line or a power cycle (the station's
//! `[recovery] power_cycle`).

use crate::connect::{sync_once, Loader};
use crate::connection::Connection;
use crate::error::Result;
use crate::transport::Transport;
use crate::Error;
use flashline_protocol::{slip, timeouts};
use std::time::Duration;

/// The acknowledgement that ends any stub's READ_FLASH loop (see the module docs).
pub const END_READ_ACK: [u8; 4] = u32::MAX.to_le_bytes();

/// SYNCs sent after each resynchronising delimiter.
const RECOVERY_SYNCS: u32 = 3;
/// Time for the stub to handle the half frame the delimiter may have ended.
const SETTLE: Duration = Duration::from_millis(20);

/// The rates to try, in order: the one the host connects at first (the stub may only be
/// out of SLIP phase), then the rates the stub may have been switched to, each once.
pub fn recovery_rates(initial: u32, targets: &[u32]) -> Vec<u32> {
    let mut rates = vec![initial];
    for &r in targets {
        if r > 0 && !rates.contains(&r) {
            rates.push(r);
        }
    }
    rates
}

/// Tries to bring back a stub out of SLIP phase, at each of `rates`. On success the port
/// stays at the rate that answered; otherwise it is put back to the first rate.
pub(crate) async fn resync_stub<T: Transport>(conn: &mut Connection<T>, rates: &[u32]) -> Result<Option<Loader>> {
    let Some(&first) = rates.first() else { return Ok(None) };
    for &rate in rates {
        if conn.port_ref().baud() != rate {
            conn.port().set_baud(rate).map_err(|e| Error::Io { stage: crate::Stage::Connect, source: e })?;
        }
        conn.write_raw(&[slip::END]).await?;
        tokio::time::sleep(SETTLE).await;
        conn.send_raw_frame(&END_READ_ACK).await?;
        tokio::time::sleep(SETTLE).await;
        for _ in 0..RECOVERY_SYNCS {
            if let Some(loader) = sync_once(conn, timeouts::SYNC).await? {
                tracing::warn!(
                    port = %conn.port_ref().name(),
                    baud = rate,
                    ?loader,
                    "the board answered only after a resynchronising SLIP delimiter: a previous host left it mid-frame"
                );
                return Ok(Some(loader));
            }
        }
    }
    if conn.port_ref().baud() != first {
        conn.port().set_baud(first).map_err(|e| Error::Io { stage: crate::Stage::Connect, source: e })?;
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::recovery_rates;

    #[test]
    fn rates_start_at_the_initial_one_and_never_repeat() {
        let cases: [(u32, &[u32], &[u32]); 4] = [
            (115_200, &[], &[115_200]),
            (115_200, &[921_600], &[115_200, 921_600]),
            (115_200, &[921_600, 115_200, 460_800, 921_600], &[115_200, 921_600, 460_800]),
            (115_200, &[0, 230_400], &[115_200, 230_400]),
        ];
        for (initial, targets, want) in cases {
            assert_eq!(recovery_rates(initial, targets), want, "{initial} {targets:?}");
        }
    }
}
