//! `flashline flash --port P (IMAGE | MANIFEST | OFFSET FILE [OFFSET FILE ...])`: one board
//! through the daemon's engine.
//!
//! The image is loaded and checked like the daemon's golden image (layout, bootloader
//! header, declared chip), prepared once (compressed, split for blank-skip), written with
//! the session's [`Flasher`] and verified by on-chip MD5 (or read back). With `--db`, or
//! `--config` naming a station config, the board gets an audit row like a board flashed
//! by `flashline run`: created before the board is touched, completed pass or fail.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use clap::Args;
use flashline_audit::NewAttempt;
use flashline_protocol::flash::parse_size;
use flashline_protocol::Chip;
use flashline_session::BlankSkip;

use super::board::{session_failure, BoardArgs, OneOffPorts};
use super::progress_bar::{human, ProgressBar};
use super::report_format::{print_json, ReportFormat};
use super::{CliResult, Failure};
use crate::config::{Config, VerifyMode};
use crate::exit::Exit;
use crate::image::{GoldenImage, ImageSource, RegionScope};
use crate::pipeline::{
    check_image_chip, run_attempt, AttemptOutcome, AttemptRun, AuditTarget, BoardError, CompletionRetry, OpenRequest,
    Plan, Stop, StopCause,
};
use crate::station::{load_stubs, open_audit, Golden, GoldenSet};

/// Slot name of boards flashed by this command in the audit log.
pub const CLI_SLOT: &str = "cli";
/// Station id in the audit log when no station config is given.
pub const CLI_STATION: &str = "cli";

#[derive(Debug, Clone, Args)]
pub struct FlashArgs {
    #[command(flatten)]
    pub board: BoardArgs,
    /// What to write: IMAGE.bin (a merged image, written at 0x0), MANIFEST.toml (e.g. from
    /// `flashline capture`), ESP-IDF's flasher_args.json, or OFFSET FILE pairs
    /// (0x1000 bootloader.bin 0x8000 partition-table.bin 0x10000 app.bin).
    #[arg(required = true, value_name = "IMAGE | OFFSET FILE")]
    pub inputs: Vec<String>,
    /// Audit database: record this board like the station daemon does.
    #[arg(long, value_name = "PATH")]
    pub db: Option<PathBuf>,
    /// Station config: its database, station id and [flash] settings are used (command
    /// line options win).
    #[arg(long, short = 'C', value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Erase the whole flash first, so nothing of a used board survives past the image.
    #[arg(long)]
    pub erase_all: bool,
    /// Also read everything back and compare (slow; MD5 verification is always done).
    #[arg(long)]
    pub readback: bool,
    /// Skip regions the board already holds (one MD5 per region).
    #[arg(long)]
    pub skip_identical: bool,
    /// Write 0xFF blocks too, instead of skipping them on a blank board.
    #[arg(long)]
    pub no_blank_skip: bool,
    /// Let a manifest or flasher_args.json name region files outside its own directory
    /// (by default they must stay inside it, symlinks resolved).
    #[arg(long)]
    pub allow_outside: bool,
    /// Skip the checks of the image against the board that go beyond "it fits": the
    /// bootloader header's chip and the flash size the image declares.
    #[arg(long)]
    pub force: bool,
}

/// What the positional arguments name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Inputs {
    Source(ImageSource),
    Pairs(Vec<(u32, PathBuf)>),
}

/// Tells IMAGE / MANIFEST / flasher_args.json / OFFSET FILE pairs apart.
pub fn parse_inputs(args: &[String]) -> Result<Inputs, Failure> {
    let usage = |m: String| Failure::new(Exit::Config, m);
    match args {
        [] => Err(usage("say what to write: IMAGE, MANIFEST, flasher_args.json, or OFFSET FILE pairs".into())),
        [one] => {
            if parse_size(one).is_ok() && !Path::new(one).exists() {
                return Err(usage(format!("{one} looks like an offset: OFFSET FILE pairs need a FILE after it")));
            }
            let path = PathBuf::from(one);
            let ext = path.extension().and_then(|e| e.to_str()).map(str::to_ascii_lowercase);
            Ok(Inputs::Source(match ext.as_deref() {
                Some("toml") => ImageSource::Manifest(path),
                Some("json") => ImageSource::FlasherArgs(path),
                _ => ImageSource::MergedBin(path),
            }))
        }
        _ if args.len() % 2 == 1 => Err(usage(format!(
            "{} arguments: give one IMAGE, or OFFSET FILE pairs (the last offset has no file)",
            args.len()
        ))),
        _ => {
            let mut pairs: Vec<(u32, PathBuf)> = Vec::new();
            for pair in args.chunks(2) {
                let offset = parse_size(&pair[0])
                    .map_err(|e| usage(format!("{e} (OFFSET FILE pairs: {} {})", pair[0], pair[1])))?;
                if pairs.iter().any(|(o, _)| *o == offset) {
                    return Err(usage(format!("offset 0x{offset:x} is given twice")));
                }
                pairs.push((offset, PathBuf::from(&pair[1])));
            }
            Ok(Inputs::Pairs(pairs))
        }
    }
}

/// Loads and checks the image: a description file as the daemon would, or OFFSET FILE
/// pairs through the same loader (as an ESP-IDF `flash_files` list).
pub fn load_image(inputs: &Inputs, allow_outside: bool) -> Result<(GoldenImage, String), Failure> {
    match inputs {
        Inputs::Source(src) => {
            let image = GoldenImage::load_scoped(src, RegionScope::allow_outside(allow_outside))
                .map_err(|e| Failure::new(Exit::Image, e))?;
            let name = src.path().file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
            Ok((image, name))
        }
        Inputs::Pairs(pairs) => {
            let tmp = tempfile::tempdir()
                .map_err(|e| Failure::new(Exit::Failure, format!("cannot create a temporary directory: {e}")))?;
            let json_path = tmp.path().join("flasher_args.json");
            let files: serde_json::Map<String, serde_json::Value> = pairs
                .iter()
                .map(|(o, f)| {
                    let abs = std::path::absolute(f).unwrap_or_else(|_| f.clone());
                    (format!("0x{o:x}"), serde_json::Value::String(abs.to_string_lossy().into_owned()))
                })
                .collect();
            let text = serde_json::json!({ "flash_files": files }).to_string();
            std::fs::write(&json_path, text)
                .map_err(|e| Failure::new(Exit::Failure, format!("cannot write {}: {e}", json_path.display())))?;
            // The pairs are the user's explicit choice: they may name files anywhere.
            let source = ImageSource::FlasherArgs(json_path.clone());
            let image = GoldenImage::load_scoped(&source, RegionScope::Anywhere).map_err(|e| {
                let msg = e.to_string().replace(&json_path.display().to_string(), "the command line");
                Failure::new(Exit::Image, msg)
            })?;
            let names: Vec<String> = pairs
                .iter()
                .map(|(_, f)| f.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default())
                .collect();
            Ok((image, names.join("+")))
        }
    }
}

/// The chip family an image declares, if any.
fn declared_chip(image: &GoldenImage) -> Option<Chip> {
    image.declared_chip().and_then(|c| c.parse().ok())
}

pub async fn run(args: FlashArgs) -> CliResult {
    run_on(args, &OneOffPorts::system()).await
}

/// [`run`] with the board's port opened (and followed across a re-enumeration) by `ports`.
pub async fn run_on(args: FlashArgs, ports: &OneOffPorts) -> CliResult {
    let inputs = parse_inputs(&args.inputs)?;
    let (image, name) = load_image(&inputs, args.allow_outside)?;
    let declared = declared_chip(&image);
    if let Some(chip) = args.board.chip {
        check_image_chip(&image, chip, args.force).map_err(|e| board_failure("", e))?;
    }
    let config = match &args.config {
        Some(p) => Some(Config::load(p).map_err(|e| Failure::new(e.exit_code(), e))?),
        None => None,
    };
    // A station config of one chip says which chip the board must be; one of several
    // leaves it to the image (a one-off flash writes the one image it is given).
    let config_chip = config.as_ref().and_then(|c| c.images.single()).map(|i| i.chip);
    let expect = args.board.chip.or(declared).or(config_chip);
    let source = image.source().path().display().to_string();
    let mut golden =
        Golden::prepare(image, expect, None).await.map_err(|e| Failure::new(Exit::Image, format!("{source}: {e}")))?;
    golden.name = name.clone();
    let golden = Arc::new(golden);

    // Settings: the station config's (as the daemon derives them), then the options.
    let db = args.db.clone().or(config.as_ref().map(|c| c.database.clone()));
    let store = match &db {
        Some(p) => Some(open_audit(p).await?),
        None => None,
    };
    let station = config.as_ref().map(|c| c.station.clone()).unwrap_or_else(|| CLI_STATION.to_string());
    let mut plan = match &config {
        Some(config) => {
            let images = Arc::new(GoldenSet::one(golden.clone()));
            let mut plan = Plan::from_config(config, images.clone(), load_stubs(config)?);
            plan.provision = crate::provision::setup::for_station(config, &images, store.as_ref()).await?;
            plan
        }
        None => Plan::defaults(golden.clone()),
    };
    let fallback_baud = config.as_ref().map(|c| c.flash.baud.0);
    plan.flasher = args.board.flasher_config(Some(std::mem::take(&mut plan.flasher)), fallback_baud)?;
    plan.flasher.expect_chip = expect;
    if args.no_blank_skip {
        plan.write.blank_skip = BlankSkip::Off;
    }
    plan.write.skip_identical |= args.skip_identical;
    if args.readback {
        plan.verify = VerifyMode::Readback;
    }
    if let Some(a) = args.board.after {
        plan.after = a;
    }
    plan.erase_all = args.erase_all;
    plan.force = args.force;
    plan.check_declared_size = true;
    let port = args.board.port_name();

    let audit = store.as_ref().map(|store| AuditTarget {
        store: store.clone(),
        attempt: NewAttempt {
            station_id: station,
            slot: CLI_SLOT.to_string(),
            port: port.clone(),
            usb: None,
            image_name: name.clone(),
            image_sha256: golden.sha256_hex(),
            started_at: None,
        },
        retry: CompletionRetry::Limited(5),
    });

    let bar = ProgressBar::stderr();
    // Ctrl-C stops the board promptly and still completes its audit row.
    let stop = Stop::default();
    let on_ctrl_c = {
        let stop = stop.clone();
        tokio::spawn(async move {
            if tokio::signal::ctrl_c().await.is_ok() {
                stop.cancel(StopCause::Operator);
            }
        })
    };
    // A board on its own USB-Serial/JTAG port leaves the bus at each reset and may come
    // back under another name: it is followed to its new port.
    let req = OpenRequest { devnode: args.board.port.clone(), baud: plan.flasher.initial_baud, usb_ids: None };
    let reconnect = ports.reconnect(req);
    let end = run_attempt(AttemptRun {
        plan: &plan,
        opener: ports.opener.as_ref(),
        devnode: args.board.port.clone(),
        usb_ids: None,
        reconnect: Some(reconnect),
        audit,
        stop,
        removal_grace: std::time::Duration::ZERO,
        progress: bar.progress(),
        events: &|_| {},
    })
    .await;
    on_ctrl_c.abort();
    bar.clear();

    let done = match end.outcome {
        AttemptOutcome::Pass(done) => done,
        AttemptOutcome::NotStarted { reason } => {
            return Err(Failure::new(Exit::Database, format!("{reason}; the board was not touched")))
        }
        AttemptOutcome::Fail { error, .. } => {
            if let Some(e) = end.unrecorded {
                tracing::error!(error = %e, "the failed board's audit row could not be completed");
            }
            return Err(board_failure(&port, error));
        }
        AttemptOutcome::Interrupted { stage } => {
            return Err(Failure::new(Exit::Failure, format!("{port}: interrupted during {stage}")))
        }
    };
    if let (Some(e), Some(id)) = (end.unrecorded, end.attempt) {
        return Err(Failure::new(
            Exit::Database,
            format!("audit store: {e}; the board passed but attempt {id} stays 'running' (the daemon closes it as interrupted)"),
        ));
    }
    let identical: u64 = done.regions.iter().map(|r| r.identical).sum();
    let erased: u64 = done.regions.iter().map(|r| r.erased).sum();
    eprintln!(
        "flashed {name} ({}) to {}, MAC {} on {port}: {} written ({} sent, {} blank skipped, {} identical, {} erased), verified ({}) in {:.1} s{}",
        golden.sha256_hex().get(..12).unwrap_or_default(),
        done.info.description,
        super::report_format::mac(&done.info.mac),
        human(done.written as f64),
        human(done.sent as f64),
        human(done.skipped_blank as f64),
        human(identical as f64),
        human(erased as f64),
        done.verify_method,
        end.took.as_secs_f64(),
        end.attempt.map(|id| format!("; audit attempt {id}")).unwrap_or_default()
    );
    if args.board.format == ReportFormat::Json {
        print_json(&serde_json::json!({
            "port": port,
            "chip": done.info.chip.file_name(),
            "description": done.info.description,
            "mac": super::report_format::mac(&done.info.mac),
            "image": name,
            "image_sha256": golden.sha256_hex(),
            "written": done.written,
            "sent": done.sent,
            "skipped_blank": done.skipped_blank,
            "identical": identical,
            "erased": erased,
            "regions": done.regions,
            "verify": done.verify_method,
            "seconds": end.took.as_secs_f64(),
            "attempt": end.attempt.map(|id| id.0),
        }))?;
    }
    Ok(Exit::Success)
}

/// The exit code and message of a failed board.
fn board_failure(port: &str, error: BoardError) -> Failure {
    // The port before the message, when there is one.
    let at = |text: String| if port.is_empty() { text } else { format!("{port}: {text}") };
    match error {
        BoardError::Open(e) => Failure::new(e.exit(), e),
        BoardError::Session(e) => session_failure(port, e),
        BoardError::Check { exit, reason, .. } => Failure::new(exit, at(reason)),
        BoardError::Provision(reason) => Failure::new(Exit::Config, format!("{port}: provision: {reason}")),
        e @ (BoardError::NoImage(_) | BoardError::Boot { .. } | BoardError::ProvisionWrite(_)) => {
            Failure::new(Exit::Board, at(e.to_string()))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &[&str]) -> Vec<String> {
        v.iter().map(|x| x.to_string()).collect()
    }

    #[test]
    fn inputs_are_told_apart() {
        assert_eq!(parse_inputs(&s(&["app.bin"])).unwrap(), Inputs::Source(ImageSource::MergedBin("app.bin".into())));
        assert_eq!(parse_inputs(&s(&["m.toml"])).unwrap(), Inputs::Source(ImageSource::Manifest("m.toml".into())));
        assert_eq!(
            parse_inputs(&s(&["build/flasher_args.json"])).unwrap(),
            Inputs::Source(ImageSource::FlasherArgs("build/flasher_args.json".into()))
        );
        assert_eq!(
            parse_inputs(&s(&["0x1000", "b.bin", "65536", "a.bin"])).unwrap(),
            Inputs::Pairs(vec![(0x1000, "b.bin".into()), (0x10000, "a.bin".into())])
        );
        assert_eq!(parse_inputs(&s(&["0x1000"])).unwrap_err().exit, Exit::Config);
        assert_eq!(parse_inputs(&s(&["0x1000", "a", "0x2000"])).unwrap_err().exit, Exit::Config);
        assert_eq!(parse_inputs(&s(&["zz", "a"])).unwrap_err().exit, Exit::Config);
        assert!(parse_inputs(&s(&["0x0", "a", "0", "b"])).unwrap_err().message.contains("twice"));
    }

    #[test]
    fn pairs_load_with_the_daemon_checks_and_digest() {
        let dir = tempfile::tempdir().unwrap();
        let a = dir.path().join("a.bin");
        let b = dir.path().join("b.bin");
        std::fs::write(&a, [1u8; 100]).unwrap();
        std::fs::write(&b, [2u8; 10]).unwrap();
        let (img, name) = load_image(&Inputs::Pairs(vec![(0x10000, a.clone()), (0x2000, b.clone())]), false).unwrap();
        assert_eq!(name, "a.bin+b.bin");
        assert_eq!(img.regions()[0].offset, 0x2000);
        // Same layout as a manifest → same canonical digest.
        let m = dir.path().join("m.toml");
        std::fs::write(
            &m,
            "format = 1\nchip = \"esp32\"\n[[region]]\noffset = \"0x2000\"\nfile = \"b.bin\"\n\
             [[region]]\noffset = \"0x10000\"\nfile = \"a.bin\"\n",
        )
        .unwrap();
        assert_eq!(GoldenImage::load(&ImageSource::Manifest(m)).unwrap().sha256(), img.sha256());
        // Layout errors name the command line, not a temporary file.
        let e = load_image(&Inputs::Pairs(vec![(0x2000, a.clone()), (0x2010, b)]), false).unwrap_err();
        assert_eq!(e.exit, Exit::Image);
        assert!(e.message.starts_with("the command line:"), "{}", e.message);
        let e = load_image(&Inputs::Pairs(vec![(0, dir.path().join("missing.bin"))]), false).unwrap_err();
        assert!(e.message.contains("missing.bin is missing"), "{}", e.message);
    }
}
