//! Shared by the benchmarks: the 4 MB merged test image.

#![allow(dead_code)]

pub const FLASH_SIZE: usize = 4 << 20;
pub const APP_LEN: usize = 1 << 20;

/// Deterministic bytes that deflate like compiled code: short random "instructions" mixed
/// with repeated constants and zero padding. The generator of flashline's demo sample
/// image (`flashline::cli::sample::firmware_like`) with more random words, so that zlib
/// level 9 keeps ~61 % of the bytes (real ESP32 application images: 55–65 %); the demo's
/// mix compresses to ~19 %, which would make any flasher look wire-fast.
pub fn firmware_like(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed | 1;
    let mut next = move || {
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    };
    let mut out = Vec::with_capacity(len);
    let dictionary: Vec<u8> = (0..256).map(|i| (i * 37 % 251) as u8).collect();
    while out.len() < len {
        let r = next();
        match r % 44 {
            0..=39 => out.extend_from_slice(&r.to_le_bytes()[..4]),
            40..=42 => {
                let start = (r >> 8) as usize % 200;
                out.extend_from_slice(&dictionary[start..start + 16 + (r >> 16) as usize % 40]);
            }
            _ => out.extend(std::iter::repeat_n(0u8, 8 + (r >> 8) as usize % 24)),
        }
    }
    out.truncate(len);
    out
}

/// ESP image header bytes so the parts look like an ESP-IDF build.
fn with_header(mut body: Vec<u8>) -> Vec<u8> {
    body[0] = 0xE9;
    body[1] = 3;
    body[2] = 2;
    body[3] = 0x20;
    body[12..14].copy_from_slice(&0u16.to_le_bytes()); // chip id: ESP32
    body[23] = 0; // no appended digest
    body
}

/// The merged image `esptool merge-bin --fill-flash-size 4MB` would produce for an
/// ESP-IDF build: 0xFF from 0, bootloader at 0x1000 (25 KB), partition table at 0x8000
/// (3 KB), app at 0x10000 (`app_len`), 0xFF up to 4 MB.
pub fn merged_image(app_len: usize, seed: u64) -> Vec<u8> {
    let mut img = vec![0xFFu8; FLASH_SIZE];
    let boot = with_header(firmware_like(25 * 1024, seed));
    img[0x1000..0x1000 + boot.len()].copy_from_slice(&boot);
    let mut parts = vec![0xFFu8; 3072];
    let entries: [(&[u8], u8, u8, u32, u32); 3] =
        [(b"nvs", 1, 2, 0x9000, 0x6000), (b"phy_init", 1, 1, 0xf000, 0x1000), (b"factory", 0, 0, 0x10000, 0x100000)];
    for (i, (name, ty, sub, off, size)) in entries.iter().enumerate() {
        let e = &mut parts[i * 32..i * 32 + 32];
        e[..2].copy_from_slice(&[0xAA, 0x50]);
        e[2] = *ty;
        e[3] = *sub;
        e[4..8].copy_from_slice(&off.to_le_bytes());
        e[8..12].copy_from_slice(&size.to_le_bytes());
        e[12..28].fill(0);
        e[12..12 + name.len()].copy_from_slice(name);
        e[28..32].fill(0);
    }
    parts[96..128].fill(0xEB); // the MD5 entry marker row (content does not matter here)
    img[0x8000..0x8000 + parts.len()].copy_from_slice(&parts);
    let app = with_header(firmware_like(app_len, seed + 1));
    img[0x10000..0x10000 + app.len()].copy_from_slice(&app);
    img
}
