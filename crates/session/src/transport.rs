//! What the session needs from a link to a board: a byte stream plus the modem lines that
//! drive the auto-reset circuit, and the baud rate.
//!
//! Implemented for real serial ports ([`crate::serial::SerialTransport`]: USB-serial
//! adapters and PTYs) and for an in-memory pipe ([`crate::duplex::DuplexTransport`]) that
//! tests connect to the simulator.

use std::io;
use tokio::io::{AsyncRead, AsyncWrite};

/// A link to one board.
pub trait Transport: AsyncRead + AsyncWrite + Unpin + Send {
    /// Sets DTR (true = asserted = pin low on a USB-UART bridge).
    fn set_dtr(&mut self, level: bool) -> io::Result<()>;

    /// Sets RTS (true = asserted = pin low).
    fn set_rts(&mut self, level: bool) -> io::Result<()>;

    /// Sets both lines at once. The default sets DTR then RTS; ports that can change both
    /// in one ioctl override it (UnixTight reset relies on that to avoid a glitch).
    fn set_dtr_rts(&mut self, dtr: bool, rts: bool) -> io::Result<()> {
        self.set_dtr(dtr)?;
        self.set_rts(rts)
    }

    /// Changes the host side baud rate.
    fn set_baud(&mut self, baud: u32) -> io::Result<()>;

    /// The host side baud rate currently set.
    fn baud(&self) -> u32;

    /// Discards bytes the OS has received but nobody has read yet. The session reads what
    /// is already available before calling this, so boot-log noise is still seen.
    fn clear_input(&mut self) -> io::Result<()> {
        Ok(())
    }

    /// USB vendor and product id of the adapter, when known (selects the reset strategy).
    fn usb_ids(&self) -> Option<(u16, u16)> {
        None
    }

    /// A name for logs ("/dev/ttyUSB3", "duplex").
    fn name(&self) -> String;
}

/// A boxed link is a link: the station opens ports through an injected opener that
/// returns `Box<dyn Transport>` (a serial port, or an in-memory simulated board).
impl<T: Transport + ?Sized> Transport for Box<T> {
    fn set_dtr(&mut self, level: bool) -> io::Result<()> {
        (**self).set_dtr(level)
    }
    fn set_rts(&mut self, level: bool) -> io::Result<()> {
        (**self).set_rts(level)
    }
    fn set_dtr_rts(&mut self, dtr: bool, rts: bool) -> io::Result<()> {
        (**self).set_dtr_rts(dtr, rts)
    }
    fn set_baud(&mut self, baud: u32) -> io::Result<()> {
        (**self).set_baud(baud)
    }
    fn baud(&self) -> u32 {
        (**self).baud()
    }
    fn clear_input(&mut self) -> io::Result<()> {
        (**self).clear_input()
    }
    fn usb_ids(&self) -> Option<(u16, u16)> {
        (**self).usb_ids()
    }
    fn name(&self) -> String {
        (**self).name()
    }
}

/// True when a modem-line error means "this port has no modem lines" (a PTY answers the
/// ioctl with ENOTTY, some drivers with EINVAL) rather than a broken port.
pub fn is_no_modem_lines(err: &io::Error) -> bool {
    matches!(err.raw_os_error(), Some(code) if code == nix::libc::ENOTTY || code == nix::libc::EINVAL)
        || err.kind() == io::ErrorKind::Unsupported
}
