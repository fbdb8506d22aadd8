//! The station's golden images, one per chip family: which one a board gets is decided at
//! identify, by the chip the board turns out to be.
//!
//! A station for one chip holds one image, and its boards are held to that chip by the
//! session itself (`FlasherConfig::expect_chip`: a board of another chip is refused at
//! identify naming both). A station for several chips lets any chip be identified and
//! refuses a board whose chip has no image ([`NoImageForChip`]), naming the board's chip
//! and the chips it has images for.
//!
//! Before identify a row cannot name the image yet: it names the set
//! ([`GoldenSet::row_name`], [`GoldenSet::row_sha256`]) and is given the chip's image at
//! identify.

use std::fmt;
use std::sync::Arc;

use flashline_protocol::Chip;
use sha2::{Digest, Sha256};

use super::golden::Golden;
use crate::config::Images;
use crate::image::ImageError;

/// A board whose chip the station has no image for.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "this board is an {board}, and this station has images for {} only: wrong board on this port, or add an \
     [images.{}] table for it",
    ChipList(have),
    board.file_name()
)]
pub struct NoImageForChip {
    pub board: Chip,
    pub have: Vec<Chip>,
}

/// Chips as the operator reads them: "ESP32, ESP32-S3 and ESP8266".
struct ChipList<'a>(&'a [Chip]);

impl fmt::Display for ChipList<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, c) in self.0.iter().enumerate() {
            let sep = match i {
                0 => "",
                _ if i + 1 == self.0.len() => " and ",
                _ => ", ",
            };
            write!(f, "{sep}{c}")?;
        }
        Ok(())
    }
}

/// One prepared image per chip family (at least one), in chip order.
#[derive(Debug)]
pub struct GoldenSet {
    images: Vec<Arc<Golden>>,
}

impl GoldenSet {
    /// A set of one image (a one-chip station, a one-off flash).
    pub fn one(golden: Arc<Golden>) -> GoldenSet {
        GoldenSet { images: vec![golden] }
    }

    /// Loads, checks and prepares every image `images` names (each against its chip: a
    /// bootloader built for another chip is refused naming the chip its header says).
    pub fn load(images: &Images) -> Result<GoldenSet, ImageError> {
        let images = images.iter().map(|cfg| Golden::load(cfg).map(Arc::new)).collect::<Result<Vec<_>, _>>()?;
        Ok(GoldenSet { images })
    }

    /// The image a board of `chip` gets. One image without a chip (a one-off flash that
    /// names none) takes any board.
    pub fn for_chip(&self, chip: Chip) -> Result<&Arc<Golden>, NoImageForChip> {
        if let [one] = self.images.as_slice() {
            if one.chip.is_none_or(|c| c == chip) {
                return Ok(one);
            }
        }
        self.images
            .iter()
            .find(|g| g.chip == Some(chip))
            .ok_or_else(|| NoImageForChip { board: chip, have: self.chips() })
    }

    /// The chip every board must be, for the session to hold boards to before it
    /// identifies them: the image's chip when there is one image, else none (the choice
    /// comes after identify).
    pub fn expect_chip(&self) -> Option<Chip> {
        self.single().and_then(|g| g.chip)
    }

    /// The chips a session takes when there are several images (a board of any other is
    /// refused right after identify, before the stub); `None` with one image
    /// ([`Self::expect_chip`] holds boards to it).
    pub fn accept(&self) -> Option<Vec<Chip>> {
        (self.images.len() > 1).then(|| self.chips())
    }

    /// The chip families with an image, in order.
    pub fn chips(&self) -> Vec<Chip> {
        self.images.iter().filter_map(|g| g.chip).collect()
    }

    pub fn iter(&self) -> std::slice::Iter<'_, Arc<Golden>> {
        self.images.iter()
    }

    /// The image when there is exactly one.
    pub fn single(&self) -> Option<&Arc<Golden>> {
        match self.images.as_slice() {
            [one] => Some(one),
            _ => None,
        }
    }

    pub fn len(&self) -> usize {
        self.images.len()
    }

    /// Never true: a set holds at least one image.
    pub fn is_empty(&self) -> bool {
        self.images.is_empty()
    }

    /// The image name an audit row has before identify: the image's own name for one
    /// image, else "chosen at identify: esp32, esp32s3" (the row then gets the chip's).
    pub fn row_name(&self) -> String {
        match self.single() {
            Some(one) => one.name.clone(),
            None => {
                let chips: Vec<&str> = self.chips().into_iter().map(Chip::file_name).collect();
                format!("chosen at identify: {}", chips.join(", "))
            }
        }
    }

    /// The SHA-256 an audit row has before identify: the image's for one image, else the
    /// set's: SHA-256 of one line `CHIP SHA256\n` per image, in chip order (what a row
    /// that never reached identify was offered).
    pub fn row_sha256(&self) -> String {
        match self.single() {
            Some(one) => one.sha256_hex(),
            None => {
                let mut h = Sha256::new();
                for g in &self.images {
                    let chip = g.chip.map_or("any", Chip::file_name);
                    h.update(format!("{chip} {}\n", g.sha256_hex()));
                }
                hex::encode(h.finalize())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::image::{GoldenImage, ImageSource};

    fn golden(dir: &std::path::Path, chip: Option<Chip>, byte: u8) -> Arc<Golden> {
        let bin = dir.join(format!("app{byte}.bin"));
        std::fs::write(&bin, [byte; 4096]).unwrap();
        let image = GoldenImage::load(&ImageSource::MergedBin(bin)).unwrap();
        Arc::new(Golden::from_image(image, chip, None).unwrap())
    }

    fn set(images: Vec<Arc<Golden>>) -> GoldenSet {
        GoldenSet { images }
    }

    /// Each chip gets its own image; a chip without one is refused naming it and the
    /// chips there are images for; one image without a chip takes any board.
    #[test]
    fn the_board_chip_picks_the_image() {
        let dir = tempfile::tempdir().unwrap();
        let (a, b) = (golden(dir.path(), Some(Chip::Esp32), 1), golden(dir.path(), Some(Chip::Esp32S3), 2));
        let two = set(vec![a.clone(), b.clone()]);
        assert!(Arc::ptr_eq(two.for_chip(Chip::Esp32).unwrap(), &a));
        assert!(Arc::ptr_eq(two.for_chip(Chip::Esp32S3).unwrap(), &b));
        let e = two.for_chip(Chip::Esp32C6).unwrap_err();
        assert_eq!(e, NoImageForChip { board: Chip::Esp32C6, have: vec![Chip::Esp32, Chip::Esp32S3] });
        let msg = e.to_string();
        assert!(msg.contains("ESP32-C6") && msg.contains("ESP32 and ESP32-S3 only"), "{msg}");
        assert!(msg.contains("[images.esp32c6]"), "{msg}");
        assert_eq!(two.expect_chip(), None);
        assert_eq!(two.accept(), Some(vec![Chip::Esp32, Chip::Esp32S3]));

        let one = GoldenSet::one(a.clone());
        assert_eq!(one.expect_chip(), Some(Chip::Esp32));
        assert_eq!(one.accept(), None);
        assert!(one.for_chip(Chip::Esp8266).is_err());
        let any = GoldenSet::one(golden(dir.path(), None, 3));
        assert!(any.for_chip(Chip::Esp8266).is_ok() && any.for_chip(Chip::Esp32P4).is_ok());
    }

    /// One image: the row names it from the start. Several: the row names the set, and
    /// the set's digest changes with any image's.
    #[test]
    fn a_row_before_identify_names_the_set() {
        let dir = tempfile::tempdir().unwrap();
        let a = golden(dir.path(), Some(Chip::Esp32), 1);
        let one = GoldenSet::one(a.clone());
        assert_eq!((one.row_name(), one.row_sha256()), (a.name.clone(), a.sha256_hex()));

        let two = set(vec![a.clone(), golden(dir.path(), Some(Chip::Esp8266), 2)]);
        assert_eq!(two.row_name(), "chosen at identify: esp32, esp8266");
        let other = set(vec![a.clone(), golden(dir.path(), Some(Chip::Esp8266), 3)]);
        assert_eq!(two.row_sha256().len(), 64);
        assert_ne!(two.row_sha256(), other.row_sha256());
        assert_ne!(two.row_sha256(), a.sha256_hex());
    }

    #[test]
    fn chip_lists_read_as_prose() {
        assert_eq!(ChipList(&[Chip::Esp32]).to_string(), "ESP32");
        assert_eq!(ChipList(&[Chip::Esp32, Chip::Esp8266]).to_string(), "ESP32 and ESP8266");
        assert_eq!(ChipList(&[Chip::Esp32, Chip::Esp32S3, Chip::Esp8266]).to_string(), "ESP32, ESP32-S3 and ESP8266");
    }
}
