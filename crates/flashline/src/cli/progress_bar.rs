//! The progress bar of the one-off board commands (`flash`, `read`, `erase`, ...), fed by
//! the session's [`Progress`] events and drawn by `indicatif` on stderr: one bar per stage,
//! bytes, rate and ETA from indicatif's own estimator, redraws rate-limited by it (so the
//! flashing task never waits on the terminal), and nothing at all when stderr is not a
//! terminal (pipes and logs stay clean).

use std::sync::{Arc, Mutex};

use flashline_session::{Progress, ProgressEvent, Stage};
use indicatif::{ProgressDrawTarget, ProgressStyle};

/// Template of a stage with a known size: `write    [####....]  25%  1.00 MiB / 4.00 MiB  512 KiB/s  ETA 6s`.
const SIZED: &str = "{prefix:9} [{bar:30}] {percent:>3}%  {bytes} / {total_bytes}  {binary_bytes_per_sec}  ETA {eta}";
/// Template of a stage without a size (connect, identify, ...): a spinner.
const UNSIZED: &str = "{prefix:9} {spinner} {elapsed}";

#[derive(Debug)]
struct State {
    stage: Option<Stage>,
    sized: bool,
}

/// The bar; cheap to clone (all clones draw the same line).
#[derive(Debug, Clone)]
pub struct ProgressBar {
    bar: indicatif::ProgressBar,
    state: Arc<Mutex<State>>,
}

impl ProgressBar {
    /// A bar on stderr; indicatif draws nothing when stderr is not a terminal.
    pub fn stderr() -> ProgressBar {
        ProgressBar::with_target(ProgressDrawTarget::stderr())
    }

    fn with_target(target: ProgressDrawTarget) -> ProgressBar {
        let bar = indicatif::ProgressBar::with_draw_target(None, target);
        ProgressBar { bar, state: Arc::new(Mutex::new(State { stage: None, sized: false })) }
    }

    /// The sink to hand to the session (none when nothing would be drawn).
    pub fn progress(&self) -> Progress {
        if self.bar.is_hidden() {
            return Progress::none();
        }
        let bar = self.clone();
        Progress::callback(move |e| bar.event(e))
    }

    fn event(&self, e: ProgressEvent) {
        let mut st = self.state.lock().expect("progress bar state");
        let sized = e.total > 0;
        if st.stage != Some(e.stage) || st.sized != sized {
            // A new stage starts a fresh bar: its own rate, ETA and elapsed time.
            st.stage = Some(e.stage);
            st.sized = sized;
            self.bar.reset();
            self.bar.set_style(style(sized));
            self.bar.set_prefix(e.stage.as_str());
            self.bar.set_length(e.total);
        } else if sized && self.bar.length() != Some(e.total) {
            self.bar.set_length(e.total);
        }
        if sized {
            // A retried region can report past the end; the bar stops at full.
            self.bar.set_position(e.done.min(e.total));
        } else {
            self.bar.tick();
        }
    }

    /// Removes the bar so the next message starts on a clean line.
    pub fn clear(&self) {
        let mut st = self.state.lock().expect("progress bar state");
        self.bar.finish_and_clear();
        st.stage = None;
    }
}

fn style(sized: bool) -> ProgressStyle {
    let template = if sized { SIZED } else { UNSIZED };
    ProgressStyle::with_template(template).expect("valid progress template").progress_chars("#>.")
}

/// "812 KiB", "3.90 MiB" (binary units, as flash sizes are), for the commands' summaries.
pub fn human(bytes: f64) -> String {
    indicatif::BinaryBytes(bytes.max(0.0).round() as u64).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use indicatif::InMemoryTerm;

    fn term_bar() -> (ProgressBar, InMemoryTerm) {
        let term = InMemoryTerm::new(4, 120);
        (ProgressBar::with_target(ProgressDrawTarget::term_like(Box::new(term.clone()))), term)
    }

    #[test]
    fn draws_stage_bar_percent_and_bytes() {
        let (bar, term) = term_bar();
        bar.event(ProgressEvent { stage: Stage::Write, done: 1 << 20, total: 4 << 20 });
        bar.bar.force_draw();
        let line = term.contents();
        assert!(line.starts_with("write     ["), "{line}");
        assert!(line.contains(" 25%"), "{line}");
        assert!(line.contains("1.00 MiB / 4.00 MiB"), "{line}");
    }

    #[test]
    fn a_new_stage_starts_a_new_bar_and_overflow_stops_at_full() {
        let (bar, term) = term_bar();
        bar.event(ProgressEvent { stage: Stage::Write, done: 4 << 20, total: 4 << 20 });
        bar.event(ProgressEvent { stage: Stage::Verify, done: 10, total: 5 });
        bar.bar.force_draw();
        let line = term.contents();
        assert!(line.starts_with("verify    ["), "{line}");
        assert!(line.contains("100%"), "{line}");
        assert_eq!(bar.bar.position(), 5);
        bar.event(ProgressEvent { stage: Stage::Connect, done: 0, total: 0 });
        bar.bar.force_draw();
        assert!(term.contents().starts_with("connect "), "{}", term.contents());
        bar.clear();
        assert_eq!(term.contents(), "");
    }

    #[test]
    fn hidden_bar_has_no_sink() {
        let bar = ProgressBar::with_target(ProgressDrawTarget::hidden());
        assert_eq!(format!("{:?}", bar.progress()), "Progress(none)");
        bar.clear();
    }

    #[test]
    fn human_sizes_are_binary() {
        assert_eq!(human(812.0 * 1024.0), "812.00 KiB");
        assert_eq!(human(4.0 * 1024.0 * 1024.0), "4.00 MiB");
        assert_eq!(human(12.0), "12 B");
    }
}
