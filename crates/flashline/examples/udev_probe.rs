//! Prints what flashline's device pipeline reports, one JSON object per line.
//!
//!     udev_probe [--any] [--talk] [--reenum]
//!
//! Runs the real udev source through the same gate the daemon uses (VID:PID filter from
//! the default adapter list, or every adapter with `--any`; dedupe). Lines:
//!
//!     {"event":"added", "devnode":..., "usb_path":..., "vid":4292, ...}
//!     {"event":"removed", ...the info it was added with...}
//!     {"event":"ready","source":"udev"}        then a plain READY line
//!     {"event":"talk","devnode":...,"reply":...}   with --talk, see below
//!
//! With `--talk`, every added port is opened with tokio-serial (exclusive, 115200 baud),
//! DTR released and RTS asserted (the first step of esptool's reset), `PING <usb_path>\n`
//! written, and one line read back (5 s timeout). The system tests use it to check that
//! the port opens and bytes reach whatever plays the board. Ends on SIGTERM or SIGINT.
//!
//! With `--reenum`, each board plays a job that resets it at once: when a board is added
//! the probe notes a reset into download mode (as a job does before the USB reset), and
//! every later event gets the dispatcher's decision (`flashline::station::reenum`):
//!
//!     {"event":"decision","devnode":...,"decision":"job-board-left"|"back-to-job"|
//!      "app-left"|"back-in-app"|"removal"|"new-board"}
//!
//! After "back-to-job" the job is taken to have ended with its final reset into the
//! application, so the next remove/add are the application's.

use std::path::PathBuf;
use std::time::Duration;

use std::collections::HashMap;
use std::time::Instant;

use flashline::device::{self, DeviceEvent, DeviceFilter, DeviceInfo, UdevSource};
use flashline::pipeline::REENUMERATION_WINDOW;
use flashline::station::reenum::{own_reset, SlotBoard};
use flashline_session::ResetInto;
use serde_json::json;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::signal::unix::{signal, SignalKind};
use tokio_serial::{SerialPort, SerialPortBuilderExt};

fn print(value: serde_json::Value) {
    println!("{value}");
}

fn info_json(kind: &str, info: &device::DeviceInfo) -> serde_json::Value {
    let mut v = serde_json::to_value(info).expect("device info serializes");
    v["event"] = json!(kind);
    v
}

/// Opens the port like the flasher will and exchanges one line.
async fn talk(devnode: PathBuf, usb_path: String) -> serde_json::Value {
    let result: Result<String, String> = async {
        let path = devnode.to_str().ok_or("devnode is not UTF-8")?;
        let mut port = tokio_serial::new(path, 115_200).open_native_async().map_err(|e| format!("open: {e}"))?;
        port.write_data_terminal_ready(false).map_err(|e| format!("DTR: {e}"))?;
        port.write_request_to_send(true).map_err(|e| format!("RTS: {e}"))?;
        port.write_all(format!("PING {usb_path}\n").as_bytes()).await.map_err(|e| format!("write: {e}"))?;
        let mut reply = String::new();
        let mut reader = BufReader::new(port);
        match tokio::time::timeout(Duration::from_secs(5), reader.read_line(&mut reply)).await {
            Ok(Ok(_)) => Ok(reply.trim_end().to_string()),
            Ok(Err(e)) => Err(format!("read: {e}")),
            Err(_) => Err("no reply within 5 s".into()),
        }
    }
    .await;
    match result {
        Ok(reply) => json!({"event": "talk", "devnode": devnode, "reply": reply}),
        Err(error) => json!({"event": "talk", "devnode": devnode, "error": error}),
    }
}

/// One simulated job per USB path: its last reset and when it happened.
#[derive(Default)]
struct Jobs {
    resets: HashMap<String, (ResetInto, Instant, Option<String>)>,
}

impl Jobs {
    fn decide(&mut self, info: &DeviceInfo, added: bool) -> serde_json::Value {
        let now = Instant::now();
        let claim = self.resets.iter().find_map(|(path, (into, at, serial))| {
            let open = now.saturating_duration_since(*at) < REENUMERATION_WINDOW;
            let slot = SlotBoard {
                usb_path: path,
                serial: serial.as_deref(),
                // The probe plays the re-enumeration of one board per path, never a swap.
                ids: None,
                job_reset: (open && *into == ResetInto::Download).then_some(*into),
                app_until: (*into == ResetInto::App).then_some(*at + REENUMERATION_WINDOW),
            };
            own_reset(&slot, info, now).map(|into| (path.clone(), into))
        });
        let decision = match (claim, added) {
            (Some((_, ResetInto::Download)), false) => "job-board-left",
            (Some((path, ResetInto::Download)), true) => {
                // The job goes on, passes, and ends with its final reset.
                let serial = info.serial.clone();
                self.resets.insert(path, (ResetInto::App, Instant::now(), serial));
                "back-to-job"
            }
            (Some((_, ResetInto::App)), false) => "app-left",
            (Some((_, ResetInto::App)), true) => "back-in-app",
            (None, false) => "removal",
            (None, true) => {
                self.resets.insert(info.usb_path.clone(), (ResetInto::Download, Instant::now(), info.serial.clone()));
                "new-board"
            }
        };
        json!({"event": "decision", "devnode": info.devnode, "decision": decision})
    }
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let filter = if args.iter().any(|a| a == "--any") { DeviceFilter::any() } else { DeviceFilter::default() };
    let talk_to_ports = args.iter().any(|a| a == "--talk");
    let mut jobs = args.iter().any(|a| a == "--reenum").then(Jobs::default);
    let mut term = signal(SignalKind::terminate()).expect("SIGTERM handler");

    let mut stream = device::start(vec![Box::new(UdevSource::new())], filter);
    loop {
        let event = tokio::select! {
            ev = stream.recv() => ev,
            _ = term.recv() => break,
            _ = tokio::signal::ctrl_c() => break,
        };
        match event {
            Some(DeviceEvent::Added(info)) => {
                print(info_json("added", &info));
                if let Some(j) = jobs.as_mut() {
                    print(j.decide(&info, true));
                }
                if talk_to_ports {
                    let (devnode, usb_path) = (info.devnode.clone(), info.usb_path.clone());
                    tokio::spawn(async move { print(talk(devnode, usb_path).await) });
                }
            }
            Some(DeviceEvent::Removed(info)) => {
                print(info_json("removed", &info));
                if let Some(j) = jobs.as_mut() {
                    print(j.decide(&info, false));
                }
            }
            Some(DeviceEvent::Ready { source }) => {
                print(json!({"event": "ready", "source": source}));
                println!("READY");
            }
            None => break,
        }
    }
    if let Err(e) = stream.finish().await {
        eprintln!("udev_probe: {e}");
        std::process::exit(i32::from(e.exit_code().code()));
    }
}
