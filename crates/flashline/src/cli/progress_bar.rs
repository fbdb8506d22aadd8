//! A one-line progress bar on stderr for the one-off board commands, fed by the session's
//! [`Progress`] events. Drawn only when stderr is a terminal; redrawn at most ten times a
//! second (and at every stage change), so it never slows the flashing task down.

use std::io::{IsTerminal, Write};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use flashline_session::{Progress, ProgressEvent, Stage};

const REDRAW: Duration = Duration::from_millis(100);
const BAR_WIDTH: usize = 30;

#[derive(Debug)]
struct State {
    stage: Option<Stage>,
    stage_started: Instant,
    last_draw: Option<Instant>,
    drawn: bool,
}

/// The bar; cheap to clone (all clones draw the same line).
#[derive(Debug, Clone)]
pub struct ProgressBar {
    enabled: bool,
    state: Arc<Mutex<State>>,
}

impl ProgressBar {
    /// A bar on stderr if stderr is a terminal, otherwise one that draws nothing.
    pub fn stderr() -> ProgressBar {
        ProgressBar::new(std::io::stderr().is_terminal())
    }

    fn new(enabled: bool) -> ProgressBar {
        let state = State { stage: None, stage_started: Instant::now(), last_draw: None, drawn: false };
        ProgressBar { enabled, state: Arc::new(Mutex::new(state)) }
    }

    /// The sink to hand to the session.
    pub fn progress(&self) -> Progress {
        if !self.enabled {
            return Progress::none();
        }
        let bar = self.clone();
        Progress::callback(move |e| bar.event(e))
    }

    fn event(&self, e: ProgressEvent) {
        let mut st = self.state.lock().expect("progress bar state");
        let now = Instant::now();
        let new_stage = st.stage != Some(e.stage);
        if new_stage {
            st.stage = Some(e.stage);
            st.stage_started = now;
        }
        let finished = e.total > 0 && e.done >= e.total;
        let due = st.last_draw.is_none_or(|t| now.duration_since(t) >= REDRAW);
        if !(new_stage || finished || due) {
            return;
        }
        st.last_draw = Some(now);
        st.drawn = true;
        let line = render(e, now.duration_since(st.stage_started));
        let mut err = std::io::stderr().lock();
        let _ = write!(err, "\r{line}\x1b[K");
        let _ = err.flush();
    }

    /// Removes the bar so the next message starts on a clean line.
    pub fn clear(&self) {
        let mut st = self.state.lock().expect("progress bar state");
        if self.enabled && st.drawn {
            let mut err = std::io::stderr().lock();
            let _ = write!(err, "\r\x1b[K");
            let _ = err.flush();
            st.drawn = false;
        }
    }
}

/// The text of the bar for one event (`elapsed`: time since the stage began).
pub fn render(e: ProgressEvent, elapsed: Duration) -> String {
    let stage = format!("{:<8}", e.stage.as_str());
    if e.total == 0 {
        return format!("{stage} …");
    }
    let done = e.done.min(e.total);
    let filled = (done as u128 * BAR_WIDTH as u128 / e.total as u128) as usize;
    let bar: String = "#".repeat(filled) + &".".repeat(BAR_WIDTH - filled);
    let pct = done * 100 / e.total;
    let secs = elapsed.as_secs_f64();
    let rate = if secs > 0.05 { format!("  {}/s", human(done as f64 / secs)) } else { String::new() };
    format!("{stage} [{bar}] {pct:>3}%  {} / {}{rate}", human(done as f64), human(e.total as f64))
}

/// "812 KB", "3.9 MB" (binary units, as flash sizes are).
pub fn human(bytes: f64) -> String {
    const K: f64 = 1024.0;
    if bytes >= K * K {
        format!("{:.1} MB", bytes / (K * K))
    } else if bytes >= K {
        format!("{:.0} KB", bytes / K)
    } else {
        format!("{bytes:.0} B")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_bar_percent_and_rate() {
        let e = ProgressEvent { stage: Stage::Write, done: 1 << 20, total: 4 << 20 };
        let line = render(e, Duration::from_secs(2));
        assert!(line.starts_with(&format!("write    [{}{}]  25%", "#".repeat(7), ".".repeat(23))), "{line}");
        assert!(line.contains("1.0 MB / 4.0 MB"), "{line}");
        assert!(line.ends_with("512 KB/s"), "{line}");
        let e = ProgressEvent { stage: Stage::Connect, done: 0, total: 0 };
        assert_eq!(render(e, Duration::ZERO), "connect  …");
        // Past the end (a retried region) never overflows the bar.
        let e = ProgressEvent { stage: Stage::Verify, done: 10, total: 5 };
        assert!(render(e, Duration::ZERO).contains("100%"));
    }

    #[test]
    fn disabled_bar_has_no_sink() {
        let bar = ProgressBar::new(false);
        assert_eq!(format!("{:?}", bar.progress()), "Progress(none)");
        bar.clear();
    }
}
