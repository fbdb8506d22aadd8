//! `flashline log` (being written).

use clap::Args;

use super::{CliResult, Failure};
use crate::exit::Exit;

#[derive(Debug, Clone, Args)]
pub struct LogArgs {}

pub async fn run(_args: LogArgs) -> CliResult {
    Err(Failure::new(Exit::Failure, "`flashline log` is not available in this build"))
}
