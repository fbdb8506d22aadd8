//! [`Transport`] for real serial ports: USB-serial adapters and PTYs (the simulator).
//!
//! Modem-line ioctls run on a helper thread under [`LINES_TIMEOUT`]: on a port whose USB
//! device vanished (a chip's own USB port re-enumerating as it resets, an unplug) the
//! driver can block them for seconds, and the session must not stall with it.

use crate::transport::Transport;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio_serial::{ClearBuffer, SerialPort, SerialPortBuilderExt, SerialStream};

/// An open serial port.
pub struct SerialTransport {
    port: SerialStream,
    path: String,
    baud: u32,
    usb_ids: Option<(u16, u16)>,
}

fn to_io(e: tokio_serial::Error) -> io::Error {
    io::Error::from(e)
}

impl SerialTransport {
    /// Opens `path` at `baud` (8N1, no flow control, exclusive access).
    pub fn open(path: &str, baud: u32) -> io::Result<Self> {
        let port = tokio_serial::new(path, baud)
            .data_bits(tokio_serial::DataBits::Eight)
            .parity(tokio_serial::Parity::None)
            .stop_bits(tokio_serial::StopBits::One)
            .flow_control(tokio_serial::FlowControl::None)
            .open_native_async()
            .map_err(to_io)?;
        Ok(Self { port, path: path.to_string(), baud, usb_ids: None })
    }

    /// Records the adapter's USB vendor/product id (the daemon knows it from udev); it
    /// selects the reset strategy (Espressif's USB-Serial/JTAG needs its own sequence).
    pub fn with_usb_ids(mut self, vid: u16, pid: u16) -> Self {
        self.usb_ids = Some((vid, pid));
        self
    }

    fn modem_bits(&self) -> io::Result<nix::libc::c_int> {
        bounded(self.port.as_raw_fd(), LINES_TIMEOUT, |fd| {
            let mut bits: nix::libc::c_int = 0;
            // SAFETY: TIOCMGET writes one c_int through the pointer; `fd` is open.
            let rc = unsafe { nix::libc::ioctl(fd, nix::libc::TIOCMGET, &mut bits) };
            if rc < 0 {
                return Err(io::Error::last_os_error());
            }
            Ok(bits)
        })
    }
}

/// How long one modem-line ioctl may take before the port counts as gone.
pub const LINES_TIMEOUT: Duration = Duration::from_millis(500);

/// Runs `op` on a duplicate of `fd` on a helper thread and waits at most `limit`. A call
/// that does not return in time is left to finish on its own (it holds only its duplicate
/// descriptor) and reported as `TimedOut`.
fn bounded<R: Send + 'static>(
    fd: RawFd,
    limit: Duration,
    op: impl FnOnce(RawFd) -> io::Result<R> + Send + 'static,
) -> io::Result<R> {
    // SAFETY: dup of an open descriptor; the result is checked and owned below.
    let dup = unsafe { nix::libc::dup(fd) };
    if dup < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: `dup` is a fresh descriptor nobody else owns.
    let owned = unsafe { OwnedFd::from_raw_fd(dup) };
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::Builder::new().name("serial-lines".into()).spawn(move || {
        let _ = tx.send(op(owned.as_raw_fd()));
        drop(owned);
    })?;
    rx.recv_timeout(limit).unwrap_or_else(|_| {
        Err(io::Error::new(
            io::ErrorKind::TimedOut,
            format!(
                "setting DTR/RTS did not finish within {limit:?}: the port's device is gone (board reset or unplugged)"
            ),
        ))
    })
}

impl Transport for SerialTransport {
    // Through TIOCMGET/TIOCMSET rather than the serialport crate, so the errno (ENOTTY on
    // a PTY) survives and the session can tell "no modem lines" from a broken port.
    fn set_dtr(&mut self, level: bool) -> io::Result<()> {
        let rts = self.modem_bits()? & nix::libc::TIOCM_RTS != 0;
        self.set_dtr_rts(level, rts)
    }

    fn set_rts(&mut self, level: bool) -> io::Result<()> {
        let dtr = self.modem_bits()? & nix::libc::TIOCM_DTR != 0;
        self.set_dtr_rts(dtr, level)
    }

    /// Both lines in one TIOCMSET, so the chip never sees the intermediate state.
    fn set_dtr_rts(&mut self, dtr: bool, rts: bool) -> io::Result<()> {
        let mut bits = self.modem_bits()?;
        bits &= !(nix::libc::TIOCM_DTR | nix::libc::TIOCM_RTS);
        if dtr {
            bits |= nix::libc::TIOCM_DTR;
        }
        if rts {
            bits |= nix::libc::TIOCM_RTS;
        }
        bounded(self.port.as_raw_fd(), LINES_TIMEOUT, move |fd| {
            // SAFETY: TIOCMSET reads one c_int through the pointer; `fd` is open.
            let rc = unsafe { nix::libc::ioctl(fd, nix::libc::TIOCMSET, &bits) };
            if rc < 0 {
                return Err(io::Error::last_os_error());
            }
            Ok(())
        })
    }

    fn set_baud(&mut self, baud: u32) -> io::Result<()> {
        self.port.set_baud_rate(baud).map_err(to_io)?;
        self.baud = baud;
        Ok(())
    }

    fn baud(&self) -> u32 {
        self.baud
    }

    fn clear_input(&mut self) -> io::Result<()> {
        self.port.clear(ClearBuffer::Input).map_err(to_io)
    }

    fn usb_ids(&self) -> Option<(u16, u16)> {
        self.usb_ids
    }

    fn name(&self) -> String {
        self.path.clone()
    }
}

impl AsyncRead for SerialTransport {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.port).poll_read(cx, buf)
    }
}

impl AsyncWrite for SerialTransport {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.port).poll_write(cx, buf)
    }
    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.port).poll_flush(cx)
    }
    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.port).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::transport::is_no_modem_lines;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    /// A PTY stands in for a USB-serial adapter: bytes flow both ways, modem lines are
    /// refused with an error the session recognises as "no modem lines".
    #[tokio::test]
    async fn pty_bytes_flow_and_lines_are_refused() {
        let pty = nix::pty::openpty(None, None).expect("openpty");
        let slave_path = std::fs::read_link(format!("/proc/self/fd/{}", pty.slave.as_raw_fd())).unwrap();
        let mut t = SerialTransport::open(slave_path.to_str().unwrap(), 115_200).unwrap();
        assert_eq!(t.baud(), 115_200);
        let master: std::fs::File = pty.master.into();
        let mut master = tokio::fs::File::from_std(master);

        t.write_all(b"\xC0ping\xC0").await.unwrap();
        let mut buf = [0u8; 6];
        master.read_exact(&mut buf).await.unwrap();
        assert_eq!(&buf, b"\xC0ping\xC0");

        master.write_all(b"pong").await.unwrap();
        master.flush().await.unwrap();
        let mut buf = [0u8; 4];
        tokio::time::timeout(std::time::Duration::from_secs(2), t.read_exact(&mut buf)).await.unwrap().unwrap();
        assert_eq!(&buf, b"pong");

        let e = t.set_dtr_rts(true, false).unwrap_err();
        assert!(is_no_modem_lines(&e), "{e:?}");
        let e = t.set_rts(true).unwrap_err();
        assert!(is_no_modem_lines(&e), "{e:?}");
        t.set_baud(921_600).unwrap();
        assert_eq!(t.baud(), 921_600);
        t.clear_input().unwrap();
    }

    /// An ioctl that hangs (a vanished device) costs the limit, not its own duration, and
    /// errors keep their errno.
    #[test]
    fn line_ioctls_are_bounded() {
        let pty = nix::pty::openpty(None, None).expect("openpty");
        let t0 = std::time::Instant::now();
        let e = bounded(pty.slave.as_raw_fd(), Duration::from_millis(50), |_| {
            std::thread::sleep(Duration::from_secs(2));
            Ok(())
        })
        .unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::TimedOut);
        assert!(e.to_string().contains("the port's device is gone"), "{e}");
        assert!(t0.elapsed() < Duration::from_secs(1), "{:?}", t0.elapsed());
        let e = bounded(pty.slave.as_raw_fd(), LINES_TIMEOUT, |_| -> io::Result<()> {
            Err(io::Error::from_raw_os_error(nix::libc::ENOTTY))
        })
        .unwrap_err();
        assert!(is_no_modem_lines(&e), "{e:?}");
        assert!(bounded(pty.slave.as_raw_fd(), LINES_TIMEOUT, |fd| Ok(fd >= 0)).unwrap());
    }
}
