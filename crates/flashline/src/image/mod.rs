//! The golden image: what every board on the line gets.
//!
//! Three ways to describe it, all ending in the same list of [`Region`]s:
//! - our own manifest ([`manifest`]): chip, flash size, regions with offset, file, SHA-256
//!   and length, and where it was captured from; `flashline capture` writes it;
//! - ESP-IDF's `flasher_args.json` from a build directory ([`flasher_args`]);
//! - a single merged binary (esptool `merge_bin`) written at offset 0.
//!
//! Files are resolved relative to the manifest (or `flasher_args.json`) and must stay in
//! its directory unless allowed ([`RegionScope`]). Every file is read as untrusted input:
//! regular files only, at most [`MAX_FLASH_SIZE`] (a region) or [`MAX_DESCRIPTION_SIZE`]
//! (a description), never blocking on a FIFO or reading a device. Loading checks
//! everything that can be checked without a board: files present and readable, offsets
//! aligned, regions disjoint (also at flash-sector level, since erasing is per sector)
//! and within the largest flash a supported chip has, not empty, the bootloader header's
//! chip id; [`GoldenImage::load_pinned`] adds the pinned digest, the expected chip family
//! and the configured minimum flash size. Per board the dispatcher calls
//! [`GoldenImage::check_fits`] with the detected flash size.

mod digest;
mod error;
pub mod flasher_args;
mod header;
pub mod manifest;
mod scope;

use std::path::{Path, PathBuf};

use flashline_protocol::flash::SECTOR_SIZE;
use flashline_protocol::Chip;

use crate::config::ImageConfig;
pub use digest::{canonical_digest, Sha256Digest};
pub use error::ImageError;
pub use manifest::{CaptureInfo, Manifest, ManifestRegion};
pub use scope::RegionScope;

use crate::input_file::{read_regular, read_text, Symlinks};

/// The largest flash of the chip families flashline supports (ESP8266 and ESP32 address
/// at most 16 MiB): no region may end beyond it, and no region file may be larger.
pub const MAX_FLASH_SIZE: u32 = 16 << 20;

/// How a station or a one-off command compresses the golden image it prepares: Zopfli,
/// the smallest zlib stream flashline makes (any stub inflates it like esptool's zlib-9).
/// The image is prepared once per line, not per board, so its cost — ~2 s of one core for
/// the one-board benchmark's 4 MB merged image with 1 MB of firmware (docs/BENCHMARKS.md)
/// — buys fewer bytes on the wire for every board. More iterations shrink the stream by
/// bytes, not percent, at a second more each.
pub const GOLDEN_COMPRESSION: flashline_session::ImageCompression =
    flashline_session::ImageCompression::Zopfli { iterations: 1 };

/// Largest manifest or `flasher_args.json` read (real ones are a few KB).
pub const MAX_DESCRIPTION_SIZE: u64 = 1 << 20;

/// Where the golden image is described.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ImageSource {
    /// Our TOML manifest (see [`manifest`]).
    Manifest(PathBuf),
    /// ESP-IDF `build/flasher_args.json`.
    FlasherArgs(PathBuf),
    /// One merged binary written at offset 0.
    MergedBin(PathBuf),
}

impl ImageSource {
    /// The file named in the config.
    pub fn path(&self) -> &Path {
        match self {
            ImageSource::Manifest(p) | ImageSource::FlasherArgs(p) | ImageSource::MergedBin(p) => p,
        }
    }
}

/// One contiguous piece of flash content.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Region {
    /// Flash address, 4-byte aligned.
    pub offset: u32,
    /// Bytes to write: the file padded with 0xFF to a multiple of 4 (as esptool does).
    pub data: Vec<u8>,
    /// The file the bytes came from (resolved path).
    pub file: PathBuf,
    /// Length of the file before padding.
    pub file_len: u64,
    /// SHA-256 of the file as read (before padding).
    pub file_sha256: Sha256Digest,
}

impl Region {
    /// One past the last byte written.
    pub fn end(&self) -> u64 {
        u64::from(self.offset) + self.data.len() as u64
    }

    /// Reads `file` (named in `described_in`, within `scope`) into a region at `offset`.
    fn read(offset: u32, file: PathBuf, described_in: &Path, scope: RegionScope) -> Result<Region, ImageError> {
        let (name, symlinks) = scope.locate(&file, described_in)?;
        let raw = read_regular(&name, u64::from(MAX_FLASH_SIZE), symlinks)
            .map_err(|e| ImageError::read(file.clone(), described_in, e))?;
        if raw.is_empty() {
            return Err(ImageError::EmptyFile { file });
        }
        let file_len = raw.len() as u64;
        let file_sha256 = Sha256Digest::of(&raw);
        let mut data = raw;
        data.resize(data.len().next_multiple_of(4), 0xFF);
        Ok(Region { offset, data, file, file_len, file_sha256 })
    }
}

/// A loaded, checked golden image.
#[derive(Debug, Clone)]
pub struct GoldenImage {
    source: ImageSource,
    regions: Vec<Region>,
    sha256: Sha256Digest,
    declared_chip: Option<String>,
    declared_flash_size: Option<u32>,
    capture: Option<CaptureInfo>,
}

impl GoldenImage {
    /// Loads and checks the image described by `source` (no pin or chip expectation);
    /// region files must be in the description's directory.
    pub fn load(source: &ImageSource) -> Result<GoldenImage, ImageError> {
        GoldenImage::load_scoped(source, RegionScope::DescriptionDir)
    }

    /// [`GoldenImage::load`] with region files allowed where `scope` says. The file
    /// `source` names is an explicit choice and may be anywhere (a merged bin too).
    pub fn load_scoped(source: &ImageSource, scope: RegionScope) -> Result<GoldenImage, ImageError> {
        let (regions, declared_chip, declared_flash_size, capture) = match source {
            ImageSource::Manifest(p) => {
                let m = Manifest::load(p)?;
                let regions = m.read_regions(p, scope)?;
                (regions, Some(m.chip.file_name().to_string()), m.flash_size.map(|s| s.0), m.capture)
            }
            ImageSource::FlasherArgs(p) => {
                let fa = flasher_args::FlasherArgs::load(p)?;
                let regions = fa.read_regions(p, scope)?;
                (regions, fa.chip(), fa.flash_size(), None)
            }
            ImageSource::MergedBin(p) => {
                (vec![Region::read(0, p.clone(), p, RegionScope::Anywhere)?], None, None, None)
            }
        };
        Self::from_regions(source.clone(), regions, declared_chip, declared_flash_size, capture)
    }

    /// Builds an image from regions already read, running the layout checks.
    fn from_regions(
        source: ImageSource,
        mut regions: Vec<Region>,
        declared_chip: Option<String>,
        declared_flash_size: Option<u32>,
        capture: Option<CaptureInfo>,
    ) -> Result<GoldenImage, ImageError> {
        let source_file = source.path().to_path_buf();
        if regions.iter().all(|r| r.data.is_empty()) {
            return Err(ImageError::Empty { source_file });
        }
        for r in &regions {
            if r.offset % 4 != 0 {
                return Err(ImageError::Misaligned { source_file, file: r.file.clone(), offset: r.offset });
            }
        }
        regions.sort_by_key(|r| r.offset);
        if let Some(r) = regions.iter().find(|r| r.end() > u64::from(MAX_FLASH_SIZE)) {
            return Err(ImageError::BeyondFlash {
                source_file,
                file: r.file.clone(),
                offset: r.offset,
                end: r.end(),
                limit: MAX_FLASH_SIZE,
            });
        }
        check_disjoint(&source_file, &regions)?;
        let sha256 = canonical_digest(&regions);
        Ok(GoldenImage { source, regions, sha256, declared_chip, declared_flash_size, capture })
    }

    /// Loads the image the config names and checks it against everything the config
    /// expects: region files where `[image] allow_outside` allows them, pinned digest,
    /// chip family (declared and in the bootloader header) and that it fits the minimum
    /// flash size.
    pub fn load_pinned(cfg: &ImageConfig) -> Result<GoldenImage, ImageError> {
        let img = GoldenImage::load_scoped(&cfg.source, RegionScope::allow_outside(cfg.allow_outside))?;
        img.verify_pin(&cfg.sha256)?;
        img.check_chip(cfg.chip)?;
        if let Some(min) = cfg.min_flash_size {
            img.check_fits(min)?;
        }
        Ok(img)
    }

    /// Refuses an image whose canonical digest is not the pinned one.
    pub fn verify_pin(&self, expected: &Sha256Digest) -> Result<(), ImageError> {
        if &self.sha256 == expected {
            Ok(())
        } else {
            Err(ImageError::PinMismatch {
                source_file: self.source.path().to_path_buf(),
                expected: *expected,
                found: self.sha256,
            })
        }
    }

    /// Checks the chip family the image declares (manifest `chip`, `flasher_args.json`
    /// `extra_esptool_args.chip`) and the chip id in the bootloader header, if the image
    /// covers the chip's bootloader offset.
    pub fn check_chip(&self, chip: Chip) -> Result<(), ImageError> {
        if let Some(declared) = &self.declared_chip {
            if normalize_chip_name(declared) != chip.file_name() {
                return Err(ImageError::ChipMismatch {
                    file: self.source.path().to_path_buf(),
                    declared: declared.clone(),
                    expected: chip,
                });
            }
        }
        header::check_bootloader(&self.regions, chip)
    }

    /// Refuses an image that does not fit a flash of `flash_size` bytes (called per board
    /// with the detected size, and at start-up with the configured minimum).
    pub fn check_fits(&self, flash_size: u32) -> Result<(), ImageError> {
        if self.end() > u64::from(flash_size) {
            Err(ImageError::TooLarge { source_file: self.source.path().to_path_buf(), end: self.end(), flash_size })
        } else {
            Ok(())
        }
    }

    /// The canonical digest (see [`canonical_digest`]).
    pub fn sha256(&self) -> Sha256Digest {
        self.sha256
    }

    /// The regions, sorted by offset.
    pub fn regions(&self) -> &[Region] {
        &self.regions
    }

    /// Where the image was described.
    pub fn source(&self) -> &ImageSource {
        &self.source
    }

    /// One past the highest byte written.
    pub fn end(&self) -> u64 {
        self.regions.iter().map(Region::end).max().unwrap_or(0)
    }

    /// Bytes written in total (padding included).
    pub fn total_len(&self) -> u64 {
        self.regions.iter().map(|r| r.data.len() as u64).sum()
    }

    /// The chip family the description names, lower case without dashes ("esp32").
    pub fn declared_chip(&self) -> Option<&str> {
        self.declared_chip.as_deref()
    }

    /// The flash size the description names (not "detect"/"keep").
    pub fn declared_flash_size(&self) -> Option<u32> {
        self.declared_flash_size
    }

    /// Capture provenance, for images written by `flashline capture`.
    pub fn capture(&self) -> Option<&CaptureInfo> {
        self.capture.as_ref()
    }
}

/// "ESP32-S3" and "esp32s3" name the same chip.
fn normalize_chip_name(name: &str) -> String {
    name.chars().filter(|c| *c != '-' && *c != '_').collect::<String>().to_ascii_lowercase()
}

/// Regions (sorted by offset) must neither overlap nor share a flash sector.
fn check_disjoint(source_file: &Path, regions: &[Region]) -> Result<(), ImageError> {
    let sector = u64::from(SECTOR_SIZE);
    for pair in regions.windows(2) {
        let (a, b) = (&pair[0], &pair[1]);
        let b_start = u64::from(b.offset);
        if b_start < a.end() {
            return Err(ImageError::Overlap {
                source_file: source_file.to_path_buf(),
                first: a.file.clone(),
                first_range: (u64::from(a.offset), a.end()),
                second: b.file.clone(),
                second_range: (b_start, b.end()),
            });
        }
        let a_last_sector = (a.end() - 1) / sector;
        if b_start / sector == a_last_sector {
            return Err(ImageError::SharedSector {
                source_file: source_file.to_path_buf(),
                first: a.file.clone(),
                first_end: a.end(),
                second: b.file.clone(),
                second_start: b_start,
                sector: a_last_sector * sector,
            });
        }
    }
    Ok(())
}

/// Reads a description file (manifest, `flasher_args.json`): a regular file, bounded.
fn read_description(path: &Path) -> Result<String, ImageError> {
    read_text(path, MAX_DESCRIPTION_SIZE, Symlinks::Follow).map_err(|e| ImageError::read(path.to_path_buf(), path, e))
}

/// Resolves `file` as written in a description file: relative to that file's directory.
pub(crate) fn resolve(described_in: &Path, file: &Path) -> PathBuf {
    if file.is_absolute() {
        file.to_path_buf()
    } else {
        described_in.parent().unwrap_or(Path::new("")).join(file)
    }
}

#[cfg(test)]
mod hostile_tests;
#[cfg(test)]
mod tests;
