//! `flashline stats`: pass/fail counts and yield per slot and per hour of the station's
//! clock.
//!
//! ```text
//! flashline stats --db audit.sqlite                        # today (local) until now
//! flashline stats --config station.toml --since 2026-11-21 --until 2026-11-22 --format csv
//! PGPASSWORD=... flashline stats --db postgres://quality@central/flashline --since 7d
//! ```
//!
//! On the central record (`--db postgres://...`) the counts cover every station's
//! forwarded attempts, slots named `STATION/SLOT`; `--station ID` counts one station with
//! its own slot names, as on the station.
//!
//! Attempts are counted by start time in `[--since, --until)` (defaults: `today`, `now`;
//! spellings as for `flashline log`). Yield is `pass / (pass + fail)`: interrupted and
//! running attempts are counted but never judged. The database is opened read-only.
//!
//! Days and hours are those of the system time zone (`TZ`, else `/etc/localtime`):
//! `today` starts at local midnight, the hours are local hours (half-hour zones and
//! daylight-saving days included), and every time is printed with its offset. `--utc`
//! counts UTC days and hours instead.
//!
//! Formats: `table` (totals and per slot, then per hour), `json` (the store's
//! [`flashline_audit::Stats`]: `since`, `until`, `total`, `per_slot`, `per_hour`, yield as a
//! number or `null`), `csv` (one header, then one record per scope:
//! `scope,key,total,pass,fail,interrupted,running,yield` with scope `all`, `slot` or `hour`,
//! key the slot name or the local hour's RFC 3339 start with offset, yield a ratio with 6 decimals or empty).
//!
//! Exit status: 0 success, 2 bad arguments or config file, 4 database error.

use clap::{Args, ValueEnum};
use flashline_audit::render::{csv_field, stats_table};
use flashline_audit::{station_zone, Counts, LocalStats, Timestamp};

use super::log::db::{self, DbArgs};
use super::log::emit;
use super::log::when::When;
use super::{CliResult, Failure};
use crate::exit::Exit;

#[derive(Debug, Clone, Args)]
pub struct StatsArgs {
    #[command(flatten)]
    pub db: DbArgs,
    /// Attempts started at or after [default: today, local midnight]. RFC 3339, a local
    /// time, a date, now, today, yesterday, or an age like 24h, 7d.
    #[arg(long, value_name = "WHEN")]
    pub since: Option<When>,
    /// Attempts started before (exclusive) [default: now].
    #[arg(long, value_name = "WHEN")]
    pub until: Option<When>,
    #[arg(long, value_enum, default_value_t = StatsFormat::Table)]
    pub format: StatsFormat,
    /// Days and hours in UTC instead of the system time zone.
    #[arg(long)]
    pub utc: bool,
}

/// `--format` of `flashline stats`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, ValueEnum)]
pub enum StatsFormat {
    #[default]
    Table,
    Json,
    Csv,
}

/// The CSV header of `flashline stats --format csv`.
pub const CSV_HEADER: &str = "scope,key,total,pass,fail,interrupted,running,yield";

pub async fn run(args: StatsArgs) -> CliResult {
    let now = Timestamp::now();
    let tz = station_zone(args.utc);
    let at = |w: When| w.resolve(now, &tz).map_err(|e| Failure::new(Exit::Config, e));
    let since = at(args.since.unwrap_or(When::Today))?;
    // `now` itself is included: the range is half-open.
    let until = args.until.map_or(Ok(now.add_ms(1)), at)?;
    if since >= until {
        return Err(Failure::new(
            Exit::Config,
            format!("--since {since} is not before --until {until}: the range is empty (--until is exclusive)"),
        ));
    }
    args.db.station_needs_central()?;
    let store = args.db.open().await?;
    let stats = store.stats(since, until).await;
    store.close().await;
    let stats = stats.map_err(db::failure)?.in_zone(&tz);
    let text = match args.format {
        StatsFormat::Table => stats_table(&stats),
        StatsFormat::Json => {
            let mut s = serde_json::to_string_pretty(&stats).expect("stats serialise");
            s.push('\n');
            s
        }
        StatsFormat::Csv => csv(&stats),
    };
    emit(&text)
}

/// Statistics as CSV (see the module docs).
pub fn csv(stats: &LocalStats) -> String {
    let mut out = String::from(CSV_HEADER);
    out.push('\n');
    let mut record = |scope: &str, key: &str, c: &Counts| {
        let y = c.yield_ratio.map_or(String::new(), |y| format!("{y:.6}"));
        out.push_str(&format!(
            "{scope},{},{},{},{},{},{},{y}\n",
            csv_field(key),
            c.total,
            c.pass,
            c.fail,
            c.interrupted,
            c.running
        ));
    };
    record("all", "", &stats.total);
    for s in &stats.per_slot {
        record("slot", &s.slot, &s.counts);
    }
    for h in &stats.per_hour {
        record("hour", &h.hour.to_string(), &h.counts);
    }
    out
}
