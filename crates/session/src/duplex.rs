//! In-memory transport over a [`tokio::io::DuplexStream`], used to run the session against
//! the simulator inside one process.

use crate::transport::Transport;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use tokio::io::{AsyncRead, AsyncWrite, DuplexStream, ReadBuf};

/// Called with `(dtr, rts)` whenever the session changes a modem line, so a simulator can
/// react to the reset circuit.
pub type LinesHook = Box<dyn FnMut(bool, bool) + Send + Sync>;

/// A duplex pipe that remembers its modem lines and baud rate.
pub struct DuplexTransport {
    stream: DuplexStream,
    dtr: bool,
    rts: bool,
    baud: u32,
    hook: Option<LinesHook>,
    usb_ids: Option<(u16, u16)>,
}

impl DuplexTransport {
    pub fn new(stream: DuplexStream) -> Self {
        Self { stream, dtr: false, rts: false, baud: 115_200, hook: None, usb_ids: None }
    }

    /// Forwards every modem-line change to `hook` (e.g. `move |d, r| sim.set_lines(d, r)`).
    pub fn with_lines_hook(mut self, hook: impl FnMut(bool, bool) + Send + Sync + 'static) -> Self {
        self.hook = Some(Box::new(hook));
        self
    }

    /// The USB id the port reports (a simulated board on its USB-Serial/JTAG port says
    /// 303a:1001, which selects the USB reset).
    pub fn with_usb_ids(mut self, vid: u16, pid: u16) -> Self {
        self.usb_ids = Some((vid, pid));
        self
    }

    /// Current (dtr, rts).
    pub fn lines(&self) -> (bool, bool) {
        (self.dtr, self.rts)
    }

    fn notify(&mut self) {
        let (d, r) = (self.dtr, self.rts);
        if let Some(h) = self.hook.as_mut() {
            h(d, r);
        }
    }
}

impl Transport for DuplexTransport {
    fn set_dtr(&mut self, level: bool) -> io::Result<()> {
        self.dtr = level;
        self.notify();
        Ok(())
    }

    fn set_rts(&mut self, level: bool) -> io::Result<()> {
        self.rts = level;
        self.notify();
        Ok(())
    }

    fn set_dtr_rts(&mut self, dtr: bool, rts: bool) -> io::Result<()> {
        self.dtr = dtr;
        self.rts = rts;
        self.notify();
        Ok(())
    }

    fn set_baud(&mut self, baud: u32) -> io::Result<()> {
        self.baud = baud;
        Ok(())
    }

    fn baud(&self) -> u32 {
        self.baud
    }

    fn usb_ids(&self) -> Option<(u16, u16)> {
        self.usb_ids
    }

    fn name(&self) -> String {
        "duplex".into()
    }
}

impl AsyncRead for DuplexTransport {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_read(cx, buf)
    }
}

impl AsyncWrite for DuplexTransport {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write(cx, buf)
    }
    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_flush(cx)
    }
    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    #[tokio::test]
    async fn forwards_lines_and_bytes() {
        let (a, mut b) = tokio::io::duplex(64);
        let seen = Arc::new(Mutex::new(Vec::new()));
        let s2 = seen.clone();
        let mut t = DuplexTransport::new(a).with_lines_hook(move |d, r| s2.lock().unwrap().push((d, r)));
        t.set_dtr(true).unwrap();
        t.set_dtr_rts(false, true).unwrap();
        assert_eq!(*seen.lock().unwrap(), vec![(true, false), (false, true)]);
        assert_eq!(t.lines(), (false, true));
        t.set_baud(921_600).unwrap();
        assert_eq!(t.baud(), 921_600);
        t.write_all(b"hi").await.unwrap();
        let mut buf = [0u8; 2];
        b.read_exact(&mut buf).await.unwrap();
        assert_eq!(&buf, b"hi");
    }
}
