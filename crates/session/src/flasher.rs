//! [`Flasher`]: one board, from reset to hard reset.
//!
//! `Flasher::connect` does the whole bring-up in the cheapest order: sync, identify
//! (reusing every register it read), raise the baud rate in the ROM when the ROM can (so
//! the stub uploads fast; the new stub keeps the rate the ROM used), upload the stub,
//! raise the baud rate through the stub otherwise, then probe the flash (no SPI_ATTACH
//! with a stub: it attaches the flash itself) and tell the loader its size.

use crate::baud::{change_baud, rate_plan};
use crate::connect::{connect, Loader};
use crate::connection::Connection;
use crate::erase;
use crate::error::{Error, Result, Stage};
use crate::identify::{attach_flash_rom, detect_chip, flash_id, identify, rom_format, ChipInfo, RegCache};
use crate::image::PreparedImage;
use crate::progress::Progress;
use crate::read::read_flash;
use crate::reconnect::{Reconnect, ResetInto};
use crate::recover::recovery_rates;
use crate::reset::{hard_reset, strategies, After, BeforeReset, ResetStrategy};
use crate::stub::StubSet;
use crate::stub_upload::run_stub;
use crate::transport::Transport;
use crate::verify::{verify_image, RegionVerify, VerifyOptions};
use crate::write::{write_image, Target, WriteOptions, WriteReport};
use flashline_protocol::command::{BeginParams, FlashBegin, FlashEnd, SpiSetParams};
use flashline_protocol::flash::STUB_WRITE_BLOCK;
use flashline_protocol::{Chip, StatusFormat};
use std::sync::Arc;
use tokio_util::sync::CancellationToken;

/// How a board is brought up.
#[derive(Debug, Clone)]
pub struct FlasherConfig {
    pub before: BeforeReset,
    /// Connect attempts (each: one reset + 5 SYNCs).
    pub connect_attempts: u32,
    /// Rate the ROM is synced at.
    pub initial_baud: u32,
    /// Rate to switch to (falls back to lower rates if the link fails).
    pub baud: u32,
    /// The lower rates to try, fastest first, when `baud` does not hold (`None`: the
    /// standard rates, [`crate::FALLBACK_RATES`]; empty: stay at `initial_baud`).
    pub baud_fallback: Option<Vec<u32>>,
    /// Flasher stubs; `None` runs everything through the ROM loader.
    pub stubs: Option<Arc<StubSet>>,
    /// Fail unless the board is this chip.
    pub expect_chip: Option<Chip>,
    /// Stop after identify ([`Error::NotAccepted`], the board's MAC and chip in it) unless
    /// the board is one of these chips: a station of several images refuses a board it
    /// has none for before uploading the stub or changing the baud rate. `None`: any chip.
    pub accept: Option<Vec<Chip>>,
    /// Flash size to assume when the JEDEC id gives none.
    pub flash_size: Option<u32>,
    /// Change the baud rate in the ROM before uploading the stub (ESP32-class ROMs).
    pub baud_before_stub: bool,
}

impl Default for FlasherConfig {
    fn default() -> Self {
        Self {
            before: BeforeReset::Auto,
            connect_attempts: 7,
            initial_baud: 115_200,
            baud: 921_600,
            baud_fallback: None,
            stubs: None,
            expect_chip: None,
            accept: None,
            flash_size: None,
            baud_before_stub: true,
        }
    }
}

/// A connected, identified board.
pub struct Flasher<T: Transport> {
    conn: Connection<T>,
    info: ChipInfo,
    regs: RegCache,
    progress: Progress,
    lines_warned: bool,
    /// Finds the board again after a reset on its own USB port (none: the port stays).
    reconnect: Option<Arc<dyn Reconnect<T>>>,
    /// The port resets through the USB-Serial/JTAG peripheral (it re-enumerates).
    usb_jtag: bool,
}

impl<T: Transport> std::fmt::Debug for Flasher<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Flasher").field("info", &self.info).field("stub", &self.conn.is_stub()).finish()
    }
}

impl<T: Transport> Flasher<T> {
    /// Resets, syncs, identifies, uploads the stub (if configured), raises the baud rate
    /// and probes the flash. `cancel` ends any step promptly with [`Error::Cancelled`].
    pub async fn connect(
        port: T,
        config: &FlasherConfig,
        progress: Progress,
        cancel: CancellationToken,
    ) -> Result<Self> {
        Self::connect_with(port, config, progress, cancel, None).await
    }

    /// [`Self::connect`] for a board whose port may vanish when it resets (its own
    /// USB-Serial/JTAG port): after each such reset `reconnect` finds it again, and it is
    /// told before the final reset too (see [`crate::reconnect`]).
    pub async fn connect_with(
        mut port: T,
        config: &FlasherConfig,
        progress: Progress,
        cancel: CancellationToken,
        reconnect: Option<Arc<dyn Reconnect<T>>>,
    ) -> Result<Self> {
        port.set_baud(config.initial_baud).map_err(|e| Error::Io { stage: Stage::Connect, source: e })?;
        let usb_jtag = strategies(&config.before, port.usb_ids()) == [ResetStrategy::UsbJtagSerial];
        let mut conn = Connection::new(port, cancel);
        let mut lines_warned = false;
        progress.report(Stage::Connect, 0, 0);
        let rates = recovery_rates(
            config.initial_baud,
            &rate_plan(config.baud, config.initial_baud, config.baud_fallback.as_deref()),
        );
        let loader = connect(
            &mut conn,
            &config.before,
            config.connect_attempts,
            &mut lines_warned,
            reconnect.as_deref(),
            &rates,
        )
        .await?;

        progress.report(Stage::Identify, 0, 0);
        let mut regs = RegCache::default();
        let chip = detect_chip(&mut conn, &mut regs).await?;
        if let Some(expected) = config.expect_chip {
            if expected != chip {
                return Err(Error::WrongChip { expected, found: chip });
            }
        }
        if loader == Loader::Rom {
            conn.format = rom_format(chip);
        }
        let info = identify(&mut conn, &mut regs, chip).await?;
        tracing::info!(%chip, mac = %info.mac, description = %info.description, "identified");
        if config.accept.as_ref().is_some_and(|chips| !chips.contains(&chip)) {
            return Err(Error::NotAccepted { info: Box::new(info) });
        }
        let mut f = Self { conn, info, regs, progress, lines_warned, reconnect, usb_jtag };

        // The chip module picks the stub for the board's revision; none runs on some
        // (ESP32-C2 v0.x), and those boards are flashed through the ROM loader.
        let stub_choice = chip.target().stub_for(f.info.revision);
        if config.stubs.is_some() && stub_choice.is_none() {
            tracing::info!(%chip, description = %f.info.description, "no flasher stub runs on this revision; using the ROM loader");
        }
        let stub = match (&config.stubs, loader, stub_choice) {
            (Some(stubs), Loader::Rom, Some(choice)) => Some((stubs, choice)),
            _ => None,
        };
        let rom_can_baud = chip.spec().rom_is_esp32_class;
        if stub.is_some() && config.baud_before_stub && rom_can_baud {
            f.progress.report(Stage::Baud, 0, 0);
            change_baud(&mut f.conn, &mut f.regs, chip, config.baud, config.baud_fallback.as_deref()).await?;
        }
        if let Some((stubs, choice)) = stub {
            f.progress.report(Stage::Stub, 0, 0);
            let image = stubs.get_choice(chip, &choice)?;
            run_stub(&mut f.conn, chip, image, &f.progress).await?;
        }
        if f.conn.port_ref().baud() < config.baud {
            f.progress.report(Stage::Baud, 0, 0);
            change_baud(&mut f.conn, &mut f.regs, chip, config.baud, config.baud_fallback.as_deref()).await?;
        }
        f.probe_flash(config.flash_size).await?;
        Ok(f)
    }

    async fn probe_flash(&mut self, size_override: Option<u32>) -> Result<()> {
        let chip = self.info.chip;
        self.conn.set_stage(Stage::Identify);
        if !self.conn.is_stub() {
            attach_flash_rom(&mut self.conn, &mut self.regs, chip).await?;
        }
        let mut flash = flash_id(&mut self.conn, chip).await?;
        if flash.size.is_none() {
            flash.size = size_override;
        }
        let loader_takes_params = self.conn.is_stub() || chip.spec().rom_is_esp32_class;
        if let (Some(size), true) = (flash.size, loader_takes_params) {
            self.conn.command(&SpiSetParams::for_size(size)).await?;
        }
        tracing::info!(jedec = format_args!("0x{:06x}", flash.jedec_id), size = ?flash.size, "flash detected");
        self.info.flash = Some(flash);
        Ok(())
    }

    /// What was learnt about the board.
    pub fn info(&self) -> &ChipInfo {
        &self.info
    }

    /// Whether the flasher stub is answering.
    pub fn is_stub(&self) -> bool {
        self.conn.is_stub()
    }

    /// Current host-side baud rate.
    pub fn baud(&self) -> u32 {
        self.conn.port_ref().baud()
    }

    /// Replaces the progress sink.
    pub fn set_progress(&mut self, progress: Progress) {
        self.progress = progress;
    }

    fn target(&self) -> Target {
        Target { chip: self.info.chip, stub: self.conn.is_stub(), flash_size: self.info.flash.and_then(|f| f.size) }
    }

    /// Writes the image (see [`crate::write`] for blank-skip, skip-identical, verify).
    pub async fn write(&mut self, image: &PreparedImage, opts: &WriteOptions) -> Result<WriteReport> {
        let target = self.target();
        write_image(&mut self.conn, &target, image, opts, &self.progress).await
    }

    /// Checks the board against the image.
    pub async fn verify(&mut self, image: &PreparedImage, opts: VerifyOptions) -> Result<Vec<RegionVerify>> {
        verify_image(&mut self.conn, self.info.chip, image, opts, &self.progress).await
    }

    /// Reads `len` bytes at `offset`.
    pub async fn read_flash(&mut self, offset: u32, len: u32) -> Result<Vec<u8>> {
        read_flash(&mut self.conn, self.info.chip, offset, len, &self.progress, Stage::Read).await
    }

    /// On-chip MD5 of a flash range.
    pub async fn flash_md5(&mut self, offset: u32, len: u32) -> Result<[u8; 16]> {
        self.conn.set_stage(Stage::Verify);
        if !self.conn.is_stub() && !self.info.chip.spec().rom_is_esp32_class {
            return Err(Error::NeedsStub { stage: Stage::Verify, chip: self.info.chip, what: "MD5 of flash" });
        }
        crate::write::chip_md5(&mut self.conn, offset, len).await
    }

    /// Erases `[offset, offset + size)` (4 KiB aligned).
    pub async fn erase_region(&mut self, offset: u32, size: u32) -> Result<()> {
        erase::erase_region(&mut self.conn, self.info.chip, offset, size).await
    }

    /// Erases the whole flash (stub only).
    pub async fn erase_chip(&mut self) -> Result<()> {
        erase::erase_chip(&mut self.conn, self.info.chip).await
    }

    /// Ends the run and gives the port back.
    pub async fn finish(mut self, after: After) -> Result<T> {
        self.conn.set_stage(Stage::Reset);
        match after {
            After::HardReset => {
                // On its own USB port the board leaves the bus and comes back in its
                // application: whoever watches the port must know it is this board.
                if let (true, Some(r)) = (self.usb_jtag, &self.reconnect) {
                    r.resetting(ResetInto::App);
                }
                hard_reset(self.conn.port(), &mut self.lines_warned).await
            }
            After::NoReset => {
                if self.conn.is_stub() {
                    // The stub's reboot resets the chip: on its own USB port it comes
                    // back (in download mode) on a new link.
                    if let (true, Some(r)) = (self.usb_jtag, &self.reconnect) {
                        r.resetting(ResetInto::Download);
                    }
                    let p = BeginParams {
                        size: 0,
                        num_blocks: 0,
                        block_size: STUB_WRITE_BLOCK,
                        offset: 0,
                        encrypted: Some(0),
                    };
                    self.conn.command(&FlashBegin(p)).await?;
                    self.conn.command(&FlashEnd::reboot()).await?;
                    self.conn.format = StatusFormat::Rom4;
                }
            }
            After::StayInStub => {}
        }
        Ok(self.conn.into_port())
    }
}
