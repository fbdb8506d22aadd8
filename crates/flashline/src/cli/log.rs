//! `flashline log`: query the audit log; `flashline log verify`: check its hash chain.
//!
//! ```text
//! flashline log --db audit.sqlite --result fail --since today
//! flashline log --config station.toml --mac aa-bb-cc-dd-ee-ff
//! flashline log --db audit.sqlite --slot A2 --since 7d --format csv --all > a2.csv
//! flashline log verify --db audit.sqlite
//! flashline log verify --db audit.sqlite --anchors journal
//! flashline log verify --db audit.sqlite --anchors heads-from-the-central-log.json
//! PGPASSWORD=... flashline log --db postgres://quality@central/flashline --station line-2 --since today
//! flashline log verify --db postgres://quality@central/flashline --password-file ~/.central.pw
//! ```
//!
//! A central record (`--db postgres://...`) answers the same queries for every station's
//! forwarded (completed) rows; `--station ID` keeps to one station, a MAC first seen at
//! another station is flagged as rework, and `log verify` checks each station's chain.
//!
//! Every filter is ANDed. `--mac` takes any common spelling (`aa:bb:..`, `AA-BB-..`,
//! `aabb.ccdd.eeff`, `AABBCCDDEEFF`). `--since` is inclusive, `--until` exclusive, both by
//! start time; the spellings are in [`when`]. Days, wall-clock times and the STARTED
//! column of the table are in the system time zone (`TZ`, `/etc/localtime`), with the
//! offset shown; `--utc` uses UTC instead. JSON and CSV times are RFC 3339 UTC. `--image` is an image name or a prefix of its
//! SHA-256 (4 hex digits or more). Rows come newest first; by default the newest 100
//! (`--limit N`, or `--all`), and a note on stderr says when more matched, so stdout stays
//! clean for `--format json|jsonl|csv`.
//!
//! The database is opened read-only ([`flashline_audit::AuditStore::open_read_only`]): a
//! query never creates, migrates or writes the file and never closes a live daemon's
//! running jobs, so it is safe to run beside the daemon.
//!
//! Exit status: 0 success (also when nothing matched), 2 bad arguments or config file,
//! 4 database missing/unreadable/wrong schema. `log verify`: 0 when the chain is intact,
//! **1 when it is broken or holds rows closed as possibly forged** (every finding is
//! printed on stdout, with kind, `seq` and attempt id; each possibly forged row with its
//! `seq`, start time, slot and MAC), 4 when the database cannot be read.
//!
//! A chain rewritten and recomputed by someone with write access to the database verifies
//! on its own (SECURITY.md). `--anchors` also compares it with chain heads the daemon
//! recorded outside the database ([`anchors`]): the first anchor the chain does not hold is
//! a finding, so such a rewrite fails the check.

pub mod anchors;
pub mod db;
pub mod when;

use std::io::Write;

use clap::{Args, Subcommand, ValueEnum};
use flashline_audit::{
    normalize_mac, render, station_zone, Anchor, AttemptFilter, AttemptResult, AttemptRow, AuditStore, ChainProblem,
    ChainReport, StationChainReport, TimeZone, Timestamp,
};

use self::anchors::AnchorSource;
use self::db::DbArgs;
use self::when::When;
use super::{CliResult, Failure};
use crate::exit::Exit;
use crate::text::Escaped;

/// Rows shown when neither `--limit` nor `--all` is given.
pub const DEFAULT_LIMIT: u32 = 100;

#[derive(Debug, Clone, Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct LogArgs {
    #[command(subcommand)]
    pub command: Option<LogCommand>,
    #[command(flatten)]
    pub db: DbArgs,
    #[command(flatten)]
    pub query: QueryArgs,
}

#[derive(Debug, Clone, Subcommand)]
pub enum LogCommand {
    /// Check the hash chain: report edited, inserted and deleted rows (exit status 1 when
    /// the chain is broken, 0 when intact).
    Verify(VerifyArgs),
}

/// Filters and output of `flashline log`.
#[derive(Debug, Clone, Default, Args)]
pub struct QueryArgs {
    /// Board MAC, any spelling (aa:bb:cc:dd:ee:ff, AA-BB-.., AABBCCDDEEFF).
    #[arg(long, value_parser = parse_mac)]
    pub mac: Option<String>,
    /// Only the attempts of the board with this serial number (as printed, e.g. FL-001000).
    #[arg(long)]
    pub serial: Option<String>,
    /// Slot name from the station config (e.g. A2).
    #[arg(long)]
    pub slot: Option<String>,
    #[arg(long, value_enum)]
    pub result: Option<ResultArg>,
    /// Started at or after: RFC 3339, a local time (2026-11-22T08:00), a date
    /// (2026-11-22 = local midnight), now, today, yesterday (local days), or an age like
    /// 30m, 24h, 7d.
    #[arg(long, value_name = "WHEN")]
    pub since: Option<When>,
    /// Started before (exclusive); same spellings as --since.
    #[arg(long, value_name = "WHEN")]
    pub until: Option<When>,
    /// Image name, or a prefix of its SHA-256 (at least 4 hex digits).
    #[arg(long, value_name = "NAME|SHA")]
    pub image: Option<String>,
    /// Show at most N rows, the newest [default: 100].
    #[arg(long, value_name = "N", conflicts_with = "all")]
    pub limit: Option<u32>,
    /// Show every matching row.
    #[arg(long)]
    pub all: bool,
    #[arg(long, value_enum, default_value_t = Format::Table)]
    pub format: Format,
    /// Days, wall-clock times and the table in UTC instead of the system time zone.
    #[arg(long)]
    pub utc: bool,
}

/// `--result`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ResultArg {
    Pass,
    Fail,
    Interrupted,
    Running,
}

impl From<ResultArg> for AttemptResult {
    fn from(r: ResultArg) -> AttemptResult {
        match r {
            ResultArg::Pass => AttemptResult::Pass,
            ResultArg::Fail => AttemptResult::Fail,
            ResultArg::Interrupted => AttemptResult::Interrupted,
            ResultArg::Running => AttemptResult::Running,
        }
    }
}

/// `--format` of `flashline log`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, ValueEnum)]
pub enum Format {
    /// Aligned columns for people.
    #[default]
    Table,
    /// A JSON array of complete rows (RFC 3339 times).
    Json,
    /// One JSON object per line.
    Jsonl,
    /// RFC 4180 CSV with a header row and every column.
    Csv,
}

#[derive(Debug, Clone, Args)]
pub struct VerifyArgs {
    #[command(flatten)]
    pub db: DbArgs,
    /// Also check the chain against heads recorded outside the database: `journal` (runs
    /// journalctl) or a file of `journalctl -o json` output or flashline log lines.
    #[arg(long, value_name = "FILE|journal")]
    pub anchors: Option<AnchorSource>,
    #[arg(long, value_enum, default_value_t = VerifyFormat::Text)]
    pub format: VerifyFormat,
}

/// `--format` of `flashline log verify`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, ValueEnum)]
pub enum VerifyFormat {
    #[default]
    Text,
    Json,
}

fn parse_mac(s: &str) -> Result<String, String> {
    normalize_mac(s)
}

pub async fn run(args: LogArgs) -> CliResult {
    match args.command {
        Some(LogCommand::Verify(v)) => verify(v).await,
        None => query(args.db, args.query).await,
    }
}

/// Turns the arguments into a filter; `now` anchors relative times. The limit asked of
/// the store is one more than shown, to tell whether more rows matched.
pub fn filter(q: &QueryArgs, now: Timestamp, tz: &TimeZone) -> Result<(AttemptFilter, Option<u32>), Failure> {
    let at = |w: Option<When>| w.map(|w| w.resolve(now, tz)).transpose().map_err(|e| Failure::new(Exit::Config, e));
    let (since, until) = (at(q.since)?, at(q.until)?);
    if let (Some(s), Some(u)) = (since, until) {
        if s >= u {
            return Err(Failure::new(
                Exit::Config,
                format!("--since {s} is not before --until {u}: the range is empty (--until is exclusive)"),
            ));
        }
    }
    if q.image.as_deref().is_some_and(|i| i.trim().is_empty()) {
        return Err(Failure::new(Exit::Config, "--image must not be empty"));
    }
    if q.slot.as_deref().is_some_and(|s| s.trim().is_empty()) {
        return Err(Failure::new(Exit::Config, "--slot must not be empty"));
    }
    let shown = if q.all { None } else { Some(q.limit.unwrap_or(DEFAULT_LIMIT)) };
    let f = AttemptFilter {
        mac: q.mac.clone(),
        slot: q.slot.as_ref().map(|s| s.trim().to_string()),
        result: q.result.map(Into::into),
        since,
        until,
        image: q.image.as_ref().map(|s| s.trim().to_string()),
        limit: shown.map(|n| n.saturating_add(1)),
        station: None,
        serial: q.serial.as_ref().map(|s| s.trim().to_string()),
    };
    Ok((f, shown))
}

async fn query(db: DbArgs, q: QueryArgs) -> CliResult {
    let tz = station_zone(q.utc);
    let (mut filter, shown) = filter(&q, Timestamp::now(), &tz)?;
    filter.station = db.station.clone();
    let store = db.open().await?;
    let result = store.query(&filter).await;
    store.close().await;
    let mut rows = result.map_err(db::failure)?;
    let more = shown.is_some_and(|n| rows.len() > n as usize);
    if let Some(n) = shown {
        rows.truncate(n as usize);
    }
    let text = match q.format {
        Format::Table => render::table_with(&rows, &tz, &|c| crate::text::escape_for_terminal(&c).into_owned()),
        Format::Json => {
            let mut s = render::json(&rows);
            s.push('\n');
            s
        }
        Format::Jsonl => render::json_lines(&rows),
        Format::Csv => render::csv(&rows),
    };
    let exit = emit(&text)?;
    if more {
        eprintln!(
            "flashline: showing the newest {} matching attempts; more match (use --limit N or --all)",
            rows.len()
        );
    } else if rows.is_empty() && q.format == Format::Table {
        eprintln!("flashline: no attempt matches");
    }
    Ok(exit)
}

async fn verify(args: VerifyArgs) -> CliResult {
    let location = args.db.location()?;
    args.db.station_needs_central()?;
    let anchors = match &args.anchors {
        Some(_) if args.db.central()?.is_some() => {
            return Err(Failure::new(
                Exit::Config,
                "--anchors checks a station's own file; the central record keeps each station's chain itself",
            ))
        }
        Some(source) => Some(anchors::load(source, &args.db.path()?)?),
        None => None,
    };
    let store = args.db.open().await?;
    let reports = verify_reports(&store, anchors.as_deref()).await;
    let forged = store.possibly_forged().await.map_err(db::failure);
    store.close().await;
    let (reports, running) = reports?;
    let forged = forged?;
    if anchors.as_ref().is_some_and(Vec::is_empty) {
        eprintln!("flashline: warning: no chain head for this database among the anchors; nothing to compare");
    }
    let text = match args.format {
        VerifyFormat::Text => reports
            .iter()
            .map(|r| {
                let mut s = String::new();
                if let Some(station) = &r.station {
                    s.push_str(&format!("station: {}\n", crate::text::escape_for_terminal(station)));
                }
                s.push_str(&verify_text(&location, &r.report, running));
                s
            })
            .chain((!forged.is_empty()).then(|| forged_text(&forged)))
            .collect::<Vec<_>>()
            .join("\n"),
        VerifyFormat::Json => {
            let valid = reports.iter().all(|r| r.report.is_valid());
            let value = match reports.as_slice() {
                [one] if one.station.is_none() => serde_json::json!({
                    "database": location,
                    "valid": valid,
                    "rows_checked": one.report.rows_checked,
                    "anchors_checked": one.report.anchors_checked,
                    "running": running,
                    "head": one.report.head,
                    "problems": one.report.problems,
                    "possibly_forged": forged_json(&forged),
                }),
                _ => serde_json::json!({
                    "database": location,
                    "valid": valid,
                    "stations": reports.iter().map(|r| serde_json::json!({
                        "station": r.station,
                        "valid": r.report.is_valid(),
                        "rows_checked": r.report.rows_checked,
                        "head": r.report.head,
                        "problems": r.report.problems,
                    })).collect::<Vec<_>>(),
                    "possibly_forged": forged_json(&forged),
                }),
            };
            let mut s = serde_json::to_string_pretty(&value).expect("report serialises");
            s.push('\n');
            s
        }
    };
    let exit = emit(&text)?;
    let problems: usize = reports.iter().map(|r| r.report.problems.len()).sum();
    if problems > 0 {
        return Err(Failure::new(
            Exit::Failure,
            format!(
                "hash chain of audit database {} is broken: {problems} problem(s), listed above",
                Escaped(&location)
            ),
        ));
    }
    if !forged.is_empty() {
        return Err(Failure::new(
            Exit::Failure,
            format!(
                "audit database {} holds {} row(s) closed as possibly forged (running rows no daemon began), \
                 listed above: find out who wrote the database while no daemon ran (SECURITY.md)",
                Escaped(&location),
                forged.len()
            ),
        ));
    }
    Ok(exit)
}

/// The possibly forged rows, one line each: `seq`, attempt, start time, slot, MAC.
pub fn forged_text(rows: &[AttemptRow]) -> String {
    let mut s = format!(
        "POSSIBLY FORGED: {} row(s) were found running at a daemon start without any daemon having begun them:\n",
        rows.len()
    );
    for r in rows {
        s.push_str(&format!(
            "  seq {:<8} attempt #{:<8} started {}  slot {}  mac {}\n",
            r.seq.map_or("-".into(), |q| q.to_string()),
            r.id,
            r.started_at,
            Escaped(&r.slot),
            Escaped(r.mac.as_deref().unwrap_or("-")),
        ));
    }
    s
}

fn forged_json(rows: &[AttemptRow]) -> serde_json::Value {
    rows.iter()
        .map(|r| {
            serde_json::json!({
                "seq": r.seq,
                "attempt_id": r.id,
                "started_at": r.started_at,
                "station": r.station_id,
                "slot": r.slot,
                "mac": r.mac,
            })
        })
        .collect()
}

/// Every chain of the store (one for a station's file, one per station centrally);
/// `anchors` (a station's file only) are checked against its chain.
async fn verify_reports(
    store: &AuditStore,
    anchors: Option<&[Anchor]>,
) -> Result<(Vec<StationChainReport>, usize), Failure> {
    let reports = match anchors {
        Some(anchors) => {
            let report = store.verify_chain_with_anchors(anchors).await.map_err(db::failure)?;
            vec![StationChainReport { station: None, report }]
        }
        None => store.verify_chains().await.map_err(db::failure)?,
    };
    let running = store.query(&AttemptFilter::all().result(AttemptResult::Running)).await.map_err(db::failure)?.len();
    Ok((reports, running))
}

/// The text report: summary, then one line per finding.
pub fn verify_text(path: &str, report: &ChainReport, running: usize) -> String {
    let mut s = String::new();
    s.push_str(&format!("audit database: {}\n", Escaped(path)));
    s.push_str(&format!("chained rows checked: {}\n", report.rows_checked));
    if report.anchors_checked > 0 {
        s.push_str(&format!("anchors checked: {}\n", report.anchors_checked));
    }
    let head = &report.head;
    s.push_str(&format!(
        "chain head: seq {}, attempt {}, hash {}\n",
        head.last_seq,
        head.last_attempt_id.map_or("-".into(), |i| format!("#{i}")),
        head.last_hash
    ));
    s.push_str(&format!("running (not chained yet): {running}\n"));
    if report.is_valid() {
        s.push_str("result: OK, the hash chain is intact\n");
    } else {
        s.push_str(&format!("result: BROKEN, {} problem(s):\n", report.problems.len()));
        for p in &report.problems {
            s.push_str(&format!("  {:<18} {}\n", kind(p), Escaped(p)));
        }
    }
    s
}

/// Short name of a finding, as in the JSON `kind`.
fn kind(p: &ChainProblem) -> &'static str {
    match p {
        ChainProblem::Edited { .. } => "edited",
        ChainProblem::Inserted { .. } => "inserted",
        ChainProblem::Deleted { .. } => "deleted",
        ChainProblem::Rewritten { .. } => "rewritten",
        ChainProblem::AfterHead { .. } => "after_head",
        ChainProblem::TailDeleted { .. } => "tail_deleted",
        ChainProblem::HeadMismatch { .. } => "head_mismatch",
        ChainProblem::AnchorMismatch { .. } => "anchor_mismatch",
        ChainProblem::AnchorBeyondChain { .. } => "anchor_beyond_chain",
    }
}

/// Writes to stdout; a closed pipe (`flashline log | head`) is not an error.
pub fn emit(text: &str) -> CliResult {
    let mut out = std::io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        Ok(()) => Ok(Exit::Success),
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(Exit::Success),
        Err(e) => Err(Failure::new(Exit::Failure, format!("cannot write to standard output: {e}"))),
    }
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    #[derive(Debug, Parser)]
    struct T {
        #[command(flatten)]
        log: LogArgs,
    }

    fn parse(args: &[&str]) -> Result<LogArgs, clap::Error> {
        T::try_parse_from(std::iter::once("log").chain(args.iter().copied())).map(|t| t.log)
    }

    #[test]
    fn filters_map_onto_the_store_filter() {
        let a = parse(&["--mac", "aabbccddeeff", "--slot", "A2", "--result", "fail", "--since", "2026-11-22"]).unwrap();
        let now = Timestamp::parse_rfc3339("2026-11-23T10:00:00Z").unwrap();
        let (f, shown) = filter(&a.query, now, &TimeZone::UTC).unwrap();
        assert_eq!(f.mac.as_deref(), Some("AA:BB:CC:DD:EE:FF"));
        assert_eq!(f.slot.as_deref(), Some("A2"));
        assert_eq!(f.result, Some(AttemptResult::Fail));
        assert_eq!(f.since.unwrap().to_string(), "2026-11-22T00:00:00.000Z");
        assert_eq!((f.until, f.limit, shown), (None, Some(DEFAULT_LIMIT + 1), Some(DEFAULT_LIMIT)));
        let a = parse(&["--all"]).unwrap();
        assert_eq!(filter(&a.query, now, &TimeZone::UTC).unwrap().0.limit, None);
        // A date is the station's day: midnight in Shanghai is 16:00 UTC the day before.
        let a = parse(&["--since", "2026-11-22", "--until", "2026-11-22T12:00"]).unwrap();
        let shanghai = TimeZone::get("Asia/Shanghai").expect("tz database has Asia/Shanghai");
        let f = filter(&a.query, now, &shanghai).unwrap().0;
        assert_eq!(f.since.unwrap().to_string(), "2026-11-21T16:00:00.000Z");
        assert_eq!(f.until.unwrap().to_string(), "2026-11-22T04:00:00.000Z");
        assert!(parse(&["--utc"]).unwrap().query.utc);
    }

    #[test]
    fn bad_arguments_are_usage_errors() {
        assert!(parse(&["--mac", "AA:BB"]).is_err());
        assert!(parse(&["--result", "ok"]).is_err());
        assert!(parse(&["--since", "last tuesday"]).is_err());
        assert!(parse(&["--limit", "5", "--all"]).is_err());
        assert!(parse(&["--db", "a", "--config", "b"]).is_err());
        assert!(parse(&["--slot", "A1", "verify"]).is_err(), "filters do not apply to verify");
        let a = parse(&["--since", "today", "--until", "yesterday"]).unwrap();
        let e = filter(&a.query, Timestamp::now(), &TimeZone::UTC).unwrap_err();
        assert_eq!(e.exit, Exit::Config);
    }

    #[test]
    fn verify_takes_its_own_database_arguments() {
        let a = parse(&["verify", "--db", "x.sqlite", "--format", "json"]).unwrap();
        let Some(LogCommand::Verify(v)) = a.command else { panic!("not verify: {a:?}") };
        assert_eq!(v.db.db.as_deref(), Some(std::path::Path::new("x.sqlite")));
        assert_eq!(v.format, VerifyFormat::Json);
    }
}
