//! `flashline capture --port P -o PATH`: a master board's whole flash into a golden image.
//!
//! Reads the flash at full speed (stub READ_FLASH at `--baud`), its size from the JEDEC id,
//! checks the data against the board's own MD5 of the range, trims the trailing 0xFF (a
//! blank tail need not be written: copies are faster) and writes `DIR/flash.bin` plus the
//! manifest `DIR/manifest.toml` (chip, flash size, source MAC, date, bytes read, SHA-256 and length
//! of the file). Finally it prints the `[image]` block a station config needs to flash
//! that image with `flashline run`, with the canonical digest to pin.

use std::path::{Path, PathBuf};
use std::time::Instant;

use clap::Args;
use flashline_audit::Timestamp;
use flashline_protocol::flash::format_size;
use flashline_session::FlasherConfig;

use super::board::{self, BoardArgs};
use super::progress_bar::human;
use super::read::write_file;
use super::report_format::{print_json, ReportFormat};
use super::{CliResult, Failure};
use crate::config::{ByteSize, Offset};
use crate::exit::Exit;
use crate::image::{CaptureInfo, GoldenImage, ImageSource, Manifest, ManifestRegion, Sha256Digest};
use crate::text::{escaped_path, Escaped};

#[derive(Debug, Clone, Args)]
pub struct CaptureArgs {
    #[command(flatten)]
    pub board: BoardArgs,
    /// Output directory: writes DIR/manifest.toml and DIR/flash.bin (a path ending in
    /// `.toml` names the manifest instead; the image goes next to it as `.bin`).
    #[arg(long, short = 'o', value_name = "DIR")]
    pub output: PathBuf,
    /// Bytes to read from 0 when the flash chip's JEDEC id gives no size (or to capture
    /// less than the whole flash).
    #[arg(long, value_parser = board::parse_number, value_name = "SIZE")]
    pub size: Option<u32>,
    /// Replace existing output files.
    #[arg(long)]
    pub force: bool,
}

/// The two files a capture writes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outputs {
    pub manifest: PathBuf,
    pub bin: PathBuf,
}

/// `-o master/` → `master/manifest.toml` + `master/flash.bin` (the directory is created);
/// `-o golden/v1.toml` → `golden/v1.toml` + `golden/v1.bin`.
pub fn outputs(path: &Path) -> Outputs {
    if path.extension().is_some_and(|e| e.eq_ignore_ascii_case("toml")) && !path.is_dir() {
        Outputs { manifest: path.to_path_buf(), bin: path.with_extension("bin") }
    } else {
        Outputs { manifest: path.join("manifest.toml"), bin: path.join("flash.bin") }
    }
}

/// Length to keep: up to the last byte that is not 0xFF, rounded up to a multiple of 4
/// (what the loaders write; the rounding only adds bytes that are 0xFF anyway).
pub fn trimmed_len(data: &[u8]) -> usize {
    match data.iter().rposition(|&b| b != 0xFF) {
        Some(last) => ((last + 1).div_ceil(4) * 4).min(data.len()),
        None => 0,
    }
}

pub async fn run(args: CaptureArgs) -> CliResult {
    let out = outputs(&args.output);
    for p in [&out.manifest, &out.bin] {
        if p.exists() && !args.force {
            return Err(Failure::new(
                Exit::Config,
                format!("{} already exists: choose another -o, or add --force to replace it", escaped_path(p)),
            ));
        }
    }
    if let Some(dir) = out.manifest.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|e| {
            Failure::new(Exit::Failure, format!("cannot create {}: {}", escaped_path(dir), Escaped(&e)))
        })?;
    }

    let cfg = args.board.flasher_config(Some(FlasherConfig::default()), None)?;
    let mut board = board::connect(&args.board, &cfg).await?;
    if !board.flasher.is_stub() {
        eprintln!("note: no flasher stub; reading through the ROM loader is much slower");
    }
    let flash_size = match args.size {
        Some(s) => {
            if let Ok(detected) = board.flash_size() {
                board::check_range(&board.port, 0, s, detected)?;
            }
            s
        }
        None => board.flash_size()?,
    };
    let info = board.flasher.info().clone();
    let t0 = Instant::now();
    let data = board.read_checked(0, flash_size).await?;
    let took = t0.elapsed();
    let date = Timestamp::now().to_string();
    board.finish(args.board.after.unwrap_or_default()).await?;

    let keep = trimmed_len(&data);
    if keep == 0 {
        return Err(Failure::new(
            Exit::Image,
            format!(
                "{}: the board's flash is blank (all 0xFF): nothing to capture; is this the master board?",
                Escaped(args.board.port_name())
            ),
        ));
    }
    let file = &data[..keep];
    write_file(&out.bin, file)?;
    let manifest = Manifest {
        format: crate::image::manifest::FORMAT,
        chip: info.chip,
        flash_size: Some(ByteSize(flash_size)),
        capture: Some(CaptureInfo {
            source_mac: Some(info.mac),
            date: Some(date),
            read_length: Some(ByteSize(flash_size)),
        }),
        regions: vec![ManifestRegion {
            offset: Offset(0),
            file: PathBuf::from(out.bin.file_name().expect("the output has a file name")),
            sha256: Some(Sha256Digest::of(file)),
            length: Some(keep as u64),
        }],
    };
    write_file(&out.manifest, manifest.to_toml().as_bytes())?;

    // Load it back exactly as `flashline run` will: what is printed is what gets pinned.
    let image = GoldenImage::load(&ImageSource::Manifest(out.manifest.clone()))
        .map_err(|e| Failure::new(Exit::Image, format!("the captured image does not load back: {e}")))?;
    let manifest_abs = std::path::absolute(&out.manifest).unwrap_or_else(|_| out.manifest.clone());
    eprintln!(
        "captured {} ({}) from {}: read {} in {:.1} s ({}/s), checked against the board's MD5",
        info.description,
        super::report_format::mac(&info.mac),
        Escaped(args.board.port_name()),
        format_size(flash_size),
        took.as_secs_f64(),
        human(f64::from(flash_size) / took.as_secs_f64().max(1e-3)),
    );
    eprintln!(
        "image: {} bytes to write, trailing {} of 0xFF trimmed; wrote {} and {}",
        keep,
        human((data.len() - keep) as f64),
        escaped_path(&out.bin),
        escaped_path(&out.manifest)
    );
    if args.board.format == ReportFormat::Json {
        return print_json(&serde_json::json!({
            "port": args.board.port_name(),
            "chip": info.chip.file_name(),
            "description": info.description,
            "mac": super::report_format::mac(&info.mac),
            "flash_size": flash_size,
            "image_size": keep,
            "manifest": manifest_abs.display().to_string(),
            "bin": out.bin.display().to_string(),
            "image_sha256": image.sha256().to_hex(),
            "seconds": took.as_secs_f64(),
        }))
        .map(|()| Exit::Success);
    }
    eprintln!("add this to the station config:");
    print!("{}", image_block(&manifest_abs, &image.sha256(), info.chip, flash_size));
    Ok(Exit::Success)
}

/// The `[image]` table of a station config for a captured image.
pub fn image_block(manifest: &Path, sha256: &Sha256Digest, chip: flashline_protocol::Chip, flash_size: u32) -> String {
    let path = toml::Value::String(manifest.display().to_string());
    format!(
        "[image]\nmanifest = {path}\nsha256 = \"{sha256}\"\nchip = \"{}\"\n\
         # the source board's flash size: smaller boards could not hold its partitions\n\
         min_flash_size = \"{}\"\n",
        chip.file_name(),
        format_size(flash_size)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn output_names() {
        let o = outputs(Path::new("golden/master"));
        assert_eq!(o.manifest, PathBuf::from("golden/master/manifest.toml"));
        assert_eq!(o.bin, PathBuf::from("golden/master/flash.bin"));
        assert_eq!(outputs(Path::new("master/")).bin, PathBuf::from("master/flash.bin"));
        let o = outputs(Path::new("golden/v1.toml"));
        assert_eq!((o.manifest, o.bin), (PathBuf::from("golden/v1.toml"), PathBuf::from("golden/v1.bin")));
    }

    #[test]
    fn trims_trailing_blank_to_a_word() {
        assert_eq!(trimmed_len(&[0xFF; 16]), 0);
        assert_eq!(trimmed_len(&[1, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF]), 4);
        assert_eq!(trimmed_len(&[1, 2, 3, 4, 5]), 5);
        assert_eq!(trimmed_len(&[0, 0, 0, 0, 0, 0xFF, 0xFF, 0xFF, 0xFF]), 8);
    }

    #[test]
    fn image_block_is_a_valid_config_table() {
        let sha = Sha256Digest::of(b"x");
        let block = image_block(Path::new("/srv/golden/master.toml"), &sha, flashline_protocol::Chip::Esp32, 4 << 20);
        let v: toml::Value = toml::from_str(&block).unwrap();
        assert_eq!(v["image"]["manifest"].as_str(), Some("/srv/golden/master.toml"));
        assert_eq!(v["image"]["sha256"].as_str(), Some(sha.to_hex().as_str()));
        assert_eq!(v["image"]["chip"].as_str(), Some("esp32"));
        assert_eq!(v["image"]["min_flash_size"].as_str(), Some("4MB"));
    }
}
