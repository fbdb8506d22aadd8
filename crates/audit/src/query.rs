//! Looking attempts up: "which boards failed today?", "when was AA:BB:.. flashed?".
//!
//! The filter and its meaning are shared by every backend: [`AttemptFilter::normalized`]
//! and [`AttemptFilter::image_match`] decide what matches, a backend only translates the
//! result into its query language (the SQLite one is in `sqlite/query.rs`).

use serde::{Deserialize, Serialize};

use crate::error::{AuditError, Result};
use crate::mac::normalize_mac;
use crate::model::AttemptResult;
use crate::time::Timestamp;

/// Which attempts to return. Every set field must match (AND). Results are newest first
/// (by start time, then id).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AttemptFilter {
    /// Exact MAC, any common spelling.
    pub mac: Option<String>,
    /// Exact slot name.
    pub slot: Option<String>,
    pub result: Option<AttemptResult>,
    /// Started at or after (inclusive).
    pub since: Option<Timestamp>,
    /// Started before (exclusive), so `since = day, until = day + 24 h` is exactly one day.
    pub until: Option<Timestamp>,
    /// Image name (exact), or a prefix of its SHA-256 (at least 4 hex digits, any case).
    pub image: Option<String>,
    /// At most this many rows (the newest); `None` returns all matches.
    pub limit: Option<u32>,
    /// Exact station id (a central record holds many stations; a station's own log one).
    #[serde(default)]
    pub station: Option<String>,
    /// Exact serial number as printed (`[provision] serial`).
    #[serde(default)]
    pub serial: Option<String>,
}

impl AttemptFilter {
    /// Everything.
    pub fn all() -> Self {
        Self::default()
    }

    pub fn mac(mut self, mac: impl Into<String>) -> Self {
        self.mac = Some(mac.into());
        self
    }

    pub fn slot(mut self, slot: impl Into<String>) -> Self {
        self.slot = Some(slot.into());
        self
    }

    pub fn result(mut self, result: AttemptResult) -> Self {
        self.result = Some(result);
        self
    }

    pub fn since(mut self, t: Timestamp) -> Self {
        self.since = Some(t);
        self
    }

    pub fn until(mut self, t: Timestamp) -> Self {
        self.until = Some(t);
        self
    }

    pub fn image(mut self, image: impl Into<String>) -> Self {
        self.image = Some(image.into());
        self
    }

    pub fn station(mut self, station: impl Into<String>) -> Self {
        self.station = Some(station.into());
        self
    }

    pub fn serial(mut self, serial: impl Into<String>) -> Self {
        self.serial = Some(serial.into());
        self
    }

    pub fn limit(mut self, n: u32) -> Self {
        self.limit = Some(n);
        self
    }
}

/// How [`AttemptFilter::image`] matches, decided once for every backend.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ImageMatch {
    /// The image name, exactly.
    Name(String),
    /// The image name exactly, or an image SHA-256 starting with `sha_prefix` (lowercase
    /// hex, 4 to 64 digits).
    NameOrShaPrefix { name: String, sha_prefix: String },
}

impl AttemptFilter {
    /// The filter a backend runs: the MAC in its stored spelling, the image trimmed. Fails
    /// with [`AuditError::Invalid`] for a MAC that is no MAC, before any database is asked.
    pub fn normalized(&self) -> Result<AttemptFilter> {
        let mut f = self.clone();
        if let Some(mac) = &f.mac {
            f.mac = Some(normalize_mac(mac).map_err(AuditError::Invalid)?);
        }
        if let Some(image) = &f.image {
            f.image = Some(image.trim().to_owned());
        }
        if let Some(serial) = &f.serial {
            f.serial = Some(serial.trim().to_owned());
        }
        Ok(f)
    }

    /// How the image field matches: a value of 4 to 64 hex digits is also taken as a
    /// SHA-256 prefix (any case); anything else is a name only.
    pub fn image_match(&self) -> Option<ImageMatch> {
        let image = self.image.as_deref()?.trim();
        let hex_prefix = (4..=64).contains(&image.len()) && image.bytes().all(|b| b.is_ascii_hexdigit());
        Some(if hex_prefix {
            ImageMatch::NameOrShaPrefix { name: image.into(), sha_prefix: image.to_ascii_lowercase() }
        } else {
            ImageMatch::Name(image.into())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalizing_spells_the_mac_as_stored_and_refuses_a_bad_one() {
        let f = AttemptFilter::all().mac("aa-bb-cc-dd-ee-ff").image("  golden.bin ").normalized().unwrap();
        assert_eq!(f.mac.as_deref(), Some("AA:BB:CC:DD:EE:FF"));
        assert_eq!(f.image.as_deref(), Some("golden.bin"));
        assert!(matches!(AttemptFilter::all().mac("nope").normalized(), Err(AuditError::Invalid(_))));
    }

    #[test]
    fn image_is_a_sha_prefix_only_from_four_to_sixty_four_hex_digits() {
        let table = [
            ("golden-v2.bin", None),
            ("abc", None),
            ("ABCD", Some("abcd")),
            (" cdcdcd ", Some("cdcdcd")),
            (&*"ab".repeat(32), Some(&*"ab".repeat(32))),
            (&*"a".repeat(65), None),
            ("abcg", None),
        ];
        for (image, prefix) in table {
            let got = AttemptFilter::all().image(image).image_match().unwrap();
            let want = match prefix {
                Some(p) => ImageMatch::NameOrShaPrefix { name: image.trim().into(), sha_prefix: p.into() },
                None => ImageMatch::Name(image.trim().into()),
            };
            assert_eq!(got, want, "{image}");
        }
        assert_eq!(AttemptFilter::all().image_match(), None);
    }
}
