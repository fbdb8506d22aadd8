//! Simulated boards as ports: an in-process `espsim` board per device node, reached over
//! the in-memory duplex link. The station's tests inject this opener so the dispatcher,
//! the jobs and the pipeline run end to end without a pseudo-terminal (the PTY and
//! umockdev tests stay the system level).
//!
//! A board on its own USB-Serial/JTAG port ([`SimulatedPorts::attach_usb`]) plays the
//! host's USB stack too: when the chip resets, its node goes away (a `remove` on the
//! simulated device source) and, after the board's re-enumeration delay, it is back on
//! the same node or a new one (an `add`), in its application maybe as another USB device.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use flashline_session::DuplexTransport;
use flashline_sim::{spawn_usb_duplex, try_spawn_duplex, BoardConfig, Mode, SimHandle, UsbLinkEvent};
use tokio::io::DuplexStream;

use super::follow::{FoundPort, PortFinder};
use super::ports::{BoxTransport, OpenError, OpenFuture, OpenRequest, PortOpener};
use crate::device::{DeviceInfo, SimulatedDevices};

/// How a simulated USB-Serial/JTAG board shows up again after a reset.
#[derive(Debug, Clone, Default)]
pub struct UsbReplug {
    /// Comes back on a new node (`<node>-1`, `-2`...), as when the old one was held open.
    pub new_node: bool,
    /// In its application it enumerates as this VID:PID (a TinyUSB app), not 303a:1001.
    pub app_id: Option<(u16, u16)>,
    /// Never comes back after its first reset (a dead USB port, a broken cable).
    pub never_back: bool,
}

/// Device node → simulated board waiting to be opened.
#[derive(Clone, Default)]
pub struct SimulatedPorts {
    boards: Arc<Mutex<HashMap<PathBuf, Attached>>>,
}

struct Attached {
    handle: SimHandle,
    link: Option<DuplexStream>,
    /// The USB id a USB-Serial/JTAG board reports (None: a UART bridge board).
    usb: Option<(u16, u16)>,
    /// A USB-Serial/JTAG board's place on the bus (its USB path) and how many times it
    /// enumerated there, for a one-off command following it ([`PortFinder`]).
    place: Option<(String, u64)>,
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
        let old = self
            .lock()
            .insert(devnode.into(), Attached { handle: handle.clone(), link: Some(link), usb: None, place: None });
        if let Some(old) = old {
            old.handle.unplug();
        }
        Ok(handle)
    }

    /// Starts a board on its USB-Serial/JTAG port (`cfg.link` must say so) behind
    /// `info.devnode` and plugs it into `devices`; from then on its resets remove and add
    /// it there as `replug` says. Must run inside a tokio runtime.
    pub fn attach_usb(
        &self,
        info: DeviceInfo,
        cfg: BoardConfig,
        devices: SimulatedDevices,
        replug: UsbReplug,
    ) -> std::io::Result<SimHandle> {
        let (link, handle, mut events) = spawn_usb_duplex(cfg)?;
        let usb = Some((info.vid, info.pid));
        let place = Some((info.usb_path.clone(), 0));
        self.lock().insert(info.devnode.clone(), Attached { handle: handle.clone(), link: Some(link), usb, place });
        devices.plug(info.clone());
        let (ports, sim) = (self.clone(), handle.clone());
        tokio::spawn(async move {
            let mut current = info;
            let mut enumerations = 0;
            // On the bus (false between a reset's remove and the add that follows).
            let mut present = true;
            while let Some(ev) = events.recv().await {
                match ev {
                    UsbLinkEvent::Dropped => {
                        ports.lock().remove(&current.devnode);
                        devices.unplug(&current.syspath);
                        present = false;
                        if replug.never_back {
                            return;
                        }
                    }
                    UsbLinkEvent::Enumerated(link) => {
                        enumerations += 1;
                        let mut next = current.clone();
                        if replug.new_node {
                            next.devnode = PathBuf::from(format!("{}-{enumerations}", current.devnode.display()));
                            next.syspath = PathBuf::from(format!("{}-{enumerations}", current.syspath.display()));
                        }
                        if let (Mode::App, Some((vid, pid))) = (sim.mode(), replug.app_id) {
                            (next.vid, next.pid) = (vid, pid);
                        }
                        let usb = Some((next.vid, next.pid));
                        let place = Some((next.usb_path.clone(), enumerations));
                        let attached = Attached { handle: sim.clone(), link: Some(link), usb, place };
                        ports.lock().insert(next.devnode.clone(), attached);
                        devices.plug(next.clone());
                        current = next;
                        present = true;
                    }
                    UsbLinkEvent::Reopenable(link) => {
                        if let Some(a) = ports.lock().get_mut(&current.devnode) {
                            a.link = Some(link);
                        }
                    }
                    UsbLinkEvent::Unplugged => {
                        // Pulled while off the bus (between its reset and its return):
                        // there is nothing left to remove, and the node may be another
                        // board's by now.
                        if present {
                            ports.lock().remove(&current.devnode);
                            devices.unplug(&current.syspath);
                        }
                        return;
                    }
                }
            }
        });
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

/// The in-process boards' places: a USB-Serial/JTAG board is at its USB path; each
/// enumeration there is a new instance.
impl PortFinder for SimulatedPorts {
    fn place(&self, devnode: &Path) -> Option<String> {
        self.lock().get(devnode).and_then(|a| a.place.as_ref()).map(|(p, _)| p.clone())
    }

    fn ports_at(&self, place: &str) -> Vec<FoundPort> {
        let mut found: Vec<FoundPort> = self
            .lock()
            .iter()
            .filter_map(|(node, a)| match &a.place {
                Some((p, n)) if p == place => Some(FoundPort { devnode: node.clone(), instance: *n }),
                _ => None,
            })
            .collect();
        found.sort_by(|a, b| a.devnode.cmp(&b.devnode));
        found
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
            let port = match board.usb {
                // Line changes count on this link only: once it is gone, they go nowhere.
                Some((vid, pid)) => {
                    DuplexTransport::new(link).with_usb_ids(vid, pid).with_lines_hook(board.handle.link_lines())
                }
                None => {
                    let sim = board.handle.clone();
                    DuplexTransport::new(link).with_lines_hook(move |d, r| sim.set_lines(d, r))
                }
            };
            Ok(Box::new(port) as BoxTransport)
        })
    }
}
