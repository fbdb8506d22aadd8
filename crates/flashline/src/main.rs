//! The `flashline` binary: parses the command line and maps results to exit codes.

use clap::Parser;
use flashline::cli::{self, Cli, Command};
use flashline::exit::Exit;

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("flashline: cannot start the async runtime: {e}");
            return std::process::ExitCode::from(Exit::Failure.code());
        }
    };
    let result = runtime.block_on(async {
        match cli.command.bind(&cli.link)? {
            Command::Run { config } => cli::run::run(&config).await,
            #[cfg(feature = "sim")]
            Command::Demo(args) => cli::demo::demo(args).await,
            Command::Info(args) => cli::info::run(args).await,
            Command::Capture(args) => cli::capture::run(args).await,
            Command::Flash(args) => cli::flash::run(args).await,
            Command::Read(args) => cli::read::run(args).await,
            Command::Erase(args) => cli::erase::run(args).await,
            Command::EraseRegion(args) => cli::erase::run(args.into()).await,
            Command::Log(args) => cli::log::run(args).await,
            Command::Stats(args) => cli::stats::run(args).await,
            Command::Central(cmd) => cli::central::run(cmd).await,
            Command::Serve(args) => cli::serve::run(args).await,
            Command::Ports(args) => cli::ports::run(args).await,
            Command::Config(cmd) => cli::config_check::run(cmd).await,
            Command::Generate(cmd) => cli::generate::run(cmd),
        }
    });
    match result {
        Ok(exit) => std::process::ExitCode::from(exit.code()),
        Err(f) => {
            // Messages may quote a board's bytes, a port name from udev or a value read from
            // a database: nothing in them reaches the terminal raw (line breaks are kept).
            let shown: Vec<_> = f.message.split('\n').map(flashline::text::escape_for_terminal).collect();
            eprintln!("flashline: {}", shown.join("\n"));
            std::process::ExitCode::from(f.exit.code())
        }
    }
}
