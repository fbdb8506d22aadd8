//! The vendored flasher stubs are exactly what the pinned esptool ships: every embedded
//! `<chip>.json` and both licence files byte for byte, and the recorded esp-flasher-stub
//! release is the one esptool's own README in that directory names. Needs the pinned
//! esptool installed (scripts/setup-esptool.sh); without it these tests fail, never skip.

use flashline_session::stub::builtin;
use std::path::{Path, PathBuf};

/// esptool's `targets/stub_flasher/2/`, where it keeps the esp-flasher-stub images.
fn shipped_dir() -> PathBuf {
    flashline_testkit::esptool_package_dir().join("targets/stub_flasher/2")
}

fn read(p: &Path) -> Vec<u8> {
    std::fs::read(p).unwrap_or_else(|e| panic!("cannot read {}: {e}", p.display()))
}

#[test]
fn every_embedded_stub_is_byte_identical_to_esptools() {
    let shipped = shipped_dir();
    let mut compared = 0;
    for (name, json) in builtin::files() {
        let theirs = read(&shipped.join(format!("{name}.json")));
        // Not assert_eq!: a diff of two 10 KB base64 blobs helps nobody.
        assert!(
            json.as_bytes() == theirs.as_slice(),
            "the built-in {name}.json differs from esptool {}'s copy in {}: re-vendor it (crates/session/stubs/README.md)",
            builtin::ESPTOOL_RELEASE,
            shipped.display()
        );
        compared += 1;
    }
    assert_eq!(compared, 11, "ESP8266, ESP32, S2, S3, C2, C3, C5, C6, H2, P4 and P4 rev1");
}

#[test]
fn vendored_licences_are_esptools() {
    let shipped = shipped_dir();
    let ours = Path::new(env!("CARGO_MANIFEST_DIR")).join("stubs");
    for f in ["LICENSE-APACHE", "LICENSE-MIT"] {
        assert!(read(&ours.join(f)) == read(&shipped.join(f)), "{f} differs from {}", shipped.join(f).display());
    }
}

#[test]
fn the_recorded_release_is_the_one_esptool_names() {
    assert_eq!(
        builtin::ESPTOOL_RELEASE,
        flashline_testkit::ESPTOOL_VERSION,
        "vendored from another esptool than the pinned one"
    );
    let readme = String::from_utf8(read(&shipped_dir().join("README.md"))).unwrap();
    let tag = format!("github.com/espressif/esp-flasher-stub/releases/tag/{} ", builtin::STUB_RELEASE);
    assert!(
        readme.contains(&tag),
        "esptool's stub README names another release than {}: {readme}",
        builtin::STUB_RELEASE
    );
}
