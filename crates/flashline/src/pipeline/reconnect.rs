//! Finding a board again after it re-enumerated: a chip on its own USB-Serial/JTAG port
//! leaves the bus at every reset and comes back as a new serial device.
//!
//! [`BoardWatch`] is what a job and the dispatcher share about one board: the job notes
//! each such reset before it happens (so the dispatcher reads the `remove` that follows
//! as the board's own, not as an unplug), and the dispatcher hands the job the device
//! node the board came back on. [`PortReconnect`] is the session's [`Reconnect`] over the
//! station's [`PortOpener`]: it waits for that node (or, without a watch, retries the same
//! node) and opens it.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use flashline_session::{Reconnect, ReopenFuture, ResetInto};
use tokio::sync::watch;

use super::ports::{BoxTransport, OpenRequest, PortOpener};

/// How long after a job's reset a remove/add of its board is the board's own
/// re-enumeration (real boards are back within a second; see the timing doc).
pub const REENUMERATION_WINDOW: Duration = Duration::from_secs(10);

/// Pause between attempts to open a port that is not ready yet.
const REOPEN_RETRY: Duration = Duration::from_millis(50);

/// What a job and the dispatcher know about a board that may re-enumerate.
#[derive(Debug)]
pub struct BoardWatch {
    reset: Mutex<Option<(ResetInto, Instant)>>,
    back: watch::Sender<(u64, Option<PathBuf>)>,
}

impl BoardWatch {
    pub fn new() -> Arc<BoardWatch> {
        Arc::new(BoardWatch { reset: Mutex::new(None), back: watch::channel((0, None)).0 })
    }

    /// The job is about to reset the board off the bus.
    pub fn resetting(&self, into: ResetInto) {
        *self.reset.lock().expect("board watch") = Some((into, Instant::now()));
    }

    /// The last reset, while its window is open.
    pub fn expecting(&self, now: Instant) -> Option<ResetInto> {
        let last = *self.reset.lock().expect("board watch");
        last.filter(|(_, at)| now.saturating_duration_since(*at) < REENUMERATION_WINDOW).map(|(into, _)| into)
    }

    /// When the window of the last reset closes.
    pub fn window_end(&self) -> Option<(ResetInto, Instant)> {
        self.reset.lock().expect("board watch").map(|(into, at)| (into, at + REENUMERATION_WINDOW))
    }

    /// The board is back, on `devnode`: its job gets the node, and the window closes (a
    /// later remove is an unplug again).
    pub fn came_back(&self, devnode: PathBuf) {
        self.reset.lock().expect("board watch").take();
        self.back.send_modify(|(n, node)| {
            *n += 1;
            *node = Some(devnode);
        });
    }

    fn generation(&self) -> u64 {
        self.back.borrow().0
    }
}

/// The session's way back to a re-enumerated board, over the station's opener.
pub struct PortReconnect {
    opener: Arc<dyn PortOpener>,
    req: OpenRequest,
    watch: Option<Arc<BoardWatch>>,
    /// The watch's generation when the last reset was announced.
    mark: Mutex<u64>,
}

impl PortReconnect {
    /// With a watch: the board is reopened where the dispatcher saw it come back. Without:
    /// the same device node is opened again (a port that keeps its name).
    pub fn new(opener: Arc<dyn PortOpener>, req: OpenRequest, watch: Option<Arc<BoardWatch>>) -> PortReconnect {
        PortReconnect { opener, req, watch, mark: Mutex::new(0) }
    }
}

impl Reconnect<BoxTransport> for PortReconnect {
    fn resetting(&self, into: ResetInto) {
        if let Some(w) = &self.watch {
            *self.mark.lock().expect("reconnect mark") = w.generation();
            w.resetting(into);
        }
    }

    fn reopen(&self) -> ReopenFuture<'_, BoxTransport> {
        Box::pin(async move {
            let devnode = match &self.watch {
                Some(w) => {
                    let mark = *self.mark.lock().expect("reconnect mark");
                    let mut rx = w.back.subscribe();
                    let back = rx
                        .wait_for(|(n, node)| *n > mark && node.is_some())
                        .await
                        .map_err(|_| "the station stopped watching the port".to_string())?;
                    back.1.clone().expect("checked")
                }
                None => self.req.devnode.clone(),
            };
            let req = OpenRequest { devnode, ..self.req.clone() };
            loop {
                match self.opener.open(&req).await {
                    Ok(port) => return Ok(port),
                    Err(e) => {
                        tracing::debug!(error = %e, "the re-enumerated port does not open yet");
                        tokio::time::sleep(REOPEN_RETRY).await;
                    }
                }
            }
        })
    }
}
