//! `flashline stats` (being written).

use clap::Args;

use super::{CliResult, Failure};
use crate::exit::Exit;

#[derive(Debug, Clone, Args)]
pub struct StatsArgs {}

pub async fn run(_args: StatsArgs) -> CliResult {
    Err(Failure::new(Exit::Failure, "`flashline stats` is not available in this build"))
}
