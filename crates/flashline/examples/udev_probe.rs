//! Prints what flashline's device pipeline reports, one JSON object per line.
//!
//!     udev_probe [--any] [--talk]
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

use std::path::PathBuf;
use std::time::Duration;

use flashline::device::{self, DeviceEvent, DeviceFilter, UdevSource};
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

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let filter = if args.iter().any(|a| a == "--any") { DeviceFilter::any() } else { DeviceFilter::default() };
    let talk_to_ports = args.iter().any(|a| a == "--talk");
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
                if talk_to_ports {
                    let (devnode, usb_path) = (info.devnode.clone(), info.usb_path.clone());
                    tokio::spawn(async move { print(talk(devnode, usb_path).await) });
                }
            }
            Some(DeviceEvent::Removed(info)) => print(info_json("removed", &info)),
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
