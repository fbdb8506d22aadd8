//! The `flashline` command line: one file per command.

pub mod board;
pub mod capture;
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
pub mod run;
#[cfg(feature = "sim")]
pub mod sample;
pub mod stats;
pub mod telemetry;

use std::path::PathBuf;

use clap::{Parser, Subcommand};

use crate::exit::Exit;

/// flashline: gang programmer for Espressif chips.
#[derive(Debug, Parser)]
#[command(name = "flashline", version, about, long_about = None, after_help = exit_codes_help())]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the station daemon: flash every board plugged into the hubs.
    Run {
        /// The station's configuration file.
        #[arg(long, short)]
        config: PathBuf,
    },
    /// Simulated boards hot-plugged into the real pipeline, with a built-in sample image.
    #[cfg(feature = "sim")]
    Demo(demo::DemoArgs),
    /// Show one board: chip, revision, MAC, flash id and size.
    Info(info::InfoArgs),
    /// Read a master board's whole flash into a golden image (files + manifest).
    Capture(capture::CaptureArgs),
    /// Flash one board (image, manifest, or OFFSET FILE pairs), verified.
    Flash(flash::FlashArgs),
    /// Read a flash range of one board into a file.
    Read(read::ReadArgs),
    /// Erase one board's flash, or a region of it.
    Erase(erase::EraseArgs),
    /// Query the audit log (and `log verify` its hash chain).
    Log(log::LogArgs),
    /// Pass/fail and yield per slot and per hour.
    Stats(stats::StatsArgs),
    /// The USB serial ports present, with their USB path and configured slot.
    Ports(ports::PortsArgs),
    /// Station config tools (`config check [FILE]`).
    #[command(subcommand)]
    Config(config_check::ConfigCommand),
    /// Shell completions and man pages for packaging (`generate man --out DIR`).
    #[command(subcommand, hide = true)]
    Generate(generate::GenerateCommand),
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
