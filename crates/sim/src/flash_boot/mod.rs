//! What a chip does when it boots from flash (reset with IO0 high, a power cycle, the
//! USB-Serial/JTAG reset into the app): the ROM prints its boot log and checks the
//! bootloader image, the second-stage bootloader reads the partition table and checks the
//! app, and the app runs its console script ([`script`]). Every check that fails prints
//! what the real ROM or ESP-IDF bootloader prints (short form) and the chip resets and
//! tries again: the boot loop a line must catch. The reset is the one a real chip takes
//! and its ROM names in the next boot log: the boot watchdog when the ROM cannot load the
//! bootloader, the bootloader's software system reset when it finds no app to boot, a
//! software CPU reset when the app restarts itself. Pure: the board turns a [`BootPlan`]
//! into timed output ([`crate::board`]).

pub mod image;
pub mod otadata;
pub mod partitions;
pub mod script;

use std::time::Duration;

use flashline_protocol::Chip;

use crate::boot::ResetCause;
use crate::chips::SimChip;
use image::ImageFault;
use script::Step;

/// The application's line when its image carries no console script.
pub const APP_LINE: &str = "flashline-sim app running";

/// One run of console output: `text` printed at `baud`, `after` the previous run ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Chunk {
    pub after: Duration,
    pub text: Vec<u8>,
    pub baud: u32,
}

/// What the chip does after its last chunk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Then {
    /// The app keeps running, silent.
    Run,
    /// The chip resets by `cause` `after` the last chunk and boots again.
    Reboot { after: Duration, cause: ResetCause },
}

/// One boot from flash, start to end.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BootPlan {
    /// The ROM's boot log first, then the bootloader's, then the app's lines.
    pub chunks: Vec<Chunk>,
    pub then: Then,
}

/// How long the parts of a boot take: realistic (a real ESP32 prints the app's first
/// line about 0.3 s after reset) or fast (the simulator's instant timing).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BootTiming {
    /// ROM log to the bootloader's first line (loading the bootloader).
    pub rom: Duration,
    /// Bootloader to the app's first line (loading and checking the app).
    pub bootloader: Duration,
    /// A failed check to the reset that starts the next attempt (the ROM's watchdog, the
    /// bootloader's reset).
    pub retry: Duration,
}

impl BootTiming {
    pub fn realistic() -> Self {
        Self {
            rom: Duration::from_millis(30),
            bootloader: Duration::from_millis(250),
            retry: Duration::from_millis(300),
        }
    }

    pub fn fast() -> Self {
        Self { rom: Duration::from_millis(1), bootloader: Duration::from_millis(2), retry: Duration::from_millis(30) }
    }
}

/// The boot of `model` from `flash` after a reset of `cause`.
pub fn plan(model: &dyn SimChip, flash: &[u8], cause: ResetCause, timing: BootTiming) -> BootPlan {
    let baud = model.banner_baud();
    let chip = model.chip();
    let chunk = |after, text: String| Chunk { after, text: text.into_bytes(), baud };
    let mut chunks = vec![Chunk { after: Duration::ZERO, text: model.flash_boot_banner(cause), baud }];
    let watchdog = Then::Reboot { after: timing.retry, cause: ResetCause::BootWatchdog };
    let reboot = Then::Reboot { after: timing.retry, cause: ResetCause::SystemSoftware };
    let extended = chip != Chip::Esp8266;
    let boot_offset = chip.spec().bootloader_offset as usize;
    let boot_slot = flash.get(boot_offset..partitions::TABLE_OFFSET.min(flash.len())).unwrap_or(&[]);
    if let Err(fault) = image::check(boot_slot, extended) {
        chunks.push(chunk(Duration::ZERO, rom_complaint(chip, boot_offset, &fault)));
        return BootPlan { chunks, then: watchdog };
    }
    let mut log = String::from("I (29) boot: ESP-IDF v5.3 2nd stage bootloader\r\n");
    let chosen = partitions::read(flash).map(|table| otadata::choose(&table, flash));
    let slot = match chosen {
        Err(no) => {
            log += &format!(
                "E (45) flash_parts: partition 0 invalid magic number 0x{:04x}\r\n\
                 E (51) boot: Failed to verify partition table\r\nE (56) boot: load partition table error!\r\n",
                no.magic
            );
            chunks.push(chunk(timing.rom, log));
            return BootPlan { chunks, then: reboot };
        }
        Ok(None) => {
            log += "E (60) boot: No bootable app partitions in the partition table\r\n";
            chunks.push(chunk(timing.rom, log));
            return BootPlan { chunks, then: reboot };
        }
        Ok(Some((slot, note))) => {
            if let Some(note) = note {
                log += note;
                log += "\r\n";
            }
            slot
        }
    };
    let start = slot.offset as usize;
    let app = flash.get(start..start.saturating_add(slot.size as usize).min(flash.len())).unwrap_or(&[]);
    let valid = match image::check(app, extended) {
        Ok(v) => v,
        Err(fault) => {
            log += &format!(
                "{}E (101) boot: {} is not bootable\r\n\
                 E (106) boot: No bootable app partitions in the partition table\r\n",
                app_complaint(slot.offset, &fault),
                slot.refused()
            );
            chunks.push(chunk(timing.rom, log));
            return BootPlan { chunks, then: reboot };
        }
    };
    log += &format!(
        "I (80) boot: Loaded app from partition at offset 0x{:x}\r\nI (86) boot: Disabling RNG early entropy source...\r\n",
        slot.offset
    );
    chunks.push(chunk(timing.rom, log));
    let then = match script::find(&app[..valid.len]) {
        None => {
            chunks.push(chunk(timing.bootloader, format!("{APP_LINE}\r\n")));
            Then::Run
        }
        Some(Err(e)) => {
            chunks.push(chunk(timing.bootloader, format!("E (300) espsim: console script: {}\r\n", e.0)));
            Then::Run
        }
        Some(Ok(steps)) => app_chunks(&steps, timing.bootloader, baud, &mut chunks),
    };
    BootPlan { chunks, then }
}

/// The script's steps as chunks: consecutive lines in one chunk, a delay starting the
/// next one; a reboot ends the script.
fn app_chunks(steps: &[Step], first: Duration, baud: u32, chunks: &mut Vec<Chunk>) -> Then {
    let mut after = first;
    let mut text = Vec::new();
    for step in steps {
        match step {
            Step::Print(line) => {
                text.extend_from_slice(line.as_bytes());
                text.extend_from_slice(b"\r\n");
            }
            Step::Delay(d) => {
                if !text.is_empty() {
                    chunks.push(Chunk { after, text: std::mem::take(&mut text), baud });
                    after = Duration::ZERO;
                }
                after += *d;
            }
            Step::Reboot => {
                if !text.is_empty() {
                    chunks.push(Chunk { after, text, baud });
                    after = Duration::ZERO;
                }
                return Then::Reboot { after, cause: ResetCause::Software };
            }
        }
    }
    if !text.is_empty() {
        chunks.push(Chunk { after, text, baud });
    }
    Then::Run
}

/// What the ROM prints when the bootloader slot does not hold a runnable image.
fn rom_complaint(chip: Chip, offset: usize, fault: &ImageFault) -> String {
    match (chip, fault) {
        (Chip::Esp8266, _) => "\r\nets_main.c \r\n".to_string(),
        (Chip::Esp32, ImageFault::Magic { .. }) => format!("flash read err, {offset:x}\r\nets_main.c 371 \r\n"),
        (Chip::Esp32, ImageFault::Checksum { calculated, stored }) => {
            format!("checksum error: calculated 0x{calculated:02x} stored 0x{stored:02x}\r\nets_main.c 371 \r\n")
        }
        (Chip::Esp32, _) => "ets_main.c 371 \r\n".to_string(),
        (_, ImageFault::Magic { word }) => crate::chips::invalid_header_line(*word).repeat(3),
        (_, ImageFault::Checksum { calculated, stored }) => {
            format!("Checksum failure. Calculated 0x{calculated:02x} stored 0x{stored:02x}\r\nets_main.c 333 \r\n")
        }
        (_, _) => "ets_main.c 333 \r\n".to_string(),
    }
}

/// What the ESP-IDF bootloader prints about an app image it refuses.
fn app_complaint(offset: u32, fault: &ImageFault) -> String {
    match fault {
        ImageFault::Magic { .. } => {
            format!("E (95) esp_image: image at 0x{offset:x} has invalid magic byte (nothing flashed here?)\r\n")
        }
        ImageFault::Checksum { calculated, stored } => {
            format!("E (95) esp_image: Checksum failed. Calculated 0x{calculated:02x} read 0x{stored:02x}\r\n")
        }
        ImageFault::Segments => format!("E (95) esp_image: image at 0x{offset:x} has invalid segments\r\n"),
        ImageFault::Digest => "E (95) esp_image: Image hash failed - image is corrupt\r\n".to_string(),
    }
}

#[cfg(test)]
pub(crate) mod tests;
