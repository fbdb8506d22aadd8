//! espsim: simulated Espressif chips (ESP8266, ESP32, ESP32-S2/S3, C2/C3/C5/C6, H2, P4) in serial download mode.
//!
//! Each board speaks the real protocol as the mask ROM and the two flasher stubs do (the
//! legacy stub of esptool's stub set 1 and the new `esp-flasher-stub` of set 2), on a NOR
//! flash model, with eFuses carrying a per-board MAC, the SPI register engine esptool uses
//! for flash ids, and an optional timing model of UART, flash and stub pipelining.
//!
//! Layout:
//! - [`board`]: the sans-IO chip model (frames + time in, paced output out).
//! - [`flash`], [`registers`], [`spi_engine`]: NOR flash, register file, SPI engine.
//! - [`timing`]: every timing knob, with sources; [`chip_timing`]: where each chip differs.
//! - [`faults`]: fault knobs and their CLI grammar.
//! - [`transport`]: in-memory duplex and PTY links; `runner` is the IO task between.
//! - [`usb`]: a board on its own USB-Serial/JTAG port (`--link usb-serial-jtag`,
//!   [`spawn_usb_duplex`]): USB rate whatever the baud, the peripheral's reset logic, and
//!   re-enumeration at every chip reset (timing sources in `docs/TIMING.md`).
//!
//! Behaviour worth knowing when testing against it:
//! - Boards start in ROM download mode without printing a banner (as if reset long before
//!   the port was opened). Resets through [`SimHandle::set_lines`] and the stub's
//!   FLASH_END(0) reboot print the ROM boot banner before the ROM answers again.
//! - The ROM re-detects the host's baud rate on every SYNC (on a PTY from the port's
//!   termios, otherwise 115200); CHANGE_BAUDRATE switches after its reply.
//! - Stubs acknowledge data blocks before writing them; a host that sends a third frame
//!   while two are held loses it (counted in [`SimStats::overruns`]).
//! - Flash content changes at once; the timing model only decides when replies go out.
//! - With a flash file, changed sectors are written in place after every batch of input
//!   (see `persist.rs`): the file is right while running and after a kill.
//!
//! Realistic timing (`--timing realistic`, [`TimingModel::realistic`]) in numbers — see
//! [`timing`] for every knob and its source:
//! - UART 8N1 (10 bits per byte) at the current baud; esptool is stop-and-wait, the stubs
//!   ack a data block before processing it and hold one more frame.
//! - Flash (W25Q32JV typical): 4 KiB sector erase 45 ms, 64 KiB block erase 150 ms, page
//!   program 30 µs + 2.5 µs/byte in 32-byte ROM program commands (+30 µs SPI overhead
//!   each), chip erase 2 s blank … 7 s fully written (measured ESP32 4 MB modules 2–7 s).
//! - Stub CPU: inflate 1 MB/s, MD5 1.6 MB/s, flash reads 1.25 MB/s (1-line 10 MHz); the new
//!   stub's ESP32 clock boost halves CPU and SPI-transaction times, and it skips erasing
//!   blank sectors until the first dirty one.
//! - Calibrated with real esptool 5.6 against published real-hardware runs (legacy stub,
//!   ESP32 and ESP8266, 115200–2 000 000 baud, write and read_flash): every scenario within
//!   ±25 % — `scripts/calibrate-espsim.sh` replays them, `tests/calibration.rs` guards the
//!   model on the paused clock, and `docs/BENCHMARKS.md` has the table. The S2 and later
//!   chips run the same model with their entry of [`chip_timing`] (CPU speed at the ROM's
//!   clocks and at the maximum the stubs raise it to on USB-Serial/JTAG, chip erase, USB
//!   rate), fitted to published logs of those chips (`docs/TIMING.md`, "Per chip").
//!
//! In-process use:
//! ```no_run
//! # async fn demo() {
//! use flashline_sim::{spawn_duplex, BoardConfig, Chip, Mac};
//! let (link, sim) = spawn_duplex(BoardConfig::new(Chip::Esp32, Mac([0x24, 0x0a, 0xc4, 0, 0, 1])));
//! // speak the protocol over `link`; inspect `sim.flash()`, `sim.stats()`.
//! # drop((link, sim)); }
//! ```

pub mod board;
pub mod boot;
pub mod chip_timing;
pub mod chips;
pub mod cli;
pub mod config;
pub mod faults;
pub mod flash;
pub mod flash_boot;
mod persist;
pub mod registers;
mod runner;
pub mod spi_engine;
pub mod stats;
pub mod timing;
pub mod transport;
pub mod usb;

pub use board::{Board, Mode, Output, StubKind};
pub use config::{default_mac_base, BoardConfig, FLASH_SIZES};
pub use faults::{BootNoise, Fault, TargetedFault};
pub use flashline_protocol::chip::{Chip, Mac};
pub use runner::SimHandle;
pub use stats::SimStats;
pub use timing::{TimingMode, TimingModel};
pub use transport::duplex::{spawn_duplex, try_spawn_duplex};
pub use transport::pty::{spawn_pty, PtyBoard};
pub use transport::usb::{spawn_usb_duplex, UsbLinkEvent};
pub use usb::{LinkMode, UsbTiming};
