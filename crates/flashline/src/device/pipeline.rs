//! Runs device sources and hands the dispatcher one stream of gated events.

use tokio::sync::mpsc;
use tokio::task::{JoinHandle, JoinSet};

use super::{DeviceError, DeviceEvent, DeviceFilter, Gate, SourceEvent};

/// Events buffered between a source and the gate, and between the gate and the
/// dispatcher. A hub of 16 boards plugged at once stays well under it; when the
/// dispatcher falls behind, sources wait instead of dropping events.
pub const EVENT_BUFFER: usize = 256;

/// A producer of raw device events.
pub trait DeviceSource: Send + 'static {
    /// Short name for logs and [`DeviceEvent::Ready`].
    fn name(&self) -> &'static str;

    /// Starts producing into `tx`: first every device already present, then
    /// [`SourceEvent::Ready`], then changes. Stops when `tx` is closed. Start-up failures
    /// (no udev) come back through the handle. Must be called inside a tokio runtime.
    fn spawn(self: Box<Self>, tx: mpsc::Sender<SourceEvent>) -> JoinHandle<Result<(), DeviceError>>;
}

/// The dispatcher's end: gated events from all sources.
pub struct DeviceStream {
    rx: mpsc::Receiver<DeviceEvent>,
    task: JoinHandle<Result<(), DeviceError>>,
}

impl DeviceStream {
    /// The next event; `None` when every source has stopped (see [`DeviceStream::finish`]).
    pub async fn recv(&mut self) -> Option<DeviceEvent> {
        self.rx.recv().await
    }

    /// Why the stream ended: `Ok` when all sources stopped cleanly, or the first source
    /// error. Call after [`DeviceStream::recv`] returned `None`; calling it earlier stops
    /// the sources.
    pub async fn finish(self) -> Result<(), DeviceError> {
        drop(self.rx);
        match self.task.await {
            Ok(r) => r,
            Err(e) => Err(DeviceError::Crashed("device pipeline", e.to_string())),
        }
    }
}

/// Starts `sources` and the gate with `filter`. Must be called inside a tokio runtime.
pub fn start(sources: Vec<Box<dyn DeviceSource>>, filter: DeviceFilter) -> DeviceStream {
    let (raw_tx, mut raw_rx) = mpsc::channel(EVENT_BUFFER);
    let (tx, rx) = mpsc::channel(EVENT_BUFFER);
    let mut running = JoinSet::new();
    for source in sources {
        let name = source.name();
        let handle = source.spawn(raw_tx.clone());
        running.spawn(async move {
            match handle.await {
                Ok(r) => r,
                Err(e) => Err(DeviceError::Crashed(name, e.to_string())),
            }
        });
    }
    drop(raw_tx);
    let task = tokio::spawn(async move {
        let mut gate = Gate::new(filter);
        loop {
            tokio::select! {
                // Drain queued events before looking at a finished source, so a source that
                // reports and then fails still has its events delivered.
                biased;
                // The dispatcher dropped its end: stop, which closes the sources' channel.
                _ = tx.closed() => return Ok(()),
                ev = raw_rx.recv() => match ev {
                    Some(ev) => {
                        for out in gate.process(ev) {
                            if tx.send(out).await.is_err() {
                                return Ok(()); // dispatcher gone: shutting down
                            }
                        }
                    }
                    None => break,
                },
                Some(done) = running.join_next() => {
                    if let Ok(Err(e)) | Err(e) = done.map_err(|j| DeviceError::Crashed("device source", j.to_string())) {
                        return Err(e);
                    }
                }
            }
        }
        while let Some(done) = running.join_next().await {
            if let Ok(Err(e)) | Err(e) = done.map_err(|j| DeviceError::Crashed("device source", j.to_string())) {
                return Err(e);
            }
        }
        Ok(())
    });
    DeviceStream { rx, task }
}

#[cfg(test)]
mod tests {
    use super::super::{DeviceInfo, SimulatedSource};
    use super::*;

    #[tokio::test]
    async fn simulated_boards_pass_the_same_gate() {
        let (source, devices) = SimulatedSource::new();
        let mut stream = start(vec![Box::new(source)], DeviceFilter::default());
        assert_eq!(stream.recv().await, Some(DeviceEvent::Ready { source: "simulated" }));
        let b1 = DeviceInfo::simulated(1, "/dev/pts/91".into());
        devices.plug(b1.clone());
        devices.plug(b1.clone());
        let other = DeviceInfo { vid: 0x067b, pid: 0x2303, ..DeviceInfo::simulated(2, "/dev/pts/92".into()) };
        devices.plug(other);
        devices.unplug(&b1.syspath);
        assert_eq!(stream.recv().await, Some(DeviceEvent::Added(b1.clone())));
        assert_eq!(stream.recv().await, Some(DeviceEvent::Removed(b1)));
        drop(devices);
        assert_eq!(stream.recv().await, None);
        stream.finish().await.unwrap();
    }

    struct Failing;
    impl DeviceSource for Failing {
        fn name(&self) -> &'static str {
            "failing"
        }
        fn spawn(self: Box<Self>, _tx: mpsc::Sender<SourceEvent>) -> JoinHandle<Result<(), DeviceError>> {
            tokio::spawn(async { Err(DeviceError::Monitor(std::io::Error::other("no netlink"))) })
        }
    }

    #[tokio::test]
    async fn a_failing_source_ends_the_stream_with_its_error() {
        let (sim, _devices) = SimulatedSource::new();
        let mut stream = start(vec![Box::new(sim), Box::new(Failing)], DeviceFilter::default());
        while stream.recv().await.is_some() {}
        let err = stream.finish().await.unwrap_err();
        assert!(err.to_string().contains("no netlink"), "{err}");
        assert!(err.to_string().contains("AF_NETLINK"), "{err}");
    }
}
