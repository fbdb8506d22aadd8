//! The partition table the second-stage bootloader reads at 0x8000 (32-byte entries,
//! magic 0x50AA): its app partitions and its `otadata` partition. Which app boots is
//! [`super::otadata`]'s rule.

/// Where ESP-IDF places the partition table.
pub const TABLE_OFFSET: usize = 0x8000;
const ENTRY: usize = 32;
const MAX_ENTRIES: usize = 95;
const MAGIC: [u8; 2] = [0xAA, 0x50];
/// The MD5 entry ESP-IDF appends after the last partition.
const MD5_MAGIC: [u8; 2] = [0xEB, 0xEB];

/// What an app partition is (its subtype).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum AppKind {
    Factory,
    /// `ota_N` (subtype 0x10 + N).
    Ota(u8),
    /// `test` (subtype 0x20).
    Test,
}

/// An app partition.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AppSlot {
    pub offset: u32,
    pub size: u32,
    pub kind: AppKind,
}

impl AppSlot {
    /// How the bootloader names it when it refuses it.
    pub fn refused(&self) -> String {
        match self.kind {
            AppKind::Factory => "Factory app partition".into(),
            AppKind::Ota(n) => format!("OTA app partition slot {n}"),
            AppKind::Test => "Test app partition".into(),
        }
    }
}

/// The table's app partitions (in table order) and its `otadata` partition (offset,
/// size).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Table {
    pub apps: Vec<AppSlot>,
    pub otadata: Option<(u32, u32)>,
}

/// Why the bootloader found no table: the first entry's first 16-bit word.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NoTable {
    pub magic: u16,
}

/// The table in `flash`: `Err` when the first entry is not one (an erased or missing
/// table).
pub fn read(flash: &[u8]) -> Result<Table, NoTable> {
    let entry = |i: usize| flash.get(TABLE_OFFSET + i * ENTRY..TABLE_OFFSET + (i + 1) * ENTRY);
    let first = entry(0).ok_or(NoTable { magic: 0xFFFF })?;
    if first[..2] != MAGIC {
        return Err(NoTable { magic: u16::from_le_bytes([first[0], first[1]]) });
    }
    let mut table = Table::default();
    for e in (0..MAX_ENTRIES).map_while(entry) {
        if e[..2] != MAGIC || e[..2] == MD5_MAGIC {
            break;
        }
        let (ty, sub) = (e[2], e[3]);
        let offset = u32::from_le_bytes([e[4], e[5], e[6], e[7]]);
        let size = u32::from_le_bytes([e[8], e[9], e[10], e[11]]);
        let kind = match (ty, sub) {
            (0, 0) => AppKind::Factory,
            (0, 0x10..0x20) => AppKind::Ota(sub - 0x10),
            (0, 0x20) => AppKind::Test,
            (1, 0) => {
                table.otadata.get_or_insert((offset, size));
                continue;
            }
            _ => continue,
        };
        table.apps.push(AppSlot { offset, size, kind });
    }
    Ok(table)
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
    fn apps_and_otadata_are_read_in_table_order() {
        let nvs = entry(1, 2, 0x9000, 0x4000);
        let otadata = entry(1, 0, 0xd000, 0x2000);
        let factory = entry(0, 0, 0x10000, 0x100000);
        let ota1 = entry(0, 0x11, 0x210000, 0x100000);
        let test = entry(0, 0x20, 0x310000, 0x10000);
        let t = read(&flash(&[nvs, otadata, ota1, factory, test])).unwrap();
        let kinds: Vec<AppKind> = t.apps.iter().map(|a| a.kind).collect();
        assert_eq!(kinds, [AppKind::Ota(1), AppKind::Factory, AppKind::Test]);
        assert_eq!(t.otadata, Some((0xd000, 0x2000)));
        assert_eq!(t.apps[0].refused(), "OTA app partition slot 1");
        assert_eq!(read(&vec![0xFF; 0x9000]), Err(NoTable { magic: 0xFFFF }));
        assert_eq!(read(&[0u8; 16]), Err(NoTable { magic: 0xFFFF }), "flash too small");
    }
}
