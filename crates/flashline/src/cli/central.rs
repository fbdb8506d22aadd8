//! `flashline central`: setting up the line's central PostgreSQL audit record (an
//! administrator's commands, run once per database and once per station).
//!
//! ```text
//! PGPASSWORD=... flashline central init --db postgres://admin@central/flashline
//! PGPASSWORD=... flashline central add-station line-1 --db postgres://admin@central/flashline > line-1.pw
//! ```
//!
//! `init` creates (or brings up to date) the schema, the group roles `flashline_station`
//! (insert and read own rows only) and `flashline_reader` (read everything), and the
//! row-level-security policies. `add-station ID` creates the station's login role, named
//! after its station id, and prints its generated password once on stdout: put it in the
//! station's `[central] password_file` (mode 0600, owned by the daemon's user).
//!
//! Exit status: 0 success, 2 bad arguments, 4 database error.

use clap::{Args, Subcommand};
use flashline_audit::postgres::{add_station, init_schema};

use super::log::db::{self, DbArgs};
use super::{CliResult, Failure};
use crate::exit::Exit;

#[derive(Debug, Clone, Subcommand)]
pub enum CentralCommand {
    /// Create or update the central schema, roles and row-level-security policies.
    Init(AdminArgs),
    /// Create the login role of one station (INSERT-only on its own rows); prints its password.
    AddStation(AddStationArgs),
}

#[derive(Debug, Clone, Args)]
pub struct AdminArgs {
    /// postgres://ADMIN@HOST/DB (password from --password-file or PGPASSWORD).
    #[command(flatten)]
    pub db: DbArgs,
}

#[derive(Debug, Clone, Args)]
pub struct AddStationArgs {
    /// The station id (`station` in its config); becomes the role name.
    #[arg(value_name = "ID")]
    pub id: String,
    #[command(flatten)]
    pub db: DbArgs,
}

fn admin_url(db: &DbArgs) -> Result<flashline_audit::postgres::CentralUrl, Failure> {
    db.central()?.ok_or_else(|| Failure::new(Exit::Config, "--db must be a postgres:// URL of the central database"))
}

pub async fn run(cmd: CentralCommand) -> CliResult {
    match cmd {
        CentralCommand::Init(a) => {
            let url = admin_url(&a.db)?;
            init_schema(&url).await.map_err(db::failure)?;
            eprintln!("flashline: central audit schema ready in {}", url.location());
            Ok(Exit::Success)
        }
        CentralCommand::AddStation(a) => {
            let url = admin_url(&a.db)?;
            let role = add_station(&url, &a.id).await.map_err(db::failure)?;
            eprintln!(
                "flashline: role '{}' created in {}; its password follows on stdout (put it in the station's \
                 [central] password_file)",
                role.station,
                url.location()
            );
            println!("{}", role.password);
            Ok(Exit::Success)
        }
    }
}
