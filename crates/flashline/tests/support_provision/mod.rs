//! A provisioning station with its outputs: serial numbers and an NVS partition per board,
//! a boot check over the app's console script, and the read-only HTTP server, run over
//! in-process simulated boards. The rig of the tests that check what every output shows
//! of provisioning and the boot check (`station_outputs`, the dashboard in Chromium).
#![allow(dead_code)]

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use flashline::device::{DeviceInfo, SimulatedDevices};
use flashline::station::serve::{Station, Ui};
use flashline::station::{EventReceiver, StationEvent};
use flashline::web::WebServer;
use flashline_protocol::chip::Mac;
use flashline_protocol::Chip;
use flashline_sim::{BoardConfig, Fault, SimHandle};
use tokio_util::sync::CancellationToken;

use super::support_station::{self, Rig};

/// Where the partition goes, and its size.
pub const NVS_OFFSET: u64 = 0x9000;
pub const NVS_SIZE: u64 = 0x6000;
/// The app's offset in the sample image: a change there after the last MD5 leaves a
/// board whose flash verified but whose app no longer checks (it boot-loops).
pub const APP_BYTE: u32 = 0x10000 + 0x2000;
/// An app that passes its self-test.
pub const SCRIPT: &str =
    "I (300) app: starting\n@delay 50\nI (350) app: self-test passed\n@delay 20\nI (370) app: idle";
/// A `[boot]` section that passes [`SCRIPT`].
pub const BOOT: &str = "[boot]\npattern = 'app: self-test passed'\nfail_pattern = 'Guru Meditation'\n\
                        timeout = \"5s\"\nlines = 8\n";

/// A station of `slots` slots giving serials `SN-00500`, … and an NVS partition with the
/// board's serial and MAC, its boot checked by `boot` over an app printing `script`; and
/// the directory of its template.
pub async fn rig(prefix: &str, slots: u32, boot: &str, script: &str) -> (Rig, tempfile::TempDir) {
    let files = tempfile::Builder::new().prefix(prefix).tempdir().unwrap();
    let template = files.path().join("nvs.csv");
    std::fs::write(
        &template,
        "key,type,encoding,value\nfactory,namespace,,\nserial,data,string,{serial}\nmac,data,string,{mac_hex}\n",
    )
    .unwrap();
    let extra = format!(
        "{boot}\n[provision]\nserial = {{ prefix = \"SN-\", start = 500, width = 5 }}\n\n[provision.nvs]\n\
         template = \"{}\"\noffset = {NVS_OFFSET:#x}\nsize = {NVS_SIZE:#x}\n",
        template.display()
    );
    let rig =
        support_station::rig_with_console(prefix, Chip::Esp32, slots, 2, "baud = 921600\n", &extra, Some(script)).await;
    (rig, files)
}

/// A running station with its HTTP server on a free loopback port.
pub struct Running {
    pub station: Station,
    pub devices: SimulatedDevices,
    /// Every event, from before the first board.
    pub events: EventReceiver,
    pub web: WebServer,
    pub addr: SocketAddr,
    stop: CancellationToken,
}

pub async fn start(rig: &Rig) -> Running {
    let (mut station, devices) = Station::start_simulated(rig.ctx.clone(), &rig.config, Ui::Logs);
    let events = station.events.take().unwrap();
    let stop = CancellationToken::new();
    let web =
        flashline::web::start(&station, Some(rig.ctx.store.clone()), "127.0.0.1:0".parse().unwrap(), stop.clone())
            .await
            .expect("the HTTP server binds a free port");
    let addr = web.addr;
    Running { station, devices, events, web, addr, stop }
}

impl Running {
    /// Plugs ESP32 board `k` (MAC …:66:00:k) into slot `A{k+1}` with `faults`.
    pub fn plug(&self, rig: &Rig, k: u32, faults: Vec<Fault>) -> SimHandle {
        let node = PathBuf::from(format!("/dev/sim-outputs{k}"));
        let mut cfg = BoardConfig::new(Chip::Esp32, mac(k));
        cfg.faults = faults;
        let handle = rig.ports.attach(node.clone(), cfg).unwrap();
        self.devices.plug(DeviceInfo::simulated(k, node));
        handle
    }

    /// The events up to and including the next `n` finished boards.
    pub async fn until_finished(&mut self, n: usize) -> Vec<StationEvent> {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
        let mut seen = Vec::new();
        let mut finished = 0;
        while finished < n {
            let ev = tokio::time::timeout_at(deadline, self.events.recv()).await.expect("results within a minute");
            let ev = ev.expect("the station runs");
            finished += usize::from(matches!(ev, StationEvent::Finished { .. }));
            seen.push(ev);
        }
        seen
    }

    /// Stops the station and its server.
    pub async fn stop(self) {
        support_station::drain_and_stop(self.station, self.devices).await;
        self.stop.cancel();
        self.web.wait().await;
    }
}

pub fn mac(k: u32) -> Mac {
    Mac([0x24, 0x0a, 0xc4, 0x66, 0x00, k as u8])
}

/// The fault that corrupts the app after a board's last MD5 (`md5s` of a board flashed
/// the same way): it verifies, then boot-loops.
pub fn corrupt_after(md5s: u64) -> Fault {
    Fault::FlashChanges { addr: APP_BYTE, len: 1, after_md5: md5s }
}
