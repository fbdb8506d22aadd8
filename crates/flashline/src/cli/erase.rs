//! `flashline erase --port P [--region OFFSET SIZE]`: the whole flash (`esptool
//! erase-flash`) or a 4 KiB-aligned region of it (`esptool erase-region`).

use std::time::Instant;

use clap::Args;
use flashline_protocol::flash::{format_size, SECTOR_SIZE};
use flashline_session::FlasherConfig;

use super::board::{self, BoardArgs};
use super::report_format::{hex, print_json, ReportFormat};
use super::{CliResult, Failure};
use crate::exit::Exit;

#[derive(Debug, Clone, Args)]
pub struct EraseArgs {
    #[command(flatten)]
    pub board: BoardArgs,
    /// Erase only OFFSET..OFFSET+SIZE (both multiples of 4 KiB: 0x1000, 4k, 1M).
    #[arg(long, num_args = 2, value_names = ["OFFSET", "SIZE"], value_parser = board::parse_number)]
    pub region: Option<Vec<u32>>,
}

/// `flashline erase-region ADDR SIZE`: esptool's spelling of `erase --region`.
#[derive(Debug, Clone, Args)]
pub struct EraseRegionArgs {
    #[command(flatten)]
    pub board: BoardArgs,
    /// Start of the region (a multiple of 4 KiB: 0x1000, 4k).
    #[arg(value_parser = board::parse_number)]
    pub addr: u32,
    /// Size of the region (a multiple of 4 KiB).
    #[arg(value_parser = board::parse_number)]
    pub size: u32,
}

impl From<EraseRegionArgs> for EraseArgs {
    fn from(a: EraseRegionArgs) -> EraseArgs {
        EraseArgs { board: a.board, region: Some(vec![a.addr, a.size]) }
    }
}

/// Checks a region before the board is touched.
fn check_region(offset: u32, size: u32) -> Result<(), Failure> {
    if !offset.is_multiple_of(SECTOR_SIZE) || !size.is_multiple_of(SECTOR_SIZE) {
        return Err(Failure::new(
            Exit::Config,
            format!(
                "--region 0x{offset:x} 0x{size:x}: offset and size must be multiples of 4 KiB (0x1000), \
                 the flash erase sector"
            ),
        ));
    }
    if size == 0 {
        return Err(Failure::new(Exit::Config, "--region: the size is 0; nothing to erase"));
    }
    Ok(())
}

pub async fn run(args: EraseArgs) -> CliResult {
    let region = match args.region.as_deref() {
        Some(&[offset, size]) => {
            check_region(offset, size)?;
            Some((offset, size))
        }
        Some(_) => return Err(Failure::new(Exit::Config, "--region takes OFFSET SIZE")),
        None => None,
    };
    let cfg = args.board.flasher_config(Some(FlasherConfig::default()), None)?;
    let mut board = board::connect(&args.board, &cfg).await?;
    let flash_size = board.flash_size()?;
    let t0 = Instant::now();
    let what = match region {
        Some((offset, size)) => {
            board::check_range(&board.port, offset, size, flash_size)?;
            board.flasher.erase_region(offset, size).await.map_err(|e| board.fail(e))?;
            format!("0x{offset:x}..0x{:x}", u64::from(offset) + u64::from(size))
        }
        None => {
            if board.flasher.is_stub() {
                board.flasher.erase_chip().await.map_err(|e| board.fail(e))?;
            } else {
                // The ROM loaders have no chip erase; FLASH_BEGIN erases a range.
                board.flasher.erase_region(0, flash_size).await.map_err(|e| board.fail(e))?;
            }
            format!("the whole {} flash", format_size(flash_size))
        }
    };
    let took = t0.elapsed();
    let summary = board.summary();
    let (chip, mac) = (board.flasher.info().chip, board.flasher.info().mac);
    let port = board.port.clone();
    board.finish(args.board.after.unwrap_or_default()).await?;
    eprintln!("erased {what} of {summary} in {:.1} s", took.as_secs_f64());
    if args.board.format == ReportFormat::Json {
        let (offset, size) = region.unwrap_or((0, flash_size));
        print_json(&serde_json::json!({
            "port": port,
            "chip": chip.file_name(),
            "mac": super::report_format::mac(&mac),
            "offset": hex(offset.into()),
            "size": size,
            "whole_flash": region.is_none(),
            "seconds": took.as_secs_f64(),
        }))?;
    }
    Ok(Exit::Success)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn regions_must_be_sector_aligned() {
        assert!(check_region(0x1000, 0x2000).is_ok());
        assert_eq!(check_region(0x1001, 0x1000).unwrap_err().exit, Exit::Config);
        assert_eq!(check_region(0x1000, 0x800).unwrap_err().exit, Exit::Config);
        assert_eq!(check_region(0x1000, 0).unwrap_err().exit, Exit::Config);
    }
}
