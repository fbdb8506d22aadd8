//! Command line of the `espsim` binary.

use crate::chips;
use crate::config::{default_mac_base, BoardConfig, FLASH_SIZES};
use crate::faults::{TargetedFault, GRAMMAR};
use crate::timing::TimingMode;
use crate::usb::LinkMode;
use clap::Parser;
use flashline_protocol::chip::Mac;
use flashline_protocol::flash::{format_size, parse_size};
use flashline_protocol::Chip;
use std::path::PathBuf;

/// Simulated ESP32 / ESP8266 boards in serial download mode, one PTY per board.
///
/// Creates DIR/board0 .. DIR/board{N-1} (symlinks to PTYs), prints one line per board
/// ("boardK PATH MAC"), then "READY", and runs until SIGTERM/SIGINT, when it removes its
/// symlinks. With --flash-dir each board's flash is DIR/boardK.bin, updated in place after
/// every processed batch of host bytes (loaded at start if it exists). A PTY has no
/// DTR/RTS lines: SIGUSR1 power-cycles every board into download mode (flash kept), as
/// esptool's `--before default-reset` over a USB-UART bridge or a hub port power cycle.
#[derive(Debug, Parser)]
#[command(name = "espsim", version, after_help = GRAMMAR)]
pub struct Cli {
    /// Chip of every board.
    #[arg(long, value_parser = parse_chip)]
    pub chip: Chip,
    /// Number of boards.
    #[arg(long, default_value_t = 1)]
    pub count: usize,
    /// Directory for the boardK symlinks (created if missing).
    #[arg(long)]
    pub link_dir: PathBuf,
    /// Flash size: 1MB, 2MB, 4MB, 8MB or 16MB (Winbond JEDEC id to match).
    #[arg(long, default_value = "4MB", value_parser = parse_flash_size)]
    pub flash_size: u32,
    /// MAC of board0; board K gets base + K. Default: 24:0a:c4:00:00:00 (ESP32),
    /// 84:0d:8e:00:00:01 (ESP8266, whose chip id is the MAC's last three bytes and so
    /// never 0).
    #[arg(long)]
    pub mac_base: Option<Mac>,
    /// off: everything instant (tests); realistic: UART, flash and stub timing modelled.
    #[arg(long, default_value = "off")]
    pub timing: TimingMode,
    /// Keep each board's flash in DIR/boardK.bin.
    #[arg(long)]
    pub flash_dir: Option<PathBuf>,
    /// Fault knob (repeatable), see FAULT SPECS below.
    #[arg(long = "fault")]
    pub faults: Vec<TargetedFault>,
    /// uart: behind a USB-UART bridge. usb-serial-jtag: on the chip's own USB port (chips
    /// with the peripheral only): no baud dependence, and every chip reset re-enumerates
    /// the port — the PTY goes, a new one appears behind the same boardK link, and
    /// "boardK reenumerated PATH" is printed.
    #[arg(long, default_value = "uart")]
    pub link: LinkMode,
}

fn parse_chip(s: &str) -> Result<Chip, String> {
    chips::parse_simulated(s)
}

fn parse_flash_size(s: &str) -> Result<u32, String> {
    let v = parse_size(s)?;
    if FLASH_SIZES.contains(&v) {
        Ok(v)
    } else {
        let ok: Vec<String> = FLASH_SIZES.iter().map(|&s| format_size(s)).collect();
        Err(format!("flash size {s} not offered (one of {})", ok.join(", ")))
    }
}

impl Cli {
    /// Refuses MACs no real chip of the kind could have (an ESP8266 whose chip id would
    /// be 0), naming the board.
    pub fn check(&self) -> Result<(), String> {
        let model = chips::require(self.chip);
        (0..self.count)
            .try_for_each(|k| model.check_mac(&self.board_config(k).mac).map_err(|e| format!("board{k}: {e}")))
    }

    /// The configuration of board `k`.
    pub fn board_config(&self, k: usize) -> BoardConfig {
        let base = self.mac_base.unwrap_or_else(|| default_mac_base(self.chip));
        let mut cfg = BoardConfig::new(self.chip, base.offset(k as u32));
        cfg.flash_size = self.flash_size;
        cfg.timing = self.timing;
        cfg.faults = self.faults.iter().filter(|f| f.applies_to(k)).map(|f| f.fault.clone()).collect();
        cfg.flash_file = self.flash_dir.as_ref().map(|d| d.join(format!("board{k}.bin")));
        cfg.link = self.link;
        cfg
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::faults::Fault;

    #[test]
    fn parses_the_contract() {
        let cli = Cli::try_parse_from([
            "espsim",
            "--chip",
            "esp8266",
            "--count",
            "3",
            "--link-dir",
            "/x",
            "--flash-size",
            "2MB",
            "--timing",
            "realistic",
            "--flash-dir",
            "/y",
            "--fault",
            "board1:unplug-after=100",
            "--fault",
            "slow-replies=5",
        ])
        .unwrap();
        let c1 = cli.board_config(1);
        assert_eq!(c1.mac.to_string(), "84:0d:8e:00:00:02");
        assert_eq!(cli.check(), Ok(()));
        assert_eq!(c1.flash_size, 2 << 20);
        assert_eq!(c1.timing, TimingMode::Realistic);
        assert_eq!(c1.faults, vec![Fault::UnplugAfter(100), Fault::SlowReplies { ms: 5 }]);
        assert_eq!(cli.board_config(0).faults, vec![Fault::SlowReplies { ms: 5 }]);
        assert_eq!(c1.flash_file.unwrap(), PathBuf::from("/y/board1.bin"));
        let c =
            Cli::try_parse_from(["espsim", "--chip", "esp32", "--link-dir", "/x", "--mac-base", "30:ae:a4:00:00:fe"])
                .unwrap();
        assert_eq!(c.board_config(2).mac.to_string(), "30:ae:a4:00:01:00");
        assert_eq!(c.board_config(0).flash_size, 4 << 20);
        assert!(Cli::try_parse_from(["espsim", "--chip", "esp32s3", "--link-dir", "/x"]).is_ok());
        assert!(Cli::try_parse_from(["espsim", "--chip", "z80", "--link-dir", "/x"]).is_err());
        assert!(Cli::try_parse_from(["espsim", "--chip", "esp32", "--link-dir", "/x", "--flash-size", "3MB"]).is_err());
        assert!(Cli::try_parse_from(["espsim", "--chip", "esp32", "--link-dir", "/x", "--fault", "boom"]).is_err());
        assert_eq!(cli.board_config(0).link, LinkMode::Uart);
        let usb = Cli::try_parse_from(["espsim", "--chip", "esp32", "--link-dir", "/x", "--link", "usb-serial-jtag"])
            .unwrap();
        assert_eq!(usb.board_config(0).link, LinkMode::UsbSerialJtag);
        let zero = |base: &str, count: &str| {
            Cli::try_parse_from([
                "espsim",
                "--chip",
                "esp8266",
                "--link-dir",
                "/x",
                "--mac-base",
                base,
                "--count",
                count,
            ])
            .unwrap()
            .check()
        };
        assert!(zero("84:0d:8e:00:00:00", "1").unwrap_err().contains("board0"));
        assert!(zero("84:0d:8e:ff:ff:fe", "3").unwrap_err().contains("board2"), "the NIC part wraps to 0");
        assert_eq!(zero("84:0d:8e:ff:ff:fe", "2"), Ok(()));
        assert!(Cli::try_parse_from(["espsim", "--chip", "esp32", "--link-dir", "/x", "--link", "spi"]).is_err());
    }
}
