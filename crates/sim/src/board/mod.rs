//! The board: a sans-IO model of one chip in download mode.
//!
//! Input: bytes from the host with the time they were handed over, modem-line changes, and
//! timer polls. Output: [`Output`]s — byte runs to send starting at a given time, paced at
//! a given baud, or "close the link at time t". All times are [`Duration`]s since the
//! board's epoch; the transport maps them onto a clock and schedules against those absolute
//! deadlines, so delays never accumulate drift.
//!
//! The UART is modelled in both directions: a byte handed over at `now` arrives at
//! `max(now, rx line free) + 10 bits / baud`, so a frame is complete when its last byte
//! arrives; replies occupy the TX line back to back. The CPU and the flash chip have their
//! own timelines ([`write::Clock`]): a command starts when its frame is complete and the
//! CPU is free. Flash content changes immediately; only the reply times carry the cost.

mod common;
mod console;
mod read;
mod rom;
mod stub;
mod watchdog;
pub mod write;

use crate::boot::{self, ResetCause, Straps};
use crate::chips::{self, SimChip};
use crate::config::BoardConfig;
use crate::faults::{BootNoise, Fault};
use crate::flash::NorFlash;
use crate::registers::Registers;
use crate::stats::SimStats;
use crate::timing::TimingModel;
use crate::usb::{LinkMode, UsbLines, UsbReset, UsbTiming};
use flashline_protocol::chip::Mac;
use flashline_protocol::command::{self, Request};
use flashline_protocol::packet::CommandPacket;
use flashline_protocol::slip::{self, SlipDecoder, SlipEvent};
use flashline_protocol::{Chip, Status, StatusFormat};
use read::ReadJob;
use std::time::Duration;
use write::{Clock, Ctx, WriteJob};

/// Tolerance of the overrun check: one tick of the runner's millisecond timers.
const RX_SLACK: Duration = Duration::from_millis(1);

/// Which flasher stub runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StubKind {
    /// esptool's stub set 1 (`espressif/esptool-legacy-flasher-stub`).
    Legacy,
    /// esptool's stub set 2 (`espressif/esp-flasher-stub`), the 5.3+ default.
    New,
}

impl StubKind {
    /// Recognises the stub from the MEM_END entry point (esptool 5.6 stub images).
    pub fn from_entry(chip: Chip, entry: u32) -> Option<StubKind> {
        chips::stub_by_entry(chip, entry)
    }

    /// Recognises the stub from a MEM_BEGIN load address (text segment start).
    pub fn from_load_addr(chip: Chip, addr: u32) -> Option<StubKind> {
        chips::stub_by_load_addr(chip, addr)
    }
}

/// What the chip is doing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Mask-ROM download mode.
    Rom,
    /// A flasher stub runs.
    Stub(StubKind),
    /// The application runs (ignores the host).
    App,
    /// EN held low.
    InReset,
    /// Booted, but not into download mode (fault).
    NotDownload,
    /// Hung or unplugged: absorbs input, never answers.
    Dead,
}

/// Something the transport must do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Output {
    /// Send `bytes` starting at `at`, one byte every `pace` (zero: all at once).
    Bytes { at: Duration, bytes: Vec<u8>, pace: Pace },
    /// Close the link at `at` (unplug).
    Close { at: Duration },
    /// The chip reset on its USB-Serial/JTAG port: the link drops at `at` and a new one
    /// enumerates `back_after` later (the transport decides how the host sees it).
    Reenumerate { at: Duration, back_after: Duration },
}

/// UART pacing of an output run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pace {
    pub bits_per_byte: u32,
    pub baud: u32,
}

impl Pace {
    /// Time the first `n` bytes of the run take.
    pub fn time(&self, n: usize) -> Duration {
        if self.bits_per_byte == 0 || self.baud == 0 {
            return Duration::ZERO;
        }
        Duration::from_nanos((n as u128 * self.bits_per_byte as u128 * 1_000_000_000 / self.baud as u128) as u64)
    }

    pub fn is_instant(&self) -> bool {
        self.bits_per_byte == 0 || self.baud == 0
    }
}

/// MEM_BEGIN..MEM_END bookkeeping (the code is not executed, only recognised).
#[derive(Debug, Clone, Default)]
pub(crate) struct MemJob {
    pub remaining: u32,
    pub hint: Option<StubKind>,
}

/// Fault knobs in effect.
#[derive(Debug, Clone, Default)]
struct FaultState {
    not_download: Option<BootNoise>,
    unplug_after: Option<u64>,
    hang_after: Option<u64>,
    corrupt_frame: Option<u64>,
    slow_reply: Duration,
    /// (addr, len, after this many MD5s) of `flash-changes` faults.
    flash_changes: Vec<(u32, u32, u64)>,
    md5s: u64,
    /// `hang-until-power-cycle`: the stub is wedged until the power is cut.
    wedged: bool,
}

/// One simulated chip.
pub struct Board {
    pub(crate) chip: Chip,
    mac: Mac,
    pub(crate) timing: TimingModel,
    faults: FaultState,
    pub(crate) flash: NorFlash,
    pub(crate) regs: Registers,
    pub(crate) mode: Mode,
    decoder: SlipDecoder,
    pub(crate) baud: u32,
    rx_free: Duration,
    /// Start of the current back-to-back run on the RX line and bytes in it, so arrival
    /// times are computed exactly (no per-byte rounding drift).
    rx_anchor: Duration,
    rx_count: u64,
    tx_free: Duration,
    pub(crate) clock: Clock,
    /// When the frame handled last left its receive buffer (overrun detection).
    last_start: Duration,
    /// Frames completing before this time are lost (the chip is still booting).
    ready_at: Duration,
    straps: Straps,
    pub(crate) write: Option<WriteJob>,
    pub(crate) mem: Option<MemJob>,
    pub(crate) read: Option<ReadJob>,
    /// Stub: an error of the work done after the last ack, reported in the next reply.
    pub(crate) pending_error: Option<flashline_protocol::StubError>,
    pub(crate) stats: SimStats,
    out: Vec<Output>,
    next_boot_log: Option<Duration>,
    boot_logs: u32,
    /// Baud the host's port is set to, when the link can tell (PTY termios).
    host_baud: Option<u32>,
    /// The link close was already asked of the transport (unplug, unplug-after). A hung
    /// board is `Dead` too but still plugged in: pulling it must still close its link.
    link_closed: bool,
    /// UART bridge or the chip's own USB-Serial/JTAG ([`crate::usb`]).
    link: LinkMode,
    usb_lines: UsbLines,
    usb_timing: UsbTiming,
    /// A USB reset dropped the link; it enumerates again after this long.
    reenumerating: Option<Duration>,
    /// The RTC watchdog was enabled: it resets the chip at this time.
    pub(crate) watchdog_at: Option<Duration>,
    /// The ROM's boot loop over a flash without a bootloader: when it prints next, what.
    pub(crate) boot_loop: Option<(Duration, Vec<u8>)>,
    /// A boot from flash still printing (or about to reboot): [`console`].
    console: Option<console::ConsoleRun>,
}

impl Board {
    /// A board as configured, sitting in ROM download mode (or in its fault state). It does
    /// not print a banner at start: it is as if it had been reset long before the host
    /// opened the port.
    ///
    /// # Panics
    /// When the chip (or a `wrong-chip` fault's) is not simulated; the transports check it
    /// first and report an error instead.
    pub fn new(cfg: &BoardConfig) -> Self {
        let mut chip = cfg.chip;
        let mut faults = FaultState::default();
        let mut flash = NorFlash::new(cfg.flash_size);
        let mut timing = cfg.model();
        for f in &cfg.faults {
            match f {
                Fault::NotDownload(n) => faults.not_download = Some(*n),
                Fault::UnplugAfter(n) => faults.unplug_after = Some(*n),
                Fault::HangAfter(n) => faults.hang_after = Some(*n),
                Fault::CorruptFrame(n) => faults.corrupt_frame = Some(*n),
                Fault::BadFlash { addr, len } => flash.add_bad_cells(*addr..addr.saturating_add(*len)),
                Fault::SlowReplies { ms } => faults.slow_reply = Duration::from_millis(*ms),
                Fault::WrongChip(c) => chip = *c,
                Fault::SlowErase { ms } => {
                    let slow = Duration::from_millis(*ms);
                    timing.sector_erase = timing.sector_erase.max(slow);
                    timing.block_erase = timing.block_erase.max(slow);
                }
                Fault::StuckSector { addr } => flash.add_stuck_sector(*addr),
                Fault::FlashChanges { addr, len, after_md5 } => faults.flash_changes.push((*addr, *len, *after_md5)),
                Fault::HangUntilPowerCycle => faults.wedged = true,
            }
        }
        let mut b = Self {
            chip,
            mac: cfg.mac,
            timing,
            regs: Registers::with_overrides(chip, &cfg.mac, &cfg.registers),
            faults,
            flash,
            mode: Mode::Rom,
            decoder: SlipDecoder::new(),
            baud: 115_200,
            rx_free: Duration::ZERO,
            rx_anchor: Duration::ZERO,
            rx_count: 0,
            tx_free: Duration::ZERO,
            clock: Clock::default(),
            last_start: Duration::ZERO,
            ready_at: Duration::ZERO,
            straps: Straps { en_low: false, io0_low: false },
            write: None,
            mem: None,
            read: None,
            pending_error: None,
            stats: SimStats::default(),
            out: Vec::new(),
            next_boot_log: None,
            boot_logs: 0,
            host_baud: None,
            link_closed: false,
            link: cfg.link,
            usb_lines: UsbLines::default(),
            usb_timing: cfg.usb_timing(),
            reenumerating: None,
            watchdog_at: None,
            boot_loop: None,
            console: None,
        };
        if b.faults.wedged {
            b.mode = Mode::Stub(StubKind::New);
        }
        if let Some(noise) = b.faults.not_download {
            b.mode = Mode::NotDownload;
            if noise == BootNoise::Garbage {
                b.next_boot_log = Some(Duration::ZERO);
            }
        }
        b
    }

    pub fn chip(&self) -> Chip {
        self.chip
    }

    /// What the simulated chip is (checked simulated when the board was built).
    pub(crate) fn model(&self) -> &'static dyn SimChip {
        chips::require(self.chip)
    }

    pub fn mac(&self) -> Mac {
        self.mac
    }

    pub fn mode(&self) -> Mode {
        self.mode
    }

    pub fn baud(&self) -> u32 {
        self.baud
    }

    pub fn flash(&self) -> &NorFlash {
        &self.flash
    }

    pub fn flash_mut(&mut self) -> &mut NorFlash {
        &mut self.flash
    }

    /// The baud rate the host's port is set to, if the link knows it. The ROM auto-detects
    /// the host's rate from the `0x55` run of each SYNC; without a hint it assumes 115200,
    /// the rate esptool always syncs at.
    pub fn set_host_baud(&mut self, baud: Option<u32>) {
        self.host_baud = baud;
    }

    pub(crate) fn host_baud(&self) -> u32 {
        self.host_baud.unwrap_or(115_200)
    }

    /// Counters, including the flash chip's.
    pub fn stats(&self) -> SimStats {
        let c = self.flash.counters;
        SimStats {
            sector_erases: c.sector_erases,
            block_erases: c.block_erases,
            chip_erases: c.chip_erases,
            program_ops: c.program_ops,
            bytes_programmed: c.bytes_programmed,
            flash_bytes_read: c.bytes_read,
            stuck_erases: c.stuck_erases,
            spi_commands: self.regs.flash_chip.commands,
            md5s: self.faults.md5s,
            ..self.stats
        }
    }

    /// Takes the outputs produced so far, in order.
    pub fn take_output(&mut self) -> Vec<Output> {
        std::mem::take(&mut self.out)
    }

    /// When [`Self::poll`] wants to be called next.
    pub fn next_deadline(&self) -> Option<Duration> {
        [self.next_boot_log, self.watchdog_at, self.boot_loop.as_ref().map(|l| l.0), self.console_deadline()]
            .into_iter()
            .flatten()
            .min()
    }

    /// Timer work: the boot loop of a board stuck outside download mode.
    pub fn poll(&mut self, now: Duration) {
        self.poll_watchdog(now);
        self.poll_boot_loop(now);
        self.poll_console(now);
        if let Some(t) = self.next_boot_log {
            if now >= t && self.mode == Mode::NotDownload {
                self.boot_logs += 1;
                let text = self.model().download_banner(ResetCause::PowerOn);
                let bytes = boot::garbled(&text, self.boot_logs);
                self.send_raw_at_baud(now, bytes, self.model().banner_baud());
                self.next_boot_log = Some(now + Duration::from_millis(300));
            } else if self.mode != Mode::NotDownload {
                self.next_boot_log = None;
            }
        }
    }

    /// Modem lines changed (`true` = asserted). Drives EN/IO0 through the auto-reset
    /// circuit: EN going high boots, into download mode if IO0 is low at that moment.
    pub fn set_lines(&mut self, now: Duration, dtr: bool, rts: bool) {
        if self.mode == Mode::Dead {
            return;
        }
        if self.link == LinkMode::UsbSerialJtag {
            if let Some(reset) = self.usb_lines.set(dtr, rts) {
                self.usb_reset(now, reset == UsbReset::Download, ResetCause::PowerOn);
            }
            return;
        }
        let s = Straps::from_lines(dtr, rts);
        let was = self.straps;
        self.straps = s;
        if s.en_low && !was.en_low {
            self.mode = Mode::InReset;
            self.console = None;
            self.decoder.reset();
            self.write = None;
            self.read = None;
            self.mem = None;
        } else if !s.en_low && was.en_low {
            self.boot(now, s.io0_low, ResetCause::PowerOn);
        }
    }

    /// The board's power is cut and restored (a hub port power cycle) on a fixture that
    /// holds it in download mode: it boots into the ROM loader, flash kept, a wedged stub
    /// gone. A board whose link was closed stays unplugged.
    pub fn power_cycle(&mut self, now: Duration) {
        if self.link_closed {
            return;
        }
        self.faults.wedged = false;
        self.faults.hang_after = None;
        match self.link {
            LinkMode::Uart => self.boot(now, true, ResetCause::PowerOn),
            LinkMode::UsbSerialJtag => self.usb_reset(now, true, ResetCause::PowerOn),
        }
    }

    /// Drop the link now (the transport closes it).
    pub fn unplug(&mut self, now: Duration) {
        self.mode = Mode::Dead;
        if !self.link_closed {
            self.link_closed = true;
            self.out.push(Output::Close { at: now });
        }
    }

    /// A (new) link to the host is up: on USB-Serial/JTAG, after the port enumerated.
    pub fn link_up(&mut self) {
        self.usb_lines.link_up();
        self.reenumerating = None;
    }

    /// How the current link ends, as far as the board knows: unplugged, or dropped by a
    /// USB reset (and back after the delay). `None`: the board did not end it.
    pub fn link_end(&self) -> Option<Option<Duration>> {
        if self.link_closed {
            Some(None)
        } else {
            self.reenumerating.map(Some)
        }
    }

    /// How the board is connected.
    pub fn link(&self) -> LinkMode {
        self.link
    }

    /// A chip reset on the USB-Serial/JTAG port: the chip boots while its port is off the
    /// bus (nobody sees the boot log), and the link drops and enumerates again.
    fn usb_reset(&mut self, now: Duration, download: bool, cause: ResetCause) {
        let t = now.max(self.clock.cpu);
        self.out.push(Output::Reenumerate { at: t, back_after: self.usb_timing.reenumerate });
        self.reenumerating = Some(self.usb_timing.reenumerate);
        // Nothing reaches the host before the port is back on the bus.
        self.tx_free = self.tx_free.max(t + self.usb_timing.reenumerate);
        self.boot(t, download, cause);
        self.ready_at = self.tx_free;
        self.last_start = self.ready_at;
    }

    /// Restart: UART back to 115200, stub gone, boot log printed (on a UART link).
    fn boot(&mut self, now: Duration, download: bool, cause: ResetCause) {
        self.boot_with(now, download, cause, None);
    }

    /// [`Self::boot`], with the log of a boot from flash given (`None`: the power-on one).
    pub(crate) fn boot_with(&mut self, now: Duration, download: bool, cause: ResetCause, flash_log: Option<Vec<u8>>) {
        self.watchdog_at = None;
        self.boot_loop = None;
        self.console = None;
        self.stats.resets += 1;
        self.restart_rx_run();
        self.baud = 115_200;
        self.regs.baud = 115_200;
        self.regs.boosted = false;
        self.decoder.reset();
        self.write = None;
        self.read = None;
        self.mem = None;
        self.pending_error = None;
        self.regs.flash_chip.attached = self.model().rom_attaches_flash_at_boot();
        let t = now.max(self.clock.cpu);
        self.clock.cpu = t;
        if let Some(noise) = self.faults.not_download {
            self.mode = Mode::NotDownload;
            if noise == BootNoise::Garbage {
                self.next_boot_log = Some(t);
            }
            return;
        }
        let baud = self.model().banner_baud();
        let usb = self.link == LinkMode::UsbSerialJtag;
        if download {
            if !usb {
                let text = self.model().download_banner(cause);
                self.send_raw_at_baud(t, text, baud);
            }
            self.mode = Mode::Rom;
        } else {
            match flash_log {
                Some(text) if !usb => self.send_raw_at_baud(t, text, baud),
                Some(_) => {}
                None => self.boot_from_flash(t, cause),
            }
            self.mode = Mode::App;
        }
        self.ready_at = self.tx_free;
        self.last_start = self.ready_at;
    }

    /// A baud change starts a new run on the RX line.
    pub(crate) fn restart_rx_run(&mut self) {
        self.rx_anchor = self.rx_free;
        self.rx_count = 0;
    }

    /// Bytes from the host, handed over at `now`.
    pub fn on_bytes(&mut self, now: Duration, bytes: &[u8]) {
        let mut events = Vec::new();
        for &b in bytes {
            if self.mode == Mode::Dead {
                return;
            }
            self.stats.bytes_in += 1;
            if now > self.rx_free {
                self.rx_anchor = now;
                self.rx_count = 0;
            }
            self.rx_count += 1;
            let t = self.rx_anchor + self.link_time(self.rx_count as usize);
            self.rx_free = t;
            if self.faults.unplug_after.is_some_and(|n| self.stats.bytes_in >= n) {
                self.mode = Mode::Dead;
                self.link_closed = true;
                self.out.push(Output::Close { at: t });
                return;
            }
            if self.faults.hang_after.is_some_and(|n| self.stats.bytes_in >= n) {
                self.mode = Mode::Dead;
                return;
            }
            self.decoder.push(&[b], &mut events);
            for ev in events.drain(..) {
                if let SlipEvent::Frame(f) = ev {
                    self.stats.frames_in += 1;
                    self.on_frame(f, t);
                }
            }
        }
    }

    /// A complete frame arrived at `t`.
    fn on_frame(&mut self, frame: Vec<u8>, t: Duration) {
        if !matches!(self.mode, Mode::Rom | Mode::Stub(_)) || t < self.ready_at {
            return;
        }
        if self.faults.wedged {
            // A wedged stub takes the frame and answers no command.
            let at = t.max(self.clock.cpu);
            self.send_frame(at, &EMPTY_MD5);
            return;
        }
        if self.read.is_some() {
            return self.on_read_ack(&frame, t);
        }
        // Two receive buffers in the stubs: one frame processed, one waiting. A frame that
        // completes while the previous one still waits has nowhere to go.
        // Replies leave up to half a timer tick early (the runner rounds deadlines to the
        // nearest millisecond), so a host that answers a reply at once can complete a short
        // frame up to that much before the processing start the reply announced: only a
        // frame that completes more than `RX_SLACK` earlier really overran the buffers.
        if matches!(self.mode, Mode::Stub(_)) && t + RX_SLACK < self.last_start {
            self.stats.overruns += 1;
            return;
        }
        let start = t.max(self.clock.cpu);
        self.last_start = start;
        self.clock.cpu = start + self.timing.command_overhead;
        if frame.len() < 8 {
            return; // too short to be a command: both loaders ignore it
        }
        let op = frame[1];
        let pkt = match CommandPacket::parse(&frame) {
            Ok(p) => p,
            Err(flashline_protocol::packet::PacketError::Direction(_)) => {
                if self.mode == Mode::Stub(StubKind::New) {
                    self.reply_err_stub(op, flashline_protocol::StubError::InvalidCommand);
                }
                return;
            }
            Err(_) => {
                self.reply_malformed(op);
                return;
            }
        };
        self.stats.commands += 1;
        match Request::parse(&pkt) {
            Ok(req) => match self.mode {
                Mode::Rom => self.rom_handle(op, req, &pkt),
                Mode::Stub(kind) => self.stub_handle(kind, op, req, &pkt),
                _ => {}
            },
            Err(command::RequestError::UnknownOpcode(_)) => self.reply_unsupported(op),
            Err(_) => self.reply_malformed(op),
        }
    }

    /// Status layout of the current loader.
    pub(crate) fn status_format(&self) -> StatusFormat {
        match self.mode {
            Mode::Stub(_) => StatusFormat::Stub,
            _ => self.chip.spec().rom_status,
        }
    }

    /// Sends a response (at the CPU's current time) with the loader's status layout.
    pub(crate) fn reply(&mut self, op: u8, value: u32, payload: &[u8], status: Status) {
        let pkt = command::response(op, value, payload, self.status_format(), status);
        let at = self.clock.cpu + self.faults.slow_reply;
        self.send_frame(at, &pkt.to_bytes());
    }

    pub(crate) fn reply_ok(&mut self, op: u8) {
        self.reply(op, 0, &[], Status::Ok);
    }

    pub(crate) fn reply_err_stub(&mut self, op: u8, e: flashline_protocol::StubError) {
        self.reply(op, 0, &[], Status::Stub(e));
    }

    pub(crate) fn reply_err_rom(&mut self, op: u8, e: flashline_protocol::RomError) {
        self.reply(op, 0, &[], Status::Rom(e));
    }

    /// An opcode this loader does not implement: ROM `01 05` with the opcode echoed; legacy
    /// stub `FF 00`; new stub `C3 00`.
    pub(crate) fn reply_unsupported(&mut self, op: u8) {
        match self.mode {
            Mode::Stub(StubKind::Legacy) => self.reply_err_stub(op, flashline_protocol::StubError::NotImplemented),
            Mode::Stub(StubKind::New) => self.reply_err_stub(op, flashline_protocol::StubError::InvalidCommand),
            _ => self.reply_err_rom(op, flashline_protocol::RomError::InvalidMessage),
        }
    }

    /// A request with a wrong length: stubs `C0` (bad data length), ROM `01 05`.
    pub(crate) fn reply_malformed(&mut self, op: u8) {
        match self.mode {
            Mode::Stub(_) => self.reply_err_stub(op, flashline_protocol::StubError::BadDataLen),
            _ => self.reply_err_rom(op, flashline_protocol::RomError::InvalidMessage),
        }
    }

    /// SLIP-encodes and sends one frame (applying the corrupt-frame fault).
    pub(crate) fn send_frame(&mut self, at: Duration, payload: &[u8]) {
        let mut wire = slip::encode(payload);
        self.stats.frames_out += 1;
        if self.faults.corrupt_frame == Some(self.stats.frames_out) {
            corrupt(&mut wire);
        }
        self.send_raw_at_baud(at, wire, self.baud);
    }

    /// Queues bytes on the TX line, after whatever is already queued. The CPU feeds the
    /// UART synchronously, so it is busy until the last byte is out.
    fn send_raw_at_baud(&mut self, at: Duration, bytes: Vec<u8>, baud: u32) {
        if bytes.is_empty() || self.mode == Mode::Dead {
            return;
        }
        let start = at.max(self.tx_free);
        let pace = match self.link {
            LinkMode::Uart => Pace { bits_per_byte: self.timing.bits_per_byte, baud },
            // USB: the CDC rate, whatever the baud.
            LinkMode::UsbSerialJtag => Pace { bits_per_byte: 8, baud: self.usb_timing.bits_per_sec() },
        };
        let end = start + pace.time(bytes.len());
        self.tx_free = end;
        self.clock.cpu = self.clock.cpu.max(end);
        self.stats.bytes_out += bytes.len() as u64;
        self.out.push(Output::Bytes { at: start, bytes, pace });
    }

    /// Time the first `n` bytes of a back-to-back run take to arrive from the host.
    fn link_time(&self, n: usize) -> Duration {
        match self.link {
            LinkMode::Uart => self.timing.wire_time(self.baud, n),
            LinkMode::UsbSerialJtag => self.usb_timing.transfer(n),
        }
    }

    /// Borrow the pieces a flash job needs.
    pub(crate) fn ctx(&mut self) -> Ctx<'_> {
        Ctx {
            flash: &mut self.flash,
            timing: &self.timing,
            clock: &mut self.clock,
            stats: &mut self.stats,
            boosted: self.regs.boosted,
        }
    }

    /// After a stub FLASH_END(0): the chip reboots into the ROM loader.
    pub(crate) fn reboot_to_rom(&mut self) {
        let t = self.clock.cpu;
        match self.link {
            LinkMode::Uart => self.boot(t, true, ResetCause::Software),
            // A software reset resets the USB-Serial/JTAG peripheral too.
            LinkMode::UsbSerialJtag => self.usb_reset(t, true, ResetCause::Software),
        }
    }

    /// After ROM FLASH_END(1) or stub RUN_USER_CODE: the application starts.
    pub(crate) fn run_app(&mut self) {
        let t = self.clock.cpu;
        self.write = None;
        let baud = self.model().banner_baud();
        self.send_raw_at_baud(t, self.model().app_banner(), baud);
        self.mode = Mode::App;
    }
}

/// MD5 of no bytes: what a wedged stub sends for every frame (the digest of a read it
/// ends before sending anything).
const EMPTY_MD5: [u8; 16] =
    [0xd4, 0x1d, 0x8c, 0xd9, 0x8f, 0x00, 0xb2, 0x04, 0xe9, 0x80, 0x09, 0x98, 0xec, 0xf8, 0x42, 0x7e];

/// Flips one payload byte of an encoded frame, choosing a byte whose flip does not create
/// or destroy a SLIP special, so the frame still delimits but its content is wrong.
fn corrupt(wire: &mut [u8]) {
    let n = wire.len();
    if n < 3 {
        return;
    }
    let mid = n / 2;
    let candidates = (mid..n - 1).chain(1..mid);
    for i in candidates {
        let b = wire[i];
        let flipped = b ^ 0x01;
        let special = |x: u8| x == slip::END || x == slip::ESC;
        if !special(b) && !special(flipped) && (i == 0 || !special(wire[i - 1])) {
            wire[i] = flipped;
            return;
        }
    }
}

#[cfg(test)]
mod tests;
