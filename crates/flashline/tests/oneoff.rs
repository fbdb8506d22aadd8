//! The one-off board commands (`info`, `capture`, `flash`, `read`, `erase`) run as the real
//! `flashline` binary against `espsim` boards on pseudo-terminals, cross-checked with the
//! simulator's flash files and with real esptool.
//!
//! Needs the workspace binaries (`cargo build --workspace --bins`: espsim) and the pinned
//! esptool with its stubs (`scripts/setup-esptool.sh`). A PTY has no DTR/RTS lines, so
//! every command runs with `--before no-reset --after no-reset`.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use flashline::config::Config;
use flashline::exit::Exit;
use flashline::image::{GoldenImage, ImageSource, Manifest};
use flashline_audit::{AttemptFilter, AttemptResult, AttemptRow, AuditStore, StoreOptions};
use flashline_testkit::{run_esptool, workspace_root, EspSim};
use rand::{Rng, SeedableRng};

const MB: usize = 1 << 20;

/// One run of the `flashline` binary.
#[derive(Debug)]
struct Run {
    code: i32,
    stdout: String,
    stderr: String,
    took: Duration,
}

impl Run {
    fn ok(self) -> Run {
        assert_eq!(self.code, 0, "flashline failed:\nstdout:\n{}\nstderr:\n{}", self.stdout, self.stderr);
        self
    }

    /// Asserts the exit code and that stderr says `needle`.
    fn fails(self, exit: Exit, needle: &str) -> Run {
        assert_eq!(
            self.code,
            i32::from(exit.code()),
            "expected exit {exit}, got {}:\nstdout:\n{}\nstderr:\n{}",
            self.code,
            self.stdout,
            self.stderr
        );
        assert!(self.stderr.contains(needle), "stderr does not say {needle:?}:\n{}", self.stderr);
        self
    }
}

/// Runs `flashline ARGS` from the workspace root (where the esptool venv's stubs are found).
fn flashline(args: &[&str]) -> Run {
    let t0 = Instant::now();
    let out = Command::new(env!("CARGO_BIN_EXE_flashline"))
        .args(args)
        .current_dir(workspace_root())
        .output()
        .expect("spawn flashline");
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        took: t0.elapsed(),
    }
}

/// `SUBCOMMAND --port PORT --before no-reset --after no-reset REST...`
fn on_board(cmd: &str, port: &Path, rest: &[&str]) -> Run {
    let port = port.to_str().unwrap();
    let mut args = vec![cmd, "--port", port, "--before", "no-reset", "--after", "no-reset"];
    args.extend_from_slice(rest);
    flashline(&args)
}

fn sim(chip: &str, dir: &Path, extra: &[&str]) -> EspSim {
    let links = dir.join("links");
    let flash = dir.join("flash");
    std::fs::create_dir_all(&flash).unwrap();
    let mut args = vec![
        "--chip",
        chip,
        "--link-dir",
        links.to_str().unwrap(),
        "--flash-dir",
        flash.to_str().unwrap(),
        "--timing",
        "off",
    ];
    args.extend_from_slice(extra);
    EspSim::start(&args)
}

fn flash_file(dir: &Path, k: usize) -> PathBuf {
    dir.join("flash").join(format!("board{k}.bin"))
}

/// What a used board's flash looks like: a bootloader with a valid image header for
/// `chip`, partition table, NVS, an application, a compressible stretch, data far up, and
/// 0xFF everywhere else (including the tail).
fn master_content(chip: &str, size: usize, seed: u64) -> Vec<u8> {
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let mut f = vec![0xFFu8; size];
    let boot = if chip == "esp8266" { 0 } else { 0x1000 };
    rng.fill(&mut f[boot..boot + 0x5000]);
    f[boot] = 0xE9;
    if chip == "esp32" {
        f[boot + 12] = 0; // ESP32 image chip id (u16 LE)
        f[boot + 13] = 0;
    }
    rng.fill(&mut f[0x8000..0x8C00]);
    rng.fill(&mut f[0x9000..0xA000]);
    rng.fill(&mut f[0x10000..0x70000]);
    for b in &mut f[0x80000..0x90000] {
        *b = rng.random::<u8>() & 0x03;
    }
    let far = size / 2;
    rng.fill(&mut f[far..far + 0x1233]);
    f[far + 0x1232] = 0x42; // the last byte that is not 0xFF
    f
}

fn rows(db: &Path) -> Vec<AttemptRow> {
    tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
        let store = AuditStore::open(db, StoreOptions::default()).await.unwrap();
        let rows = store.query(&AttemptFilter::all()).await.unwrap();
        store.close().await;
        rows
    })
}

/// Capture a master ESP32 with known content, flash the golden image to a blank board:
/// byte-exact (simulator flash file and esptool read-back), the manifest is what the daemon
/// loads with the digest capture printed, and the board has its audit row.
#[test]
fn esp32_capture_then_copy_to_another_board() {
    let dir = tempfile::tempdir().unwrap();
    let content = master_content("esp32", 4 * MB, 1);
    std::fs::create_dir_all(dir.path().join("flash")).unwrap();
    std::fs::write(flash_file(dir.path(), 0), &content).unwrap();
    let sim = sim("esp32", dir.path(), &["--count", "2"]);

    // info --json: what esptool flash-id + read-mac print.
    let run = on_board("info", sim.port(0), &["--json", "--chip", "esp32"]).ok();
    let info: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(info["chip"], "esp32");
    // One spelling of a MAC in every output: upper case, as the audit log stores it.
    assert_eq!(info["mac"], sim.boards[0].mac.to_ascii_uppercase().as_str());
    assert_eq!(info["flash_size"], 4 * MB);
    assert_eq!(info["flash_id"], "0x1640ef");
    assert_eq!(info["flash_device"], "4016");
    assert!(info["description"].as_str().unwrap().starts_with("ESP32"), "{info}");

    // capture
    let out = dir.path().join("golden").join("master");
    let run = on_board("capture", sim.port(0), &["-o", out.to_str().unwrap()]).ok();
    eprintln!("capture of 4 MB (timing off): {:.2} s", run.took.as_secs_f64());
    let trimmed = 0x20_1234; // far + 0x1233, rounded up to a multiple of 4
    let bin = std::fs::read(dir.path().join("golden/master/flash.bin")).unwrap();
    assert_eq!(bin.len(), trimmed, "trailing 0xFF trimmed to the last word holding data");
    assert_eq!(bin[..], content[..trimmed]);
    let manifest_path = dir.path().join("golden/master/manifest.toml");
    let m = Manifest::load(&manifest_path).unwrap();
    assert_eq!(m.chip.file_name(), "esp32");
    assert_eq!(m.flash_size.unwrap().0 as usize, 4 * MB);
    let cap = m.capture.clone().unwrap();
    assert_eq!(cap.source_mac.unwrap().to_string(), sim.boards[0].mac);
    assert_eq!(cap.read_length.unwrap().0 as usize, 4 * MB);
    assert!(cap.date.unwrap().starts_with("20"));
    assert_eq!(m.regions.len(), 1);
    assert_eq!(m.regions[0].offset.0, 0);
    assert_eq!(m.regions[0].length, Some(trimmed as u64));

    // A second capture does not silently replace the golden image.
    on_board("capture", sim.port(0), &["-o", out.to_str().unwrap()]).fails(Exit::Config, "already exists");

    // The printed [image] block, pasted into a station config, is accepted by what
    // `flashline run` does at start-up (pinned digest, chip, minimum flash size).
    let block: toml::Value = toml::from_str(&run.stdout).expect("capture prints a TOML [image] block on stdout");
    let printed_sha = block["image"]["sha256"].as_str().unwrap().to_string();
    let golden = GoldenImage::load(&ImageSource::Manifest(manifest_path.clone())).unwrap();
    assert_eq!(golden.sha256().to_hex(), printed_sha);
    let config_path = dir.path().join("station.toml");
    let config_text = format!("station = \"line-1\"\ndatabase = \"audit.db\"\n\n{}", run.stdout);
    std::fs::write(&config_path, &config_text).unwrap();
    let config = Config::load(&config_path).unwrap_or_else(|e| panic!("{e}\n{config_text}"));
    GoldenImage::load_pinned(config.images.single().expect("one image")).unwrap();

    // flash the copy, with an audit row
    let db = dir.path().join("audit.db");
    let run = on_board(
        "flash",
        sim.port(1),
        &["--chip", "esp32", "--db", db.to_str().unwrap(), manifest_path.to_str().unwrap()],
    )
    .ok();
    eprintln!("flash of the captured image (timing off): {:.2} s", run.took.as_secs_f64());
    assert!(run.stderr.contains("verified (md5)"), "{}", run.stderr);
    let copy = std::fs::read(flash_file(dir.path(), 1)).unwrap();
    assert!(copy == content, "board1's flash differs from board0's");

    // Real esptool reads the copy back identical.
    let readback = dir.path().join("esptool-read.bin");
    let len = format!("0x{:x}", trimmed.next_multiple_of(0x1000));
    let e = run_esptool(
        sim.port(1),
        &["--chip", "esp32", "-b", "921600", "read-flash", "0", &len, readback.to_str().unwrap()],
    );
    assert!(e.success, "esptool read-flash failed:\n{}\n{}", e.stdout, e.stderr);
    let back = std::fs::read(&readback).unwrap();
    assert!(back[..] == content[..back.len()], "esptool reads back something else");

    let rows = rows(&db);
    assert_eq!(rows.len(), 1);
    let r = &rows[0];
    assert_eq!(r.result, AttemptResult::Pass);
    assert_eq!(r.image_sha256, printed_sha);
    assert_eq!(r.image_name, "manifest.toml");
    assert_eq!(r.mac.as_deref().map(str::to_ascii_lowercase), Some(sim.boards[1].mac.clone()));
    assert_eq!(r.flash_size, Some(4 * MB as u64));
    assert_eq!(r.station_id, "cli");
    assert_eq!(r.verify_method.as_deref(), Some("md5"));
    assert!(r.bytes_written > 0 && r.bytes_written < trimmed as u64, "blank-skip: {}", r.bytes_written);
    assert!(r.stage_timings.get("write").is_some(), "{:?}", r.stage_timings);
    assert_eq!(r.region_summary.iter().map(|s| s.written).sum::<u64>(), r.bytes_written);

    // The same board again (rework): it holds the image, so nothing is written or erased
    // and the audit row says the regions were found identical.
    let run = on_board(
        "flash",
        sim.port(1),
        &["--chip", "esp32", "--db", db.to_str().unwrap(), manifest_path.to_str().unwrap()],
    )
    .ok();
    assert!(run.stderr.contains("identical") && run.stderr.contains("verified (md5)"), "{}", run.stderr);
    let all = self::rows(&db);
    let again = all.iter().max_by_key(|r| r.id.0).unwrap();
    assert_eq!((again.result, again.bytes_written, again.rework), (AttemptResult::Pass, 0, true));
    let sum = |f: fn(&flashline_audit::RegionSummary) -> u64| again.region_summary.iter().map(f).sum::<u64>();
    assert_eq!((sum(|s| s.written), sum(|s| s.erased)), (0, 0));
    assert!(sum(|s| s.identical) > 0, "{:?}", again.region_summary);
    assert!(std::fs::read(flash_file(dir.path(), 1)).unwrap() == content);
}

/// The ESP8266 wiki procedure in three commands: back up 4 MB, erase, restore.
#[test]
fn esp8266_backup_erase_restore() {
    let dir = tempfile::tempdir().unwrap();
    let content = master_content("esp8266", 4 * MB, 2);
    std::fs::create_dir_all(dir.path().join("flash")).unwrap();
    std::fs::write(flash_file(dir.path(), 0), &content).unwrap();
    let sim = sim("esp8266", dir.path(), &[]);
    let port = sim.port(0);

    let run = on_board("info", port, &[]).ok();
    assert!(run.stdout.contains("ESP8266"), "{}", run.stdout);
    assert!(run.stdout.contains("4MB"), "{}", run.stdout);

    let backup = dir.path().join("backup.bin");
    let run = on_board("read", port, &["0", "4MB", "-o", backup.to_str().unwrap()]).ok();
    eprintln!("read of 4 MB from an ESP8266 (timing off): {:.2} s", run.took.as_secs_f64());
    assert!(std::fs::read(&backup).unwrap() == content, "backup differs from the board");

    on_board("erase", port, &[]).ok();
    let erased = std::fs::read(flash_file(dir.path(), 0)).unwrap();
    assert!(erased.iter().all(|&b| b == 0xFF), "flash not erased");

    on_board("flash", port, &["0x0", backup.to_str().unwrap()]).ok();
    assert!(std::fs::read(flash_file(dir.path(), 0)).unwrap() == content, "restore differs from the backup");

    // A region erase touches only that region.
    on_board("erase", port, &["--region", "0x9000", "4k"]).ok();
    let after = std::fs::read(flash_file(dir.path(), 0)).unwrap();
    assert!(after[0x9000..0xA000].iter().all(|&b| b == 0xFF));
    assert!(after[..0x9000] == content[..0x9000] && after[0xA000..] == content[0xA000..]);
    on_board("erase", port, &["--region", "0x9000", "100"]).fails(Exit::Config, "multiples of 4 KiB");
}

/// An image larger than the board's flash is refused before anything is written, and the
/// audit row says why.
#[test]
fn image_larger_than_flash_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let sim = sim("esp32", dir.path(), &["--flash-size", "1MB"]);
    let image = dir.path().join("big.bin");
    std::fs::write(&image, master_content("esp32", 2 * MB, 3)).unwrap();
    let db = dir.path().join("audit.db");
    on_board("flash", sim.port(0), &["--db", db.to_str().unwrap(), image.to_str().unwrap()])
        .fails(Exit::Image, "too large for the board (1MB flash)");
    assert!(std::fs::read(flash_file(dir.path(), 0)).unwrap().iter().all(|&b| b == 0xFF), "board was written");
    let rows = rows(&db);
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].result, AttemptResult::Fail);
    assert_eq!(rows[0].failure_stage.as_deref(), Some("identify"));
    assert!(rows[0].failure_reason.as_deref().unwrap().contains("does not fit"), "{:?}", rows[0].failure_reason);
    assert_eq!(rows[0].flash_size, Some(MB as u64));

    // Reading past the end of the flash is refused too.
    let out = dir.path().join("r.bin");
    on_board("read", sim.port(0), &["0x80000", "1MB", "-o", out.to_str().unwrap()])
        .fails(Exit::Config, "past the end of the board's 1MB flash");
}

/// `--chip esp32` against an ESP8266: refused at identify, for info and for flash (with
/// the settings and station id of a station config).
#[test]
fn wrong_chip_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let sim = sim("esp8266", dir.path(), &[]);
    on_board("info", sim.port(0), &["--chip", "esp32"]).fails(Exit::Board, "is an ESP8266, not an ESP32");

    let image = dir.path().join("app.bin");
    std::fs::write(&image, master_content("esp32", MB, 4)).unwrap();
    let config = dir.path().join("station.toml");
    std::fs::write(
        &config,
        "station = \"line-7\"\ndatabase = \"line7.db\"\n\
         [image]\nmerged_bin = \"app.bin\"\nchip = \"esp32\"\n\
         sha256 = \"0000000000000000000000000000000000000000000000000000000000000000\"\n\
         [flash]\nreset = \"no-reset\"\nafter = \"no-reset\"\n",
    )
    .unwrap();
    // The config's chip is the expectation; no --chip, no --before/--after needed.
    let port = sim.port(0).to_str().unwrap();
    let run = flashline(&["flash", "--port", port, "--config", config.to_str().unwrap(), image.to_str().unwrap()]);
    run.fails(Exit::Board, "not an ESP32");
    let rows = rows(&dir.path().join("line7.db"));
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].station_id, "line-7");
    assert_eq!(rows[0].result, AttemptResult::Fail);
    assert_eq!(rows[0].failure_stage.as_deref(), Some("identify"));
    assert!(std::fs::read(flash_file(dir.path(), 0)).unwrap().iter().all(|&b| b == 0xFF), "board was written");
}

/// A board that never enters download mode: a clear message, exit 6, quickly.
#[test]
fn board_not_in_download_mode() {
    let dir = tempfile::tempdir().unwrap();
    let sim = sim("esp32", dir.path(), &["--fault", "not-download"]);
    let run = on_board("info", sim.port(0), &["--connect-attempts", "2"]);
    let run = run.fails(Exit::Board, "not in download mode");
    assert!(run.stderr.contains("GPIO0"), "{}", run.stderr);
    assert!(run.took < Duration::from_secs(10), "took {:?}", run.took);
}

/// A port that does not exist: exit 7, before any audit row could claim a board.
#[test]
fn missing_port() {
    let dir = tempfile::tempdir().unwrap();
    let port = dir.path().join("ttyUSB99");
    on_board("info", &port, &[]).fails(Exit::Port, "no such serial port");
    let image = dir.path().join("app.bin");
    std::fs::write(&image, master_content("esp32", MB, 5)).unwrap();
    let db = dir.path().join("audit.db");
    on_board("flash", &port, &["--db", db.to_str().unwrap(), image.to_str().unwrap()])
        .fails(Exit::Port, "no such serial port");
    let rows = rows(&db);
    assert_eq!(rows.len(), 1);
    assert_eq!((rows[0].result, rows[0].failure_stage.as_deref()), (AttemptResult::Fail, Some("connect")));
    // Usage errors are caught before the port is even looked at.
    on_board("flash", &port, &["0x1000"]).fails(Exit::Config, "OFFSET FILE pairs need a FILE");
    on_board("flash", &port, &[dir.path().join("nope.bin").to_str().unwrap()]).fails(Exit::Image, "is missing");
}

/// What esptool and espflash users type works: link options before the command, short
/// `-p/-b/-c`, esptool's command names, `read-flash ADDR SIZE FILE`, `erase-region`,
/// and `$ESPTOOL_PORT` for the port.
#[test]
fn esptool_habits() {
    let dir = tempfile::tempdir().unwrap();
    let sim = sim("esp32", dir.path(), &[]);
    let port = sim.port(0).to_str().unwrap().to_string();
    let lines = ["--before", "no-reset", "--after", "no-reset"];
    let with = |pre: &[&str], cmd: &[&str]| {
        let mut a: Vec<&str> = pre.to_vec();
        a.extend_from_slice(&lines);
        a.extend_from_slice(cmd);
        a.into_iter().map(str::to_string).collect::<Vec<String>>()
    };
    let run = |args: Vec<String>, env: Option<(&str, &str)>| {
        let mut c = Command::new(env!("CARGO_BIN_EXE_flashline"));
        c.args(&args).current_dir(workspace_root()).env_remove("FLASHLINE_PORT").env_remove("ESPTOOL_PORT");
        if let Some((k, v)) = env {
            c.env(k, v);
        }
        let out = c.output().unwrap();
        let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
        (out.status.code().unwrap_or(-1), text)
    };

    let (code, out) = run(with(&["-p", &port, "-b", "460800", "-c", "esp32"], &["flash-id"]), None);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("ESP32"), "{out}");

    let first = dir.path().join("first.bin");
    let f = first.to_str().unwrap();
    let (code, out) = run(with(&[], &["read-flash", "0x1000", "0x1000", f]), Some(("ESPTOOL_PORT", &port)));
    assert_eq!(code, 0, "read-flash with $ESPTOOL_PORT: {out}");
    assert_eq!(std::fs::read(&first).unwrap().len(), 0x1000);

    let (code, out) = run(with(&["-p", &port], &["erase-region", "0x1000", "0x1000"]), None);
    assert_eq!(code, 0, "erase-region: {out}");
    let (code, out) = run(with(&[], &["read", "0x1000", "4k", f, "-p", &port]), None);
    assert_eq!(code, 0, "options after the command: {out}");
    assert!(std::fs::read(&first).unwrap().iter().all(|b| *b == 0xFF), "erased region reads 0xFF");

    let (code, out) = run(with(&["-c", "esp8266", "-p", &port], &["chip-id"]), None);
    assert_eq!(code, i32::from(Exit::Board.code()), "{out}");
}
