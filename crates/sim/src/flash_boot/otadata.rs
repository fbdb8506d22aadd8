//! Which app the ESP-IDF 2nd-stage bootloader boots when the table has OTA slots: the
//! `otadata` partition (data/ota) holds two select entries, one per 4 KiB sector:
//! `ota_seq` (u32), `seq_label` (20 bytes), `ota_state` (u32), `crc` (u32: CRC-32 of the
//! four `ota_seq` bytes from 0xFFFFFFFF, as `bootloader_common_ota_select_crc` and
//! otatool compute it). The rule of `bootloader_utility_get_selected_boot_partition`:
//!
//! - no otadata partition: the factory app;
//! - both entries empty (`ota_seq` all ones) or marked invalid/aborted, or no OTA slot:
//!   the factory app ("Defaulting to factory image"), else OTA 0 ("No factory image,
//!   trying OTA 0");
//! - else the valid entry (CRC right, state usable) with the higher `ota_seq` selects
//!   slot `(ota_seq - 1) % slots`;
//! - no valid entry: the factory app ("ota data partition invalid, falling back to
//!   factory"), else OTA 0.

use super::partitions::{AppKind, AppSlot, Table};

/// Bytes per select entry, and the distance between the two (one flash sector each).
const ENTRY: usize = 32;
const SECTOR: usize = 0x1000;
/// `ota_state` values that make an entry unusable (ESP_OTA_IMG_INVALID, _ABORTED).
const INVALID: u32 = 3;
const ABORTED: u32 = 4;

/// One select entry as read from flash.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SelectEntry {
    pub seq: u32,
    pub state: u32,
    pub crc: u32,
}

impl SelectEntry {
    fn read(bytes: &[u8]) -> Option<SelectEntry> {
        let word = |at: usize| Some(u32::from_le_bytes(bytes.get(at..at + 4)?.try_into().ok()?));
        Some(SelectEntry { seq: word(0)?, state: word(24)?, crc: word(28)? })
    }

    /// Empty or marked unusable (`bootloader_common_ota_select_invalid`).
    fn unusable(&self) -> bool {
        self.seq == u32::MAX || self.state == INVALID || self.state == ABORTED
    }

    /// Usable and its CRC right (`bootloader_common_ota_select_valid`).
    fn valid(&self) -> bool {
        !self.unusable() && self.crc == seq_crc(self.seq)
    }

    /// The 32 bytes of an entry selecting `seq` (state "new", as `esp_ota_set_boot_partition`
    /// writes it without rollback), for tests and sample images.
    pub fn bytes(seq: u32) -> [u8; ENTRY] {
        let mut e = [0xFF; ENTRY];
        e[..4].copy_from_slice(&seq.to_le_bytes());
        e[28..].copy_from_slice(&seq_crc(seq).to_le_bytes());
        e
    }
}

/// CRC-32 (reflected, polynomial 0xEDB88320) of `seq`'s four bytes, continuing from
/// 0xFFFFFFFF (the ROM's `crc32_le(UINT32_MAX, …)`).
pub fn seq_crc(seq: u32) -> u32 {
    let mut crc = !u32::MAX;
    for b in seq.to_le_bytes() {
        crc ^= u32::from(b);
        for _ in 0..8 {
            crc = if crc & 1 != 0 { (crc >> 1) ^ 0xEDB8_8320 } else { crc >> 1 };
        }
    }
    !crc
}

/// The app the bootloader boots, and what it says about the choice (an info or error
/// line, without the log prefix), or `None` when the table has no app.
pub fn choose(table: &Table, flash: &[u8]) -> Option<(AppSlot, Option<&'static str>)> {
    let factory = table.apps.iter().find(|a| a.kind == AppKind::Factory).copied();
    let mut slots: Vec<AppSlot> = table.apps.iter().filter(|a| matches!(a.kind, AppKind::Ota(_))).copied().collect();
    slots.sort_by_key(|a| a.kind);
    let first = || factory.or(slots.first().copied()).or(table.apps.first().copied());
    let Some((offset, _)) = table.otadata else { return first().map(|a| (a, None)) };
    let entries: Vec<SelectEntry> =
        (0..2).filter_map(|i| SelectEntry::read(flash.get(offset as usize + i * SECTOR..)?)).collect();
    let default = |note_factory: &'static str, note_ota0: &'static str| match factory {
        Some(f) => Some((f, Some(note_factory))),
        None => first().map(|a| (a, Some(note_ota0))),
    };
    if slots.is_empty() || entries.iter().all(SelectEntry::unusable) {
        return default("I (53) boot: Defaulting to factory image", "I (53) boot: No factory image, trying OTA 0");
    }
    match entries.iter().filter(|e| e.valid()).max_by_key(|e| e.seq) {
        Some(active) => Some((slots[((active.seq - 1) as usize) % slots.len()], None)),
        None => default(
            "E (53) boot: ota data partition invalid, falling back to factory",
            "E (53) boot: ota data partition invalid and no factory, will try all partitions",
        ),
    }
}

#[cfg(test)]
#[path = "otadata_tests.rs"]
mod tests;
