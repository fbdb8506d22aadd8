//! The ESP image header at the chip's bootloader offset, which tells which chip family a
//! bootloader was built for.
//!
//! Layout (esptool `ESPLoader` image format): byte 0 is the magic 0xE9, bytes 1..8 the
//! common header; ESP32-class chips follow with a 16-byte extended header whose chip id is
//! a little-endian u16 at image offset 12. ESP8266 images have no extended header (and
//! "v2" ESP8266 images start with 0xEA instead).

use flashline_protocol::Chip;

use super::{ImageError, Region};

pub const IMAGE_MAGIC: u8 = 0xE9;
pub const ESP8266_V2_MAGIC: u8 = 0xEA;
const CHIP_ID_OFFSET: usize = 12;

/// Checks the bootloader header for `chip`, if a region covers the bootloader offset.
/// Images without a bootloader (app-only updates) pass.
pub(crate) fn check_bootloader(regions: &[Region], chip: Chip) -> Result<(), ImageError> {
    let offset = chip.spec().bootloader_offset;
    let Some(region) = regions.iter().find(|r| r.offset <= offset && u64::from(offset) < r.end()) else {
        return Ok(());
    };
    let header = &region.data[(offset - region.offset) as usize..];
    let magic = header[0];
    let magic_ok = magic == IMAGE_MAGIC || (chip == Chip::Esp8266 && magic == ESP8266_V2_MAGIC);
    if !magic_ok {
        return Err(ImageError::NoBootloaderHeader { file: region.file.clone(), chip, offset, found: magic });
    }
    let Some(expected_id) = chip.spec().image_chip_id else {
        return Ok(());
    };
    let Some(id_bytes) = header.get(CHIP_ID_OFFSET..CHIP_ID_OFFSET + 2) else {
        return Err(ImageError::Malformed {
            file: region.file.clone(),
            message: format!("bootloader header at 0x{offset:x} is truncated"),
        });
    };
    let id = u32::from(u16::from_le_bytes([id_bytes[0], id_bytes[1]]));
    if id != expected_id {
        let declared = match Chip::ALL.into_iter().find(|c| c.spec().image_chip_id == Some(id)) {
            Some(other) => format!("{other} (bootloader header chip id {id})"),
            None => format!("an unknown chip (bootloader header chip id {id})"),
        };
        return Err(ImageError::ChipMismatch { file: region.file.clone(), declared, expected: chip });
    }
    Ok(())
}
