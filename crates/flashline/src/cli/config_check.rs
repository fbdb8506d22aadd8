//! `flashline config check [FILE]`: validates a station config and everything it names
//! (the golden images and their SHA-256 pins, the NVS partition's place against every
//! image, the flasher stubs, an existing audit database)
//! without starting the daemon, with the daemon's exit codes: 2 config, 3 image,
//! 4 database.

use std::path::PathBuf;

use clap::{Args, Subcommand};
use flashline_audit::AuditStore;

use super::report_format::{print_json, ReportFormat};
use super::{CliResult, Failure};
use crate::config::Config;
use crate::exit::Exit;
use crate::station::{load_images, load_stubs};

/// Where the packaged daemon's config lives.
pub const DEFAULT_CONFIG: &str = "/etc/flashline/flashline.toml";

#[derive(Debug, Clone, Subcommand)]
pub enum ConfigCommand {
    /// Check a station config, its image and its database without starting the daemon.
    Check(CheckArgs),
}

#[derive(Debug, Clone, Args)]
pub struct CheckArgs {
    /// The station config [default: /etc/flashline/flashline.toml].
    pub file: Option<PathBuf>,
    /// Report as text or as one JSON object.
    #[arg(long, value_enum, default_value_t = ReportFormat::Text)]
    pub format: ReportFormat,
}

pub async fn run(cmd: ConfigCommand) -> CliResult {
    match cmd {
        ConfigCommand::Check(args) => check(args).await,
    }
}

async fn check(args: CheckArgs) -> CliResult {
    let path = args.file.unwrap_or_else(|| PathBuf::from(DEFAULT_CONFIG));
    let config = Config::load(&path).map_err(|e| Failure::new(e.exit_code(), e))?;
    let images = load_images(&config).await?;
    crate::provision::setup::check(&config, &images)?;
    let stubs = load_stubs(&config)?;
    let db = &config.database;
    let db_state = if db.exists() {
        let store = AuditStore::open_read_only(db)
            .await
            .map_err(|e| Failure::new(Exit::Database, format!("{e} (config {})", path.display())))?;
        store.close().await;
        "exists, schema current"
    } else {
        match db.parent() {
            Some(dir) if dir.is_dir() => "will be created at the first start",
            Some(dir) => {
                return Err(Failure::new(
                    Exit::Database,
                    format!(
                        "the audit database's directory {} does not exist (config {})",
                        dir.display(),
                        path.display()
                    ),
                ))
            }
            None => "will be created at the first start",
        }
    };
    let image_json = |g: &crate::station::Golden| {
        serde_json::json!({
            "chip": g.chip.map(|c| c.file_name()),
            "image": g.name,
            "image_sha256": g.sha256_hex(),
            "regions": g.image.regions().len(),
            "image_size": g.image.end(),
        })
    };
    if args.format == ReportFormat::Json {
        // One chip: the image's fields at the top level, as always; `images` lists every
        // image (one per chip family) in both cases.
        let mut doc = serde_json::json!({
            "config": path.display().to_string(),
            "ok": true,
            "station": config.station,
            "images": images.iter().map(|g| image_json(g)).collect::<Vec<_>>(),
            "stubs": stubs.as_ref().map(|s| s.source().to_string()),
            "database": db.display().to_string(),
            "database_state": db_state,
            "slots": config.slots.len(),
            "max_jobs": config.max_jobs,
        });
        if let (Some(one), Some(obj)) = (images.single(), doc.as_object_mut()) {
            if let serde_json::Value::Object(fields) = image_json(one) {
                obj.extend(fields);
            }
        }
        return print_json(&doc).map(|()| Exit::Success);
    }
    println!("{}: ok", path.display());
    println!("  station   {}", config.station);
    for g in images.iter() {
        println!(
            "  image     {} ({} regions, {} bytes, sha256 {}), chip {}",
            crate::text::Escaped(&g.name),
            g.image.regions().len(),
            g.image.end(),
            g.sha256_hex(),
            g.chip.map_or("any".to_string(), |c| c.to_string())
        );
    }
    println!("  stubs     {}", if stubs.is_some() { "loaded" } else { "none (ROM loader)" });
    println!("  database  {} ({db_state})", db.display());
    println!("  slots     {} named, max_jobs {}", config.slots.len(), config.max_jobs);
    Ok(Exit::Success)
}
