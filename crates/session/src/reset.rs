//! Reset sequences on DTR/RTS that put a board into its ROM download mode, and the hard
//! reset that starts the application at the end.
//!
//! Line convention (pyserial's): `true` = asserted = pin low. With the usual two-transistor
//! auto-program circuit, (DTR=F, RTS=T) holds EN low (reset) and (DTR=T, RTS=F) holds IO0
//! low (boot mode select).

use crate::transport::{is_no_modem_lines, Transport};
use flashline_protocol::chip::{UsbId, USB_SERIAL_JTAG};
use flashline_protocol::Chip;
use std::time::Duration;

/// Espressif's USB vendor id and the product id of the built-in USB-Serial/JTAG.
pub const ESPRESSIF_VID: u16 = USB_SERIAL_JTAG.vid;
pub const USB_JTAG_SERIAL_PID: u16 = USB_SERIAL_JTAG.pid;

/// One way of toggling the lines.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResetStrategy {
    /// esptool's ClassicReset: separate DTR and RTS writes.
    Classic { delay: Duration },
    /// esptool's UnixTightReset: both lines changed together (TIOCMSET).
    UnixTight { delay: Duration },
    /// Espressif's USB-Serial/JTAG (303a:1001), whose "lines" are a USB control request.
    UsbJtagSerial,
    /// Leave the lines alone (the board is already in download mode, or has no circuit).
    None,
}

/// What to do before syncing: the one type the station config (`[flash] reset`), the
/// command line (`--before`) and the session share. Its names are esptool's where esptool
/// has one (`default-reset`, `usb-reset`, `no-reset`), flashline's config names otherwise;
/// both spellings parse.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum BeforeReset {
    /// Cycle through the strategies that fit the port (esptool's `default-reset`).
    #[default]
    Auto,
    /// Only esptool's classic DTR/RTS sequence (auto-program circuit on the board).
    Classic,
    /// Only esptool's "unix tight" sequence: DTR and RTS changed together, for adapters
    /// that glitch between the two ioctls.
    UnixTight,
    /// Only the USB-Serial/JTAG peripheral's sequence (esptool's `usb-reset`).
    UsbJtagSerial,
    /// No line toggling (PTYs, fixtures that hold BOOT/EN, boards without the circuit).
    NoReset,
}

/// What to do with the board at the end: shared by `[flash] after`, `--after` and the
/// session.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum After {
    /// Pulse EN (RTS) so the application starts.
    #[default]
    HardReset,
    /// For boards without a reset circuit: leave the chip in ROM download mode (a running
    /// stub is told FLASH_BEGIN(0) + FLASH_END(0), which reboots it into the ROM).
    NoReset,
    /// Leave the stub running (a later run finds it by its SYNC reply).
    StayInStub,
}

/// Names of a setting's values: the canonical one first, then accepted aliases.
pub trait Named: Sized + Copy + PartialEq + 'static {
    /// What the value is called in messages ("reset strategy").
    const WHAT: &'static str;
    /// Every value with its names (canonical first).
    const TABLE: &'static [(Self, &'static [&'static str])];

    /// The canonical name.
    fn name(self) -> &'static str {
        Self::TABLE.iter().find(|(v, _)| *v == self).map(|(_, n)| n[0]).unwrap_or("?")
    }

    /// The canonical names, for help texts and clap's possible values.
    fn names() -> Vec<&'static str> {
        Self::TABLE.iter().map(|(_, n)| n[0]).collect()
    }

    /// Parses a canonical name or an alias (`_` and `-` are the same).
    fn parse_name(s: &str) -> Result<Self, String> {
        let norm = s.trim().to_ascii_lowercase().replace('_', "-");
        Self::TABLE
            .iter()
            .find(|(_, names)| names.contains(&norm.as_str()))
            .map(|(v, _)| *v)
            .ok_or_else(|| format!("unknown {} '{s}' (expected one of {})", Self::WHAT, Self::names().join(", ")))
    }
}

impl Named for BeforeReset {
    const WHAT: &'static str = "reset strategy";
    const TABLE: &'static [(Self, &'static [&'static str])] = &[
        (BeforeReset::Auto, &["auto", "default-reset"]),
        (BeforeReset::Classic, &["classic", "classic-reset"]),
        (BeforeReset::UnixTight, &["unix-tight", "unix-tight-reset"]),
        (BeforeReset::UsbJtagSerial, &["usb-jtag-serial", "usb-reset"]),
        (BeforeReset::NoReset, &["no-reset"]),
    ];
}

impl Named for After {
    const WHAT: &'static str = "after-flash action";
    const TABLE: &'static [(Self, &'static [&'static str])] = &[
        (After::HardReset, &["hard-reset"]),
        (After::NoReset, &["no-reset"]),
        (After::StayInStub, &["no-reset-stub", "stay-in-stub"]),
    ];
}

macro_rules! named_impls {
    ($t:ty) => {
        impl std::fmt::Display for $t {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.name())
            }
        }
        impl std::str::FromStr for $t {
            type Err = String;
            fn from_str(s: &str) -> Result<Self, String> {
                <$t as Named>::parse_name(s)
            }
        }
        impl serde::Serialize for $t {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(self.name())
            }
        }
        impl<'de> serde::Deserialize<'de> for $t {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = String::deserialize(d)?;
                <$t as Named>::parse_name(&s).map_err(serde::de::Error::custom)
            }
        }
    };
}
named_impls!(BeforeReset);
named_impls!(After);

const SHORT: Duration = Duration::from_millis(50);
const LONG: Duration = Duration::from_millis(550);

/// The strategies to cycle through over the connect attempts. A single named strategy
/// uses esptool's short delay: boards on a production fixture reset cleanly with 50 ms.
pub fn strategies(before: &BeforeReset, usb_ids: Option<(u16, u16)>) -> Vec<ResetStrategy> {
    match before {
        BeforeReset::NoReset => vec![ResetStrategy::None],
        BeforeReset::Classic => vec![ResetStrategy::Classic { delay: SHORT }],
        BeforeReset::UnixTight => vec![ResetStrategy::UnixTight { delay: SHORT }],
        BeforeReset::UsbJtagSerial => vec![ResetStrategy::UsbJtagSerial],
        // A chip's own USB port (its module names the id) has no DTR/RTS circuit.
        BeforeReset::Auto if usb_ids.is_some_and(|(vid, pid)| Chip::is_usb_serial_jtag(UsbId { vid, pid })) => {
            vec![ResetStrategy::UsbJtagSerial]
        }
        BeforeReset::Auto => vec![
            ResetStrategy::UnixTight { delay: SHORT },
            ResetStrategy::UnixTight { delay: LONG },
            ResetStrategy::Classic { delay: SHORT },
            ResetStrategy::Classic { delay: LONG },
        ],
    }
}

/// Applies line changes, remembering whether the port has modem lines at all. A port that
/// refuses them (a PTY answers ENOTTY) gets one warning and the session goes on.
pub(crate) struct Lines<'a, T: Transport> {
    port: &'a mut T,
    warned: &'a mut bool,
    broken: bool,
    /// Failures are expected (the port went away with the reset): no warning.
    quiet: bool,
}

impl<'a, T: Transport> Lines<'a, T> {
    pub(crate) fn new(port: &'a mut T, warned: &'a mut bool) -> Self {
        Self { port, warned, broken: false, quiet: false }
    }

    fn check(&mut self, r: std::io::Result<()>) {
        if let Err(e) = r {
            self.broken = true;
            if self.quiet {
                tracing::debug!(port = %self.port.name(), error = %e, "line change after the reset failed (port gone)");
            } else if !*self.warned {
                *self.warned = true;
                if is_no_modem_lines(&e) {
                    tracing::warn!(port = %self.port.name(), "port has no modem lines (DTR/RTS); the board was NOT reset — it must already be in download mode");
                } else {
                    tracing::warn!(port = %self.port.name(), error = %e, "setting DTR/RTS failed; the board was NOT reset");
                }
            }
        }
    }

    fn dtr(&mut self, v: bool) {
        if !self.broken {
            let r = self.port.set_dtr(v);
            self.check(r);
        }
    }

    fn rts(&mut self, v: bool) {
        if !self.broken {
            let r = self.port.set_rts(v);
            // Windows usbser.sys needs DTR re-written after RTS; harmless elsewhere.
            self.check(r);
        }
    }

    fn both(&mut self, dtr: bool, rts: bool) {
        if !self.broken {
            let r = self.port.set_dtr_rts(dtr, rts);
            self.check(r);
        }
    }

    async fn sleep(&self, d: Duration) {
        if !self.broken {
            tokio::time::sleep(d).await;
        }
    }
}

/// Runs one reset-into-bootloader sequence.
pub(crate) async fn enter_bootloader<T: Transport>(port: &mut T, strategy: ResetStrategy, warned: &mut bool) {
    let mut l = Lines::new(port, warned);
    match strategy {
        ResetStrategy::None => {}
        ResetStrategy::Classic { delay } => {
            l.dtr(false);
            l.rts(true); // EN low
            l.sleep(Duration::from_millis(100)).await;
            l.dtr(true); // IO0 low
            l.rts(false); // EN high: boots with IO0 low
            l.sleep(delay).await;
            l.dtr(false);
        }
        ResetStrategy::UnixTight { delay } => {
            l.both(false, false);
            l.both(true, true);
            l.both(false, true); // EN low
            l.sleep(Duration::from_millis(100)).await;
            l.both(true, false); // EN high, IO0 low
            l.sleep(delay).await;
            l.both(false, false);
            l.dtr(false);
        }
        ResetStrategy::UsbJtagSerial => {
            l.rts(false);
            l.dtr(false);
            l.sleep(Duration::from_millis(100)).await;
            l.dtr(true);
            l.rts(false);
            l.sleep(Duration::from_millis(100)).await;
            l.rts(true);
            l.dtr(false);
            // The chip (and its USB port) reset here: the port may be gone, so the
            // remaining writes of esptool's sequence may fail, which is no news.
            l.quiet = true;
            l.rts(true);
            l.sleep(Duration::from_millis(100)).await;
            l.dtr(false);
            l.rts(false);
        }
    }
}

/// Pulses EN low with IO0 high: the chip boots the application from flash.
pub(crate) async fn hard_reset<T: Transport>(port: &mut T, warned: &mut bool) {
    let mut l = Lines::new(port, warned);
    l.dtr(false);
    l.rts(true);
    // The chip resets here: on its own USB-Serial/JTAG port the port goes with it, and the
    // release below failing is no news (the board is starting its application).
    l.quiet = true;
    l.sleep(Duration::from_millis(100)).await;
    l.rts(false);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::duplex::DuplexTransport;
    use std::sync::{Arc, Mutex};

    #[test]
    fn strategy_selection() {
        assert_eq!(strategies(&BeforeReset::NoReset, None), vec![ResetStrategy::None]);
        assert_eq!(strategies(&BeforeReset::Auto, Some((0x303A, 0x1001))), vec![ResetStrategy::UsbJtagSerial]);
        let auto = strategies(&BeforeReset::Auto, Some((0x10C4, 0xEA60)));
        assert_eq!(auto.len(), 4);
        assert_eq!(auto[0], ResetStrategy::UnixTight { delay: SHORT });
        assert_eq!(strategies(&BeforeReset::Classic, None), vec![ResetStrategy::Classic { delay: SHORT }]);
        assert_eq!(strategies(&BeforeReset::UsbJtagSerial, None), vec![ResetStrategy::UsbJtagSerial]);
    }

    #[test]
    fn names_round_trip_and_take_esptool_spellings() {
        for (v, names) in BeforeReset::TABLE {
            assert_eq!(v.to_string().parse::<BeforeReset>(), Ok(*v));
            for n in *names {
                assert_eq!(n.parse::<BeforeReset>(), Ok(*v), "{n}");
            }
        }
        for (v, _) in After::TABLE {
            assert_eq!(v.to_string().parse::<After>(), Ok(*v));
        }
        assert_eq!("default_reset".parse::<BeforeReset>(), Ok(BeforeReset::Auto));
        assert_eq!("usb-reset".parse::<BeforeReset>(), Ok(BeforeReset::UsbJtagSerial));
        assert_eq!("HARD_RESET".parse::<After>(), Ok(After::HardReset));
        let e = "soft-reset".parse::<After>().unwrap_err();
        assert!(e.contains("unknown after-flash action 'soft-reset'") && e.contains("hard-reset, no-reset"), "{e}");
        let v: BeforeReset = serde_json::from_str("\"no-reset\"").unwrap();
        assert_eq!(v, BeforeReset::NoReset);
        assert_eq!(serde_json::to_string(&After::NoReset).unwrap(), "\"no-reset\"");
    }

    #[tokio::test(start_paused = true)]
    async fn classic_sequence_holds_en_then_io0() {
        let (a, _b) = tokio::io::duplex(16);
        let seen = Arc::new(Mutex::new(Vec::new()));
        let s2 = seen.clone();
        let mut t = DuplexTransport::new(a).with_lines_hook(move |d, r| s2.lock().unwrap().push((d, r)));
        let mut warned = false;
        enter_bootloader(&mut t, ResetStrategy::Classic { delay: SHORT }, &mut warned).await;
        let s = seen.lock().unwrap().clone();
        // EN low (F,T) must come before IO0 low with EN released (T,F), and end released.
        let en = s.iter().position(|&x| x == (false, true)).unwrap();
        let boot = s.iter().position(|&x| x == (true, false)).unwrap();
        assert!(en < boot, "{s:?}");
        assert_eq!(*s.last().unwrap(), (false, false));
        assert!(!warned);
    }

    struct NoLines(DuplexTransport);
    impl tokio::io::AsyncRead for NoLines {
        fn poll_read(
            mut self: std::pin::Pin<&mut Self>,
            cx: &mut std::task::Context<'_>,
            buf: &mut tokio::io::ReadBuf<'_>,
        ) -> std::task::Poll<std::io::Result<()>> {
            std::pin::Pin::new(&mut self.0).poll_read(cx, buf)
        }
    }
    impl tokio::io::AsyncWrite for NoLines {
        fn poll_write(
            mut self: std::pin::Pin<&mut Self>,
            cx: &mut std::task::Context<'_>,
            buf: &[u8],
        ) -> std::task::Poll<std::io::Result<usize>> {
            std::pin::Pin::new(&mut self.0).poll_write(cx, buf)
        }
        fn poll_flush(
            mut self: std::pin::Pin<&mut Self>,
            cx: &mut std::task::Context<'_>,
        ) -> std::task::Poll<std::io::Result<()>> {
            std::pin::Pin::new(&mut self.0).poll_flush(cx)
        }
        fn poll_shutdown(
            mut self: std::pin::Pin<&mut Self>,
            cx: &mut std::task::Context<'_>,
        ) -> std::task::Poll<std::io::Result<()>> {
            std::pin::Pin::new(&mut self.0).poll_shutdown(cx)
        }
    }
    impl Transport for NoLines {
        fn set_dtr(&mut self, _: bool) -> std::io::Result<()> {
            Err(std::io::Error::from_raw_os_error(nix::libc::ENOTTY))
        }
        fn set_rts(&mut self, _: bool) -> std::io::Result<()> {
            Err(std::io::Error::from_raw_os_error(nix::libc::ENOTTY))
        }
        fn set_baud(&mut self, b: u32) -> std::io::Result<()> {
            self.0.set_baud(b)
        }
        fn baud(&self) -> u32 {
            self.0.baud()
        }
        fn name(&self) -> String {
            "pty".into()
        }
    }

    #[tokio::test]
    async fn enotty_warns_once_and_goes_on() {
        let (a, _b) = tokio::io::duplex(16);
        let mut t = NoLines(DuplexTransport::new(a));
        let mut warned = false;
        let t0 = std::time::Instant::now();
        enter_bootloader(&mut t, ResetStrategy::Classic { delay: LONG }, &mut warned).await;
        hard_reset(&mut t, &mut warned).await;
        assert!(warned);
        // No sleeping once the lines are known not to work.
        assert!(t0.elapsed() < Duration::from_millis(100));
    }
}
