//! In-memory link of a board on its USB-Serial/JTAG port: like [`super::duplex`], but the
//! board outlives its links. A chip reset drops the link (the host reads EOF, its writes
//! fail) and a new one enumerates after the re-enumeration delay; a host that closes its
//! end can open the port again, as it can reopen `/dev/ttyACM0`.
//!
//! Whoever plays the host's USB stack (the station's `SimulatedPorts`) receives
//! [`UsbLinkEvent`]s: `Dropped` when the port leaves the bus, `Enumerated` with the new
//! link when it is back, `Reopenable` with a fresh link when the host closed the old one.

use crate::config::BoardConfig;
use crate::runner::{self, Control, LinkEnd, SimHandle};
use crate::usb::LinkMode;
use tokio::io::DuplexStream;
use tokio::sync::mpsc;

use super::duplex::DUPLEX_BUFFER;

/// What happened to the board's USB port.
#[derive(Debug)]
pub enum UsbLinkEvent {
    /// The chip reset: the port left the bus.
    Dropped,
    /// The port enumerated again; the host end of its new link.
    Enumerated(DuplexStream),
    /// The host closed the port; the host end of the link a new open gets.
    Reopenable(DuplexStream),
    /// The board was unplugged: no more links.
    Unplugged,
}

/// Starts a board on its USB-Serial/JTAG port (`cfg.link` must say so) and returns the
/// host end of the first link, the board's handle, and the port's events. The board runs
/// until it is unplugged or the event receiver is dropped.
pub fn spawn_usb_duplex(
    cfg: BoardConfig,
) -> std::io::Result<(DuplexStream, SimHandle, mpsc::UnboundedReceiver<UsbLinkEvent>)> {
    if cfg.link != LinkMode::UsbSerialJtag {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            "spawn_usb_duplex needs a board on its USB-Serial/JTAG link (BoardConfig::on_usb_serial_jtag)",
        ));
    }
    let (inner, handle, mut ctl) = runner::prepare(&cfg)?;
    let (events, rx) = mpsc::unbounded_channel();
    let (host, board_end) = tokio::io::duplex(DUPLEX_BUFFER);
    let sim = handle.clone();
    tokio::spawn(async move {
        let epoch = tokio::time::Instant::now();
        let mut board_end = board_end;
        loop {
            let (rd, wr) = tokio::io::split(board_end);
            let ours = sim.current_link();
            let end = runner::run(inner.clone(), rd, wr, &mut ctl, false, None, epoch, Some(ours)).await;
            // Lines set on this link from now on belong to a port that is gone.
            sim.next_link();
            let (host, next) = tokio::io::duplex(DUPLEX_BUFFER);
            board_end = next;
            let sent = match end {
                LinkEnd::Unplugged => {
                    let _ = events.send(UsbLinkEvent::Unplugged);
                    return;
                }
                LinkEnd::HostClosed => events.send(UsbLinkEvent::Reopenable(host)),
                LinkEnd::Reenumerate(after) => {
                    if events.send(UsbLinkEvent::Dropped).is_err() {
                        return;
                    }
                    tokio::time::sleep(after).await;
                    // Line changes the host made while the port was gone went nowhere.
                    if drain_stale_lines(&mut ctl) {
                        let _ = events.send(UsbLinkEvent::Unplugged);
                        return;
                    }
                    events.send(UsbLinkEvent::Enumerated(host))
                }
            };
            if sent.is_err() {
                return;
            }
        }
    });
    Ok((host, handle, rx))
}

/// Drops queued line changes; true when an unplug was among them.
fn drain_stale_lines(ctl: &mut mpsc::UnboundedReceiver<Control>) -> bool {
    let mut unplugged = false;
    while let Ok(c) = ctl.try_recv() {
        unplugged |= matches!(c, Control::Unplug);
    }
    unplugged
}
