//! The `flashline` command line: one file per command.

pub mod board;
pub mod capture;
pub mod central;
pub mod config_check;
#[cfg(feature = "sim")]
pub mod demo;
pub mod erase;
pub mod flash;
pub mod generate;
pub mod info;
pub mod log;
pub mod ports;
pub mod progress_bar;
pub mod read;
pub mod report_format;
pub mod run;
#[cfg(feature = "sim")]
pub mod sample;
pub mod serve;
pub mod stats;
pub mod telemetry;

use std::path::PathBuf;

use clap::{Parser, Subcommand};

use crate::exit::Exit;

/// flashline: gang programmer for Espressif chips.
#[derive(Debug, Parser)]
#[command(name = "flashline", version, about, long_about = None, after_help = exit_codes_help())]
pub struct Cli {
    /// Link options, accepted before or after the command (esptool's habit).
    #[command(flatten)]
    pub link: board::LinkArgs,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the station daemon: flash every board plugged into the hubs.
    Run {
        /// The station's configuration file.
        #[arg(long, short = 'C')]
        config: PathBuf,
    },
    /// Simulated boards hot-plugged into the real pipeline, with a built-in sample image.
    #[cfg(feature = "sim")]
    Demo(demo::DemoArgs),
    /// Show one board: chip, revision, MAC, flash id and size.
    #[command(visible_aliases = ["board-info", "chip-id", "flash-id", "read-mac"])]
    Info(info::InfoArgs),
    /// Read a master board's whole flash into a golden image (files + manifest).
    Capture(capture::CaptureArgs),
    /// Flash one board (image, manifest, or OFFSET FILE pairs), verified.
    #[command(visible_alias = "write-flash")]
    Flash(flash::FlashArgs),
    /// Read a flash range of one board into a file.
    #[command(visible_alias = "read-flash")]
    Read(read::ReadArgs),
    /// Erase one board's flash, or a region of it.
    #[command(visible_alias = "erase-flash")]
    Erase(erase::EraseArgs),
    /// Erase ADDR SIZE of one board's flash (esptool's `erase-region`).
    EraseRegion(erase::EraseRegionArgs),
    /// Query the audit log (and `log verify` its hash chain).
    Log(log::LogArgs),
    /// Pass/fail and yield per slot and per hour.
    Stats(stats::StatsArgs),
    /// Set up the line's central PostgreSQL audit record (`central init`, `central add-station ID`).
    #[command(subcommand)]
    Central(central::CentralCommand),
    /// The line view: a read-only web page over the central record with every station.
    Serve(serve::ServeArgs),
    /// The USB serial ports present, with their USB path and configured slot.
    Ports(ports::PortsArgs),
    /// Station config tools (`config check [FILE]`).
    #[command(subcommand)]
    Config(config_check::ConfigCommand),
    /// Shell completions and man pages for packaging (`generate man --out DIR`).
    #[command(subcommand, hide = true)]
    Generate(generate::GenerateCommand),
}

impl Command {
    /// Gives the board commands the link options given before or after the command (and
    /// resolves their port); the demo takes the global `--chip`.
    pub fn bind(self, link: &board::LinkArgs) -> Result<Command, Failure> {
        macro_rules! with_board {
            ($($variant:ident),*) => {
                match self {
                    $(Command::$variant(mut a) => {
                        a.board = a.board.bind(link)?;
                        Command::$variant(a)
                    })*
                    #[cfg(feature = "sim")]
                    Command::Demo(mut a) => {
                        a.chip = link.chip.unwrap_or(a.chip);
                        Command::Demo(a)
                    }
                    other => other,
                }
            };
        }
        Ok(with_board!(Info, Capture, Flash, Read, Erase, EraseRegion))
    }
}

fn exit_codes_help() -> String {
    let mut s = String::from("Exit codes:\n");
    for e in Exit::ALL {
        s.push_str(&format!("  {:>2}  {}\n", e.code(), e.describe()));
    }
    s
}

pub use crate::exit::Failure;

pub type CliResult = Result<Exit, Failure>;
