//! ESP-IDF's `build/flasher_args.json`, as written by `idf.py build`
//! (`components/esptool_py/flasher_args.json.in`):
//!
//! ```json
//! {
//!     "write_flash_args" : [ "--flash_mode", "dio", "--flash_size", "4MB", "--flash_freq", "40m" ],
//!     "flash_settings" : { "flash_mode": "dio", "flash_size": "4MB", "flash_freq": "40m" },
//!     "flash_files" : {
//!         "0x1000" : "bootloader/bootloader.bin",
//!         "0x8000" : "partition_table/partition-table.bin",
//!         "0x10000" : "app.bin"
//!     },
//!     "bootloader" : { "offset" : "0x1000", "file" : "bootloader/bootloader.bin", "encrypted" : "false" },
//!     "app" : { "offset" : "0x10000", "file" : "app.bin", "encrypted" : "false" },
//!     "extra_esptool_args" : { "after" : "hard_reset", "before" : "default_reset", "stub" : true, "chip" : "esp32" }
//! }
//! ```
//!
//! Only `flash_files` (what `esptool write_flash @flash_args` writes), `flash_settings.flash_size`
//! and `extra_esptool_args.chip` matter here. Other keys are ignored: the format is
//! ESP-IDF's, and new IDF versions add keys. Files are relative to the JSON file.

use std::collections::BTreeMap;
use std::path::Path;

use flashline_protocol::flash::parse_size;
use serde::Deserialize;

use super::{read_description, resolve, ImageError, Region, RegionScope};

#[derive(Debug, Clone, Deserialize)]
pub struct FlasherArgs {
    /// Offset ("0x1000") → file.
    pub flash_files: BTreeMap<String, String>,
    #[serde(default)]
    pub flash_settings: Option<FlashSettings>,
    #[serde(default)]
    pub extra_esptool_args: Option<ExtraEsptoolArgs>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct FlashSettings {
    pub flash_mode: Option<String>,
    /// "4MB", or "detect"/"keep" when the build leaves it to the board.
    pub flash_size: Option<String>,
    pub flash_freq: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct ExtraEsptoolArgs {
    pub chip: Option<String>,
    pub before: Option<String>,
    pub after: Option<String>,
    pub stub: Option<bool>,
}

impl FlasherArgs {
    pub fn load(path: &Path) -> Result<FlasherArgs, ImageError> {
        FlasherArgs::parse(&read_description(path)?, path)
    }

    pub fn parse(text: &str, path: &Path) -> Result<FlasherArgs, ImageError> {
        serde_json::from_str(text).map_err(|e| ImageError::Malformed {
            file: path.to_path_buf(),
            message: format!("not a valid flasher_args.json (line {}, column {}): {e}", e.line(), e.column()),
        })
    }

    /// The chip the build targets (IDF 5 and later write it).
    pub fn chip(&self) -> Option<String> {
        self.extra_esptool_args.as_ref().and_then(|a| a.chip.clone()).filter(|c| !c.is_empty())
    }

    /// The flash size the build was configured for, unless left to detection.
    pub fn flash_size(&self) -> Option<u32> {
        let s = self.flash_settings.as_ref()?.flash_size.as_deref()?;
        parse_size(s).ok()
    }

    /// Reads every file of `flash_files`, relative to `json_path`, where `scope` allows.
    pub fn read_regions(&self, json_path: &Path, scope: RegionScope) -> Result<Vec<Region>, ImageError> {
        if self.flash_files.is_empty() {
            return Err(ImageError::Empty { source_file: json_path.to_path_buf() });
        }
        self.flash_files
            .iter()
            .map(|(offset, file)| {
                let malformed = |message: String| ImageError::Malformed { file: json_path.to_path_buf(), message };
                let off = parse_size(offset).map_err(|e| malformed(format!("flash_files: {e}")))?;
                if file.is_empty() {
                    return Err(malformed(format!("flash_files: offset {offset} has an empty file name")));
                }
                Region::read(off, resolve(json_path, Path::new(file)), json_path, scope)
            })
            .collect()
    }
}
