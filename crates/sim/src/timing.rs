//! The timing model: every knob that decides how long the simulated board takes, in one
//! struct so it can be calibrated against real measurements.
//!
//! # Sources of the default ("realistic") numbers
//!
//! * **UART**: 8N1 framing, 10 bit times per byte in both directions, at the baud rate the
//!   chip currently uses (115200 after reset; CHANGE_BAUDRATE switches after its reply).
//! * **Flash** (Winbond W25Q32JV, 3 V, 32 Mbit — the part class on ESP-WROOM-32 and
//!   ESP-12E modules; datasheet typical values):
//!   4 KiB sector erase 45 ms (max 400 ms), 64 KiB block erase 150 ms (max 2 s), chip erase
//!   10 s for 4 MB (max 50 s; the model uses the measured 7 s, see below), page program: first byte 30 µs, each further byte 2.5 µs
//!   (256-byte page typ 0.4 ms, max 3 ms).
//! * **Chip erase of mostly blank flash**: measured ESP32 4 MB modules erase in 2–7 s, less
//!   than the datasheet's 10 s, and Espressif notes that chip erase time is roughly
//!   proportional to the non-erased blocks. Modelled as `chip_erase_blank` plus the share of
//!   dirty 64 KiB blocks times `chip_erase_full - chip_erase_blank` (an inference).
//! * **Program granularity**: the ESP32 ROM `SPIWrite` (also used by both stubs) issues one
//!   page-program command per 32 bytes (`ESP_ROM_SPIFLASH_BUFF_BYTE_WRITE_NUM`), each with
//!   write-enable and a WIP poll: `program_op_overhead` covers those SPI transactions at the
//!   ROM's 10 MHz single-line SPI clock (the ESP8266 is assumed to behave alike).
//!   Programming a chunk that is all `0xFF` only costs the overhead and the first byte
//!   (nothing to program; an inference matching the faster 0xFF-heavy images).
//! * **Reads** (READ_FLASH, MD5, blank checks of the new stub): single-line read at the
//!   ROM's SPI clock of 10 MHz, i.e. 1.25 MB/s; the new stub's ESP32 clock boost doubles it.
//! * **CPU work** (inflate, MD5, checksum, command dispatch): calibration knobs, not measured
//!   directly; chosen so that the ESP32 legacy stub is chip-bound near the ~105 KB/s
//!   (uncompressed) seen at 921600 baud, and ESP8266 MD5 runs at ~0.7 MB/s including reads
//!   (measured 0.6–0.85 MB/s).
//! * **New stub clock boost** (ESP32 only): CPU 160 MHz / APB 80 MHz instead of the ROM's
//!   clocks; the stub's PR measured +12–17 % write throughput. Modelled as factors on CPU
//!   work and on SPI transaction/read times (chip side: +13 %, see the `write` tests).
//!
//! The calibration targets are the real-hardware runs T1–T7 (legacy stub, esptool ≤ 5.1):
//! e.g. T3, ESP32, 1 851 472 bytes (1 063 799 compressed) at 921600 baud in 17.6 s.
//! `scripts/calibrate-espsim.sh` replays all of them with the real esptool (every legacy
//! row within ±25 %; table in `docs/BENCHMARKS.md`); the model alone, on tokio's paused
//! clock, gives 0.82–1.00 of the real write times and 0.88–0.98 of the read times, the
//! rest being host round trips (`tests/calibration.rs`).
//!
//! Those are the ESP32's numbers. The other chips differ in CPU speed (at the ROM's clocks,
//! and at the maximum both stubs raise the CPU to on the chip's own USB port), chip erase
//! and USB rate: [`crate::chip_timing`], applied by [`TimingModel::realistic_on`].

use crate::chip_timing;
use crate::usb::LinkMode;
use flashline_protocol::Chip;
use std::time::Duration;

/// How long a sector erase over a sector that never erases (fault `stuck-sector`) keeps
/// the flash busy, whatever the timing mode: the part's erase algorithm pulses and
/// verifies until its limit (W25Q32JV tSE max 400 ms) before it gives up.
pub const STUCK_SECTOR_ERASE: Duration = Duration::from_millis(400);

/// The same for a 64 KiB block erase over it (W25Q32JV tBE2 max 2 s).
pub const STUCK_BLOCK_ERASE: Duration = Duration::from_secs(2);

/// Whether the board takes real (modelled) time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TimingMode {
    /// Everything is instant (tests).
    #[default]
    Off,
    /// The [`TimingModel`] applies (benchmarks).
    Realistic,
}

impl std::str::FromStr for TimingMode {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "off" => Ok(TimingMode::Off),
            "realistic" => Ok(TimingMode::Realistic),
            other => Err(format!("unknown timing mode '{other}' (expected off or realistic)")),
        }
    }
}

/// All timing knobs. [`TimingModel::zero`] makes everything instant.
#[derive(Debug, Clone, PartialEq)]
pub struct TimingModel {
    /// Bit times per UART byte (start + 8 data + stop).
    pub bits_per_byte: u32,
    /// 4 KiB sector erase (W25Q32JV tSE typ 45 ms).
    pub sector_erase: Duration,
    /// 64 KiB block erase (W25Q32JV tBE2 typ 150 ms).
    pub block_erase: Duration,
    /// Chip erase of a 4 MB chip whose every block holds data; scaled linearly with the
    /// flash size. Calibrated to 7 s, the top of the measured ESP32 4 MB chip erases (5.4,
    /// 6.3, 6.6, ~7 s on flashed modules; timing-calibration 1.5) — the W25Q32JV "typ 10 s"
    /// is a conservative datasheet figure, like its program times. The T4 scenario (chip
    /// erase of a fully written chip in 6.6 s) checks it.
    pub chip_erase_full: Duration,
    /// Chip erase of a blank 4 MB chip (measured ESP32 modules: 2.0 s fastest).
    pub chip_erase_blank: Duration,
    /// Bytes per page-program command issued by the loader (ESP32 ROM: 32).
    pub program_chunk: u32,
    /// Page program, first byte (W25Q32JV tBP1 typ 30 µs).
    pub program_first_byte: Duration,
    /// Page program, each further byte (W25Q32JV tBP2 typ 2.5 µs).
    pub program_per_byte: Duration,
    /// SPI transactions around one program command (WREN, command + address + data at
    /// 10 MHz, WIP polls).
    pub program_op_overhead: Duration,
    /// Flash read throughput in bytes per second (single line at 10 MHz).
    pub read_bytes_per_sec: f64,
    /// Inflate throughput (uncompressed output bytes per second) on the ROM's clocks.
    pub inflate_bytes_per_sec: f64,
    /// Software MD5 throughput in bytes per second on the ROM's clocks.
    pub md5_bytes_per_sec: f64,
    /// XOR checksum of a received data block, bytes per second.
    pub checksum_bytes_per_sec: f64,
    /// Fixed cost of receiving and dispatching one command.
    pub command_overhead: Duration,
    /// From MEM_END to the stub's OHAI (stub init, flash attach).
    pub stub_start: Duration,
    /// Extra round trip the ROM spends per FLASH_DATA block besides programming
    /// (read-back and bookkeeping; real logs show ~6–16 ms per 1 KiB block in total).
    pub rom_block_overhead: Duration,
    /// CPU speed-up of the new stub's clock boost on ESP32 (CPU work divided by this).
    pub boost_cpu_factor: f64,
    /// SPI speed-up of the clock boost (SPI overheads and reads divided by this).
    pub boost_spi_factor: f64,
}

impl TimingModel {
    /// Everything instant.
    pub fn zero() -> Self {
        Self {
            bits_per_byte: 0,
            sector_erase: Duration::ZERO,
            block_erase: Duration::ZERO,
            chip_erase_full: Duration::ZERO,
            chip_erase_blank: Duration::ZERO,
            program_chunk: 32,
            program_first_byte: Duration::ZERO,
            program_per_byte: Duration::ZERO,
            program_op_overhead: Duration::ZERO,
            read_bytes_per_sec: f64::INFINITY,
            inflate_bytes_per_sec: f64::INFINITY,
            md5_bytes_per_sec: f64::INFINITY,
            checksum_bytes_per_sec: f64::INFINITY,
            command_overhead: Duration::ZERO,
            stub_start: Duration::ZERO,
            rom_block_overhead: Duration::ZERO,
            boost_cpu_factor: 1.0,
            boost_spi_factor: 1.0,
        }
    }

    /// The ESP32 reference model: a chip behind a UART bridge at the ROM's clocks (see the
    /// module docs for sources).
    fn esp32() -> Self {
        Self {
            bits_per_byte: 10,
            sector_erase: Duration::from_millis(45),
            block_erase: Duration::from_millis(150),
            chip_erase_full: Duration::from_secs(7),
            chip_erase_blank: Duration::from_secs(2),
            program_chunk: 32,
            program_first_byte: Duration::from_micros(30),
            program_per_byte: Duration::from_nanos(2500),
            program_op_overhead: Duration::from_micros(30),
            read_bytes_per_sec: 1.25e6,
            inflate_bytes_per_sec: 1.0e6,
            md5_bytes_per_sec: 1.6e6,
            checksum_bytes_per_sec: 20e6,
            command_overhead: Duration::from_micros(50),
            stub_start: Duration::from_millis(2),
            rom_block_overhead: Duration::from_millis(2),
            boost_cpu_factor: 2.0,
            boost_spi_factor: 2.0,
        }
    }

    /// The documented defaults for `chip` behind a UART bridge.
    pub fn realistic(chip: Chip) -> Self {
        Self::realistic_on(chip, LinkMode::Uart)
    }

    /// The documented defaults for `chip` on `link`: the ESP32 model with the chip's entry
    /// of [`crate::chip_timing`] applied (CPU speed at the ROM's clocks, or at the maximum
    /// the stubs raise it to on the chip's own USB port; chip erase of its flash part).
    pub fn realistic_on(chip: Chip, link: LinkMode) -> Self {
        let t = chip_timing::of(chip);
        let (cpu, spi) = (t.cpu(link), t.spi(link));
        let base = Self::esp32();
        Self {
            chip_erase_full: t.chip_erase_full,
            chip_erase_blank: t.chip_erase_blank,
            program_op_overhead: base.program_op_overhead.div_f64(spi),
            read_bytes_per_sec: base.read_bytes_per_sec * spi,
            inflate_bytes_per_sec: base.inflate_bytes_per_sec * cpu,
            md5_bytes_per_sec: base.md5_bytes_per_sec * cpu,
            checksum_bytes_per_sec: base.checksum_bytes_per_sec * cpu,
            ..base
        }
    }

    /// The model for a mode.
    pub fn for_mode(mode: TimingMode, chip: Chip) -> Self {
        match mode {
            TimingMode::Off => Self::zero(),
            TimingMode::Realistic => Self::realistic(chip),
        }
    }

    /// Time one byte occupies the UART at `baud`.
    pub fn byte_time(&self, baud: u32) -> Duration {
        if self.bits_per_byte == 0 || baud == 0 {
            return Duration::ZERO;
        }
        Duration::from_nanos(self.bits_per_byte as u64 * 1_000_000_000 / baud as u64)
    }

    /// Time `n` bytes occupy the UART at `baud`, computed exactly (no per-byte rounding).
    pub fn wire_time(&self, baud: u32, n: usize) -> Duration {
        if self.bits_per_byte == 0 || baud == 0 {
            return Duration::ZERO;
        }
        Duration::from_nanos((n as u128 * self.bits_per_byte as u128 * 1_000_000_000 / baud as u128) as u64)
    }

    fn rate(bytes: u64, per_sec: f64, factor: f64) -> Duration {
        if !per_sec.is_finite() || per_sec <= 0.0 {
            return Duration::ZERO;
        }
        Duration::from_secs_f64(bytes as f64 / (per_sec * factor))
    }

    /// Reading `bytes` from flash.
    pub fn read(&self, bytes: u64, boosted: bool) -> Duration {
        Self::rate(bytes, self.read_bytes_per_sec, if boosted { self.boost_spi_factor } else { 1.0 })
    }

    /// Inflating to `bytes` of output.
    pub fn inflate(&self, bytes: u64, boosted: bool) -> Duration {
        Self::rate(bytes, self.inflate_bytes_per_sec, if boosted { self.boost_cpu_factor } else { 1.0 })
    }

    /// MD5 over `bytes` (CPU only; add [`Self::read`] for the flash reads).
    pub fn md5(&self, bytes: u64, boosted: bool) -> Duration {
        Self::rate(bytes, self.md5_bytes_per_sec, if boosted { self.boost_cpu_factor } else { 1.0 })
    }

    /// Checksumming a received block.
    pub fn checksum(&self, bytes: u64, boosted: bool) -> Duration {
        Self::rate(bytes, self.checksum_bytes_per_sec, if boosted { self.boost_cpu_factor } else { 1.0 })
    }

    /// One page-program command of `chunk` (≤ `program_chunk` bytes).
    pub fn program_op(&self, chunk: &[u8], boosted: bool) -> Duration {
        let overhead =
            if boosted { self.program_op_overhead.div_f64(self.boost_spi_factor) } else { self.program_op_overhead };
        if chunk.is_empty() {
            return Duration::ZERO;
        }
        if chunk.iter().all(|&b| b == 0xFF) {
            return overhead + self.program_first_byte;
        }
        overhead + self.program_first_byte + self.program_per_byte * (chunk.len() as u32 - 1)
    }

    /// Chip erase of a chip of `size` bytes of which `dirty_blocks` 64 KiB blocks held data.
    pub fn chip_erase(&self, size: u32, dirty_blocks: u32) -> Duration {
        let scale = size as f64 / (4u64 << 20) as f64;
        let total_blocks = (size / 0x10000).max(1);
        let share = dirty_blocks.min(total_blocks) as f64 / total_blocks as f64;
        let blank = self.chip_erase_blank.mul_f64(scale);
        let full = self.chip_erase_full.mul_f64(scale);
        blank + full.saturating_sub(blank).mul_f64(share)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uart_pacing_arithmetic() {
        let m = TimingModel::realistic(Chip::Esp32);
        // 1152 bytes × 10 bits at 115200 baud = 100 ms exactly.
        assert_eq!(m.wire_time(115_200, 1152), Duration::from_millis(100));
        assert_eq!(m.byte_time(921_600), Duration::from_nanos(10_850));
        assert_eq!(TimingModel::zero().wire_time(115_200, 1152), Duration::ZERO);
    }

    #[test]
    fn flash_arithmetic() {
        let m = TimingModel::realistic(Chip::Esp32);
        assert_eq!(m.sector_erase, Duration::from_millis(45));
        assert_eq!(m.block_erase, Duration::from_millis(150));
        // 32 data bytes: 30 µs overhead + 30 µs + 31 × 2.5 µs = 137.5 µs.
        assert_eq!(m.program_op(&[0u8; 32], false), Duration::from_nanos(137_500));
        assert_eq!(m.program_op(&[0xFF; 32], false), Duration::from_micros(60));
        assert_eq!(m.program_op(&[0u8; 32], true), Duration::from_nanos(122_500));
        // 4 KiB read at 1.25 MB/s = 3.2768 ms.
        assert_eq!(m.read(4096, false), Duration::from_secs_f64(4096.0 / 1.25e6));
        assert_eq!(m.chip_erase(4 << 20, 0), Duration::from_secs(2));
        assert_eq!(m.chip_erase(4 << 20, 64), Duration::from_secs(7));
        assert_eq!(m.chip_erase(8 << 20, 128), Duration::from_secs(14));
        assert_eq!(TimingModel::zero().read(1 << 20, true), Duration::ZERO);
    }
}
