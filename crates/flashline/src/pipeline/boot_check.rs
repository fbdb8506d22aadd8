//! The boot stage: after the final reset into the application, the board's console is
//! read line by line until the `[boot]` pattern (pass, time to it recorded), the fail
//! pattern, a boot loop (the ROM's banner again and again: the chip keeps resetting) or
//! the timeout. A board on its own USB-Serial/JTAG port leaves the bus at that reset: its
//! new port is found through the same [`Reconnect`] as during the write. It leaves the
//! bus again at every reset of a boot loop, and the ROM's banner printed meanwhile never
//! reaches the host: there each return to the bus counts as a start, and the loop is
//! told the same way. The console lines are board output: kept as printed, escaped
//! wherever shown.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::{Duration, Instant};

use flashline_audit::boot::{BootRecord, MAX_LINE};
use flashline_session::{CancellationToken, Error as SessionError, Reconnect, Stage, Transport};
use tokio::io::AsyncReadExt;

use crate::config::BootConfig;

/// ROM banners (the chip started) before the pattern that make a boot loop: the start
/// after the final reset, and two more.
pub const LOOP_BANNERS: usize = 3;

/// How a boot check ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    Pass { ms: u64 },
    Fail(String),
}

/// The console as it is read: complete lines, the last ones kept, the verdict once known.
#[derive(Debug)]
pub struct ConsoleWatch<'a> {
    cfg: &'a BootConfig,
    partial: Vec<u8>,
    lines: VecDeque<String>,
    /// Starts seen: ROM banners, and returns to the bus of a USB board.
    banners: usize,
    /// The board just came back on the bus: a ROM banner before any other line is that
    /// same start (a host fast enough to catch it), not another one.
    fresh: bool,
}

impl<'a> ConsoleWatch<'a> {
    pub fn new(cfg: &'a BootConfig) -> Self {
        ConsoleWatch { cfg, partial: Vec::new(), lines: VecDeque::new(), banners: 0, fresh: false }
    }

    /// Bytes from the console, `elapsed` after the reset; the verdict when one is reached.
    pub fn feed(&mut self, bytes: &[u8], elapsed: Duration) -> Option<Verdict> {
        for &b in bytes {
            if b == b'\n' {
                let line = std::mem::take(&mut self.partial);
                if let Some(v) = self.line(&line, elapsed) {
                    return Some(v);
                }
            } else if self.partial.len() < MAX_LINE * 4 {
                self.partial.push(b);
            }
        }
        None
    }

    /// The board left the bus and came back: a chip on its own USB-Serial/JTAG port does
    /// so at every reset. One more start (a line cut by the reset is dropped); the verdict
    /// when that makes a boot loop.
    pub fn restarted(&mut self) -> Option<Verdict> {
        self.partial.clear();
        self.fresh = true;
        self.start()
    }

    fn start(&mut self) -> Option<Verdict> {
        self.banners += 1;
        (self.banners >= LOOP_BANNERS)
            .then(|| Verdict::Fail(format!("boot loop: the chip started {} times", self.banners)))
    }

    /// The verdict at the timeout (a last line without its newline still counts).
    pub fn timed_out(&mut self, elapsed: Duration) -> Verdict {
        let rest = std::mem::take(&mut self.partial);
        if !rest.is_empty() {
            if let Some(v) = self.line(&rest, elapsed) {
                return v;
            }
        }
        Verdict::Fail(format!("pattern not seen in {}", seconds(self.cfg.timeout)))
    }

    fn line(&mut self, raw: &[u8], elapsed: Duration) -> Option<Verdict> {
        let text = String::from_utf8_lossy(raw);
        let text = text.trim_end_matches('\r');
        let mut keep: String = text.to_string();
        if keep.len() > MAX_LINE {
            let mut cut = MAX_LINE;
            while !keep.is_char_boundary(cut) {
                cut -= 1;
            }
            keep.truncate(cut);
        }
        if self.lines.len() == self.cfg.lines {
            self.lines.pop_front();
        }
        self.lines.push_back(keep);
        if self.cfg.pattern.is_match(text) {
            return Some(Verdict::Pass { ms: elapsed.as_millis() as u64 });
        }
        if self.cfg.fail_pattern.as_ref().is_some_and(|p| p.is_match(text)) {
            return Some(Verdict::Fail(format!("fail_pattern matched: {}", crate::text::escape_for_terminal(text))));
        }
        let fresh = std::mem::take(&mut self.fresh);
        if is_rom_banner(text) && !fresh {
            return self.start();
        }
        None
    }

    /// The row's record of this verdict.
    pub fn record(&self, verdict: &Verdict) -> BootRecord {
        let lines = self.lines.iter().cloned().collect();
        match verdict {
            Verdict::Pass { ms } => BootRecord { result: "pass".into(), ms_to_pattern: Some(*ms), reason: None, lines },
            Verdict::Fail(reason) => {
                BootRecord { result: "fail".into(), ms_to_pattern: None, reason: Some(reason.clone()), lines }
            }
        }
    }
}

/// The first line the ROM prints at every start: `ets Jun  8 2016 00:22:57` (ESP32),
/// ` ets Jan  8 2013,rst cause:2, boot mode:(3,6)` (ESP8266), `ESP-ROM:esp32s3-20210327`
/// (ESP32-S2 and later).
pub fn is_rom_banner(line: &str) -> bool {
    let t = line.trim_start();
    t.starts_with("ESP-ROM:") || (t.starts_with("ets ") && t.len() > 15 && t.as_bytes()[4].is_ascii_uppercase())
}

fn seconds(d: Duration) -> String {
    let s = d.as_secs_f64();
    if s.fract() == 0.0 {
        format!("{s:.0} s")
    } else {
        format!("{s:.1} s")
    }
}

/// What the boot stage reports: the record, and whether the board passed.
#[derive(Debug, Clone)]
pub struct BootOutcome {
    pub record: BootRecord,
    pub passed: bool,
}

/// Watches the console of a board that was just reset into its application. `port` is
/// the link the reset went over; `usb`: the board is on its own USB-Serial/JTAG port,
/// which left the bus at the reset, so the new one is opened through `reconnect`.
pub async fn check<T: Transport>(
    port: T,
    cfg: &BootConfig,
    usb: bool,
    reconnect: Option<Arc<dyn Reconnect<T>>>,
    cancel: CancellationToken,
) -> Result<BootOutcome, SessionError> {
    let reset = Instant::now();
    let deadline = tokio::time::Instant::from_std(reset + cfg.timeout);
    let mut watch = ConsoleWatch::new(cfg);
    let reconnect = reconnect.filter(|_| usb);
    let mut port = match &reconnect {
        Some(r) => {
            drop(port);
            match back_on_bus(r.as_ref(), deadline, &cancel, cfg).await? {
                Ok(p) => {
                    watch.restarted();
                    p
                }
                Err(reason) => return Ok(fail(&mut watch, reason)),
            }
        }
        None => port,
    };
    if !usb {
        if let Err(e) = port.set_baud(cfg.baud) {
            return Err(SessionError::Io { stage: Stage::Boot, source: e });
        }
    }
    let mut buf = [0u8; 1024];
    loop {
        let read = tokio::select! {
            _ = cancel.cancelled() => return Err(SessionError::Cancelled { stage: Stage::Boot }),
            r = tokio::time::timeout_at(deadline, port.read(&mut buf)) => r,
        };
        let gone = matches!(read, Ok(Ok(0)) | Ok(Err(_)));
        if let (true, Some(r)) = (gone, &reconnect) {
            // Off the bus again: the chip reset by itself. Count the start and read it
            // where it comes back.
            drop(port);
            if let Some(v) = watch.restarted() {
                return Ok(BootOutcome { record: watch.record(&v), passed: false });
            }
            port = match back_on_bus(r.as_ref(), deadline, &cancel, cfg).await? {
                Ok(p) => p,
                Err(reason) => return Ok(fail(&mut watch, reason)),
            };
            continue;
        }
        let verdict = match read {
            Err(_) => watch.timed_out(reset.elapsed()),
            Ok(Ok(0)) => Verdict::Fail("the console port closed".into()),
            Ok(Ok(n)) => match watch.feed(&buf[..n], reset.elapsed()) {
                Some(v) => v,
                None => continue,
            },
            Ok(Err(e)) => Verdict::Fail(format!("reading the console failed: {e}")),
        };
        let passed = matches!(verdict, Verdict::Pass { .. });
        return Ok(BootOutcome { record: watch.record(&verdict), passed });
    }
}

/// The board's port once it is back on the bus, or why it is not (before the deadline).
async fn back_on_bus<T: Transport>(
    r: &dyn Reconnect<T>,
    deadline: tokio::time::Instant,
    cancel: &CancellationToken,
    cfg: &BootConfig,
) -> Result<Result<T, String>, SessionError> {
    let reopened = tokio::select! {
        _ = cancel.cancelled() => return Err(SessionError::Cancelled { stage: Stage::Boot }),
        r = tokio::time::timeout_at(deadline, r.reopen()) => r,
    };
    Ok(match reopened {
        Ok(Ok(p)) => Ok(p),
        Ok(Err(reason)) => Err(format!("the console port did not come back: {reason}")),
        Err(_) => Err(format!("the console port did not come back within {}", seconds(cfg.timeout))),
    })
}

fn fail(watch: &mut ConsoleWatch<'_>, reason: String) -> BootOutcome {
    BootOutcome { record: watch.record(&Verdict::Fail(reason)), passed: false }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::BootPattern;

    fn cfg(fail: Option<&str>, lines: usize) -> BootConfig {
        BootConfig {
            pattern: BootPattern::new("self-test passed").unwrap(),
            fail_pattern: fail.map(|f| BootPattern::new(f).unwrap()),
            timeout: Duration::from_millis(1500),
            baud: 115_200,
            lines,
        }
    }

    const ESP32_BANNER: &str =
        "ets Jun  8 2016 00:22:57\r\n\r\nrst:0x1 (POWERON_RESET),boot:0x13 (SPI_FAST_FLASH_BOOT)\r\n";

    #[test]
    fn verdicts_from_console_text() {
        let t = Duration::from_millis(321);
        let loop3 = format!("{ESP32_BANNER}flash read err, 1000\r\n").repeat(3);
        let cases: Vec<(String, Option<&str>, Option<Verdict>)> = vec![
            (format!("{ESP32_BANNER}I (300) app: self-test passed\r\n"), None, Some(Verdict::Pass { ms: 321 })),
            (format!("{ESP32_BANNER}I (300) app: self-test pass"), None, None),
            (format!("{ESP32_BANNER}{ESP32_BANNER}nothing\r\n"), None, None),
            (loop3, None, Some(Verdict::Fail("boot loop: the chip started 3 times".into()))),
            (
                "Guru Meditation Error: Core 0 panic'ed\r\n".into(),
                Some("Guru Meditation|abort\\(\\)"),
                Some(Verdict::Fail("fail_pattern matched: Guru Meditation Error: Core 0 panic'ed".into())),
            ),
            (
                "ESP-ROM:esp32c3-api1-20210207\r\n".repeat(3),
                None,
                Some(Verdict::Fail("boot loop: the chip started 3 times".into())),
            ),
            (
                "\r\n ets Jan  8 2013,rst cause:2, boot mode:(3,7)\r\n".repeat(3),
                None,
                Some(Verdict::Fail("boot loop: the chip started 3 times".into())),
            ),
            ("ets_main.c 371 \r\n".repeat(5), None, None),
        ];
        for (text, fail, want) in cases {
            let c = cfg(fail, 20);
            let mut w = ConsoleWatch::new(&c);
            assert_eq!(w.feed(text.as_bytes(), t), want, "{text:?}");
        }
    }

    #[test]
    fn the_last_lines_are_kept_bounded_and_the_timeout_names_its_seconds() {
        let c = cfg(None, 3);
        let mut w = ConsoleWatch::new(&c);
        let long = "x".repeat(MAX_LINE * 3);
        assert_eq!(w.feed(format!("a\r\nb\r\nc\r\n{long}\r\nd").as_bytes(), Duration::ZERO), None);
        let v = w.timed_out(Duration::from_millis(1500));
        assert_eq!(v, Verdict::Fail("pattern not seen in 1.5 s".into()));
        let r = w.record(&v);
        assert_eq!(r.lines, vec!["c".to_string(), "x".repeat(MAX_LINE), "d".into()]);
        assert_eq!((r.result.as_str(), r.reason.as_deref()), ("fail", Some("pattern not seen in 1.5 s")));
        // A pattern in the last line without its newline still passes at the timeout.
        let mut w = ConsoleWatch::new(&c);
        w.feed(b"self-test passed", Duration::ZERO);
        assert_eq!(w.timed_out(Duration::from_millis(900)), Verdict::Pass { ms: 900 });
    }

    /// A USB board's returns to the bus are starts; a banner caught right after a return
    /// is that start, a banner after other lines another one.
    #[test]
    fn returns_to_the_bus_count_as_starts() {
        let c = cfg(None, 20);
        let t = Duration::ZERO;
        let mut w = ConsoleWatch::new(&c);
        assert_eq!(w.restarted(), None);
        assert_eq!(w.feed(b"E (60) boot: No bootable app partitions\r\nESP-ROM:esp32s3-20210327\r\n", t), None);
        assert_eq!(w.feed(b"half a li", t), None);
        assert_eq!(w.restarted(), Some(Verdict::Fail("boot loop: the chip started 3 times".into())));
        assert!(!w.record(&Verdict::Fail(String::new())).lines.iter().any(|l| l.contains("half")));
        let mut w = ConsoleWatch::new(&c);
        w.restarted();
        assert_eq!(w.feed(b"ESP-ROM:esp32s3-20210327\r\nI (29) boot: ESP-IDF\r\n", t), None, "the same start");
        assert_eq!(w.feed(b"ESP-ROM:esp32s3-20210327\r\n", t), None, "the second start");
        assert_eq!(
            w.feed(b"ESP-ROM:esp32s3-20210327\r\n", t),
            Some(Verdict::Fail("boot loop: the chip started 3 times".into()))
        );
    }

    #[test]
    fn rom_banners_of_every_family_are_told_from_other_lines() {
        for line in
            ["ets Jun  8 2016 00:22:57", " ets Jan  8 2013,rst cause:2, boot mode:(3,6)", "ESP-ROM:esp32s3-20210327"]
        {
            assert!(is_rom_banner(line), "{line}");
        }
        for line in ["ets_main.c 371 ", "I (29) boot: ESP-IDF", "", "ets"] {
            assert!(!is_rom_banner(line), "{line}");
        }
    }
}
