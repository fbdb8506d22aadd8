//! The placement rule against images whose partition tables differ.

use std::path::Path;

use flashline_protocol::Chip;

use super::*;
use crate::cli::sample::{partition_entry, write_sample_with_table};
use crate::image::ImageSource;
use crate::provision::NvsTarget;

fn factory() -> [u8; 32] {
    partition_entry("factory", 0, 0, 0x10000, 0x100000)
}

fn nvs(label: &str, offset: u32, size: u32) -> [u8; 32] {
    partition_entry(label, 1, 2, offset, size)
}

/// A sample image for `chip` in `dir/NAME` whose table holds `entries`.
fn image(dir: &Path, name: &str, chip: Chip, entries: &[[u8; 32]]) -> GoldenImage {
    let manifest = write_sample_with_table(&dir.join(name), chip, 16 * 1024, None, entries).unwrap();
    GoldenImage::load(&ImageSource::Manifest(manifest)).unwrap()
}

fn fixed(offset: u32, size: u32) -> NvsPlacement {
    NvsPlacement::Fixed { offset, size }
}

fn from_table(label: Option<&str>) -> NvsPlacement {
    NvsPlacement::FromTable { label: label.map(str::to_owned), table_offset: 0x8000 }
}

/// What, the placement, the images, and the places or a part of the error.
type Case<'a> = (&'static str, NvsPlacement, Vec<PlacedImage<'a>>, Result<Vec<NvsPlace>, &'static str>);

#[test]
fn each_image_places_the_partition_by_its_own_table_or_all_must_agree() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let a = image(d, "a", Chip::Esp32, &[nvs("nvs", 0x9000, 0x6000), factory()]);
    let c = image(d, "c", Chip::Esp32C3, &[nvs("nvs", 0xC000, 0x4000), factory()]);
    let plain = image(d, "plain", Chip::Esp32S3, &[factory()]);
    let two =
        image(d, "two", Chip::Esp32C6, &[nvs("nvs", 0x9000, 0x6000), nvs("factory_nvs", 0x3F0000, 0x6000), factory()]);
    let at = |chip, name, image| PlacedImage { chip: Some(chip), name, image };
    let (a, c, plain, two) = (
        at(Chip::Esp32, "a.toml", &a),
        at(Chip::Esp32C3, "c.toml", &c),
        at(Chip::Esp32S3, "plain.toml", &plain),
        at(Chip::Esp32C6, "two.toml", &two),
    );
    let cases: Vec<Case<'_>> = vec![
        ("own tables", from_table(None), vec![a, c], Ok(vec![NvsPlace { chip: Some(Chip::Esp32), offset: 0x9000, size: 0x6000 }, NvsPlace { chip: Some(Chip::Esp32C3), offset: 0xC000, size: 0x4000 }])),
        ("fixed, the first table's", fixed(0x9000, 0x6000), vec![a, c], Err("the ESP32-C3 image c.toml: offset 0x9000 and size 0x6000 are not an NVS partition of the image's partition table at 0x8000 (its NVS partitions: 0xc000 size 0x4000)")),
        ("fixed, the second table's", fixed(0xC000, 0x4000), vec![a, c], Err("the ESP32 image a.toml: offset 0xc000")),
        ("fixed, no NVS in the table", fixed(0x9000, 0x6000), vec![a, plain], Ok(vec![NvsPlace { chip: Some(Chip::Esp32), offset: 0x9000, size: 0x6000 }, NvsPlace { chip: Some(Chip::Esp32S3), offset: 0x9000, size: 0x6000 }])),
        ("fixed, one of two NVS partitions", fixed(0x3F0000, 0x6000), vec![two], Ok(vec![NvsPlace { chip: Some(Chip::Esp32C6), offset: 0x3F0000, size: 0x6000 }])),
        ("fixed over the application", fixed(0x12000, 0x6000), vec![plain], Err("the ESP32-S3 image plain.toml: the NVS partition 0x12000..0x18000 overlaps the image's region at 0x10000")),
        ("fixed over the table", fixed(0x8000, 0x3000), vec![plain], Err("overlaps the image's region at 0x8000..0x8c00")),
        ("table without NVS", from_table(None), vec![a, plain], Err("the ESP32-S3 image plain.toml: partition table at 0x8000")),
        ("label only in one", from_table(Some("factory_nvs")), vec![two, a], Err("the ESP32 image a.toml: the partition table has no partition labelled \"factory_nvs\"")),
    ];
    for (what, placement, images, want) in cases {
        let got = place(&placement, &images).map_err(|e| e.to_string());
        match (&got, want) {
            (Ok(places), Ok(want)) => assert_eq!(places, &want, "{what}"),
            (Err(e), Err(want)) => {
                assert!(e.starts_with("[provision.nvs] against the ") && e.contains(want), "{what}: {e}")
            }
            _ => panic!("{what}: {got:?}"),
        }
    }
}

#[test]
fn a_board_gets_the_place_of_its_chips_image() {
    let data =
        crate::provision::NvsData::new("nvs.csv".into(), "key,type,encoding,value\nf,namespace,,\n".into(), None);
    let place = |chip, offset| NvsPlace { chip, offset, size: 0x6000 };
    let several = NvsTarget {
        data: data.clone(),
        places: vec![place(Some(Chip::Esp32), 0x9000), place(Some(Chip::Esp32C3), 0xC000)],
    };
    assert_eq!(several.place_for(Chip::Esp32C3).map(|p| p.offset), Some(0xC000));
    assert_eq!(several.place_for(Chip::Esp32).map(|p| p.offset), Some(0x9000));
    assert_eq!(several.place_for(Chip::Esp32S3), None);
    let any = NvsTarget { data, places: vec![place(None, 0x9000)] };
    assert_eq!(any.place_for(Chip::Esp8266).map(|p| p.offset), Some(0x9000));
}
