//! Finding a board again after it re-enumerated: a chip on its own USB-Serial/JTAG port
//! leaves the bus at every reset and comes back as a new serial device.
//!
//! [`BoardWatch`] is what a job and the dispatcher share about one board: the job notes
//! each such reset before it happens (so the dispatcher reads the `remove` that follows
//! as the board's own, not as an unplug), and the dispatcher hands the job the device
//! node the board came back on. [`PortReconnect`] is the session's [`Reconnect`] over the
//! station's [`PortOpener`]: it waits for that node (a one-off command, without a
//! station, looks for the board at its place on the bus through a
//! [`PortFinder`](super::follow::PortFinder); a port without one is retried under its
//! name) and opens it.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use flashline_session::{Reconnect, ReopenFuture, ResetInto};
use tokio::sync::watch;

use super::follow::{came_back, FoundPort, PortFinder};
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

    /// The board came back on `devnode` in its application after the final reset: a boot
    /// check waiting for its console opens it. The reset stays noted, so a second
    /// re-enumeration of the app (another VID:PID) within the window is still this board.
    pub fn app_back(&self, devnode: PathBuf) {
        self.back.send_modify(|(n, node)| {
            *n += 1;
            *node = Some(devnode);
        });
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

/// How [`PortReconnect`] learns where the board came back.
enum Back {
    /// A station: the dispatcher hands over the node through the board's watch.
    Watch { watch: Arc<BoardWatch>, mark: Mutex<u64> },
    /// A one-off command: the board's place on the bus, looked up before each reset.
    Follow { finder: Arc<dyn PortFinder>, left: Mutex<Option<(String, FoundPort)>> },
    /// The same node again (a port that keeps its name).
    SameNode,
}

/// The session's way back to a re-enumerated board, over the station's opener.
pub struct PortReconnect {
    opener: Arc<dyn PortOpener>,
    req: OpenRequest,
    /// The node the board is on now (it moves with each re-enumeration).
    current: Mutex<PathBuf>,
    back: Back,
}

impl PortReconnect {
    /// With a watch: the board is reopened where the dispatcher saw it come back. Without:
    /// the same device node is opened again (a port that keeps its name).
    pub fn new(opener: Arc<dyn PortOpener>, req: OpenRequest, watch: Option<Arc<BoardWatch>>) -> PortReconnect {
        let back = match watch {
            Some(watch) => Back::Watch { watch, mark: Mutex::new(0) },
            None => Back::SameNode,
        };
        PortReconnect { opener, current: Mutex::new(req.devnode.clone()), req, back }
    }

    /// For a command without a station: before each reset the board's place on the bus is
    /// noted, and after it the port that appears there (maybe under another name) is
    /// opened; a port `finder` cannot place (a PTY) is reopened under its name.
    pub fn following(opener: Arc<dyn PortOpener>, req: OpenRequest, finder: Arc<dyn PortFinder>) -> PortReconnect {
        let back = Back::Follow { finder, left: Mutex::new(None) };
        PortReconnect { opener, current: Mutex::new(req.devnode.clone()), req, back }
    }

    /// The node the board is on now.
    pub fn current(&self) -> PathBuf {
        self.current.lock().expect("reconnect node").clone()
    }

    /// Where the board came back, once it has (with the watch's generation of that
    /// news, for a station).
    async fn where_back(&self) -> Result<(u64, PathBuf), String> {
        match &self.back {
            Back::Watch { watch, mark } => {
                let mark = *mark.lock().expect("reconnect mark");
                let mut rx = watch.back.subscribe();
                let back = rx
                    .wait_for(|(n, node)| *n > mark && node.is_some())
                    .await
                    .map_err(|_| "the station stopped watching the port".to_string())?;
                Ok((back.0, back.1.clone().expect("checked")))
            }
            Back::Follow { finder, left } => {
                let Some((place, gone)) = left.lock().expect("reconnect place").clone() else {
                    return Ok((0, self.current()));
                };
                loop {
                    if let Some(port) = came_back(&finder.ports_at(&place), &gone) {
                        return Ok((0, port.devnode.clone()));
                    }
                    tokio::time::sleep(REOPEN_RETRY).await;
                }
            }
            Back::SameNode => Ok((0, self.current())),
        }
    }
}

impl Reconnect<BoxTransport> for PortReconnect {
    fn resetting(&self, into: ResetInto) {
        match &self.back {
            Back::Watch { watch, mark } => {
                *mark.lock().expect("reconnect mark") = watch.generation();
                watch.resetting(into);
            }
            Back::Follow { finder, left } => {
                let node = self.current();
                let here = finder.place(&node).and_then(|place| {
                    let now = finder.ports_at(&place);
                    let this = now.into_iter().find(|p| p.devnode == node)?;
                    Some((place, this))
                });
                if here.is_none() {
                    tracing::debug!(port = %node.display(), "no USB place known for the port; it is reopened under its name");
                }
                *left.lock().expect("reconnect place") = here;
            }
            Back::SameNode => {}
        }
    }

    fn reopen(&self) -> ReopenFuture<'_, BoxTransport> {
        Box::pin(async move {
            loop {
                let (generation, devnode) = self.where_back().await?;
                let req = OpenRequest { devnode: devnode.clone(), ..self.req.clone() };
                match self.opener.open(&req).await {
                    Ok(port) => {
                        *self.current.lock().expect("reconnect node") = devnode;
                        // A later reopen without a reset noted in between (the board
                        // reset by itself: a boot loop on USB) waits for the next return.
                        if let Back::Watch { mark, .. } = &self.back {
                            let mut mark = mark.lock().expect("reconnect mark");
                            *mark = (*mark).max(generation);
                        }
                        return Ok(port);
                    }
                    Err(e) => {
                        // Not ready yet (udev still setting its permissions), or, for a
                        // followed board, a node that went away again.
                        tracing::debug!(error = %e, "the re-enumerated port does not open yet");
                        tokio::time::sleep(REOPEN_RETRY).await;
                    }
                }
            }
        })
    }
}
