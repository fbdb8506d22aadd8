//! `[provision]`: per-device serial numbers and NVS data (see [`crate::provision`]).
//!
//! ```toml
//! [provision]
//! serial = { prefix = "FL-", start = 1000, width = 6 }
//!
//! [provision.nvs]
//! template = "nvs-template.csv"   # the NVS generator's CSV, values may hold {placeholders}
//! devices = "devices.csv"         # optional: one row per board
//! device_key = "serial"           # or "mac": the column that names a board's row
//! partition = "nvs"               # label in the golden image's partition table (default:
//! partition_table = 0x8000        #   its NVS partition), or instead:
//! # offset = 0x9000
//! # size = 0x6000
//! ```
//!
//! Files are read and checked here, relative to the config file. With `offset`/`size`
//! the partition of every per-device row is also made here, so `flashline config check`
//! finds a value too long or a partition too small; with a partition table the station
//! does it once the golden image is loaded.

use std::path::PathBuf;

use flashline_nvs::MIN_READ_WRITE_SIZE;
use serde::Deserialize;
use toml::Spanned;

use super::types::{ByteSize, Offset};
use super::{ConfigError, Ctx};
use crate::input_file::{read_text, Symlinks};
use crate::provision::{
    BoardFacts, DeviceKey, DeviceTable, NvsData, NvsPlacement, NvsProvision, Provisioning, SerialFormat,
    MAX_DEVICE_FILE,
};
use crate::text::{escape_for_terminal, escaped_path};

/// Largest template read.
const MAX_TEMPLATE: u64 = 1 << 20;
/// Flash sector: NVS partitions start and end on one.
const SECTOR: u32 = 0x1000;

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct RawProvision {
    #[serde(default)]
    serial: Option<Spanned<RawSerial>>,
    #[serde(default)]
    nvs: Option<RawNvs>,
    #[serde(default)]
    lease_block: Option<Spanned<u64>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSerial {
    #[serde(default)]
    prefix: String,
    #[serde(default = "default_start")]
    start: u64,
    #[serde(default = "default_width")]
    width: usize,
}

fn default_start() -> u64 {
    1
}

fn default_width() -> usize {
    6
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawNvs {
    template: Spanned<PathBuf>,
    #[serde(default)]
    devices: Option<Spanned<PathBuf>>,
    #[serde(default)]
    device_key: Option<Spanned<DeviceKey>>,
    #[serde(default)]
    partition: Option<Spanned<String>>,
    #[serde(default)]
    partition_table: Option<Spanned<Offset>>,
    #[serde(default)]
    offset: Option<Spanned<Offset>>,
    #[serde(default)]
    size: Option<Spanned<ByteSize>>,
}

impl RawProvision {
    /// `sample` gives the longest station/slot/chip names a board's data can hold.
    pub(super) fn validate(self, ctx: &Ctx, sample: &BoardFacts) -> Result<Provisioning, ConfigError> {
        let serial = match self.serial {
            None => None,
            Some(raw) => {
                let span = raw.span();
                let raw = raw.into_inner();
                match SerialFormat::new(&raw.prefix, raw.start, raw.width) {
                    Ok(f) => Some(f),
                    Err(e) => return ctx.err(span, "[provision] serial", e.to_string()),
                }
            }
        };
        let nvs = match self.nvs {
            None => None,
            Some(raw) => Some(raw.validate(ctx, serial.as_ref(), sample)?),
        };
        let lease_block = match self.lease_block {
            None => None,
            Some(raw) if (1..=1_000_000).contains(raw.get_ref()) => Some(raw.into_inner()),
            Some(raw) => return ctx.err(raw.span(), "[provision] lease_block", "must be 1 to 1000000 serial numbers"),
        };
        Ok(Provisioning { serial, nvs, lease_block })
    }
}

impl RawNvs {
    fn validate(
        self,
        ctx: &Ctx,
        serial: Option<&SerialFormat>,
        sample: &BoardFacts,
    ) -> Result<NvsProvision, ConfigError> {
        const KEY: &str = "[provision.nvs]";
        let template_span = self.template.span();
        let template_path = ctx.resolve(self.template.get_ref());
        let template = read_text(&template_path, MAX_TEMPLATE, Symlinks::Follow).or_else(|e| {
            ctx.err(template_span.clone(), KEY, format!("template {}: {e}", escaped_path(&template_path)))
        })?;

        let key = match &self.device_key {
            Some(k) => *k.get_ref(),
            None if serial.is_some() => DeviceKey::Serial,
            None => DeviceKey::Mac,
        };
        if let (Some(k), None) = (&self.device_key, serial) {
            if *k.get_ref() == DeviceKey::Serial {
                return ctx.err(
                    k.span(),
                    KEY,
                    "device_key = \"serial\" needs serial numbers: add [provision] serial = { prefix, start, width }",
                );
            }
        }
        let placement = self.placement(ctx)?;
        let devices = match self.devices {
            None => None,
            Some(d) => {
                let span = d.span();
                let path = ctx.resolve(d.get_ref());
                let text = read_text(&path, MAX_DEVICE_FILE, Symlinks::Follow)
                    .or_else(|e| ctx.err(span.clone(), KEY, format!("devices {}: {e}", escaped_path(&path))))?;
                let table = DeviceTable::parse(&text, key)
                    .or_else(|e| ctx.err(span.clone(), KEY, format!("devices {}: {e}", escaped_path(&path))))?;
                Some((path, table))
            }
        };
        let data = NvsData::new(template_path, template, devices);
        if let NvsPlacement::Fixed { size, .. } = placement {
            let mut facts = sample.clone();
            facts.serial = serial.map(|f| (f.longest(), f.last_in_width()));
            if let Err(e) = data.check_all(&facts, size as usize) {
                return ctx.err(template_span, KEY, e.to_string());
            }
        }
        Ok(NvsProvision { data, placement })
    }

    fn placement(&self, ctx: &Ctx) -> Result<NvsPlacement, ConfigError> {
        const KEY: &str = "[provision.nvs]";
        match (&self.offset, &self.size) {
            (None, None) => {
                let label = self.partition.as_ref().map(|p| p.get_ref().trim().to_owned());
                if let Some(p) = &self.partition {
                    let label = p.get_ref().trim();
                    if label.is_empty() || label.len() > 16 || !label.is_ascii() {
                        return ctx.err(
                            p.span(),
                            "[provision.nvs] partition",
                            format!(
                                "'{}' is not a partition label (1 to 16 ASCII characters)",
                                escape_for_terminal(p.get_ref())
                            ),
                        );
                    }
                }
                let table_offset =
                    self.partition_table.as_ref().map_or(NvsPlacement::DEFAULT_TABLE_OFFSET, |o| o.get_ref().0);
                if !table_offset.is_multiple_of(SECTOR) {
                    let span = self.partition_table.as_ref().map(Spanned::span).unwrap_or_default();
                    return ctx.err(
                        span,
                        "[provision.nvs] partition_table",
                        format!("{table_offset:#x} is not on a 4 KiB boundary"),
                    );
                }
                Ok(NvsPlacement::FromTable { label, table_offset })
            }
            (Some(offset), Some(size)) => {
                if let Some(p) =
                    self.partition.as_ref().map(Spanned::span).or(self.partition_table.as_ref().map(Spanned::span))
                {
                    return ctx.err(p, KEY, "give either offset and size, or partition/partition_table, not both");
                }
                let (o, s) = (offset.get_ref().0, size.get_ref().0);
                if !o.is_multiple_of(SECTOR) {
                    return ctx.err(
                        offset.span(),
                        "[provision.nvs] offset",
                        format!("{o:#x} is not on a 4 KiB boundary"),
                    );
                }
                if !s.is_multiple_of(SECTOR) || (s as usize) < MIN_READ_WRITE_SIZE {
                    return ctx.err(
                        size.span(),
                        "[provision.nvs] size",
                        format!(
                            "{s:#x} is not a usable NVS size (a multiple of 0x1000, at least {MIN_READ_WRITE_SIZE:#x})"
                        ),
                    );
                }
                if o.checked_add(s).is_none_or(|end| end > 16 << 20) {
                    return ctx.err(offset.span(), KEY, format!("{o:#x} + {s:#x} reaches past 16 MB of flash"));
                }
                Ok(NvsPlacement::Fixed { offset: o, size: s })
            }
            (Some(o), None) => ctx.err(o.span(), KEY, "offset needs size too"),
            (None, Some(s)) => ctx.err(s.span(), KEY, "size needs offset too"),
        }
    }
}
