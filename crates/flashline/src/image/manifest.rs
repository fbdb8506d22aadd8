//! flashline's own image manifest: a small TOML file next to the region files.
//!
//! ```toml
//! format = 1
//! chip = "esp32"
//! flash_size = "4MB"                 # optional: the source board's flash
//!
//! [capture]                          # optional: written by `flashline capture`
//! source_mac = "24:0a:c4:12:34:56"
//! date = "2026-11-22T01:02:03Z"
//! read_length = "4MB"                # bytes read before trailing 0xFF were trimmed
//!
//! [[region]]
//! offset = "0x1000"
//! file = "bootloader.bin"            # relative to this manifest
//! sha256 = "…64 hex digits…"         # optional: checked against the file
//! length = 26352                     # optional: checked against the file (trimmed length)
//! ```
//!
//! Unknown keys are rejected, like in the config: a typo must not silently drop a check.

use std::path::{Path, PathBuf};

use flashline_protocol::chip::Mac;
use flashline_protocol::Chip;
use serde::{Deserialize, Serialize};

use super::{read_description, resolve, ImageError, Region, RegionScope, Sha256Digest};
use crate::config::error::line_col;
use crate::config::types::{chip_name, opt_mac, ByteSize, Offset};

/// The manifest format this code reads and writes.
pub const FORMAT: u32 = 1;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    pub format: u32,
    #[serde(with = "chip_name")]
    pub chip: Chip,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub flash_size: Option<ByteSize>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub capture: Option<CaptureInfo>,
    #[serde(rename = "region")]
    pub regions: Vec<ManifestRegion>,
}

/// Where a captured image came from.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CaptureInfo {
    #[serde(default, with = "opt_mac", skip_serializing_if = "Option::is_none")]
    pub source_mac: Option<Mac>,
    /// RFC 3339 time of the capture, kept as written.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub date: Option<String>,
    /// Bytes read from the source board before trailing 0xFF were trimmed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub read_length: Option<ByteSize>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ManifestRegion {
    pub offset: Offset,
    pub file: PathBuf,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sha256: Option<Sha256Digest>,
    /// File length (for a capture: after trimming trailing 0xFF).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub length: Option<u64>,
}

impl Manifest {
    /// Reads and parses the manifest at `path`.
    pub fn load(path: &Path) -> Result<Manifest, ImageError> {
        Manifest::parse(&read_description(path)?, path)
    }

    /// Parses manifest `text`; `path` is only used in error messages.
    pub fn parse(text: &str, path: &Path) -> Result<Manifest, ImageError> {
        let m: Manifest = toml::from_str(text).map_err(|e| {
            let (line, col) = line_col(text, e.span().map_or(0, |s| s.start));
            ImageError::Malformed {
                file: path.to_path_buf(),
                message: format!("line {line}, column {col}: {}", e.message()),
            }
        })?;
        if m.format != FORMAT {
            return Err(ImageError::Malformed {
                file: path.to_path_buf(),
                message: format!(
                    "manifest format {} is not supported (this flashline reads format {FORMAT})",
                    m.format
                ),
            });
        }
        if m.regions.is_empty() {
            return Err(ImageError::Empty { source_file: path.to_path_buf() });
        }
        Ok(m)
    }

    /// The manifest as TOML, ready to be written next to its region files.
    pub fn to_toml(&self) -> String {
        let body = toml::to_string(self).expect("a manifest always serializes");
        format!("# flashline image manifest: region files are relative to this file.\n{body}")
    }

    /// Reads every region file (relative to `manifest_path`, where `scope` allows) and
    /// checks it against the digest and length the manifest records.
    pub fn read_regions(&self, manifest_path: &Path, scope: RegionScope) -> Result<Vec<Region>, ImageError> {
        self.regions
            .iter()
            .map(|r| {
                let file = resolve(manifest_path, &r.file);
                let region = Region::read(r.offset.0, file.clone(), manifest_path, scope)?;
                if let Some(expected) = r.length {
                    if expected != region.file_len {
                        return Err(ImageError::FileLength {
                            file,
                            manifest: manifest_path.to_path_buf(),
                            expected,
                            found: region.file_len,
                        });
                    }
                }
                if let Some(expected) = r.sha256 {
                    if expected != region.file_sha256 {
                        return Err(ImageError::FileDigest {
                            file,
                            manifest: manifest_path.to_path_buf(),
                            expected,
                            found: region.file_sha256,
                        });
                    }
                }
                Ok(region)
            })
            .collect()
    }
}
