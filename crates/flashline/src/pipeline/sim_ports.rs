//! Simulated boards as ports: an in-process `espsim` board per device node, reached over
//! the in-memory duplex link. The station's tests inject this opener so the dispatcher,
//! the jobs and the pipeline run end to end without a pseudo-terminal (the PTY and
//! umockdev tests stay the system level).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use flashline_session::DuplexTransport;
use flashline_sim::{try_spawn_duplex, BoardConfig, SimHandle};
use tokio::io::DuplexStream;

use super::ports::{BoxTransport, OpenError, OpenFuture, OpenRequest, PortOpener};

/// Device node → simulated board waiting to be opened.
#[derive(Clone, Default)]
pub struct SimulatedPorts {
    boards: Arc<Mutex<HashMap<PathBuf, Attached>>>,
}

struct Attached {
    handle: SimHandle,
    link: Option<DuplexStream>,
}

impl std::fmt::Debug for SimulatedPorts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let ports: Vec<PathBuf> = self.lock().keys().cloned().collect();
        f.debug_struct("SimulatedPorts").field("ports", &ports).finish()
    }
}

impl SimulatedPorts {
    pub fn new() -> SimulatedPorts {
        SimulatedPorts::default()
    }

    /// Starts a simulated board behind `devnode` (must run inside a tokio runtime) and
    /// returns its handle (flash contents, stats, unplug). A board already there is
    /// unplugged first.
    pub fn attach(&self, devnode: impl Into<PathBuf>, cfg: BoardConfig) -> std::io::Result<SimHandle> {
        let (link, handle) = try_spawn_duplex(cfg)?;
        let old = self.lock().insert(devnode.into(), Attached { handle: handle.clone(), link: Some(link) });
        if let Some(old) = old {
            old.handle.unplug();
        }
        Ok(handle)
    }

    /// Pulls the board out: its link breaks under a running job, and the port is gone.
    pub fn detach(&self, devnode: &Path) -> Option<SimHandle> {
        let gone = self.lock().remove(devnode)?;
        gone.handle.unplug();
        Some(gone.handle)
    }

    /// The handle of the board behind `devnode`.
    pub fn handle(&self, devnode: &Path) -> Option<SimHandle> {
        self.lock().get(devnode).map(|a| a.handle.clone())
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<PathBuf, Attached>> {
        self.boards.lock().expect("simulated ports")
    }
}

impl PortOpener for SimulatedPorts {
    fn open<'a>(&'a self, req: &'a OpenRequest) -> OpenFuture<'a> {
        Box::pin(async move {
            let mut boards = self.lock();
            let Some(board) = boards.get_mut(&req.devnode) else {
                return Err(OpenError::new(&req.devnode, "no such serial port (no simulated board attached)"));
            };
            let Some(link) = board.link.take() else {
                return Err(OpenError::new(&req.devnode, "the port is in use by another program"));
            };
            let sim = board.handle.clone();
            let port = DuplexTransport::new(link).with_lines_hook(move |d, r| sim.set_lines(d, r));
            Ok(Box::new(port) as BoxTransport)
        })
    }
}
