//! Runs a station: device sources → dispatcher → reporters, until told to stop.
//! Shared by `flashline run` (udev) and `flashline demo` (simulated boards).

use std::io::IsTerminal;
use std::sync::Arc;

use tokio::sync::{broadcast, mpsc, watch};

use super::anchor::Anchors;
use super::context::StationContext;
use super::dispatcher::{Control, Dispatcher};
use super::events::{EventReceiver, StationEvent};
use super::forward::{self, Forwarder};
use super::view::StationView;
use crate::config::{Config, Slots, UnmappedPorts};
use crate::device::{self, DeviceError, DeviceFilter, DeviceSource, SimulatedDevices, SimulatedSource};
use crate::report::{live, log};

/// How the station shows itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ui {
    /// The live view on stdout (a terminal); logs are not printed.
    Live { color: bool },
    /// Structured logs only (journald, pipes).
    Logs,
}

impl Ui {
    /// Live view when stdout is a terminal, logs otherwise.
    pub fn detect() -> Ui {
        if std::io::stdout().is_terminal() {
            Ui::Live { color: std::env::var_os("NO_COLOR").is_none() }
        } else {
            Ui::Logs
        }
    }
}

/// A started station.
pub struct Station {
    pub control: mpsc::Sender<Control>,
    /// Every station event from the start, when asked for at start (the demo counts
    /// results with it). Later outputs use [`Station::subscribe`].
    pub events: Option<EventReceiver>,
    events_tx: broadcast::Sender<StationEvent>,
    /// The view every reporter reads (slots, totals, the store notice).
    pub view: watch::Receiver<StationView>,
    task: tokio::task::JoinHandle<(StationView, Result<(), DeviceError>)>,
    painter: Option<tokio::task::JoinHandle<StationView>>,
    /// Writes the chain head to the log (start, each finished attempt; shutdown in `wait`).
    anchors: (Anchors, tokio::task::JoinHandle<()>),
    /// Forwarding to the central audit record, when `[central]` is configured.
    pub central: Option<Forwarder>,
}

/// The dispatcher's view with the forwarder's status in it: the dispatcher stays the only
/// writer of slot state and never learns about the forwarder. Ends with the dispatcher.
fn with_central(
    mut slots: watch::Receiver<StationView>,
    mut central: watch::Receiver<forward::ForwardStatus>,
) -> watch::Receiver<StationView> {
    let merged = |slots: &watch::Receiver<StationView>, central: &watch::Receiver<forward::ForwardStatus>| {
        StationView { central: Some(central.borrow().clone()), ..slots.borrow().clone() }
    };
    let (tx, rx) = watch::channel(merged(&slots, &central));
    tokio::spawn(async move {
        let mut central_open = true;
        loop {
            tokio::select! {
                r = slots.changed() => if r.is_err() { break },
                r = central.changed(), if central_open => if r.is_err() { central_open = false; continue },
            }
            tx.send_replace(merged(&slots, &central));
        }
        // The dispatcher's last view, with the final forwarding status.
        tx.send_replace(merged(&slots, &central));
    });
    rx
}

impl Station {
    /// Starts the dispatcher over `sources`. Must be called inside a tokio runtime.
    pub fn start(
        ctx: Arc<StationContext>,
        slots: Slots,
        unmapped: UnmappedPorts,
        sources: Vec<Box<dyn DeviceSource>>,
        filter: DeviceFilter,
        ui: Ui,
        want_events: bool,
    ) -> Station {
        let anchors = Anchors::new(ctx.store.clone());
        let forwarding = ctx.central.clone().map(|c| (c, ctx.station.clone(), ctx.store.clone(), ctx.shutdown.clone()));
        let dispatcher = Dispatcher::new(ctx, slots, unmapped);
        let anchors = (anchors.clone(), tokio::spawn(anchors.follow(dispatcher.subscribe())));
        // Subscribed before the dispatcher runs: no finished job is missed.
        let central = forwarding.map(|(config, station, store, shutdown)| {
            forward::spawn(&config, station, store, dispatcher.subscribe(), shutdown)
        });
        let events = want_events.then(|| dispatcher.subscribe());
        let events_tx = dispatcher.event_sender();
        let view = match &central {
            Some(f) => with_central(dispatcher.watch(), f.status.clone()),
            None => dispatcher.watch(),
        };
        let painter = match ui {
            Ui::Live { color } => {
                let rx = view.clone();
                Some(tokio::spawn(live::paint(rx, std::io::stdout(), live::Style { color }, 10)))
            }
            Ui::Logs => {
                tokio::spawn(log::log_events(dispatcher.subscribe()));
                None
            }
        };
        let devices = device::start(sources, filter);
        let (control, control_rx) = mpsc::channel(8);
        let task = tokio::spawn(dispatcher.run(devices, control_rx));
        Station { control, events, events_tx, view, task, painter, anchors, central }
    }

    /// Starts the station as `flashline demo` runs it: the config's slots, unmapped-port
    /// policy and device filter, fed by a simulated device source, with events asked for.
    /// Returns the hand that plugs and unplugs the boards.
    pub fn start_simulated(ctx: Arc<StationContext>, config: &Config, ui: Ui) -> (Station, SimulatedDevices) {
        let (source, devices) = SimulatedSource::new();
        let sources: Vec<Box<dyn DeviceSource>> = vec![Box::new(source)];
        let station = Station::start(
            ctx,
            config.slots.clone(),
            config.devices.unmapped_ports,
            sources,
            config.devices.filter(),
            ui,
            true,
        );
        (station, devices)
    }

    /// A new output: every station event from now on (a web page, metrics, a test).
    /// The dispatcher does not know its subscribers.
    pub fn subscribe(&self) -> EventReceiver {
        EventReceiver::new(self.events_tx.subscribe())
    }

    /// Waits for the dispatcher to end (after `Control::Shutdown`, `DrainAndStop`, or the
    /// end of the device sources). Returns the final view and how the sources ended.
    pub async fn wait(self) -> (StationView, Result<(), DeviceError>) {
        let end = match self.task.await {
            Ok(end) => end,
            Err(e) => panic!("dispatcher task failed: {e}"),
        };
        if let Some(p) = self.painter {
            let _ = p.await;
        }
        let (anchors, follower) = self.anchors;
        follower.abort();
        anchors.write("shutdown", true).await;
        end
    }
}
