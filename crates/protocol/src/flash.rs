//! SPI NOR flash facts shared by host and simulator: JEDEC ids, size codes, SPI opcodes,
//! and parsing of human-written sizes and offsets.

/// Erase sector.
pub const SECTOR_SIZE: u32 = 0x1000;
/// Erase block.
pub const BLOCK_SIZE: u32 = 0x10000;
/// Program page.
pub const PAGE_SIZE: u32 = 0x100;
/// FLASH_DATA block size with the ROM loader.
pub const ROM_WRITE_BLOCK: u32 = 0x400;
/// FLASH_DATA block size with a flasher stub.
pub const STUB_WRITE_BLOCK: u32 = 0x4000;
/// MEM_DATA block size.
pub const RAM_BLOCK: u32 = 0x1800;
/// READ_FLASH packet size.
pub const READ_PACKET: u32 = 0x1000;

/// SPI flash command opcodes the loaders issue through the register engine.
pub mod spi_cmd {
    pub const RDID: u8 = 0x9F;
    pub const RDSFDP: u8 = 0x5A;
    pub const RDSR: u8 = 0x05;
    pub const RDSR2: u8 = 0x35;
    pub const RDSR3: u8 = 0x15;
    pub const WRSR: u8 = 0x01;
    pub const WREN: u8 = 0x06;
    pub const WRDI: u8 = 0x04;
    pub const RESET_ENABLE: u8 = 0x66;
    pub const RESET: u8 = 0x99;
    pub const DEEP_POWER_DOWN: u8 = 0xB9;
    pub const RELEASE_POWER_DOWN: u8 = 0xAB;
}

/// Flash size in bytes from a JEDEC id word as the SPI engine returns it
/// (`manufacturer | type << 8 | capacity << 16`). `None` when the code is unknown.
pub fn size_from_jedec(id: u32) -> Option<u32> {
    let mfr = id & 0xFF;
    let dev = (id >> 8) & 0xFF;
    let cap = (id >> 16) & 0xFF;
    if mfr == 0x1F {
        // Adesto: size code in the low 5 bits of the device byte.
        return match dev & 0x1F {
            0x04 => Some(512 << 10),
            0x05 => Some(1 << 20),
            0x06 => Some(2 << 20),
            0x07 => Some(4 << 20),
            0x08 => Some(8 << 20),
            0x09 => Some(16 << 20),
            _ => None,
        };
    }
    let mb = |n: u32| Some(n << 20);
    match cap {
        0x12 | 0x32 => Some(256 << 10),
        0x13 | 0x33 => Some(512 << 10),
        0x14 | 0x34 => mb(1),
        0x15 | 0x35 => mb(2),
        0x16 | 0x36 => mb(4),
        0x17 | 0x37 => mb(8),
        0x18 | 0x38 => mb(16),
        0x19 | 0x39 => mb(32),
        0x1A | 0x20 | 0x3A => mb(64),
        0x1B | 0x21 => mb(128),
        0x1C | 0x22 => mb(256),
        _ => None,
    }
}

/// JEDEC id of a Winbond W25Qxx part of the given size (what the simulator reports).
pub fn winbond_jedec_for_size(size: u32) -> Option<u32> {
    let cap = match size {
        s if s == 1 << 20 => 0x14,
        s if s == 2 << 20 => 0x15,
        s if s == 4 << 20 => 0x16,
        s if s == 8 << 20 => 0x17,
        s if s == 16 << 20 => 0x18,
        _ => return None,
    };
    Some(0xEF | 0x40 << 8 | cap << 16)
}

/// Human form of a flash size: "4MB", "512KB".
pub fn format_size(size: u32) -> String {
    if size >= 1 << 20 && size.is_multiple_of(1 << 20) {
        format!("{}MB", size >> 20)
    } else if size.is_multiple_of(1024) {
        format!("{}KB", size >> 10)
    } else {
        format!("{size}B")
    }
}

/// Parses a size or offset: decimal (`4096`), hex (`0x1000`), or with a unit (`4MB`, `4M`,
/// `512KB`, `512k`, `1000B`; binary units, as flash sizes are). Reads back everything
/// [`format_size`] writes.
pub fn parse_size(text: &str) -> Result<u32, String> {
    let t = text.trim();
    let err = || format!("'{text}' is not a size: use decimal, 0x-hex, or a unit like 4MB or 512KB");
    if let Some(hex) = t.strip_prefix("0x").or_else(|| t.strip_prefix("0X")) {
        return u32::from_str_radix(&hex.replace('_', ""), 16).map_err(|_| err());
    }
    let lower = t.to_ascii_lowercase();
    let (num, mult) = if let Some(n) = lower.strip_suffix("mb").or_else(|| lower.strip_suffix('m')) {
        (n, 1u64 << 20)
    } else if let Some(n) = lower.strip_suffix("kb").or_else(|| lower.strip_suffix('k')) {
        (n, 1u64 << 10)
    } else if let Some(n) = lower.strip_suffix('b') {
        // What `format_size` writes for sizes that are not whole KiB.
        (n, 1u64)
    } else {
        (lower.as_str(), 1u64)
    };
    let v: u64 = num.trim().replace('_', "").parse().map_err(|_| err())?;
    v.checked_mul(mult).and_then(|b| u32::try_from(b).ok()).ok_or_else(|| format!("'{text}' is larger than 4 GiB"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jedec_table() {
        assert_eq!(size_from_jedec(0x001640EF), Some(4 << 20));
        assert_eq!(size_from_jedec(0x001640C8), Some(4 << 20));
        assert_eq!(size_from_jedec(0x001840EF), Some(16 << 20));
        assert_eq!(size_from_jedec(0x00FF_FFFF), None);
        assert_eq!(size_from_jedec(0x0000_481F), Some(8 << 20));
        for mb in [1u32, 2, 4, 8, 16] {
            let id = winbond_jedec_for_size(mb << 20).unwrap();
            assert_eq!(size_from_jedec(id), Some(mb << 20));
        }
        assert_eq!(winbond_jedec_for_size(3 << 20), None);
    }

    #[test]
    fn formatted_sizes_parse_back() {
        // Found by fuzzing the manifest parser: a manifest written with a size that is not a
        // whole KiB ("1000B") did not load again.
        for size in [0, 1, 11, 1000, 1023, 4096, 4097, 0x8000, (1 << 20) + 1, 4 << 20, u32::MAX] {
            assert_eq!(parse_size(&format_size(size)), Ok(size), "{}", format_size(size));
        }
    }

    #[test]
    fn sizes_parse() {
        assert_eq!(parse_size("0x1000"), Ok(0x1000));
        assert_eq!(parse_size("4096"), Ok(4096));
        assert_eq!(parse_size("4MB"), Ok(4 << 20));
        assert_eq!(parse_size("4M"), Ok(4 << 20));
        assert_eq!(parse_size("512k"), Ok(512 << 10));
        assert!(parse_size("four").is_err());
        assert!(parse_size("8192MB").is_err());
        assert_eq!(format_size(4 << 20), "4MB");
        assert_eq!(format_size(512 << 10), "512KB");
    }

    #[test]
    fn huge_sizes_with_a_unit_are_errors_not_overflows() {
        // 2^44 MB is 2^64 bytes: the multiplication used to overflow (a panic with overflow
        // checks, and a silent 0 without them).
        assert!(parse_size("17592186044416MB").is_err());
        assert!(parse_size("18446744073709551615k").is_err());
        assert!(parse_size("4096MB").is_err());
        assert_eq!(parse_size("4095MB"), Ok(4095 << 20));
    }
}
