//! The demo's built-in golden image: the layout of a real ESP-IDF build (bootloader,
//! partition table, application) with contents that compress like real firmware, so the
//! demo exercises compression and blank-skip the way a production image does.

use std::fs;
use std::path::{Path, PathBuf};

use flashline_protocol::Chip;
use sha2::{Digest, Sha256};

use crate::config::types::{ByteSize, Offset};
use crate::image::manifest::{Manifest, ManifestRegion, FORMAT};

/// Deterministic bytes that deflate (zlib level 9) to roughly 58 % of their size, like
/// compiled firmware: random operand bytes mixed with recurring short sequences and zero
/// padding.
pub fn firmware_like(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed | 1;
    let mut next = move || {
        // xorshift64*: fast, deterministic, good enough for test data.
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    };
    let mut out = Vec::with_capacity(len);
    let dictionary: Vec<u8> = (0..256).map(|i| (i * 37 % 251) as u8).collect();
    while out.len() < len {
        let r = next();
        match r % 8 {
            // Five in eight: 4 random bytes (operands, addresses).
            0..=4 => out.extend_from_slice(&r.to_le_bytes()[..4]),
            // Two in eight: a short run from a fixed table (recurring opcodes, literals).
            5 | 6 => {
                let start = (r >> 8) as usize % 200;
                out.extend_from_slice(&dictionary[start..start + 4 + (r >> 16) as usize % 12]);
            }
            // One in eight: zero padding.
            _ => out.extend(std::iter::repeat_n(0u8, 4 + (r >> 8) as usize % 8)),
        }
    }
    out.truncate(len);
    out
}

/// A valid ESP image of `body`'s length: header (magic 0xE9, the chip id in the extended
/// header), one segment over the rest, and the XOR checksum in the last byte of the last
/// 16-byte block, so the loader's checks and a simulated boot (which checks segments and
/// checksum as the ROM and bootloader do) see a real image.
fn with_header(chip: Chip, mut body: Vec<u8>) -> Vec<u8> {
    let header = if chip == Chip::Esp8266 { 8 } else { 24 };
    body[0] = 0xE9;
    body[1] = 1; // segments
    body[2] = 2; // dio
    body[3] = 0x20; // 4MB, 40m
    if chip != Chip::Esp8266 {
        let id = chip.spec().image_chip_id.unwrap_or(0) as u16;
        body[12..14].copy_from_slice(&id.to_le_bytes());
        body[23] = 0; // no appended digest
    }
    let checksum_at = body.len() / 16 * 16 - 1;
    let data = header + 8..checksum_at;
    body[header..header + 4].copy_from_slice(&0x3FFB_0000u32.to_le_bytes());
    body[header + 4..header + 8].copy_from_slice(&(data.len() as u32).to_le_bytes());
    body[checksum_at] = body[data].iter().fold(0xEF, |c, b| c ^ b);
    body
}

/// Writes the sample image (region files + manifest) into `dir`; returns the manifest
/// path and the canonical SHA-256 the config must pin.
pub fn write_sample(dir: &Path, chip: Chip, app_len: usize) -> std::io::Result<PathBuf> {
    write_sample_with(dir, chip, app_len, None)
}

/// [`write_sample`] whose application carries `console`, a console script for the
/// simulator's boot (docs/SIMULATOR.md: the lines between `ESPSIM-CONSOLE-BEGIN` and
/// `ESPSIM-CONSOLE-END`).
pub fn write_sample_with(dir: &Path, chip: Chip, app_len: usize, console: Option<&str>) -> std::io::Result<PathBuf> {
    // One app partition entry so the table is not empty.
    write_sample_with_table(dir, chip, app_len, console, &[partition_entry("factory", 0, 0, 0x10000, 0x100000)])
}

/// One entry of an ESP-IDF partition table (magic 0xAA50, no flags): `kind` 0 app, 1
/// data; `subtype` e.g. 2 for data/nvs.
pub fn partition_entry(label: &str, kind: u8, subtype: u8, offset: u32, size: u32) -> [u8; 32] {
    let mut e = [0u8; 32];
    e[..4].copy_from_slice(&[0xAA, 0x50, kind, subtype]);
    e[4..8].copy_from_slice(&offset.to_le_bytes());
    e[8..12].copy_from_slice(&size.to_le_bytes());
    let name = &label.as_bytes()[..label.len().min(16)];
    e[12..12 + name.len()].copy_from_slice(name);
    e
}

/// [`write_sample_with`] whose partition table holds `entries` (as gen_esp32part.py lays
/// them out, without the MD5 entry).
pub fn write_sample_with_table(
    dir: &Path,
    chip: Chip,
    app_len: usize,
    console: Option<&str>,
    entries: &[[u8; 32]],
) -> std::io::Result<PathBuf> {
    fs::create_dir_all(dir)?;
    let boot_offset = chip.spec().bootloader_offset;
    let bootloader = with_header(chip, firmware_like(24 * 1024, 1));
    let mut partitions = entries.concat();
    partitions.resize(3072, 0xFF);
    let mut body = firmware_like(app_len, 2);
    if let Some(script) = console {
        let block = format!("ESPSIM-CONSOLE-BEGIN\n{script}\nESPSIM-CONSOLE-END\n");
        let at = 0x100.min(body.len().saturating_sub(block.len() + 16));
        body[at..at + block.len()].copy_from_slice(block.as_bytes());
    }
    let app = with_header(chip, body);
    let files = [
        (boot_offset, "bootloader.bin", bootloader),
        (0x8000, "partition-table.bin", partitions),
        (0x10000, "app.bin", app),
    ];
    let mut regions = Vec::new();
    for (offset, name, data) in files {
        fs::write(dir.join(name), &data)?;
        let sha = Sha256::digest(&data);
        regions.push(ManifestRegion {
            offset: Offset(offset),
            file: PathBuf::from(name),
            sha256: Some(crate::image::Sha256Digest(sha.into())),
            length: Some(data.len() as u64),
        });
    }
    let manifest = Manifest { format: FORMAT, chip, flash_size: Some(ByteSize(4 << 20)), capture: None, regions };
    let path = dir.join("sample.toml");
    fs::write(&path, manifest.to_toml())?;
    Ok(path)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn firmware_like_compresses_like_code() {
        let data = firmware_like(256 * 1024, 7);
        let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::best());
        z.write_all(&data).unwrap();
        let ratio = z.finish().unwrap().len() as f64 / data.len() as f64;
        assert!((0.5..0.7).contains(&ratio), "ratio {ratio}");
        assert_eq!(data, firmware_like(256 * 1024, 7), "deterministic");
    }
}
