//! The config as hostile input: values that would lose the audit log, drive the operator's
//! terminal, or be accepted while meaning nothing.

use std::path::{Path, PathBuf};

use super::tests::{error, minimal};
use super::*;
use crate::device::UsbLocation;
use crate::input_file::ReadError;
use crate::text::needs_escape;

fn assert_printable(message: &str) {
    assert!(!message.chars().any(needs_escape), "raw control characters in {message:?}");
}

#[test]
fn the_database_always_names_an_absolute_file() {
    // A relative config path (`flashline run --config flashline.toml`) and an empty value:
    // SQLite would have used a temporary database, lost at exit.
    let e = Config::parse(&format!("database = \"\"\n{}", minimal()), Path::new("flashline.toml")).unwrap_err();
    assert_eq!(e.exit_code(), crate::exit::Exit::Config);
    let e = e.to_string();
    assert!(e.starts_with("flashline.toml:1:12: database: the path is empty"), "{e}");

    let c = Config::parse(&format!("database = \"audit.sqlite\"\n{}", minimal()), Path::new("flashline.toml")).unwrap();
    assert!(c.database.is_absolute(), "{}", c.database.display());
    assert_eq!(c.database, std::env::current_dir().unwrap().join("audit.sqlite"));
    let c = Config::parse(&minimal(), Path::new("st/flashline.toml")).unwrap();
    assert_eq!(c.database, PathBuf::from(DEFAULT_DATABASE));
    assert!(c.images.single().unwrap().source.path().is_absolute(), "{:?}", c.images.single().unwrap().source);

    for (value, why) in [
        (":memory:", "':memory:' is an SQLite special name or URL, not a file"),
        ("file:audit.sqlite?mode=memory", "is an SQLite special name or URL"),
        ("sqlite://audit.sqlite", "is an SQLite special name or URL"),
        ("state/", "'state/' names a directory"),
        ("/dev/null", "/dev/null is not a regular file"),
        ("/tmp", "/tmp is a directory"),
        ("a\\u001b[2Jb.sqlite", "'a\\x1b[2Jb.sqlite' contains control characters"),
    ] {
        let e = error(&format!("database = \"{value}\"\n{}", minimal()));
        assert!(e.contains(":1:12: database: ") && e.contains(why), "{value}: {e}");
        assert!(e.contains("give the audit database's file"), "{value}: {e}");
        assert_printable(&e);
    }
}

#[test]
fn control_characters_are_escaped_and_refused_in_names() {
    let e = error(&minimal().replace("\"st1\"", "\"line\\u001b]0;pwned\\u0007\""));
    assert!(e.contains(":1:11: station: 'line\\x1b]0;pwned\\x07' is not a usable station id"), "{e}");
    assert_printable(&e);

    // Not a control character to Rust, but it reverses what follows on the screen.
    let e = error(&minimal().replace("\"st1\"", "\"st\\u202e1\""));
    assert!(e.contains("station: 'st\\u{202e}1' is not a usable station id"), "{e}");

    let e = error(&format!("{}[slots]\n\"A\\u001b[31mRED\" = \"1-2.1\"\n", minimal()));
    assert!(e.contains(":7:1: [slots] A\\x1b[31mRED: slot name 'A\\x1b[31mRED' must be"), "{e}");
    assert_printable(&e);

    let e = error(&format!("{}[slots]\nA1 = \"1-2\\u001b[8m.1\"\n", minimal()));
    assert!(e.contains("[slots] A1: '1-2\\x1b[8m.1' is not a USB location"), "{e}");
    assert_printable(&e);

    // Unknown keys and syntax errors quote the file too.
    let e = error(&format!("{}[flash]\n\"x\\u001b[2J\" = 1\n", minimal()));
    assert!(e.contains("[flash] x\\x1b[2J: unknown field"), "{e}");
    assert_printable(&e);
    let e = error(&format!("{}[flash]\nbaud = \"\\u009b31m\"\n", minimal()));
    assert_printable(&e);
    assert!(e.contains("\\u{9b}31m"), "{e}");

    // The config's own name, from the command line.
    let e = Config::parse("station = ", Path::new("/etc/fl\u{1b}[2Jashline.toml")).unwrap_err().to_string();
    assert!(e.starts_with("/etc/fl\\x1b[2Jashline.toml:1:"), "{e}");
}

#[test]
fn every_config_error_is_shown_escaped() {
    let bad = "x\u{1b}]0;t\u{7}\u{202e}\n";
    let file = PathBuf::from(format!("/etc/{bad}.toml"));
    let errors = [
        ConfigError::Read { file: file.clone(), source: ReadError::NotRegular { kind: "a FIFO" } },
        ConfigError::Invalid { file: file.clone(), line: 1, column: 1, key: bad.into(), message: bad.into() },
        ConfigError::RestartRequired { file, key: bad.into(), old: bad.into(), new: bad.into() },
    ];
    for e in errors {
        let shown = e.to_string();
        assert_printable(&shown);
        assert!(shown.contains("x\\x1b]0;t\\x07\\u{202e}\\n"), "{shown}");
    }
}

#[test]
fn slot_values_must_be_locations() {
    let slots = |body: &str| error(&format!("{}[slots]\n{body}", minimal()));

    let e = slots("A1 = \"typo\"\n");
    assert!(e.contains(":7:6: [slots] A1: 'typo' is not a USB location: use udev's ID_PATH"), "{e}");
    assert!(e.contains("1-2.3:1.0"), "{e}");

    let e = slots("A1 = \"1.2.3\"\n");
    assert!(e.contains("[slots] A1: '1.2.3' is not a USB location (did you mean '1-2.3'?)"), "{e}");
    let e = slots("A1 = \"pci-0000:00:14.0-usb-0:2.3\"\n");
    assert!(e.contains("(did you mean 'pci-0000:00:14.0-usb-0:2.3:1.0'?)"), "{e}");

    let e = slots("A1 = 12\n");
    assert!(
        e.contains(":7:6: [slots] A1: expected a string (a USB location in quotes, like \"1-2.3\"), found integer 12"),
        "{e}"
    );
    let e = slots("A1 = [\"1-2.1\"]\n");
    assert!(e.contains("[slots] A1: expected a string") && e.contains("found array"), "{e}");
    let e = error(&format!("{}[slots.A1]\nport = \"1-2.1\"\n", minimal()));
    assert!(e.contains("[slots] A1: expected a string") && e.contains("found table"), "{e}");

    let c = Config::parse(
        &format!("{}[slots]\nA1 = \"platform-xhci-hcd.0.auto-usb-0:1.2:1.0\"\n", minimal()),
        Path::new("/etc/flashline/flashline.toml"),
    )
    .unwrap();
    let first = c.slots.iter().next().map(|s| s.location.clone());
    assert_eq!(first, Some(UsbLocation::IdPath("platform-xhci-hcd.0.auto-usb-0:1.2:1.0".into())));
}

#[test]
fn allow_outside_is_an_explicit_opt_in() {
    let c = Config::parse(&minimal(), Path::new("/etc/flashline/flashline.toml")).unwrap();
    assert!(!c.images.single().unwrap().allow_outside);
    let c = Config::parse(&format!("{}allow_outside = true\n", minimal()), Path::new("/etc/flashline/flashline.toml"))
        .unwrap();
    assert!(c.images.single().unwrap().allow_outside);
    let e = error(&format!("{}allow_outside = \"yes\"\n", minimal()));
    assert!(e.contains(":6:17: [image] allow_outside: invalid type"), "{e}");
}

#[test]
fn the_config_file_is_read_only_if_it_is_a_regular_file() {
    let dir = tempfile::tempdir().unwrap();
    let zero = dir.path().join("flashline.toml");
    std::os::unix::fs::symlink("/dev/zero", &zero).unwrap();
    let e = Config::load(&zero).unwrap_err();
    assert_eq!(e.exit_code(), crate::exit::Exit::Config);
    assert!(e.to_string().ends_with("flashline.toml: it is a character device, not a regular file"), "{e}");

    let big = dir.path().join("big.toml");
    std::fs::File::create(&big).unwrap().set_len(MAX_CONFIG_SIZE + 1).unwrap();
    let e = Config::load(&big).unwrap_err().to_string();
    assert!(e.contains("big.toml: it is larger than 1MB"), "{e}");
}
