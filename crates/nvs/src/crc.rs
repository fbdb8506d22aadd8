//! The CRC-32 every NVS checksum uses (page header, entry, string and blob data).
//!
//! It is the IEEE CRC-32 (reflected polynomial 0xEDB88320) computed as ESP-IDF's
//! `esp_rom_crc32_le(0xffffffff, ...)` and as the official generator's
//! `zlib.crc32(data, 0xFFFFFFFF)`: the running value starts at 0xFFFFFFFF in zlib's
//! convention, i.e. a zero register, with the usual final inversion. That is *not* the
//! plain `crc32(data)` of zip files, so it gets its own small function.

/// Table of the reflected IEEE polynomial, built at compile time.
const TABLE: [u32; 256] = {
    let mut table = [0u32; 256];
    let mut i = 0;
    while i < 256 {
        let mut c = i as u32;
        let mut bit = 0;
        while bit < 8 {
            c = if c & 1 != 0 { 0xEDB8_8320 ^ (c >> 1) } else { c >> 1 };
            bit += 1;
        }
        table[i] = c;
        i += 1;
    }
    table
};

/// CRC-32 of `data` as NVS stores it.
pub fn nvs_crc32(data: &[u8]) -> u32 {
    // zlib.crc32(data, prev) starts from !prev; prev = 0xFFFFFFFF gives a zero register.
    let mut crc = !0xFFFF_FFFFu32;
    for &b in data {
        crc = TABLE[((crc ^ u32::from(b)) & 0xFF) as usize] ^ (crc >> 8);
    }
    !crc
}

#[cfg(test)]
mod tests {
    use super::nvs_crc32;

    /// Values computed with Python's `zlib.crc32(data, 0xFFFFFFFF)`.
    #[test]
    fn matches_zlib_with_the_nvs_seed() {
        let cases: [(&[u8], u32); 4] =
            [(b"", 0xFFFF_FFFF), (b"a", 0xC54A_AE31), (b"123456789", 0xD202_D277), (&[0xFF; 32], 0x1999_0159)];
        for (data, want) in cases {
            assert_eq!(nvs_crc32(data), want, "crc of {data:?}");
        }
    }
}
