//! The flasher stubs compiled into flashline.
//!
//! A station must not depend on a Python esptool being installed where its service user
//! can see it, so the esp-flasher-stub images esptool ships are vendored in the crate's
//! `stubs/` directory (provenance, licences and update steps in `stubs/README.md`) and
//! embedded here at build time, keyed by stub file name: a chip added to
//! [`flashline_protocol::Chip`] finds its stub by [`Chip::file_name`] without code here.
//! Each image is parsed on first use and kept; the unit tests parse every one, so a broken
//! file fails the build's tests, never a running station.
//!
//! [`Chip::file_name`]: flashline_protocol::Chip::file_name

use super::image::StubImage;
use std::sync::OnceLock;

/// The esp-flasher-stub release the embedded images come from.
pub const STUB_RELEASE: &str = "v1.4.1";
/// The esptool release (PyPI package `esptool`) whose `targets/stub_flasher/2/` they were
/// copied from.
pub const ESPTOOL_RELEASE: &str = "5.6.0";

/// One embedded stub file.
struct Embedded {
    name: &'static str,
    json: &'static str,
    parsed: OnceLock<Result<StubImage, String>>,
}

macro_rules! embed {
    ($($name:literal),* $(,)?) => {
        [$(Embedded {
            name: $name,
            json: include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/stubs/", $name, ".json")),
            parsed: OnceLock::new(),
        }),*]
    };
}

static EMBEDDED: [Embedded; 11] = embed!(
    "esp8266",
    "esp32",
    "esp32s2",
    "esp32s3",
    "esp32c2",
    "esp32c3",
    "esp32c5",
    "esp32c6",
    "esp32h2",
    "esp32p4",
    "esp32p4-rev1",
);

/// Every embedded stub as (file name without `.json`, the file's text exactly as vendored).
pub fn files() -> impl Iterator<Item = (&'static str, &'static str)> {
    EMBEDDED.iter().map(|e| (e.name, e.json))
}

/// The embedded stub named `name` (a [`Chip::file_name`](flashline_protocol::Chip::file_name)),
/// parsed on first use: `None` when there is none, `Some(Err(reason))` when it does not parse.
pub(crate) fn image(name: &str) -> Option<Result<&'static StubImage, &'static str>> {
    let e = EMBEDDED.iter().find(|e| e.name == name)?;
    let parsed = e.parsed.get_or_init(|| {
        let r = StubImage::from_json(e.json);
        if let Err(reason) = &r {
            tracing::error!(stub = e.name, %reason, "the built-in flasher stub does not parse");
        }
        r
    });
    Some(parsed.as_ref().map_err(String::as_str))
}

#[cfg(test)]
mod tests {
    use super::*;
    use flashline_protocol::Chip;
    use sha2::{Digest, Sha256};
    use std::collections::BTreeSet;
    use std::path::Path;

    fn stubs_dir() -> &'static Path {
        Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/stubs"))
    }

    #[test]
    fn every_embedded_stub_parses() {
        for (name, _) in files() {
            let img = image(name).unwrap().unwrap_or_else(|e| panic!("built-in {name}.json: {e}"));
            assert!(img.text.len() > 1024, "{name}: {} bytes of code", img.text.len());
            // Parsed once: a second lookup hands out the same image.
            assert!(std::ptr::eq(img, image(name).unwrap().unwrap()), "{name}");
        }
        assert!(image("esp32c61").is_none());
        assert!(image("").is_none());
    }

    #[test]
    fn every_chip_has_a_stub_matching_its_layout() {
        for chip in Chip::ALL {
            let img = image(chip.file_name()).unwrap_or_else(|| panic!("no built-in stub for {chip}")).unwrap();
            let layout = chip.spec().stub_v2;
            assert_eq!(
                (img.entry, img.text_start),
                (layout.entry, layout.text_start),
                "{chip}: built-in stub vs the chip table's stub_v2 layout"
            );
        }
    }

    #[test]
    fn the_table_embeds_exactly_the_vendored_files() {
        let on_disk: BTreeSet<String> = std::fs::read_dir(stubs_dir())
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .filter_map(|n| n.strip_suffix(".json").map(str::to_owned))
            .collect();
        let embedded: BTreeSet<String> = files().map(|(n, _)| n.to_owned()).collect();
        assert_eq!(embedded.len(), EMBEDDED.len(), "a name is listed twice");
        assert_eq!(on_disk, embedded);
        for (name, json) in files() {
            assert_eq!(std::fs::read_to_string(stubs_dir().join(format!("{name}.json"))).unwrap(), json);
        }
    }

    /// The provenance README lists every vendored file with its SHA-256, and names the
    /// release recorded in [`STUB_RELEASE`] and [`ESPTOOL_RELEASE`].
    #[test]
    fn the_readme_records_every_file_and_the_releases() {
        let readme = std::fs::read_to_string(stubs_dir().join("README.md")).unwrap();
        let mut vendored: Vec<String> = std::fs::read_dir(stubs_dir())
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .filter(|n| n != "README.md")
            .collect();
        vendored.sort();
        for f in &vendored {
            let sha = hex(&Sha256::digest(std::fs::read(stubs_dir().join(f)).unwrap()));
            assert!(readme.lines().any(|l| l == format!("{sha}  {f}")), "README.md lacks `{sha}  {f}`");
        }
        let is_sum_line = |l: &str| {
            l.len() > 66 && l.as_bytes()[..64].iter().all(u8::is_ascii_hexdigit) && l.as_bytes()[64..66] == *b"  "
        };
        let listed = readme.lines().filter(|l| is_sum_line(l)).count();
        assert_eq!(listed, vendored.len(), "README.md lists files that are not vendored");
        assert!(readme.contains(&format!("esp-flasher-stub/releases/tag/{STUB_RELEASE}")), "{STUB_RELEASE}");
        assert!(readme.contains(&format!("esptool=={ESPTOOL_RELEASE}")), "{ESPTOOL_RELEASE}");
    }

    fn hex(b: &[u8]) -> String {
        b.iter().map(|x| format!("{x:02x}")).collect()
    }
}
