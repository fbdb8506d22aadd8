//! `flashline demo --chips`: a line of several chip families in one station. Each board
//! is flashed with its own chip's sample image (chosen when it is identified), the audit
//! log says which chip each board was, and a board of a family the line has no image for
//! is refused at identify, naming the families it has.

use std::path::Path;
use std::process::{Command, Output};

fn flashline(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_flashline")).args(args).current_dir(dir).output().expect("run flashline")
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The audit rows of `db`, newest first.
fn rows(dir: &Path, db: &str) -> Vec<serde_json::Value> {
    let out = flashline(dir, &["log", "--db", db, "--format", "json"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).expect("log --format json is a JSON array")
}

fn text<'a>(row: &'a serde_json::Value, key: &str) -> &'a str {
    row[key].as_str().unwrap_or_else(|| panic!("no {key} in {row}"))
}

#[test]
fn a_line_of_four_families_gets_each_its_own_image_and_refuses_a_fifth() {
    let dir = tempfile::tempdir().unwrap();
    let chips = "esp32,esp8266,esp32s3,esp32c3";
    let args = ["demo", "--chips", chips, "--boards", "9", "--faults", "1", "--timing", "off", "--interval-ms", "20"];
    let out = flashline(dir.path(), &[&args[..], &["--db", "demo.db"]].concat());
    let said = stdout(&out);
    assert!(out.status.success(), "{said}\n{}", String::from_utf8_lossy(&out.stderr));
    let line = |start: &str| said.lines().find(|l| l.starts_with(start)).unwrap_or_else(|| panic!("{start}: {said}"));
    assert!(line("demo: ").starts_with("demo: 9 boards (3 ESP32, 2 ESP8266, 2 ESP32-S3, 2 ESP32-C3) in "), "{said}");
    assert_eq!(line("  8 passed"), "  8 passed, 1 failed as expected, 0 unexpected");

    let rows = rows(dir.path(), "demo.db");
    assert_eq!(rows.len(), 9);
    // Board k is the k-th chip of the line in turn; the faulty one (board 4, an ESP32
    // slot) answers as an ESP32-C6, which the line has no image for.
    let want = ["ESP32-D0WD", "ESP8266", "ESP32-S3", "ESP32-C3", "", "ESP8266", "ESP32-S3", "ESP32-C3", "ESP32-D0WD"];
    let slots = ["A1", "A2", "A3", "A4", "A5", "A6", "A7", "A8", "B1"];
    let mut images = std::collections::BTreeMap::new();
    for (slot, family) in slots.iter().zip(want) {
        let row = rows.iter().find(|r| text(r, "slot") == *slot).unwrap_or_else(|| panic!("no row for {slot}"));
        if family.is_empty() {
            assert_eq!(text(row, "result"), "fail", "{row}");
            assert_eq!(text(row, "failure_stage"), "identify", "{row}");
            let reason = text(row, "failure_reason");
            assert!(
                reason.contains("ESP32-C6") && reason.contains("ESP32-C3") && reason.contains("[images.esp32c6]"),
                "names the board and the line: {reason}"
            );
            continue;
        }
        assert_eq!(text(row, "result"), "pass", "{row}");
        let chip = text(row, "chip");
        assert!(chip.starts_with(family), "{slot}: {chip} is not an {family}");
        // One image per family: every board of a family got the same one, no two
        // families the same.
        let sha = text(row, "image_sha256").to_string();
        assert_eq!(images.entry(family).or_insert_with(|| sha.clone()), &sha, "{slot}: {family}");
    }
    assert_eq!(images.len(), 4, "{images:?}");
    let distinct: std::collections::BTreeSet<_> = images.values().collect();
    assert_eq!(distinct.len(), 4, "each family its own image: {images:?}");
}

#[test]
fn a_mixed_line_is_provisioned_and_boot_checked_board_by_board() {
    let dir = tempfile::tempdir().unwrap();
    let args = ["demo", "--chips", "esp32,esp32c3", "--provision", "--boards", "4", "--timing", "off"];
    let out = flashline(dir.path(), &[&args[..], &["--interval-ms", "20", "--db", "demo.db"]].concat());
    let said = stdout(&out);
    assert!(out.status.success(), "{said}\n{}", String::from_utf8_lossy(&out.stderr));
    let line = |start: &str| said.lines().find(|l| l.starts_with(start)).unwrap_or_else(|| panic!("{start}: {said}"));
    assert_eq!(
        line("provisioned:"),
        "provisioned: 4 serial number(s) (FL-001000 .. FL-001003), 4 NVS partition(s) at 0x9000"
    );
    let boot = line("boot check:");
    assert!(boot.starts_with("boot check: 3 passed"), "{boot}");
    assert!(boot.ends_with("1 failed (A4: boot loop: the chip started 3 times)"), "{boot}");
    let rows = rows(dir.path(), "demo.db");
    let c3: Vec<_> = rows.iter().filter(|r| text(r, "chip").starts_with("ESP32-C3")).collect();
    assert_eq!(c3.len(), 2, "{rows:?}");
    assert!(c3.iter().all(|r| r["serial"].is_string() && r["provision"]["nvs"]["sha256"].is_string()), "{c3:?}");
}

/// `--usb`: the ESP32-S3 and ESP32-C3 boards sit on their own USB-Serial/JTAG port, the
/// ESP32 boards on UART bridges. Each USB board is reset into download mode by the
/// station, leaves the bus and comes back (every other one on a new node), is flashed, and
/// after the final reset its boot check reads it where it came back. The ESP32 board that
/// boot-loops fails at stage boot; the rows name each board's USB id.
#[test]
fn a_line_on_native_usb_is_followed_across_its_resets_to_the_boot_check() {
    let dir = tempfile::tempdir().unwrap();
    let args = ["demo", "--chips", "esp32,esp32s3,esp32c3", "--usb", "--boot", "--boards", "6", "--timing", "off"];
    let out = flashline(dir.path(), &[&args[..], &["--interval-ms", "20", "--db", "demo.db"]].concat());
    let said = stdout(&out);
    assert!(out.status.success(), "{said}\n{}", String::from_utf8_lossy(&out.stderr));
    let log = String::from_utf8_lossy(&out.stderr);
    let line = |start: &str| said.lines().find(|l| l.starts_with(start)).unwrap_or_else(|| panic!("{start}: {said}"));
    assert_eq!(line("  5 passed"), "  5 passed, 1 failed as expected, 0 unexpected");
    let boot = line("boot check:");
    assert!(boot.starts_with("boot check: 5 passed"), "{boot}");
    assert!(boot.ends_with("1 failed (A4: boot loop: the chip started 3 times)"), "{boot}");
    // Every USB board left the bus twice (into download mode, into its app) and came back.
    for (slot, node) in [("A2", "/dev/sim-ttyACM1"), ("A6", "/dev/sim-ttyACM5")] {
        let back = log.lines().filter(|l| l.contains(&format!("slot={slot} ")) && l.contains("board back")).count();
        assert_eq!(back, 2, "{slot}: {log}");
        assert!(log.contains(&format!("{node}-1-2")), "{slot}: came back on new nodes: {log}");
    }

    let rows = rows(dir.path(), "demo.db");
    assert_eq!(rows.len(), 6);
    for row in &rows {
        let chip = text(row, "chip");
        let on_usb = chip.starts_with("ESP32-S3") || chip.starts_with("ESP32-C3");
        let vid = row["usb_vid"].as_u64().expect("a USB id");
        assert_eq!(vid == 0x303a, on_usb, "{chip}: vid {vid:#x}");
        let slot = text(row, "slot");
        let want = if slot == "A4" { "fail" } else { "pass" };
        assert_eq!(text(&row["boot"], "result"), want, "{row}");
    }
}
