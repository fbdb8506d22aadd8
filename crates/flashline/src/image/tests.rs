use std::fs;
use std::path::{Path, PathBuf};

use flashline_protocol::Chip;
use tempfile::TempDir;

use super::*;
use crate::config::types::{ByteSize, Offset};

/// An ESP image header as the bootloader starts: magic, segment count, flash mode and
/// size/freq, entry point, then the 16-byte extended header with the chip id at 12.
fn bootloader(chip_id: u16, len: usize) -> Vec<u8> {
    let mut b = vec![0xE9, 3, 2, 0x20, 0x00, 0x10, 0x08, 0x40, 0xEE, 0, 0, 0];
    b.extend_from_slice(&chip_id.to_le_bytes());
    b.resize(len, 0x5A);
    b
}

struct Fixture {
    dir: TempDir,
}

impl Fixture {
    fn new() -> Fixture {
        Fixture { dir: tempfile::tempdir().unwrap() }
    }

    fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    fn write(&self, rel: &str, bytes: &[u8]) -> PathBuf {
        let p = self.path(rel);
        fs::create_dir_all(p.parent().unwrap()).unwrap();
        fs::write(&p, bytes).unwrap();
        p
    }

    /// A typical ESP32 build: bootloader, partition table, app (app length not a
    /// multiple of 4, to exercise padding).
    fn esp32_build(&self) {
        self.write("build/bootloader/bootloader.bin", &bootloader(0, 0x4000));
        self.write("build/partition_table/partition-table.bin", &[0xAA; 0xC00]);
        self.write("build/app.bin", &[0x11; 0x2001]);
    }

    fn flasher_args(&self, chip: &str) -> PathBuf {
        self.write(
            "build/flasher_args.json",
            format!(
                r#"{{
    "write_flash_args" : [ "--flash_mode", "dio", "--flash_size", "4MB", "--flash_freq", "40m" ],
    "flash_settings" : {{ "flash_mode": "dio", "flash_size": "4MB", "flash_freq": "40m" }},
    "flash_files" : {{
        "0x1000" : "bootloader/bootloader.bin",
        "0x8000" : "partition_table/partition-table.bin",
        "0x10000" : "app.bin"
    }},
    "bootloader" : {{ "offset" : "0x1000", "file" : "bootloader/bootloader.bin", "encrypted" : "false" }},
    "app" : {{ "offset" : "0x10000", "file" : "app.bin", "encrypted" : "false" }},
    "partition-table" : {{ "offset" : "0x8000", "file" : "partition_table/partition-table.bin", "encrypted" : "false" }},
    "extra_esptool_args" : {{ "after" : "hard_reset", "before" : "default_reset", "stub" : true, "chip" : "{chip}" }}
}}"#
            )
            .as_bytes(),
        )
    }

    fn manifest(&self, body: &str) -> PathBuf {
        self.write("build/manifest.toml", body.as_bytes())
    }
}

const MANIFEST: &str = r#"
format = 1
chip = "esp32"
flash_size = "4MB"

[[region]]
offset = "0x10000"
file = "app.bin"

[[region]]
offset = 4096
file = "bootloader/bootloader.bin"

[[region]]
offset = "0x8000"
file = "partition_table/partition-table.bin"
"#;

/// Computed independently with the Python one-liner in `canonical_digest`'s docs.
const ESP32_BUILD_DIGEST: &str = "1b045c75f74b6425888da62284cb52a484ad4199300e9cbba17793fccfcadc98";

#[test]
fn manifest_and_flasher_args_describe_the_same_image() {
    let f = Fixture::new();
    f.esp32_build();
    let from_json = GoldenImage::load(&ImageSource::FlasherArgs(f.flasher_args("esp32"))).unwrap();
    let from_manifest = GoldenImage::load(&ImageSource::Manifest(f.manifest(MANIFEST))).unwrap();
    assert_eq!(from_json.sha256(), from_manifest.sha256());
    assert_eq!(from_json.sha256().to_string(), ESP32_BUILD_DIGEST);
    let offsets: Vec<u32> = from_json.regions().iter().map(|r| r.offset).collect();
    assert_eq!(offsets, [0x1000, 0x8000, 0x10000], "sorted by offset");
    let app = &from_json.regions()[2];
    assert_eq!((app.file_len, app.data.len()), (0x2001, 0x2004), "padded to 4 with 0xFF");
    assert_eq!(&app.data[0x2001..], &[0xFF; 3]);
    assert_eq!(from_json.end(), 0x12004);
    assert_eq!(from_json.declared_chip(), Some("esp32"));
    assert_eq!(from_json.declared_flash_size(), Some(4 << 20));
    from_json.check_chip(Chip::Esp32).unwrap();
    from_json.check_fits(4 << 20).unwrap();
}

#[test]
fn merged_bin_sits_at_zero() {
    let f = Fixture::new();
    let mut merged = vec![0xFF; 0x1000];
    merged.extend(bootloader(0, 0x100));
    let p = f.write("merged.bin", &merged);
    let img = GoldenImage::load(&ImageSource::MergedBin(p)).unwrap();
    assert_eq!(img.regions().len(), 1);
    assert_eq!(img.regions()[0].offset, 0);
    img.check_chip(Chip::Esp32).unwrap();
    // An ESP32-S3 looks for its bootloader at 0x0 and finds padding; the ESP32 header at
    // 0x1000 names the chip the image was built for.
    let err = img.check_chip(Chip::Esp32S3).unwrap_err();
    assert!(matches!(err, ImageError::ChipMismatch { expected: Chip::Esp32S3, .. }), "{err}");
    assert!(err.to_string().contains("ESP32 (bootloader header chip id 0 at 0x1000)"), "{err}");
    // Padding at 0x0 and no other chip's header: not a bootloader at all.
    let p = f.write("blank.bin", &[0xFF; 0x3000]);
    let err = GoldenImage::load(&ImageSource::MergedBin(p)).unwrap().check_chip(Chip::Esp32S3).unwrap_err();
    assert!(matches!(err, ImageError::NoBootloaderHeader { offset: 0, found: 0xFF, .. }), "{err}");
}

#[test]
fn pin_mismatch_names_both_digests() {
    let f = Fixture::new();
    f.esp32_build();
    let cfg = crate::config::ImageConfig {
        source: ImageSource::FlasherArgs(f.flasher_args("esp32")),
        sha256: Sha256Digest([0xAB; 32]),
        chip: Chip::Esp32,
        min_flash_size: Some(4 << 20),
        allow_outside: false,
    };
    let msg = GoldenImage::load_pinned(&cfg).unwrap_err().to_string();
    assert!(msg.starts_with("golden image changed on disk: expected sha256 abab"), "{msg}");
    assert!(msg.contains(&format!("found {ESP32_BUILD_DIGEST}")), "{msg}");
    let ok = crate::config::ImageConfig { sha256: ESP32_BUILD_DIGEST.parse().unwrap(), ..cfg.clone() };
    GoldenImage::load_pinned(&ok).unwrap();
    let small = crate::config::ImageConfig { min_flash_size: Some(64 << 10), ..ok };
    let err = GoldenImage::load_pinned(&small).unwrap_err();
    assert!(matches!(err, ImageError::TooLarge { end: 0x12004, flash_size: 0x10000, .. }), "{err}");
    assert!(err.to_string().contains("flash holds 64KB"), "{err}");
    assert_eq!(err.exit_code(), crate::exit::Exit::Image);
}

#[test]
fn wrong_chip_is_refused() {
    let f = Fixture::new();
    f.esp32_build();
    let img = GoldenImage::load(&ImageSource::FlasherArgs(f.flasher_args("esp32s3"))).unwrap();
    let msg = img.check_chip(Chip::Esp32).unwrap_err().to_string();
    assert!(msg.contains("is for esp32s3, but the config expects ESP32"), "{msg}");

    // Declared right, but the bootloader was built for an ESP32-S2 (chip id 2).
    f.write("build/bootloader/bootloader.bin", &bootloader(2, 0x4000));
    let img = GoldenImage::load(&ImageSource::FlasherArgs(f.flasher_args("esp32"))).unwrap();
    let msg = img.check_chip(Chip::Esp32).unwrap_err().to_string();
    assert!(msg.contains("ESP32-S2 (bootloader header chip id 2)"), "{msg}");
    assert!(msg.contains("bootloader.bin"), "{msg}");

    // ESP8266 has no chip id: magic is enough, 0xEA (v2 image) included.
    let p = f.write("esp8266.bin", &[0xEA, 4, 0, 0x20, 0, 0, 0, 0]);
    GoldenImage::load(&ImageSource::MergedBin(p)).unwrap().check_chip(Chip::Esp8266).unwrap();
}

/// Loading a golden image for a station refuses one whose bootloader was built for another
/// chip, naming the chip id in its header, for every chip a station can be set up for.
#[test]
fn a_station_refuses_an_image_built_for_another_chip_at_load() {
    let f = Fixture::new();
    for (built_for, station) in
        [(Chip::Esp32, Chip::Esp32C3), (Chip::Esp32S3, Chip::Esp32P4), (Chip::Esp32C5, Chip::Esp32S2)]
    {
        let boot = built_for.spec().bootloader_offset as usize;
        let id = built_for.spec().image_chip_id.unwrap();
        let mut merged = vec![0xFF; boot];
        merged.extend(bootloader(id as u16, 0x3000));
        let p = f.write(&format!("{}-merged.bin", built_for.file_name()), &merged);
        let source = ImageSource::MergedBin(p);
        let sha256 = GoldenImage::load(&source).unwrap().sha256();
        let cfg =
            crate::config::ImageConfig { source, sha256, chip: station, min_flash_size: None, allow_outside: false };
        let msg = GoldenImage::load_pinned(&cfg).unwrap_err().to_string();
        let named = format!("{built_for} (bootloader header chip id {id} at 0x{boot:x})");
        assert!(msg.contains(&named) && msg.contains(&station.to_string()), "{station}: {msg}");
        GoldenImage::load_pinned(&crate::config::ImageConfig { chip: built_for, ..cfg }).unwrap();
    }
}

#[test]
fn layout_errors_name_the_files() {
    let f = Fixture::new();
    f.esp32_build();
    let load = |body: &str| GoldenImage::load(&ImageSource::Manifest(f.manifest(body)));
    let region = |off: &str, file: &str| format!("[[region]]\noffset = \"{off}\"\nfile = \"{file}\"\n");
    let head = "format = 1\nchip = \"esp32\"\n";

    let err = load(&format!("{head}{}", region("0x1000", "nope.bin"))).unwrap_err();
    assert!(matches!(&err, ImageError::Missing { file, .. } if file.ends_with("build/nope.bin")), "{err}");
    assert!(err.to_string().contains("nope.bin is missing (named in "), "{err}");
    assert!(err.to_string().ends_with("build/manifest.toml)"), "{err}");

    f.write("build/empty.bin", b"");
    let err = load(&format!("{head}{}", region("0x1000", "empty.bin"))).unwrap_err();
    assert!(matches!(&err, ImageError::EmptyFile { file } if file.ends_with("empty.bin")), "{err}");

    let err = load(&format!("{head}{}{}", region("0x1000", "bootloader/bootloader.bin"), region("0x4000", "app.bin")))
        .unwrap_err();
    assert!(matches!(err, ImageError::Overlap { first_range: (0x1000, 0x5000), second_range: (0x4000, 0x6004), .. }));
    assert!(err.to_string().contains("bootloader.bin (0x1000..0x5000) overlaps"), "{err}");

    let err = load(&format!(
        "{head}{}{}",
        region("0x8000", "partition_table/partition-table.bin"),
        region("0x8c00", "app.bin")
    ))
    .unwrap_err();
    assert!(matches!(err, ImageError::SharedSector { sector: 0x8000, .. }), "{err}");

    let err = load(&format!("{head}{}", region("0x1002", "app.bin"))).unwrap_err();
    assert!(matches!(err, ImageError::Misaligned { offset: 0x1002, .. }), "{err}");

    let err = load(head).unwrap_err();
    assert!(
        matches!(&err, ImageError::Malformed { message, .. } if message.contains("missing field `region`")),
        "{err}"
    );

    let err = load(&format!("{head}colour = 1\n{}", region("0x1000", "app.bin"))).unwrap_err();
    assert!(err.to_string().contains("line 3, column 1: unknown field `colour`"), "{err}");

    let err = load(&format!("format = 2\nchip = \"esp32\"\n{}", region("0x1000", "app.bin"))).unwrap_err();
    assert!(err.to_string().contains("manifest format 2 is not supported"), "{err}");
}

#[test]
fn manifest_checks_file_digest_and_length() {
    let f = Fixture::new();
    f.esp32_build();
    let app = fs::read(f.path("build/app.bin")).unwrap();
    let good = Sha256Digest::of(&app);
    let body = |sha: &Sha256Digest, len: u64| {
        format!("format = 1\nchip = \"esp32\"\n[[region]]\noffset = \"0x10000\"\nfile = \"app.bin\"\nsha256 = \"{sha}\"\nlength = {len}\n")
    };
    GoldenImage::load(&ImageSource::Manifest(f.manifest(&body(&good, 0x2001)))).unwrap();
    let err = GoldenImage::load(&ImageSource::Manifest(f.manifest(&body(&good, 0x2000)))).unwrap_err();
    assert!(matches!(err, ImageError::FileLength { expected: 0x2000, found: 0x2001, .. }), "{err}");
    let err = GoldenImage::load(&ImageSource::Manifest(f.manifest(&body(&Sha256Digest([0; 32]), 0x2001)))).unwrap_err();
    assert!(err.to_string().contains("app.bin is corrupt"), "{err}");
}

#[test]
fn flasher_args_errors() {
    let f = Fixture::new();
    let p = f.write("build/flasher_args.json", b"{ \"flash_files\": { \"0x1000\": ");
    let err = GoldenImage::load(&ImageSource::FlasherArgs(p.clone())).unwrap_err();
    assert!(err.to_string().contains("not a valid flasher_args.json (line 1"), "{err}");
    fs::write(&p, br#"{ "flash_files": { "0xZZ": "a.bin" } }"#).unwrap();
    let err = GoldenImage::load(&ImageSource::FlasherArgs(p.clone())).unwrap_err();
    assert!(err.to_string().contains("flash_files: '0xZZ' is not a size"), "{err}");
    fs::write(&p, br#"{ "flash_files": {} }"#).unwrap();
    assert!(matches!(GoldenImage::load(&ImageSource::FlasherArgs(p)).unwrap_err(), ImageError::Empty { .. }));
    let err = GoldenImage::load(&ImageSource::FlasherArgs(f.path("absent/flasher_args.json"))).unwrap_err();
    assert!(matches!(err, ImageError::Missing { from: None, .. }), "{err}");
    assert!(err.to_string().ends_with("absent/flasher_args.json is missing"), "{err}");
}

#[test]
fn manifest_round_trips_for_capture() {
    let m = Manifest {
        format: manifest::FORMAT,
        chip: Chip::Esp32,
        flash_size: Some(ByteSize(4 << 20)),
        capture: Some(CaptureInfo {
            source_mac: Some("24:0a:c4:12:34:56".parse().unwrap()),
            date: Some("2026-11-22T01:02:03Z".into()),
            read_length: Some(ByteSize(4 << 20)),
        }),
        regions: vec![ManifestRegion {
            offset: Offset(0),
            file: PathBuf::from("flash.bin"),
            sha256: Some(Sha256Digest::of(b"x")),
            length: Some(1),
        }],
    };
    let text = m.to_toml();
    assert!(text.contains("offset = \"0x0\""), "{text}");
    assert!(text.contains("source_mac = \"24:0a:c4:12:34:56\""), "{text}");
    assert_eq!(Manifest::parse(&text, Path::new("m.toml")).unwrap(), m);
}
