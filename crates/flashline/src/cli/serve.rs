//! `flashline serve --db postgres://…`: the line view, a read-only web page over the
//! central audit record with every station that forwards to it (see [`crate::web::line`]).
//!
//! ```text
//! PGPASSWORD=... flashline serve --db postgres://quality@central/flashline --listen 127.0.0.1:9181
//! ```
//!
//! The role needs SELECT only (a member of `flashline_reader`); the password comes from
//! `--password-file` or `PGPASSWORD`, like `log`/`stats --db postgres://`. Runs until
//! SIGINT or SIGTERM.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::Args;
use flashline_audit::postgres::LineReader;
use flashline_audit::AuditStore;
use tokio::signal::unix::{signal, SignalKind};
use tokio_util::sync::CancellationToken;

use super::log::db::{failure, DbArgs};
use super::{CliResult, Failure};
use crate::exit::Exit;
use crate::web::line;

#[derive(Debug, Clone, Args)]
pub struct ServeArgs {
    /// The central record: postgres://USER@HOST/DB?sslmode=... (a role that reads every
    /// station, e.g. a member of flashline_reader).
    #[arg(long, value_name = "URL")]
    pub db: String,
    /// File holding the password (first line); default: $PGPASSWORD.
    #[arg(long, value_name = "FILE")]
    pub password_file: Option<PathBuf>,
    /// Address to serve on (loopback by default; the page is read-only).
    #[arg(long, value_name = "ADDR", default_value = line::DEFAULT_LISTEN)]
    pub listen: SocketAddr,
}

pub async fn run(args: ServeArgs) -> CliResult {
    let db =
        DbArgs { db: Some(PathBuf::from(&args.db)), password_file: args.password_file.clone(), ..DbArgs::default() };
    let Some(url) = db.central()? else {
        return Err(Failure::new(
            Exit::Config,
            "the line view reads the central record: --db postgres://USER@HOST/DB (a station serves its own \
             dashboard with [http] listen)",
        ));
    };
    let store = AuditStore::open_postgres(&url, None).await.map_err(failure)?;
    let reader = LineReader::new(&url);
    let stop = CancellationToken::new();
    let server = line::start(store.clone(), reader.clone(), args.listen, stop.clone())
        .await
        .map_err(|e| Failure::new(Exit::Config, e))?;
    if !server.addr.ip().is_loopback() {
        eprintln!("warning: the line view is reachable from the network on {}; it is read-only", server.addr);
    }
    println!("serving the line view of {} on http://{}/ until interrupted", url.location(), server.addr);
    wait_for_stop().await;
    stop.cancel();
    server.wait().await;
    reader.close().await;
    store.close().await;
    Ok(Exit::Success)
}

/// SIGINT (Ctrl-C) or SIGTERM (systemd).
async fn wait_for_stop() {
    let (Ok(mut term), Ok(mut int)) = (signal(SignalKind::terminate()), signal(SignalKind::interrupt())) else {
        let _ = tokio::signal::ctrl_c().await;
        return;
    };
    tokio::select! {
        _ = term.recv() => {}
        _ = int.recv() => {}
    }
}
