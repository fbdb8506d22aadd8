//! The systemd notify protocol (`Type=notify`, `WatchdogSec=`), spoken by the dispatcher.
//!
//! systemd hands the daemon a unix datagram socket in `$NOTIFY_SOCKET` (a path, or an
//! abstract name starting with `@`) and, with a watchdog, the interval in
//! `$WATCHDOG_USEC`. The dispatcher says `READY=1` once its device source is ready (boards
//! plugged before the start are then known), `WATCHDOG=1` from its own loop (a stuck
//! dispatcher stops the pings and systemd restarts it), `STATUS=` with the slot counts
//! when they change, and `STOPPING=1` at shutdown. Without `$NOTIFY_SOCKET` every call is
//! a no-op. A send that fails is logged once and never stops the station.

use std::ffi::OsStr;
use std::io;
use std::os::linux::net::SocketAddrExt;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::net::{SocketAddr, UnixDatagram};
use std::time::Duration;

use super::view::Totals;

/// Why the notify environment cannot be used (logged; the station runs on without it).
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum NotifyEnvError {
    #[error(
        "NOTIFY_SOCKET is empty or not an absolute path or @abstract name: {0:?}; check the unit's Type=notify set-up"
    )]
    Socket(String),
    #[error("WATCHDOG_USEC={0:?} is not a positive number of microseconds; check WatchdogSec= in the unit")]
    WatchdogUsec(String),
}

/// The notify socket's address: a path, or an abstract name for `@name`.
pub fn socket_addr(value: &OsStr) -> Result<SocketAddr, NotifyEnvError> {
    let bytes = value.as_bytes();
    let bad = || NotifyEnvError::Socket(value.to_string_lossy().into_owned());
    match bytes.first() {
        Some(b'@') if bytes.len() > 1 => SocketAddr::from_abstract_name(&bytes[1..]).map_err(|_| bad()),
        Some(b'/') => SocketAddr::from_pathname(std::path::Path::new(value)).map_err(|_| bad()),
        _ => Err(bad()),
    }
}

/// The watchdog interval systemd expects, if it is meant for this process: `WATCHDOG_PID`
/// (when set) must name us, as sd_watchdog_enabled() checks.
pub fn watchdog_interval(
    usec: Option<&str>,
    watchdog_pid: Option<&str>,
    own_pid: u32,
) -> Result<Option<Duration>, NotifyEnvError> {
    let Some(usec) = usec else { return Ok(None) };
    if watchdog_pid.is_some_and(|p| p.trim().parse::<u32>().ok() != Some(own_pid)) {
        return Ok(None);
    }
    match usec.trim().parse::<u64>() {
        Ok(n) if n > 0 => Ok(Some(Duration::from_micros(n))),
        _ => Err(NotifyEnvError::WatchdogUsec(usec.to_string())),
    }
}

/// How often to ping: half the interval, as sd_watchdog_enabled(3) advises.
pub fn ping_period(interval: Duration) -> Duration {
    (interval / 2).max(Duration::from_millis(1))
}

/// The `STATUS=` text systemctl shows: the slot counts.
pub fn status_line(t: &Totals) -> String {
    format!("STATUS={} running, {} queued, {} pass, {} fail", t.running, t.queued, t.pass, t.fail)
}

/// The daemon's side of the notify socket.
pub struct Notifier {
    target: Option<(UnixDatagram, SocketAddr)>,
    watchdog: Option<tokio::time::Interval>,
    ready: bool,
    stopping: bool,
    last_status: Option<String>,
    failed: bool,
}

impl Notifier {
    /// No systemd: every call does nothing.
    pub fn disabled() -> Notifier {
        Notifier { target: None, watchdog: None, ready: false, stopping: false, last_status: None, failed: false }
    }

    /// From `$NOTIFY_SOCKET`, `$WATCHDOG_USEC` and `$WATCHDOG_PID`. Must be called inside a
    /// tokio runtime (the watchdog is a tokio interval).
    pub fn from_env() -> Notifier {
        let Some(value) = std::env::var_os("NOTIFY_SOCKET") else { return Notifier::disabled() };
        let addr = match socket_addr(&value) {
            Ok(a) => a,
            Err(e) => {
                tracing::warn!(error = %e, "systemd notification disabled");
                return Notifier::disabled();
            }
        };
        let socket = match UnixDatagram::unbound().and_then(|s| s.set_nonblocking(true).map(|()| s)) {
            Ok(s) => s,
            Err(e) => {
                tracing::warn!(error = %e, "cannot create the systemd notify socket; notification disabled");
                return Notifier::disabled();
            }
        };
        let usec = std::env::var("WATCHDOG_USEC").ok();
        let pid = std::env::var("WATCHDOG_PID").ok();
        let period = match watchdog_interval(usec.as_deref(), pid.as_deref(), std::process::id()) {
            Ok(i) => i.map(ping_period),
            Err(e) => {
                tracing::warn!(error = %e, "systemd watchdog disabled");
                None
            }
        };
        let watchdog = period.map(|p| {
            let mut iv = tokio::time::interval(p);
            iv.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            iv
        });
        Notifier { target: Some((socket, addr)), watchdog, ..Notifier::disabled() }
    }

    /// Whether the unit asked for watchdog pings.
    pub fn has_watchdog(&self) -> bool {
        self.watchdog.is_some()
    }

    /// `READY=1`, once.
    pub fn ready(&mut self) {
        if !self.ready {
            self.ready = true;
            self.send("READY=1");
        }
    }

    /// Resolves when the next watchdog ping is due; never without a watchdog.
    pub async fn watchdog_due(&mut self) {
        match &mut self.watchdog {
            Some(iv) => {
                iv.tick().await;
            }
            None => std::future::pending().await,
        }
    }

    /// `WATCHDOG=1`.
    pub fn ping(&mut self) {
        self.send("WATCHDOG=1");
    }

    /// `STATUS=` with the counts, when they differ from the last one sent.
    pub fn status(&mut self, totals: &Totals) {
        if self.target.is_none() {
            return;
        }
        let line = status_line(totals);
        if self.last_status.as_deref() != Some(line.as_str()) {
            self.send(&line);
            self.last_status = Some(line);
        }
    }

    /// `STOPPING=1`, once.
    pub fn stopping(&mut self) {
        if !self.stopping {
            self.stopping = true;
            self.send("STOPPING=1");
        }
    }

    fn send(&mut self, message: &str) {
        let Some((socket, addr)) = &self.target else { return };
        match socket.send_to_addr(message.as_bytes(), addr) {
            Ok(_) => self.failed = false,
            Err(e) => self.report(message, e),
        }
    }

    fn report(&mut self, message: &str, e: io::Error) {
        if !self.failed {
            self.failed = true;
            tracing::warn!(error = %e, message, "cannot notify systemd (the station goes on; a watchdog may restart it)");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn socket_addresses() {
        let a = socket_addr(OsStr::new("/run/systemd/notify")).unwrap();
        assert_eq!(a.as_pathname(), Some(std::path::Path::new("/run/systemd/notify")));
        let a = socket_addr(OsStr::new("@flashline/notify")).unwrap();
        assert_eq!(a.as_abstract_name(), Some(&b"flashline/notify"[..]));
        for bad in ["", "@", "relative/path"] {
            assert_eq!(socket_addr(OsStr::new(bad)).err(), Some(NotifyEnvError::Socket(bad.into())), "{bad:?}");
        }
    }

    #[test]
    fn watchdog_environment() {
        type Case<'a> = (Option<&'a str>, Option<&'a str>, Result<Option<Duration>, NotifyEnvError>);
        let cases: &[Case] = &[
            (None, None, Ok(None)),
            (Some("30000000"), None, Ok(Some(Duration::from_secs(30)))),
            (Some("200000"), Some("42"), Ok(Some(Duration::from_millis(200)))),
            (Some("200000"), Some("43"), Ok(None)),
            (Some("0"), None, Err(NotifyEnvError::WatchdogUsec("0".into()))),
            (Some("soon"), None, Err(NotifyEnvError::WatchdogUsec("soon".into()))),
        ];
        for (usec, pid, want) in cases {
            assert_eq!(&watchdog_interval(*usec, *pid, 42), want, "{usec:?} {pid:?}");
        }
        assert_eq!(ping_period(Duration::from_secs(30)), Duration::from_secs(15));
        assert_eq!(ping_period(Duration::from_micros(1)), Duration::from_millis(1));
    }

    #[test]
    fn status_carries_the_counts() {
        let t = Totals { pass: 7, fail: 2, running: 3, queued: 1, rework: 0 };
        assert_eq!(status_line(&t), "STATUS=3 running, 1 queued, 7 pass, 2 fail");
    }

    #[tokio::test]
    async fn messages_reach_the_socket_and_repeat_only_on_change() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("notify");
        let server = UnixDatagram::bind(&path).unwrap();
        server.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let mut n = Notifier {
            target: Some((UnixDatagram::unbound().unwrap(), socket_addr(path.as_os_str()).unwrap())),
            ..Notifier::disabled()
        };
        let recv = || {
            let mut buf = [0u8; 256];
            let len = server.recv(&mut buf).unwrap();
            String::from_utf8(buf[..len].to_vec()).unwrap()
        };
        n.ready();
        n.ready();
        let t = Totals { running: 1, ..Totals::default() };
        n.status(&t);
        n.status(&t);
        n.status(&Totals { pass: 1, ..Totals::default() });
        n.stopping();
        n.stopping();
        let got: Vec<String> = (0..4).map(|_| recv()).collect();
        assert_eq!(
            got,
            [
                "READY=1",
                "STATUS=1 running, 0 queued, 0 pass, 0 fail",
                "STATUS=0 running, 0 queued, 1 pass, 0 fail",
                "STOPPING=1"
            ]
        );
        server.set_nonblocking(true).unwrap();
        assert!(server.recv(&mut [0u8; 64]).is_err(), "no repeated message");
    }

    #[tokio::test]
    async fn a_disabled_notifier_never_fires_the_watchdog() {
        let mut n = Notifier::disabled();
        assert!(!n.has_watchdog());
        let due = tokio::time::timeout(Duration::from_millis(50), n.watchdog_due()).await;
        assert!(due.is_err());
    }
}
