//! The checks the ROM (on the bootloader) and the second-stage bootloader (on the app)
//! make of an ESP image before running it: the magic byte, segments that fit, the XOR
//! checksum over the segment data and, when the header says one is appended, the
//! SHA-256 of the image.

use sha2::{Digest, Sha256};

/// First byte of every ESP image.
pub const MAGIC: u8 = 0xE9;
/// Seed of the image checksum (esptool's `ESP_CHECKSUM_MAGIC`).
const CHECKSUM_SEED: u8 = 0xEF;
/// More segments than any loader accepts.
const MAX_SEGMENTS: u8 = 16;

/// Why an image does not run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ImageFault {
    /// The first byte is not 0xE9; `word` is the image's first 32-bit word.
    Magic { word: u32 },
    /// A segment count over 16, or segments that run past the end of the slot.
    Segments,
    /// The XOR checksum over the segment data does not match the stored byte.
    Checksum { calculated: u8, stored: u8 },
    /// The appended SHA-256 does not match the image.
    Digest,
}

/// An image that passed the checks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ValidImage {
    /// Bytes from the header through the checksum (and digest, when appended).
    pub len: usize,
}

/// Checks the image at the start of `slot`. `extended` says whether the chip's images
/// carry the 16-byte extended header (every chip but ESP8266).
pub fn check(slot: &[u8], extended: bool) -> Result<ValidImage, ImageFault> {
    let word = slot.get(..4).map_or(0xFFFF_FFFF, |w| u32::from_le_bytes([w[0], w[1], w[2], w[3]]));
    if slot.first() != Some(&MAGIC) {
        return Err(ImageFault::Magic { word });
    }
    let segments = slot.get(1).copied().unwrap_or(0);
    if segments > MAX_SEGMENTS {
        return Err(ImageFault::Segments);
    }
    let header = if extended { 24 } else { 8 };
    let hash_appended = extended && slot.get(23) == Some(&1);
    let mut pos = header;
    let mut checksum = CHECKSUM_SEED;
    for _ in 0..segments {
        let seg = slot.get(pos..pos + 8).ok_or(ImageFault::Segments)?;
        let len = u32::from_le_bytes([seg[4], seg[5], seg[6], seg[7]]) as usize;
        let data = slot.get(pos + 8..(pos + 8).saturating_add(len)).ok_or(ImageFault::Segments)?;
        checksum = data.iter().fold(checksum, |c, b| c ^ b);
        pos += 8 + len;
    }
    // The checksum is the last byte of the 16-byte block the segments end in.
    let at = pos | 15;
    let stored = *slot.get(at).ok_or(ImageFault::Segments)?;
    if stored != checksum {
        return Err(ImageFault::Checksum { calculated: checksum, stored });
    }
    let mut len = at + 1;
    if hash_appended {
        let digest = slot.get(len..len + 32).ok_or(ImageFault::Segments)?;
        if Sha256::digest(&slot[..len])[..] != *digest {
            return Err(ImageFault::Digest);
        }
        len += 32;
    }
    Ok(ValidImage { len })
}

/// Builds a valid image of `len` bytes (a multiple of 16, at least 48) around `body`:
/// header, one segment holding `body` (cut or padded with zeros to fit), checksum. For
/// tests and sample images.
pub fn build(len: usize, body: &[u8], extended: bool, chip_id: u16) -> Vec<u8> {
    let header = if extended { 24 } else { 8 };
    assert!(len.is_multiple_of(16) && len >= header + 8 + 16, "image length {len}");
    let data_len = len - 1 - header - 8;
    let mut out = vec![0u8; len];
    out[..4].copy_from_slice(&[MAGIC, 1, 2, 0x20]);
    if extended {
        out[12..14].copy_from_slice(&chip_id.to_le_bytes());
    }
    out[header..header + 4].copy_from_slice(&0x3FFB_0000u32.to_le_bytes());
    out[header + 4..header + 8].copy_from_slice(&(data_len as u32).to_le_bytes());
    let n = body.len().min(data_len);
    out[header + 8..header + 8 + n].copy_from_slice(&body[..n]);
    let sum = out[header + 8..len - 1].iter().fold(CHECKSUM_SEED, |c, b| c ^ b);
    out[len - 1] = sum;
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_built_image_checks_and_each_fault_is_named() {
        for extended in [true, false] {
            let img = build(4096, b"hello", extended, 9);
            assert_eq!(check(&img, extended), Ok(ValidImage { len: 4096 }));
            let mut bad = img.clone();
            bad[100] ^= 0x40;
            assert!(matches!(check(&bad, extended), Err(ImageFault::Checksum { .. })), "{extended}");
            let mut bad = img.clone();
            bad[0] = 0xFF;
            assert_eq!(check(&bad, extended), Err(ImageFault::Magic { word: u32::from_le_bytes([0xFF, 1, 2, 0x20]) }));
            assert_eq!(check(&img[..2048], extended), Err(ImageFault::Segments), "segment past the slot");
            let mut bad = img.clone();
            bad[1] = 17;
            assert_eq!(check(&bad, extended), Err(ImageFault::Segments));
        }
        assert_eq!(check(&[0xFF; 64], true), Err(ImageFault::Magic { word: 0xFFFF_FFFF }));
        assert_eq!(check(&[], true), Err(ImageFault::Magic { word: 0xFFFF_FFFF }));
    }

    #[test]
    fn an_appended_digest_is_checked() {
        let mut img = build(4096, b"x", true, 0);
        img[23] = 1;
        // Header bytes are not in the checksum; the digest covers everything before it.
        let digest = Sha256::digest(&img);
        img.extend_from_slice(&digest);
        assert_eq!(check(&img, true), Ok(ValidImage { len: 4096 + 32 }));
        let last = img.len() - 1;
        img[last] ^= 1;
        assert_eq!(check(&img, true), Err(ImageFault::Digest));
    }
}
