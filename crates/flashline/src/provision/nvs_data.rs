//! A board's own NVS partition: the template (the official generator's CSV with
//! placeholders in its values and file names) filled in with the board's facts and its row
//! of the per-device file, laid out by `flashline-nvs`.
//!
//! The same function makes the partition at start-up for every row of the per-device file
//! (or once for a sample board when there is none), with the longest values a board can
//! bring (the widest serial, a MAC), so an unknown placeholder, a value too long for its
//! type, a missing file or a partition too small stops the station before any board is
//! touched, and making it for a real board cannot fail for a reason a check could have
//! found, except a board that has no row.

use std::io;
use std::path::{Component, Path, PathBuf};

use flashline_nvs::csv::{parse_mapped, CsvError};
use flashline_nvs::{generate_items, NvsError};

use super::device_file::{DeviceRow, DeviceTable};
use super::placeholders::{Placeholder, Template};
use crate::input_file::{read_regular, ReadError, Symlinks};
use crate::text::escaped_path;

/// What is known of one board when its partition is made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BoardFacts {
    /// As the audit log spells it: `AA:BB:CC:DD:EE:FF`.
    pub mac: String,
    /// The allocated serial: printed form and number (`None` without `[provision] serial`).
    pub serial: Option<(String, u64)>,
    pub station: String,
    pub slot: String,
    pub chip: String,
}

/// Why a board's partition could not be made.
#[derive(Debug, thiserror::Error)]
pub enum NvsDataError {
    #[error("no row for {key} {value} in {}; add the board's row to the per-device file", escaped_path(.file))]
    NoDeviceRow { key: &'static str, value: String, file: PathBuf },
    #[error("{}: {source}", escaped_path(.template))]
    Template { template: PathBuf, source: CsvError },
    #[error("{}: {source}", escaped_path(.template))]
    Layout { template: PathBuf, source: NvsError },
}

/// The template and the per-device file, read and checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NvsData {
    template_path: PathBuf,
    template: String,
    devices: Option<(PathBuf, DeviceTable)>,
}

impl NvsData {
    pub fn new(template_path: PathBuf, template: String, devices: Option<(PathBuf, DeviceTable)>) -> NvsData {
        NvsData { template_path, template, devices }
    }

    /// The per-device file's table, if the config names one.
    pub fn devices(&self) -> Option<&DeviceTable> {
        self.devices.as_ref().map(|(_, t)| t)
    }

    /// The partition of the board described by `facts`, `size` bytes.
    pub fn render(&self, facts: &BoardFacts, size: usize) -> Result<Vec<u8>, NvsDataError> {
        let row = match &self.devices {
            None => None,
            Some((file, table)) => {
                let id = match table.key() {
                    super::DeviceKey::Serial => facts.serial.as_ref().map(|(s, _)| s.as_str()).unwrap_or(""),
                    super::DeviceKey::Mac => facts.mac.as_str(),
                };
                Some(table.row(id).ok_or_else(|| NvsDataError::NoDeviceRow {
                    key: table.key().column(),
                    value: id.to_owned(),
                    file: file.clone(),
                })?)
            }
        };
        self.render_row(facts, row, size)
    }

    /// Makes the partition for every row of the per-device file (or for `sample` alone
    /// when there is none): the start-up check. `sample` carries the longest facts; with a
    /// per-device file keyed by serial each row's serial is its own key. Returns the number
    /// of partitions made.
    pub fn check_all(&self, sample: &BoardFacts, size: usize) -> Result<usize, NvsDataError> {
        let Some((_, table)) = &self.devices else {
            self.render_row(sample, None, size)?;
            return Ok(1);
        };
        for (id, row) in table.rows() {
            let mut facts = sample.clone();
            match table.key() {
                super::DeviceKey::Serial => {
                    if let Some(serial) = facts.serial.as_mut() {
                        serial.0 = id.to_owned();
                    }
                }
                super::DeviceKey::Mac => facts.mac = id.to_owned(),
            }
            self.render_row(&facts, Some(row), size)?;
        }
        Ok(table.len())
    }

    fn render_row(&self, facts: &BoardFacts, row: Option<&DeviceRow>, size: usize) -> Result<Vec<u8>, NvsDataError> {
        let mac_hex = facts.mac.replace(':', "");
        let serial_number = facts.serial.as_ref().map(|(_, n)| n.to_string());
        let table = self.devices.as_ref().map(|(_, t)| t);
        let value = |p: &Placeholder| -> Option<&str> {
            match p {
                Placeholder::Mac => Some(&facts.mac),
                Placeholder::MacHex => Some(&mac_hex),
                Placeholder::Serial => facts.serial.as_ref().map(|(s, _)| s.as_str()),
                Placeholder::SerialNumber => serial_number.as_deref(),
                Placeholder::Station => Some(&facts.station),
                Placeholder::Slot => Some(&facts.slot),
                Placeholder::Chip => Some(&facts.chip),
                Placeholder::Device(column) => table?.value(row?, column),
            }
        };
        let map = |_key: &str, text: &str| -> Result<String, String> {
            let template = Template::parse(text).map_err(|e| e.to_string())?;
            template.fill(value).map_err(|missing| self.missing(&missing))
        };
        let dir = self.template_path.parent().unwrap_or(Path::new("")).to_path_buf();
        let load = |name: &str| load_beside(&dir, name, size as u64);
        let items = parse_mapped(&self.template, map, load)
            .map_err(|source| NvsDataError::Template { template: self.template_path.clone(), source })?;
        generate_items(&items, size)
            .map_err(|source| NvsDataError::Layout { template: self.template_path.clone(), source })
    }

    /// Why a placeholder has no value for a board, and what to do.
    fn missing(&self, p: &Placeholder) -> String {
        match (p, &self.devices) {
            (Placeholder::Serial | Placeholder::SerialNumber, _) => {
                format!("{p} needs serial numbers: add [provision] serial = {{ prefix, start, width }}")
            }
            (Placeholder::Device(_), None) => {
                format!("{p} needs a per-device file: add [provision.nvs] devices = \"FILE.csv\"")
            }
            (Placeholder::Device(column), Some((file, table))) => {
                format!("{} has no column {column:?} (columns: {})", escaped_path(file), table.columns().join(", "))
            }
            _ => format!("{p} has no value"),
        }
    }
}

/// Reads a template's `file` row: a file in the template's directory or below it (no
/// absolute path, no `..`), a regular file of at most the partition's size.
fn load_beside(dir: &Path, name: &str, limit: u64) -> io::Result<Vec<u8>> {
    let relative = Path::new(name);
    if name.is_empty() || !relative.components().all(|c| matches!(c, Component::Normal(_) | Component::CurDir)) {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "file rows name a file beside the template or below it (no absolute path, no '..')",
        ));
    }
    read_regular(&dir.join(relative), limit, Symlinks::Refuse).map_err(|e| match e {
        ReadError::Io(e) => e,
        ReadError::NotFound => io::Error::new(io::ErrorKind::NotFound, "no such file"),
        other => io::Error::new(io::ErrorKind::InvalidData, other.to_string()),
    })
}
