//! `flashline flash --port P (IMAGE | MANIFEST | OFFSET FILE [OFFSET FILE ...])`: one board
//! through the daemon's engine.
//!
//! The image is loaded and checked like the daemon's golden image (layout, bootloader
//! header, declared chip), prepared once (compressed, split for blank-skip), written with
//! the session's [`Flasher`] and verified by on-chip MD5 (or read back). With `--db`, or
//! `--config` naming a station config, the board gets an audit row like a board flashed
//! by `flashline run`: created before the board is touched, completed pass or fail.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use clap::Args;
use flashline_audit::{AttemptId, AuditStore, Completion, Identity, NewAttempt, SkippedRegion};
use flashline_protocol::flash::{format_size, parse_size};
use flashline_protocol::Chip;
use flashline_session::{
    BlankSkip, CancellationToken, Error as SessionError, Flasher, FlasherConfig, PreparedImage, Progress,
    Region as SessionRegion, RegionOutcome, Stage, VerifyOptions, WriteOptions,
};

use super::board::{self, session_failure, AfterArg, BoardArgs};
use super::progress_bar::{human, ProgressBar};
use super::run::{load_stubs, open_audit};
use super::{CliResult, Failure};
use crate::config::{Config, VerifyMode};
use crate::exit::Exit;
use crate::image::{GoldenImage, ImageSource, RegionScope};
use crate::station::record::{skipped_regions, StageClock};
use crate::station::{Golden, StationContext};

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
    #[arg(long, short = 'c', value_name = "FILE")]
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
pub fn load_image(inputs: &Inputs) -> Result<(GoldenImage, String), Failure> {
    match inputs {
        Inputs::Source(src) => {
            let image = GoldenImage::load(src).map_err(|e| Failure::new(Exit::Image, e))?;
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

/// Checks the image against a chip (before connecting when `--chip` is given, and against
/// the detected chip after): the declared family always, the bootloader header unless
/// `force`.
fn check_image_chip(image: &GoldenImage, chip: Chip, force: bool) -> Result<(), Failure> {
    if let Some(declared) = declared_chip(image) {
        if declared != chip {
            return Err(Failure::new(
                Exit::Image,
                format!("the image {} is for {declared}, not {chip}", image.source().path().display()),
            ));
        }
    }
    if !force {
        image.check_chip(chip).map_err(|e| {
            Failure::new(
                Exit::Image,
                format!("{e} (--force writes it anyway)").replace("the config expects", "the board is"),
            )
        })?;
    }
    Ok(())
}

/// A failure of the board part, with what the audit row records.
struct Failed {
    stage: Stage,
    reason: String,
    failure: Failure,
}

impl Failed {
    fn session(port: &str, e: SessionError) -> Failed {
        let stage = e.stage();
        let msg = e.to_string();
        let reason = msg.strip_prefix(stage.as_str()).and_then(|m| m.strip_prefix(": ")).unwrap_or(&msg).to_string();
        Failed { stage, reason, failure: session_failure(port, e) }
    }

    fn check(stage: Stage, failure: Failure) -> Failed {
        Failed { stage, reason: failure.message.clone(), failure }
    }
}

/// Everything resolved before the board is touched.
struct Plan {
    port: String,
    flasher: FlasherConfig,
    write: WriteOptions,
    verify: VerifyMode,
    after: AfterArg,
    erase_all: bool,
    force: bool,
    image: GoldenImage,
    prepared: Arc<PreparedImage>,
}

/// What a passed board reports.
struct Flashed {
    description: String,
    mac: String,
    written: u64,
    sent: u64,
    skipped_blank: u64,
    skipped: Vec<SkippedRegion>,
    verify_method: String,
}

pub async fn run(args: FlashArgs) -> CliResult {
    let inputs = parse_inputs(&args.inputs)?;
    let (image, name) = load_image(&inputs)?;
    let declared = declared_chip(&image);
    if let Some(chip) = args.board.chip {
        check_image_chip(&image, chip, args.force)?;
    }
    let config = match &args.config {
        Some(p) => Some(Config::load(p).map_err(|e| Failure::new(e.exit_code(), e))?),
        None => None,
    };
    let expect = args.board.chip.or(declared).or(config.as_ref().map(|c| c.image.chip));

    let regions: Vec<SessionRegion> =
        image.regions().iter().map(|r| SessionRegion::new(r.offset, r.data.clone())).collect();
    let prepared = tokio::task::spawn_blocking(move || PreparedImage::new(regions))
        .await
        .map_err(|e| Failure::new(Exit::Failure, format!("image preparation panicked: {e}")))?
        .map_err(|e| Failure::new(Exit::Image, format!("{}: {e}", image.source().path().display())))?;
    let prepared = Arc::new(prepared);

    // Settings: the station config's (as the daemon derives them), then the options.
    let db = args.db.clone().or(config.as_ref().map(|c| c.database.clone()));
    let store = match &db {
        Some(p) => Some(open_audit(p).await?),
        None => None,
    };
    let station = config.as_ref().map(|c| c.station.clone()).unwrap_or_else(|| CLI_STATION.to_string());
    let (mut flasher, mut write, mut verify, mut after) =
        (FlasherConfig::default(), WriteOptions::default(), VerifyMode::Md5, AfterArg::HardReset);
    let mut fallback_baud = None;
    if let (Some(config), Some(store)) = (&config, &store) {
        let golden = Golden {
            image: image.clone(),
            prepared: prepared.clone(),
            name: name.clone(),
            chip: expect.unwrap_or(config.image.chip),
            min_flash_size: None,
        };
        let ctx =
            StationContext::new(config, Arc::new(golden), store.clone(), load_stubs(config)?, CancellationToken::new());
        (flasher, write, verify, after) =
            (ctx.flasher.clone(), ctx.write.clone(), ctx.verify, AfterArg::from_config(ctx.after));
        fallback_baud = Some(config.flash.baud.0);
    }
    let mut flasher = args.board.flasher_config(Some(std::mem::take(&mut flasher)), fallback_baud)?;
    flasher.expect_chip = expect;
    if args.no_blank_skip {
        write.blank_skip = BlankSkip::Off;
    }
    write.skip_identical |= args.skip_identical;
    if args.readback {
        verify = VerifyMode::Readback;
    }
    if let Some(a) = args.board.after {
        after = a;
    }
    let plan = Plan {
        port: args.board.port_name(),
        flasher,
        write,
        verify,
        after,
        erase_all: args.erase_all,
        force: args.force,
        image,
        prepared,
    };

    let attempt = match &store {
        Some(store) => {
            let new = NewAttempt {
                station_id: station,
                slot: CLI_SLOT.to_string(),
                port: plan.port.clone(),
                usb: None,
                image_name: name.clone(),
                image_sha256: plan.image.sha256().to_hex(),
                started_at: None,
            };
            let id = store
                .begin_attempt(new)
                .await
                .map_err(|e| Failure::new(Exit::Database, format!("audit store: {e}; the board was not touched")))?;
            Some(id)
        }
        None => None,
    };

    let bar = ProgressBar::stderr();
    let clock = Arc::new(Mutex::new(StageClock::default()));
    let progress = {
        let (clock, sink) = (clock.clone(), bar.progress());
        Progress::callback(move |e| {
            clock.lock().expect("stage clock").mark(e.stage);
            sink.report(e.stage, e.done, e.total);
        })
    };
    // Ctrl-C stops the board promptly and still completes its audit row.
    let cancel = CancellationToken::new();
    let on_ctrl_c = {
        let cancel = cancel.clone();
        tokio::spawn(async move {
            if tokio::signal::ctrl_c().await.is_ok() {
                cancel.cancel();
            }
        })
    };
    let t0 = Instant::now();
    let result = flash_board(&plan, progress, cancel, store.as_ref().zip(attempt)).await;
    on_ctrl_c.abort();
    bar.clear();
    let took = t0.elapsed();
    let timings = clock.lock().expect("stage clock").timings(Instant::now());

    if let (Some(store), Some(id)) = (&store, attempt) {
        let completion = match &result {
            Ok(done) => {
                let mut c = Completion::pass(done.written, done.verify_method.clone());
                c.skipped_regions = done.skipped.clone();
                c.with_timings(timings)
            }
            Err(f) => Completion::fail(f.stage.as_str(), &f.reason).with_timings(timings),
        };
        complete(store, id, completion, result.is_ok()).await?;
    }
    let done = result.map_err(|f| f.failure)?;
    eprintln!(
        "flashed {name} ({}) to {}, MAC {} on {}: {} written ({} sent, {} blank skipped), verified ({}) in {:.1} s{}",
        plan.image.sha256().to_hex().get(..12).unwrap_or_default(),
        done.description,
        done.mac,
        plan.port,
        human(done.written as f64),
        human(done.sent as f64),
        human(done.skipped_blank as f64),
        done.verify_method,
        took.as_secs_f64(),
        attempt.map(|id| format!("; audit attempt {id}")).unwrap_or_default()
    );
    Ok(Exit::Success)
}

/// Completes the audit row, retrying briefly while the store is busy.
async fn complete(store: &AuditStore, id: AttemptId, completion: Completion, passed: bool) -> Result<(), Failure> {
    let mut delay = Duration::from_millis(200);
    let mut tries = 0;
    loop {
        match store.complete_attempt(id, completion.clone()).await {
            Ok(()) => return Ok(()),
            Err(e) if e.is_retryable() && tries < 5 => {
                tries += 1;
                tokio::time::sleep(delay).await;
                delay *= 2;
            }
            Err(e) => {
                let board = if passed { "the board passed" } else { "the board failed" };
                return Err(Failure::new(
                    Exit::Database,
                    format!("audit store: {e}; {board} but attempt {id} stays 'running' (the daemon closes it as interrupted)"),
                ));
            }
        }
    }
}

async fn flash_board(
    plan: &Plan,
    progress: Progress,
    cancel: CancellationToken,
    audit: Option<(&AuditStore, AttemptId)>,
) -> Result<Flashed, Failed> {
    let port = board::open_port(Path::new(&plan.port), plan.flasher.initial_baud)
        .map_err(|f| Failed::check(Stage::Connect, f))?;
    let mut flasher =
        Flasher::connect(port, &plan.flasher, progress, cancel).await.map_err(|e| Failed::session(&plan.port, e))?;
    let info = flasher.info().clone();
    if let Some((store, id)) = audit {
        let identity = Identity {
            mac: info.mac.to_string(),
            chip: info.description.clone(),
            chip_revision: info.revision.map(|(major, minor)| format!("v{major}.{minor}")),
            flash_id: info.flash.as_ref().map(|f| f.jedec_id),
            flash_size: info.flash.as_ref().and_then(|f| f.size).map(u64::from),
        };
        if let Err(e) = store.update_identity(id, &identity).await {
            tracing::warn!(error = %e, "could not record the board identity");
        }
    }
    check_board(plan, &info).map_err(|f| Failed::check(Stage::Identify, f))?;

    let mut write = plan.write.clone();
    if plan.erase_all {
        let erased = if flasher.is_stub() {
            flasher.erase_chip().await
        } else {
            let size = info.flash.and_then(|f| f.size).unwrap_or(0);
            flasher.erase_region(0, size).await
        };
        erased.map_err(|e| Failed::session(&plan.port, e))?;
        write.blank_skip = BlankSkip::TrustBlank;
        write.verify = true;
    }
    let report = flasher.write(&plan.prepared, &write).await.map_err(|e| Failed::session(&plan.port, e))?;
    let readback = plan.verify == VerifyMode::Readback;
    if readback {
        flasher
            .verify(&plan.prepared, VerifyOptions { readback: true })
            .await
            .map_err(|e| Failed::session(&plan.port, e))?;
    }
    flasher.finish(plan.after.to_session()).await.map_err(|e| Failed::session(&plan.port, e))?;

    let skipped = skipped_regions(&report);
    let (mut written, mut sent, mut skipped_blank) = (0, 0, 0);
    for r in &report.regions {
        written += r.written;
        sent += r.sent;
        if r.outcome == RegionOutcome::Sparse {
            skipped_blank += u64::from(r.len) - r.written;
        }
    }
    Ok(Flashed {
        description: info.description.clone(),
        mac: info.mac.to_string(),
        written,
        sent,
        skipped_blank,
        skipped,
        verify_method: if readback { "md5+readback" } else { "md5" }.to_string(),
    })
}

/// The checks between identifying the board and writing it.
fn check_board(plan: &Plan, info: &flashline_session::ChipInfo) -> Result<(), Failure> {
    let port = &plan.port;
    check_image_chip(&plan.image, info.chip, plan.force)
        .map_err(|f| Failure::new(f.exit, format!("{port}: {}", f.message)))?;
    let Some(size) = info.flash.and_then(|f| f.size) else {
        return Err(Failure::new(
            Exit::Board,
            format!("{port}: the flash size is unknown (JEDEC id not in the table): refusing to write blind"),
        ));
    };
    plan.image.check_fits(size).map_err(|e| {
        Failure::new(
            Exit::Image,
            format!("{port}: {e}: this image is too large for the board ({} flash)", format_size(size)),
        )
    })?;
    if let (Some(declared), false) = (plan.image.declared_flash_size(), plan.force) {
        if declared > size {
            return Err(Failure::new(
                Exit::Image,
                format!(
                    "{port}: the image was made for {} of flash but the board has {}: its partitions would not fit \
                     (--force writes it anyway)",
                    format_size(declared),
                    format_size(size)
                ),
            ));
        }
    }
    Ok(())
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
        let (img, name) = load_image(&Inputs::Pairs(vec![(0x10000, a.clone()), (0x2000, b.clone())])).unwrap();
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
        let e = load_image(&Inputs::Pairs(vec![(0x2000, a.clone()), (0x2010, b)])).unwrap_err();
        assert_eq!(e.exit, Exit::Image);
        assert!(e.message.starts_with("the command line:"), "{}", e.message);
        let e = load_image(&Inputs::Pairs(vec![(0, dir.path().join("missing.bin"))])).unwrap_err();
        assert!(e.message.contains("missing.bin is missing"), "{}", e.message);
    }
}
