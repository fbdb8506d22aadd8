//! The contract every chip module fulfils: its constant facts ([`ChipSpec`]) and the pure
//! decoding of what its registers say ([`Target`]). The host session and the simulator
//! ask a chip these questions instead of matching on [`Chip`] themselves, so supporting a
//! new chip means writing one module that answers them.
//!
//! Everything here is sans-IO: a chip names the registers it needs, the caller reads them
//! (in that order) and hands the values back through a [`RegisterSource`].

use super::mac::{decode_s2_and_later, encode_s2_and_later, Mac, MacError};
use super::spi::SpiRegs;
use super::Chip;
use crate::status::StatusFormat;
use std::collections::HashMap;

/// Where a stub image is loaded (from esptool's stub JSON; used for checks and tests).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StubLayout {
    pub entry: u32,
    pub text_start: u32,
}

/// The stub one board gets: the vendored file (`<file_stem>.json`) and where it loads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StubChoice {
    pub file_stem: &'static str,
    pub layout: StubLayout,
}

/// A USB vendor:product pair.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct UsbId {
    pub vid: u16,
    pub pid: u16,
}

/// Espressif's vendor id.
pub const ESPRESSIF_VID: u16 = 0x303A;
/// The built-in USB-Serial/JTAG peripheral of the S3, C3 and later chips (303a:1001).
pub const USB_SERIAL_JTAG: UsbId = UsbId { vid: ESPRESSIF_VID, pid: 0x1001 };

/// Everything flashline needs to know about a chip family that is a plain value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChipSpec {
    pub chip: Chip,
    /// Display name ("ESP32-S3").
    pub name: &'static str,
    /// Lower-case name without dashes, as in stub file names and configs ("esp32s3").
    pub stub_name: &'static str,
    /// Value of [`super::CHIP_DETECT_MAGIC_REG`], for chips detected that way.
    pub magic: Option<u32>,
    /// Chip id in GET_SECURITY_INFO and app image headers (ESP8266 has none).
    pub image_chip_id: Option<u32>,
    /// Detected by the GET_SECURITY_INFO chip id rather than the magic register.
    pub detect_by_chip_id: bool,
    /// GET_SECURITY_INFO is implemented by the ROM (S2 and later).
    pub rom_security_info: bool,
    /// Status bytes of the ROM loader.
    pub rom_status: StatusFormat,
    /// FLASH_BEGIN / DEFL_BEGIN payload length the ROM expects (16 or 20).
    pub rom_begin_len: usize,
    /// ROM implements FLASH_DEFL_*, SPI_FLASH_MD5, CHANGE_BAUDRATE, READ_FLASH_SLOW,
    /// SPI_ATTACH and SPI_SET_PARAMS (every ROM except ESP8266).
    pub rom_is_esp32_class: bool,
    pub efuse_base: u32,
    /// Registers holding the MAC, read in this order (see [`Target::decode_mac`]).
    pub mac_regs: &'static [u32],
    pub spi: SpiRegs,
    pub uart_clkdiv_reg: u32,
    /// Dummy register target used as a delay carrier in WRITE_REG.
    pub uart_date_reg: u32,
    /// Divider in the crystal estimate from CLKDIV (None: the chip has one fixed crystal,
    /// named in its module, and esptool never estimates it).
    pub xtal_clk_divider: Option<u32>,
    pub bootloader_offset: u32,
    /// MEM_DATA block size esptool 5.6 uses for the ROM (0x800 where USB-OTG is possible).
    pub ram_block: u32,
    /// Stub v2 layout shipped with esptool 5.6 (entry, text start).
    pub stub_v2: StubLayout,
    /// USB id of the chip's own USB-Serial/JTAG port, if it has one. A port with this id
    /// is reset through the USB-Serial/JTAG sequence instead of the DTR/RTS circuit.
    pub usb_serial_jtag: Option<UsbId>,
}

/// Revision and human-readable description of one board's chip.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Description {
    /// (major, minor) where the chip reports one.
    pub revision: Option<(u32, u32)>,
    /// "ESP32-D0WD-V3 (revision v3.0)", "ESP8266EX".
    pub text: String,
}

/// How the ROM loader is made to talk to the flash (stubs attach by themselves).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FlashAttach {
    /// No SPI_ATTACH in the ROM: FLASH_BEGIN of nothing attaches the flash (ESP8266).
    EmptyFlashBegin,
    /// SPI_ATTACH with the pad configuration of [`Target::spi_pad_config`].
    SpiAttach,
}

/// Register values the caller read, looked up by address.
pub trait RegisterSource {
    fn value(&self, addr: u32) -> Option<u32>;
}

impl RegisterSource for HashMap<u32, u32> {
    fn value(&self, addr: u32) -> Option<u32> {
        self.get(&addr).copied()
    }
}

impl<const N: usize> RegisterSource for [(u32, u32); N] {
    fn value(&self, addr: u32) -> Option<u32> {
        self.iter().find(|(a, _)| *a == addr).map(|(_, v)| *v)
    }
}

impl RegisterSource for Vec<(u32, u32)> {
    fn value(&self, addr: u32) -> Option<u32> {
        self.iter().find(|(a, _)| *a == addr).map(|(_, v)| *v)
    }
}

/// No register read at all.
pub const NO_REGISTERS: [(u32, u32); 0] = [];

/// A chip module was handed register values that do not contain what it asked for.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ChipError {
    #[error(
        "{chip}: register 0x{addr:08x} was not read before decoding it (a flashline bug: \
         the caller must read every register the chip module lists; please report it)"
    )]
    RegisterNotRead { chip: Chip, addr: u32 },
}

/// The value of `addr` in `regs`, or the error naming the missing register.
pub fn reg_value(chip: Chip, regs: &dyn RegisterSource, addr: u32) -> Result<u32, ChipError> {
    regs.value(addr).ok_or(ChipError::RegisterNotRead { chip, addr })
}

/// The questions the host and the simulator ask a chip. One implementation per chip
/// module; the defaults describe a chip without quirks.
pub trait Target: Sync {
    /// The chip's constant facts.
    fn spec(&self) -> &'static ChipSpec;

    /// Decodes the MAC from the values of `spec().mac_regs`, read in that order. The
    /// default is the two-word layout of ESP32-S2 and every later chip.
    fn decode_mac(&self, words: &[u32]) -> Result<Mac, MacError> {
        decode_s2_and_later(words)
    }

    /// The values of `spec().mac_regs` that [`Target::decode_mac`] turns back into `mac`
    /// (what the simulator burns into its eFuses). Words that do not carry MAC bits are 0.
    fn encode_mac(&self, mac: &Mac) -> Vec<u32> {
        encode_s2_and_later(mac)
    }

    /// Whether the MAC words check against a checksum stored with them: `None` when the
    /// chip stores none, so the caller must confirm the words by reading them twice.
    fn mac_checksum_ok(&self, _words: &[u32]) -> Option<bool> {
        None
    }

    /// Registers [`Target::describe`] needs beyond `spec().mac_regs`, in reading order.
    fn description_regs(&self) -> &'static [u32] {
        &[]
    }

    /// Revision and description from the MAC words and [`Target::description_regs`].
    fn describe(&self, _regs: &dyn RegisterSource) -> Result<Description, ChipError> {
        Ok(Description { revision: None, text: self.spec().name.to_string() })
    }

    /// The stub for a board of this revision (from [`Target::describe`]), or `None` when
    /// no stub runs on it and the board must be flashed through the ROM loader. The
    /// default is the one stub of `spec()`, whatever the revision.
    fn stub_for(&self, _revision: Option<(u32, u32)>) -> Option<StubChoice> {
        let spec = self.spec();
        Some(StubChoice { file_stem: spec.stub_name, layout: spec.stub_v2 })
    }

    /// How the ROM attaches the flash.
    fn rom_flash_attach(&self) -> FlashAttach {
        FlashAttach::SpiAttach
    }

    /// Registers [`Target::spi_pad_config`] needs, in reading order.
    fn spi_pad_regs(&self) -> &'static [u32] {
        &[]
    }

    /// The SPI_ATTACH pad configuration word (0: the default pins).
    fn spi_pad_config(&self, _regs: &dyn RegisterSource) -> Result<u32, ChipError> {
        Ok(0)
    }

    /// Registers [`Target::rom_baud_word`] needs, in reading order.
    fn rom_baud_regs(&self) -> &'static [u32] {
        &[]
    }

    /// The CHANGE_BAUDRATE word the ROM loader must be sent to end up at `baud`.
    fn rom_baud_word(&self, baud: u32, _regs: &dyn RegisterSource) -> Result<u32, ChipError> {
        Ok(baud)
    }

    /// The FLASH_BEGIN size to send the ROM so that it erases `size` bytes at `offset`.
    fn rom_flash_begin_size(&self, _offset: u32, size: u32) -> u32 {
        size
    }
}
