//! Acceptance: real esptool (the pinned release) drives espsim boards over PTYs.
//!
//! Every simulated chip passes the same table: for each one an espsim process with three
//! boards runs, and each board gets its own scenario in its own thread (identity: flash-id,
//! read-mac, chip-id with and without the stub; the stub: compressed write, read, verify,
//! erase-region and erase-flash; the ROM alone: write, read, verify and erase-region with
//! `--no-stub`). ESP32 and ESP8266 additionally run the uncompressed and legacy-stub
//! scenarios and the ROM quirks of their own tests below.

use flashline_sim::chips::SIMULATED;
use flashline_sim::Chip;
use flashline_testkit::{run_esptool, sim_board_description, EspSim, EsptoolRun};
use std::path::{Path, PathBuf};

fn espsim(chip: &str, count: usize, dir: &Path) -> EspSim {
    espsim_with(chip, count, dir, &[])
}

/// [`espsim`] with more options (faults).
fn espsim_with(chip: &str, count: usize, dir: &Path, more: &[&str]) -> EspSim {
    let bin = Path::new(env!("CARGO_BIN_EXE_espsim"));
    let mut args = vec![
        "--chip".to_string(),
        chip.to_string(),
        "--count".into(),
        count.to_string(),
        "--link-dir".into(),
        dir.join("links").display().to_string(),
        "--flash-dir".into(),
        dir.join("flash").display().to_string(),
    ];
    args.extend(more.iter().map(|a| a.to_string()));
    EspSim::start_bin(bin, &args)
}

#[track_caller]
fn ok(r: EsptoolRun, what: &str) -> String {
    assert!(r.success, "esptool {what} failed\n--- stdout\n{}\n--- stderr\n{}", r.stdout, r.stderr);
    // The UART divider must match the host's rate, or esptool miscomputes the crystal.
    assert!(!r.stdout.contains("Unsupported crystal"), "{what}: crystal warning\n{}", r.stdout);
    r.stdout
}

/// Deterministic test data: `random` pseudo-random bytes followed by runs that compress.
fn data(seed: u32, random: usize, total: usize) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9E37_79B9) | 1;
    (0..total)
        .map(|i| {
            if i < random {
                x ^= x << 13;
                x ^= x >> 17;
                x ^= x << 5;
                x as u8
            } else if (i / 1000) % 2 == 0 {
                0xFF
            } else {
                (i % 7) as u8
            }
        })
        .collect()
}

struct Files {
    dir: PathBuf,
    items: Vec<(u32, PathBuf, Vec<u8>)>,
}

impl Files {
    fn new(dir: &Path, tag: &str, layout: &[(u32, u32, usize, usize)]) -> Files {
        let items = layout
            .iter()
            .map(|&(offset, seed, random, total)| {
                let d = data(seed, random, total);
                let p = dir.join(format!("{tag}-{offset:x}.bin"));
                std::fs::write(&p, &d).unwrap();
                (offset, p, d)
            })
            .collect();
        Files { dir: dir.to_path_buf(), items }
    }

    fn args(&self) -> Vec<String> {
        self.items.iter().flat_map(|(o, p, _)| [format!("0x{o:x}"), p.display().to_string()]).collect()
    }
}

fn esptool(port: &Path, args: &[String]) -> EsptoolRun {
    let a: Vec<&str> = args.iter().map(String::as_str).collect();
    run_esptool(port, &a)
}

fn s(v: &[&str]) -> Vec<String> {
    v.iter().map(|x| x.to_string()).collect()
}

/// Global esptool options per step, and write-flash options.
#[derive(Default, Clone, Copy)]
struct Opts<'a> {
    write_pre: &'a [&'a str],
    write: &'a [&'a str],
    read_pre: &'a [&'a str],
    verify_pre: &'a [&'a str],
}

/// Writes the files, reads every range back, verifies, and checks the flash file.
fn write_read_verify(port: &Path, chip: &str, o: Opts, files: &Files, flash_file: &Path) {
    let (pre, write_opts, read_pre, verify_pre) = (o.write_pre, o.write, o.read_pre, o.verify_pre);
    let mut w = s(&["--chip", chip]);
    w.extend(s(pre));
    w.extend(s(&["-b", "921600", "write-flash"]));
    w.extend(s(write_opts));
    w.extend(files.args());
    let out = ok(esptool(port, &w), &format!("write-flash {pre:?} {write_opts:?}"));
    assert!(out.contains("Wrote"), "{out}");

    // With a stub one read covers every file (READ_FLASH streams); the ROM reads 64 bytes
    // per command, so there each file is read on its own.
    let ranges: Vec<(u32, usize)> = if read_pre.contains(&"--no-stub") {
        files.items.iter().map(|(o, _, d)| (*o, d.len())).collect()
    } else {
        let start = files.items.iter().map(|i| i.0).min().unwrap();
        let end = files.items.iter().map(|(o, _, d)| *o as usize + d.len()).max().unwrap();
        vec![(start, end - start as usize)]
    };
    for (start, len) in ranges {
        let out_path = files.dir.join(format!("read-{}-{start:x}.bin", port.file_name().unwrap().to_string_lossy()));
        let mut r = s(&["--chip", chip]);
        r.extend(s(read_pre));
        r.extend(s(&["-b", "921600", "read-flash"]));
        r.extend([format!("0x{start:x}"), len.to_string(), out_path.display().to_string()]);
        ok(esptool(port, &r), "read-flash");
        let got = std::fs::read(&out_path).unwrap();
        assert_eq!(got.len(), len);
        for (offset, _, expected) in &files.items {
            let Some(rel) = (*offset as usize).checked_sub(start as usize) else { continue };
            if rel + expected.len() <= len {
                assert!(
                    got[rel..rel + expected.len()] == expected[..],
                    "read-flash at 0x{offset:x} differs from what was written ({pre:?} {write_opts:?})"
                );
            }
        }
    }

    let mut v = s(&["--chip", chip]);
    v.extend(s(verify_pre));
    v.push("verify-flash".into());
    v.extend(files.args());
    let out = ok(esptool(port, &v), "verify-flash");
    assert!(out.contains("Verification successful"), "{out}");

    let image = std::fs::read(flash_file).unwrap();
    assert_eq!(image.len(), 4 << 20);
    for (offset, _, expected) in &files.items {
        let o = *offset as usize;
        assert!(image[o..o + expected.len()] == expected[..], "flash file differs at 0x{offset:x}");
    }
}

fn read_range(port: &Path, chip: &str, offset: u32, len: usize, out: &Path) -> Vec<u8> {
    let r = [
        "--chip".to_string(),
        chip.into(),
        "read-flash".into(),
        format!("0x{offset:x}"),
        len.to_string(),
        out.display().to_string(),
    ];
    ok(esptool(port, &r), "read-flash");
    std::fs::read(out).unwrap()
}

fn identity(port: &Path, chip: &str, mac: &str, chip_line: &str) {
    let out = ok(esptool(port, &s(&["--chip", chip, "flash-id"])), "flash-id");
    assert!(out.contains(chip_line), "{out}");
    assert!(out.contains("Manufacturer: ef"), "{out}");
    assert!(out.contains("Device: 4016"), "{out}");
    assert!(out.contains("Detected flash size: 4MB"), "{out}");
    let out = ok(esptool(port, &s(&["--chip", chip, "read-mac"])), "read-mac");
    // ESP32-C6 and H2 print the EUI-64 as "MAC" and the base MAC on its own line.
    let base = [format!("MAC:                {mac}"), format!("BASE MAC:           {mac}")];
    assert!(base.iter().any(|l| out.contains(l.as_str())), "read-mac should print {mac}:\n{out}");
    // The ROM alone answers flash-id and read-mac too.
    let out = ok(esptool(port, &s(&["--chip", chip, "--no-stub", "flash-id"])), "flash-id --no-stub");
    assert!(out.contains("Detected flash size: 4MB"), "{out}");
    // Autodetection (no --chip): by GET_SECURITY_INFO's chip id or by the magic value.
    for pre in [&[][..], &["--no-stub"][..]] {
        let out = ok(esptool(port, &[s(pre), s(&["chip-id"])].concat()), &format!("chip-id {pre:?}"));
        assert!(out.contains(chip_line), "chip-id {pre:?}: {out}");
        assert!(out.contains(mac), "chip-id {pre:?} names the MAC: {out}");
    }
}

fn erase_checks(port: &Path, chip: &str, files: &Files, flash_file: &Path) {
    let (offset, _, d) = &files.items[1];
    let len = (d.len() as u32).div_ceil(0x1000) * 0x1000;
    ok(
        esptool(
            port,
            &[s(&["--chip", chip, "erase-region"]), vec![format!("0x{offset:x}"), format!("0x{len:x}")]].concat(),
        ),
        "erase-region",
    );
    let got = read_range(port, chip, *offset, len as usize, &files.dir.join(format!("erased-{chip}.bin")));
    assert!(got.iter().all(|&b| b == 0xFF), "erase-region left data");
    // The other files are untouched.
    let image = std::fs::read(flash_file).unwrap();
    let (o0, _, d0) = &files.items[0];
    assert!(image[*o0 as usize..*o0 as usize + d0.len()] == d0[..]);
    ok(esptool(port, &s(&["--chip", chip, "erase-flash"])), "erase-flash");
    let image = std::fs::read(flash_file).unwrap();
    assert!(image.iter().all(|&b| b == 0xFF), "erase-flash left data in the flash file");
    let got = read_range(port, chip, 0, 0x2000, &files.dir.join(format!("erased0-{chip}.bin")));
    assert!(got.iter().all(|&b| b == 0xFF));
}

/// The common table for one chip: identity, the stub path and the ROM path, each on its
/// own board of one espsim process. The first file sits at the chip's bootloader offset, an
/// app at 0x10000, a small unaligned file at 0x3F800.
fn accept(chip: Chip) {
    let name = chip.file_name();
    let dir = tempfile::tempdir().unwrap();
    let sim = espsim(name, 3, dir.path());
    let flash = |k: usize| dir.path().join("flash").join(format!("board{k}.bin"));
    let boot = chip.spec().bootloader_offset;
    let layout = [(boot, 21, 6_000, 12_000), (0x10000, 22, 20_000, 40_000), (0x3F800, 23, 3_000, 3_000)];
    let files = Files::new(dir.path(), name, &layout);
    std::thread::scope(|sc| {
        sc.spawn(|| identity(sim.port(0), name, &sim.boards[0].mac, sim_board_description(chip)));
        sc.spawn(|| {
            let stub = Opts { write_pre: &[], write: &[], read_pre: &[], verify_pre: &[] };
            write_read_verify(sim.port(1), name, stub, &files, &flash(1));
            erase_checks(sim.port(1), name, &files, &flash(1));
        });
        if chip.spec().rom_is_esp32_class {
            sc.spawn(|| {
                // ROM only: FLASH_BEGIN/DATA, READ_FLASH_SLOW, ROM MD5 in hex, ROM erase.
                let small =
                    Files::new(dir.path(), &format!("{name}rom"), &[(boot, 24, 3000, 6000), (0x20000, 25, 2000, 2000)]);
                let rom = Opts {
                    write_pre: &["--no-stub"],
                    write: &[],
                    read_pre: &["--no-stub"],
                    verify_pre: &["--no-stub"],
                };
                write_read_verify(sim.port(2), name, rom, &small, &flash(2));
                let er = s(&["--chip", name, "--no-stub", "erase-region", "0x20000", "0x1000"]);
                ok(esptool(sim.port(2), &er), "erase-region --no-stub");
                let image = std::fs::read(flash(2)).unwrap();
                assert!(image[0x20000..0x21000].iter().all(|&b| b == 0xFF));
            });
        }
    });
}

macro_rules! accepted_by_esptool {
    ($($test:ident => $chip:ident),+ $(,)?) => {
        $(
            #[test]
            fn $test() {
                accept(Chip::$chip);
            }
        )+

        #[test]
        fn the_table_covers_every_simulated_chip() {
            let mut covered = vec![$(Chip::$chip),+];
            covered.sort();
            let mut simulated: Vec<Chip> = SIMULATED.iter().map(|m| m.chip()).collect();
            simulated.sort();
            assert_eq!(covered, simulated);
        }
    };
}

accepted_by_esptool! {
    esp32_table => Esp32,
    esp8266_table => Esp8266,
    esp32s2_with_real_esptool => Esp32S2,
    esp32s3_with_real_esptool => Esp32S3,
    esp32c2_with_real_esptool => Esp32C2,
    esp32c3_with_real_esptool => Esp32C3,
    esp32c5_with_real_esptool => Esp32C5,
    esp32c6_with_real_esptool => Esp32C6,
    esp32h2_with_real_esptool => Esp32H2,
    esp32p4_with_real_esptool => Esp32P4,
}

/// ESP32 beyond the table: uncompressed writes, the ROM with compression (FLASH_DEFL_* in
/// the ROM) and the legacy stub.
#[test]
fn esp32_extra_scenarios() {
    let dir = tempfile::tempdir().unwrap();
    let sim = espsim("esp32", 3, dir.path());
    let chip = "esp32";
    let flash = |k: usize| dir.path().join("flash").join(format!("board{k}.bin"));
    // Offsets: bootloader-like at 0x1000, app at 0x10000, a small unaligned file at 0x3F800.
    let layout = [(0x1000, 1, 20_000, 30_000), (0x10000, 2, 40_000, 100_000), (0x3F800, 3, 5_000, 5_000)];
    let files = Files::new(dir.path(), "esp32", &layout);
    std::thread::scope(|sc| {
        sc.spawn(|| {
            let uncompressed = Opts { write_pre: &[], write: &["-u"], read_pre: &[], verify_pre: &[] };
            write_read_verify(sim.port(0), chip, uncompressed, &files, &flash(0))
        });
        sc.spawn(|| {
            let small = Files::new(dir.path(), "esp32rom", &[(0x1000, 4, 3000, 9000), (0x20000, 5, 2000, 2000)]);
            let o =
                Opts { write_pre: &["--no-stub"], write: &["--compress"], read_pre: &[], verify_pre: &["--no-stub"] };
            write_read_verify(sim.port(1), chip, o, &small, &flash(1));
        });
        sc.spawn(|| {
            let v1 = &["--stub-version", "1"][..];
            let o = Opts { write_pre: v1, write: &[], read_pre: v1, verify_pre: v1 };
            write_read_verify(sim.port(2), chip, o, &files, &flash(2))
        });
    });
}

/// ESP8266 beyond the table: uncompressed writes, the ROM's write path (with its
/// erase-size bug; read and verify need the stub) and the legacy stub.
#[test]
fn esp8266_extra_scenarios() {
    let dir = tempfile::tempdir().unwrap();
    let sim = espsim("esp8266", 3, dir.path());
    let chip = "esp8266";
    let flash = |k: usize| dir.path().join("flash").join(format!("board{k}.bin"));
    let layout = [(0x0, 11, 20_000, 30_000), (0x10000, 12, 40_000, 100_000), (0x3F800, 13, 5_000, 5_000)];
    let files = Files::new(dir.path(), "esp8266", &layout);
    std::thread::scope(|sc| {
        sc.spawn(|| {
            let uncompressed = Opts { write_pre: &[], write: &["-u"], read_pre: &[], verify_pre: &[] };
            write_read_verify(sim.port(0), chip, uncompressed, &files, &flash(0))
        });
        sc.spawn(|| {
            let rom_files =
                Files::new(dir.path(), "esp8266rom", &[(0x0, 14, 9000, 9000), (0x30000, 15, 70_000, 100_000)]);
            let o = Opts { write_pre: &["--no-stub"], write: &[], read_pre: &[], verify_pre: &[] };
            write_read_verify(sim.port(1), chip, o, &rom_files, &flash(1));
        });
        sc.spawn(|| {
            let v1 = &["--stub-version", "1"][..];
            let o = Opts { write_pre: v1, write: &[], read_pre: v1, verify_pre: v1 };
            write_read_verify(sim.port(2), chip, o, &files, &flash(2))
        });
    });
}

#[test]
fn cli_contract_prints_boards_and_cleans_up() {
    let dir = tempfile::tempdir().unwrap();
    let bin = Path::new(env!("CARGO_BIN_EXE_espsim"));
    let links = dir.path().join("l");
    let mut sim = EspSim::start_bin(
        bin,
        &[
            "--chip",
            "esp8266",
            "--count",
            "3",
            "--link-dir",
            links.to_str().unwrap(),
            "--mac-base",
            "a4:cf:12:00:00:fe",
        ],
    );
    let macs: Vec<&str> = sim.boards.iter().map(|b| b.mac.as_str()).collect();
    assert_eq!(macs, ["a4:cf:12:00:00:fe", "a4:cf:12:00:00:ff", "a4:cf:12:00:01:00"]);
    for (k, b) in sim.boards.iter().enumerate() {
        assert_eq!(b.name, format!("board{k}"));
        assert_eq!(b.path, links.join(format!("board{k}")));
        assert!(std::fs::read_link(&b.path).unwrap().starts_with("/dev/pts"));
    }
    let out = ok(run_esptool(sim.port(2), &["--chip", "esp8266", "read-mac"]), "read-mac");
    assert!(out.contains("a4:cf:12:00:01:00"), "{out}");
    assert!(sim.terminate(), "espsim did not exit on SIGTERM");
    for k in 0..3 {
        assert!(links.join(format!("board{k}")).symlink_metadata().is_err(), "symlink board{k} left behind");
    }
}

#[test]
fn faults_seen_by_esptool() {
    let dir = tempfile::tempdir().unwrap();
    let bin = Path::new(env!("CARGO_BIN_EXE_espsim"));
    let links = dir.path().join("l");
    let sim = EspSim::start_bin(
        bin,
        &[
            "--chip",
            "esp32",
            "--count",
            "4",
            "--link-dir",
            links.to_str().unwrap(),
            "--fault",
            "board0:not-download=garbage",
            "--fault",
            "board1:unplug-after=20000",
            "--fault",
            "board2:bad-flash=0x2000+16",
            "--fault",
            "board3:wrong-chip=esp8266",
        ],
    );
    let data = data(9, 30_000, 30_000);
    let file = dir.path().join("f.bin");
    std::fs::write(&file, &data).unwrap();
    let f = file.to_str().unwrap();
    std::thread::scope(|sc| {
        sc.spawn(|| {
            let r = run_esptool(sim.port(0), &["--chip", "esp32", "--connect-attempts", "1", "flash-id"]);
            assert!(!r.success, "a board outside download mode must not connect");
            assert!(
                r.stdout.contains("Failed to connect") || r.stderr.contains("Failed to connect"),
                "{}{}",
                r.stdout,
                r.stderr
            );
        });
        sc.spawn(|| {
            let r = run_esptool(sim.port(1), &["--chip", "esp32", "write-flash", "0x1000", f]);
            assert!(!r.success, "unplugged mid-write must fail");
            // Like a USB adapter disappearing, the port is gone.
            assert!(sim.port(1).symlink_metadata().is_err(), "board1 link still there");
        });
        sc.spawn(|| {
            let r = run_esptool(sim.port(2), &["--chip", "esp32", "write-flash", "0x1000", f]);
            assert!(!r.success, "bad flash cells must fail the MD5 verification");
            let out = format!("{}{}", r.stdout, r.stderr);
            assert!(out.contains("MD5 of file does not match") || out.to_lowercase().contains("md5"), "{out}");
        });
        sc.spawn(|| {
            let r = run_esptool(sim.port(3), &["--chip", "esp32", "flash-id"]);
            assert!(!r.success, "an ESP8266 posing as an ESP32 board must be refused");
            let out = format!("{}{}", r.stdout, r.stderr);
            assert!(out.contains("ESP8266"), "{out}");
        });
    });
}

/// A sector that never erases (`stuck-sector`), holding data, under each of esptool's
/// loaders: the new stub's ERASE_REGION runs out of its budget and esptool reports the
/// 0xC400; the legacy stub waits and reports success, and the sector reads back as it
/// was; the ROM erases inside FLASH_BEGIN and esptool's MD5 check fails the write.
#[test]
fn a_sector_that_never_erases_seen_by_esptool() {
    const STUCK: usize = 0x20000;
    let dir = tempfile::tempdir().unwrap();
    let old = data(21, 4096, 4096);
    let new = data(22, 4096, 4096);
    let new_file = dir.path().join("new.bin");
    std::fs::write(&new_file, &new).unwrap();
    std::fs::create_dir(dir.path().join("flash")).unwrap();
    let mut content = vec![0xFFu8; 4 << 20];
    content[STUCK..STUCK + old.len()].copy_from_slice(&old);
    for k in 0..3 {
        std::fs::write(dir.path().join("flash").join(format!("board{k}.bin")), &content).unwrap();
    }
    let sim = espsim_with("esp32", 3, dir.path(), &["--fault", "stuck-sector=0x20000"]);
    let flash_dir = dir.path().join("flash");
    let stuck_sector = |k: usize| {
        let image = std::fs::read(flash_dir.join(format!("board{k}.bin"))).unwrap();
        image[STUCK..STUCK + 0x1000].to_vec()
    };
    let region = ["erase-region", "0x20000", "0x1000"];
    std::thread::scope(|sc| {
        sc.spawn(|| {
            let r = run_esptool(sim.port(0), &[&["--chip", "esp32"][..], &region].concat());
            assert!(!r.success, "the new stub's erase over a stuck sector must fail");
            let out = format!("{}{}", r.stdout, r.stderr);
            assert!(out.contains("C400"), "{out}");
        });
        sc.spawn(|| {
            let legacy = ["--chip", "esp32", "--stub-version", "1"];
            ok(run_esptool(sim.port(1), &[&legacy[..], &region].concat()), "legacy erase-region");
        });
        sc.spawn(|| {
            let r = run_esptool(
                sim.port(2),
                &["--chip", "esp32", "--no-stub", "write-flash", "0x20000", new_file.to_str().unwrap()],
            );
            assert!(!r.success, "the ROM's write over a stuck sector must fail its MD5 check");
            let out = format!("{}{}", r.stdout, r.stderr);
            assert!(out.contains("MD5 of file does not match"), "{out}");
        });
    });
    assert_eq!(stuck_sector(0), old, "new stub: the sector kept its bits");
    assert_eq!(stuck_sector(1), old, "legacy stub: the sector kept its bits");
    let anded: Vec<u8> = old.iter().zip(&new).map(|(a, b)| a & b).collect();
    assert_eq!(stuck_sector(2), anded, "ROM: programmed over the old bits");
}
