//! Which app the second-stage bootloader runs: the partition table at 0x8000 (32-byte
//! entries, magic 0x50AA), the factory app if there is one, else the first OTA slot. The
//! simulator does not read `otadata`: a line flashes factory images.

/// Where ESP-IDF places the partition table.
pub const TABLE_OFFSET: usize = 0x8000;
const ENTRY: usize = 32;
const MAX_ENTRIES: usize = 95;
const MAGIC: [u8; 2] = [0xAA, 0x50];
/// The MD5 entry ESP-IDF appends after the last partition.
const MD5_MAGIC: [u8; 2] = [0xEB, 0xEB];

/// An app partition.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AppSlot {
    pub offset: u32,
    pub size: u32,
    /// "factory" or "ota_N".
    pub factory: bool,
}

/// Why the bootloader found no table: the first entry's first 16-bit word.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NoTable {
    pub magic: u16,
}

/// The app partitions of the table in `flash`: `Err` when the first entry is not one
/// (an erased or missing table), else the slot the bootloader boots (`None`: no app).
pub fn boot_slot(flash: &[u8]) -> Result<Option<AppSlot>, NoTable> {
    let entry = |i: usize| flash.get(TABLE_OFFSET + i * ENTRY..TABLE_OFFSET + (i + 1) * ENTRY);
    let first = entry(0).ok_or(NoTable { magic: 0xFFFF })?;
    if first[..2] != MAGIC {
        return Err(NoTable { magic: u16::from_le_bytes([first[0], first[1]]) });
    }
    let mut ota = None;
    for e in (0..MAX_ENTRIES).map_while(entry) {
        if e[..2] != MAGIC || e[..2] == MD5_MAGIC {
            break;
        }
        let (ty, sub) = (e[2], e[3]);
        let offset = u32::from_le_bytes([e[4], e[5], e[6], e[7]]);
        let size = u32::from_le_bytes([e[8], e[9], e[10], e[11]]);
        if ty != 0 {
            continue;
        }
        if sub == 0 {
            return Ok(Some(AppSlot { offset, size, factory: true }));
        }
        if (0x10..0x20).contains(&sub) && ota.is_none() {
            ota = Some(AppSlot { offset, size, factory: false });
        }
    }
    Ok(ota)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(ty: u8, sub: u8, offset: u32, size: u32) -> Vec<u8> {
        let mut e = vec![0xAA, 0x50, ty, sub];
        e.extend_from_slice(&offset.to_le_bytes());
        e.extend_from_slice(&size.to_le_bytes());
        e.resize(32, 0);
        e
    }

    fn flash(entries: &[Vec<u8>]) -> Vec<u8> {
        let mut f = vec![0xFF; 0x9000];
        let table: Vec<u8> = entries.concat();
        f[TABLE_OFFSET..TABLE_OFFSET + table.len()].copy_from_slice(&table);
        f
    }

    #[test]
    fn factory_first_then_the_first_ota_slot() {
        let nvs = entry(1, 2, 0x9000, 0x6000);
        let factory = entry(0, 0, 0x10000, 0x100000);
        let ota0 = entry(0, 0x10, 0x110000, 0x100000);
        let cases = [
            (vec![nvs.clone(), factory.clone()], Some(AppSlot { offset: 0x10000, size: 0x100000, factory: true })),
            (
                vec![nvs.clone(), ota0.clone(), factory],
                Some(AppSlot { offset: 0x10000, size: 0x100000, factory: true }),
            ),
            (vec![nvs.clone(), ota0], Some(AppSlot { offset: 0x110000, size: 0x100000, factory: false })),
            (vec![nvs], None),
        ];
        for (entries, want) in cases {
            assert_eq!(boot_slot(&flash(&entries)), Ok(want));
        }
        assert_eq!(boot_slot(&vec![0xFF; 0x9000]), Err(NoTable { magic: 0xFFFF }));
        assert_eq!(boot_slot(&[0u8; 16]), Err(NoTable { magic: 0xFFFF }), "flash too small");
    }
}
