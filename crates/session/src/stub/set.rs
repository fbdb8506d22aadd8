//! The stubs a station uploads, one per chip, from one source: built in, or a directory.
//!
//! A set never mixes sources: when an operator configures a directory, every board runs a
//! stub from that directory (or fails saying which file is missing), so the audit trail
//! and the operator agree on what ran.

use super::builtin;
use super::image::StubImage;
use crate::error::{Error, Result};
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
    /// Read from a directory at load time, keyed by stub file name.
    Loaded(HashMap<&'static str, StubImage>),
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

    /// Loads `<chip>.json` for every chip flashline knows from `dir` (esptool's
    /// `targets/stub_flasher/2/` layout). Fails if a file present does not parse, or if
    /// the directory holds none of them.
    pub fn from_dir(dir: &Path) -> Result<Self> {
        let mut images = HashMap::new();
        for chip in Chip::ALL {
            let p = dir.join(format!("{}.json", chip.file_name()));
            if p.is_file() {
                images.insert(chip.file_name(), StubImage::load(&p)?);
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

    /// The stub for `chip`.
    pub fn get(&self, chip: Chip) -> Result<&StubImage> {
        let name = chip.file_name();
        let missing = || Error::StubMissingChip { chip, from: self.source.to_string() };
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
