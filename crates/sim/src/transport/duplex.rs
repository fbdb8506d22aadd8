//! In-memory link (`tokio::io::duplex`): the host gets one end, the board task the other.
//! Unplugging closes the board's end, so the host reads EOF and its writes fail.

use crate::config::BoardConfig;
use crate::runner::{self, SimHandle};

/// Buffer of the in-memory link in each direction (a USB-UART bridge buffers a few KiB).
pub const DUPLEX_BUFFER: usize = 64 * 1024;

/// Starts a board as a tokio task and returns the host end of its link plus its handle.
/// Must be called inside a tokio runtime. The task ends when the host end is dropped.
///
/// # Panics
/// If the flash size is not one of [`crate::FLASH_SIZES`] or `cfg.flash_file` cannot be
/// opened (use [`try_spawn_duplex`] to handle those).
pub fn spawn_duplex(cfg: BoardConfig) -> (tokio::io::DuplexStream, SimHandle) {
    match try_spawn_duplex(cfg) {
        Ok(v) => v,
        Err(e) => panic!("cannot start the simulated board: {e}"),
    }
}

/// [`spawn_duplex`] returning flash-file errors.
pub fn try_spawn_duplex(cfg: BoardConfig) -> std::io::Result<(tokio::io::DuplexStream, SimHandle)> {
    let (inner, handle, mut ctl) = runner::prepare(&cfg)?;
    let (host, board_end) = tokio::io::duplex(DUPLEX_BUFFER);
    let (rd, wr) = tokio::io::split(board_end);
    let epoch = tokio::time::Instant::now();
    // One link: a board on its USB-Serial/JTAG port that re-enumerates is gone for good
    // here (`spawn_usb_duplex` brings it back).
    tokio::spawn(async move { runner::run(inner, rd, wr, &mut ctl, false, None, epoch, None).await });
    Ok((host, handle))
}
