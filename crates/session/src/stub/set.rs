//! The stubs a station uploads, one per chip, from one source: built in, or a directory.
//!
//! A set never mixes sources: when an operator configures a directory, every board runs a
//! stub from that directory (or fails saying which file is missing), so the audit trail
//! and the operator agree on what ran.

use super::builtin;
use super::image::StubImage;
use crate::error::{Error, Result};
use flashline_protocol::chip::StubChoice;
use flashline_protocol::Chip;
use std::collections::HashMap;
use std::fmt;
use std::path::{Path, PathBuf};

/// Where the stubs of a [`StubSet`] come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StubSource {
    /// Compiled into flashline (see [`builtin`](super::builtin)).
    BuiltIn,
    /// A directory of esptool-format `<chip>.json` files (`[flash] stub_dir`,
    /// `--stub-dir` or `$FLASHLINE_STUB_DIR`).
    Dir(PathBuf),
}

impl fmt::Display for StubSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StubSource::BuiltIn => write!(
                f,
                "the built-in stubs (esp-flasher-stub {} from esptool {})",
                builtin::STUB_RELEASE,
                builtin::ESPTOOL_RELEASE
            ),
            StubSource::Dir(d) => write!(f, "{}", d.display()),
        }
    }
}

#[derive(Debug, Clone)]
enum Images {
    /// Looked up in the embedded table, parsed on first use.
    BuiltIn,
    /// Read from a directory at load time, keyed by stub file name without `.json`.
    Loaded(HashMap<String, StubImage>),
}

/// The stubs for every chip, loaded once and shared by every board.
#[derive(Debug, Clone)]
pub struct StubSet {
    source: StubSource,
    images: Images,
}

impl StubSet {
    /// The stubs compiled into flashline: needs nothing installed.
    pub fn builtin() -> Self {
        Self { source: StubSource::BuiltIn, images: Images::BuiltIn }
    }

    /// Loads from `dir` (esptool's `targets/stub_flasher/2/` layout) `<chip>.json` for every
    /// chip flashline knows and the revision-specific `<chip>-<variant>.json` files
    /// (`esp32p4-rev1.json`). Fails if such a file does not parse, or if the directory
    /// holds none of them.
    pub fn from_dir(dir: &Path) -> Result<Self> {
        let mut images = HashMap::new();
        let entries =
            std::fs::read_dir(dir).map_err(|_| Error::StubNotFound { searched: dir.display().to_string() })?;
        for entry in entries.flatten() {
            let p = entry.path();
            let Some(stem) = p.file_name().and_then(|n| n.to_str()).and_then(|n| n.strip_suffix(".json")) else {
                continue;
            };
            if is_stub_name(stem) && p.is_file() {
                images.insert(stem.to_string(), StubImage::load(&p)?);
            }
        }
        if images.is_empty() {
            return Err(Error::StubNotFound { searched: dir.display().to_string() });
        }
        Ok(Self { source: StubSource::Dir(dir.to_path_buf()), images: Images::Loaded(images) })
    }

    /// Where the stubs come from (for logs and reports).
    pub fn source(&self) -> &StubSource {
        &self.source
    }

    /// The stub for `chip` whatever its revision (`<chip>.json`).
    pub fn get(&self, chip: Chip) -> Result<&StubImage> {
        self.get_file(chip, chip.file_name())
    }

    /// The stub a board of `chip` runs when its module chose `choice`
    /// ([`flashline_protocol::chip::Target::stub_for`]).
    pub fn get_choice(&self, chip: Chip, choice: &StubChoice) -> Result<&StubImage> {
        self.get_file(chip, choice.file_stem)
    }

    fn get_file(&self, chip: Chip, name: &'static str) -> Result<&StubImage> {
        let missing = || Error::StubMissingChip { chip, file: name, from: self.source.to_string() };
        match &self.images {
            Images::Loaded(m) => m.get(name).ok_or_else(missing),
            Images::BuiltIn => match builtin::image(name) {
                Some(Ok(img)) => Ok(img),
                Some(Err(reason)) => {
                    Err(Error::StubInvalid { file: format!("built-in {name}.json"), reason: reason.to_owned() })
                }
                None => Err(missing()),
            },
        }
    }
}

/// Whether `stem` names a stub file of a chip flashline knows: `esp32s3`, `esp32p4-rev1`.
fn is_stub_name(stem: &str) -> bool {
    Chip::ALL.iter().any(|c| {
        let name = c.file_name();
        stem == name || stem.strip_prefix(name).is_some_and(|rest| rest.starts_with('-'))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn esp32_json() -> &'static str {
        builtin::files().find(|(n, _)| *n == "esp32").unwrap().1
    }

    #[test]
    fn dir_loading_and_missing_chip() {
        let d = tempfile::tempdir().unwrap();
        let e = StubSet::from_dir(d.path()).unwrap_err();
        assert!(matches!(e, Error::StubNotFound { .. }), "{e}");
        assert!(e.to_string().contains("built-in"), "the error names the way out: {e}");
        std::fs::write(d.path().join("esp32.json"), esp32_json()).unwrap();
        let set = StubSet::from_dir(d.path()).unwrap();
        assert_eq!(set.source(), &StubSource::Dir(d.path().to_path_buf()));
        assert_eq!(set.get(Chip::Esp32).unwrap(), StubSet::builtin().get(Chip::Esp32).unwrap());
        // A configured directory is the whole set: no silent fallback to the built-in ESP8266 stub.
        let e = set.get(Chip::Esp8266).unwrap_err();
        assert!(matches!(e, Error::StubMissingChip { chip: Chip::Esp8266, .. }), "{e}");
        assert!(e.to_string().contains(&d.path().display().to_string()), "{e}");
        std::fs::write(d.path().join("esp8266.json"), "not json").unwrap();
        assert!(matches!(StubSet::from_dir(d.path()), Err(Error::StubInvalid { .. })));
    }

    #[test]
    fn revision_specific_stubs_load_from_a_directory() {
        let d = tempfile::tempdir().unwrap();
        for name in ["esp32p4", "esp32p4-rev1"] {
            let json = builtin::files().find(|(n, _)| *n == name).unwrap().1;
            std::fs::write(d.path().join(format!("{name}.json")), json).unwrap();
        }
        std::fs::write(d.path().join("notes.json"), "not a stub").unwrap();
        std::fs::write(d.path().join("esp32p4x.json"), "not a chip's stub either").unwrap();
        let set = StubSet::from_dir(d.path()).unwrap();
        let rev1 = flashline_protocol::chip::esp32p4::STUB_REV1;
        assert_eq!(set.get_choice(Chip::Esp32P4, &rev1).unwrap().entry, rev1.layout.entry);
        assert_eq!(set.get(Chip::Esp32P4).unwrap().entry, Chip::Esp32P4.spec().stub_v2.entry);
        let e = set.get(Chip::Esp32C3).unwrap_err();
        assert!(e.to_string().contains("add esp32c3.json there"), "{e}");
        let names = [("esp32s3", true), ("esp32p4-rev1", true), ("esp32p4x", false), ("notes", false), ("", false)];
        for (stem, ok) in names {
            assert_eq!(is_stub_name(stem), ok, "{stem}");
        }
    }

    #[test]
    fn every_chosen_stub_is_built_in() {
        let set = StubSet::builtin();
        for chip in Chip::ALL {
            for revision in [None, Some((0, 0)), Some((1, 0)), Some((3, 0))] {
                if let Some(choice) = chip.target().stub_for(revision) {
                    let img = set.get_choice(chip, &choice).unwrap_or_else(|e| panic!("{e}"));
                    assert_eq!(img.entry, choice.layout.entry, "{chip} {revision:?}");
                }
            }
        }
    }

    #[test]
    fn builtin_set_serves_every_chip() {
        let set = StubSet::builtin();
        assert_eq!(set.source(), &StubSource::BuiltIn);
        for chip in Chip::ALL {
            let img = set.get(chip).unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(img.entry, chip.spec().stub_v2.entry, "{chip}");
        }
        assert!(set.source().to_string().contains(builtin::STUB_RELEASE));
    }
}
