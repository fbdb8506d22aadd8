//! The ESP image header at the chip's bootloader offset, which tells which chip family a
//! bootloader was built for.
//!
//! Layout (esptool `ESPLoader` image format): byte 0 is the magic 0xE9, bytes 1..8 the
//! common header; ESP32-class chips follow with a 16-byte extended header whose chip id is
//! a little-endian u16 at image offset 12. ESP8266 images have no extended header (and
//! "v2" ESP8266 images start with 0xEA instead).
//!
//! The bootloader offset is the chip's (0x1000 ESP32/S2, 0x0 S3/C2/C3/C6/H2, 0x2000
//! C5/P4), so a bootloader built for a chip with another offset is not where this chip
//! looks: when this chip's offset holds no header, a header at another chip's offset
//! that names that chip identifies the image as built for it.

use flashline_protocol::Chip;

use super::{ImageError, Region};

pub const IMAGE_MAGIC: u8 = 0xE9;
pub const ESP8266_V2_MAGIC: u8 = 0xEA;
const CHIP_ID_OFFSET: usize = 12;

/// Checks the bootloader header for `chip`, if a region covers the bootloader offset.
/// Images without a bootloader (app-only updates) pass.
pub(crate) fn check_bootloader(regions: &[Region], chip: Chip) -> Result<(), ImageError> {
    let offset = chip.spec().bootloader_offset;
    let Some((region, header)) = header_at(regions, offset) else {
        return foreign_bootloader(regions, chip).map_or(Ok(()), Err);
    };
    let magic = header[0];
    let magic_ok = magic == IMAGE_MAGIC || (chip == Chip::Esp8266 && magic == ESP8266_V2_MAGIC);
    if !magic_ok {
        return Err(foreign_bootloader(regions, chip).unwrap_or_else(|| ImageError::NoBootloaderHeader {
            file: region.file.clone(),
            chip,
            offset,
            found: magic,
        }));
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

/// The region covering `offset` and its bytes from there on.
fn header_at(regions: &[Region], offset: u32) -> Option<(&Region, &[u8])> {
    let region = regions.iter().find(|r| r.offset <= offset && u64::from(offset) < r.end())?;
    Some((region, &region.data[(offset - region.offset) as usize..]))
}

/// A bootloader for another chip at that chip's own bootloader offset (an ESP32 image,
/// bootloader at 0x1000, loaded for an ESP32-S3, which looks at 0x0): the mismatch naming
/// the header's chip id, or `None`.
fn foreign_bootloader(regions: &[Region], chip: Chip) -> Option<ImageError> {
    let own = chip.spec().bootloader_offset;
    Chip::ALL.into_iter().find_map(|other| {
        let (offset, id) = (other.spec().bootloader_offset, other.spec().image_chip_id?);
        if offset == own {
            return None;
        }
        let (region, header) = header_at(regions, offset)?;
        let found = header.get(CHIP_ID_OFFSET..CHIP_ID_OFFSET + 2)?;
        let names_other = header[0] == IMAGE_MAGIC && u32::from(u16::from_le_bytes([found[0], found[1]])) == id;
        names_other.then(|| ImageError::ChipMismatch {
            file: region.file.clone(),
            declared: format!("{other} (bootloader header chip id {id} at 0x{offset:x})"),
            expected: chip,
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    /// A bootloader image header for chip id `id` (ESP32-class extended header).
    fn header(id: u16, len: usize) -> Vec<u8> {
        let mut b = vec![0u8; len];
        b[0] = IMAGE_MAGIC;
        b[12..14].copy_from_slice(&id.to_le_bytes());
        b
    }

    fn region(offset: u32, data: Vec<u8>) -> Region {
        let file = PathBuf::from(format!("at-{offset:x}.bin"));
        Region { offset, file_len: data.len() as u64, data, file, file_sha256: crate::image::Sha256Digest([0; 32]) }
    }

    #[test]
    fn each_chip_finds_its_bootloader_at_its_offset() {
        for chip in Chip::ALL.into_iter().filter(|c| c.spec().image_chip_id.is_some()) {
            let (offset, id) = (chip.spec().bootloader_offset, chip.spec().image_chip_id.unwrap() as u16);
            let image = [region(offset, header(id, 0x4000)), region(0x10000, vec![0; 16])];
            check_bootloader(&image, chip).unwrap_or_else(|e| panic!("{chip}: {e}"));
        }
        let expected = [(Chip::Esp32, 0x1000), (Chip::Esp32S2, 0x1000), (Chip::Esp32S3, 0), (Chip::Esp32C3, 0)];
        let more = [(Chip::Esp32C2, 0), (Chip::Esp32C6, 0), (Chip::Esp32H2, 0), (Chip::Esp32C5, 0x2000)];
        for (chip, offset) in expected.into_iter().chain(more).chain([(Chip::Esp32P4, 0x2000), (Chip::Esp8266, 0)]) {
            assert_eq!(chip.spec().bootloader_offset, offset, "{chip}");
        }
    }

    #[test]
    fn a_bootloader_for_a_chip_with_another_offset_is_named() {
        // (board chip, image built for, the header's offset, the header's id)
        let cases = [
            (Chip::Esp32S3, Chip::Esp32, 0x1000, 0),
            (Chip::Esp32C3, Chip::Esp32S2, 0x1000, 2),
            (Chip::Esp32P4, Chip::Esp32C6, 0x0, 13),
            (Chip::Esp32, Chip::Esp32P4, 0x2000, 18),
            (Chip::Esp32H2, Chip::Esp32C5, 0x2000, 23),
        ];
        for (board, built_for, offset, id) in cases {
            // Split files, and a merged image from 0 (the board's own offset then holds
            // no header).
            let split = vec![region(offset, header(id, 0x3000)), region(0x10000, vec![0; 16])];
            let mut merged = vec![0xFF; offset as usize];
            merged.extend(header(id, 0x3000));
            for image in [split, vec![region(0, merged)]] {
                let e = check_bootloader(&image, board).unwrap_err();
                let text = e.to_string();
                let named = format!("{built_for} (bootloader header chip id {id} at 0x{offset:x})");
                assert!(text.contains(&named) && text.contains(&board.to_string()), "{board}: {text}");
            }
        }
        // An app-only image passes, whatever the chip.
        check_bootloader(&[region(0x10000, header(9, 64))], Chip::Esp32).unwrap();
    }
}
