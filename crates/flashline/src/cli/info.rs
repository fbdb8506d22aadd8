//! `flashline info --port P [--json]`: chip, revision, MAC, flash JEDEC id and size of one
//! board (what `esptool flash-id` and `esptool read-mac` print together).

use clap::Args;
use flashline_protocol::flash::format_size;
use flashline_session::{ChipInfo, FlasherConfig};
use serde::Serialize;

use super::board::{self, BoardArgs};
use super::report_format::{print_json, ReportFormat};
use super::CliResult;
use crate::exit::Exit;

#[derive(Debug, Clone, Args)]
pub struct InfoArgs {
    #[command(flatten)]
    pub board: BoardArgs,
    /// Print one JSON object instead of text (same as `--format json`).
    #[arg(long)]
    pub json: bool,
}

/// What `--json` prints.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BoardInfo {
    pub port: String,
    /// Family, as `--chip` takes it ("esp32").
    pub chip: String,
    /// "ESP32-D0WD-V3 (revision v3.0)".
    pub description: String,
    /// "v3.0" where the chip reports one.
    pub revision: Option<String>,
    pub mac: String,
    /// JEDEC id as RDID returns it (`manufacturer | type << 8 | capacity << 16`), hex.
    pub flash_id: Option<String>,
    pub flash_manufacturer: Option<String>,
    /// As esptool prints it ("4016").
    pub flash_device: Option<String>,
    /// Bytes; `None` when the JEDEC capacity code is unknown.
    pub flash_size: Option<u32>,
}

impl BoardInfo {
    pub fn new(port: &str, info: &ChipInfo) -> BoardInfo {
        BoardInfo {
            port: port.to_string(),
            chip: info.chip.file_name().to_string(),
            description: info.description.clone(),
            revision: info.revision.map(|(major, minor)| format!("v{major}.{minor}")),
            mac: super::report_format::mac(&info.mac),
            flash_id: info.flash.map(|f| format!("0x{:06x}", f.jedec_id)),
            flash_manufacturer: info.flash.map(|f| format!("0x{:02x}", f.manufacturer())),
            flash_device: info.flash.map(|f| format!("{:04x}", f.device())),
            flash_size: info.flash.and_then(|f| f.size),
        }
    }

    pub fn to_text(&self) -> String {
        let dash = || "-".to_string();
        let size = match (self.flash_size, &self.flash_id) {
            (Some(s), _) => format!("{} ({s} bytes)", format_size(s)),
            (None, Some(_)) => "unknown (JEDEC capacity code not in the table)".into(),
            (None, None) => dash(),
        };
        [
            ("port", self.port.clone()),
            ("chip", self.description.clone()),
            ("revision", self.revision.clone().unwrap_or_else(dash)),
            ("mac", self.mac.clone()),
            ("flash id", self.flash_id.clone().unwrap_or_else(dash)),
            ("manufacturer", self.flash_manufacturer.clone().unwrap_or_else(dash)),
            ("device", self.flash_device.clone().unwrap_or_else(dash)),
            ("flash size", size),
        ]
        .iter()
        // The port is typed by the user or found by udev: shown escaped like every value.
        .map(|(k, v)| format!("{k:<13}{}\n", crate::text::Escaped(v)))
        .collect()
    }
}

pub async fn run(args: InfoArgs) -> CliResult {
    let cfg = args.board.flasher_config(Some(FlasherConfig::default()), None)?;
    let board = board::connect(&args.board, &cfg).await?;
    let info = BoardInfo::new(&board.port, board.flasher.info());
    board.finish(args.board.after.unwrap_or_default()).await?;
    if args.json || args.board.format == ReportFormat::Json {
        print_json(&info)?;
    } else {
        print!("{}", info.to_text());
    }
    Ok(Exit::Success)
}

#[cfg(test)]
mod tests {
    use super::*;
    use flashline_protocol::chip::Mac;
    use flashline_protocol::Chip;
    use flashline_session::FlashInfo;

    #[test]
    fn text_and_json_fields() {
        let info = ChipInfo {
            chip: Chip::Esp8266,
            mac: "84:0d:8e:00:00:01".parse::<Mac>().unwrap(),
            revision: None,
            description: "ESP8266EX".into(),
            flash: Some(FlashInfo { jedec_id: 0x16_40_EF, size: Some(4 << 20) }),
        };
        let b = BoardInfo::new("/dev/ttyUSB0", &info);
        assert_eq!(b.flash_device.as_deref(), Some("4016"));
        assert_eq!(b.flash_manufacturer.as_deref(), Some("0xef"));
        let text = b.to_text();
        assert!(text.contains("flash size   4MB (4194304 bytes)"), "{text}");
        assert!(text.contains("revision     -"), "{text}");
        let json: serde_json::Value = serde_json::to_value(&b).unwrap();
        assert_eq!(json["chip"], "esp8266");
        assert_eq!(json["flash_id"], "0x1640ef");
        assert_eq!(json["flash_size"], 4 << 20);
    }

    #[test]
    fn text_shows_the_port_escaped() {
        let info = ChipInfo {
            chip: Chip::Esp32,
            mac: "24:0a:c4:00:00:01".parse::<Mac>().unwrap(),
            revision: Some((3, 0)),
            description: "ESP32-D0WD-V3".into(),
            flash: None,
        };
        let text = BoardInfo::new("/dev/tty\u{1b}[2J\u{202e}USB0", &info).to_text();
        assert!(!text.chars().any(|c| c != '\n' && crate::text::needs_escape(c)), "{text:?}");
        assert!(text.contains("port         /dev/tty\\x1b[2J\\u{202e}USB0"), "{text}");
    }
}
