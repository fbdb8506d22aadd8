//! Station events in the journal: the journald layer `[log] format = "journald"` installs
//! (tracing-journald) sends native-protocol datagrams whose fields journalctl filters on.
//!
//! tracing-journald always writes to /run/systemd/journal/socket, so the test runs itself
//! again in a private mount namespace (`unshare --mount`, as root; `--user
//! --map-root-user` otherwise) with a tmpfs over /run, binds that socket there, logs
//! station events through the real reporter and decodes what arrives.

use std::collections::BTreeMap;
use std::os::unix::fs::MetadataExt;
use std::os::unix::net::UnixDatagram;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use flashline::report::{journald, log::log_event};
use flashline::station::{AuditRef, Outcome, StationEvent};
use flashline_audit::{AttemptId, BootRecord, NvsRecord};
use flashline_session::Stage;
use tracing_subscriber::prelude::*;

const INNER: &str = "FLASHLINE_JOURNAL_TEST_INNER";
const SOCKET: &str = "/run/systemd/journal/socket";

/// One journal entry: field name → values (a field may repeat).
type Entry = BTreeMap<String, Vec<String>>;

/// Decodes journald's native protocol: `KEY=value\n`, or `KEY\n` + 64-bit LE length +
/// value + `\n` for values with newlines.
fn decode(mut d: &[u8]) -> Entry {
    let mut e = Entry::new();
    while !d.is_empty() {
        let nl = d.iter().position(|&b| b == b'\n').expect("a field ends with a newline");
        let line = &d[..nl];
        let (key, value);
        if let Some(eq) = line.iter().position(|&b| b == b'=') {
            key = &line[..eq];
            value = line[eq + 1..].to_vec();
            d = &d[nl + 1..];
        } else {
            key = line;
            let len = u64::from_le_bytes(d[nl + 1..nl + 9].try_into().unwrap()) as usize;
            value = d[nl + 9..nl + 9 + len].to_vec();
            assert_eq!(d[nl + 9 + len], b'\n');
            d = &d[nl + 10 + len..];
        }
        e.entry(String::from_utf8(key.to_vec()).unwrap()).or_default().push(String::from_utf8(value).unwrap());
    }
    e
}

fn field<'a>(e: &'a Entry, key: &str) -> Option<&'a str> {
    e.get(key).and_then(|v| v.first()).map(String::as_str)
}

/// Each `(KEY, value)` is in `e`.
fn assert_fields(e: &Entry, want: &[(&str, &str)]) {
    for (k, v) in want {
        assert_eq!(field(e, k), Some(*v), "{k} in {e:?}");
    }
}

/// The outer run: the same test binary, only this test, in a private mount namespace.
#[test]
fn station_events_carry_journal_fields() {
    if std::env::var_os(INNER).is_some() {
        return inside_namespace();
    }
    let exe = std::env::current_exe().unwrap();
    let mut unshare = Command::new("unshare");
    if std::fs::metadata("/proc/self").map(|m| m.uid()).unwrap_or(0) != 0 {
        unshare.args(["--user", "--map-root-user"]);
    }
    let out = unshare
        .args(["--mount", "--propagation", "private", "sh", "-c", "mount -t tmpfs tmpfs /run && exec \"$@\"", "sh"])
        .arg(&exe)
        .args(["--exact", "station_events_carry_journal_fields", "--nocapture", "--test-threads=1"])
        .env(INNER, "1")
        .output()
        .expect("run unshare (util-linux)");
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(
        out.status.success(),
        "the journal test in its mount namespace failed (needs root or user namespaces):\n{text}"
    );
    assert!(text.contains("journal fields checked"), "the inner test did not run:\n{text}");
}

fn inside_namespace() {
    std::fs::create_dir_all(Path::new(SOCKET).parent().unwrap()).unwrap();
    let server = UnixDatagram::bind(SOCKET).unwrap();
    server.set_read_timeout(Some(Duration::from_secs(5))).unwrap();

    let layer = journald::layer().expect("the journald layer reaches the bound socket");
    let subscriber = tracing_subscriber::registry().with(layer);
    let sha = "ab".repeat(32);
    let events = [
        StationEvent::Stage { slot: "A3".into(), stage: Stage::Write },
        StationEvent::Finished {
            slot: "A3".into(),
            mac: Some("24:0a:c4:00:00:03".into()),
            serial: None,
            outcome: Outcome::Fail { stage: "verify".into(), reason: "MD5 mismatch\nat 0x10000".into() },
            took: Duration::from_millis(1500),
            audit: AuditRef { attempt: Some(AttemptId(42)), image_sha256: sha.clone() },
            boot: None,
        },
        StationEvent::Finished {
            slot: "B1".into(),
            mac: Some("24:0a:c4:00:00:04".into()),
            serial: None,
            outcome: Outcome::Pass,
            took: Duration::from_millis(900),
            audit: AuditRef { attempt: Some(AttemptId(43)), image_sha256: sha.clone() },
            boot: None,
        },
        StationEvent::Provisioned {
            slot: "B2".into(),
            serial: Some("FL-001000".into()),
            nvs: Some(NvsRecord { offset: 0x9000, size: 0x6000, sha256: "cd".repeat(32) }),
        },
        StationEvent::Finished {
            slot: "B2".into(),
            mac: Some("24:0A:C4:00:00:05".into()),
            serial: Some("FL-001000".into()),
            outcome: Outcome::Pass,
            took: Duration::from_millis(2600),
            audit: AuditRef { attempt: Some(AttemptId(44)), image_sha256: sha.clone() },
            boot: Some(BootRecord {
                result: "pass".into(),
                ms_to_pattern: Some(425),
                reason: None,
                lines: vec!["I (425) demo: self-test passed".into()],
            }),
        },
        // The console is the board's: a terminal escape, a carriage return, replacement
        // characters for bytes that were not UTF-8, a line far longer than a screen.
        StationEvent::Finished {
            slot: "B3".into(),
            mac: Some("24:0A:C4:00:00:06".into()),
            serial: Some("FL-001001".into()),
            outcome: Outcome::Fail { stage: "boot".into(), reason: "boot loop: the chip started 3 times".into() },
            took: Duration::from_millis(3100),
            audit: AuditRef { attempt: Some(AttemptId(45)), image_sha256: sha.clone() },
            boot: Some(BootRecord {
                result: "fail".into(),
                ms_to_pattern: None,
                reason: Some("boot loop: the chip started 3 times".into()),
                lines: vec![
                    "ets Jun  8 2016 00:22:57".into(),
                    "E (95) \u{1b}]0;pwned\u{7}esp_image: Checksum failed\rX \u{fffd}\u{fffd}".into(),
                    "#".repeat(5000),
                ],
            }),
        },
    ];
    tracing::subscriber::with_default(subscriber, || {
        // DEBUG and below are filtered by the daemon's level, not by the layer.
        for ev in &events {
            log_event(ev);
        }
    });

    let mut entries = Vec::new();
    let mut buf = vec![0u8; 64 * 1024];
    while entries.len() < events.len() {
        let n = server.recv(&mut buf).expect("a journal datagram");
        if n > 0 {
            entries.push(decode(&buf[..n]));
        }
    }
    let [stage, fail, pass, provisioned, booted, boot_fail] = &entries[..] else { unreachable!() };

    assert_eq!(field(stage, "SLOT"), Some("A3"), "{stage:?}");
    assert_eq!(field(stage, "STAGE"), Some("write"), "{stage:?}");
    assert_eq!(field(stage, "PRIORITY"), Some("7"), "{stage:?}");

    let want_fail = [
        ("MESSAGE", "board failed"),
        ("SLOT", "A3"),
        ("MAC", "24:0a:c4:00:00:03"),
        ("STAGE", "verify"),
        ("RESULT", "fail"),
        // The reason may quote a board's bytes: escaped like every outside value, so a
        // line break arrives as the two characters `\n`, not as a second line.
        ("REASON", "MD5 mismatch\\nat 0x10000"),
        ("ATTEMPT_ID", "42"),
        ("IMAGE_SHA256", sha.as_str()),
        ("PRIORITY", "4"),
        ("SYSLOG_IDENTIFIER", journald::SYSLOG_IDENTIFIER),
    ];
    assert_fields(fail, &want_fail);
    let want_pass =
        [("SLOT", "B1"), ("RESULT", "pass"), ("ATTEMPT_ID", "43"), ("IMAGE_SHA256", sha.as_str()), ("PRIORITY", "6")];
    assert_fields(pass, &want_pass);
    assert!(!fail.keys().any(|k| k.starts_with("F_")), "no field prefix: {fail:?}");
    assert_eq!(field(pass, "SERIAL"), None, "no [provision], no serial: {pass:?}");

    let want_provisioned = [
        ("MESSAGE", "board provisioned"),
        ("SLOT", "B2"),
        ("SERIAL", "FL-001000"),
        ("NVS_OFFSET", "0x9000"),
        ("NVS_SIZE", "0x6000"),
        ("NVS_SHA256", &*"cd".repeat(32)),
        ("PRIORITY", "6"),
    ];
    assert_fields(provisioned, &want_provisioned);
    let want_booted = [
        ("MESSAGE", "board passed"),
        ("SLOT", "B2"),
        ("SERIAL", "FL-001000"),
        ("RESULT", "pass"),
        ("BOOT", "pass"),
        ("BOOT_MS", "425"),
        ("ATTEMPT_ID", "44"),
    ];
    assert_fields(booted, &want_booted);
    let want_boot_fail = [
        ("SLOT", "B3"),
        ("SERIAL", "FL-001001"),
        ("RESULT", "fail"),
        ("STAGE", "boot"),
        ("BOOT", "fail"),
        ("REASON", "boot loop: the chip started 3 times"),
        ("PRIORITY", "4"),
    ];
    assert_fields(boot_fail, &want_boot_fail);
    assert_eq!(field(boot_fail, "BOOT_MS"), None, "{boot_fail:?}");
    // The last console lines are in the message: escaped, one line, a long line cut.
    let message = field(boot_fail, "MESSAGE").unwrap();
    let want = "board failed its boot check; last console lines: ets Jun  8 2016 00:22:57\\n\
                E (95) \\x1b]0;pwned\\x07esp_image: Checksum failed\\rX \u{fffd}\u{fffd}\\n###";
    assert!(message.starts_with(want), "{message:?}");
    assert!(message.ends_with("#…"), "{message:?}");
    assert!(message.len() < 1000, "{} bytes", message.len());
    assert!(!message.chars().any(|c| c.is_control()), "{message:?}");
    println!("journal fields checked");
}
