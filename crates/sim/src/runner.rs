//! The thin IO layer around a [`Board`]: a task that feeds it the bytes read from the link
//! (stamped with the time they were read), a writer task that sends its output at the
//! scheduled absolute times, paced at the UART rate, and the control handle.

use crate::board::{Board, Output};
use crate::config::BoardConfig;
use crate::persist::FlashFile;
use crate::stats::SimStats;
use flashline_protocol::chip::Mac;
use std::io;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;

/// Largest run the writer hands to the link at once when pacing: about 2 ms of UART time,
/// so a host sees a reply arrive progressively, as from a real UART.
const PACE_SLICE: Duration = Duration::from_millis(2);

/// tokio timers fire on 1 ms ticks, rounding deadlines up. Aiming half a tick early makes
/// the rounding error symmetric (−0.5..+0.5 ms) instead of always late, so stop-and-wait
/// exchanges are not systematically slowed down.
const HALF_TICK: Duration = Duration::from_micros(500);

async fn sleep_until_rounded(t: Instant) {
    let t = t.checked_sub(HALF_TICK).unwrap_or(t);
    // A deadline already past must not cost a timer tick.
    if t > Instant::now() {
        tokio::time::sleep_until(t).await
    }
}

pub(crate) struct Inner {
    pub board: Board,
    pub file: Option<FlashFile>,
}

impl Inner {
    /// Writes the sectors that changed to the backing file.
    fn sync_flash(&mut self) {
        let dirty = self.board.flash_mut().take_dirty();
        if let Some(f) = self.file.as_mut() {
            if let Err(e) = f.write_ranges(self.board.flash().contents(), &dirty) {
                tracing::error!("writing flash file: {e}");
            }
        }
    }
}

pub(crate) enum Control {
    /// Modem lines; `link` names the link they were set on (None: whichever is up).
    Lines {
        dtr: bool,
        rts: bool,
        link: Option<u64>,
    },
    Unplug,
    /// The board's power is cut and restored (`Board::power_cycle`).
    PowerCycle,
}

/// Control handle of a running board.
#[derive(Clone)]
pub struct SimHandle {
    inner: Arc<Mutex<Inner>>,
    ctl: mpsc::UnboundedSender<Control>,
    mac: Mac,
    /// Number of the board's current link (a USB board gets a new one per enumeration).
    link: Arc<AtomicU64>,
}

impl SimHandle {
    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The MAC burnt into this board's eFuses.
    pub fn mac(&self) -> Mac {
        self.mac
    }

    /// Snapshot of the whole flash.
    pub fn flash(&self) -> Vec<u8> {
        self.lock().board.flash().contents().to_vec()
    }

    /// Presets flash content (no NOR semantics, no timing). Out-of-range parts are ignored.
    pub fn write_flash_raw(&self, offset: u32, data: &[u8]) {
        let mut g = self.lock();
        let size = g.board.flash().size();
        if offset < size {
            let n = data.len().min((size - offset) as usize);
            let _ = g.board.flash_mut().write_raw(offset, &data[..n]);
        }
        g.sync_flash();
    }

    /// Modem lines from the host (pyserial convention: `true` = asserted = low).
    pub fn set_lines(&self, dtr: bool, rts: bool) {
        let _ = self.ctl.send(Control::Lines { dtr, rts, link: None });
    }

    /// Presses reset with IO0 held low, as the auto-reset circuit does for esptool's
    /// `--before default-reset` (EN low, then EN high while IO0 is low, then both
    /// released): the chip boots into download mode.
    pub fn reset_to_download(&self) {
        for (dtr, rts) in [(false, true), (true, false), (false, false)] {
            self.set_lines(dtr, rts);
        }
    }

    /// Modem lines of the board's current link only: on a USB board, line changes a host
    /// makes on a port that has since gone away (it re-enumerated) never reach the chip.
    pub fn link_lines(&self) -> impl Fn(bool, bool) + Send + Sync + 'static {
        let (ctl, link) = (self.ctl.clone(), self.link.load(Ordering::SeqCst));
        move |dtr, rts| {
            let _ = ctl.send(Control::Lines { dtr, rts, link: Some(link) });
        }
    }

    /// The board's link is gone: a new one gets the next number.
    pub(crate) fn next_link(&self) {
        self.link.fetch_add(1, Ordering::SeqCst);
    }

    /// The number of the board's current link.
    pub(crate) fn current_link(&self) -> u64 {
        self.link.load(Ordering::SeqCst)
    }

    /// Drops the link now.
    pub fn unplug(&self) {
        let _ = self.ctl.send(Control::Unplug);
    }

    /// Cuts the board's power and restores it (a hub port power cycle on a fixture that
    /// holds the board in download mode): it boots into the ROM loader, flash kept.
    pub fn power_cycle(&self) {
        let _ = self.ctl.send(Control::PowerCycle);
    }

    pub fn stats(&self) -> SimStats {
        self.lock().board.stats()
    }

    /// Current loader personality (for tests).
    pub fn mode(&self) -> crate::board::Mode {
        self.lock().board.mode()
    }
}

/// Builds the board (loading its flash file) and its handle.
pub(crate) fn prepare(
    cfg: &BoardConfig,
) -> io::Result<(Arc<Mutex<Inner>>, SimHandle, mpsc::UnboundedReceiver<Control>)> {
    if !crate::config::FLASH_SIZES.contains(&cfg.flash_size) {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("flash size {} is not simulated (1, 2, 4, 8 or 16 MB)", cfg.flash_size),
        ));
    }
    let chips = std::iter::once(cfg.chip).chain(cfg.faults.iter().filter_map(|f| match f {
        crate::faults::Fault::WrongChip(c) => Some(*c),
        _ => None,
    }));
    for chip in chips {
        crate::chips::ensure(chip).map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
    }
    crate::usb::check_chip(cfg.chip, cfg.link, cfg.usb_any_chip)
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
    let mut board = Board::new(cfg);
    let file = match &cfg.flash_file {
        Some(p) => Some(FlashFile::open(p, board.flash_mut())?),
        None => None,
    };
    let mut inner = Inner { board, file };
    inner.sync_flash();
    let inner = Arc::new(Mutex::new(inner));
    let (tx, rx) = mpsc::unbounded_channel();
    let handle = SimHandle { inner: inner.clone(), ctl: tx, mac: cfg.mac, link: Arc::new(AtomicU64::new(0)) };
    Ok((inner, handle, rx))
}

/// Why a link ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum LinkEnd {
    /// The host closed its end (or the link failed).
    HostClosed,
    /// The board was unplugged (or unplugged itself).
    Unplugged,
    /// The chip reset on its USB-Serial/JTAG port: a new link enumerates after this long.
    Reenumerate(Duration),
}

/// Reads the host's current port baud rate, if the link has one.
pub(crate) type BaudProbe = Box<dyn Fn() -> Option<u32> + Send>;

/// Runs a board on a link until the link closes (host end gone, unplug, or a reset that
/// re-enumerates the board's USB port). `epoch` is the board's time zero: the same for
/// every link of one board, so its timelines survive a re-enumeration. `link` is this
/// link's number when the board has several over its life (line changes made on another
/// are dropped).
#[allow(clippy::too_many_arguments)] // the link, the board and how this link relates to its others
pub(crate) async fn run<R, W>(
    inner: Arc<Mutex<Inner>>,
    mut rd: R,
    wr: W,
    ctl: &mut mpsc::UnboundedReceiver<Control>,
    retry_on_eof: bool,
    baud_probe: Option<BaudProbe>,
    epoch: Instant,
    link: Option<u64>,
) -> LinkEnd
where
    R: AsyncRead + Unpin + Send + 'static,
    W: AsyncWrite + Unpin + Send + 'static,
{
    inner.lock().unwrap_or_else(|p| p.into_inner()).board.link_up();
    let (out_tx, out_rx) = mpsc::unbounded_channel::<Output>();
    let (closed_tx, mut closed_rx) = oneshot::channel::<LinkEnd>();
    let mut end = LinkEnd::HostClosed;
    let writer = tokio::spawn(write_loop(epoch, wr, out_rx, closed_tx));
    let mut buf = vec![0u8; 16 * 1024];
    let mut ctl_open = true;
    let lock = |i: &Arc<Mutex<Inner>>| i.lock().unwrap_or_else(|p| p.into_inner()).board.next_deadline();
    loop {
        let deadline = lock(&inner).map(|d| epoch + d);
        tokio::select! {
            // Control first: a host that changes its modem lines and then writes expects
            // the board to see them in that order.
            biased;
            c = ctl.recv(), if ctl_open => {
                let now = epoch.elapsed();
                let mut g = inner.lock().unwrap_or_else(|p| p.into_inner());
                match c {
                    Some(Control::Lines { dtr, rts, link: on }) => {
                        // Set on a link that has since gone away: never reaches the chip.
                        let stale = matches!((on, link), (Some(on), Some(ours)) if on != ours);
                        if !stale {
                            g.board.set_lines(now, dtr, rts);
                        }
                    }
                    Some(Control::Unplug) => g.board.unplug(now),
                    Some(Control::PowerCycle) => g.board.power_cycle(now),
                    None => ctl_open = false,
                }
                for o in g.board.take_output() {
                    let _ = out_tx.send(o);
                }
            }
            r = rd.read(&mut buf) => match r {
                Ok(0) if !retry_on_eof => break,
                Ok(0) => tokio::time::sleep(Duration::from_millis(20)).await,
                Ok(n) => {
                    let now = epoch.elapsed();
                    let mut g = inner.lock().unwrap_or_else(|p| p.into_inner());
                    if let Some(p) = &baud_probe {
                        g.board.set_host_baud(p());
                    }
                    g.board.on_bytes(now, &buf[..n]);
                    g.sync_flash();
                    for o in g.board.take_output() {
                        let _ = out_tx.send(o);
                    }
                }
                // A PTY master reads EIO while no process has the slave open.
                Err(e) if retry_on_eof && e.raw_os_error() == Some(nix::libc::EIO) => {
                    tokio::time::sleep(Duration::from_millis(20)).await
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted || e.kind() == io::ErrorKind::WouldBlock => {}
                Err(e) => {
                    tracing::debug!("link read failed: {e}");
                    break;
                }
            },
            _ = sleep_until_opt(deadline) => {
                let now = epoch.elapsed();
                let mut g = inner.lock().unwrap_or_else(|p| p.into_inner());
                g.board.poll(now);
                for o in g.board.take_output() {
                    let _ = out_tx.send(o);
                }
            }
            e = &mut closed_rx => {
                end = e.unwrap_or(LinkEnd::HostClosed);
                break;
            }
        }
    }
    drop(out_tx);
    drop(rd);
    // On unplug the writer has already dropped its half; otherwise let it finish sending.
    let _ = writer.await;
    // The host may close its end while the board is dropping the link: the board's
    // reason wins.
    match inner.lock().unwrap_or_else(|p| p.into_inner()).board.link_end() {
        Some(None) => LinkEnd::Unplugged,
        Some(Some(after)) => LinkEnd::Reenumerate(after),
        None => end,
    }
}

async fn sleep_until_opt(t: Option<Instant>) {
    match t {
        Some(t) => tokio::time::sleep_until(t).await,
        None => std::future::pending().await,
    }
}

/// Sends outputs at their absolute times. Pacing: each slice is written when its last
/// byte would have left the UART (`start + n × 10 / baud`), so no error accumulates.
async fn write_loop<W: AsyncWrite + Unpin>(
    epoch: Instant,
    mut wr: W,
    mut rx: mpsc::UnboundedReceiver<Output>,
    closed: oneshot::Sender<LinkEnd>,
) {
    while let Some(o) = rx.recv().await {
        match o {
            Output::Bytes { at, bytes, pace } => {
                let start = epoch + at;
                if pace.is_instant() {
                    sleep_until_rounded(start).await;
                    if wr.write_all(&bytes).await.is_err() {
                        break;
                    }
                } else {
                    let per_slice = (PACE_SLICE.as_nanos() / pace.time(1).as_nanos().max(1)).max(1) as usize;
                    let mut sent = 0;
                    while sent < bytes.len() {
                        let n = per_slice.min(bytes.len() - sent);
                        sleep_until_rounded(start + pace.time(sent + n)).await;
                        if wr.write_all(&bytes[sent..sent + n]).await.is_err() {
                            let _ = closed.send(LinkEnd::HostClosed);
                            return;
                        }
                        sent += n;
                    }
                }
                let _ = wr.flush().await;
            }
            Output::Close { at } => {
                tokio::time::sleep_until(epoch + at).await;
                let _ = wr.shutdown().await;
                drop(wr);
                let _ = closed.send(LinkEnd::Unplugged);
                return;
            }
            Output::Reenumerate { at, back_after } => {
                tokio::time::sleep_until(epoch + at).await;
                let _ = wr.shutdown().await;
                drop(wr);
                let _ = closed.send(LinkEnd::Reenumerate(back_after));
                return;
            }
        }
    }
}
