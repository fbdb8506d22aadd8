//! `espsim`: simulated ESP32 / ESP8266 boards on PTYs. See `espsim --help`.

use clap::Parser;
use flashline_sim::cli::Cli;
use flashline_sim::spawn_pty;
use std::io::Write;
use std::process::ExitCode;
use tokio::signal::unix::{signal, SignalKind};

#[tokio::main]
async fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    if let Err(e) = cli.check() {
        eprintln!("espsim: {e}");
        return ExitCode::FAILURE;
    }
    match run(cli).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("espsim: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> std::io::Result<()> {
    std::fs::create_dir_all(&cli.link_dir)?;
    if let Some(d) = &cli.flash_dir {
        std::fs::create_dir_all(d)?;
    }
    let mut term = signal(SignalKind::terminate())?;
    let mut int = signal(SignalKind::interrupt())?;
    // SIGUSR1 power-cycles every board into download mode: a PTY carries no DTR/RTS, so
    // this stands for a client's reset into download (scripts/esptool-suite.sh) and for a
    // hub port power cycle (a test's uhubctl); a board stuck in its stub comes back too.
    let mut usr1 = signal(SignalKind::user_defined1())?;
    let mut boards = Vec::new();
    let mut out = std::io::stdout().lock();
    for k in 0..cli.count {
        let link = cli.link_dir.join(format!("board{k}"));
        let b = spawn_pty(cli.board_config(k), &link)?;
        writeln!(out, "board{k} {} {}", link.display(), b.handle.mac())?;
        boards.push(b);
    }
    writeln!(out, "READY")?;
    out.flush()?;
    drop(out);
    loop {
        tokio::select! {
            _ = term.recv() => break,
            _ = int.recv() => break,
            _ = usr1.recv() => boards.iter().for_each(|b| b.handle.power_cycle()),
        }
    }
    for b in &boards {
        let _ = std::fs::remove_file(&b.link);
    }
    Ok(())
}
