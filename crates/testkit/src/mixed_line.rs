//! The mixed line of the mixed-chip checks (`tests/station_mixed.rs` and `line_scale
//! --mixed`): 32 boards of four chip families in one station, ESP32 and ESP8266 on UART
//! bridges, ESP32-S3 and ESP32-C3 mostly on their chip's own USB-Serial/JTAG port (16 of
//! the 32 on native USB). One table, so the test and the benchmark run the same line.

use std::fmt::Write;
use std::path::Path;

use flashline_protocol::Chip;

/// One family of the line: its chip, and how many of its boards are on a UART bridge and
/// on the chip's own USB port.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Family {
    pub chip: Chip,
    pub uart: u32,
    pub usb: u32,
}

impl Family {
    pub const fn boards(&self) -> u32 {
        self.uart + self.usb
    }
}

/// 6 + 6 + 10 + 10 = 32 boards, 16 of them on native USB.
pub const LINE: [Family; 4] = [
    Family { chip: Chip::Esp32, uart: 6, usb: 0 },
    Family { chip: Chip::Esp8266, uart: 6, usb: 0 },
    Family { chip: Chip::Esp32S3, uart: 2, usb: 8 },
    Family { chip: Chip::Esp32C3, uart: 2, usb: 8 },
];

/// Boards on the whole line.
pub const LINE_BOARDS: u32 = {
    let mut n = 0;
    let mut i = 0;
    while i < LINE.len() {
        n += LINE[i].boards();
        i += 1;
    }
    n
};

/// The chip family an audit row's chip description names ("ESP32-S3 (QFN56) (revision
/// v0.2)" → ESP32-S3, "ESP32-D0WD-V3 (revision v3.0)" → ESP32, "ESP8266EX" → ESP8266):
/// the longest family name it starts with.
pub fn family_of(description: &str) -> Option<Chip> {
    Chip::ALL.into_iter().filter(|c| description.starts_with(&c.to_string())).max_by_key(|c| c.to_string().len())
}

/// The `[images.CHIP]` tables of a station config giving each chip its manifest and the
/// SHA-256 pinned for it.
pub fn images_tables<'a>(images: impl IntoIterator<Item = (Chip, &'a Path, String)>) -> String {
    let mut out = String::new();
    for (chip, manifest, sha256) in images {
        let _ = write!(
            out,
            "[images.{}]\nmanifest = \"{}\"\nsha256 = \"{sha256}\"\n\n",
            chip.file_name(),
            manifest.display()
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_line_is_thirty_two_boards_half_on_native_usb() {
        assert_eq!(LINE_BOARDS, 32);
        assert_eq!(LINE.iter().map(|f| f.usb).sum::<u32>(), 16);
        for f in &LINE {
            assert_eq!(f.usb > 0, f.chip.spec().usb_serial_jtag.is_some(), "{}", f.chip);
        }
    }

    #[test]
    fn family_of_takes_the_longest_name() {
        assert_eq!(family_of("ESP32-S3 (QFN56) (revision v0.2)"), Some(Chip::Esp32S3));
        assert_eq!(family_of("ESP32-D0WD-V3 (revision v3.0)"), Some(Chip::Esp32));
        assert_eq!(family_of("ESP8266EX"), Some(Chip::Esp8266));
        assert_eq!(family_of("RP2040"), None);
    }

    #[test]
    fn images_tables_name_each_chip() {
        let t = images_tables([(Chip::Esp32S3, Path::new("/i/s3.toml"), "ab".repeat(32))]);
        assert_eq!(t, format!("[images.esp32s3]\nmanifest = \"/i/s3.toml\"\nsha256 = \"{}\"\n\n", "ab".repeat(32)));
    }
}
