//! `flashline ports [--config FILE] [--format json]`: the USB serial ports present now,
//! with what the station would make of each (VID:PID, serial, USB path, the slot a
//! station config names for it, and whether its adapter is one the station flashes).

use std::path::PathBuf;

use clap::Args;

use super::{CliResult, Failure};
use crate::config::Config;
use crate::device::{scan_ports, DeviceInfo, DEFAULT_ADAPTERS};
use crate::exit::Exit;
use crate::text::escape_for_terminal;

#[derive(Debug, Clone, Args)]
pub struct PortsArgs {
    /// Station config: show the slot each port is and whether its adapter is allowed.
    #[arg(long, short = 'C', value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Output format.
    #[arg(long, value_parser = ["text", "json"], default_value = "text")]
    pub format: String,
}

/// One port as listed.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct PortLine {
    pub port: String,
    pub vid_pid: String,
    pub serial: Option<String>,
    pub usb_path: String,
    pub driver: Option<String>,
    pub slot: Option<String>,
    /// Whether the station's adapter filter lets this port through.
    pub flashed: bool,
}

pub async fn run(args: PortsArgs) -> CliResult {
    let config = match &args.config {
        Some(p) => Some(Config::load(p).map_err(|e| Failure::new(e.exit_code(), e))?),
        None => None,
    };
    let found = scan_ports().map_err(|e| Failure::new(Exit::Devices, format!("cannot list serial ports: {e}")))?;
    let lines = describe(found, config.as_ref());
    if args.format == "json" {
        println!("{}", serde_json::to_string_pretty(&lines).expect("ports serialize"));
    } else if lines.is_empty() {
        println!("no USB serial ports are present: is the board plugged in (and its USB cable a data cable)?");
    } else {
        for l in &lines {
            println!("{}", text_line(l));
        }
    }
    Ok(Exit::Success)
}

/// One port as a line of text. The serial number is whatever the USB device claims, and
/// udev's strings and the device node come from outside too: all shown escaped.
pub fn text_line(l: &PortLine) -> String {
    format!(
        "{:<14} {}  serial {:<16} {:<40} {}{}",
        escape_for_terminal(&l.port),
        l.vid_pid,
        escape_for_terminal(l.serial.as_deref().unwrap_or("-")),
        escape_for_terminal(&l.usb_path),
        l.slot.as_deref().map(|s| format!("slot {s}")).unwrap_or_else(|| "no slot".into()),
        if l.flashed { "" } else { "  (adapter not flashed by this station)" }
    )
}

/// What the station would make of each port, sorted by port.
pub fn describe(mut found: Vec<DeviceInfo>, config: Option<&Config>) -> Vec<PortLine> {
    found.sort_by(|a, b| a.devnode.cmp(&b.devnode));
    found
        .into_iter()
        .map(|d| {
            let (slot, flashed) = match config {
                Some(c) => (c.slots.name_for(&d).map(str::to_string), c.devices.filter().allows(d.vid_pid())),
                None => (None, DEFAULT_ADAPTERS.iter().any(|(id, _)| *id == d.vid_pid())),
            };
            PortLine {
                port: d.devnode.display().to_string(),
                vid_pid: format!("{:04x}:{:04x}", d.vid, d.pid),
                serial: d.serial.clone(),
                usb_path: d.usb_path.clone(),
                driver: d.driver.clone(),
                slot,
                flashed,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_ports_in_order_with_their_adapter() {
        let a = DeviceInfo::simulated(1, "/dev/ttyUSB1".into());
        let b = DeviceInfo::simulated(0, "/dev/ttyUSB0".into());
        let lines = describe(vec![a, b], None);
        assert_eq!(lines[0].port, "/dev/ttyUSB0");
        assert_eq!(lines[0].vid_pid, "10c4:ea60");
        assert!(lines[0].flashed, "a CP2102 is a default adapter");
        assert_eq!(lines[1].usb_path, "sim-usb-0:1:1.0");
        let json = serde_json::to_value(&lines).unwrap();
        assert_eq!(json[0]["serial"], "SIM0000");
    }

    #[test]
    fn a_hostile_serial_number_and_path_are_shown_escaped() {
        let mut d = DeviceInfo::simulated(0, "/dev/ttyUSB\u{1b}[2J".into());
        d.serial = Some("\u{1b}]0;pwned\u{7}".into());
        d.usb_path = "1-2\u{202e}.3".into();
        let line = text_line(&describe(vec![d], None)[0]);
        assert!(!line.chars().any(crate::text::needs_escape), "{line:?}");
        assert!(line.contains("\\x1b]0;pwned\\x07") && line.contains("1-2\\u{202e}.3"), "{line}");
    }
}
