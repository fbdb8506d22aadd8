//! A station over in-process simulated ports, built by the one station builder from a
//! config file written the way an operator writes one: the rig of the `station_*` tests
//! and of `central_forward` (which adds its `[central]` table and keeps its database
//! across a restart).
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::sync::Arc;

use flashline::config::Config;
use flashline::device::SimulatedDevices;
use flashline::image::{GoldenImage, ImageSource};
use flashline::pipeline::SimulatedPorts;
use flashline::station::serve::Station;
use flashline::station::{Control, StationContext};
use flashline_protocol::Chip;
use flashline_sim::SimHandle;
use tokio_util::sync::CancellationToken;

pub struct Rig {
    /// The directory the rig made for itself; `None` when the caller gave one ([`Spec`]).
    pub _dir: Option<tempfile::TempDir>,
    pub config: Config,
    pub ctx: Arc<StationContext>,
    pub ports: SimulatedPorts,
    /// The station's local audit database.
    pub db: PathBuf,
}

/// A station's config: written as `station.toml` in `dir`, its database `dir/audit.db`.
pub struct Spec<'a> {
    pub dir: &'a Path,
    pub station: &'a str,
    pub chip: Chip,
    /// Slots `A1..An` on `sim-usb-0:K:1.0`.
    pub slots: u32,
    pub max_jobs: usize,
    /// The `[flash]` section's body.
    pub flash: &'a str,
    /// Whole tables appended to the config.
    pub extra: &'a str,
}

impl Spec<'_> {
    /// Writes the config for the golden image at `source` and builds the station over new
    /// simulated ports. A database already in `dir` is the station's (a restart).
    pub async fn build(&self, source: ImageSource) -> Rig {
        let image = GoldenImage::load(&source).unwrap();
        let key = match source {
            ImageSource::Manifest(_) => "manifest",
            ImageSource::FlasherArgs(_) => "flasher_args",
            ImageSource::MergedBin(_) => "merged_bin",
        };
        let slots: String = (0..self.slots).map(|k| format!("A{} = \"sim-usb-0:{k}:1.0\"\n", k + 1)).collect();
        let db = self.dir.join("audit.db");
        let text = format!(
            "station = \"{station}\"\ndatabase = \"{db}\"\nmax_jobs = {max_jobs}\n\n[image]\n{key} = \"{path}\"\n\
             sha256 = \"{sha}\"\nchip = \"{chip}\"\n\n[flash]\n{flash}\n[slots]\n{slots}\n{extra}",
            station = self.station,
            db = db.display(),
            max_jobs = self.max_jobs,
            path = source.path().display(),
            sha = image.sha256().to_hex(),
            chip = self.chip.file_name(),
            flash = self.flash,
            extra = self.extra,
        );
        let path = self.dir.join("station.toml");
        std::fs::write(&path, text).unwrap();
        let config = Config::load(&path).unwrap_or_else(|e| panic!("{e}"));
        let ports = SimulatedPorts::new();
        let ctx = StationContext::build(&config, Arc::new(ports.clone()), CancellationToken::new())
            .await
            .unwrap_or_else(|e| panic!("{}", e.message));
        Rig { _dir: None, config, ctx: Arc::new(ctx), ports, db }
    }
}

/// `n` slots `A1..An` on `sim-usb-0:K:1.0`, an ESP32 sample image, and `flash` as the
/// `[flash]` section's body.
pub async fn rig(prefix: &str, n: u32, max_jobs: usize, flash: &str) -> Rig {
    rig_for(prefix, Chip::Esp32, n, max_jobs, flash).await
}

/// Like [`rig`], for `chip` (`[image] chip` and a sample image built for it).
pub async fn rig_for(prefix: &str, chip: Chip, n: u32, max_jobs: usize, flash: &str) -> Rig {
    rig_with_tables(prefix, chip, n, max_jobs, flash, "").await
}

/// Like [`rig_for`], with `extra` (whole tables) appended to the config.
pub async fn rig_with_tables(prefix: &str, chip: Chip, n: u32, max_jobs: usize, flash: &str, extra: &str) -> Rig {
    rig_with_console(prefix, chip, n, max_jobs, flash, extra, None).await
}

/// Like [`rig_with_tables`], with a sample app that carries `console` (the simulator's
/// console script: what the app prints when it boots).
pub async fn rig_with_console(
    prefix: &str,
    chip: Chip,
    n: u32,
    max_jobs: usize,
    flash: &str,
    extra: &str,
    console: Option<&str>,
) -> Rig {
    let dir = tempfile::Builder::new().prefix(prefix).tempdir().unwrap();
    let manifest =
        flashline::cli::sample::write_sample_with(&dir.path().join("image"), chip, 64 * 1024, console).unwrap();
    build(dir, chip, n, max_jobs, flash, extra, ImageSource::Manifest(manifest)).await
}

/// Like [`rig_for`] with the sample image merged into one binary of `len` bytes written at
/// 0 (`merged_bin`): 0xFF between and after the regions, all of it the golden image's, so
/// a board holding something else there has it erased.
pub async fn rig_merged(prefix: &str, chip: Chip, n: u32, max_jobs: usize, flash: &str, len: usize) -> Rig {
    let dir = tempfile::Builder::new().prefix(prefix).tempdir().unwrap();
    let manifest = flashline::cli::sample::write_sample_with(&dir.path().join("image"), chip, 64 * 1024, None).unwrap();
    let sample = GoldenImage::load(&ImageSource::Manifest(manifest)).unwrap();
    let mut merged = vec![0xFFu8; len];
    for r in sample.regions() {
        merged[r.offset as usize..r.offset as usize + r.data.len()].copy_from_slice(&r.data);
    }
    let bin = dir.path().join("image").join("merged.bin");
    std::fs::write(&bin, &merged).unwrap();
    build(dir, chip, n, max_jobs, flash, "", ImageSource::MergedBin(bin)).await
}

/// A station `duplex` in a new temporary directory (kept with the rig).
async fn build(
    dir: tempfile::TempDir,
    chip: Chip,
    n: u32,
    max_jobs: usize,
    flash: &str,
    extra: &str,
    source: ImageSource,
) -> Rig {
    let spec = Spec { dir: dir.path(), station: "duplex", chip, slots: n, max_jobs, flash, extra };
    let rig = spec.build(source).await;
    Rig { _dir: Some(dir), ..rig }
}

/// The board's flash holds the golden image.
pub fn flash_matches(rig: &Rig, handle: &SimHandle) -> bool {
    let flash = handle.flash();
    rig.ctx.plan.images.single().expect("one image").image.regions().iter().all(|r| {
        let s = r.offset as usize;
        flash.get(s..s + r.data.len()) == Some(&r.data[..])
    })
}

/// Drains `station` (no new jobs; running ones finish), closes its device source and
/// waits until it has ended cleanly.
pub async fn drain_and_stop(station: Station, devices: SimulatedDevices) {
    station.control.send(Control::DrainAndStop).await.unwrap();
    drop(devices);
    let (_view, end) = tokio::time::timeout(std::time::Duration::from_secs(10), station.wait()).await.unwrap();
    end.unwrap();
}
