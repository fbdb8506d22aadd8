//! `flashline run --config FILE`: the station daemon.
//!
//! Start-up refuses to run on anything it cannot trust (bad config, changed image, audit
//! store that cannot be opened), each with its own exit code. Once running it never exits
//! because of a board: SIGHUP reloads config and image (running jobs keep the old ones),
//! SIGTERM/SIGINT stop it after running jobs have recorded their rows.

use std::path::Path;
use std::sync::Arc;

use flashline_audit::AuditStore;
use tokio::signal::unix::{signal, SignalKind};
use tokio_util::sync::CancellationToken;

use super::{telemetry, CliResult, Failure};
use crate::config::Config;
use crate::device::{DeviceSource, UdevSource};
use crate::exit::Exit;
use crate::pipeline::SerialPorts;
use crate::station::serve::{Station, Ui};
use crate::station::{Control, StationContext};
use crate::web;

pub async fn run(config_path: &Path) -> CliResult {
    let config = Config::load(config_path).map_err(|e| Failure::new(e.exit_code(), e))?;
    let ui = Ui::detect();
    telemetry::init(&config.log, matches!(ui, Ui::Live { .. }));

    let shutdown = CancellationToken::new();
    let ctx = Arc::new(StationContext::build(&config, Arc::new(SerialPorts), shutdown.clone()).await?);
    let store = ctx.store.clone();
    tracing::info!(station = %config.station, db = %config.database.display(), "station starting");
    log_images(&ctx, "golden image");

    let sources: Vec<Box<dyn DeviceSource>> = vec![Box::new(UdevSource::new())];
    let station = Station::start(
        ctx.clone(),
        config.slots.clone(),
        config.devices.unmapped_ports,
        sources,
        config.devices.filter(),
        ui,
        false,
    );
    let web_stop = CancellationToken::new();
    let web = start_web(&station, store.clone(), &config, web_stop.clone()).await;
    let control = station.control.clone();
    let signals = tokio::spawn(handle_signals(config, control, ctx));
    let (view, devices) = station.wait().await;
    signals.abort();
    web_stop.cancel();
    if let Some(web) = web {
        web.wait().await;
    }
    store.close().await;
    tracing::info!(pass = view.totals.pass, fail = view.totals.fail, "station stopped");
    match devices {
        Ok(()) => Ok(Exit::Success),
        Err(e) => Err(Failure::new(Exit::Devices, e)),
    }
}

/// The HTTP endpoints of `[http]`, if configured. A port that cannot be bound is logged
/// and the station flashes on without them.
pub(crate) async fn start_web(
    station: &Station,
    store: AuditStore,
    config: &Config,
    stop: CancellationToken,
) -> Option<web::WebServer> {
    let addr = config.http.listen?;
    match web::start(station, Some(store), addr, stop).await {
        Ok(server) => {
            if config.http.is_exposed() {
                tracing::warn!(addr = %server.addr, "HTTP endpoints reachable from the network ([http] listen); they are read-only");
            }
            tracing::info!(url = %format!("http://{}/", server.addr), "serving the dashboard and /metrics");
            Some(server)
        }
        Err(e) => {
            tracing::error!(error = %e, "no HTTP endpoints; the station goes on without them");
            None
        }
    }
}

/// SIGHUP: reload; SIGTERM/SIGINT: stop.
async fn handle_signals(mut config: Config, control: tokio::sync::mpsc::Sender<Control>, mut ctx: Arc<StationContext>) {
    let (Ok(mut hup), Ok(mut term), Ok(mut int)) =
        (signal(SignalKind::hangup()), signal(SignalKind::terminate()), signal(SignalKind::interrupt()))
    else {
        tracing::error!("cannot install signal handlers");
        return;
    };
    loop {
        tokio::select! {
            _ = hup.recv() => match reload(&config, &ctx).await {
                Ok((new_config, new_ctx)) => {
                    if new_config.database_max_size != config.database_max_size {
                        // A raised limit is how the operator clears a "database full" stop:
                        // the dispatcher's next probe then finds the store writable again.
                        match new_ctx.store.set_max_db_bytes(new_config.database_max_size).await {
                            Ok(()) => tracing::info!(limit = ?new_config.database_max_size, "audit database size limit changed"),
                            Err(e) => tracing::error!(error = %e, "cannot change the audit database size limit"),
                        }
                    }
                    if new_config.http != config.http {
                        tracing::warn!("[http] listen changed; the HTTP server keeps its address until the daemon restarts");
                    }
                    log_images(&new_ctx, "reloaded configuration and golden image");
                    let msg = Control::Reload(new_ctx.clone(), new_config.slots.clone(), new_config.devices.unmapped_ports);
                    config = new_config;
                    ctx = new_ctx;
                    if control.send(msg).await.is_err() { return; }
                }
                Err(e) => tracing::error!(error = %e.message, "reload refused; the previous configuration stays in force"),
            },
            _ = term.recv() => { let _ = control.send(Control::Shutdown).await; return; }
            _ = int.recv() => { let _ = control.send(Control::Shutdown).await; return; }
        }
    }
}

/// Re-reads the config and builds a new context from it (the image is loaded and
/// prepared off the runtime, while the running jobs go on).
async fn reload(current: &Config, ctx: &StationContext) -> Result<(Config, Arc<StationContext>), Failure> {
    let config = current.reload().map_err(|e| Failure::new(e.exit_code(), e))?;
    if config.database != current.database {
        return Err(Failure::new(Exit::Config, "the database path cannot change on reload; restart the daemon"));
    }
    let new = ctx.reload(&config).await?;
    Ok((config, Arc::new(new)))
}

/// One log line per golden image (a station of several chips has one per family), with
/// its chip, name and SHA-256.
fn log_images(ctx: &StationContext, message: &str) {
    for g in ctx.plan.images.iter() {
        let chip = g.chip.map_or("any", |c| c.file_name());
        tracing::info!(%chip, image = %crate::text::Escaped(&g.name), sha256 = %g.sha256_hex(), "{message}");
    }
}
