//! For the config modules' unit tests: a minimal valid config to append one section to,
//! so each test shows only the keys it is about.

use std::path::Path;

use crate::config::Config;

/// The smallest config that loads: a station, a database and one image.
pub(super) const BASE: &str = concat!(
    "station = \"s\"\ndatabase = \"/tmp/a.db\"\n[image]\nmanifest = \"/tmp/m.json\"\nsha256 = \"",
    "0000000000000000000000000000000000000000000000000000000000000000",
    "\"\nchip = \"esp32\"\n"
);

/// [`BASE`] followed by `extra`, parsed; the error as the operator reads it.
pub(super) fn parse(extra: &str) -> Result<Config, String> {
    Config::parse(&format!("{BASE}{extra}"), Path::new("/etc/flashline/t.toml")).map_err(|e| e.to_string())
}
