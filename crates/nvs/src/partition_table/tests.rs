//! Tables built byte for byte as `gen_esp32part.py` writes them (`<2sBBLL16sL` entries,
//! the MD5 entry, 0xFF padding to 0xC00).

use md5::{Digest, Md5};

use super::{Partition, PartitionTable, TableError, DEFAULT_TABLE_OFFSET, MAX_TABLE_LEN};

const APP: u8 = 0x00;
const DATA: u8 = 0x01;

/// One row of a partition CSV: label, type, subtype, offset, size, flags.
type Row = (&'static str, u8, u8, u32, u32, u32);

fn entry(&(label, kind, subtype, offset, size, flags): &Row) -> [u8; 32] {
    let mut e = [0u8; 32];
    e[..2].copy_from_slice(&[0xAA, 0x50]);
    e[2] = kind;
    e[3] = subtype;
    e[4..8].copy_from_slice(&offset.to_le_bytes());
    e[8..12].copy_from_slice(&size.to_le_bytes());
    e[12..12 + label.len()].copy_from_slice(label.as_bytes());
    e[28..].copy_from_slice(&flags.to_le_bytes());
    e
}

fn table(rows: &[Row], md5: bool) -> Vec<u8> {
    let mut bytes: Vec<u8> = rows.iter().flat_map(entry).collect();
    if md5 {
        let digest = Md5::digest(&bytes);
        bytes.extend_from_slice(&[0xEB, 0xEB]);
        bytes.extend_from_slice(&[0xFF; 14]);
        bytes.extend_from_slice(&digest);
    }
    bytes.resize(MAX_TABLE_LEN, 0xFF);
    bytes
}

/// ESP-IDF's "single factory app, no OTA" table (partitions_singleapp.csv).
const SINGLE_APP: [Row; 3] = [
    ("nvs", DATA, 0x02, 0x9000, 0x6000, 0),
    ("phy_init", DATA, 0x01, 0xF000, 0x1000, 0),
    ("factory", APP, 0x00, 0x10000, 0x100000, 0),
];

/// ESP-IDF's "factory app, two OTA definitions" table (partitions_two_ota.csv).
const TWO_OTA: [Row; 6] = [
    ("nvs", DATA, 0x02, 0x9000, 0x4000, 0),
    ("otadata", DATA, 0x00, 0xD000, 0x2000, 0),
    ("phy_init", DATA, 0x01, 0xF000, 0x1000, 0),
    ("factory", APP, 0x00, 0x10000, 0x100000, 0),
    ("ota_0", APP, 0x10, 0x110000, 0x100000, 0),
    ("ota_1", APP, 0x11, 0x210000, 0x100000, 0),
];

/// The NVS partition's label, offset and size, or why there is none.
type Found = Result<(String, u32, u32), TableError>;

fn nvs_of(rows: &[Row], md5: bool) -> Found {
    let t = PartitionTable::parse(&table(rows, md5))?;
    assert_eq!(t.has_md5, md5);
    t.nvs().map(|p| (p.label.clone(), p.offset, p.size))
}

#[test]
fn finds_the_nvs_partition() {
    let cases: [(&[Row], Found); 5] = [
        (&SINGLE_APP, Ok(("nvs".into(), 0x9000, 0x6000))),
        (&TWO_OTA, Ok(("nvs".into(), 0x9000, 0x4000))),
        (
            &[("config", DATA, 0x02, 0x9000, 0x3000, 0), ("factory", APP, 0, 0x10000, 0x10000, 0)],
            Ok(("config".into(), 0x9000, 0x3000)),
        ),
        (
            &[("cal", DATA, 0x02, 0x9000, 0x3000, 0), ("nvs", DATA, 0x02, 0xC000, 0x4000, 0)],
            Ok(("nvs".into(), 0xC000, 0x4000)),
        ),
        (
            &[("a", DATA, 0x02, 0x9000, 0x3000, 0), ("b", DATA, 0x02, 0xC000, 0x3000, 0)],
            Err(TableError::SeveralNvs { labels: vec!["a".into(), "b".into()] }),
        ),
    ];
    for (rows, want) in cases {
        for md5 in [true, false] {
            assert_eq!(nvs_of(rows, md5), want.clone(), "{rows:?} md5 {md5}");
        }
    }
    assert_eq!(
        nvs_of(&[("factory", APP, 0, 0x10000, 0x10000, 0), ("nvs_keys", DATA, 0x04, 0x9000, 0x1000, 0)], true),
        Err(TableError::NoNvs { labels: vec!["factory".into(), "nvs_keys".into()] })
    );
}

#[test]
fn reads_every_field() {
    let rows: [Row; 2] =
        [("sixteen_chars_xy", DATA, 0x02, 0x9000, 0x2000, 0b10), ("secure", DATA, 0x81, 0x20000, 0x8000, 0b01)];
    let t = PartitionTable::parse(&table(&rows, true)).unwrap();
    assert_eq!(
        t.partitions[0],
        Partition {
            label: "sixteen_chars_xy".into(),
            kind: DATA,
            subtype: 0x02,
            offset: 0x9000,
            size: 0x2000,
            flags: 2
        }
    );
    assert!(t.partitions[0].read_only() && !t.partitions[0].encrypted());
    assert!(t.partitions[1].encrypted() && !t.partitions[1].read_only() && !t.partitions[1].is_nvs());
    assert_eq!(t.by_label("secure").map(|p| p.offset), Some(0x20000));
    assert_eq!(t.by_label("nope"), None);
}

#[test]
fn refuses_damaged_tables() {
    let mut damaged = table(&SINGLE_APP, true);
    damaged[0x24] ^= 1; // offset of phy_init
    assert_eq!(PartitionTable::parse(&damaged), Err(TableError::Md5Mismatch { at: 0x60 }));
    let mut bad_magic = table(&SINGLE_APP, false);
    bad_magic[0x20] = 0x00;
    assert_eq!(PartitionTable::parse(&bad_magic), Err(TableError::BadMagic { at: 0x20, found: [0x00, 0x50] }));
    assert_eq!(PartitionTable::parse(&[0xFF; MAX_TABLE_LEN]), Err(TableError::Empty));
    let mut bad_label = table(&SINGLE_APP, false);
    bad_label[12] = 0xC3;
    bad_label[13] = 0x28;
    assert_eq!(PartitionTable::parse(&bad_label), Err(TableError::LabelNotText { at: 0 }));
}

#[test]
fn reads_the_table_inside_a_flash_image() {
    let mut image = vec![0xFFu8; 0x20000];
    image[DEFAULT_TABLE_OFFSET..DEFAULT_TABLE_OFFSET + MAX_TABLE_LEN].copy_from_slice(&table(&TWO_OTA, true));
    let t = PartitionTable::from_image(&image, DEFAULT_TABLE_OFFSET).unwrap();
    assert_eq!(t.partitions.len(), 6);
    assert_eq!(t.nvs().unwrap().size, 0x4000);
    // A table at another offset (CONFIG_PARTITION_TABLE_OFFSET=0x10000) is not at 0x8000.
    let mut moved = vec![0xFFu8; 0x20000];
    moved[0x10000..0x10000 + MAX_TABLE_LEN].copy_from_slice(&table(&SINGLE_APP, true));
    assert_eq!(PartitionTable::from_image(&moved, DEFAULT_TABLE_OFFSET), Err(TableError::Empty));
    assert_eq!(PartitionTable::from_image(&moved, 0x10000).unwrap().nvs().unwrap().offset, 0x9000);
    let mut garbage = image.clone();
    garbage[DEFAULT_TABLE_OFFSET] = 0xE9;
    assert_eq!(
        PartitionTable::from_image(&garbage, DEFAULT_TABLE_OFFSET),
        Err(TableError::BadMagic { at: DEFAULT_TABLE_OFFSET, found: [0xE9, 0x50] })
    );
    assert_eq!(
        PartitionTable::from_image(&image[..0x8010], DEFAULT_TABLE_OFFSET),
        Err(TableError::ImageTooShort { offset: 0x8000, len: 0x8010 })
    );
}
