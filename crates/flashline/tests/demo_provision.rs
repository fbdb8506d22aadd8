//! `flashline demo --provision` end to end: every board gets a serial number and its NVS
//! partition, one board's app is corrupted after its verify and fails its boot check, and
//! the summary says so from the station's events (serials, partitions, boot checks).

use std::process::Command;

#[test]
fn the_demo_summary_names_serials_partitions_and_boot_checks() {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_flashline"))
        .args(["demo", "--provision", "--boards", "3", "--timing", "off", "--interval-ms", "20", "--db"])
        .arg(dir.path().join("demo.db"))
        .current_dir(dir.path())
        .output()
        .expect("run flashline demo");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    let line = |start: &str| {
        stdout.lines().find(|l| l.starts_with(start)).unwrap_or_else(|| panic!("no {start:?} line: {stdout}"))
    };
    assert_eq!(
        line("provisioned:"),
        "provisioned: 3 serial number(s) (FL-001000 .. FL-001002), 3 NVS partition(s) at 0x9000"
    );
    let boot = line("boot check:");
    assert!(boot.starts_with("boot check: 2 passed (pattern after "), "{boot}");
    assert!(boot.ends_with(", 1 failed (A3: boot loop: the chip started 3 times)"), "{boot}");
}
