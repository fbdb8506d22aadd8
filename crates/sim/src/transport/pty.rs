//! One pseudo-terminal per board, reachable through a stable symlink.
//!
//! The slave is put into raw mode at once (no echo, no CR/LF mangling, no XON/XOFF), and
//! the simulator keeps its own slave fd open: otherwise the master reads `EIO` whenever no
//! client has the port open (`EIO` is still tolerated and retried). Modem-line ioctls do
//! not exist on a PTY, so clients must not rely on DTR/RTS resets. On unplug the master and
//! slave are closed and the symlink removed, like a USB adapter disappearing.
//!
//! A board on its USB-Serial/JTAG port re-enumerates when the chip resets (a stub's
//! FLASH_END reboot, say): its PTY is closed and the symlink removed, and after the
//! re-enumeration delay a new PTY appears behind the same symlink, and a line
//! `boardK reenumerated /dev/pts/N` is printed on stdout — what a harness bridging the
//! board to a fake tty watches for before it re-plugs that tty.

use crate::config::BoardConfig;
use crate::runner::{self, SimHandle};
use nix::fcntl::{fcntl, FcntlArg, OFlag};
use nix::pty::openpty;
use nix::sys::termios::{cfmakeraw, tcgetattr, tcsetattr, SetArg};
use std::io;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::task::{ready, Context, Poll};
use tokio::io::unix::AsyncFd;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// A running PTY board.
pub struct PtyBoard {
    pub handle: SimHandle,
    /// The stable symlink clients open.
    pub link: PathBuf,
    /// The `/dev/pts/N` it points to.
    pub tty: PathBuf,
}

/// Non-blocking PTY master as an async byte stream.
pub struct PtyMaster {
    fd: AsyncFd<OwnedFd>,
}

impl AsyncRead for PtyMaster {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        loop {
            let mut guard = ready!(self.fd.poll_read_ready(cx))?;
            let unfilled = buf.initialize_unfilled();
            match guard.try_io(|inner| {
                nix::unistd::read(inner.get_ref(), unfilled).map_err(|e| io::Error::from_raw_os_error(e as i32))
            }) {
                Ok(Ok(n)) => {
                    buf.advance(n);
                    return Poll::Ready(Ok(()));
                }
                Ok(Err(e)) => return Poll::Ready(Err(e)),
                Err(_would_block) => continue,
            }
        }
    }
}

impl AsyncWrite for PtyMaster {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, data: &[u8]) -> Poll<io::Result<usize>> {
        loop {
            let mut guard = ready!(self.fd.poll_write_ready(cx))?;
            match guard.try_io(|inner| {
                nix::unistd::write(inner.get_ref(), data).map_err(|e| io::Error::from_raw_os_error(e as i32))
            }) {
                Ok(r) => return Poll::Ready(r),
                Err(_would_block) => continue,
            }
        }
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

fn nix_err(e: nix::Error) -> io::Error {
    io::Error::from_raw_os_error(e as i32)
}

/// Opens a PTY pair: raw slave, non-blocking master. Returns (master, slave, slave path).
pub fn open_raw_pty() -> io::Result<(OwnedFd, OwnedFd, PathBuf)> {
    let pty = openpty(None, None).map_err(nix_err)?;
    let mut t = tcgetattr(pty.slave.as_fd()).map_err(nix_err)?;
    cfmakeraw(&mut t);
    tcsetattr(pty.slave.as_fd(), SetArg::TCSANOW, &t).map_err(nix_err)?;
    let flags = fcntl(pty.master.as_fd(), FcntlArg::F_GETFL).map_err(nix_err)?;
    fcntl(pty.master.as_fd(), FcntlArg::F_SETFL(OFlag::from_bits_truncate(flags) | OFlag::O_NONBLOCK))
        .map_err(nix_err)?;
    let tty = std::fs::read_link(format!("/proc/self/fd/{}", pty.slave.as_raw_fd()))?;
    Ok((pty.master, pty.slave, tty))
}

/// Starts a board on a new PTY and points `link` at it (replacing a stale link). Must be
/// called inside a tokio runtime.
pub fn spawn_pty(cfg: BoardConfig, link: &Path) -> io::Result<PtyBoard> {
    let (inner, handle, ctl) = runner::prepare(&cfg)?;
    let (master, slave, tty) = open_raw_pty()?;
    if link.symlink_metadata().is_ok() {
        std::fs::remove_file(link)?;
    }
    std::os::unix::fs::symlink(&tty, link)?;
    // SAFETY: the OwnedFd is moved into the AsyncFd, stays open for its whole lifetime and
    // always reports the same descriptor.
    let fd = unsafe { AsyncFd::register(master) }?;
    let master = PtyMaster { fd };
    let (rd, wr) = tokio::io::split(master);
    let link_owned = link.to_path_buf();
    let slave_probe = slave.try_clone()?;
    let probe: runner::BaudProbe = Box::new(move || host_baud(&slave_probe));
    let mut ctl = ctl;
    tokio::spawn(async move {
        let epoch = tokio::time::Instant::now();
        let mut end = runner::run(inner.clone(), rd, wr, &mut ctl, true, Some(probe), epoch, None).await;
        let mut slave = slave;
        // On USB-Serial/JTAG a chip reset takes the port off the bus: this PTY goes and
        // a new one appears behind the same link after the re-enumeration delay.
        while let runner::LinkEnd::Reenumerate(after) = end {
            drop(slave);
            let _ = std::fs::remove_file(&link_owned);
            tokio::time::sleep(after).await;
            let next = match reenumerated_pty(&link_owned) {
                Ok(n) => n,
                Err(e) => {
                    tracing::error!(link = %link_owned.display(), "cannot enumerate the board again: {e}");
                    return;
                }
            };
            // The one line a harness watches for to learn the new port.
            println!("{} reenumerated {}", link_name(&link_owned), next.tty.display());
            slave = next.slave;
            let probe_fd = slave.try_clone();
            let probe: Option<runner::BaudProbe> =
                probe_fd.ok().map(|fd| Box::new(move || host_baud(&fd)) as runner::BaudProbe);
            let (rd, wr) = tokio::io::split(next.master);
            end = runner::run(inner.clone(), rd, wr, &mut ctl, true, probe, epoch, None).await;
        }
        drop(slave);
        let _ = std::fs::remove_file(&link_owned);
    });
    Ok(PtyBoard { handle, link: link.to_path_buf(), tty })
}

/// The board's link name (`board3`), as espsim prints it.
fn link_name(link: &Path) -> String {
    link.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default()
}

/// A fresh PTY for a board that enumerated again.
struct NextPty {
    master: PtyMaster,
    slave: OwnedFd,
    tty: PathBuf,
}

fn reenumerated_pty(link: &Path) -> io::Result<NextPty> {
    let (master, slave, tty) = open_raw_pty()?;
    if link.symlink_metadata().is_ok() {
        std::fs::remove_file(link)?;
    }
    std::os::unix::fs::symlink(&tty, link)?;
    // SAFETY: as in `spawn_pty`: the AsyncFd owns the descriptor for its whole lifetime.
    let fd = unsafe { AsyncFd::register(master) }?;
    Ok(NextPty { master: PtyMaster { fd }, slave, tty })
}

/// The baud rate the client set on the port, standard or not (`TCGETS2` reports the
/// numeric rate, also for custom `BOTHER` rates such as esptool's drift-compensated ones).
fn host_baud(fd: &OwnedFd) -> Option<u32> {
    use nix::libc;
    // SAFETY: termios2 is plain old data; the ioctl writes at most its size.
    let mut t: libc::termios2 = unsafe { std::mem::zeroed() };
    // SAFETY: fd is an open tty descriptor and `t` a valid termios2 to fill.
    let r = unsafe { libc::ioctl(fd.as_raw_fd(), libc::TCGETS2 as _, &mut t as *mut libc::termios2) };
    (r == 0 && t.c_ospeed > 0).then_some(t.c_ospeed)
}

#[cfg(test)]
mod tests {
    use super::*;
    use nix::libc;

    #[test]
    fn reads_standard_and_custom_baud_rates() {
        let (_m, slave, tty) = open_raw_pty().unwrap();
        assert!(tty.starts_with("/dev/pts"));
        let mut t = tcgetattr(slave.as_fd()).unwrap();
        nix::sys::termios::cfsetspeed(&mut t, nix::sys::termios::BaudRate::B921600).unwrap();
        tcsetattr(slave.as_fd(), SetArg::TCSANOW, &t).unwrap();
        assert_eq!(host_baud(&slave), Some(921_600));
        // A non-standard rate, as pyserial sets it (BOTHER via TCSETS2).
        // SAFETY: plain ioctls on an open tty with a valid termios2.
        unsafe {
            let mut t2: libc::termios2 = std::mem::zeroed();
            assert_eq!(libc::ioctl(slave.as_raw_fd(), libc::TCGETS2 as _, &mut t2 as *mut libc::termios2), 0);
            t2.c_cflag &= !libc::CBAUD;
            t2.c_cflag |= libc::BOTHER;
            t2.c_ospeed = 921_690;
            t2.c_ispeed = 921_690;
            assert_eq!(libc::ioctl(slave.as_raw_fd(), libc::TCSETS2 as _, &t2 as *const libc::termios2), 0);
        }
        assert_eq!(host_baud(&slave), Some(921_690));
    }
}
