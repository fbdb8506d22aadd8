//! The stage every source's events pass through: drop adapters that are not boards, and
//! make "added" mean "new".
//!
//! udev repeats itself: an `add` is sent once per sysfs layer when a device is created
//! programmatically, a driver rebind sends another, and the start-up scan can report a
//! device whose hot-plug `add` is still queued in the monitor. A board reset that
//! re-enumerates USB sends `remove` then `add`, which must start over. So: a device is
//! known by syspath and devnode; a second `add` for a known device is ignored unless a
//! `remove` came between.

use std::collections::HashMap;
use std::path::PathBuf;

use super::{DeviceEvent, DeviceFilter, DeviceInfo, SourceEvent};
use crate::text::escaped_path;

/// Filter plus dedupe state. Pure: no I/O, so it is tested on its own.
#[derive(Debug)]
pub struct Gate {
    filter: DeviceFilter,
    known: HashMap<PathBuf, DeviceInfo>,
}

impl Gate {
    pub fn new(filter: DeviceFilter) -> Gate {
        Gate { filter, known: HashMap::new() }
    }

    /// The devices currently present, by syspath.
    pub fn present(&self) -> impl Iterator<Item = &DeviceInfo> {
        self.known.values()
    }

    /// Turns one source event into zero, one or two events for the dispatcher.
    pub fn process(&mut self, event: SourceEvent) -> Vec<DeviceEvent> {
        match event {
            SourceEvent::Ready { source } => vec![DeviceEvent::Ready { source }],
            SourceEvent::Added(info) => self.added(info),
            SourceEvent::Removed { syspath, devnode } => self.removed(syspath, devnode),
        }
    }

    fn added(&mut self, info: DeviceInfo) -> Vec<DeviceEvent> {
        if !self.filter.allows(info.vid_pid()) {
            tracing::debug!(devnode = %escaped_path(&info.devnode), id = %info.vid_pid(), "not a board adapter, ignored");
            return Vec::new();
        }
        let mut out = Vec::new();
        if let Some(old) = self.known.get(&info.syspath) {
            if old.devnode == info.devnode {
                tracing::trace!(devnode = %escaped_path(&info.devnode), "duplicate add ignored");
                return out;
            }
            // Same sysfs device, new node: the old node is gone even if nobody said so.
            out.push(DeviceEvent::Removed(self.known.remove(&info.syspath).expect("just found")));
        }
        // A node reused by another syspath means we missed that device's remove.
        let stale: Vec<PathBuf> =
            self.known.iter().filter(|(_, d)| d.devnode == info.devnode).map(|(s, _)| s.clone()).collect();
        for syspath in stale {
            out.push(DeviceEvent::Removed(self.known.remove(&syspath).expect("just found")));
        }
        self.known.insert(info.syspath.clone(), info.clone());
        out.push(DeviceEvent::Added(info));
        out
    }

    fn removed(&mut self, syspath: PathBuf, devnode: Option<PathBuf>) -> Vec<DeviceEvent> {
        let key = match self.known.get(&syspath) {
            Some(_) => Some(syspath),
            // Some remove events lack the syspath we saw at add time; fall back to the node.
            None => devnode.and_then(|n| self.known.iter().find(|(_, d)| d.devnode == n).map(|(s, _)| s.clone())),
        };
        key.and_then(|k| self.known.remove(&k)).map(DeviceEvent::Removed).into_iter().collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dev(k: u32, node: &str) -> DeviceInfo {
        DeviceInfo { devnode: node.into(), ..DeviceInfo::simulated(k, node.into()) }
    }

    fn added(d: &DeviceInfo) -> SourceEvent {
        SourceEvent::Added(d.clone())
    }

    #[test]
    fn duplicates_are_dropped_until_removed() {
        let mut g = Gate::new(DeviceFilter::default());
        let a = dev(1, "/dev/ttyUSB0");
        assert_eq!(g.process(added(&a)), vec![DeviceEvent::Added(a.clone())]);
        assert_eq!(g.process(added(&a)), vec![]);
        let rm = SourceEvent::Removed { syspath: a.syspath.clone(), devnode: Some(a.devnode.clone()) };
        assert_eq!(g.process(rm.clone()), vec![DeviceEvent::Removed(a.clone())]);
        assert_eq!(g.process(rm), vec![], "a second remove is dropped too");
        assert_eq!(g.process(added(&a)), vec![DeviceEvent::Added(a.clone())], "re-enumeration after reset");
        assert_eq!(g.present().count(), 1);
    }

    #[test]
    fn filter_drops_other_adapters_and_their_removes() {
        let mut g = Gate::new(DeviceFilter::default());
        let modem = DeviceInfo { vid: 0x067b, pid: 0x2303, ..dev(2, "/dev/ttyUSB1") };
        assert_eq!(g.process(added(&modem)), vec![]);
        assert_eq!(g.process(SourceEvent::Removed { syspath: modem.syspath.clone(), devnode: None }), vec![]);
        assert_eq!(g.process(SourceEvent::Ready { source: "udev" }), vec![DeviceEvent::Ready { source: "udev" }]);
    }

    #[test]
    fn node_changes_and_reuse_imply_removal() {
        let mut g = Gate::new(DeviceFilter::default());
        let a = dev(1, "/dev/ttyUSB0");
        g.process(added(&a));
        let a2 = DeviceInfo { devnode: "/dev/ttyUSB5".into(), ..a.clone() };
        assert_eq!(g.process(added(&a2)), vec![DeviceEvent::Removed(a.clone()), DeviceEvent::Added(a2.clone())]);
        let b = dev(2, "/dev/ttyUSB5");
        assert_eq!(g.process(added(&b)), vec![DeviceEvent::Removed(a2), DeviceEvent::Added(b.clone())]);
        let by_node = SourceEvent::Removed { syspath: "/sys/elsewhere".into(), devnode: Some(b.devnode.clone()) };
        assert_eq!(g.process(by_node), vec![DeviceEvent::Removed(b)]);
        assert_eq!(g.present().count(), 0);
    }
}
