//! The live view: one line per slot, redrawn in place on a terminal.
//!
//! Rendering is a pure function of a [`StationView`] and the terminal's size so it can be
//! tested; the task that paints it only moves the cursor. The operator never needs the
//! log: the line of a failed board says the stage and the reason in words.
//!
//! A frame never wraps and never scrolls (either breaks the in-place redraw and piles up
//! broken frames): every line is cut to the terminal's width, and the frame has at most
//! one line less than the terminal's height. When the slots do not fit one per line they
//! are drawn as a grid of short cells ([`super::live_grid`]), with the failures' reasons
//! under it. The size is read from the terminal at every frame, so a resized window gets
//! a fitting frame at once.

use std::io::Write;
use std::time::{Duration, Instant};

use tokio::sync::watch;

use super::live_grid;
use crate::station::forward::{ForwardState, ForwardStatus};
use crate::station::view::{SlotPhase, SlotView, StationView};
use crate::text::escape_for_terminal;

/// Terminal size in character cells.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Size {
    pub cols: usize,
    pub rows: usize,
}

/// Narrowest and lowest terminal the layout is made for; smaller ones get this and cut.
const MIN_SIZE: Size = Size { cols: 40, rows: 6 };

/// Below this width a slot line leaves out the port and the chip name.
const WIDE_COLS: usize = 100;

/// Colours are plain ANSI SGR codes; `None` when the output is not a colour terminal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Style {
    pub color: bool,
}

impl Style {
    pub(super) fn paint(&self, code: &str, text: &str) -> String {
        if self.color {
            format!("\x1b[{code}m{text}\x1b[0m")
        } else {
            text.to_string()
        }
    }
}

const BAR_WIDTH: usize = 20;

pub(super) fn bar(fraction: Option<f64>) -> String {
    match fraction {
        Some(f) => {
            let filled = (f * BAR_WIDTH as f64).round() as usize;
            format!("[{}{}] {:>3.0}%", "#".repeat(filled), "-".repeat(BAR_WIDTH - filled), f * 100.0)
        }
        None => format!("[{}]     ", " ".repeat(BAR_WIDTH)),
    }
}

pub(super) fn secs(d: Duration) -> String {
    format!("{:.1}s", d.as_secs_f64())
}

/// `line` as it shows on screen: without its colour codes.
pub fn visible_text(line: &str) -> String {
    let mut out = String::with_capacity(line.len());
    let mut in_escape = false;
    for c in line.chars() {
        if in_escape {
            in_escape = !c.is_ascii_alphabetic();
        } else if c == '\x1b' {
            in_escape = true;
        } else {
            out.push(c);
        }
    }
    out
}

/// Truncates to `width` visible characters (the live view never wraps: wrapped lines
/// break the in-place redraw). Colour codes take no room on the screen, so they are not
/// counted, never cut in half, and a cut line ends with a reset so the colour of its
/// dropped tail does not leak into the next lines.
pub(super) fn fit(line: String, width: usize) -> String {
    if visible_text(&line).chars().count() <= width {
        return line;
    }
    let mut out = String::with_capacity(line.len());
    let (mut shown, mut in_escape, mut coloured) = (0, false, false);
    for c in line.chars() {
        if in_escape {
            out.push(c);
            in_escape = !c.is_ascii_alphabetic();
        } else if c == '\x1b' {
            out.push(c);
            in_escape = true;
            coloured = true;
        } else if shown + 1 < width {
            out.push(c);
            shown += 1;
        }
    }
    out.push('…');
    if coloured {
        out.push_str("\x1b[0m");
    }
    out
}

/// One slot's line for a terminal `width` columns wide (not cut to it yet); colour codes
/// are not counted in its width. Narrow terminals get the MAC only, no port.
pub fn slot_line(s: &SlotView, now: Instant, style: Style, width: usize) -> String {
    let wide = width >= WIDE_COLS;
    let board = match (&s.chip, &s.mac) {
        (Some(c), Some(m)) if wide => format!("{c} {m}"),
        (_, Some(m)) => m.clone(),
        (Some(c), None) => c.clone(),
        (None, None) => String::new(),
    };
    let board = match &s.serial {
        Some(serial) => format!("{board} {serial}"),
        None => board,
    };
    let rework = if s.rework { " REWORK" } else { "" };
    let status = match &s.phase {
        SlotPhase::Queued => style.paint("33", "waiting"),
        SlotPhase::Running => {
            let stage = s.stage.map(|st| st.as_str()).unwrap_or("start");
            let el = s.started.map(|t| secs(now.duration_since(t))).unwrap_or_default();
            format!("{stage:<9} {} {el}", bar(s.fraction()))
        }
        SlotPhase::Pass => {
            let took = s.took.map(secs).unwrap_or_default();
            format!("{} {took}", style.paint("1;32", "PASS"))
        }
        SlotPhase::Fail { stage, reason } => {
            format!("{} {stage}: {}", style.paint("1;31", "FAIL"), escape_for_terminal(reason))
        }
        SlotPhase::Empty => style.paint("2", "empty"),
    };
    if wide {
        let port = escape_for_terminal(s.port.rsplit('/').next().unwrap_or(&s.port));
        format!("{:<8} {:<12} {:<32} {status}{rework}", s.name, port, board)
    } else {
        format!("{:<5} {:<17} {status}{rework}", s.name, board)
    }
}

/// The header's image part: "image NAME (sha256 0123456789ab…)" for a station of one chip,
/// "images esp32 NAME (sha256 …), esp32s3 NAME (sha256 …)" for one of several.
fn images_text(images: &[crate::station::ImageInfo]) -> String {
    let one = |i: &crate::station::ImageInfo| {
        let sha = i.sha256.get(..12).unwrap_or(&i.sha256);
        format!("{} (sha256 {sha}…)", escape_for_terminal(&i.name))
    };
    match images {
        [i] => format!("image {}", one(i)),
        _ => {
            let all: Vec<String> =
                images.iter().map(|i| format!("{} {}", i.chip.as_deref().unwrap_or("any"), one(i))).collect();
            format!("images {}", all.join(", "))
        }
    }
}

/// The whole screen for a terminal of `size`: a header, the slots (one line each, or a
/// grid when they do not fit), totals. At most `size.cols` visible characters per line
/// and `size.rows - 1` lines.
pub fn render(view: &StationView, now: Instant, size: Size, style: Style) -> Vec<String> {
    let size = Size { cols: size.cols.max(MIN_SIZE.cols), rows: size.rows.max(MIN_SIZE.rows) };
    let width = size.cols;
    let mut lines = Vec::with_capacity(view.slots.len() + 4);
    lines.push(format!("flashline — station {} — {}", view.station, images_text(&view.images)));
    if let Some(n) = &view.notice {
        let label = if n.blocking { "HOLD" } else { "NOTE" };
        lines.push(style.paint("1;33", &format!("{label}: {}", n.text)));
    }
    // Room for the slots: all rows but the frame's own lines and the one the cursor rests on.
    let room = (size.rows - 1).saturating_sub(lines.len() + 1);
    if view.slots.is_empty() {
        lines.push("no boards yet: plug a board into a hub port".to_string());
    } else if view.slots.len() <= room {
        lines.extend(view.slots.iter().map(|s| slot_line(s, now, style, width)));
    } else {
        lines.extend(live_grid::grid(&view.slots, style, width, room));
    }
    let t = view.totals;
    let yield_text = t.yield_percent().map(|y| format!("{y:.1}%")).unwrap_or_else(|| "—".into());
    let rate = view.boards_per_hour(now).map(|r| format!(", {r:.0} boards/h")).unwrap_or_default();
    lines.push(format!(
        "pass {}  fail {}  running {}  waiting {}  rework {}  yield {yield_text}{rate}",
        t.pass, t.fail, t.running, t.queued, t.rework
    ));
    if let Some(c) = &view.central {
        lines.push(central_line(c, style));
    }
    lines.into_iter().map(|l| fit(l, width)).collect()
}

/// The central record's line: rows waiting and sent, and why it is not sending.
fn central_line(c: &ForwardStatus, style: Style) -> String {
    let counts = format!("central: {} waiting, {} sent", c.backlog, c.forwarded);
    match &c.state {
        ForwardState::Starting | ForwardState::Forwarding => counts,
        ForwardState::Retrying(why) => {
            style.paint("1;33", &format!("{counts}; retrying: {}", escape_for_terminal(why)))
        }
        ForwardState::Stopped(why) => style.paint("1;31", &format!("{counts}; STOPPED: {}", escape_for_terminal(why))),
    }
}

/// Repaints the view on `out` whenever it changes, at most `fps` times a second, until
/// the sender is dropped. Returns the last view drawn.
pub async fn paint(mut rx: watch::Receiver<StationView>, mut out: impl Write, style: Style, fps: u32) -> StationView {
    let period = Duration::from_millis(1000 / u64::from(fps.max(1)));
    let mut drawn = 0usize;
    let mut last_size = None;
    let mut tick = tokio::time::interval(period);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    loop {
        let closed = tokio::select! {
            r = rx.changed() => r.is_err(),
            // Redraw on a timer too, so elapsed times advance while nothing changes.
            _ = tick.tick() => false,
        };
        let view = rx.borrow_and_update().clone();
        let size = terminal_size();
        let lines = render(&view, Instant::now(), size, style);
        let mut frame = String::new();
        if last_size.is_some_and(|s| s != size) {
            // The terminal re-flowed the old frame: start over on a clean screen.
            frame.push_str("\x1b[H\x1b[2J");
        } else if drawn > 0 {
            // Back to the top of what we drew last time; clear to the end of the screen.
            frame.push_str(&format!("\x1b[{drawn}F\x1b[J"));
        }
        last_size = Some(size);
        for l in &lines {
            frame.push_str(l);
            frame.push('\n');
        }
        drawn = lines.len();
        let _ = out.write_all(frame.as_bytes());
        let _ = out.flush();
        if closed {
            return view;
        }
    }
}

/// Size of the terminal stdout is on, asked of the terminal itself (so it follows
/// resizes); `COLUMNS`/`LINES` or 80x24 when it cannot say.
fn terminal_size() -> Size {
    if let Ok((cols, rows)) = crossterm::terminal::size() {
        if cols > 0 && rows > 0 {
            return Size { cols: cols.into(), rows: rows.into() };
        }
    }
    let env = |k: &str, d: usize| std::env::var(k).ok().and_then(|c| c.parse().ok()).filter(|n| *n > 0).unwrap_or(d);
    Size { cols: env("COLUMNS", 80), rows: env("LINES", 24) }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::station::view::Notice;
    use flashline_session::Stage;

    fn image(chip: &str, name: &str, sha: &str) -> crate::station::ImageInfo {
        crate::station::ImageInfo { chip: Some(chip.into()), name: name.into(), sha256: sha.repeat(32) }
    }

    /// A station of several chips names every image with its chip in the header.
    #[test]
    fn the_header_names_every_image() {
        let mut v = view();
        v.images = vec![image("esp32", "a.bin", "ab"), image("esp32s3", "b.bin", "cd")];
        let lines = render(&v, Instant::now(), Size { cols: 200, rows: 60 }, Style { color: false });
        assert!(
            lines[0].contains("images esp32 a.bin (sha256 abababababab…), esp32s3 b.bin (sha256 cdcdcdcdcdcd…)"),
            "{}",
            lines[0]
        );
        let lines = render(&view(), Instant::now(), Size { cols: 200, rows: 60 }, Style { color: false });
        assert!(lines[0].ends_with("— image golden (sha256 abababababab…)"), "{}", lines[0]);
    }

    fn view() -> StationView {
        let mut v = StationView::new("line-1".into(), vec![image("esp32", "golden", "ab")]);
        let mut a = SlotView::new("A1".into(), "p1".into(), "/dev/ttyUSB0".into());
        a.phase = SlotPhase::Running;
        a.stage = Some(Stage::Write);
        a.done = 50;
        a.total = 100;
        a.chip = Some("ESP32-D0WDQ6".into());
        a.mac = Some("24:0a:c4:00:00:01".into());
        let mut b = SlotView::new("A2".into(), "p2".into(), "/dev/ttyUSB1".into());
        b.phase = SlotPhase::Fail { stage: "verify".into(), reason: "flash does not match".into() };
        b.mac = Some("24:0a:c4:00:00:02".into());
        b.rework = true;
        let mut c = SlotView::new("A3".into(), "p3".into(), "/dev/ttyUSB2".into());
        c.phase = SlotPhase::Pass;
        c.took = Some(Duration::from_millis(12_340));
        v.slots = vec![a, b, c];
        v.totals.pass = 1;
        v.totals.fail = 1;
        v.totals.running = 1;
        v
    }

    #[test]
    fn lines_say_stage_progress_and_reason() {
        let lines = render(&view(), Instant::now(), Size { cols: 200, rows: 60 }, Style { color: false });
        assert!(lines[0].contains("station line-1") && lines[0].contains("abababababab"), "{lines:?}");
        assert!(lines[1].starts_with("A1") && lines[1].contains("write") && lines[1].contains("50%"), "{}", lines[1]);
        assert!(lines[1].contains("24:0a:c4:00:00:01") && lines[1].contains("ttyUSB0"), "{}", lines[1]);
        assert!(lines[2].contains("FAIL verify: flash does not match") && lines[2].ends_with("REWORK"), "{}", lines[2]);
        assert!(lines[3].contains("PASS 12.3s"), "{}", lines[3]);
        assert!(lines[4].contains("pass 1  fail 1") && lines[4].contains("yield 50.0%"), "{}", lines[4]);
    }

    /// A port name from udev, an image name and a failure reason quoting a board's bytes
    /// are shown escaped, one slot per line and in the grid alike.
    #[test]
    fn outside_text_is_shown_escaped() {
        const NASTY: &str = "x\u{1b}]0;pwned\u{7}\u{9b}31m\u{202e}";
        let mut v = view();
        v.images[0].name = format!("golden{NASTY}");
        v.slots[0].port = format!("/dev/ttyUSB{NASTY}");
        v.slots[1].phase = SlotPhase::Fail { stage: "connect".into(), reason: format!("board said {NASTY}") };
        for (size, what) in [(Size { cols: 200, rows: 60 }, "lines"), (Size { cols: 60, rows: 5 }, "grid")] {
            for line in render(&v, Instant::now(), size, Style { color: false }) {
                assert!(!line.chars().any(crate::text::needs_escape), "{what}: {line:?}");
            }
        }
        let lines = render(&v, Instant::now(), Size { cols: 200, rows: 60 }, Style { color: false }).join("\n");
        assert!(lines.contains("board said x\\x1b]0;pwned\\x07\\u{9b}31m\\u{202e}"), "{lines}");
    }

    #[test]
    fn notice_and_width_and_colour() {
        let mut v = view();
        v.notice = Some(Notice { text: "audit database full".into(), blocking: true });
        let lines = render(&v, Instant::now(), Size { cols: 40, rows: 24 }, Style { color: false });
        assert!(lines[1].starts_with("HOLD: audit database full"));
        assert!(lines.iter().all(|l| l.chars().count() <= 40), "{lines:?}");
        let coloured = render(&v, Instant::now(), Size { cols: 400, rows: 60 }, Style { color: true });
        assert!(coloured.iter().any(|l| l.contains("\x1b[1;32mPASS\x1b[0m")));
    }

    #[test]
    fn the_central_backlog_and_why_it_waits_are_shown() {
        let mut v = view();
        let size = Size { cols: 200, rows: 40 };
        assert!(!render(&v, Instant::now(), size, Style { color: false }).iter().any(|l| l.starts_with("central:")));
        let table = [
            (ForwardState::Forwarding, "central: 0 waiting, 7 sent"),
            (
                ForwardState::Retrying("server down\x1b[2J".into()),
                "central: 0 waiting, 7 sent; retrying: server down\\x1b[2J",
            ),
            (ForwardState::Stopped("twin".into()), "central: 0 waiting, 7 sent; STOPPED: twin"),
        ];
        for (state, want) in table {
            v.central = Some(ForwardStatus { backlog: 0, forwarded: 7, state, last_error: None });
            let lines = render(&v, Instant::now(), size, Style { color: false });
            assert_eq!(lines.last().map(String::as_str), Some(want));
        }
    }

    #[test]
    fn cut_coloured_lines_keep_whole_codes_and_reset() {
        let style = Style { color: true };
        let line = style.paint("1;33", &format!("HOLD: {}", "x".repeat(60)));
        let cut = fit(line.clone(), 40);
        assert!(cut.starts_with("\x1b[1;33mHOLD: "), "{cut:?}");
        assert!(cut.ends_with("…\x1b[0m"), "{cut:?}");
        let visible: String = cut.replace("\x1b[1;33m", "").replace("\x1b[0m", "");
        assert_eq!(visible.chars().count(), 40, "{visible:?}");
        // Codes do not count against the width: a line that fits on screen is untouched.
        let short = style.paint("1;32", &"y".repeat(40));
        assert_eq!(fit(short.clone(), 40), short);
        assert_eq!(fit("abcdef".into(), 4), "abc…");
    }

    /// A station of `n` slots in every phase, with long failure reasons.
    fn busy(n: u32) -> StationView {
        let mut v = StationView::new("line-1".into(), vec![image("esp32", "golden", "ab")]);
        for k in 0..n {
            let mut s = SlotView::new(
                format!("{}{}", (b'A' + (k / 8) as u8) as char, k % 8 + 1),
                format!("p{k}"),
                format!("/dev/ttyUSB{k}"),
            );
            s.chip = Some("ESP32-D0WD-V3 (revision v3.1)".into());
            s.mac = Some(format!("24:0a:c4:00:00:{k:02x}"));
            s.phase = match k % 5 {
                0 => SlotPhase::Queued,
                1 => {
                    s.stage = Some(Stage::Write);
                    s.done = u64::from(k);
                    s.total = 64;
                    s.started = Some(Instant::now());
                    SlotPhase::Running
                }
                2 => {
                    s.took = Some(Duration::from_millis(4_200));
                    SlotPhase::Pass
                }
                3 => SlotPhase::Fail {
                    stage: "identify".into(),
                    reason: "chip is ESP8266, the image is for ESP32: put this board on an ESP8266 line".into(),
                },
                _ => SlotPhase::Empty,
            };
            s.rework = k % 7 == 0;
            v.slots.push(s);
        }
        v.notice =
            Some(Notice { text: "audit database nearly full: free space on the line PC".into(), blocking: false });
        v
    }

    #[test]
    fn every_frame_fits_its_terminal() {
        // (slots, cols, rows, every slot name on screen)
        let cases =
            [(16, 80, 24, true), (64, 200, 60, true), (64, 80, 24, true), (16, 200, 60, true), (64, 40, 10, false)];
        for (n, cols, rows, all_named) in cases {
            for color in [false, true] {
                let v = busy(n);
                let lines = render(&v, Instant::now(), Size { cols, rows }, Style { color });
                let shown: Vec<String> = lines.iter().map(|l| visible_text(l)).collect();
                assert!(lines.len() < rows, "{n} slots at {cols}x{rows}: {} lines\n{}", lines.len(), shown.join("\n"));
                for l in &shown {
                    assert!(l.chars().count() <= cols, "{n} slots at {cols}x{rows}: {l:?} is too wide");
                }
                let text = shown.join("\n");
                if all_named {
                    for s in &v.slots {
                        let named = shown.iter().any(|l| l.split_whitespace().any(|w| w == s.name));
                        assert!(named, "{n} slots at {cols}x{rows}: {} missing\n{text}", s.name);
                    }
                } else {
                    assert!(text.contains("more slots:"), "{n} slots at {cols}x{rows}: hidden slots unsaid\n{text}");
                }
                assert!(text.contains("FAIL identify"), "{text}");
                assert!(shown.last().unwrap().starts_with("pass "), "{text}");
            }
        }
    }

    #[test]
    fn one_line_per_slot_at_80_columns_says_the_reason() {
        let lines = render(&busy(16), Instant::now(), Size { cols: 80, rows: 24 }, Style { color: false });
        assert_eq!(lines.len(), 16 + 3, "{lines:#?}");
        let fail = lines.iter().find(|l| l.starts_with("A4 ")).unwrap();
        assert!(fail.contains("24:0a:c4:00:00:03") && fail.contains("FAIL identify: chip is ESP8266"), "{fail}");
    }

    #[test]
    fn a_grid_lists_the_failures_reasons_below() {
        let lines = render(&busy(64), Instant::now(), Size { cols: 200, rows: 60 }, Style { color: false });
        let grid_lines = lines.iter().filter(|l| l.contains("waiting") && l.contains("PASS")).count();
        assert!(grid_lines >= 6, "{lines:#?}");
        let reasons: Vec<&String> = lines.iter().filter(|l| l.contains("FAIL identify: chip is ESP8266")).collect();
        assert_eq!(reasons.len(), 13, "every failure fits at 200x60: {lines:#?}");
    }

    /// Provisioning and the boot check are stages like the others, by their names, in
    /// the one-line-per-slot layout and in the grid; a provisioned board shows its serial.
    #[test]
    fn provision_and_boot_show_by_name() {
        for (stage, name) in [(Stage::Provision, "provision"), (Stage::Boot, "boot")] {
            let mut v = view();
            v.slots[0].stage = Some(stage);
            v.slots[0].serial = Some("FL-001000".into());
            let lines = render(&v, Instant::now(), Size { cols: 200, rows: 60 }, Style { color: false });
            assert!(lines[1].contains(&format!(" {name} ")) && lines[1].contains("FL-001000"), "{}", lines[1]);
            let grid = render(&busy_with(&v, 64), Instant::now(), Size { cols: 200, rows: 30 }, Style { color: false });
            assert!(grid.iter().any(|l| l.contains(&format!("A1 {name}"))), "{name}: {grid:#?}");
        }
    }

    /// `n` busy slots whose first is `v`'s first.
    fn busy_with(v: &StationView, n: u32) -> StationView {
        let mut b = busy(n);
        b.slots[0] = v.slots[0].clone();
        b
    }

    #[test]
    fn bar_bounds() {
        assert_eq!(bar(Some(0.0)), format!("[{}]   0%", "-".repeat(20)));
        assert_eq!(bar(Some(1.0)), format!("[{}] 100%", "#".repeat(20)));
    }
}
