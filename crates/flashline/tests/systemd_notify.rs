//! The systemd notify protocol end to end: a real station (`flashline demo`, simulated
//! boards through the real dispatcher) started with `$NOTIFY_SOCKET` pointing at a unix
//! datagram socket this test binds, as systemd does for a `Type=notify` unit with
//! `WatchdogSec=`. Checks the order and content of what arrives: READY=1 once the device
//! source is ready, WATCHDOG=1 again and again, STATUS= with the slot counts, STOPPING=1
//! last.

use std::os::linux::net::SocketAddrExt;
use std::os::unix::net::{SocketAddr, UnixDatagram};
use std::process::{Command, Output};
use std::time::Duration;

/// Runs `flashline demo` in `dir` with the notify environment; returns its output.
fn demo(dir: &std::path::Path, notify_socket: &str, watchdog_usec: Option<&str>, boards: u32) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_flashline"));
    cmd.current_dir(dir)
        .args(["demo", "--timing", "off", "--interval-ms", "150", "--boards"])
        .arg(boards.to_string())
        .env("NOTIFY_SOCKET", notify_socket)
        .env_remove("WATCHDOG_PID")
        .env_remove("JOURNAL_STREAM");
    match watchdog_usec {
        Some(u) => cmd.env("WATCHDOG_USEC", u),
        None => cmd.env_remove("WATCHDOG_USEC"),
    };
    let out = cmd.output().expect("run flashline demo");
    assert!(
        out.status.success(),
        "demo failed: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// Reads datagrams as they come (a unix datagram queue holds only a few) until
/// STOPPING=1, then whatever follows within a short while.
fn collect(socket: UnixDatagram) -> std::thread::JoinHandle<Vec<String>> {
    std::thread::spawn(move || {
        let mut got = Vec::new();
        let mut buf = [0u8; 4096];
        socket.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
        while let Ok(n) = socket.recv(&mut buf) {
            let msg = String::from_utf8(buf[..n].to_vec()).expect("notify messages are text");
            if msg == "STOPPING=1" {
                socket.set_read_timeout(Some(Duration::from_millis(300))).unwrap();
            }
            got.push(msg);
        }
        got
    })
}

/// `STATUS=1 running, 2 queued, 3 pass, 0 fail` → (1, 2, 3, 0).
fn counts(status: &str) -> (u32, u32, u32, u32) {
    let nums: Vec<u32> = status
        .trim_start_matches("STATUS=")
        .split(", ")
        .map(|part| part.split(' ').next().unwrap().parse().unwrap_or_else(|_| panic!("bad status {status:?}")))
        .collect();
    assert_eq!(nums.len(), 4, "{status:?}");
    (nums[0], nums[1], nums[2], nums[3])
}

#[test]
fn station_reports_ready_watchdog_status_and_stopping() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("notify");
    let reader = collect(UnixDatagram::bind(&path).unwrap());
    // A 100 ms watchdog: pings every 50 ms while the boards are flashed.
    demo(dir.path(), path.to_str().unwrap(), Some("100000"), 3);
    let got = reader.join().unwrap();

    let ready = got.iter().position(|m| m == "READY=1").unwrap_or_else(|| panic!("no READY=1 in {got:?}"));
    assert_eq!(got.iter().filter(|m| *m == "READY=1").count(), 1, "{got:?}");
    assert_eq!(got.last().map(String::as_str), Some("STOPPING=1"), "{got:?}");
    assert_eq!(got.iter().filter(|m| *m == "STOPPING=1").count(), 1, "{got:?}");

    let pings = got.iter().filter(|m| *m == "WATCHDOG=1").count();
    assert!(pings >= 4, "watchdog pinged only {pings} times: {got:?}");

    let statuses: Vec<(usize, (u32, u32, u32, u32))> =
        got.iter().enumerate().filter(|(_, m)| m.starts_with("STATUS=")).map(|(i, m)| (i, counts(m))).collect();
    // Boards are announced by the source after it is ready: no slot is busy before READY.
    for (i, (running, queued, _, _)) in &statuses {
        if *i < ready {
            assert_eq!((running, queued), (&0, &0), "a busy slot before READY=1: {got:?}");
        }
    }
    assert!(statuses.iter().any(|(_, (running, _, _, _))| *running > 0), "never a running slot: {got:?}");
    assert_eq!(statuses.last().map(|s| s.1), Some((0, 0, 3, 0)), "final counts: {got:?}");
    // Sent on change only.
    assert!(statuses.windows(2).all(|w| w[0].1 != w[1].1), "a repeated STATUS: {got:?}");
}

#[test]
fn abstract_notify_socket_without_watchdog() {
    let dir = tempfile::tempdir().unwrap();
    let name = format!("flashline-test-notify-{}", std::process::id());
    let reader = collect(UnixDatagram::bind_addr(&SocketAddr::from_abstract_name(name.as_bytes()).unwrap()).unwrap());
    demo(dir.path(), &format!("@{name}"), None, 1);
    let got = reader.join().unwrap();
    assert!(got.iter().any(|m| m == "READY=1"), "{got:?}");
    assert_eq!(got.last().map(String::as_str), Some("STOPPING=1"), "{got:?}");
    assert!(!got.iter().any(|m| m == "WATCHDOG=1"), "no WATCHDOG_USEC, no pings: {got:?}");
    assert!(got.iter().any(|m| m == "STATUS=0 running, 0 queued, 1 pass, 0 fail"), "{got:?}");
}
