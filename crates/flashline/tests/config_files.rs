//! The deployment files under `config/` agree with the code.

use std::collections::BTreeSet;
use std::path::Path;

use flashline::device::{VidPid, DEFAULT_ADAPTERS};

fn read(name: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../config").join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The udev rules grant access to exactly the adapters flashline accepts by default.
#[test]
fn udev_rules_cover_the_default_adapters() {
    let rules = read("99-flashline.rules");
    let mut in_rules = BTreeSet::new();
    for line in rules.lines().filter(|l| !l.trim_start().starts_with('#')) {
        let attr = |key: &str| {
            let start = line.find(&format!("ATTRS{{{key}}}==\""))? + key.len() + 10;
            Some(line[start..start + 4].to_string())
        };
        if let (Some(v), Some(p)) = (attr("idVendor"), attr("idProduct")) {
            let id: VidPid = format!("{v}:{p}").parse().unwrap();
            assert!(in_rules.insert(id), "{id} is listed twice");
            assert!(line.trim_end().ends_with("GOTO=\"flashline_board\""), "{line}");
        }
    }
    let defaults: BTreeSet<VidPid> = DEFAULT_ADAPTERS.iter().map(|(id, _)| *id).collect();
    assert_eq!(in_rules, defaults);
    assert!(rules.contains("GROUP=\"flashline\", MODE=\"0660\""));
    assert!(rules.contains("ENV{ID_MM_DEVICE_IGNORE}=\"1\""));
}

/// The unit keeps the properties the daemon relies on.
#[test]
fn systemd_unit_is_unprivileged_and_can_reach_udev_and_ports() {
    let unit = read("flashline.service");
    let has = |directive: &str| unit.lines().any(|l| l.trim() == directive);
    for d in [
        "User=flashline",
        "NoNewPrivileges=yes",
        "ProtectSystem=strict",
        "ReadWritePaths=/var/lib/flashline",
        "PrivateTmp=yes",
        "ProtectHome=yes",
        // Without AF_NETLINK the udev monitor cannot be created; IP serves [http] on
        // loopback only.
        "RestrictAddressFamilies=AF_UNIX AF_NETLINK AF_INET AF_INET6",
        "IPAddressDeny=any",
        "IPAddressAllow=localhost",
        "DevicePolicy=closed",
        "DeviceAllow=char-ttyUSB rw",
        "DeviceAllow=char-ttyACM rw",
        "ExecReload=/bin/kill -HUP $MAINPID",
        // Config and image errors (see flashline::exit) must not restart in a loop.
        "RestartPreventExitStatus=2 3",
    ] {
        assert!(has(d), "flashline.service lacks `{d}`");
    }
    assert!(!has("PrivateNetwork=yes"), "udev events only reach the host network namespace");
    assert!(!has("PrivateDevices=yes"), "the serial ports must stay visible");
    assert_eq!(flashline::exit::Exit::Config.code(), 2);
    assert_eq!(flashline::exit::Exit::Image.code(), 3);
}

/// The line view's unit: read-only, no devices, IP to loopback until a drop-in allows the
/// database, the password as a credential, the listener on loopback.
#[test]
fn line_view_unit_is_confined_and_listens_on_loopback() {
    let unit = read("flashline-serve.service");
    let has = |directive: &str| unit.lines().any(|l| l.trim() == directive);
    for d in [
        "DynamicUser=yes",
        "NoNewPrivileges=yes",
        "ProtectSystem=strict",
        "PrivateDevices=yes",
        "RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6",
        "IPAddressDeny=any",
        "IPAddressAllow=localhost",
        "CapabilityBoundingSet=",
        "LoadCredential=central.pw:/etc/flashline/central-reader.pw",
        "RestartPreventExitStatus=2",
    ] {
        assert!(has(d), "flashline-serve.service lacks `{d}`");
    }
    let exec = unit.lines().find(|l| l.starts_with("ExecStart=")).expect("ExecStart");
    assert!(exec.contains("--listen 127.0.0.1:9181"), "{exec}");
    assert!(exec.contains("--password-file ${CREDENTIALS_DIRECTORY}/"), "{exec}");
    assert_eq!(flashline::web::line::DEFAULT_LISTEN, "127.0.0.1:9181");
}
