//! Line-scale benchmark of the central PostgreSQL record (docs/BENCHMARKS.md, "Central
//! record at line scale"), against a throwaway cluster (`flashline_testkit::pg::PgCluster`,
//! Debian's server binaries):
//!
//! 1. **Forwarding under concurrency**: 8 stations, each a process of its own (this
//!    executable re-run with `--station`) running the real station on 64 simulated boards
//!    (timing off: the point is the forwarders and the central database, not the flash),
//!    all forwarding at once. Checked: every row arrives once (64 per station, `seq` 1..64),
//!    every chain verifies centrally; measured: the time from the last local completion to
//!    the last central row, and to the last station's forwarder having its acknowledgement.
//! 2. **A million rows**: synthetic rows (`postgres::load_synthetic`, chained like a
//!    station's) for 8 more stations up to 1,000,000 rows in all; one of those chains is
//!    verified centrally. Measured: a MAC lookup (`log --mac` across stations), `stats` of
//!    one station for one day, and the line view's first paint in headless Chromium
//!    (`flashline serve`'s server, in process), against the targets of the issue.
//!
//! ```text
//! cargo bench --bench central_scale
//! cargo bench --bench central_scale -- --rows 200000 --stations 4 --boards 16
//! ```
//!
//! Not part of CI's tests (`cargo test` builds no bench target).

mod central_scale_parts;

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use central_scale_parts::paint;
use central_scale_parts::station::{self, StationArgs};
use flashline_audit::postgres::{add_station, init_schema, load_synthetic, CentralUrl, LineReader};
use flashline_audit::synthetic::{synthetic_mac, SyntheticSpec};
use flashline_audit::{AttemptFilter, AuditStore, Timestamp};
use flashline_testkit::pg::PgCluster;
use tokio_util::sync::CancellationToken;

struct Opts {
    stations: u8,
    boards: u32,
    rows: u64,
}

fn opts(args: &[String]) -> Opts {
    let mut o = Opts { stations: 8, boards: 64, rows: 1_000_000 };
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let mut val = || it.next().unwrap_or_else(|| panic!("{a} needs a value")).clone();
        match a.as_str() {
            "--stations" => o.stations = val().parse().expect("--stations N"),
            "--boards" => o.boards = val().parse().expect("--boards N"),
            "--rows" => o.rows = val().parse().expect("--rows N"),
            "--bench" => {}
            other => panic!("unknown argument {other}"),
        }
    }
    o
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("--station") {
        station::run(StationArgs::parse(&args[1..]));
        return;
    }
    let o = opts(&args);
    let Some(pg) = PgCluster::start() else {
        eprintln!("central_scale: no PostgreSQL server binaries (scripts/setup.sh installs them)");
        return;
    };
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    rt.block_on(bench(&pg, &o));
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// Median and maximum of `samples` (ms).
fn median_max(samples: Vec<f64>) -> (f64, f64) {
    let (median, _, max) = spread(samples);
    (median, max)
}

/// Median, 95th percentile and maximum of `samples` (ms).
fn spread(mut samples: Vec<f64>) -> (f64, f64, f64) {
    samples.sort_by(f64::total_cmp);
    let at = |q: f64| samples[((samples.len() - 1) as f64 * q).round() as usize];
    (at(0.5), at(0.95), samples[samples.len() - 1])
}

fn row(what: &str, figure: String, target: &str, ok: Option<bool>) {
    let verdict = match ok {
        Some(true) => "ok",
        Some(false) => "MISSED",
        None => "",
    };
    println!("| {what} | {figure} | {target} | {verdict} |");
}

async fn bench(pg: &PgCluster, o: &Opts) {
    let admin = CentralUrl::parse(&pg.admin_url(), None).unwrap();
    init_schema(&admin).await.unwrap();
    let work = tempfile::tempdir().unwrap();
    println!("| measure | figure | target | |");
    println!("|---|---|---|---|");
    forwarding(pg, &admin, o, work.path()).await;
    million(pg, &admin, o).await;
}

/// Part 1: the stations forward concurrently.
async fn forwarding(pg: &PgCluster, admin: &CentralUrl, o: &Opts, work: &Path) {
    let exe = std::env::current_exe().unwrap();
    let mut children = Vec::new();
    for i in 0..o.stations {
        let id = format!("station-{:02}", i + 1);
        let role = add_station(admin, &id).await.unwrap();
        let dir = station::dir(work, &id);
        std::fs::create_dir_all(&dir).unwrap();
        let pw = dir.join("central.pw");
        std::fs::write(&pw, format!("{}\n", role.password)).unwrap();
        let args = StationArgs {
            station: id.clone(),
            index: i,
            url: pg.url_without_password(&id),
            password_file: pw,
            boards: o.boards,
            dir: dir.clone(),
        };
        let log = std::fs::File::create(dir.join("station.log")).unwrap();
        children.push((
            id,
            Command::new(&exe)
                .args(args.to_args())
                .env("RUST_LOG", "warn")
                .stdout(Stdio::piped())
                .stderr(log)
                .spawn()
                .expect("start a station"),
        ));
    }
    let started = Instant::now();
    let mut finished = Vec::new();
    let mut caught_up = Vec::new();
    for (id, child) in children {
        let out = child.wait_with_output().unwrap();
        let text = String::from_utf8_lossy(&out.stdout).to_string();
        assert!(
            out.status.success(),
            "{id} failed ({}): see {}",
            out.status,
            work.join(&id).join("station.log").display()
        );
        let at = |key: &str| -> i64 {
            text.lines()
                .find_map(|l| l.strip_prefix(key)?.trim().parse().ok())
                .unwrap_or_else(|| panic!("{id} printed no {key}: {text}"))
        };
        finished.push(at("finished "));
        caught_up.push(at("caught-up "));
    }
    let wall = started.elapsed();
    let last_local = *finished.iter().max().unwrap();
    let last_ack = *caught_up.iter().max().unwrap();

    let mut conn = <sqlx::PgConnection as sqlx::Connection>::connect(&pg.admin_url()).await.unwrap();
    let per_station: Vec<(String, i64, i64, i64, i64)> = sqlx::query_as(
        "SELECT station_id, COUNT(*), COUNT(DISTINCT seq), MIN(seq), MAX(seq) FROM attempts GROUP BY 1 ORDER BY 1",
    )
    .fetch_all(&mut conn)
    .await
    .unwrap();
    let want = i64::from(o.boards);
    assert_eq!(per_station.len(), usize::from(o.stations), "{per_station:?}");
    for (id, n, distinct, min, max) in &per_station {
        assert!(*n == want && *distinct == want && *min == 1 && *max == want, "{id}: {n} rows, seq {min}..{max}");
    }
    let last_central: i64 =
        sqlx::query_scalar("SELECT (EXTRACT(EPOCH FROM MAX(received_at)) * 1000)::BIGINT FROM attempts")
            .fetch_one(&mut conn)
            .await
            .unwrap();
    let store = AuditStore::open_postgres(admin, None).await.unwrap();
    let reports = store.verify_chains().await.unwrap();
    assert!(reports.iter().all(|r| r.report.is_valid()), "{reports:?}");
    let total = i64::from(o.stations) * want;
    row(
        &format!("{} stations x {} boards, forwarding at once", o.stations, o.boards),
        format!("{total} rows once each, {} chains valid, wall {:.1} s", reports.len(), wall.as_secs_f64()),
        "every row once, chains verify",
        Some(true),
    );
    row("last local completion -> last central row", format!("{} ms", last_central - last_local), "", None);
    row("last local completion -> last forwarder caught up", format!("{} ms", last_ack - last_local), "", None);
    store.close().await;
}

/// Part 2: a million rows, then the three questions.
async fn million(pg: &PgCluster, admin: &CentralUrl, o: &Opts) {
    let already = u64::from(o.stations) * u64::from(o.boards);
    let bulk_stations = 8u64;
    let per = (o.rows.saturating_sub(already)).div_ceil(bulk_stations);
    let t = Instant::now();
    let mut specs = Vec::new();
    for i in 0..bulk_stations {
        let mut spec = SyntheticSpec::new(per, 1000 + i);
        spec.station_id = format!("bulk-{:02}", i + 1);
        load_synthetic(admin, &spec).await.unwrap();
        specs.push(spec);
    }
    let mut conn = <sqlx::PgConnection as sqlx::Connection>::connect(&pg.admin_url()).await.unwrap();
    sqlx::query("ANALYZE attempts").execute(&mut conn).await.unwrap();
    let total: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM attempts").fetch_one(&mut conn).await.unwrap();
    let load = t.elapsed();
    let size: String = sqlx::query_scalar("SELECT pg_size_pretty(pg_total_relation_size('attempts'))")
        .fetch_one(&mut conn)
        .await
        .unwrap();
    row(
        "central rows (synthetic bulk load)",
        format!("{total} rows, {size} with indexes, loaded in {:.1} s", load.as_secs_f64()),
        "1,000,000",
        Some(total as u64 >= o.rows),
    );
    let one = AuditStore::open_postgres(admin, Some(specs[0].station_id.clone())).await.unwrap();
    let t = Instant::now();
    let report = one.verify_chain().await.unwrap();
    assert!(report.is_valid() && report.rows_checked == per, "{report:?}");
    row(
        &format!("`log verify --station {}` ({per} rows)", specs[0].station_id),
        format!("valid, {:.0} ms", ms(t.elapsed())),
        "",
        None,
    );

    // MAC lookup across stations (`flashline log --mac`), rework across stations included.
    let all = AuditStore::open_postgres(admin, None).await.unwrap();
    // The first query opens the pool's connection: not a lookup's cost.
    all.query(&AttemptFilter::all().mac(synthetic_mac(specs[0].seed, 1))).await.unwrap();
    let mut samples = Vec::new();
    let mut found = 0;
    for k in 0..50u64 {
        let spec = &specs[(k % bulk_stations) as usize];
        let mac = synthetic_mac(spec.seed, (k * 7919) % per);
        let t = Instant::now();
        let rows = all.query(&AttemptFilter::all().mac(mac.clone())).await.unwrap();
        samples.push(ms(t.elapsed()));
        found += usize::from(!rows.is_empty());
    }
    assert!(found >= 40, "only {found} of 50 synthetic MACs found");
    let (med, p95, max) = spread(samples);
    row(
        &format!("MAC lookup across stations (50 MACs, {found} found)"),
        format!("median {med:.1} ms, p95 {p95:.1} ms, max {max:.1} ms"),
        "< 10 ms",
        Some(p95 < 10.0),
    );

    // `stats --station S --since DAY --until DAY+1` for each bulk station's second day.
    let mut samples = Vec::new();
    let mut counted = 0;
    for spec in &specs {
        let st = AuditStore::open_postgres(admin, Some(spec.station_id.clone())).await.unwrap();
        let day = spec.start.as_unix_ms() + 86_400_000;
        let (since, until) = (Timestamp::from_unix_ms(day), Timestamp::from_unix_ms(day + 86_400_000));
        let t = Instant::now();
        let stats = st.stats(since, until).await.unwrap();
        samples.push(ms(t.elapsed()));
        counted = stats.total.total;
        st.close().await;
    }
    let (med, max) = median_max(samples);
    row(
        &format!("`stats` of one station for one day ({counted} attempts)"),
        format!("median {med:.1} ms, max {max:.1} ms"),
        "< 500 ms",
        Some(max < 500.0),
    );

    // The line view (`flashline serve`'s server) over the record, first paint.
    if !paint::available() {
        row("line view first paint", "skipped: chromium/chromedriver missing".into(), "< 1 s", None);
        return;
    }
    let stop = CancellationToken::new();
    let server =
        flashline::web::line::start(all.clone(), LineReader::new(admin), "127.0.0.1:0".parse().unwrap(), stop.clone())
            .await
            .unwrap();
    let stations = usize::from(o.stations) + bulk_stations as usize;
    let loads = paint::measure(&format!("http://{}/", server.addr), stations, 5).await;
    let (fcp, _) = median_max(loads.iter().map(|p| p.first_contentful_paint).collect());
    let (api, _) = median_max(loads.iter().map(|p| p.stations_answered).collect());
    let (shown, shown_max) = median_max(loads.iter().map(|p| p.stations_shown).collect());
    row(
        &format!("line view first paint, {stations} stations (5 loads)"),
        format!(
            "first contentful paint {fcp:.0} ms; /api/stations answered {api:.0} ms; all stations shown <= {shown:.0} ms (max {shown_max:.0})"
        ),
        "< 1 s",
        Some(shown_max < 1000.0),
    );
    stop.cancel();
    server.wait().await;
}
