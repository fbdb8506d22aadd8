//! A boot from flash played out over time: the board asks [`crate::flash_boot`] what the
//! ROM, bootloader and app print, sends the ROM's log at once and the rest when its time
//! comes (timer work), and boots again when the plan ends in a reset (on USB-Serial/JTAG
//! the port leaves the bus and comes back at that reset, as at any other). Any reset, a
//! power cut or an unplug ends it.

use std::collections::VecDeque;
use std::time::Duration;

use super::{Board, Mode};
use crate::boot::ResetCause;
use crate::flash_boot::{self, BootTiming, Chunk, Then};
use crate::usb::LinkMode;

/// The rest of a boot's console output.
#[derive(Debug, Clone)]
pub(crate) struct ConsoleRun {
    chunks: VecDeque<Chunk>,
    /// When the next chunk starts (or the reboot happens).
    next_at: Duration,
    then: Then,
}

impl Board {
    fn boot_timing(&self) -> BootTiming {
        if self.timing.bits_per_byte == 0 {
            BootTiming::fast()
        } else {
            BootTiming::realistic()
        }
    }

    /// The chip boots from its flash at `t`. On a UART link the ROM's log goes out at
    /// once; on USB-Serial/JTAG whatever is printed before the port is back on the bus
    /// is lost (the ROM's log), the rest follows from then.
    pub(crate) fn boot_from_flash(&mut self, t: Duration, cause: ResetCause) {
        self.mode = Mode::App;
        let plan = flash_boot::plan(self.model(), self.flash.contents(), cause, self.boot_timing());
        let mut chunks: VecDeque<Chunk> = plan.chunks.into();
        let mut next_at = t;
        if let Some(rom) = chunks.pop_front() {
            match self.link {
                LinkMode::Uart => {
                    self.send_raw_at_baud(t, rom.text, rom.baud);
                    next_at = self.tx_free;
                }
                LinkMode::UsbSerialJtag => next_at = self.tx_free.max(t),
            }
        }
        next_at += chunks.front().map_or(Duration::ZERO, |c| c.after);
        if let (None, Then::Reboot { after, .. }) = (chunks.front(), plan.then) {
            next_at += after;
        }
        self.console = Some(ConsoleRun { chunks, next_at, then: plan.then });
    }

    /// When the console wants the next poll.
    pub(crate) fn console_deadline(&self) -> Option<Duration> {
        self.console.as_ref().filter(|c| !c.chunks.is_empty() || c.then != Then::Run).map(|c| c.next_at)
    }

    /// Timer work: the chunks whose time came, then the reboot.
    pub(crate) fn poll_console(&mut self, now: Duration) {
        if self.mode != Mode::App {
            self.console = None;
            return;
        }
        while let Some(run) = self.console.as_mut() {
            if now < run.next_at {
                return;
            }
            let at = run.next_at;
            match run.chunks.pop_front() {
                Some(chunk) => {
                    let then = run.then;
                    self.send_raw_at_baud(at, chunk.text, chunk.baud);
                    let run = self.console.as_mut().expect("console run");
                    run.next_at = self.tx_free + run.chunks.front().map_or(Duration::ZERO, |c| c.after);
                    if let (true, Then::Reboot { after, .. }) = (run.chunks.is_empty(), then) {
                        run.next_at += after;
                    }
                }
                None => match run.then {
                    Then::Run => return,
                    Then::Reboot { cause, .. } => {
                        self.console = None;
                        match self.link {
                            LinkMode::Uart => {
                                self.stats.resets += 1;
                                self.boot_from_flash(at, cause);
                            }
                            // A chip on its own USB-Serial/JTAG port drops off the bus at
                            // every reset and enumerates again: a boot loop does so at
                            // each turn, as a real one does.
                            LinkMode::UsbSerialJtag => self.usb_reset(at, false, cause),
                        }
                    }
                },
            }
        }
    }
}
