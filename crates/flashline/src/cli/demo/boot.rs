//! `flashline demo --boot`: the post-flash boot check on simulated boards. The sample app
//! carries a console script (a self-test line, then the app idles), the demo config gets
//! a `[boot]` section and a hard reset after the write, and one board's flash loses a
//! byte of the app right after its verify (a marginal flash part): it boot-loops and
//! fails at stage `boot`.
//!
//! The demo's boards sit behind pseudo-terminals, which carry no DTR/RTS: the demo plays
//! the fixture's reset line itself when a slot enters its boot stage.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use flashline_session::Stage;
use flashline_sim::SimHandle;

/// What the demo app prints when it boots.
pub const SCRIPT: &str = "I (305) cpu_start: Starting scheduler.\n@delay 120\nI (425) demo: self-test passed\n\
                          @delay 200\nI (625) demo: waiting for the cloud";

/// The demo config's `[boot]` section.
pub const SECTION: &str =
    "\n[boot]\n# The demo app prints this line after its self-test.\npattern = 'demo: self-test passed'\n\
                           fail_pattern = 'Guru Meditation|abort\\(\\)'\ntimeout = \"5s\"\nlines = 10\n";

/// Where the looping board's flash changes: inside the app, so its checksum fails.
const APP_BYTE: u32 = 0x10000 + 0x2000;

/// Why the looping board fails (the summary's "expected" note).
pub const LOOP_NOTE: &str = "app corrupted after its verify: boot loop";

/// The fixture's reset line for the demo's boards.
pub struct Fixture {
    boards: Arc<Mutex<BTreeMap<String, SimHandle>>>,
    looping: Option<String>,
    /// The boards' own reset lines do not reach them (pseudo-terminals): press reset.
    press_reset: bool,
}

impl Fixture {
    /// `boards`: slot name → board; `looping`: the slot whose app is corrupted;
    /// `press_reset`: the station's hard reset does not reach the boards.
    pub fn new(boards: Arc<Mutex<BTreeMap<String, SimHandle>>>, looping: Option<String>, press_reset: bool) -> Fixture {
        Fixture { boards, looping, press_reset }
    }

    /// A slot entered `stage`: at its boot stage, corrupt the looping board's app, then
    /// press the board's reset (IO0 high) if the station's cannot reach it, and the
    /// looping board's always.
    pub fn on_stage(&self, slot: &str, stage: Stage) {
        if stage != Stage::Boot {
            return;
        }
        let Some(board) = self.boards.lock().expect("board handles").get(slot).cloned() else { return };
        let looping = self.looping.as_deref() == Some(slot);
        if looping {
            let at = APP_BYTE as usize;
            if let Some(b) = board.flash().get(at) {
                board.write_flash_raw(APP_BYTE, &[!b]);
            }
        }
        // The station's own reset may have started the good app already: the looping
        // board is reset again on the corrupted one.
        if self.press_reset || looping {
            board.set_lines(false, true);
            board.set_lines(false, false);
        }
    }
}
