//! Cutting a board's power through its hub port with `uhubctl` (`[recovery] power_cycle =
//! "uhubctl"`): the last resort for a board that does not answer SYNC on a fixture
//! without reset lines.
//!
//! The hub and port come from the kernel's name of the board's USB port: `1-2.3` is port 3
//! of hub `1-2`, `1-4` port 4 of root hub `1` — what `uhubctl -l` and `-p` take. Only that
//! shape is accepted (digits, `-` and `.`), so nothing from udev reaches the command line
//! as anything but a location.

use std::time::Duration;

use tokio::process::Command;

use crate::text::escape_for_terminal;

/// The program run (looked up on `PATH`).
pub const UHUBCTL: &str = "uhubctl";
/// Longest a power cycle may take (uhubctl waits 2 s with the power off by default).
const CYCLE_TIMEOUT: Duration = Duration::from_secs(30);

/// `(hub, port)` of a kernel USB port name (`1-2.3` → `("1-2", "3")`), or `None` when it
/// is not one.
pub fn hub_and_port(usb_port: &str) -> Option<(String, String)> {
    let (bus, chain) = usb_port.split_once('-')?;
    let digits = |s: &str| !s.is_empty() && s.len() <= 3 && s.bytes().all(|b| b.is_ascii_digit());
    if !digits(bus) || !chain.split('.').all(digits) || chain.split('.').count() > 7 {
        return None;
    }
    Some(match chain.rsplit_once('.') {
        Some((hub, port)) => (format!("{bus}-{hub}"), port.to_owned()),
        None => (bus.to_owned(), chain.to_owned()),
    })
}

/// The arguments for `uhubctl` that power-cycle `usb_port`.
pub fn uhubctl_args(usb_port: &str) -> Option<Vec<String>> {
    let (hub, port) = hub_and_port(usb_port)?;
    Some(vec!["-l".into(), hub, "-p".into(), port, "-a".into(), "cycle".into()])
}

/// Power-cycles the hub port `usb_port`; says what was done, or why not, in words for the
/// log and the operator.
pub async fn power_cycle(usb_port: &str) -> Result<String, String> {
    let args = uhubctl_args(usb_port)
        .ok_or_else(|| format!("cannot power-cycle: '{}' is not a USB hub port name", escape_for_terminal(usb_port)))?;
    let shown = format!("{UHUBCTL} {}", args.join(" "));
    let run = Command::new(UHUBCTL).args(&args).kill_on_drop(true).output();
    let out = match tokio::time::timeout(CYCLE_TIMEOUT, run).await {
        Err(_) => return Err(format!("{shown} did not finish within {} s", CYCLE_TIMEOUT.as_secs())),
        Ok(Err(e)) => return Err(format!("cannot run {shown}: {e} (is uhubctl installed?)")),
        Ok(Ok(out)) => out,
    };
    if out.status.success() {
        Ok(format!("power-cycled the hub port ({shown})"))
    } else {
        let stderr = String::from_utf8_lossy(&out.stderr);
        let last = stderr.lines().last().unwrap_or("").trim();
        Err(format!("{shown} failed ({}): {}", out.status, escape_for_terminal(last)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kernel_port_names_become_hub_and_port() {
        let cases = [
            ("1-2.3", Some(("1-2", "3"))),
            ("1-4", Some(("1", "4"))),
            ("3-1.4.2", Some(("3-1.4", "2"))),
            ("1-2.3:1.0", None),
            ("pci-0000:00:14.0-usb-0:2.3:1.0", None),
            ("1-", None),
            ("-2", None),
            ("1-2..3", None),
            ("1-2.3; rm -rf /", None),
            ("sim-usb-0", None),
        ];
        for (name, want) in cases {
            let got = hub_and_port(name);
            assert_eq!(got.as_ref().map(|(h, p)| (h.as_str(), p.as_str())), want, "{name}");
        }
        assert_eq!(uhubctl_args("1-2.3").unwrap(), ["-l", "1-2", "-p", "3", "-a", "cycle"]);
    }
}
