//! `flashline run --config FILE`: the station daemon.
//!
//! Start-up refuses to run on anything it cannot trust (bad config, changed image, audit
//! store that cannot be opened), each with its own exit code. Once running it never exits
//! because of a board: SIGHUP reloads config and image (running jobs keep the old ones),
//! SIGTERM/SIGINT stop it after running jobs have recorded their rows.

use std::path::Path;
use std::sync::Arc;

use flashline_audit::{AuditStore, StoreOptions};
use flashline_session::StubSet;
use tokio::signal::unix::{signal, SignalKind};
use tokio_util::sync::CancellationToken;

use super::{telemetry, CliResult, Failure};
use crate::config::Config;
use crate::device::{DeviceSource, UdevSource};
use crate::exit::Exit;
use crate::station::serve::{Station, Ui};
use crate::station::{Control, Golden, StationContext};

pub async fn run(config_path: &Path) -> CliResult {
    let config = Config::load(config_path).map_err(|e| Failure::new(e.exit_code(), e))?;
    let ui = Ui::detect();
    telemetry::init(&config.log, matches!(ui, Ui::Live { .. }));

    let golden = Arc::new(Golden::load(&config.image).map_err(|e| Failure::new(Exit::Image, e))?);
    let store = open_store_limited(&config.database, config.database_max_size).await?;
    let stubs = load_stubs(&config)?;
    let shutdown = CancellationToken::new();
    let ctx = Arc::new(StationContext::new(&config, golden, store.clone(), stubs, shutdown.clone()));
    tracing::info!(station = %config.station, image = %ctx.golden.name, sha256 = %ctx.golden.sha256_hex(), db = %config.database.display(), "station starting");

    let sources: Vec<Box<dyn DeviceSource>> = vec![Box::new(UdevSource::new())];
    let station = Station::start(
        ctx,
        config.slots.clone(),
        config.devices.unmapped_ports,
        sources,
        config.devices.filter(),
        ui,
        false,
    );
    let control = station.control.clone();
    let signals = tokio::spawn(handle_signals(config, control, store.clone(), shutdown));
    let (view, devices) = station.wait().await;
    signals.abort();
    store.close().await;
    tracing::info!(pass = view.totals.pass, fail = view.totals.fail, "station stopped");
    match devices {
        Ok(()) => Ok(Exit::Success),
        Err(e) => Err(Failure::new(Exit::Devices, e)),
    }
}

/// Opens the store and closes rows a previous daemon left `running`.
pub async fn open_store(path: &Path) -> Result<AuditStore, Failure> {
    open_store_limited(path, None).await
}

/// [`open_store`] with a size limit (`database_max_size`; `None`: the disk).
pub async fn open_store_limited(path: &Path, max_bytes: Option<u64>) -> Result<AuditStore, Failure> {
    let store = open_audit_with(path, StoreOptions::default().max_db_bytes(max_bytes)).await?;
    let closed = store.close_interrupted().await.map_err(|e| Failure::new(Exit::Database, e))?;
    if closed > 0 {
        tracing::warn!(rows = closed, "closed audit rows left running by a previous daemon as 'interrupted'");
    }
    Ok(store)
}

/// Opens (creating it and its directory if needed) the store without touching other
/// writers' rows: what a command that shares the file with a running daemon must use.
pub async fn open_audit(path: &Path) -> Result<AuditStore, Failure> {
    open_audit_with(path, StoreOptions::default()).await
}

async fn open_audit_with(path: &Path, opts: StoreOptions) -> Result<AuditStore, Failure> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)
            .map_err(|e| Failure::new(Exit::Database, format!("cannot create {}: {e}", dir.display())))?;
    }
    AuditStore::open(path, opts).await.map_err(|e| Failure::new(Exit::Database, e))
}

/// The flasher stubs: the built-in ones, unless `[flash] stub_dir` or `$FLASHLINE_STUB_DIR`
/// names a directory (which must then load).
pub fn load_stubs(config: &Config) -> Result<Option<Arc<StubSet>>, Failure> {
    StubSet::resolve(config.flash.stub_dir.as_deref())
        .map(|s| Some(Arc::new(s)))
        .map_err(|e| Failure::new(Exit::Config, e))
}

/// SIGHUP: reload; SIGTERM/SIGINT: stop.
async fn handle_signals(
    mut config: Config,
    control: tokio::sync::mpsc::Sender<Control>,
    store: AuditStore,
    shutdown: CancellationToken,
) {
    let (Ok(mut hup), Ok(mut term), Ok(mut int)) =
        (signal(SignalKind::hangup()), signal(SignalKind::terminate()), signal(SignalKind::interrupt()))
    else {
        tracing::error!("cannot install signal handlers");
        return;
    };
    loop {
        tokio::select! {
            _ = hup.recv() => match reload(&config, &store, &shutdown) {
                Ok((new_config, ctx)) => {
                    if new_config.database_max_size != config.database_max_size {
                        // A raised limit is how the operator clears a "database full" stop:
                        // the dispatcher's next probe then finds the store writable again.
                        match store.set_max_db_bytes(new_config.database_max_size).await {
                            Ok(()) => tracing::info!(limit = ?new_config.database_max_size, "audit database size limit changed"),
                            Err(e) => tracing::error!(error = %e, "cannot change the audit database size limit"),
                        }
                    }
                    tracing::info!(image = %ctx.golden.name, "reloaded configuration and golden image");
                    let msg = Control::Reload(ctx, new_config.slots.clone(), new_config.devices.unmapped_ports);
                    config = new_config;
                    if control.send(msg).await.is_err() { return; }
                }
                Err(e) => tracing::error!(error = %e.message, "reload refused; the previous configuration stays in force"),
            },
            _ = term.recv() => { let _ = control.send(Control::Shutdown).await; return; }
            _ = int.recv() => { let _ = control.send(Control::Shutdown).await; return; }
        }
    }
}

/// Builds a new context from the re-read config; the shutdown token is the daemon's, so
/// jobs of every generation see the same stop.
fn reload(
    current: &Config,
    store: &AuditStore,
    shutdown: &CancellationToken,
) -> Result<(Config, Arc<StationContext>), Failure> {
    let config = current.reload().map_err(|e| Failure::new(e.exit_code(), e))?;
    if config.database != current.database {
        return Err(Failure::new(Exit::Config, "the database path cannot change on reload; restart the daemon"));
    }
    let golden = Arc::new(Golden::load(&config.image).map_err(|e| Failure::new(Exit::Image, e))?);
    let stubs = load_stubs(&config)?;
    let ctx = Arc::new(StationContext::new(&config, golden, store.clone(), stubs, shutdown.clone()));
    Ok((config, ctx))
}
