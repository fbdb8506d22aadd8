//! Chip identification: chip family, MAC, revision, description, and the flash chip.
//!
//! Reads only what is needed, once: GET_SECURITY_INFO (a single try; ESP32 and ESP8266
//! ROMs reject it), the magic register, then the MAC words and whatever else the chip's
//! module names for its description ([`flashline_protocol::chip::Target`]). The words are
//! kept so later steps (flash attach pads, ROM baud compensation) do not read them again.

use crate::connection::Connection;
use crate::error::{Error, Result, Stage};
use crate::transport::Transport;
use flashline_protocol::chip::{FlashAttach, Mac, SpiRegs, CHIP_DETECT_MAGIC_REG};
use flashline_protocol::command::{FlashBegin, GetSecurityInfo, ReadReg, SpiAttach, WriteReg};
use flashline_protocol::flash::{size_from_jedec, spi_cmd};
use flashline_protocol::{Chip, StatusFormat};
use std::collections::HashMap;

/// What the session learnt about the board.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChipInfo {
    pub chip: Chip,
    pub mac: Mac,
    /// (major, minor) where the chip reports one (ESP32).
    pub revision: Option<(u32, u32)>,
    /// "ESP32-D0WD-V3 (revision v3.0)", "ESP8266EX".
    pub description: String,
    /// Filled once the flash was probed.
    pub flash: Option<FlashInfo>,
}

/// The SPI flash chip.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FlashInfo {
    /// `manufacturer | type << 8 | capacity << 16`, as RDID returns it.
    pub jedec_id: u32,
    /// Size in bytes from the JEDEC capacity code; `None` for unknown codes.
    pub size: Option<u32>,
}

impl FlashInfo {
    pub fn manufacturer(&self) -> u8 {
        self.jedec_id as u8
    }
    /// Device id as esptool prints it ("4016").
    pub fn device(&self) -> u16 {
        ((self.jedec_id >> 8) as u16 & 0xFF) << 8 | ((self.jedec_id >> 16) as u16 & 0xFF)
    }
}

/// Register values read during identification, reused later.
#[derive(Debug, Clone, Default)]
pub(crate) struct RegCache(pub HashMap<u32, u32>);

impl RegCache {
    pub(crate) async fn read<T: Transport>(&mut self, conn: &mut Connection<T>, addr: u32) -> Result<u32> {
        if let Some(v) = self.0.get(&addr) {
            return Ok(*v);
        }
        let v = conn.command(&ReadReg { addr }).await?;
        self.0.insert(addr, v);
        Ok(v)
    }

    /// Reads `addrs` in order (each at most once per session).
    pub(crate) async fn read_all<T: Transport>(&mut self, conn: &mut Connection<T>, addrs: &[u32]) -> Result<()> {
        for &a in addrs {
            self.read(conn, a).await?;
        }
        Ok(())
    }
}

/// A chip module asked for a register the session did not read: a bug, not the board's fault.
pub(crate) fn chip_error(e: flashline_protocol::chip::ChipError) -> Error {
    Error::Identify(e.to_string())
}

/// Detects the chip family.
pub(crate) async fn detect_chip<T: Transport>(conn: &mut Connection<T>, regs: &mut RegCache) -> Result<Chip> {
    conn.set_stage(Stage::Identify);
    // S3/C3 and later ROMs answer with a chip id; ESP32/ESP8266 ROMs (and their stubs)
    // reject the command, which costs one round trip.
    match conn.command(&GetSecurityInfo { long_form: true }).await {
        Ok(info) => {
            if let Some(chip) = info.chip_id.and_then(Chip::from_chip_id) {
                return Ok(chip);
            }
        }
        Err(Error::Chip { .. } | Error::Protocol { .. }) => {}
        Err(e) => return Err(e),
    }
    let magic = regs.read(conn, CHIP_DETECT_MAGIC_REG).await?;
    if let Some(chip) = Chip::from_magic(magic) {
        return Ok(chip);
    }
    // Replies carry no checksum: one garbled on the link reads as an unknown magic, and a
    // good board would be turned away as "damaged". Ask once more before blaming the chip;
    // a chip that really is unknown answers the same again.
    let again = conn.command(&ReadReg { addr: CHIP_DETECT_MAGIC_REG }).await?;
    regs.0.insert(CHIP_DETECT_MAGIC_REG, again);
    match Chip::from_magic(again) {
        Some(chip) => {
            tracing::warn!(first = format_args!("0x{magic:08x}"), %chip, "chip magic garbled on the link once; the re-read is good");
            Ok(chip)
        }
        None => Err(Error::UnknownChip { magic: again }),
    }
}

/// Reads MAC, revision and description.
pub(crate) async fn identify<T: Transport>(
    conn: &mut Connection<T>,
    regs: &mut RegCache,
    chip: Chip,
) -> Result<ChipInfo> {
    conn.set_stage(Stage::Identify);
    let mac_words = read_mac_words(conn, regs, chip).await?;
    let target = chip.target();
    let mac = target.decode_mac(&mac_words).map_err(|e| Error::Identify(format!("cannot decode the MAC: {e}")))?;
    regs.read_all(conn, target.description_regs()).await?;
    let d = target.describe(&regs.0).map_err(chip_error)?;
    let (revision, description) = (d.revision, d.text);
    Ok(ChipInfo { chip, mac, revision, description, flash: None })
}

/// Reads the MAC words so that a reply corrupted on the link cannot produce a wrong MAC
/// (replies carry no checksum, and the MAC goes into the audit log): a chip that stores a
/// checksum with its MAC (ESP32's eFuse CRC-8) must match it, on other chips two reads must
/// agree. One retry, then an error.
async fn read_mac_words<T: Transport>(conn: &mut Connection<T>, regs: &mut RegCache, chip: Chip) -> Result<Vec<u32>> {
    let target = chip.target();
    let spec = target.spec();
    let mut last = Vec::new();
    for attempt in 0..2 {
        let mut words = Vec::with_capacity(spec.mac_regs.len());
        for &r in spec.mac_regs {
            let v = if attempt == 0 { regs.read(conn, r).await? } else { conn.command(&ReadReg { addr: r }).await? };
            regs.0.insert(r, v);
            words.push(v);
        }
        let ok = match target.mac_checksum_ok(&words) {
            Some(ok) => ok,
            None => {
                let mut again = Vec::with_capacity(words.len());
                for &r in spec.mac_regs {
                    again.push(conn.command(&ReadReg { addr: r }).await?);
                }
                again == words
            }
        };
        if ok {
            return Ok(words);
        }
        tracing::warn!(%chip, ?words, "MAC registers read inconsistently; reading again");
        last = words;
    }
    Err(Error::Identify(format!(
        "the MAC eFuse words read back inconsistently ({last:08x?}): link corrupting replies or eFuse damaged; retry, then reject the board"
    )))
}

/// Makes the ROM talk to the flash (stubs attach by themselves on start).
pub(crate) async fn attach_flash_rom<T: Transport>(
    conn: &mut Connection<T>,
    regs: &mut RegCache,
    chip: Chip,
) -> Result<()> {
    let target = chip.target();
    match target.rom_flash_attach() {
        FlashAttach::EmptyFlashBegin => {
            let p = flashline_protocol::command::BeginParams {
                size: 0,
                num_blocks: 0,
                block_size: flashline_protocol::flash::ROM_WRITE_BLOCK,
                offset: 0,
                encrypted: None,
            };
            conn.command(&FlashBegin(p)).await
        }
        FlashAttach::SpiAttach => {
            regs.read_all(conn, target.spi_pad_regs()).await?;
            let config = target.spi_pad_config(&regs.0).map_err(chip_error)?;
            conn.command(&SpiAttach { config, rom_format: true }).await
        }
    }
}

/// Runs one command on the SPI flash through the controller's "user command" registers,
/// exactly as esptool does (protocol reference 6.2), and returns `read_bits` of the answer.
pub(crate) async fn spi_command<T: Transport>(
    conn: &mut Connection<T>,
    chip: Chip,
    opcode: u8,
    read_bits: u32,
) -> Result<u32> {
    let spi: SpiRegs = chip.spec().spi;
    let write = |addr: u32, value: u32| WriteReg::one(addr, value);
    let old_usr = conn.command(&ReadReg { addr: spi.usr_addr() }).await?;
    let old_usr2 = conn.command(&ReadReg { addr: spi.usr2_addr() }).await?;
    match spi.miso_dlen_addr() {
        Some(miso) => {
            if read_bits > 0 {
                conn.command(&write(miso, read_bits - 1)).await?;
            }
        }
        None => {
            // ESP8266: bit lengths live in USR1, which is always written.
            let miso = read_bits.saturating_sub(1);
            conn.command(&write(spi.usr1_addr(), miso << 8)).await?;
        }
    }
    let mut flags = SpiRegs::USR_COMMAND;
    if read_bits > 0 {
        flags |= SpiRegs::USR_MISO;
    }
    conn.command(&write(spi.usr_addr(), flags)).await?;
    conn.command(&write(spi.usr2_addr(), 7 << 28 | opcode as u32)).await?;
    conn.command(&write(spi.w0_addr(), 0)).await?;
    conn.command(&write(spi.cmd_addr(), SpiRegs::CMD_USR)).await?;
    let mut done = false;
    for _ in 0..10 {
        if conn.command(&ReadReg { addr: spi.cmd_addr() }).await? & SpiRegs::CMD_USR == 0 {
            done = true;
            break;
        }
    }
    if !done {
        return Err(Error::Identify("SPI flash command did not complete in time: flash chip not responding".into()));
    }
    let value = conn.command(&ReadReg { addr: spi.w0_addr() }).await?;
    conn.command(&write(spi.usr_addr(), old_usr)).await?;
    conn.command(&write(spi.usr2_addr(), old_usr2)).await?;
    let mask = if read_bits >= 32 { u32::MAX } else { (1u32 << read_bits) - 1 };
    Ok(value & mask)
}

/// Reads the JEDEC id of the flash.
pub(crate) async fn flash_id<T: Transport>(conn: &mut Connection<T>, chip: Chip) -> Result<FlashInfo> {
    conn.set_stage(Stage::Identify);
    let id = spi_command(conn, chip, spi_cmd::RDID, 24).await?;
    if id == 0 || id == 0xFF_FFFF {
        return Err(Error::Identify(format!(
            "flash chip answers JEDEC id 0x{id:06x}: no flash connected or it is not powered"
        )));
    }
    Ok(FlashInfo { jedec_id: id, size: size_from_jedec(id) })
}

/// The status format of the ROM of `chip`.
pub(crate) fn rom_format(chip: Chip) -> StatusFormat {
    chip.spec().rom_status
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flash_info_fields() {
        let f = FlashInfo { jedec_id: 0x0016_40EF, size: size_from_jedec(0x0016_40EF) };
        assert_eq!(f.manufacturer(), 0xEF);
        assert_eq!(f.device(), 0x4016);
        assert_eq!(f.size, Some(4 << 20));
    }
}
