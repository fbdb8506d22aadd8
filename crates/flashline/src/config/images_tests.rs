//! `[image]` and `[images.CHIP]`: one image per chip family, one meaning.

use std::path::Path;

use flashline_protocol::Chip;

use super::tests::{error, minimal, DIGEST};
use super::*;
use crate::image::ImageSource;

fn images(tables: &str) -> String {
    format!("station = \"st1\"\n{tables}")
}

fn table(chip: &str, extra: &str) -> String {
    format!("[images.{chip}]\nmanifest = \"{chip}/manifest.toml\"\nsha256 = \"{DIGEST}\"\n{extra}")
}

fn parse(text: &str) -> Config {
    Config::parse(text, Path::new("/etc/flashline/flashline.toml")).unwrap_or_else(|e| panic!("{e}"))
}

/// `[image]` is a station of one chip, as it always was.
#[test]
fn one_image_table_is_one_chip() {
    let c = parse(&minimal());
    assert_eq!(c.images.len(), 1);
    assert_eq!(c.images.chips(), vec![Chip::Esp32]);
    assert_eq!(c.images.single().map(|i| i.chip), Some(Chip::Esp32));
}

/// One table per chip, named by it (any spelling `Chip` parses), in chip order; each
/// with its own source, pin and keys; a `chip` key that agrees is accepted.
#[test]
fn one_table_per_chip_family() {
    let text = images(&format!(
        "{}{}{}",
        table("esp32s3", "min_flash_size = \"8MB\"\n"),
        table("esp32", ""),
        "[images.ESP32-C3]\nmerged_bin = \"c3.bin\"\nsha256 = \"{DIGEST}\"\nchip = \"esp32c3\"\nallow_outside = true\n"
            .replace("{DIGEST}", DIGEST)
    ));
    let c = parse(&text);
    assert_eq!(c.images.chips(), vec![Chip::Esp32, Chip::Esp32S3, Chip::Esp32C3]);
    assert!(c.images.single().is_none());
    let s3 = c.images.get(Chip::Esp32S3).unwrap();
    assert_eq!(s3.source, ImageSource::Manifest("/etc/flashline/esp32s3/manifest.toml".into()));
    assert_eq!(s3.min_flash_size, Some(8 << 20));
    let c3 = c.images.get(Chip::Esp32C3).unwrap();
    assert_eq!(c3.source, ImageSource::MergedBin("/etc/flashline/c3.bin".into()));
    assert!(c3.allow_outside && !s3.allow_outside);
    assert_eq!(c.images.get(Chip::Esp32).unwrap().min_flash_size, None);
    assert!(c.images.get(Chip::Esp8266).is_none());
}

/// Each wrong form is named at its place, with what to do.
#[test]
fn wrong_image_tables_are_refused_precisely() {
    let e = error(&format!("{}{}", minimal(), table("esp32s3", "")));
    assert!(e.contains(":6:2: [images]: [image] is already set: give one [image] table"), "{e}");

    let e = error(&images(&table("esp33", "")));
    assert!(e.contains(":2:9: [images.esp33]: ") && e.contains("name the table after a chip family"), "{e}");

    let e = error(&images(&format!("{}{}", table("esp32s3", ""), table("ESP32-S3", ""))));
    assert!(e.contains("a second image for ESP32-S3 ([images.ESP32-S3] is the first)"), "{e}");

    let e = error(&images(&table("esp32s3", "chip = \"esp32c3\"\n")));
    assert!(e.contains(":5:8: [images.esp32s3] chip: the table is for ESP32-S3 but its chip key says ESP32-C3"), "{e}");

    let e = error(&images(&table("esp32", "merged_bin = \"x.bin\"\n")));
    assert!(e.contains("[images.esp32] merged_bin: manifest is already set"), "{e}");

    let e = error(&images(
        "[images.esp32]\nsha256 = \"0000000000000000000000000000000000000000000000000000000000000000\"\n",
    ));
    assert!(e.contains(":2:1: [images.esp32]: say where the golden image is"), "{e}");

    let e = error(&images("[images]\n"));
    assert!(e.contains("[images]: no image: add an [images.CHIP] table per chip family"), "{e}");

    let e = error(&minimal().replace("chip = \"esp32\"\n", ""));
    assert!(e.contains("[image]: say which chip family the image is for"), "{e}");

    let e = error(&images(&table("esp32", "colour = \"red\"\n")));
    assert!(e.contains("unknown field `colour`"), "{e}");
}
