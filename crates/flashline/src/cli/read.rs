//! `flashline read --port P OFFSET SIZE -o FILE`: a flash range of one board into a file
//! (`esptool read-flash`), at full speed through the stub, checked against the board's own
//! MD5 of the range. `SIZE` may be `all` (the whole flash, from the JEDEC id).

use std::path::PathBuf;
use std::time::Instant;

use clap::Args;
use flashline_protocol::flash::parse_size;
use flashline_session::FlasherConfig;

use super::board::{self, BoardArgs};
use super::progress_bar::human;
use super::report_format::{hex, print_json, ReportFormat};
use super::{CliResult, Failure};
use crate::exit::Exit;

#[derive(Debug, Clone, Args)]
pub struct ReadArgs {
    #[command(flatten)]
    pub board: BoardArgs,
    /// Start address (0x1000, 4096, 64k).
    #[arg(value_parser = board::parse_number)]
    pub offset: u32,
    /// Bytes to read (0x400000, 4MB, 1M), or `all` for the rest of the flash.
    #[arg(value_parser = parse_len)]
    pub size: ReadLen,
    /// File to write (esptool's `read-flash ADDR SIZE FILE`).
    #[arg(value_name = "FILE", required_unless_present = "output")]
    pub file: Option<PathBuf>,
    /// File to write (same as FILE).
    #[arg(long, short = 'o', value_name = "FILE", conflicts_with = "file")]
    pub output: Option<PathBuf>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReadLen {
    Bytes(u32),
    /// Up to the end of the flash.
    All,
}

fn parse_len(s: &str) -> Result<ReadLen, String> {
    if s.eq_ignore_ascii_case("all") {
        Ok(ReadLen::All)
    } else {
        parse_size(s).map(ReadLen::Bytes)
    }
}

pub async fn run(args: ReadArgs) -> CliResult {
    let cfg = args.board.flasher_config(Some(FlasherConfig::default()), None)?;
    let mut board = board::connect(&args.board, &cfg).await?;
    let size = board.flash_size()?;
    let len = match args.size {
        ReadLen::Bytes(n) => n,
        ReadLen::All => size.saturating_sub(args.offset),
    };
    board::check_range(&board.port, args.offset, len, size)?;
    let t0 = Instant::now();
    let data = board.read_checked(args.offset, len).await?;
    let took = t0.elapsed();
    let (chip, mac) = (board.flasher.info().chip, board.flasher.info().mac);
    let port = board.port.clone();
    board.finish(args.board.after.unwrap_or_default()).await?;
    let output = args.file.or(args.output).ok_or_else(|| Failure::new(Exit::Config, "say where to write: FILE"))?;
    write_file(&output, &data)?;
    eprintln!(
        "read {} from 0x{:x} in {:.1} s ({}/s), checked against the board's MD5; wrote {}",
        human(data.len() as f64),
        args.offset,
        took.as_secs_f64(),
        human(data.len() as f64 / took.as_secs_f64().max(1e-3)),
        output.display()
    );
    if args.board.format == ReportFormat::Json {
        print_json(&serde_json::json!({
            "port": port,
            "chip": chip.file_name(),
            "mac": super::report_format::mac(&mac),
            "offset": hex(args.offset.into()),
            "size": data.len(),
            "md5": flashline_session::image::hex(&flashline_session::image::md5(&data)),
            "file": output.display().to_string(),
            "seconds": took.as_secs_f64(),
        }))?;
    }
    Ok(Exit::Success)
}

/// Writes `data` to `path` through a temporary file in the same directory, so an
/// interrupted run never leaves a truncated file under the final name.
pub fn write_file(path: &std::path::Path, data: &[u8]) -> Result<(), Failure> {
    let fail = |e: std::io::Error| Failure::new(Exit::Failure, format!("cannot write {}: {e}", path.display()));
    let dir = path.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(std::path::Path::new("."));
    let mut tmp = tempfile::NamedTempFile::new_in(dir).map_err(fail)?;
    std::io::Write::write_all(&mut tmp, data).map_err(fail)?;
    tmp.persist(path).map_err(|e| fail(e.error))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_accept_all_and_units() {
        assert_eq!(parse_len("ALL"), Ok(ReadLen::All));
        assert_eq!(parse_len("4MB"), Ok(ReadLen::Bytes(4 << 20)));
        assert_eq!(parse_len("0x400000"), Ok(ReadLen::Bytes(4 << 20)));
        assert!(parse_len("lots").is_err());
    }

    #[test]
    fn write_file_replaces_atomically() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("out.bin");
        write_file(&p, b"one").unwrap();
        write_file(&p, b"two").unwrap();
        assert_eq!(std::fs::read(&p).unwrap(), b"two");
        let e = write_file(&dir.path().join("missing/out.bin"), b"x").unwrap_err();
        assert_eq!(e.exit, Exit::Failure);
    }
}
