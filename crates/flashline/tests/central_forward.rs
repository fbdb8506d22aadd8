//! Forwarding to the central PostgreSQL record with a real server (a throwaway cluster
//! per test) and the station on in-process simulated boards: the line goes on through a
//! server outage, every row arrives exactly once, a restarted station sends its backlog,
//! a second station with the same id and a wrong password are named without stopping it.
//!
//! The outage run uses 8 slots × 6 waves = 48 boards (not 200) to keep the suite short on
//! a small CI machine; the mechanism does not depend on the count.

use std::path::{Path, PathBuf};
use std::time::Duration;

use flashline::device::DeviceInfo;
use flashline::image::ImageSource;
use flashline::station::forward::{ForwardState, ForwardStatus};
use flashline::station::serve::{Station, Ui};
use flashline::station::{Control, Outcome, StationEvent};
use flashline_audit::postgres::{add_station, init_schema, CentralUrl};
use flashline_audit::{AttemptFilter, AuditStore};
use flashline_protocol::chip::Mac;
use flashline_protocol::Chip;
use flashline_sim::BoardConfig;
use flashline_testkit::pg::PgCluster;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

mod support_http;
mod support_station;
use support_station::{Rig, Spec};

const LIMIT: Duration = Duration::from_secs(90);
const SLOTS: u32 = 8;

/// A station `station` with its own local database in `dir` (a second rig in the same
/// `dir` is the station restarted), forwarding to `pg` with the password in a file.
async fn rig(dir: &Path, station: &str, pg: &PgCluster, password: &str) -> Rig {
    std::fs::create_dir_all(dir).unwrap();
    static BUILT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let image_dir = dir.join(format!("image-{}", BUILT.fetch_add(1, std::sync::atomic::Ordering::Relaxed)));
    let manifest = flashline::cli::sample::write_sample(&image_dir, Chip::Esp32, 16 * 1024).unwrap();
    let pw = dir.join("central.pw");
    std::fs::write(&pw, format!("{password}\n")).unwrap();
    let central = format!(
        "[central]\nurl = \"{url}\"\npassword_file = \"{pw}\"\n",
        url = pg.url_without_password(station),
        pw = pw.display(),
    );
    let spec = Spec {
        dir,
        station,
        chip: Chip::Esp32,
        slots: SLOTS,
        max_jobs: SLOTS as usize,
        flash: "baud = 921600\nafter = \"no-reset\"\n",
        extra: &central,
    };
    spec.build(ImageSource::Manifest(manifest)).await
}

async fn central(pg: &PgCluster) -> CentralUrl {
    let admin = CentralUrl::parse(&pg.admin_url(), None).unwrap();
    init_schema(&admin).await.unwrap();
    admin
}

struct Line {
    station: Station,
    devices: flashline::device::SimulatedDevices,
    events: flashline::station::EventReceiver,
    status: watch::Receiver<ForwardStatus>,
    boards: u32,
}

fn start(rig: &Rig) -> Line {
    let (mut station, devices) = Station::start_simulated(rig.ctx.clone(), &rig.config, Ui::Logs);
    let events = station.events.take().unwrap();
    let status = station.central.as_ref().expect("[central] starts a forwarder").status.clone();
    Line { station, devices, events, status, boards: 0 }
}

/// One board in every slot, each a new MAC; waits for all results and pulls the boards.
async fn wave(rig: &Rig, line: &mut Line, mac_prefix: u8) {
    let mut infos = Vec::new();
    for k in 0..SLOTS {
        let devnode = PathBuf::from(format!("/dev/sim-central-{mac_prefix}-{k}"));
        let n = line.boards;
        line.boards += 1;
        let cfg = BoardConfig::new(Chip::Esp32, Mac([0x24, 0x0a, mac_prefix, (n >> 8) as u8, n as u8, k as u8]));
        rig.ports.attach(devnode.clone(), cfg).unwrap();
        let info = DeviceInfo::simulated(k, devnode);
        line.devices.plug(info.clone());
        infos.push(info);
    }
    let mut done = 0;
    let deadline = tokio::time::Instant::now() + LIMIT;
    while done < SLOTS {
        let ev = tokio::time::timeout_at(deadline, line.events.recv()).await.expect("results in time").unwrap();
        if let StationEvent::Finished { slot, outcome, .. } = ev {
            assert_eq!(outcome, Outcome::Pass, "{slot}");
            done += 1;
        }
    }
    for info in infos {
        rig.ports.detach(&info.devnode);
        line.devices.unplug(&info.syspath);
    }
}

/// Stops the line, then waits for its forwarder's last attempt to end.
async fn stop(mut line: Line) {
    let forwarder = line.station.central.take().unwrap();
    line.station.control.send(Control::DrainAndStop).await.unwrap();
    drop(line.devices);
    let (_view, end) = tokio::time::timeout(Duration::from_secs(20), line.station.wait()).await.unwrap();
    end.unwrap();
    tokio::time::timeout(Duration::from_secs(20), forwarder.task).await.expect("the forwarder ends").unwrap();
}

async fn wait_for(status: &mut watch::Receiver<ForwardStatus>, what: &str, ok: impl Fn(&ForwardStatus) -> bool) {
    let reached = tokio::time::timeout(LIMIT, status.wait_for(|s| ok(s))).await.is_ok_and(|r| r.is_ok());
    assert!(reached, "forwarder never got to: {what}; last status {:?}", *status.borrow());
}

async fn central_rows(admin: &CentralUrl, station: &str) -> AuditStore {
    AuditStore::open_postgres(admin, Some(station.into())).await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rows_arrive_exactly_once_across_a_server_outage_and_a_station_restart() {
    let Some(mut pg) = PgCluster::start() else { return };
    let admin = central(&pg).await;
    let role = add_station(&admin, "line-1").await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let rig1 = rig(dir.path(), "line-1", &pg, &role.password).await;
    let mut line = start(&rig1);

    for w in 0..2 {
        wave(&rig1, &mut line, w).await;
    }
    wait_for(&mut line.status, "caught up", |s| s.backlog == 0 && s.forwarded == 16).await;

    // The server goes away in the middle of the run: the line goes on, rows queue.
    pg.stop();
    for w in 2..4 {
        wave(&rig1, &mut line, w).await;
    }
    wait_for(&mut line.status, "retrying with a backlog", |s| {
        matches!(&s.state, ForwardState::Retrying(why) if why.contains("cannot be reached")) && s.backlog > 0
    })
    .await;
    let shown = line.station.view.borrow().central.clone().expect("the view carries the forwarder's status");
    assert!(shown.backlog > 0, "the live view shows the backlog: {shown:?}");
    pg.restart();
    wave(&rig1, &mut line, 4).await;
    wait_for(&mut line.status, "caught up after the outage", |s| s.backlog == 0 && s.forwarded == 40).await;

    // Stop the server again, run a wave, stop the station with that backlog.
    pg.stop();
    wave(&rig1, &mut line, 5).await;
    stop(line).await;
    pg.restart();
    // The restarted station sends its backlog without a new board.
    let rig2 = rig(dir.path(), "line-1", &pg, &role.password).await;
    let mut line = start(&rig2);
    wait_for(&mut line.status, "backlog sent after the restart", |s| s.backlog == 0 && s.forwarded == 8).await;
    stop(line).await;

    let central = central_rows(&admin, "line-1").await;
    let rows = central.query(&AttemptFilter::all()).await.unwrap();
    assert_eq!(rows.len(), 48, "every board once");
    let mut macs: Vec<_> = rows.iter().map(|r| r.mac.clone().unwrap()).collect();
    macs.sort();
    macs.dedup();
    assert_eq!(macs.len(), 48, "no row twice");
    let report = central.verify_chain().await.unwrap();
    assert!(report.is_valid() && report.rows_checked == 48, "{report:?}");
    let local = AuditStore::open_read_only(&rig1.db).await.unwrap();
    assert_eq!(central.chain_head().await.unwrap(), local.chain_head().await.unwrap());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_twin_station_id_and_a_wrong_password_are_named_and_the_line_goes_on() {
    let Some(pg) = PgCluster::start() else { return };
    let admin = central(&pg).await;
    let role = add_station(&admin, "line-1").await.unwrap();
    let dirs = tempfile::tempdir().unwrap();

    let first = rig(&dirs.path().join("first"), "line-1", &pg, &role.password).await;
    let mut line = start(&first);
    wave(&first, &mut line, 1).await;
    wait_for(&mut line.status, "first station caught up", |s| s.backlog == 0 && s.forwarded == 8).await;
    stop(line).await;

    // Another PC configured with the same station id (and the same role).
    let twin = rig(&dirs.path().join("twin"), "line-1", &pg, &role.password).await;
    let mut line = start(&twin);
    wave(&twin, &mut line, 2).await;
    wait_for(
        &mut line.status,
        "stopped on the twin",
        |s| matches!(&s.state, ForwardState::Stopped(why) if why.contains("same station id")),
    )
    .await;
    wave(&twin, &mut line, 3).await; // the line goes on
    stop(line).await;

    let wrong = rig(&dirs.path().join("wrong"), "line-1", &pg, "not-the-password").await;
    let mut line = start(&wrong);
    wave(&wrong, &mut line, 4).await;
    wait_for(&mut line.status, "login refused", |s| {
        matches!(&s.state, ForwardState::Retrying(why) if why.contains("refused the login") && !why.contains("not-the-password"))
    })
    .await;
    stop(line).await;

    let central = central_rows(&admin, "line-1").await;
    assert_eq!(central.query(&AttemptFilter::all()).await.unwrap().len(), 8, "only the first station's rows");
    assert!(central.verify_chain().await.unwrap().is_valid());
}

/// Scrapes `/metrics` until `ok` holds for the exposition (the view the server reads
/// follows the forwarder's status through a task of its own).
async fn scrape_until(addr: std::net::SocketAddr, what: &str, ok: impl Fn(&str) -> bool) -> String {
    let deadline = tokio::time::Instant::now() + LIMIT;
    loop {
        let (status, body) = support_http::get(addr, "/metrics").await;
        assert_eq!(status, 200, "{body}");
        if ok(&body) {
            return body;
        }
        assert!(tokio::time::Instant::now() < deadline, "/metrics never showed: {what}\n{body}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_show_the_backlog_rise_while_the_server_is_down_and_fall_to_zero_after() {
    use support_http::sample;
    let Some(mut pg) = PgCluster::start() else { return };
    let admin = central(&pg).await;
    let role = add_station(&admin, "line-m").await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let rig = rig(dir.path(), "line-m", &pg, &role.password).await;
    let mut line = start(&rig);
    let web_stop = CancellationToken::new();
    let web =
        flashline::web::start(&line.station, None, "127.0.0.1:0".parse().unwrap(), web_stop.clone()).await.unwrap();

    wave(&rig, &mut line, 0).await;
    let body = scrape_until(web.addr, "caught up", |b| {
        sample(b, "flashline_central_forwarded_rows_total") == Some(8.0)
            && sample(b, "flashline_central_backlog_rows") == Some(0.0)
    })
    .await;
    assert_eq!(sample(&body, "flashline_central_connected"), Some(1.0), "{body}");
    assert_eq!(sample(&body, "flashline_central_last_error_age_seconds"), None, "no error yet: {body}");

    pg.stop();
    wave(&rig, &mut line, 1).await;
    let body = scrape_until(web.addr, "the backlog while the server is down", |b| {
        sample(b, "flashline_central_backlog_rows") == Some(8.0)
            && sample(b, "flashline_central_connected") == Some(0.0)
    })
    .await;
    assert!(sample(&body, "flashline_central_last_error_age_seconds").is_some_and(|a| a >= 0.0), "{body}");
    support_http::promtool_check(&body);
    assert_eq!(sample(&body, "flashline_central_stopped"), Some(0.0), "an outage is retried: {body}");

    pg.restart();
    let body = scrape_until(web.addr, "the backlog back to 0", |b| {
        sample(b, "flashline_central_backlog_rows") == Some(0.0)
            && sample(b, "flashline_central_forwarded_rows_total") == Some(16.0)
    })
    .await;
    assert_eq!(sample(&body, "flashline_central_connected"), Some(1.0), "{body}");
    web_stop.cancel();
    web.wait().await;
    stop(line).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_station_started_during_an_outage_shows_its_real_backlog_at_once() {
    use support_http::sample;
    let Some(mut pg) = PgCluster::start() else { return };
    let admin = central(&pg).await;
    let role = add_station(&admin, "line-o").await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let rig1 = rig(dir.path(), "line-o", &pg, &role.password).await;
    let mut line = start(&rig1);
    wave(&rig1, &mut line, 0).await;
    wait_for(&mut line.status, "caught up", |s| s.backlog == 0 && s.forwarded == 8).await;
    pg.stop();
    wave(&rig1, &mut line, 1).await;
    wait_for(&mut line.status, "8 rows waiting", |s| s.backlog == 8).await;
    stop(line).await;

    // Started again while the server is still down, with no board: the 8 rows the central
    // record never acknowledged are the backlog, on the view and on /metrics.
    let rig2 = rig(dir.path(), "line-o", &pg, &role.password).await;
    let mut line = start(&rig2);
    wait_for(&mut line.status, "the backlog before the server answers", |s| {
        s.backlog == 8 && !matches!(s.state, ForwardState::Forwarding)
    })
    .await;
    let web_stop = CancellationToken::new();
    let web =
        flashline::web::start(&line.station, None, "127.0.0.1:0".parse().unwrap(), web_stop.clone()).await.unwrap();
    let body = scrape_until(web.addr, "the backlog of the last run", |b| {
        sample(b, "flashline_central_backlog_rows") == Some(8.0)
    })
    .await;
    assert_eq!(sample(&body, "flashline_central_connected"), Some(0.0), "{body}");
    let shown = line.station.view.borrow().central.clone().expect("the view carries the forwarder's status");
    assert_eq!(shown.backlog, 8, "the live view: {shown:?}");

    // More boards during the outage add to it; the server back, all of it goes once.
    wave(&rig2, &mut line, 2).await;
    wait_for(&mut line.status, "16 rows waiting", |s| s.backlog == 16).await;
    pg.restart();
    wait_for(&mut line.status, "caught up after the outage", |s| s.backlog == 0 && s.forwarded == 16).await;
    web_stop.cancel();
    web.wait().await;
    stop(line).await;

    let central = central_rows(&admin, "line-o").await;
    assert_eq!(central.query(&AttemptFilter::all()).await.unwrap().len(), 24, "every board once");
    assert!(central.verify_chain().await.unwrap().is_valid());
}
