//! What every job of the station shares: the plan (golden image, flasher settings), the
//! audit store, the port opener. Immutable; a config reload builds a new one
//! ([`StationContext::reload`]), and running jobs keep theirs.
//!
//! This is the one place a station is put together from its config: `flashline run`,
//! `flashline demo`, `flashline flash --config`, the benches and the tests all call
//! [`StationContext::build`] (or [`StationContext::assemble`] with parts they made).

use std::path::Path;
use std::sync::Arc;

use flashline_audit::{AuditStore, StoreOptions};
use flashline_session::StubSet;
use tokio_util::sync::CancellationToken;

use super::golden_set::GoldenSet;
use crate::config::Config;
use crate::exit::{Exit, Failure};
use crate::pipeline::{Plan, PortOpener};

#[derive(Debug)]
pub struct StationContext {
    pub station: String,
    /// What every board gets and how.
    pub plan: Plan,
    pub store: AuditStore,
    /// Where the jobs' ports come from (serial ports; simulated boards in the demo).
    pub opener: Arc<dyn PortOpener>,
    pub max_jobs: usize,
    /// The central audit record completed rows are forwarded to (`[central]`).
    pub central: Option<crate::config::CentralConfig>,
    /// Fires when the daemon shuts down.
    pub shutdown: CancellationToken,
}

impl StationContext {
    /// Builds a station from its config: loads and prepares the golden image (off the
    /// async runtime), opens the audit store (closing rows a previous daemon left
    /// `running`), loads the flasher stubs.
    pub async fn build(
        config: &Config,
        opener: Arc<dyn PortOpener>,
        shutdown: CancellationToken,
    ) -> Result<StationContext, Failure> {
        let images = load_images(config).await?;
        let store = open_store_limited(&config.database, config.database_max_size).await?;
        let stubs = load_stubs(config)?;
        let provision = crate::provision::setup::for_station(config, &images, Some(&store)).await?;
        let mut ctx = Self::assemble(config, images, store, stubs, opener, shutdown);
        ctx.plan.provision = provision;
        Ok(ctx)
    }

    /// Puts a station together from parts already made (a test's own store, the
    /// demo's image).
    pub fn assemble(
        config: &Config,
        images: Arc<GoldenSet>,
        store: AuditStore,
        stubs: Option<Arc<StubSet>>,
        opener: Arc<dyn PortOpener>,
        shutdown: CancellationToken,
    ) -> StationContext {
        StationContext {
            station: config.station.clone(),
            plan: Plan::from_config(config, images, stubs),
            store,
            opener,
            max_jobs: config.max_jobs,
            central: config.central.clone(),
            shutdown,
        }
    }

    /// The context for a re-read config (SIGHUP): a new image and settings, the same
    /// store, opener and shutdown token, so jobs of every generation see the same stop.
    pub async fn reload(&self, config: &Config) -> Result<StationContext, Failure> {
        let images = load_images(config).await?;
        let stubs = load_stubs(config)?;
        let provision = crate::provision::setup::for_station(config, &images, Some(&self.store)).await?;
        let mut ctx =
            Self::assemble(config, images, self.store.clone(), stubs, self.opener.clone(), self.shutdown.clone());
        ctx.plan.provision = provision;
        Ok(ctx)
    }
}

/// Loads, checks and prepares (compresses) the golden images, one per chip family, on a
/// blocking thread: the compression of a 4 MB image takes seconds of CPU, which must not
/// stall the runtime's other work (running jobs during a reload, the live view, signals).
pub async fn load_images(config: &Config) -> Result<Arc<GoldenSet>, Failure> {
    let cfg = config.images.clone();
    tokio::task::spawn_blocking(move || GoldenSet::load(&cfg))
        .await
        .map_err(|e| Failure::new(Exit::Failure, format!("loading the golden images panicked: {e}")))?
        .map(Arc::new)
        .map_err(|e| Failure::new(Exit::Image, e))
}

/// Opens the daemon's store and closes rows a previous daemon left `running`.
pub async fn open_store(path: &Path) -> Result<AuditStore, Failure> {
    open_store_limited(path, None).await
}

/// [`open_store`] with a size limit (`database_max_size`; `None`: the disk).
pub async fn open_store_limited(path: &Path, max_bytes: Option<u64>) -> Result<AuditStore, Failure> {
    let store = open_audit_with(path, StoreOptions::default().max_db_bytes(max_bytes)).await?;
    let closed = store.close_left_running().await.map_err(|e| Failure::new(Exit::Database, e))?;
    if !closed.interrupted.is_empty() {
        let rows = closed.interrupted.len();
        tracing::warn!(rows, "closed audit rows left running by a previous daemon as 'interrupted'");
    }
    if !closed.suspect.is_empty() {
        let ids: Vec<i64> = closed.suspect.iter().map(|id| id.0).collect();
        tracing::warn!(
            rows = ids.len(),
            attempt_ids = ?ids,
            reason = flashline_audit::FORGED_RUNNING_REASON,
            "audit rows left running that no daemon began (possibly forged) were closed with that reason"
        );
    }
    Ok(store)
}

/// Opens (creating it and its directory if needed) the store without touching other
/// writers' rows: what a command that shares the file with a running daemon must use.
pub async fn open_audit(path: &Path) -> Result<AuditStore, Failure> {
    open_audit_with(path, StoreOptions::default()).await
}

async fn open_audit_with(path: &Path, opts: StoreOptions) -> Result<AuditStore, Failure> {
    // The `database` key's rules hold for every path a store is opened at (`--db` too):
    // absolute, a file, never SQLite's temporary or in-memory database.
    let path = &crate::config::check_database_path(path)
        .map_err(|e| Failure::new(Exit::Config, format!("audit database {}: {e}", crate::text::escaped_path(path))))?;
    // The store creates a missing directory itself, 0750 whatever the umask.
    AuditStore::open(path, opts).await.map_err(|e| Failure::new(Exit::Database, e))
}

/// The flasher stubs: the built-in ones, unless `[flash] stub_dir` or `$FLASHLINE_STUB_DIR`
/// names a directory (which must then load and hold every chip the station has an image
/// for).
pub fn load_stubs(config: &Config) -> Result<Option<Arc<StubSet>>, Failure> {
    let set = StubSet::resolve(config.flash.stub_dir.as_deref()).map_err(|e| Failure::new(Exit::Config, e))?;
    // A directory without a station's chip would fail every board of it: refuse at start.
    for chip in config.images.chips() {
        set.get(chip).map_err(|e| Failure::new(Exit::Config, e))?;
    }
    Ok(Some(Arc::new(set)))
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;

    fn config(dir: &Path, stub_dir: Option<&Path>) -> Config {
        let stubs = stub_dir.map(|d| format!("[flash]\nstub_dir = \"{}\"\n", d.display())).unwrap_or_default();
        let text = format!(
            "station = \"st1\"\ndatabase = \"{}\"\n[image]\nmanifest = \"m.toml\"\nsha256 = \"{}\"\nchip = \"esp32\"\n{stubs}",
            dir.join("audit.db").display(),
            "0".repeat(64)
        );
        Config::parse(&text, &dir.join("station.toml")).unwrap()
    }

    /// `[flash] stub_dir` reaches the flasher: its stubs replace the built-in ones, and a
    /// directory without the station's chip stops the station at start (exit 2).
    #[test]
    fn stub_dir_replaces_the_built_in_stubs() {
        let dir = tempfile::tempdir().unwrap();
        let stub = |chip: &str| flashline_session::stub::builtin::files().find(|(n, _)| *n == chip).unwrap();
        let built_in = load_stubs(&config(dir.path(), None)).unwrap().unwrap();
        assert!(built_in.get(flashline_protocol::Chip::Esp32).is_ok());

        let only_8266 = dir.path().join("only8266");
        std::fs::create_dir(&only_8266).unwrap();
        std::fs::write(only_8266.join("esp8266.json"), stub("esp8266").1).unwrap();
        let e = load_stubs(&config(dir.path(), Some(&only_8266))).unwrap_err();
        assert_eq!(e.exit, Exit::Config, "{}", e.message);

        let with_esp32 = dir.path().join("with32");
        std::fs::create_dir(&with_esp32).unwrap();
        std::fs::write(with_esp32.join("esp32.json"), stub("esp32").1).unwrap();
        let set = load_stubs(&config(dir.path(), Some(&with_esp32))).unwrap().unwrap();
        assert!(set.source().to_string().contains("with32"), "{}", set.source());
    }
}
