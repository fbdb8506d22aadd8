//! Image descriptions as hostile input: region files that are devices, FIFOs, huge, or
//! outside the description's directory; regions beyond any flash; names that would drive
//! the terminal.

use std::fs;
use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};

use flashline_protocol::Chip;
use tempfile::TempDir;

use super::*;
use crate::input_file::ReadError;
use crate::text::needs_escape;

/// A build directory `dir/build` with a manifest naming `files` (offset, name as written).
struct Build {
    dir: TempDir,
}

impl Build {
    fn new() -> Build {
        let b = Build { dir: tempfile::tempdir().unwrap() };
        fs::create_dir_all(b.path("build")).unwrap();
        b
    }

    fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    fn write(&self, rel: &str, bytes: &[u8]) -> PathBuf {
        let p = self.path(rel);
        fs::write(&p, bytes).unwrap();
        p
    }

    fn manifest(&self, regions: &[(u32, &str)]) -> ImageSource {
        let mut body = String::from("format = 1\nchip = \"esp32\"\n");
        for (offset, file) in regions {
            body += &format!("[[region]]\noffset = {offset}\nfile = {}\n", toml_string(file));
        }
        ImageSource::Manifest(self.write("build/manifest.toml", body.as_bytes()))
    }

    fn flasher_args(&self, regions: &[(u32, &str)]) -> ImageSource {
        let files: serde_json::Map<String, serde_json::Value> =
            regions.iter().map(|(o, f)| (format!("0x{o:x}"), serde_json::Value::String((*f).into()))).collect();
        let text = serde_json::json!({ "flash_files": files }).to_string();
        ImageSource::FlasherArgs(self.write("build/flasher_args.json", text.as_bytes()))
    }
}

fn toml_string(s: &str) -> String {
    toml::Value::String(s.into()).to_string()
}

fn load(source: &ImageSource) -> Result<GoldenImage, ImageError> {
    GoldenImage::load(source)
}

fn assert_printable(message: &str) {
    assert!(!message.chars().any(needs_escape), "raw control characters in {message:?}");
}

#[test]
fn region_files_must_be_regular_files() {
    let b = Build::new();
    symlink("/dev/zero", b.path("build/zero.bin")).unwrap();
    nix::unistd::mkfifo(&b.path("build/fifo.bin"), nix::sys::stat::Mode::S_IRWXU).unwrap();
    fs::create_dir(b.path("build/dir.bin")).unwrap();

    // Allowed anywhere, a device is still not read (it would be read without end).
    let src = b.manifest(&[(0x10000, "zero.bin")]);
    let e = GoldenImage::load_scoped(&src, RegionScope::Anywhere).unwrap_err();
    assert!(matches!(&e, ImageError::NotRegularFile { kind: "a character device", .. }), "{e}");
    assert!(e.to_string().contains("zero.bin (named in "), "{e}");
    assert!(e.to_string().ends_with("manifest.toml) is a character device, not a regular file"), "{e}");

    // A FIFO would block the start-up forever.
    let e = load(&b.manifest(&[(0x10000, "fifo.bin")])).unwrap_err();
    assert!(matches!(&e, ImageError::NotRegularFile { kind: "a FIFO", .. }), "{e}");
    let e = load(&b.flasher_args(&[(0x10000, "dir.bin")])).unwrap_err();
    assert!(matches!(&e, ImageError::NotRegularFile { kind: "a directory", .. }), "{e}");

    // A merged bin named directly, and the description file itself, likewise.
    let e = load(&ImageSource::MergedBin(b.path("build/zero.bin"))).unwrap_err();
    assert!(matches!(&e, ImageError::NotRegularFile { from: None, .. }), "{e}");
    let e = load(&ImageSource::Manifest(b.path("build/zero.bin"))).unwrap_err();
    assert!(matches!(&e, ImageError::NotRegularFile { .. }), "{e}");
    let e = load(&ImageSource::FlasherArgs(b.path("build/fifo.bin"))).unwrap_err();
    assert!(matches!(&e, ImageError::NotRegularFile { .. }), "{e}");
    assert_eq!(e.exit_code(), crate::exit::Exit::Image);
}

#[test]
fn reads_are_bounded() {
    let b = Build::new();
    let big = fs::File::create(b.path("build/big.bin")).unwrap();
    big.set_len(u64::from(MAX_FLASH_SIZE) + 1).unwrap();
    let e = load(&b.manifest(&[(0, "big.bin")])).unwrap_err();
    assert!(matches!(e, ImageError::FileTooLarge { size: 0x100_0001, limit: 0x100_0000, .. }), "{e}");
    assert!(e.to_string().contains("is 16777217 bytes, more than 16MB"), "{e}");

    let desc = fs::File::create(b.path("build/flasher_args.json")).unwrap();
    desc.set_len(MAX_DESCRIPTION_SIZE + 1).unwrap();
    let e = load(&ImageSource::FlasherArgs(b.path("build/flasher_args.json"))).unwrap_err();
    assert!(matches!(e, ImageError::FileTooLarge { limit: MAX_DESCRIPTION_SIZE, .. }), "{e}");

    // A whole 16 MB flash is fine.
    big.set_len(u64::from(MAX_FLASH_SIZE)).unwrap();
    let img = load(&b.manifest(&[(0, "big.bin")])).unwrap();
    assert_eq!(img.end(), u64::from(MAX_FLASH_SIZE));
}

#[test]
fn regions_beyond_the_largest_flash_are_refused() {
    let b = Build::new();
    b.write("build/app.bin", &[0x11; 0x1000]);
    let e = load(&b.manifest(&[(0x100_0000, "app.bin")])).unwrap_err();
    assert!(matches!(e, ImageError::BeyondFlash { offset: 0x100_0000, end: 0x100_1000, limit: 0x100_0000, .. }));
    let msg = e.to_string();
    assert!(msg.contains("region ") && msg.contains("app.bin at 0x1000000 ends at 0x1001000, beyond 16MB"), "{msg}");

    let e = load(&b.flasher_args(&[(0xFFF800, "app.bin")])).unwrap_err();
    assert!(matches!(e, ImageError::BeyondFlash { end: 0x100_0800, .. }), "{e}");

    // Without min_flash_size in the config, the station refuses it at start-up too.
    let cfg = crate::config::ImageConfig {
        source: b.manifest(&[(0x100_0000, "app.bin")]),
        sha256: Sha256Digest([0; 32]),
        chip: Chip::Esp32,
        min_flash_size: None,
        allow_outside: false,
    };
    assert!(matches!(GoldenImage::load_pinned(&cfg).unwrap_err(), ImageError::BeyondFlash { .. }));

    load(&b.manifest(&[(0xFFF000, "app.bin")])).unwrap();
}

#[test]
fn region_files_stay_in_the_description_directory() {
    let b = Build::new();
    let secret = b.write("secret.bin", b"root:x:0:0");
    b.write("build/app.bin", &[0x11; 0x100]);
    fs::create_dir(b.path("build/sub")).unwrap();
    b.write("build/sub/part.bin", &[0x22; 0x100]);
    symlink(&secret, b.path("build/link.bin")).unwrap();
    symlink(b.path("build/app.bin"), b.path("build/sub/inside.bin")).unwrap();
    let absolute = secret.to_str().unwrap();

    let outside = [
        ("../secret.bin", false),
        ("sub/../../secret.bin", false),
        (absolute, false),
        ("link.bin", false),
        (absolute, true),
    ];
    for (name, json) in outside {
        let src = if json { b.flasher_args(&[(0x10000, name)]) } else { b.manifest(&[(0x10000, name)]) };
        let src = &src;
        let e = load(src).unwrap_err();
        let ImageError::OutsideDirectory { resolved, dir, .. } = &e else { panic!("{name}: {e}") };
        assert_eq!(resolved, &fs::canonicalize(&secret).unwrap(), "{name}");
        assert_eq!(dir, &fs::canonicalize(b.path("build")).unwrap(), "{name}");
        let msg = e.to_string();
        assert!(msg.contains("outside") && msg.contains("allow_outside = true"), "{name}: {msg}");
        // Allowed explicitly, the same description loads.
        let img = GoldenImage::load_scoped(src, RegionScope::Anywhere).unwrap();
        assert_eq!(&img.regions()[0].data[..10], b"root:x:0:0", "{name}");
    }

    // Subdirectories, and links that stay inside, are fine.
    let img = load(&b.manifest(&[(0x10000, "sub/part.bin"), (0x20000, "sub/inside.bin")])).unwrap();
    assert_eq!(img.regions().len(), 2);
    // A missing file is still reported as missing, not as outside.
    let e = load(&b.manifest(&[(0x10000, "../nope.bin")])).unwrap_err();
    assert!(matches!(e, ImageError::Missing { .. }), "{e}");
}

#[test]
fn the_config_opt_in_allows_outside_files() {
    let b = Build::new();
    b.write("other.bin", &[0x33; 0x100]);
    let src = b.manifest(&[(0x10000, "../other.bin")]);
    let digest = GoldenImage::load_scoped(&src, RegionScope::Anywhere).unwrap().sha256();
    let mut cfg = crate::config::ImageConfig {
        source: src,
        sha256: digest,
        chip: Chip::Esp32,
        min_flash_size: None,
        allow_outside: false,
    };
    assert!(matches!(GoldenImage::load_pinned(&cfg).unwrap_err(), ImageError::OutsideDirectory { .. }));
    cfg.allow_outside = true;
    GoldenImage::load_pinned(&cfg).unwrap();
    assert_eq!(RegionScope::allow_outside(false), RegionScope::DescriptionDir);
    assert_eq!(RegionScope::default(), RegionScope::DescriptionDir);
}

#[test]
fn names_from_descriptions_are_shown_escaped() {
    let b = Build::new();
    let e = load(&b.manifest(&[(0x10000, "app\u{1b}]0;pwned\u{7}.bin")])).unwrap_err();
    let msg = e.to_string();
    assert!(msg.contains("app\\x1b]0;pwned\\x07.bin is missing"), "{msg}");
    assert_printable(&msg);

    let p = b.write("build/flasher_args.json", br#"{ "flash_files": { "0x\u001b[31m": "a.bin" } }"#);
    let msg = load(&ImageSource::FlasherArgs(p)).unwrap_err().to_string();
    assert!(msg.contains("'0x\\x1b[31m' is not a size"), "{msg}");
    assert_printable(&msg);
}

#[test]
fn every_image_error_is_shown_escaped() {
    let bad = "x\u{1b}[2J\u{9b}\u{202e}\n";
    let f = PathBuf::from(format!("/srv/{bad}.bin"));
    let d = Sha256Digest([0; 32]);
    let errors = [
        ImageError::Missing { file: f.clone(), from: Some(f.clone()) },
        ImageError::Unreadable { file: f.clone(), source: std::io::Error::other("denied") },
        ImageError::NotRegularFile { file: f.clone(), kind: "a FIFO", from: Some(f.clone()) },
        ImageError::FileTooLarge { file: f.clone(), size: 1 << 30, limit: 1 << 24 },
        ImageError::OutsideDirectory { file: f.clone(), resolved: f.clone(), dir: f.clone(), from: f.clone() },
        ImageError::BeyondFlash { source_file: f.clone(), file: f.clone(), offset: 0, end: 1, limit: 1 },
        ImageError::Malformed { file: f.clone(), message: bad.into() },
        ImageError::Empty { source_file: f.clone() },
        ImageError::EmptyFile { file: f.clone() },
        ImageError::FileDigest { file: f.clone(), manifest: f.clone(), expected: d, found: d },
        ImageError::FileLength { file: f.clone(), manifest: f.clone(), expected: 1, found: 2 },
        ImageError::Misaligned { source_file: f.clone(), file: f.clone(), offset: 1 },
        ImageError::Overlap {
            source_file: f.clone(),
            first: f.clone(),
            first_range: (0, 2),
            second: f.clone(),
            second_range: (1, 3),
        },
        ImageError::SharedSector {
            source_file: f.clone(),
            first: f.clone(),
            first_end: 1,
            second: f.clone(),
            second_start: 2,
            sector: 0,
        },
        ImageError::TooLarge { source_file: f.clone(), end: 2, flash_size: 1 },
        ImageError::ChipMismatch { file: f.clone(), declared: bad.into(), expected: Chip::Esp32 },
        ImageError::NoBootloaderHeader { file: f.clone(), chip: Chip::Esp32, offset: 0x1000, found: 0 },
        ImageError::Prepare { file: f.clone(), reason: bad.into() },
        ImageError::PinMismatch { source_file: f.clone(), expected: d, found: d },
        ImageError::read(f.clone(), Path::new("/m.toml"), ReadError::NotText),
    ];
    for e in errors {
        let shown = e.to_string();
        assert_printable(&shown);
        assert!(shown.contains("x\\x1b[2J\\u{9b}\\u{202e}\\n"), "{shown}");
    }
}
