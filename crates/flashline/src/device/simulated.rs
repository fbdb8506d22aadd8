//! A device source driven by code: the demo plugs simulated boards (espsim PTYs) into the
//! same pipeline real boards go through, and tests use it to drive the dispatcher.

use std::path::{Path, PathBuf};

use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use super::{DeviceError, DeviceInfo, DeviceSource, SourceEvent};

/// The source half; give it to [`super::start`].
pub struct SimulatedSource {
    rx: mpsc::UnboundedReceiver<SourceEvent>,
}

/// The hand that plugs and unplugs boards. Dropping it (and its clones) ends the source.
#[derive(Clone)]
pub struct SimulatedDevices {
    tx: mpsc::UnboundedSender<SourceEvent>,
}

impl SimulatedSource {
    pub fn new() -> (SimulatedSource, SimulatedDevices) {
        let (tx, rx) = mpsc::unbounded_channel();
        (SimulatedSource { rx }, SimulatedDevices { tx })
    }
}

impl SimulatedDevices {
    /// Plugs a board in. Events sent before the source started are delivered after its
    /// `Ready`, like hot-plugs.
    pub fn plug(&self, info: DeviceInfo) {
        // A closed channel means the pipeline is shutting down; nothing left to tell.
        let _ = self.tx.send(SourceEvent::Added(info));
    }

    /// Unplugs the board whose tty has `syspath`.
    pub fn unplug(&self, syspath: &Path) {
        let _ = self.tx.send(SourceEvent::Removed { syspath: syspath.to_path_buf(), devnode: None });
    }

    /// Unplugs by port path, as a remove whose syspath is unknown.
    pub fn unplug_devnode(&self, devnode: PathBuf) {
        let _ = self.tx.send(SourceEvent::Removed { syspath: PathBuf::new(), devnode: Some(devnode) });
    }
}

impl DeviceSource for SimulatedSource {
    fn name(&self) -> &'static str {
        "simulated"
    }

    fn spawn(self: Box<Self>, tx: mpsc::Sender<SourceEvent>) -> JoinHandle<Result<(), DeviceError>> {
        let mut rx = self.rx;
        tokio::spawn(async move {
            // Nothing is present before the first plug.
            if tx.send(SourceEvent::Ready { source: "simulated" }).await.is_err() {
                return Ok(());
            }
            while let Some(ev) = rx.recv().await {
                if tx.send(ev).await.is_err() {
                    break;
                }
            }
            Ok(())
        })
    }
}
