//! Per-chip timing: where each simulated chip's timing differs from the ESP32 reference
//! model of [`crate::timing`], one entry per chip, each fitted to published real-board
//! esptool logs (every source with its figures and the model's prediction next to it:
//! `docs/TIMING.md`, "Per chip"; guarded by `tests/calibration.rs`, `per_chip_cases`).
//!
//! What differs between chips is the CPU (clock of the ROM loader, the clock a stub
//! raises it to on the chip's own USB port), the flash part on the usual module (chip
//! erase), and the USB-Serial/JTAG rate. Everything else — SPI flash program and sector
//! or block erase times, the stubs' pipelining, UART framing — is the ESP32 model's.
//!
//! Where no public figure exists for a chip, its entry borrows another chip's numbers and
//! says which and why (see each constant).

use crate::usb::LinkMode;
use flashline_protocol::Chip;
use std::time::Duration;

/// How one chip's timing differs from the ESP32 reference model.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ChipTiming {
    pub chip: Chip,
    /// Speed of CPU work (inflate, MD5, checksums) at the clocks the ROM leaves, relative
    /// to the ESP32 ROM's (1.0). Both stubs keep these clocks on a UART bridge (the new
    /// stub's ESP32 clock boost aside, see [`crate::timing`]).
    pub rom_cpu: f64,
    /// Speed of CPU work when a stub runs on the chip's own USB port: both stubs raise the
    /// CPU to its maximum there (legacy stub `USE_MAX_CPU_FREQ`, new stub "boost only on
    /// USB"), relative to the ESP32 ROM's.
    pub usb_cpu: f64,
    /// Speed-up of SPI transactions and flash reads at those clocks (1.0: SPI clock is
    /// the ROM's).
    pub usb_spi: f64,
    /// Chip erase of a fully written 4 MB flash (scaled with the size).
    pub chip_erase_full: Duration,
    /// Chip erase of a blank 4 MB flash (scaled with the size).
    pub chip_erase_blank: Duration,
    /// Payload rate of the chip's USB-Serial/JTAG port, bytes per second (`None`: the
    /// chip has none).
    pub usb_bytes_per_sec: Option<f64>,
}

/// The USB-Serial/JTAG CDC rate measured on an ESP32-S3 (esp-flasher-stub PR #73: 4 MB in
/// 6.2 s, link-bound). The peripheral is the same full-speed USB 1.1 block on every chip
/// that has it; no other chip's link-bound figure is published, so all borrow this one.
pub const USB_SERIAL_JTAG_BYTES_PER_SEC: f64 = 680_000.0;

/// One entry: CPU speeds at the ROM's clocks and on USB, SPI speed-up on USB, chip erase
/// of a written and of a blank 4 MB flash in milliseconds, and whether the chip has a
/// USB-Serial/JTAG port (at [`USB_SERIAL_JTAG_BYTES_PER_SEC`]).
const fn entry(chip: Chip, rom_cpu: f64, usb_cpu: f64, usb_spi: f64, erase_ms: (u64, u64), usb: bool) -> ChipTiming {
    ChipTiming {
        chip,
        rom_cpu,
        usb_cpu,
        usb_spi,
        chip_erase_full: Duration::from_millis(erase_ms.0),
        chip_erase_blank: Duration::from_millis(erase_ms.1),
        usb_bytes_per_sec: if usb { Some(USB_SERIAL_JTAG_BYTES_PER_SEC) } else { None },
    }
}

/// ESP32: the reference (W25Q32JV on ESP-WROOM-32; calibrated in `docs/BENCHMARKS.md`).
pub const ESP32: ChipTiming = entry(Chip::Esp32, 1.0, 1.0, 1.0, (7_000, 2_000), false);

/// ESP8266: calibrated with the ESP32 model (T6a/T6b/T7 in `docs/BENCHMARKS.md`).
pub const ESP8266: ChipTiming = entry(Chip::Esp8266, 1.0, 1.0, 1.0, (7_000, 2_000), false);

/// ESP32-S3: USB-Serial/JTAG with the CPU at 240 MHz (a 4.5 MB image after erase-flash,
/// new stub, 25.3 s; esptool#779: 1405 kbit/s) and at the ROM's clocks (esptool#779:
/// 746 kbit/s before the stub raised the CPU); esp-idf get-started log at 460800 baud.
/// Chip erase: 28.6 s and 5.3 s on 16 MB boards (written / mostly blank).
pub const ESP32S3: ChipTiming = entry(Chip::Esp32S3, 0.15, 3.0, 2.0, (7_000, 500), true);

/// ESP32-C3: USB-Serial/JTAG with the CPU at 160 MHz (1.9 MB in 14.3 s, 181 KB in
/// 1.7 s), esp-idf get-started log at 460800 baud (ROM clocks). Chip erase of the embedded
/// 4 MB XMC flash: 14.9 s.
pub const ESP32C3: ChipTiming = entry(Chip::Esp32C3, 0.25, 2.0, 1.0, (15_000, 500), true);

/// ESP32-S2: esp-idf get-started log at 460800 baud (ROM clocks). Its USB port is USB-OTG
/// (not simulated): no USB figures. Chip erase: 16.3 s (esptool-js#141, 4 MB).
pub const ESP32S2: ChipTiming = entry(Chip::Esp32S2, 0.5, 0.5, 1.0, (16_000, 500), false);

/// ESP32-C2: esp-idf get-started log at 460800 baud (ROM clocks). No USB port. No chip
/// erase figure: the S3's flash numbers (the same class of 3.3 V SPI NOR on its modules).
pub const ESP32C2: ChipTiming = entry(Chip::Esp32C2, 0.25, 0.25, 1.0, (7_000, 500), false);

/// ESP32-C6: a 1.2 MB write at 115200 baud (link-bound); chip erase of a blank 8 MB
/// module 1.1 s. No published USB write: the C3's CPU figures (RISC-V at 160 MHz, the
/// same stub code); the S3's flash figures.
pub const ESP32C6: ChipTiming = entry(Chip::Esp32C6, 0.25, 2.0, 1.0, (7_000, 500), true);

/// ESP32-H2: esp-idf get-started log at 460800 baud (ROM clocks). No published USB write:
/// the C3's CPU figures (RISC-V, same stub code; its 96 MHz maximum is below the C3's
/// 160 MHz, so USB writes may be slower than modelled); the S3's flash figures (its one
/// chip erase, 1.6 s, comes without flash size or content).
pub const ESP32H2: ChipTiming = entry(Chip::Esp32H2, 0.25, 2.0, 1.0, (7_000, 500), true);

/// ESP32-C5: no public write or erase figure; the C6's numbers (the C5 is its closest
/// relative: same RISC-V core family, same stub code, USB-Serial/JTAG).
pub const ESP32C5: ChipTiming = ChipTiming { chip: Chip::Esp32C5, ..ESP32C6 };

/// ESP32-P4: a 957 KB write at 460800 baud (esptool 4.11, UART bridge); chip erase of a
/// 16 MB board holding factory firmware 44.2 s. USB: ~10 MB in ~75 s (esptool#1170, 64 MB
/// 1.8 V flash, new stub) is a cross-check only (image and flash part not comparable):
/// no USB figure, so the S3's SPI figures with the CPU at 360 MHz.
pub const ESP32P4: ChipTiming = entry(Chip::Esp32P4, 0.25, 4.0, 2.0, (11_000, 500), true);

/// Every chip's entry.
pub const ALL: [ChipTiming; 10] =
    [ESP32, ESP8266, ESP32S2, ESP32S3, ESP32C3, ESP32C2, ESP32C5, ESP32C6, ESP32H2, ESP32P4];

/// The entry of `chip` (the ESP32's for a chip without one).
pub fn of(chip: Chip) -> &'static ChipTiming {
    ALL.iter().find(|t| t.chip == chip).unwrap_or(&ESP32)
}

impl ChipTiming {
    /// CPU speed relative to the ESP32 ROM's on `link` (stubs on USB run at the maximum).
    pub fn cpu(&self, link: LinkMode) -> f64 {
        match link {
            LinkMode::Uart => self.rom_cpu,
            LinkMode::UsbSerialJtag => self.usb_cpu,
        }
    }

    /// SPI speed-up on `link`.
    pub fn spi(&self, link: LinkMode) -> f64 {
        match link {
            LinkMode::Uart => 1.0,
            LinkMode::UsbSerialJtag => self.usb_spi,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_entry_per_chip() {
        for chip in Chip::ALL {
            assert_eq!(ALL.iter().filter(|t| t.chip == chip).count(), 1, "{chip}");
            let t = of(chip);
            // A USB rate exactly for the chips whose host module names the peripheral.
            assert_eq!(t.usb_bytes_per_sec.is_some(), chip.spec().usb_serial_jtag.is_some(), "{chip}");
            assert!(t.rom_cpu > 0.0 && t.usb_cpu >= t.rom_cpu && t.usb_spi >= 1.0, "{chip}");
            assert!(t.chip_erase_blank < t.chip_erase_full, "{chip}");
        }
    }

    /// Published chip erases ("Flash memory erased successfully in T s") against the
    /// model, within ±25 % (sources and the content assumed: docs/TIMING.md, "Per chip").
    #[test]
    fn chip_erase_cases() {
        use crate::timing::TimingModel;
        const MB: u32 = 1 << 20;
        // chip, flash size, 64 KiB blocks holding data, real seconds
        let cases: [(Chip, u32, u32, f64); 7] = [
            (Chip::Esp32C3, 4 * MB, 64, 14.9),
            (Chip::Esp32S3, 16 * MB, 256, 28.6),
            (Chip::Esp32S3, 16 * MB, 20, 5.3),
            (Chip::Esp32C6, 8 * MB, 0, 1.1),
            (Chip::Esp32S2, 4 * MB, 64, 16.3),
            (Chip::Esp32P4, 16 * MB, 256, 44.2),
            (Chip::Esp32, 4 * MB, 64, 6.6),
        ];
        for (chip, size, dirty, real) in cases {
            let model = TimingModel::realistic(chip).chip_erase(size, dirty).as_secs_f64();
            let r = model / real;
            assert!((0.75..=1.25).contains(&r), "{chip} {size} B, {dirty} blocks written: {model:.1} s vs {real} s");
        }
    }
}
