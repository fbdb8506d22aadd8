//! The live view in a real terminal: `flashline demo` inside a detached tmux terminal of
//! 80x24, its screen captured while the boards are flashed. Wrapped lines (tmux joins
//! them back with `capture-pane -J`) or frames piling up (the header more than once)
//! would show here. Skipped, saying so, when tmux is missing; `scripts/setup.sh`
//! installs it.

use std::path::Path;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

const COLS: usize = 80;
const ROWS: usize = 24;
const BOARDS: u32 = 16;

/// A tmux server of this test's own (its own socket), killed when dropped.
struct Tmux {
    socket: String,
}

impl Tmux {
    fn run(&self, args: &[&str]) -> Output {
        Command::new("tmux")
            .arg("-L")
            .arg(&self.socket)
            .args(args)
            .env("TERM", "xterm-256color")
            .output()
            .expect("run tmux")
    }

    /// The pane's screen, wrapped lines joined.
    fn screen(&self) -> String {
        let out = self.run(&["capture-pane", "-p", "-J", "-t", "demo"]);
        String::from_utf8_lossy(&out.stdout).into_owned()
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = self.run(&["kill-server"]);
    }
}

fn tmux_available() -> bool {
    Command::new("tmux").arg("-V").output().is_ok_and(|o| o.status.success())
}

#[test]
fn the_live_view_fits_an_80x24_terminal() {
    if !tmux_available() {
        eprintln!(
            "SKIPPED: tmux is not installed (scripts/setup.sh installs it); the live view was not run in a terminal"
        );
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("demo.db");
    let tmux = Tmux { socket: format!("flashline-live-{}", std::process::id()) };
    let command = format!(
        "{} demo --boards {BOARDS} --faults 2 --timing realistic --interval-ms 100 --db {}; echo DEMO-EXIT=$?; sleep 600",
        Path::new(env!("CARGO_BIN_EXE_flashline")).display(),
        db.display()
    );
    let out =
        tmux.run(&["new-session", "-d", "-s", "demo", "-x", &COLS.to_string(), "-y", &ROWS.to_string(), &command]);
    assert!(out.status.success(), "tmux could not start the terminal: {}", String::from_utf8_lossy(&out.stderr));

    let deadline = Instant::now() + Duration::from_secs(240);
    let mut frames = Vec::new();
    let last = loop {
        std::thread::sleep(Duration::from_millis(250));
        let screen = tmux.screen();
        if screen.contains("DEMO-EXIT=") {
            break screen;
        }
        // Live frames only: the summary after the view is ordinary text that may wrap.
        if screen.contains("station demo") && !screen.contains("failed as expected") {
            frames.push(screen);
        }
        assert!(Instant::now() < deadline, "the demo did not finish in time; screen:\n{}", tmux.screen());
    };
    assert!(frames.len() >= 3, "too few live frames captured ({}); last screen:\n{last}", frames.len());

    for screen in &frames {
        for line in screen.lines() {
            assert!(line.chars().count() <= COLS, "a line wrapped at {COLS} columns: {line:?}\n{screen}");
        }
    }
    let names: Vec<String> = (0..BOARDS).map(|k| format!("{}{}", (b'A' + (k / 8) as u8) as char, k % 8 + 1)).collect();
    let shows = |screen: &str, name: &str| screen.lines().any(|l| l.split_whitespace().next() == Some(name));
    for screen in &frames {
        let headers = screen.lines().filter(|l| l.contains("flashline — station demo")).count();
        assert_eq!(headers, 1, "one frame on screen, not a pile of broken ones:\n{screen}");
        // Boards are plugged one after another: a frame shows A1 .. the last one plugged.
        let shown = names.iter().take_while(|n| shows(screen, n)).count();
        assert!(shown >= 1 && names[shown..].iter().all(|n| !shows(screen, n)), "slots out of order:\n{screen}");
    }
    assert!(
        frames.iter().any(|f| names.iter().all(|n| shows(f, n))),
        "no frame shows all {BOARDS} slots; last frame:\n{}",
        frames.last().unwrap()
    );
    // Faulty boards fail as expected; the demo says so and exits 0.
    assert!(last.contains("2 failed as expected"), "{last}");
    assert!(last.contains("DEMO-EXIT=0"), "{last}");
    assert!(last.lines().any(|l| l.contains("FAIL")), "the failures are shown:\n{last}");
}
